"""Benchmark harness: tasks (operator + σ_y) × methods × NFE × seeds over a test set.

:func:`run_suite` appends one JSON row per (task, method, nfe, seed, image) to a
JSONL file as soon as each image batch finishes (flush + fsync), and on a rerun
skips every key already there, so a killed run loses nothing it finished (a torn
last line is ignored and redone).  :func:`summarize` turns the JSONL into a
Markdown table (mean ± 95 % CI) and plots.

Per row: PSNR and SSIM (:mod:`invdiff.metrics`, reconstruction clamped to [-1, 1]),
NFE (network calls counted by ``prior.nfe``), seconds per image = wall time of the
batch / batch size, and peak memory (CUDA ``max_memory_allocated`` of the batch, or
on CPU the process's peak RSS so far from ``getrusage``, which only grows).

Randomness: image i's operator parameters (box position, motion kernel) and its
measurement noise are seeded by (task seed, i) and shared by all methods and seeds;
``seed`` is the samplers' seed.  Batches are aligned (images [k·b, (k+1)·b)); a
sampler draws its noise per sample, so an image's result does not depend on the other
images of its batch.  Samplers that take an ``offset`` keyword get the batch start,
which makes results independent of the batch size too; others depend on (seed,
position in the batch), so the batch size is recorded in every row.
"""
from __future__ import annotations

import dataclasses
import inspect
import json
import math
import os
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor

KEY = ("task", "method", "nfe_target", "seed", "index")


@dataclass
class Task:
    """An operator from ``operators.OPERATORS`` with its parameters, and the noise level σ_y (units of y).

    ``kind`` (blur | inpaint | sr | denoise | other) picks the classical baselines;
    ``method_kw`` holds per-method keyword overrides (e.g. ``{"dps": {"zeta": 0.3}}``).
    """
    name: str
    operator: str
    sigma_y: float
    kind: str = "other"
    params: dict = field(default_factory=dict)
    seed: int = 0
    method_kw: dict = field(default_factory=dict)

    def build(self, shape, batch: int, offset: int, device=None):
        import operators

        return operators.build(self.operator, shape=tuple(shape), batch=batch, seed=self.seed, offset=offset,
                               device=device, dtype=torch.float32, **self.params)


@dataclass
class Method:
    """A row label and how to run it.

    ``kind``: "sampler" (``invdiff.samplers.POSTERIOR[name]``), "deepinv" (name
    "deepinv-<m>", run by ``invdiff.interop.deepinv.run_deepinv``), "baseline"
    (``invdiff.baselines.BASELINES[name]``) or "custom" (``fn`` with the sampler signature).
    ``nfe``: target NFEs; empty = the method's default only.  ``kw``: extra keywords.
    """
    name: str
    kind: str = "sampler"
    nfe: tuple[int, ...] = ()
    fn: Callable | None = None
    kw: dict = field(default_factory=dict)


@dataclass
class Suite:
    """Everything a benchmark run needs; ``images``/``prior``/``train_images`` are loaded lazily."""
    name: str
    shape: tuple[int, int, int]
    tasks: list[Task]
    methods: list[Method]
    images: Callable[[], Tensor]
    prior: Callable[[], object] | None = None
    train_images: Callable[[], Tensor] | None = None  # for tuning the baselines' weights
    seeds: tuple[int, ...] = (0,)
    batch_size: int = 25
    n_show: int = 4
    nfe: tuple[int, ...] | None = None  # target NFEs replacing every sampler's list (e.g. a smoke suite)
    notes: str = ""


# --------------------------------------------------------------------------- resolution
def _sampler(m: Method):
    if m.fn is not None:
        return m.fn
    from .samplers import POSTERIOR

    return POSTERIOR[m.name]


def _nfe_per_step(fn, kw: dict) -> int:
    """Network calls per sampler step: ``fn.nfe_per_step``, else ``ode_steps`` (DAPS), else 1."""
    if hasattr(fn, "nfe_per_step"):
        return int(fn.nfe_per_step)
    p = inspect.signature(fn).parameters.get("ode_steps")
    return int(kw.get("ode_steps", p.default)) if p is not None else 1


