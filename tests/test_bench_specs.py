"""Benchmark method specs: warm starts (``ddrm:start=noise,sigma0=0.2``) and posterior means (``ddrm:mean8``)."""

from __future__ import annotations

import pytest
import torch

import invdiff
from invdiff import bench
from invdiff.bench.runners import Batch, GridPoint, Job, SamplerRunner
from invdiff.bench.spec import Method, parse_spec
from invdiff.cli import main
from invdiff.load import WEIGHTS_DIR
from invdiff.prior import GaussianMixturePrior
from invdiff.samplers import POSTERIOR

SHAPE = (1, 8, 8)
needs_mnist = pytest.mark.skipif(not (WEIGHTS_DIR / "mnist.pt").is_file(), reason="shipped MNIST prior absent")


# --------------------------------------------------------------------------- parsing
@pytest.mark.parametrize(
    "text, kw, samples",
    [
        ("ddrm:start=biharmonic,sigma0=0.2", {"start": "biharmonic", "sigma_start": 0.2}, 1),
        ("ddrm:mean8", {}, 8),
        (" dps:mean4, start=noise, zeta=0.5 ", {"start": "noise", "zeta": 0.5}, 4),
        ("reddiff:start=tikhonov,sigma0=inf", {"start": "tikhonov", "sigma_start": float("inf")}, 1),
        (
            "daps:ode_steps=2,lr_cap=false,tau=none,lr=1e-4",
            {"ode_steps": 2, "lr_cap": False, "tau": None, "lr": 1e-4},
            1,
        ),
    ],
)
def test_parse_spec(text, kw, samples):
    m = parse_spec(text)
    assert m.name == text.strip() and m.key == text.strip().split(":")[0] and m.kind == "sampler"
    assert m.kw == kw and m.samples == samples
    assert type(m.kw.get("ode_steps", 0)) is int


MALFORMED = [
    ("ddrm", "no ':' after the method name"),
    ("ddrm:", "an empty item"),
    ("ddrm:mean8,", "an empty item"),
    (":mean8", "'' is not a method name"),
    ("ddrm:mean", "neither 'meanK', 'tuned' nor 'key=value'"),
    ("ddrm:mean1", "a posterior mean needs K >= 2 draws"),
    ("ddrm:mean2,mean4", "'meanK' given twice"),
    ("ddrm:sigma0=", "keyword 'sigma_start' has no value"),
    ("ddrm:sigma0=0.2,sigma_start=0.3", "keyword 'sigma_start' given twice"),
    ("ddrm:2x=1", "'2x' is not a keyword name"),
    ("ddrm:start=a b", "is not a number, true/false, none or a word"),
    ("ddrm:sigma0=nan", "NaN is not a value"),
]


