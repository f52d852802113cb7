"""Bad inputs to the command line and to training: one-line errors, exit status, nothing written.

Each CLI case asserts the exit status (2: wrong command line, 1: failed input or run), a phrase
of the message, that stderr holds no traceback, and that no output file was written.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from invdiff.cli import build_parser, main
from invdiff.io import atomic_save, safe_load
from invdiff.load import WEIGHTS_DIR

MNIST_PT = WEIGHTS_DIR / "mnist.pt"
needs_mnist = pytest.mark.skipif(not MNIST_PT.is_file(), reason="shipped MNIST prior absent")


class Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Input files for the bad-input table: images, a text file named .png, broken checkpoints."""
    from skimage.io import imsave

    d = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    for name, side in (("digit.png", 28), ("small.png", 14), ("photo64.png", 64)):
        imsave(d / name, (rng.random((side, side)) * 255).astype(np.uint8), check_contrast=False)
    (d / "text.png").write_text("I am a text file, not an image\n")
    (d / "rand.pt").write_bytes(rng.bytes(4096))
    torch.save({"format": "invdiff-unet-v1", "hook": Payload()}, d / "evil.pt")
    (d / "existing.png").write_bytes(b"the user's file")
    (d / "existing.pt").write_bytes(b"the user's model")
    (d / "mean_std.png").write_bytes(b"the user's std map")
    if MNIST_PT.is_file():
        ck = safe_load(MNIST_PT)
        for name, f in (("nan.pt", float("nan")), ("huge.pt", 1e38)):  # NaN weights; finite weights, NaN result
            sd = {k: v * f if k.endswith("conv_out.weight") else v for k, v in ck["state_dict"].items()}
            atomic_save({**ck, "state_dict": sd}, d / name)
    return d


def _run(args, inputs, capsys, monkeypatch):
    monkeypatch.chdir(inputs)
    before = set(os.listdir(inputs))
    rc = main(args)
    err = capsys.readouterr().err
    return rc, err, set(os.listdir(inputs)) - before


