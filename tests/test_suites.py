"""Benchmark suites: the photo suite is the DPS protocol scaled to its image size."""

import pytest
import torch

import operators
from invdiff.bench.suites import ffhq_tasks, get_suite, photo_tasks


def test_photo_tasks_at_256_are_the_dps_protocol():
    dps = {t.name: t for t in ffhq_tasks()}
    ours = {t.name: t for t in photo_tasks(256)}
    for name, t in dps.items():
        assert ours[name].operator == t.operator and ours[name].params == t.params, name
        assert ours[name].method_kw == t.method_kw and ours[name].sigma_y == t.sigma_y == 0.05


def test_photo_tasks_scale_with_size():
    t = {t.name: t for t in photo_tasks(128)}
    assert t["inpaint_box"].params == {"size": 64, "margin": 8}
    assert t["gaussian_blur"].params == {"size": 31, "std": 1.5}
    assert t["motion_blur"].params["size"] == 31
    with pytest.raises(ValueError, match="divisible by 4"):
        get_suite("photo", size=126)


def test_photo_suite_builds_every_operator_on_its_images():
    s = get_suite("photo", prior=object())  # the prior is loaded lazily; not needed here
    x = s.images()
    assert x.shape == (4, 1, 128, 128) and x.min() >= -1 and x.max() <= 1
    assert s.train_images().shape[1:] == x.shape[1:]
    for task in s.tasks:
        op = task.build(s.shape, batch=2, offset=0)
        y = operators.measure(op, x[:2], task.sigma_y, seed=0)
        assert torch.isfinite(y).all(), task.name