@pytest.mark.parametrize("text, phrase", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_spec_is_one_line(text, phrase):
    with pytest.raises(ValueError) as e:
        parse_spec(text)
    msg = str(e.value)
    assert phrase in msg and "\n" not in msg and "e.g. ddrm:start=biharmonic,sigma0=0.2" in msg


# --------------------------------------------------------------------------- runners
def test_sampler_runner_checks_keywords():
    for text, phrase in (
        ("ddrm:zeta=1", "takes no keyword 'zeta'"),
        ("ddrm:steps=5", "steps is set by the benchmark"),
        ("ddrm:seed=1", "seed is set by the benchmark"),
        ("ddrm:start=zeros", "start='zeros'; choose from auto, noise"),
        ("ddrm:sigma0=-1", "must be a number > 0"),
        ("ddrm:sigma0=0", "must be a number > 0"),
        ("ddrm:sigma0=true", "must be a number > 0"),
    ):
        with pytest.raises(ValueError, match=phrase):
            SamplerRunner(parse_spec(text))
    with pytest.raises(ValueError, match="unknown sampler 'ddrx'"):
        SamplerRunner(parse_spec("ddrx:mean2"))
    with pytest.raises(ValueError, match="applies to our samplers only"):
        bench.runner_for(Method("wiener", "baseline", samples=4))


def test_a_posterior_mean_is_charged_k_times():
    plain = SamplerRunner(Method("ddrm", nfe=(20, 100))).grid()
    mean = SamplerRunner(parse_spec("ddrm:mean8")).grid(nfe=[20])
    assert [(p.target, p.steps) for p in plain] == [(20, 20), (100, 100)]
    assert [(p.target, p.steps) for p in mean] == [(160, 20)]
    daps = SamplerRunner(parse_spec("daps:mean4,sigma0=0.5")).grid(nfe=[10, 50])
    assert [(p.target, p.steps) for p in daps] == [(40, 10), (200, 50)]  # 1 network call per DAPS level
    daps5 = SamplerRunner(parse_spec("daps:mean4,ode_steps=5")).grid(nfe=[10, 50])
    assert [(p.target, p.steps) for p in daps5] == [(40, 2), (200, 10)]  # ode_steps network calls per level


def gmm_problem(batch=3):
    import operators

    g = torch.Generator().manual_seed(0)
    prior = GaussianMixturePrior(torch.rand(3, *SHAPE, generator=g, dtype=torch.float64) * 1.6 - 0.8, std=0.1)
    x = prior.sample(batch, seed=1).clamp(-1, 1)
    task = bench.Task("random", "inpaint_random", 0.05, "inpaint", {"fraction": 0.5})
    op = task.build(SHAPE, batch, 0)
    y = operators.measure(op, x, 0.05, seed=0)
    return prior, task, Batch(task, SHAPE, list(range(batch)), x, y, op)


@pytest.mark.parametrize("name", ["ddnm", "ddrm"])
def test_mean_k_is_posterior_stats_mean(name):
    """``NAME:meanK`` averages the draws posterior_stats takes (seeds derived from the row's seed)."""
    prior, _, b = gmm_problem()
    r = SamplerRunner(parse_spec(f"{name}:mean3,start=pinv,sigma0=0.3"))
    prior.nfe = 0
    got = r(b, Job(GridPoint(12, 4, False), 5, dict(r.method.kw), prior))
    assert prior.nfe == 12  # 3 draws × 4 steps
    mean, _ = invdiff.posterior_stats(
        b.y, b.op, prior, method=name, samples=3, seed=5, progress=False, sigma_y=0.05, steps=4, x_shape=SHAPE,
        start="pinv", sigma_start=0.3,
    )  # fmt: skip
    assert torch.equal(got, mean)


# --------------------------------------------------------------------------- selection and the run
@pytest.fixture()
def suite():
    prior, task, b = gmm_problem(batch=2)
    task.method_kw = {"dps": {"zeta": 0.3}, "ddnm": {"eta": 0.5}}
    return bench.Suite(
        "tiny",
        SHAPE,
        [task],
        [Method("dps", nfe=(5,)), Method("ddnm", nfe=(5,)), Method("pinv", "baseline")],
        images=lambda: b.x,
        prior=lambda: prior,
        batch_size=2,
        n_show=2,
        nfe=(5,),
    )


def test_select_methods(suite):
    ms = bench.select_methods(suite, ["ddnm:mean2", "pinv", "dps:start=noise,zeta=0.5", "ddnm:mean2"])
    assert [m.name for m in ms] == ["pinv", "ddnm:mean2", "dps:start=noise,zeta=0.5"]  # suite order, then specs
    assert ms[1].key == "ddnm" and ms[1].samples == 2 and ms[1].nfe == (5,)
    assert bench.select_methods(suite, None) == suite.methods
    for names, phrase in (
        (["wiener"], "unknown methods ['wiener'] for suite 'tiny'"),
        (["pinv:mean2"], "'pinv' is not a sampler of suite 'tiny'"),
        (["ddrm:mean2"], "'ddrm' is not a sampler of suite 'tiny' (its samplers: dps, ddnm)"),
        (["ddnm:eta"], "neither 'meanK', 'tuned' nor 'key=value'"),
        (["dps:eta=1"], "takes no keyword 'eta'"),
    ):
        with pytest.raises(ValueError, match=phrase.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
            bench.select_methods(suite, names)


def test_deepinv_peer_specs_reach_deepinv(suite, monkeypatch):
    """``deepinv-dps:weight=300`` runs deepinv's DPS with that weight (issue 13: tuned peer weights); a keyword
    deepinv's sampler does not take, a posterior mean and the tuned table are refused before any work."""
    from invdiff.bench import peers

    suite.methods.append(Method("deepinv-dps", "deepinv", nfe=(5,)))
    seen = {}

    def fake(denoiser, prior, y01, physics, sigma01, steps, seed, shape, kw, cls):
        seen.update(kw, steps=steps)
        return torch.zeros(shape, dtype=torch.float64)

    monkeypatch.setitem(peers._SAMPLERS, "dps", fake)
    (m,) = bench.select_methods(suite, ["deepinv-dps:weight=300"])
    assert m.key == "deepinv-dps" and m.kw == {"weight": 300}
    r = bench.runner_for(m)
    prior, _, b = gmm_problem(batch=1)
    task_kw, _ = r.params(b.task, suite, "cpu")
    r(b, Job(r.grid()[0], 0, task_kw, prior))
    assert seen == {"weight": 300, "steps": 5}
    for names, phrase in (
        (["deepinv-dps:lambda_=2"], "deepinv's dps takes no keyword ['lambda_']; it takes weight"),
        (["deepinv-dps:mean2"], "applies to our samplers only"),
        (["deepinv-dps:tuned"], "applies to our samplers only"),
    ):
        with pytest.raises(ValueError, match=phrase.replace("[", r"\[").replace("]", r"\]")):
            bench.select_methods(suite, names)


def test_run_with_specs(suite, tmp_path):
    out = tmp_path / "r.jsonl"
    methods = ["dps", "dps:zeta=0.5", "ddnm:start=noise", "ddnm:mean3,sigma0=0.5,start=pinv", "pinv"]
    bench.run_suite(suite, out, methods=methods, progress=False, device="cpu")
    rows = bench.read_rows(out)
    by = {r["method"]: r for r in rows if r["index"] == 0}
    assert {r["status"] for r in rows} == {"ok"} and set(by) == set(methods)
    assert by["dps"]["params"]["zeta"] == 0.3 and by["dps:zeta=0.5"]["params"]["zeta"] == 0.5  # a spec wins
    assert by["ddnm:start=noise"]["params"] == {"eta": 0.5, "start": "noise"}
    m = by["ddnm:mean3,sigma0=0.5,start=pinv"]
    assert (m["nfe_target"], m["steps"], m["nfe"], m["draws"]) == (15, 5, 15, 3)  # charged 3 × 5 NFE
    assert "draws" not in by["ddnm:start=noise"]
    md = bench.summarize(out, tmp_path / "sum")
    text = md.read_text()
    assert "| ddnm:mean3,sigma0=0.5,start=pinv | 15 |" in text
    from invdiff.bench.plots import curves
    from invdiff.bench.report import aggregate

    drawn = curves(aggregate(rows), ["random"], tmp_path)
    assert set(methods) <= set(drawn["pareto"]) and set(methods) - {"pinv"} <= set(drawn["psnr_vs_nfe"])
    assert (tmp_path / "sum" / "grid_random.png").is_file()
    assert sorted(p.name for p in (tmp_path / "r_images" / "random").glob("ddnm*")) == [
        "ddnm_mean3,sigma0=0.5,start=pinv@15.pt",
        "ddnm_start=noise@5.pt",
    ]
    # resume: nothing is rerun
    n = len(out.read_text().splitlines())
    bench.run_suite(suite, out, methods=methods, progress=False, device="cpu")
    assert len(out.read_text().splitlines()) == n


def test_spec_styles():
    from invdiff.bench.plots import _style

    assert _style("ddrm:mean8", "sampler")["marker"] == "D"
    assert _style("ddrm:start=noise", "sampler")["marker"] == "v"
    assert _style("ddrm", "sampler")["marker"] == "o" and _style("wiener", "baseline")["marker"] == "s"


# --------------------------------------------------------------------------- suites follow the registry
def test_suite_samplers_follow_the_registry(monkeypatch):
    from invdiff.bench import suites

    approx = [n for n, f in POSTERIOR.items() if not getattr(f, "weighted_population", False)]
    assert suites.SAMPLERS == tuple(approx) and "mcgdiff" not in approx and "dps" in approx  # SMC: not in suites
    monkeypatch.setitem(POSTERIOR, "newsampler", POSTERIOR["ddrm"])
    assert suites.SAMPLERS[-1] == "newsampler"
    names = [m.name for m in suites.get_suite("mnist").methods if m.kind == "sampler" and m.fn is None]
    assert names == approx + ["newsampler"]  # the registry's samplers (tweedie has its own fn, not the registry)


# --------------------------------------------------------------------------- the command line
BAD_CLI = [
    (["ddrm:"], "--methods: method spec 'ddrm:': an empty item"),
    (["ddrm:mean1"], "a posterior mean needs K >= 2 draws"),
    (["ddrm:start=zeros"], "start='zeros'"),
    (["ddrm:eta=1,zeta=2"], "takes no keyword 'zeta'"),
    (["wiener:mean2"], "'wiener' is not a sampler of suite 'smoke'"),
    (["ddrx"], "--methods: ddrx not in suite smoke"),
]


@pytest.mark.parametrize("methods, phrase", BAD_CLI, ids=[b[0][0] for b in BAD_CLI])
def test_bench_cli_bad_spec(methods, phrase, tmp_path, capsys):
    out = tmp_path / "b"
    rc = main(["bench", "smoke", "--out", str(out), "--methods", *methods])
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: ") and phrase in lines[0], err
    assert not out.exists()


@needs_mnist
def test_bench_cli_runs_specs(tmp_path, capsys):
    out = tmp_path / "b"
    argv = ["bench", "smoke", "--out", str(out), "--n-images", "1", "--tasks", "gaussian_blur", "--nfe", "2"]
    assert main([*argv, "--methods", "ddrm:mean2", "ddrm:start=noise", "wiener", "--device", "cpu"]) == 0
    rows = {r["method"]: r for r in bench.read_rows(out / "results.jsonl")}
    assert set(rows) == {"ddrm:mean2", "ddrm:start=noise", "wiener"}
    assert (rows["ddrm:mean2"]["nfe_target"], rows["ddrm:mean2"]["nfe"]) == (4, 4)
    assert rows["ddrm:start=noise"]["params"] == {"start": "noise"} and rows["ddrm:start=noise"]["nfe"] == 2
    assert (out / "pareto.png").is_file()


def test_tuned_spec_runs_the_shipped_table(tmp_path):
    """``ddrm:tuned`` runs the values of invdiff/weights/mnist.tuned.json (as solve does) and records them;
    the plain ``ddrm`` row keeps the sampler's own defaults.  Specs that misuse ``tuned`` are refused."""
    from invdiff import load_prior
    from invdiff.bench.suites import mnist_tasks
    from invdiff.data import mnist
    from invdiff.tune import table
    from invdiff.tune.defaults import TABLE_DIR

    task = next(t for t in mnist_tasks(0.05) if t.name == "inpaint_random")
    entry = table.read(TABLE_DIR / "mnist.tuned.json")["cells"]["inpaint_random"]["ddrm"]["20"]["params"]
    x = mnist("test")[:2]
    s = bench.Suite("tiny-mnist", (1, 28, 28), [task], [Method("ddrm")], images=lambda: x,
                    prior=lambda: load_prior("mnist"), batch_size=2, n_show=2, nfe=(20,))  # fmt: skip
    out = tmp_path / "r.jsonl"
    bench.run_suite(s, out, methods=["ddrm", "ddrm:tuned", "ddrm:tuned,eta=0.5"], progress=False, device="cpu")
    by = {r["method"]: r for r in bench.read_rows(out) if r["index"] == 0}
    assert {r["status"] for r in by.values()} == {"ok"}
    assert by["ddrm:tuned"]["params"] == entry and by["ddrm"]["params"] == {}
    assert by["ddrm:tuned,eta=0.5"]["params"] == {**entry, "eta": 0.5}  # a spec's own keyword wins
    assert by["ddrm:tuned"]["psnr"] != by["ddrm"]["psnr"]
    for text, phrase in (("ddrm:tuned,tuned", "'tuned' given twice"), ("ddrm:tune", "neither 'meanK', 'tuned'")):
        with pytest.raises(ValueError, match=phrase):
            parse_spec(text)
    with pytest.raises(ValueError, match="applies to our samplers only"):
        bench.runner_for(Method("wiener", "baseline", tuned=True))