R = ["restore", "digit.png", "--method", "ddrm", "--steps", "2"]
CASES = [  # (name, arguments, exit status, phrase)
    ("out not an image type", [*R, "--out", "r.txt"], 2, "unsupported type '.txt'"),
    ("out without extension", [*R, "--out", "result"], 2, "no file extension"),
    ("out is a folder", [*R, "--out", "."], 2, "is a folder"),
    ("out folder missing", [*R, "--out", "nope/r.png"], 2, "folder nope does not exist"),
    ("out exists", [*R, "--out", "existing.png"], 2, "exists; pass --force"),
    ("std map exists", [*R, "--out", "mean.png", "--samples", "2"], 2, "the std map mean_std.png exists"),
    ("missing --out", ["restore", "digit.png"], 2, "the following arguments are required: --out"),
    ("no command", [], 2, "required: COMMAND"),
    ("steps 0", [*R, "--out", "r.png", "--steps", "0"], 2, "--steps: must be a positive integer"),
    ("samples 0", [*R, "--out", "r.png", "--samples", "0"], 2, "--samples: must be a positive integer"),
    ("negative sigma_y", [*R, "--out", "r.png", "--sigma-y", "-1"], 2, "--sigma-y: must be a finite number >= 0"),
    ("nan sigma_y", [*R, "--out", "r.png", "--sigma-y", "nan"], 2, "finite number"),
    (
        "kernel size on inpainting",
        [*R, "--out", "r.png", "--task", "inpaint_box", "--kernel-size", "5"],
        2,
        "--kernel-size applies to the blur tasks",
    ),
    ("kernel larger than the image", [*R, "--out", "r.png", "--kernel-size", "99"], 2, "larger than the image"),
    ("unknown task", [*R, "--out", "r.png", "--task", "deblur"], 2, "invalid choice: 'deblur'"),
    ("unknown method", [*R, "--out", "r.png", "--method", "foo"], 2, "not a posterior sampler"),
    ("unknown device", [*R, "--out", "r.png", "--device", "gpu"], 2, "unknown device"),
    ("cuda without GPU", [*R, "--out", "r.png", "--device", "cuda"], 2, "no CUDA GPU"),
    ("missing image", ["restore", "nope.png", "--out", "r.png"], 2, "image nope.png does not exist"),
    ("missing prior", [*R, "--out", "r.png", "--prior", "nope.pt"], 2, "checkpoint does not exist"),
    ("text file named .png", ["restore", "text.png", "--out", "r.png"], 1, "no image decoder recognises"),
    (
        "measurement of the wrong size",
        [*R, "--out", "r.png", "--measurement", "small.png"],
        1,
        "task gaussian_blur on a 28×28 image measures 28×28",
    ),
    ("image of the wrong size", ["restore", "photo64.png", "--out", "r.png"], 1, "works on 1×28×28"),
    ("corrupt checkpoint", [*R, "--out", "r.png", "--prior", "rand.pt"], 1, "corrupt"),
    ("code-carrying checkpoint", [*R, "--out", "r.png", "--prior", "evil.pt"], 1, "code"),
    ("NaN weights", [*R, "--out", "r.png", "--prior", "nan.pt"], 1, "NaN or Inf"),
    ("NaN result", [*R, "--out", "r.png", "--prior", "huge.pt"], 1, "NaN/Inf"),
    ("demo out type", ["demo", "--out", "d.txt"], 2, "unsupported type '.txt'"),
    ("demo n 0", ["demo", "--n", "0"], 2, "--n: must be a positive integer"),
    ("sample n 0", ["sample", "--n", "0"], 2, "--n: must be a positive integer"),
    ("sample size on a fixed-size prior", ["sample", "--size", "32", "--out", "s.png"], 2, "--size applies"),
    ("sample out type", ["sample", "--out", "s.gif"], 2, "unsupported type '.gif'"),
    ("train batch 0", ["train", "--batch", "0", "--out", "t.ckpt"], 2, "--batch: must be a positive integer"),
    ("train steps 0", ["train", "--steps", "0", "--out", "t.ckpt"], 2, "--steps: must be a positive integer"),
    ("train lr 0", ["train", "--lr", "0", "--out", "t.ckpt"], 2, "--lr: must be > 0"),
    ("train ema 1", ["train", "--ema", "1", "--out", "t.ckpt"], 2, "ema must be in [0, 1)"),
    ("train override without resume", ["train", "--override", "--out", "t.ckpt"], 2, "needs --resume"),
    ("train patch on mnist", ["train", "--patch", "16", "--out", "t.ckpt"], 2, "--patch applies to --data photo"),
    ("train missing data folder", ["train", "--data", "nofolder", "--out", "t.ckpt"], 2, "existing image folder"),
    ("train out exists", ["train", "--out", "existing.png"], 2, "pass --resume"),
    ("export bad suffix", ["export", "nan.pt", "out.txt"], 2, "use one of .pt, .safetensors"),
    ("export out is an image", ["export", "nan.pt", "x.png"], 2, "unsupported type '.png'"),
    ("export out exists", ["export", "nan.pt", "existing.pt"], 2, "existing.pt exists; pass --force"),
    ("export a model file", ["export", "nan.pt", "m.pt"], 1, "nan.pt is not a training checkpoint"),
    ("bench unknown suite", ["bench", "nosuch", "--out", "b"], 2, "unknown suite 'nosuch'"),
    ("bench nfe 0", ["bench", "smoke", "--nfe", "0", "--out", "b"], 2, "--nfe: must be a positive integer"),
    ("bench unknown task", ["bench", "smoke", "--tasks", "foo", "--out", "b"], 2, "foo not in suite smoke"),
    ("bench out is a file", ["bench", "smoke", "--out", "existing.png"], 2, "bench writes a folder"),
    ("bench seeds 0", ["bench", "smoke", "--seeds", "0", "--out", "b"], 2, "--seeds: must be a positive integer"),
    ("unknown option", ["restore", "digit.png", "--out", "r.png", "--stpes", "3"], 2, "unrecognized arguments"),
]


@needs_mnist
@pytest.mark.parametrize("name, args, status, phrase", CASES, ids=[c[0] for c in CASES])
def test_bad_input(name, args, status, phrase, inputs, capsys, monkeypatch):
    if name == "cuda without GPU" and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    rc, err, new_files = _run(args, inputs, capsys, monkeypatch)
    assert rc == status, err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert phrase in lines[0], err
    assert "Traceback" not in err
    assert not new_files, new_files  # nothing written, no folder created
    assert (inputs / "existing.png").read_bytes() == b"the user's file"
    assert (inputs / "mean_std.png").read_bytes() == b"the user's std map"


@needs_mnist
def test_debug_shows_the_traceback(inputs, capsys, monkeypatch):
    rc, err, _ = _run([*R, "--out", "r.png", "--prior", "rand.pt", "--debug"], inputs, capsys, monkeypatch)
    assert rc == 1 and "Traceback" in err and err.strip().splitlines()[-1].startswith("error: ")


