"""The benchmark harness on a tiny grid: JSONL rows, resume without recomputation, summary files."""

from __future__ import annotations

import json

import pytest
import torch

from invdiff import bench
from invdiff.baselines import BASELINES
from invdiff.prior import GaussianMixturePrior
from invdiff.samplers import POSTERIOR

SHAPE = (1, 8, 8)


def counted(fn, calls: dict, name: str):
    """``fn`` with its attributes (needs, default_steps, param), counting calls in ``calls[name]``."""

    def wrapper(*a, **kw):
        calls[name] = calls.get(name, 0) + 1
        return fn(*a, **kw)

    wrapper.__dict__.update(fn.__dict__)
    wrapper.__signature__ = __import__("inspect").signature(fn)
    return wrapper


@pytest.fixture()
def setup(tmp_path):
    g = torch.Generator().manual_seed(0)
    means = torch.rand(3, *SHAPE, generator=g, dtype=torch.float64) * 1.6 - 0.8
    prior = GaussianMixturePrior(means, std=0.1)
    images = prior.sample(2, seed=1).clamp(-1, 1)
    calls: dict = {}
    suite = bench.Suite(
        "tiny",
        SHAPE,
        [bench.Task("box", "inpaint_box", 0.05, "inpaint", {"size": 4, "margin": 1})],
        [
            bench.Method("ddnm", "custom", fn=counted(POSTERIOR["ddnm"], calls, "ddnm")),
            bench.Method("pinv", "baseline", fn=counted(BASELINES["pinv"], calls, "pinv")),
        ],
        images=lambda: images,
        prior=lambda: prior,
        batch_size=2,
        n_show=2,
        nfe=(5,),
    )
    return suite, calls, tmp_path / "res.jsonl"


def lines(path):
    return path.read_text().splitlines()


def test_run_resume_and_summary(setup, tmp_path):
    suite, calls, out = setup
    bench.run_suite(suite, out, progress=False, device="cpu")
    rows = bench.read_rows(out)
    assert len(rows) == 4 and len(lines(out)) == 4
    assert {(r["method"], r["index"]) for r in rows} == {("ddnm", 0), ("ddnm", 1), ("pinv", 0), ("pinv", 1)}
    for r in rows:
        assert r["status"] == "ok" and r["task"] == "box" and r["seed"] == 0
        for f in ("psnr", "ssim", "time_s", "batch_time_s", "nfe", "peak_mem_mib", "batch_size", "nfe_target"):
            assert r[f] is not None, f
        assert r["time_s"] == pytest.approx(r["batch_time_s"] / 2)
    ddnm = [r for r in rows if r["method"] == "ddnm"]
    assert all(r["nfe_target"] == 5 and r["nfe"] == 5 for r in ddnm)
    assert all(r["nfe"] == 0 for r in rows if r["method"] == "pinv")
    assert calls == {"ddnm": 1, "pinv": 1}  # one batch of 2 images each

    # rerun: nothing new, nothing called again
    bench.run_suite(suite, out, progress=False, device="cpu")
    assert len(lines(out)) == 4 and calls == {"ddnm": 1, "pinv": 1}

    # summary: per method a table row with n and the mean PSNR of its rows, plots and the image grid
    md = bench.summarize(out, tmp_path / "summary")
    table = {
        c[0]: c
        for c in (line.strip("| ").split(" | ") for line in md.read_text().splitlines())
        if c[0] in ("ddnm", "pinv")
    }
    for m in ("ddnm", "pinv"):
        psnr = [r["psnr"] for r in rows if r["method"] == m]
        assert table[m][2] == "2" and table[m][3].startswith(f"{sum(psnr) / 2:.2f} ± "), table[m]
    assert table["ddnm"][1] == "5" and table["pinv"][1] == "0"  # target NFE; (default) marks no NFE-5 run
    for f in ("psnr_vs_nfe.png", "pareto.png", "grid_box.png"):
        assert (tmp_path / "summary" / f).stat().st_size > 1000, f


