"""The scripts in examples/ run (``--small``), write their figures and print numbers that are right.

Every selected example is started at once as a subprocess (``sys.executable examples/X.py --small
--out-dir DIR``, OMP_NUM_THREADS=1), so the file costs about the slowest script's time on a
multi-core machine; each test then waits for its own script and checks its output.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ["forward_process", "tweedie", "deblur_photo", "inpaint_uncertainty", "custom_operator", "compare_samplers"]
TIMEOUT = 900  # generous: a busy CI machine can be many times slower than the usual ~10 s
SENTINEL = b"a file the user already had"


@pytest.fixture(scope="module")
def runs(request, tmp_path_factory):
    """{name: (Popen, out_dir)} for the examples whose tests are selected, all started now."""
    wanted = {it.name.removeprefix("test_") for it in request.session.items if it.module is request.module}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    procs = {}
    for name in EXAMPLES:
        if name not in wanted:
            continue
        out = tmp_path_factory.mktemp(name)
        if name == "deblur_photo":  # an existing file must survive: the script picks a new name
            (out / "deblur_photo.png").write_bytes(SENTINEL)
        log = open(out / "log.txt", "w")
        procs[name] = (
            subprocess.Popen(
                [sys.executable, str(ROOT / "examples" / f"{name}.py"), "--small", "--out-dir", str(out)],
                cwd=out,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            ),
            out,
            log,
        )
    yield procs
    for p, _, log in procs.values():
        if p.poll() is None:
            p.kill()
            p.wait()
        log.close()


def finished(runs, name) -> tuple[str, Path]:
    """Wait for the example, assert it exited 0, return (its output, its out dir)."""
    p, out, log = runs[name]
    rc = p.wait(timeout=TIMEOUT)
    log.flush()
    text = (out / "log.txt").read_text()
    assert rc == 0, f"examples/{name}.py --small exited {rc}:\n{text[-3000:]}"
    return text, out


def number(pattern: str, text: str) -> float:
    m = re.search(pattern, text)
    assert m, f"no match for {pattern!r} in:\n{text}"
    return float(m.group(1))


def table(text: str) -> dict[str, list[float]]:
    """{name: [numbers]} from the printed table under the header line that starts with 'method'."""
    rows = {}
    for line in text[text.index("\nmethod") :].splitlines()[2:]:
        parts, nums = line.split(), []
        while parts and re.fullmatch(r"-?[\d.]+", parts[-1]):
            nums.insert(0, float(parts.pop()))
        if not parts or not nums:
            break
        rows[" ".join(parts)] = nums
    return rows


def test_forward_process(runs):
    text, out = finished(runs, "forward_process")
    assert (out / "forward_process.png").is_file()
    from PIL import Image

    with Image.open(out / "forward_process.gif") as gif:
        assert gif.n_frames > 10
    ratios = [float(m) for m in re.findall(r"^\s*[\d.]+\s+[\d.]+\s+([\d.]+)\s+-?[\d.]+$", text, re.M)]
    assert len(ratios) == 8 and all(0.9 < r < 1.1 for r in ratios), text  # std(x_σ − x0) ≈ σ
    assert number(r"DDIM: 8 steps, (\d+) network evaluations", text) == 8


def test_tweedie(runs):
    text, out = finished(runs, "tweedie")
    assert (out / "tweedie.png").is_file()
    rows = re.findall(r"^\s*([\d.]+)\s+(-?[\d.]+)\s+(-?[\d.]+)$", text, re.M)
    assert len(rows) == 5
    assert all(float(den) > float(noisy) + 3 for _, noisy, den in rows), text  # the denoiser denoises
    diff = number(r"max difference ([\d.]+)", text)
    shift = number(r"mean \|E\[x0\|x\] - x\| = ([\d.]+)", text)
    assert diff < 0.15 and diff < 0.2 * shift, text  # exact Tweedie = Monte Carlo posterior mean


def test_deblur_photo(runs):
    text, out = finished(runs, "deblur_photo")
    assert (out / "deblur_photo.png").read_bytes() == SENTINEL  # never overwritten …
    assert (out / "deblur_photo-1.png").is_file()  # … a new name instead
    rows = table(text)
    for m in ("diffpir", "ddrm"):  # interim photo weights: no quality claim, only a finite result
        assert math.isfinite(rows[m][0]) and rows[m][2] == 4, text


def test_inpaint_uncertainty(runs):
    text, out = finished(runs, "inpaint_uncertainty")
    assert (out / "inpaint_uncertainty.png").is_file()
    assert number(r"correlation\(std, \|error\|\) = (-?[\d.]+)", text) > 0.3, text
    hidden = number(r"mean std hidden ([\d.]+)", text)
    seen = number(r"vs measured ([\d.]+)", text)
    assert hidden > 3 * seen, text  # the samples disagree where the digit was not measured


def test_custom_operator(runs):
    text, out = finished(runs, "custom_operator")
    assert (out / "custom_operator.png").is_file()
    assert number(r"relative error ([\d.e+-]+)", text) < 1e-5, text
    assert number(r"autograd At: max difference ([\d.e+-]+)", text) < 1e-6, text
    rows = table(text)
    assert rows["dps"][2] == 5 and rows["diffpir"][2] == 5, text
    assert rows["diffpir"][0] > 15, text  # the data-consistency step alone gets this far


def test_compare_samplers(runs):
    text, out = finished(runs, "compare_samplers")
    assert (out / "compare_samplers.png").is_file()
    rows = table(text)
    samplers = ("dps", "pigdm", "ddrm", "ddnm", "diffpir", "reddiff", "daps")
    assert set(samplers) <= set(rows), text
    assert all(rows[m][1] == 5 for m in samplers), text  # matched NFE, DAPS included
    assert rows["ddrm"][2] > 15, text