def nfe_grid(m: Method, nfe=None) -> list[tuple[int, int, bool]]:
    """(target NFE, steps, is_default) for a method; baselines: [(0, 0, True)]."""
    if m.kind == "baseline":
        return [(0, 0, True)]
    if m.kind == "deepinv":
        default, per = {"dps": 1000, "diffpir": 100, "ddrm": 20}.get(m.name.split("-", 1)[-1], 100), 1
    else:
        fn = _sampler(m)
        per = _nfe_per_step(fn, m.kw)
        default = int(getattr(fn, "default_steps", 100)) * per
    targets = list(nfe) if nfe is not None else [default, *m.nfe]
    out = {}
    for t in targets:
        out.setdefault(int(t), (int(t), max(1, int(t) // per), int(t) == default))
    return sorted(out.values())


def _baseline(m: Method):
    from .baselines import BASELINES

    return m.fn or BASELINES[m.name]


def in_grid(m: Method, task: Task) -> bool:
    """Classical baselines run only on the task kinds they are made for (``baselines.FOR_KIND``)."""
    from .baselines import FOR_KIND

    return m.kind != "baseline" or m.fn is not None or m.name in FOR_KIND.get(task.kind, ())


def applicable(m: Method, task: Task, op) -> str | None:
    """None if ``m`` can run on ``op``; else why not (samplers: the capability they need)."""
    from operators import linalg

    if m.kind == "baseline":
        if m.name == "pinv" and not linalg.is_linear(op):
            return "pinv needs a linear operator"
        return None
    need = "any" if m.kind == "deepinv" else getattr(_sampler(m), "needs", "any")
    if need not in linalg.capabilities(op):
        return f"{m.name} needs the {need!r} capability"
    return None


# --------------------------------------------------------------------------- measuring
def _peak_memory(device: torch.device) -> tuple[float, str]:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda_max_allocated"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "process_peak_rss"


def _sync(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def lpips_metric(device=None):
    """``(fn, None)`` with fn(x, y) -> (B,) LPIPS when the ``lpips`` package and its weights are on disk,
    else ``(None, reason)``.  Nothing is downloaded."""
    try:
        import lpips  # noqa: F401
    except ImportError:
        return None, ("LPIPS is not reported: the `lpips` package is not installed, and torchmetrics' LPIPS "
                      "downloads its weights at run time (nothing is downloaded here).")
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    lin = Path(lpips.__file__).parent / "weights" / "v0.1" / "alex.pth"
    if not lin.is_file() or not list(hub.glob("alexnet-*.pth")):
        return None, f"LPIPS is not reported: AlexNet weights are not in {hub} (nothing is downloaded here)."
    net = lpips.LPIPS(net="alex", verbose=False).to(device).eval()
    return (lambda x, y: net(x.float(), y.float()).flatten().detach().cpu()), None


def _display(op, y: Tensor, shape) -> Tensor:
    """The measurement as an image: y itself, y upsampled (nearest), or A⁺y when y is not image-shaped."""
    from operators import linalg
    import torch.nn.functional as F

    C, H, W = shape
    if tuple(y.shape[1:]) == (C, H, W):
        return y.real if y.is_complex() else y
    if y.ndim == 4 and y.shape[1] == C and not y.is_complex():
        return F.interpolate(y, size=(H, W), mode="nearest")
    try:
        return linalg.pinv(op, y)
    except Exception:
        return torch.zeros((y.shape[0], C, H, W), device=y.device)


# --------------------------------------------------------------------------- JSONL
def read_rows(path) -> list[dict]:
    """All complete rows of a JSONL file (a torn or corrupt line is skipped)."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    with open(path) as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def _append(path: Path, rows: list[dict]):
    with open(path, "a+b") as f:
        f.seek(0, os.SEEK_END)
        if f.tell() > 0:  # a killed run may have left a torn line without its newline
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                f.write(b"\n")
        f.write("".join(json.dumps(r) + "\n" for r in rows).encode())
        f.flush()
        os.fsync(f.fileno())


def _key(r: dict) -> tuple:
    return tuple(r[k] for k in KEY)


# --------------------------------------------------------------------------- the run
def resolve_suite(suite) -> Suite:
    """A :class:`Suite`, or one by name from :mod:`invdiff.suites` (mnist, photo, photo256, ffhq256, smoke)."""
    if isinstance(suite, Suite):
        return suite
    from .suites import get_suite

    return get_suite(suite)


def _call(m: Method, fn, prior, op, y, task: Task, steps: int, seed: int, offset: int, shape, info):
    if m.kind == "baseline":
        return fn(op, y, task.sigma_y, info)
    kw = {**m.kw, **task.method_kw.get(m.name, {})}
    if m.kind == "deepinv":
        from .interop.deepinv import run_deepinv

        return run_deepinv(m.name.split("-", 1)[1], prior, op, y, task.sigma_y, steps, seed, **kw)
    if "offset" in inspect.signature(fn).parameters:
        kw["offset"] = offset
    return fn(prior, op, y, sigma_y=task.sigma_y, steps=steps, seed=seed, x_shape=shape, **kw)


def _tune(fn, task: Task, suite: Suite, device) -> dict:
    """Tune a baseline's weight on up to 16 training images (own operator and noise seeds)."""
    from .baselines import tune

    p = getattr(fn, "param", None)
    if p is None or suite.train_images is None:
        return {} if p is None else {p.name: p.default}
    import operators

    try:
        x = suite.train_images()[:16].to(device)
        op = dataclasses.replace(task, seed=task.seed + 10_000).build(suite.shape, len(x), 0, device)
        y = operators.measure(op, x, task.sigma_y, seed=task.seed + 10_001)
        return {p.name: tune(fn, op, x, y, task.sigma_y, {"x_shape": suite.shape, "task": task.name})}
    except Exception:  # untunable here: the documented default (the run itself reports any error)
        return {p.name: p.default}


def run_suite(suite, out_jsonl, methods=None, nfe=None, seeds=None, n_images=None, device=None,
              progress: bool = True, *, tasks=None, batch_size=None, prior=None, retry_errors=False) -> Path:
    """Run (or resume) a suite; returns the JSONL path.

    ``suite``: a :class:`Suite` or a name from :mod:`invdiff.suites`.  ``methods``/``tasks``:
    names to keep.  ``nfe``: target NFEs replacing every sampler's list.  ``seeds``: an int n
    (seeds 0..n-1) or a list.  ``n_images``: the first n test images.  ``device``: defaults to
    CUDA when present.  ``prior``: overrides the suite's prior.  Reconstructions of the first
    ``suite.n_show`` images (first seed) go to ``<out>_images/`` for :func:`summarize`'s grids.
    """
    import operators
    from tqdm.auto import tqdm

    suite = resolve_suite(suite)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    out = Path(out_jsonl)
    out.parent.mkdir(parents=True, exist_ok=True)
    img_dir = out.parent / f"{out.stem}_images"
    seeds = list(range(seeds)) if isinstance(seeds, int) else list(seeds or suite.seeds)
    task_list = [t for t in suite.tasks if tasks is None or t.name in tasks]
    method_list = [m for m in suite.methods if methods is None or m.name in methods]
    if methods is not None and (missing := set(methods) - {m.name for m in method_list}):
        raise ValueError(f"unknown methods {sorted(missing)} for suite {suite.name!r}")
    bs = int(batch_size or suite.batch_size)
    x_all = suite.images()
    n = len(x_all) if n_images is None else min(int(n_images), len(x_all))
    nfe = suite.nfe if nfe is None else nfe
    grids = {m.name: nfe_grid(m, None if m.kind == "baseline" else nfe) for m in method_list}
    seeds_of = {m.name: seeds[:1] if m.kind == "baseline" else seeds for m in method_list}
    lp, lp_reason = lpips_metric(device)

    done = {_key(r) for r in read_rows(out) if not retry_errors or r.get("status") != "error"}
    total = n * sum(len(grids[m.name]) * len(seeds_of[m.name]) for t in task_list for m in method_list
                    if in_grid(m, t))
    bar = tqdm(total=total, disable=not progress, desc=f"bench {suite.name}", unit="img")
    bar.update(sum(1 for t in task_list for m in method_list if in_grid(m, t) for (tg, _, _) in grids[m.name]
                   for s in seeds_of[m.name] for i in range(n) if (t.name, m.name, tg, s, i) in done))
    pr = None
    tuned: dict = {}
    for task in task_list:
        for b0 in range(0, n, bs):
            idx = list(range(b0, min(b0 + bs, n)))
            todo = [(m, g, s) for m in method_list if in_grid(m, task) for g in grids[m.name]
                    for s in seeds_of[m.name] if any((task.name, m.name, g[0], s, i) not in done for i in idx)]
            if not todo:
                continue
            x = x_all[idx].to(device)
            op = task.build(suite.shape, len(idx), b0, device)
            y = operators.measure(op, x, task.sigma_y, seed=task.seed, offset=b0)
            show = b0 == 0 and suite.n_show > 0
            if show:
                k = min(suite.n_show, len(idx))
                _save(img_dir / task.name / "_gt.pt", x[:k])
                _save(img_dir / task.name / "_measurement.pt", _display(op, y, suite.shape)[:k])
            for m, (target, steps, is_default), seed in todo:
                base = {"suite": suite.name, "task": task.name, "operator": task.operator, "sigma_y": task.sigma_y,
                        "method": m.name, "kind": m.kind, "nfe_target": target, "steps": steps,
                        "default": is_default, "seed": seed, "batch_size": len(idx), "device": str(device)}
                reason = applicable(m, task, op)
                if reason is not None:
                    rows, xh = [{**base, "index": i, "status": "skipped", "error": reason} for i in idx], None
                else:
                    if m.kind == "baseline":
                        if (task.name, m.name) not in tuned:
                            tuned[(task.name, m.name)] = _tune(_baseline(m), task, suite, device)
                        params = dict(tuned[(task.name, m.name)])
                    else:
                        params = {**m.kw, **task.method_kw.get(m.name, {})}
                        if pr is None:
                            pr = prior if prior is not None else suite.prior()
                            if hasattr(pr, "to"):
                                pr.to(device)
                    rows, xh = _run_batch(m, pr, op, x, y, task, suite, steps, seed, b0, idx, params, base, lp, device)
                if xh is not None and show and seed == seeds[0]:
                    _save(img_dir / task.name / f"{m.name}@{target}.pt", xh[:suite.n_show])
                rows = [r for r in rows if _key(r) not in done]
                _append(out, rows)
                done.update(_key(r) for r in rows)
                bar.update(len(rows))
                bar.set_postfix_str(f"{task.name} {m.name}@{target}")
    bar.close()
    meta = out.parent / f"{out.stem}_meta.json"
    old = json.loads(meta.read_text()).get("tasks", {}) if meta.is_file() else {}
    meta.write_text(json.dumps({"suite": suite.name, "notes": suite.notes, "lpips": lp_reason or "reported",
                                "tasks": {**old, **{t.name: _jsonable(t.__dict__) for t in task_list}}}, indent=1))
    return out


def _run_batch(m, pr, op, x, y, task, suite, steps, seed, b0, idx, params, base, lp, device):
    """Run one method on one image batch; returns (rows, clamped reconstruction or None)."""
    from .metrics import psnr, ssim

    fn = _baseline(m) if m.kind == "baseline" else _sampler(m) if m.kind in ("sampler", "custom") else None
    info = {"x_shape": suite.shape, "task": task.name, "kind": task.kind, **params}
    if pr is not None and hasattr(pr, "nfe"):
        pr.nfe = 0
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    _sync(device)
    t0 = time.perf_counter()
    try:
        xh, err = _call(m, fn, pr, op, y, task, steps, seed, b0, suite.shape, info), None
        _sync(device)
    except Exception as e:  # recorded; the grid goes on
        xh, err = None, f"{type(e).__name__}: {e}"[:500]
    dt = time.perf_counter() - t0
    mem, mem_kind = _peak_memory(device)
    used = 0 if m.kind == "baseline" else getattr(pr, "nfe", None)
    if used and m.kind == "deepinv" and not m.kw.get("batched"):
        used = used / len(idx)  # run_deepinv runs one image at a time
    common = {**base, "params": _jsonable(params), "time_s": dt / len(idx), "batch_time_s": dt, "nfe": used,
              "peak_mem_mib": round(mem, 1), "mem_kind": mem_kind}
    if err is not None:
        return [{**common, "index": i, "status": "error", "error": err} for i in idx], None
    xh = xh.detach().to(x)
    ok = torch.isfinite(xh).flatten(1).all(1)
    xh = xh.clamp(-1, 1)
    p, q = psnr(xh, x).cpu(), ssim(xh, x).cpu()
    lv = lp(xh, x) if lp is not None else None
    rows = []
    for j, i in enumerate(idx):
        r = {**common, "index": i, "status": "ok" if ok[j] else "nan",
             "psnr": _num(p[j]) if ok[j] else None, "ssim": _num(q[j]) if ok[j] else None}
        if lv is not None and ok[j]:
            r["lpips"] = _num(lv[j])
        rows.append(r)
    return rows, xh


def _num(v) -> float:
    v = float(v)
    return round(v, 5) if math.isfinite(v) else None


def _jsonable(d: dict) -> dict:
    return {k: (v if isinstance(v, (int, float, str, bool, type(None), list, dict)) else repr(v))
            for k, v in d.items()}


def _save(path: Path, t: Tensor):
    from .io import atomic_save

    atomic_save(t.detach().cpu().float(), path)


# --------------------------------------------------------------------------- summary
def _ci(vals: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95 % Student-t confidence interval."""
    import numpy as np
    from scipy import stats

    a = np.asarray(vals, dtype=float)
    if len(a) < 2:
        return float(a.mean()) if len(a) else float("nan"), float("nan")
    return float(a.mean()), float(stats.t.ppf(0.975, len(a) - 1) * a.std(ddof=1) / math.sqrt(len(a)))


def aggregate(rows: list[dict]) -> dict:
    """{(task, method, nfe_target): stats} over the rows with status ok."""
    groups: dict = {}
    for r in rows:
        if r.get("status") == "ok":
            groups.setdefault((r["task"], r["method"], r["nfe_target"]), []).append(r)
    out = {}
    for k, rs in groups.items():
        s = {"n": len(rs), "kind": rs[0].get("kind"), "default": rs[0].get("default"),
             "sigma_y": rs[0].get("sigma_y"), "params": rs[0].get("params")}
        for f in ("psnr", "ssim", "time_s", "nfe", "lpips"):
            v = [r[f] for r in rs if r.get(f) is not None]
            if v:
                s[f] = _ci(v)
        s["mem"] = max((r.get("peak_mem_mib") or 0) for r in rs)
        s["mem_kind"] = rs[0].get("mem_kind")
        out[k] = s
    return out


def _fmt(s: dict, f: str, d: int) -> str:
    if f not in s:
        return "–"
    m, h = s[f]
    return f"{m:.{d}f}" if not math.isfinite(h) else f"{m:.{d}f} ± {h:.{d}f}"


def summarize(jsonl, out_dir) -> Path:
    """Write ``results.md`` (per task: method × NFE, mean ± 95 % CI), ``psnr_vs_nfe.png``,
    ``pareto.png`` (PSNR vs seconds per image) and ``grid_<task>.png`` into ``out_dir``."""
    jsonl, out_dir = Path(jsonl), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = read_rows(jsonl)
    agg = aggregate(rows)
    meta_f = jsonl.parent / f"{jsonl.stem}_meta.json"
    meta = json.loads(meta_f.read_text()) if meta_f.is_file() else {}
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    has_lp = any("lpips" in s for s in agg.values())
    devices = sorted({r.get("device") for r in rows if r.get("device")})
    L = [f"# Benchmark: {meta.get('suite', jsonl.stem)}", ""]
    if meta.get("notes"):
        L += [meta["notes"], ""]
    L += [f"Device: {', '.join(devices) or '?'}. Mean ± 95 % CI (Student t) over images (and seeds). "
          "Reconstructions clamped to [-1, 1]; PSNR/SSIM on [0, 1] (skimage conventions). "
          "s/image = wall time of a batch / batch size (mean; no CI, images of a batch share it). NFE = network evaluations counted by the prior "
          "(target → measured). Memory: CUDA peak allocated per batch, or on CPU the process's peak RSS "
          "(monotone over the run).", ""]
    if not has_lp:
        L += [meta.get("lpips") or "LPIPS is not reported: no local LPIPS weights.", ""]
    for t in tasks:
        sy = next((r.get("sigma_y") for r in rows if r["task"] == t), None)
        L += [f"## {t} (σ_y = {sy} on [-1, 1])", ""]
        head = ["method", "NFE", "n", "PSNR", "SSIM"] + (["LPIPS"] if has_lp else []) + ["s/image", "NFE used",
                                                                                       "peak MiB", "params"]
        L += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for (tt, m, g), s in agg.items():
            if tt != t:
                continue
            cells = [m, str(g) + (" (default)" if s["default"] and s["kind"] != "baseline" else ""), str(s["n"]),
                     _fmt(s, "psnr", 2), _fmt(s, "ssim", 3)] + ([_fmt(s, "lpips", 3)] if has_lp else []) + \
                    [f"{s['time_s'][0]:.3g}" if "time_s" in s else "–", f"{s['nfe'][0]:.0f}" if "nfe" in s else "–", f"{s['mem']:.0f}",
                     ", ".join(f"{k}={v}" for k, v in (s.get("params") or {}).items())]
            L.append("| " + " | ".join(cells) + " |")
        bad = {}
        for r in rows:
            if r["task"] == t and r.get("status") in ("skipped", "error", "nan"):
                bad.setdefault((r["method"], r["nfe_target"], r["status"], r.get("error")), 0)
                bad[(r["method"], r["nfe_target"], r["status"], r.get("error"))] += 1
        for (m, g, st, e), c in bad.items():
            L.append(f"\n- {m}@{g}: {c} rows {st}" + (f" ({e})" if e else ""))
        L.append("")
    md = out_dir / "results.md"
    md.write_text("\n".join(L))
    _plots(agg, tasks, out_dir)
    img_dir = jsonl.parent / f"{jsonl.stem}_images"
    for t in tasks:
        _grid(img_dir / t, t, agg, out_dir / f"grid_{t}.png")
    return md


def _plots(agg: dict, tasks: list[str], out_dir: Path):
    """PSNR vs measured NFE and PSNR vs seconds per image (the Pareto view), one panel per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(dict.fromkeys(m for (_, m, _) in agg))
    kinds = {m: s["kind"] for (_, m, _), s in agg.items()}
    cmap = plt.get_cmap("tab20")
    style = {m: dict(color=cmap(i % 20), marker={"baseline": "s", "deepinv": "^"}.get(kinds[m], "o"),
                     ls="--" if kinds[m] == "deepinv" else "-") for i, m in enumerate(methods)}
    for name, xkey, xlabel in (("psnr_vs_nfe", "nfe", "NFE (measured)"), ("pareto", "time_s", "seconds per image")):
        cols = min(len(tasks), 4) or 1
        rws = max(1, math.ceil(len(tasks) / cols))
        fig, axes = plt.subplots(rws, cols, figsize=(4.2 * cols, 3.4 * rws), squeeze=False)
        for ax, t in zip(axes.flat, tasks):
            for m in methods:
                pts = sorted((s[xkey][0], s["psnr"][0], s["psnr"][1]) for (tt, mm, _), s in agg.items()
                             if tt == t and mm == m and "psnr" in s and xkey in s)
                if not pts:
                    continue
                xs, ys, es = zip(*pts)
                st = style[m]
                if kinds[m] == "baseline" and xkey == "nfe":  # no network: a horizontal reference line
                    ax.axhline(ys[0], ls=":", lw=1, color=st["color"])
                    continue
                ax.errorbar([max(v, 1e-5) for v in xs], ys, yerr=[e if math.isfinite(e) else 0 for e in es],
                            ms=4, capsize=2, lw=1, **st)
            ax.set_xscale("log")
            ax.set_title(t, fontsize=9)
            ax.set_xlabel(xlabel, fontsize=8)
            ax.set_ylabel("PSNR (dB)", fontsize=8)
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[len(tasks):]:
            ax.axis("off")
        handles = [plt.Line2D([], [], **style[m]) for m in methods]
        fig.legend(handles, methods, loc="lower center", ncol=min(len(methods), 8), fontsize=7)
        fig.tight_layout(rect=(0, 0.06 + 0.03 * math.ceil(len(methods) / 8), 1, 1))
        fig.savefig(out_dir / f"{name}.png", dpi=110)
        plt.close(fig)


def _grid(d: Path, task: str, agg: dict, path: Path):
    """Rows = shown images; columns = ground truth, measurement, each method (its default NFE, else the largest)."""
    if not (d / "_gt.pt").is_file():
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = [("ground truth", d / "_gt.pt"), ("measurement", d / "_measurement.pt")]
    chosen: dict = {}
    for (t, m, g), s in agg.items():
        if t == task and (d / f"{m}@{g}.pt").is_file():
            if m not in chosen or s["default"] or (not agg[(t, m, chosen[m])]["default"] and g > chosen[m]):
                chosen[m] = g
    cols += [(f"{m}@{g}\n{agg[(task, m, g)]['psnr'][0]:.1f} dB", d / f"{m}@{g}.pt") for m, g in chosen.items()]
    ims = [torch.load(p, weights_only=True) for _, p in cols]
    k = min(len(i) for i in ims)
    fig, axes = plt.subplots(k, len(cols), figsize=(1.3 * len(cols), 1.3 * k + 0.4), squeeze=False)
    for c, ((title, _), im) in enumerate(zip(cols, ims)):
        for r in range(k):
            a = ((im[r].clamp(-1, 1) + 1) / 2).permute(1, 2, 0).numpy()
            ax = axes[r, c]
            ax.imshow(a[..., 0] if a.shape[-1] == 1 else a, cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=6)
    fig.suptitle(task, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
