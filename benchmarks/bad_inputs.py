"""Issue 14's bad-input list, re-tried by the route a user takes: API calls in-process, the CLI as a subprocess.

    python benchmarks/bad_inputs.py [--only PHRASE] [--out benchmarks/results/bad_inputs.md]

Each case ends as one of
- ``clear-error``: a documented exception (ValueError, TypeError, DivergenceError, ...) raised by
  invdiff/operators code itself, or a CLI run that exits 1/2 with one line ``error: ...`` and no
  traceback, having written nothing;
- ``ok-result``: a finite result of the right shape (with the warning the case needs, e.g. data
  given in [0, 255]), or a CLI run that wrote what it should;
- ``BAD``: a traceback, an error from deep inside torch/numpy/imageio (or naming only a key), a silent
  NaN/wrong result, output written despite an error, a user's file changed or lost, or code executed from a checkpoint.
The table goes to ``benchmarks/results/bad_inputs.md``; the exit status is 1 when a case is BAD.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.append(str(HERE.parent))  # the checkout, unless PYTHONPATH names another copy of the library

import torch  # noqa: E402
from bad_input_cases import Case, api_cases  # noqa: E402

import invdiff  # noqa: E402
import operators  # noqa: E402
from invdiff.io import CheckpointError  # noqa: E402
from invdiff.samplers import DivergenceError  # noqa: E402

CLEAR = (ValueError, TypeError, KeyError, FileNotFoundError, DivergenceError, CheckpointError)
PROJECT = tuple(str(Path(m.__file__).parent) for m in (invdiff, operators))  # errors must be raised here


# internals leaking into a message (outside its parenthesised detail): imageio's plugin list, torch's shape errors
INTERNALS = re.compile(
    r"Could not find a backend|plugins might|size of tensor|Unsupported dtype|object has no attribute|"
    r"not subscriptable|Expected one of|KeyError|IndexError"
)


def unclear(msg: str) -> bool:
    """A message a user cannot act on: internals outside parentheses, or fewer than 3 words."""
    lead = re.sub(r"\([^()]*\)", "", msg)
    return bool(INTERNALS.search(lead)) or len(lead.split()) < 3


def first_line(text: str) -> str:
    lines = [x.strip() for x in str(text).splitlines() if x.strip()]
    return lines[0] if lines else ""


def run_api(case: Case) -> tuple[str, str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = case.run()
        except Exception as e:  # noqa: BLE001 - every exception is classified
            where = traceback.extract_tb(e.__traceback__)[-1].filename
            msg = f"{type(e).__name__}: {first_line(e)}"
            if isinstance(e, CLEAR) and where.startswith(PROJECT) and not unclear(first_line(e)):
                return "clear-error", msg
            return "BAD", f"{msg} (raised in {Path(where).name})"
    if case.ok is None:
        return "BAD", f"returned a result instead of refusing the input ({_describe(result)})"
    problem = case.ok(result)
    if problem:
        return "BAD", f"silent wrong result: {problem}"
    texts = [str(w.message) for w in caught]
    if case.warn and not any(case.warn in t for t in texts):
        return "BAD", f"no warning about the {case.warn} ({_describe(result)})"
    return "ok-result", first_line(texts[0]) if case.warn else _describe(result)


def _describe(r) -> str:
    if torch.is_tensor(r):
        return f"{tuple(r.shape)} {r.dtype}, finite={bool(torch.isfinite(r).all())}"
    return type(r).__name__


def snapshot(d: Path) -> dict:
    return {p.relative_to(d): hashlib.sha1(p.read_bytes()).hexdigest() if p.is_file() else "dir" for p in d.rglob("*")}


def run_cli(case: Case, d: Path) -> tuple[str, str]:
    from bad_input_cli import invdiff

    before = snapshot(d)
    if callable(case.run):
        outcome, msg = case.run(d)
        rc = None
    else:
        r = invdiff(case.run, d)
        rc, err = r.returncode, r.stderr
    after = snapshot(d)
    new = sorted(str(p) for p in set(after) - set(before))
    changed = sorted(str(p) for p in before if after.get(p) != before[p])
    try:
        if (d / "PWNED").exists():
            return "BAD", "code from a checkpoint was executed"
        if changed:
            return "BAD", f"user file(s) changed or lost: {', '.join(changed)}"
        if rc is None:
            return outcome, msg
        lines = [x for x in err.splitlines() if x.strip()]
        if "Traceback" in err:
            return "BAD", f"traceback (exit {rc}): {lines[-1] if lines else ''}"
        if rc:
            errors = [x for x in lines if x.startswith("error: ")]
            if rc not in (1, 2) or len(errors) != 1 or lines[-1] != errors[0]:
                return "BAD", f"exit {rc} without a one-line error: {lines[-1] if lines else '(no message)'}"
            if new:
                return "BAD", f"exit {rc} but wrote {', '.join(new)}: {errors[0]}"
            if unclear(errors[0][len("error: ") :]):
                return "BAD", f"unclear error (exit {rc}): {errors[0]}"
            return "clear-error", f"exit {rc}: {errors[0]}"
        if case.ok is None:
            return "BAD", f"accepted (exit 0): {first_line(r.stdout) or first_line(err)}"
        problem = case.ok(d)
        if problem:
            return "BAD", problem
        if case.warn and case.warn not in err:
            return "BAD", f"no warning about the {case.warn}"
        return "ok-result", first_line(r.stdout)
    finally:
        for p in sorted(set(after) - set(before), key=lambda p: -len(p.parts)):  # reset the folder
            q = d / p
            shutil.rmtree(q) if q.is_dir() else q.unlink(missing_ok=True)


def report(rows, seconds: float, path: Path) -> None:
    from collections import Counter

    counts = Counter(r[2] for r in rows)
    out = [
        f"# Bad inputs and faults (issue 14), {datetime.date.today().isoformat()}",
        "",
        f"`python benchmarks/bad_inputs.py`: {len(rows)} cases by the user's route (API in-process, CLI as "
        f"`python -m invdiff`), {seconds:.0f} s on CPU. Outcomes: "
        + ", ".join(f"{k} {counts[k]}" for k in ("clear-error", "ok-result", "BAD")),
        "",
        "| # | case | route | outcome | message (first line) |",
        "|---|---|---|---|---|",
    ]
    for i, (name, route, outcome, msg) in enumerate(rows, 1):
        msg = msg.replace("|", "\\|").replace("\n", " ")
        out.append(f"| {i} | {name} | {route} | {outcome} | {msg[:220]} |")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out) + "\n")


def _wanted(name: str, only: str | None) -> bool:
    return only is None or any(p in name for p in only.split("|"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=None, help="run the cases whose name contains one of these '|'-separated phrases")
    ap.add_argument("--route", choices=("api", "cli"), default=None, help="only the API or only the CLI cases")
    ap.add_argument("--out", default=str(HERE / "results" / "bad_inputs.md"), help="the Markdown table")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    from bad_input_cli import cli_cases, prepare

    t0, rows = time.time(), []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cases = [c for c in api_cases(tmp) + cli_cases() if _wanted(c.name, a.only) and a.route in (None, c.route)]
        if any(c.route == "cli" for c in cases):
            (tmp / "cli").mkdir()
            prepare(tmp / "cli")
        for c in cases:
            t = time.time()
            outcome, msg = run_api(c) if c.route == "api" else run_cli(c, tmp / "cli")
            if (tmp / "api" / "PWNED").exists():
                outcome, msg = "BAD", "code from a checkpoint was executed"
            rows.append((c.name, c.route, outcome, msg))
            print(f"{outcome:11s} {c.route} {time.time() - t:5.1f}s  {c.name}: {msg[:150]}", flush=True)
    bad = sum(r[2] == "BAD" for r in rows)
    if a.only is None and a.route is None:
        report(rows, time.time() - t0, Path(a.out))
    print(f"{len(rows)} cases, {bad} BAD ({time.time() - t0:.0f} s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
