"""``invdiff tune``: search spaces beside the samplers, a tiny study, resume, and solve's tuned defaults."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import json
import logging
import shutil

import pytest
import torch

import invdiff
import operators
from invdiff.load import SHIPPED, WEIGHTS_DIR, load_prior
from invdiff.rng import sample_seed
from invdiff.samplers import POSTERIOR
from invdiff.samplers.space import Choice, Param

needs_mnist = pytest.mark.skipif(not (WEIGHTS_DIR / SHIPPED["mnist"]).is_file(), reason="shipped MNIST prior absent")
optuna = pytest.importorskip("optuna")
optuna.logging.set_verbosity(optuna.logging.WARNING)


# --------------------------------------------------------------------------- search spaces
@pytest.mark.parametrize("name", sorted(POSTERIOR))
def test_every_posterior_sampler_declares_a_search_space(name):
    fn = POSTERIOR[name]
    space = getattr(fn, "search_space", None)
    assert isinstance(space, dict) and space, f"{name} has no search_space"
    params = inspect.signature(fn).parameters
    for key, p in space.items():
        assert key in params and params[key].kind is inspect.Parameter.KEYWORD_ONLY, f"{name}: {key} is no keyword"
        assert isinstance(p, (Param, Choice))
        if p.when is not None:
            assert p.when[0] in space and space[p.when[0]].contains(p.when[1])
        default = params[key].default
        if default is not None and not (key == "start" and default == "auto"):
            assert p.contains(default), f"{name}: the default {key}={default!r} lies outside {p}"
    if getattr(fn, "weighted_population", False):  # SMC: exact only from the prior's start, never warm
        assert "start" not in space and "sigma_start" not in space
        return
    assert isinstance(space["start"], Choice) and set(space["start"].values) == {"noise", "auto"}
    assert isinstance(space["sigma_start"], Param) and space["sigma_start"].log


def test_suggest_draws_conditional_entries_only_when_their_condition_holds():
    from invdiff.tune.objective import in_space, suggest

    space = POSTERIOR["dps"].search_space
    base = {"zeta": 0.3, "discrepancy": 1.0, "temperature": 0.8}
    base = {**base, "sigma_end": None}
    cold = suggest(optuna.trial.FixedTrial({**base, "start": "noise"}), space)
    assert cold == {**base, "start": "noise"}
    warm = suggest(optuna.trial.FixedTrial({**base, "start": "auto", "sigma_start": 0.2}), space)
    assert warm == {**base, "start": "auto", "sigma_start": 0.2}
    assert in_space(space, {"zeta": 0.3, "start": "noise", "sigma_start": 0.2, "clip": True}) == {
        "zeta": 0.3,
        "start": "noise",
    }
    with pytest.raises(ValueError):
        Param(1.0, 0.5)
    with pytest.raises(ValueError):
        Param(0.0, 1.0, log=True)


def test_registry_operators_and_shipped_priors_record_their_names(tmp_path):
    op = operators.build("gaussian_blur", (1, 28, 28), batch=2, size=9, std=1.0)
    assert op.registry_name == "gaussian_blur"
    assert op.registry_params == {"boundary": "circular", "size": 9, "std": 1.0}
    assert operators.build("inpaint_random", (1, 28, 28)).registry_params == {"fraction": 0.7}
    if (WEIGHTS_DIR / SHIPPED["mnist"]).is_file():
        assert load_prior("mnist").shipped_name == "mnist"
        copy = tmp_path / "mnist.pt"
        shutil.copy(WEIGHTS_DIR / SHIPPED["mnist"], copy)
        assert load_prior(copy).shipped_name is None  # a user's file of the same name is not the shipped prior


# --------------------------------------------------------------------------- tuning runs
def _settings(tmp_path, trials, **kw):
    from invdiff.tune import Settings

    return Settings(trials=trials, n_images=2, batch_size=1, storage=f"sqlite:///{tmp_path}/t.db", progress=False,
                    device="cpu", **kw)  # fmt: skip


@needs_mnist
def test_tiny_tune_run_writes_a_table_entry(tmp_path):
    from invdiff.tune import Cell, tune_cell
    from invdiff.tune.study import save

    cell = Cell("mnist", "gaussian_blur", "ddrm", 5)
    entry = tune_cell(cell, _settings(tmp_path, 3))
    assert entry["trials"] == 3 and entry["steps"] == 5 and entry["n_images"] == 2
    assert entry["train_psnr"] >= entry["reference_train_psnr"] > 15  # trial 0 is the reference setting
    assert set(entry["params"]) <= set(inspect.signature(POSTERIOR["ddrm"]).parameters)
    save(tmp_path / "mnist.tuned.json", cell, entry)
    table = json.loads((tmp_path / "mnist.tuned.json").read_text())
    assert table["tasks"]["gaussian_blur"] == {
        "operator": "gaussian_blur",
        "params": {"boundary": "circular", "size": 9, "std": 1.0},
        "sigma_y": 0.05,
    }
    assert table["cells"]["gaussian_blur"]["ddrm"]["5"]["trials"] == 3


@needs_mnist
def test_a_killed_search_resumes_without_repeating_finished_trials(tmp_path, monkeypatch):
    from invdiff.tune import Cell, TuneMismatch, tune_cell
    from invdiff.tune.objective import Objective
    from invdiff.tune.study import open_study

    cell = Cell("mnist", "inpaint_random", "ddrm", 4)
    calls = []
    original = Objective.__call__
    monkeypatch.setattr(Objective, "__call__", lambda self, trial: calls.append(trial.number) or original(self, trial))
    tune_cell(cell, _settings(tmp_path, 2))
    first = [(t.number, t.params, t.datetime_start) for t in open_study(cell, _settings(tmp_path, 2)).trials]
    assert calls == [0, 1] and len(first) == 2
    calls.clear()
    entry = tune_cell(cell, _settings(tmp_path, 4))
    trials = open_study(cell, _settings(tmp_path, 4)).trials
    assert calls == [2, 3] and entry["trials"] == 4  # only the two missing trials ran
    assert [(t.number, t.params, t.datetime_start) for t in trials[:2]] == first
    assert all(t.params != trials[1].params for t in trials[2:])  # the reseeded sampler draws new points
    with pytest.raises(TuneMismatch, match="n_images"):
        open_study(cell, dataclasses.replace(_settings(tmp_path, 4), n_images=3))


@needs_mnist
def test_tune_all_splits_the_budget_and_records_what_finished(tmp_path):
    from invdiff.tune import Cell, tune_all

    grid = [Cell("mnist", "denoise", "ddrm", 2), Cell("mnist", "sr2", "ddnm", 2)]
    run = tune_all("mnist", _settings(tmp_path, 2), 0.1, tmp_path / "t.json", cells=grid)
    assert len(run["finished"]) + len(run["partial"]) + len(run["not_run"]) == 2
    assert run["finished"] or run["partial"]  # the first cell runs at least one trial
    table = json.loads((tmp_path / "t.json").read_text())
    assert table["runs"] == [run] and run["budget_minutes"] == 0.1
    tuned = {f"{task} {m}@{n} ({e['trials']} trials)" for task, ms in table["cells"].items() for m, ns in ms.items()
             for n, e in ns.items()}  # fmt: skip
    assert tuned == set(run["finished"] + run["partial"])


@needs_mnist
def test_cli_tune_one_cell_and_its_usage_errors(tmp_path, capsys):
    from invdiff.cli import main

    base = ["tune", "mnist", "--storage", f"sqlite:///{tmp_path}/c.db", "--table", str(tmp_path / "t.json")]
    assert main([*base, "--task", "sr4", "--method", "ddrm", "--nfe", "3", "--trials", "2", "--n-images", "2",
                 "--device", "cpu"]) == 0  # fmt: skip
    assert "sr4 ddrm@3: best" in capsys.readouterr().out
    assert json.loads((tmp_path / "t.json").read_text())["cells"]["sr4"]["ddrm"]["3"]["trials"] == 2
    for bad in (
        ["--task", "sr4", "--method", "ddrm"],  # no --nfe
        ["--task", "nope", "--method", "ddrm", "--nfe", "3"],
        ["--task", "sr4", "--method", "ddim", "--nfe", "3"],
        ["--all"],  # no budget
        ["--all", "--budget-minutes", "1", "--task", "sr4"],
        ["--task", "sr4", "--method", "ddrm", "--nfe", "3", "--n-images", "99999"],
    ):
        assert main([*base, *bad]) == 2, bad
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err
    assert main(["tune", "nope", "--all", "--budget-minutes", "1"]) == 2


# --------------------------------------------------------------------------- tuned defaults in solve
TABLE = {
    "format": "invdiff-tuned-v1",
    "prior": "mnist",
    "tasks": {"gaussian_blur": {"operator": "gaussian_blur", "params": {"boundary": "circular", "size": 9,
                                                                        "std": 1.0}, "sigma_y": 0.05}},
    "cells": {"gaussian_blur": {"ddrm": {
        "20": {"params": {"eta": 0.2, "temperature": 0.6, "start": "auto", "sigma_start": 0.3, "sigma_end": 0.1}},
        "100": {"params": {"eta": 0.7, "temperature": 0.9, "start": "noise"}},
    }}},
    "runs": [],
}  # fmt: skip


@pytest.fixture
def tuned(tmp_path, monkeypatch):
    import invdiff.tune.defaults as d

    (tmp_path / "mnist.tuned.json").write_text(json.dumps(TABLE))
    monkeypatch.setattr(d, "TABLE_DIR", tmp_path)
    prior = load_prior("mnist")
    x = invdiff.data.mnist("train")[:1]
    op = operators.build("gaussian_blur", (1, 28, 28), size=9, std=1.0)
    return prior, op, operators.measure(op, x, 0.05, seed=0)


def test_nearest_tuned_nfe_on_a_log_scale():
    from invdiff.tune.table import nearest

    picks = {n: nearest(TABLE, "gaussian_blur", "ddrm", n)[0] for n in (1, 20, 30, 44, 45, 60, 100, 1000)}
    assert picks == {1: 20, 20: 20, 30: 20, 44: 20, 45: 100, 60: 100, 100: 100, 1000: 100}
    assert nearest(TABLE, "gaussian_blur", "dps", 20) is None


@needs_mnist
def test_solve_uses_tuned_values_the_caller_did_not_pass(tuned, caplog):
    prior, op, y = tuned
    ddrm = POSTERIOR["ddrm"]
    with caplog.at_level(logging.INFO, logger="invdiff"):
        x, info = invdiff.solve(y, op, prior, "ddrm", sigma_y=0.05, steps=2, return_info=True)
    assert info["hyperparameters"] == "tuned" and info["task"] == "gaussian_blur" and info["tuned_nfe"] == 20
    assert info["applied"] == {"eta": 0.2, "temperature": 0.6, "start": "auto", "sigma_start": 0.3, "sigma_end": 0.1}
    assert "tuned values" in caplog.text
    same = ddrm(prior, op, y, sigma_y=0.05, steps=2, eta=0.2, temperature=0.6, start="auto", sigma_start=0.3,
                sigma_end=0.1)  # fmt: skip
    assert torch.equal(x, same)
    # the grid's settings come together or not at all: a caller's σ0 below the tuned σ_end, or a caller's grid,
    # gets no tuned σ_end (with one, the sampler would refuse the call)
    for own in ({"sigma_start": 0.05}, {"sigmas": torch.tensor([0.3, 0.05, 0.0])}):
        x, info = invdiff.solve(y, op, prior, "ddrm", sigma_y=0.05, steps=2, return_info=True, **own)
        assert info["applied"] == {"eta": 0.2, "temperature": 0.6}
    # a user-given value wins
    x, info = invdiff.solve(y, op, prior, "ddrm", sigma_y=0.05, steps=2, eta=0.9, start="noise", return_info=True)
    assert info["applied"] == {"temperature": 0.6} and info["user"] == ["eta", "start"]
    assert torch.equal(x, ddrm(prior, op, y, sigma_y=0.05, steps=2, eta=0.9, temperature=0.6, start="noise"))
    # reference: the sampler's own defaults
    x, info = invdiff.solve(y, op, prior, "ddrm", sigma_y=0.05, steps=2, hyperparameters="reference", return_info=True)
    assert info["hyperparameters"] == "reference" and info["applied"] == {}
    assert torch.equal(x, ddrm(prior, op, y, sigma_y=0.05, steps=2))
    with pytest.raises(ValueError, match="hyperparameters"):
        invdiff.solve(y, op, prior, "ddrm", sigma_y=0.05, steps=2, hyperparameters="best")


@needs_mnist
def test_tuned_values_only_for_the_task_they_were_tuned_on(tuned):
    prior, op, y = tuned
    solve = invdiff.solve
    other = copy.copy(prior)
    other.shipped_name = None
    cases = {
        "no tuned task": (operators.build("gaussian_blur", (1, 28, 28), size=9, std=2.0), prior, {}),
        "sigma_y": (op, prior, {"sigma_y": 0.1}),
        "not a shipped one": (op, other, {}),
        "not tuned on task": (op, prior, {"method": "diffpir"}),
    }
    for why, (o, p, kw) in cases.items():
        kw = {"sigma_y": 0.05, "steps": 2, "method": "ddrm", **kw}
        _, info = solve(y, o, p, return_info=True, **kw)
        assert info["hyperparameters"] == "reference" and info["applied"] == {}, why
        assert why.split()[-1] in info["reason"] or why in info["reason"], (why, info["reason"])


@needs_mnist
def test_solve_posterior_mean_of_k_draws(tuned):
    prior, op, y = tuned
    kw = dict(sigma_y=0.05, steps=2, seed=3, hyperparameters="reference")
    mean = invdiff.solve(y, op, prior, "ddrm", samples=3, **kw)
    draws = invdiff.solve(y, op, prior, "ddrm", samples=3, reduce="none", **kw)
    ref, _ = invdiff.posterior_stats(y, op, prior, "ddrm", samples=3, seed=3, progress=False, sigma_y=0.05, steps=2,
                                     hyperparameters="reference")  # fmt: skip
    assert draws.shape == (3, *y.shape) and torch.equal(mean, ref)
    assert torch.allclose(draws.double().mean(0), mean.double(), atol=1e-6)
    one = invdiff.solve(
        y, op, prior, "ddrm", sigma_y=0.05, steps=2, seed=sample_seed(3, 1), hyperparameters="reference"
    )
    assert torch.equal(draws[1], one)
    for bad in ({"samples": 0}, {"samples": 2, "reduce": "median"}):
        with pytest.raises(ValueError):
            invdiff.solve(y, op, prior, "ddrm", **{**kw, **bad})


# --------------------------------------------------------------------------- the shipped table
def test_shipped_tables_fit_the_suites_and_the_samplers():
    from types import SimpleNamespace

    from invdiff.tune import cells, table
    from invdiff.tune.defaults import resolve

    for prior in cells.TUNED_PRIORS:
        t = table.read(WEIGHTS_DIR / f"{prior}.tuned.json")
        if t is None:
            continue
        assert t["prior"] == prior
        suite = {task.name: cells.task_record(prior, task) for task in cells.tasks(prior)}
        for task, d in t["tasks"].items():
            assert suite[task] == d, f"{prior}.tuned.json: task {task} no longer matches the suite"
        for task, by_method in t["cells"].items():
            for method, by_nfe in by_method.items():
                params = inspect.signature(POSTERIOR[method]).parameters
                for nfe, entry in by_nfe.items():
                    assert set(entry["params"]) <= set(params), (task, method, nfe)
                    assert entry["trials"] >= 1 and entry["train_psnr"] > 0
                    # solve on the suite's operator at that NFE takes exactly this entry
                    spec = cells.get_task(prior, task)
                    op = spec.build(cells.image_shape(prior), 2, 0)
                    kw = {"sigma_y": spec.sigma_y, "steps": cells.steps_for(method, int(nfe))}
                    stub = SimpleNamespace(shipped_name=prior)
                    _, info = resolve(method, POSTERIOR[method], stub, op, kw)
                    assert (info["task"], info["tuned_nfe"]) == (task, int(nfe))
                    assert info["applied"] == entry["params"]


@needs_mnist
def test_training_batches_from_first_equal_the_same_images_of_a_longer_run():
    """Images ``first …`` get the operator and noise they get as part of a run from image 0 (box position,
    noise), so a check on other training images sees the same problem the search would have."""
    from invdiff.tune import Cell

    cell = Cell("mnist", "inpaint_box", "ddrm", 4)
    ((x, _, y, off),) = cell.training_batches(3, 3, first=5)
    ((x_all, _, y_all, _),) = cell.training_batches(8, 8)
    assert off == 5 and torch.equal(x, x_all[5:8]) and torch.equal(y, y_all[5:8])
    with pytest.raises(ValueError, match="asked for"):
        cell.training_batches(2, 2, first=10**6)