def test_killed_run_redoes_only_the_lost_row(setup):
    suite, calls, out = setup
    bench.run_suite(suite, out, progress=False, device="cpu")
    full = lines(out)
    lost = json.loads(full[-1])
    # a kill in the middle of writing the last row: a torn line without its newline
    out.write_text("\n".join(full[:-1]) + "\n" + full[-1][: len(full[-1]) // 2])
    before = dict(calls)
    bench.run_suite(suite, out, progress=False, device="cpu")
    assert lines(out)[:3] == full[:3] and len(lines(out)) == 4  # the torn line is gone, not kept as junk
    rows = [json.loads(line) for line in lines(out)]
    redone = rows[-1]
    assert bench.row_key(redone) == bench.row_key(lost)
    assert redone["psnr"] == pytest.approx(lost["psnr"])  # the same result again
    assert calls[lost["method"]] == before[lost["method"]] + 1
    other = ({"ddnm", "pinv"} - {lost["method"]}).pop()
    assert calls[other] == before[other]


# --------------------------------------------------------------------------- the store
def test_resume_truncates_a_torn_tail(tmp_path):
    from invdiff.bench import store

    rows = [{"task": "t", "method": "m", "nfe_target": 5, "seed": 0, "index": i, "psnr": 20.0 + i} for i in range(3)]
    path = tmp_path / "r.jsonl"
    store.append(path, rows[:2])
    good = path.read_bytes()
    torn = json.dumps(rows[2])[:17]
    path.write_bytes(good + torn.encode())
    assert len(store.read_rows(path)) == 2  # the torn line is not a row
    assert store.resume(path) == {store.row_key(r) for r in rows[:2]}
    assert path.read_bytes() == good  # truncated back to the last complete row
    store.append(path, rows[2:])
    assert store.read_rows(path) == rows and path.read_text().count("\n") == 3
    # a last line that is a complete row only lacks its newline: kept
    path.write_bytes(good.rstrip(b"\n"))
    assert store.repair(path) == 0 and path.read_bytes() == good
    # a corrupt line in the middle is skipped, with a warning naming it
    path.write_bytes(good + b"{not json\n" + good)
    with pytest.warns(UserWarning, match=r"r\.jsonl:3"):
        assert len(store.read_rows(path)) == 4


# --------------------------------------------------------------------------- failures are recorded
def _broken(prior, op, y, *, sigma_y, steps=10, seed=0, x_shape=None):
    raise ZeroDivisionError("the sampler divided by zero")


def test_a_failing_method_is_recorded_and_the_run_goes_on(setup):
    suite, calls, out = setup
    suite.methods.insert(0, bench.Method("broken", "custom", fn=_broken))
    state = torch.random.get_rng_state()
    bench.run_suite(suite, out, progress=False, device="cpu")
    assert torch.equal(torch.random.get_rng_state(), state)  # no global RNG touched
    rows = bench.read_rows(out)
    broken = [r for r in rows if r["method"] == "broken"]
    assert len(broken) == 2 and len(rows) == 6
    for r in broken:
        assert r["status"] == "error" and r["error"] == "ZeroDivisionError: the sampler divided by zero"
        assert "psnr" not in r and r["time_s"] is not None
    assert all(r["status"] == "ok" for r in rows if r["method"] != "broken")  # the grid went on
    assert calls == {"ddnm": 1, "pinv": 1}
    # retry_errors reruns exactly the failed rows
    bench.run_suite(suite, out, progress=False, device="cpu", retry_errors=True)
    assert len(bench.read_rows(out)) == 8 and calls == {"ddnm": 1, "pinv": 1}


def test_a_failed_tuning_is_recorded(setup):
    from invdiff.baselines import BASELINES

    suite, _, out = setup

    def no_train_images():
        raise FileNotFoundError("train digits are not installed")

    suite.train_images = no_train_images
    suite.methods = [bench.Method("wiener", "baseline", fn=BASELINES["wiener"])]
    suite.tasks[0] = bench.Task("blur", "gaussian_blur", 0.05, "blur", {"size": 3, "std": 0.5})
    bench.run_suite(suite, out, progress=False, device="cpu")
    rows = bench.read_rows(out)
    assert len(rows) == 2
    for r in rows:
        assert r["status"] == "ok" and r["params"] == {"balance": BASELINES["wiener"].param.default}
        assert r["tune_error"] == "FileNotFoundError: train digits are not installed"


def test_unknown_kind_and_names_fail_before_running(setup):
    suite, calls, out = setup
    for m, match in (
        (bench.Method("ddnm", "samplr"), "unknown kind 'samplr'"),
        (bench.Method("ddrn"), "unknown sampler 'ddrn'"),
        (bench.Method("deepinv-ddnm", "deepinv"), "unknown deepinv peer"),
        (bench.Method("wienr", "baseline"), "unknown baseline 'wienr'"),
    ):
        suite.methods = [m]
        with pytest.raises(ValueError, match=match):
            bench.run_suite(suite, out, progress=False, device="cpu")
    assert not out.exists() and calls == {}


# --------------------------------------------------------------------------- headline tables
def test_headline_compares_families_and_peers():
    def rows(method, kind, nfe, psnrs, t=1.0):
        return [
            {
                "task": "blur",
                "method": method,
                "kind": kind,
                "nfe_target": nfe,
                "seed": 0,
                "index": i,
                "status": "ok",
                "psnr": p,
                "time_s": t,
                "default": False,
            }
            for i, p in enumerate(psnrs)
        ]

    text = bench.headline(
        rows("ddrm", "sampler", 20, [24.0, 26.0], 0.5)
        + rows("dps", "sampler", 20, [20.0, 21.0])
        + rows("deepinv-ddrm", "deepinv", 20, [23.0, 23.0], 2.0)
        + rows("wiener", "baseline", 0, [21.5, 22.5])
    )
    lines_ = text.splitlines()
    assert lines_[2] == (
        "| blur | ddrm@20 25.00 (0.5 s) | deepinv-ddrm@20 23.00 (2 s) | wiener 22.00 | +2.00 | +3.00 |"
    )
    assert "| blur | ddrm | 20 | 25.00 / 0.5 | 23.00 / 2 | +2.00 | 4.00 |" in lines_


# --------------------------------------------------------------------------- structure
BENCH_MODULES = ("spec", "suites", "runners", "peers", "measure", "store", "run", "distributed", "report", "plots")


_ALONE = r"""
import importlib, sys, traceback
failed = []
for mod in sys.argv[1:]:
    for name in [n for n in sys.modules if n.split(".")[0] in ("invdiff", "operators")]:
        del sys.modules[name]  # the module is imported first, as in a fresh interpreter (torch stays loaded)
    try:
        importlib.import_module(mod)
    except Exception:
        failed.append(mod + ":\n" + traceback.format_exc(limit=3))
print("\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_each_module_imports_alone():
    """Each bench and interop module imported first, before any other invdiff module (an import cycle
    fails here), in a fresh interpreter."""
    import importlib.util
    import subprocess
    import sys

    mods = [f"invdiff.bench.{m}" for m in BENCH_MODULES] + [
        "invdiff.bench",
        "invdiff.nets.adm",
        "invdiff.interop.sample_view",
        "invdiff.interop.diffunet",
    ]
    if importlib.util.find_spec("deepinv") is not None:
        mods += ["invdiff.interop.deepinv", "invdiff.interop.denoiser", "invdiff.interop.physics"]
    r = subprocess.run([sys.executable, "-c", _ALONE, *mods], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]


def test_bench_modules_form_no_cycle():
    """Every import between invdiff.bench modules (module level or inside functions) points one way,
    and the suites depend on the specs alone."""
    import ast
    from pathlib import Path

    import invdiff.bench

    root = Path(invdiff.bench.__file__).parent
    deps = {}
    for m in BENCH_MODULES:
        tree = ast.parse((root / f"{m}.py").read_text())
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                found |= {node.module} if node.module else {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("invdiff.bench."):
                found.add(node.module.split(".")[2])
        deps[m] = found & set(BENCH_MODULES)
    assert deps["suites"] == {"spec"} and deps["spec"] == set()
    seen, order = set(), []

    def visit(m, path):
        assert m not in path, f"import cycle: {' -> '.join([*path, m])}"
        if m not in seen:
            for d in sorted(deps[m]):
                visit(d, [*path, m])
            seen.add(m)
            order.append(m)

    for m in BENCH_MODULES:
        visit(m, [])