@needs_mnist
def test_command_line_exit_status(inputs):
    """``python -m invdiff`` (main() without argv) exits with the status."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    r = subprocess.run(
        [sys.executable, "-m", "invdiff", "restore", "text.png", "--out", "r.png"],
        cwd=inputs,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert r.returncode == 1 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr


def test_help_shows_every_default_exactly_once():
    from invdiff.cli import _Formatter

    parser = build_parser()
    subs = next(a for a in parser._actions if a.choices and "restore" in a.choices).choices
    for name, p in subs.items():
        fmt = _Formatter(p.prog)
        text = p.format_help()
        shown = 0
        for action in p._actions:
            help_ = fmt._get_help_string(action)
            flag = action.nargs == 0 or action.required or not action.option_strings
            assert help_.count("(default:") == (0 if flag else 1), (name, action.dest, help_)
            shown += help_.count("(default:")
        assert " ".join(text.split()).count("(default:") == shown, name


@needs_mnist
def test_large_image_warns_with_an_estimate(inputs, capsys, monkeypatch):
    monkeypatch.setenv("INVDIFF_LARGE_PIXELS", str(32 * 32))
    rc, err, new = _run(
        ["restore", "photo64.png", "--prior", "photo", "--method", "ddrm", "--steps", "1", "--out", "big.png"],
        inputs,
        capsys,
        monkeypatch,
    )
    assert rc == 0, err
    assert "warning: 64×64 image (above 32×32)" in err and "of memory on cpu" in err and " s " in err
    assert new == {"big.png"}
    (inputs / "big.png").unlink()


# --------------------------------------------------------------------------- training
@pytest.fixture()
def tiny_run(tmp_path):
    from skimage.io import imsave

    from invdiff.nets.unet import UNetConfig
    from invdiff.train import TrainConfig

    (tmp_path / "imgs").mkdir()
    for i in range(4):
        img = (np.random.default_rng(i).random((8, 8)) * 255).astype(np.uint8)
        imsave(tmp_path / "imgs" / f"{i}.png", img, check_contrast=False)
    net = UNetConfig(in_channels=1, channels=8, multipliers=(1, 2), attention_levels=(), heads=2).to_dict()
    return TrainConfig(
        data=str(tmp_path / "imgs"),
        out=str(tmp_path / "run.ckpt"),
        steps=4,
        batch=2,
        image_size=8,
        warmup=1,
        save_every=2,
        net=net,
        threads=1,
    )


@pytest.mark.parametrize(
    "field, value, phrase",
    [
        ("batch", 0, "batch must be a positive integer"),
        ("steps", -1, "steps must be"),
        ("lr", float("nan"), "lr must be a positive finite"),
        ("ema", 1.0, "ema must be in"),
    ],
)
def test_train_config_is_validated(tiny_run, field, value, phrase):
    from dataclasses import replace

    from invdiff.train import train

    with pytest.raises(ValueError, match=phrase):
        train(replace(tiny_run, **{field: value}), progress=False)
    assert not Path(tiny_run.out).exists()


def test_a_file_in_the_data_folder_that_is_not_an_image(tiny_run):
    from invdiff.train import train

    (Path(tiny_run.data) / "notes.png").write_text("not an image")
    with pytest.raises(ValueError, match="notes.png is not an image invdiff can read"):
        train(tiny_run, progress=False)
    assert not Path(tiny_run.out).exists()


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tiny_run, monkeypatch):
    import invdiff.train as T

    T.train(tiny_run, progress=False)  # steps 1-4, checkpoint at step 4
    good = safe_load(tiny_run.out)
    calls, real = [0], T.diffusion_loss

    def loss(*a, **k):
        calls[0] += 1
        out = real(*a, **k)
        return out * float("nan") if calls[0] == 3 else out  # step 7 diverges

    monkeypatch.setattr(T, "diffusion_loss", loss)
    from dataclasses import replace

    with pytest.raises(T.TrainingError, match=r"non-finite loss \(nan\) at step 7.*keeps step 6, the last good"):
        T.train(replace(tiny_run, steps=10), resume=True, progress=False)
    ck = safe_load(tiny_run.out)
    assert ck["step"] == 6 and all(torch.isfinite(v).all() for v in ck["model"].values())
    assert not torch.equal(ck["model"]["conv_in.weight"], good["model"]["conv_in.weight"])


def test_resume_refuses_other_architecture_and_records_overrides(tiny_run, capsys):
    from dataclasses import replace

    from invdiff.resume import ResumeMismatch
    from invdiff.train import train

    train(tiny_run, progress=False)
    wider = replace(tiny_run, steps=6, net={**tiny_run.net, "channels": 16})
    with pytest.raises(ResumeMismatch, match=r"different architecture.*net.channels 8 -> 16 \(--width\)"):
        train(wider, resume=True, progress=False, override=True)  # never, even with override
    faster = replace(tiny_run, steps=6, lr=2e-3, batch=4)
    with pytest.raises(ResumeMismatch, match=r"lr 0.0005 -> 0.002 \(--lr\); batch 2 -> 4 \(--batch\).*--override"):
        train(faster, resume=True, progress=False)
    assert safe_load(tiny_run.out)["step"] == 4  # untouched
    train(faster, resume=True, progress=False, override=True)
    ck = safe_load(tiny_run.out)
    assert ck["step"] == 6 and ck["config"]["lr"] == 2e-3
    assert ck["history"] == [{"step": 4, "changes": {"lr": [5e-4, 2e-3], "batch": [2, 4]}}]
    # the command line refuses the same mismatch before any work, exit status 2
    rc = main(
        [
            "train",
            "--data",
            tiny_run.data,
            "--out",
            tiny_run.out,
            "--steps",
            "8",
            "--batch",
            "4",
            "--width",
            "16",
            "--multipliers",
            "1",
            "2",
            "--attention",
            "--resume",
        ]
    )
    assert rc == 2 and "--width" in capsys.readouterr().err
