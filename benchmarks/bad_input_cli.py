"""Command-line cases of the bad-input list: ``python -m invdiff ...`` in a folder of the user's files.

A plain case is an argument list; ``ok`` (given the folder) judges a run that exits 0.  The faults
(kill-and-resume, a torn results file, a 2000² image, ``--help``) are functions of the folder that
return ``(outcome, message)`` themselves.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch
from bad_input_cases import Case, Payload

import invdiff as invdiff_lib

ROOT = Path(invdiff_lib.__file__).resolve().parents[1]  # the subprocesses run the library imported here
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}


def invdiff(args, cwd, timeout=600, **kw):
    return subprocess.run(
        [sys.executable, "-m", "invdiff", *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout
    )


def popen(args, cwd):
    return subprocess.Popen(
        [sys.executable, "-m", "invdiff", *args], cwd=cwd, env=ENV, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip


def kill(p) -> None:
    """SIGKILL the process group of ``p`` (the run and any children it started)."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()


# --------------------------------------------------------------------------- the user's files
def prepare(d: Path) -> None:
    from skimage.io import imsave

    from invdiff.data import mnist
    from invdiff.io import atomic_save, safe_load
    from invdiff.load import WEIGHTS_DIR

    rng = np.random.default_rng(0)
    digit = ((mnist("test")[0, 0].numpy() + 1) * 127.5).round().astype(np.uint8)
    imsave(d / "digit.png", digit, check_contrast=False)
    imsave(d / "rgb.png", np.stack([digit] * 3, -1), check_contrast=False)
    imsave(d / "small.png", digit[::2, ::2], check_contrast=False)
    imsave(d / "photo64.png", (rng.random((64, 64)) * 255).astype(np.uint8), check_contrast=False)
    big = np.kron(rng.random((125, 125)), np.ones((16, 16)))  # 2000 × 2000, blocky
    imsave(d / "big.png", (big * 255).astype(np.uint8), check_contrast=False)
    (d / "text.png").write_text("I am a text file, not an image\n")
    (d / "empty.png").write_bytes(b"")
    (d / "rand.pt").write_bytes(rng.bytes(4096))
    torch.save({"format": "invdiff-unet-v1", "hook": Payload(d / "PWNED")}, d / "evil.pt")
    (d / "existing.png").write_bytes(b"the user's file")
    (d / "existing.pt").write_bytes(b"the user's model")
    (d / "mean_std.png").write_bytes(b"the user's std map")
    ck = safe_load(WEIGHTS_DIR / "mnist.pt")
    for name, f in (("nan.pt", float("nan")), ("huge.pt", 1e38)):  # NaN weights; finite weights, NaN result
        sd = {k: v * f if k.endswith("conv_out.weight") else v for k, v in ck["state_dict"].items()}
        atomic_save({**ck, "state_dict": sd}, d / name)
    (d / "imgs").mkdir()
    for i in range(4):
        imsave(d / "imgs" / f"{i}.png", (rng.random((16, 16)) * 255).astype(np.uint8), check_contrast=False)
    (d / "badimgs").mkdir()
    shutil.copy(d / "imgs" / "0.png", d / "badimgs" / "0.png")
    (d / "badimgs" / "notes.png").write_text("not an image")
    (d / "emptydir").mkdir()
    r = invdiff([*TRAIN, "--steps", "2", "--out", "run.ckpt"], d)
    assert r.returncode == 0, r.stderr


TRAIN = ["train", "--data", "imgs", "--width", "8", "--multipliers", "1", "2", "--attention", "--batch", "2",
         "--threads", "1", "--save-every", "2"]  # fmt: skip
R = ["restore", "digit.png", "--method", "ddrm", "--steps", "2"]
BENCH = ["bench", "smoke", "--tasks", "gaussian_blur", "--n-images", "1", "--no-summary"]


def image_ok(name: str):
    """A run check: ``name`` was written and is a non-constant image."""

    def check(d: Path):
        from skimage.io import imread

        p = d / name
        if not p.is_file():
            return f"{name} not written"
        img = imread(p)
        return f"{name} is constant ({img.min()})" if img.min() == img.max() else None

    return check


# --------------------------------------------------------------------------- faults
def _rows(path: Path):
    lines = path.read_text().splitlines()
    return [json.loads(line) for line in lines]  # raises on a torn line


def torn_tail(d: Path):
    args = [*BENCH, "--methods", "ddrm", "--nfe", "2", "--out", "torn"]
    r = invdiff(args, d)
    if r.returncode:
        return "BAD", f"first run failed: {r.stderr.strip()[-200:]}"
    f = d / "torn" / "results.jsonl"
    n = len(_rows(f))
    with f.open("a") as fh:
        fh.write('{"task": "gaussian_blur", "method": "dd')  # a kill in the middle of a write
    r = invdiff([*args[:-4], "--methods", "ddrm", "ddnm", "--nfe", "2", "--out", "torn"], d)
    try:
        rows = _rows(f)
    except json.JSONDecodeError as e:
        return "BAD", f"the results file does not parse after resume: {e}"
    if r.returncode or "Traceback" in r.stderr:
        return "BAD", r.stderr.strip().splitlines()[-1]
    return "ok-result", f"torn line truncated; {n} row(s) kept, {len(rows) - n} added"


def killed_bench(d: Path):
    args = [*BENCH, "--methods", "ddrm", "ddnm", "diffpir", "--nfe", "2", "3"]
    ref = invdiff([*args, "--out", "ref"], d)
    if ref.returncode:
        return "BAD", f"reference run failed: {ref.stderr.strip()[-200:]}"
    p, f = popen([*args, "--out", "killed"], d), d / "killed" / "results.jsonl"
    t0 = time.time()
    while p.poll() is None and time.time() - t0 < 300 and not (f.is_file() and f.stat().st_size):
        time.sleep(0.05)
    killed = p.poll() is None
    kill(p)
    r = invdiff([*args, "--out", "killed"], d)
    key = ("task", "method", "nfe_target", "seed", "index")
    a = {tuple(x[k] for k in key): x.get("psnr") for x in _rows(d / "ref" / "results.jsonl")}
    got = _rows(f)
    b = {tuple(x[k] for k in key): x.get("psnr") for x in got}
    if r.returncode or len(b) != len(got) or a != b:
        return "BAD", f"rows after resume differ: {len(got)} rows, {len(b)} keys, reference {len(a)}"
    return "ok-result", f"{'killed mid-run' if killed else 'finished before the kill'}; {len(b)} rows = reference"


def killed_training(d: Path):
    from invdiff.io import safe_load

    args = [*TRAIN, "--steps", "30"]
    ref = invdiff([*args, "--out", "ref.ckpt"], d)
    if ref.returncode:
        return "BAD", f"reference run failed: {ref.stderr.strip()[-200:]}"
    p, f = popen([*args, "--out", "k.ckpt"], d), d / "k.ckpt"
    t0 = time.time()
    while p.poll() is None and time.time() - t0 < 300 and not f.is_file():
        time.sleep(0.02)
    killed = p.poll() is None
    kill(p)
    at = safe_load(f)["step"]
    r = invdiff([*args, "--out", "k.ckpt", "--resume"], d)
    if r.returncode:
        return "BAD", r.stderr.strip().splitlines()[-1]
    a, b = safe_load(d / "ref.ckpt"), safe_load(f)
    same = all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    same &= all(torch.equal(a["ema"][k], b["ema"][k]) for k in a.get("ema", {}))
    if not same:
        return "BAD", f"resumed weights differ from an uninterrupted run (killed at step {at})"
    return "ok-result", f"{'killed' if killed else 'finished'} at step {at}; resumed run bit-exact"


def resume_override(d: Path):
    from invdiff.io import safe_load

    shutil.copy(d / "run.ckpt", d / "o.ckpt")
    r = invdiff([*TRAIN, "--steps", "4", "--lr", "2e-3", "--resume", "--override", "--out", "o.ckpt"], d)
    ck = safe_load(d / "o.ckpt")
    if r.returncode or ck["config"]["lr"] != 2e-3 or not ck.get("history"):
        return "BAD", f"override not applied or not recorded: {r.stderr.strip()[-200:]}"
    return "ok-result", f"history {ck['history']}"


def large_image(d: Path):
    """A 2000² photo: the warning (time, memory) must come before the work; the run is stopped there."""
    p = popen(["restore", "big.png", "--prior", "photo", "--method", "ddrm", "--steps", "2", "--out", "b.png"], d)
    lines, t0 = [], time.time()
    reader = threading.Thread(target=lambda: lines.extend(p.stderr), daemon=True)  # collects stderr lines
    reader.start()
    while p.poll() is None and time.time() - t0 < 120 and not any("warning" in x for x in lines):
        time.sleep(0.1)
    dt = time.time() - t0
    kill(p)
    warn = next((x.strip() for x in lines if "warning" in x), None)
    if warn is None:
        return "BAD", f"no size warning after {dt:.0f} s"
    if "needs about" not in warn or "memory" not in warn or (d / "b.png").exists():
        return "BAD", warn
    return "ok-result", f"after {dt:.0f} s: {warn}"


def help_defaults(d: Path):
    """Every option with a value shows its default once in ``SUB --help``."""
    from invdiff.cli import build_parser

    parser = build_parser()
    subs = next(a for a in parser._actions if a.choices and "restore" in a.choices).choices
    bad = []
    for name, sp in subs.items():
        text = invdiff([name, "--help"], d).stdout
        blocks, cur = {}, None
        for line in text.splitlines():
            s = line.strip()
            if line.startswith("  -"):
                cur = s.split()[0].rstrip(",")
                blocks[cur] = s
            elif cur and line.startswith("     "):
                blocks[cur] += " " + s
            else:
                cur = None
        for act in sp._actions:
            if not act.option_strings or act.nargs == 0 or act.required or act.help == "==SUPPRESS==":
                continue
            n = blocks.get(act.option_strings[0], "").count("(default")
            if n != 1:
                bad.append(f"{name} {act.option_strings[0]}: {n}")
    return ("BAD", "; ".join(bad)) if bad else ("ok-result", f"{len(subs)} commands, every default shown once")


# --------------------------------------------------------------------------- the table
def cli_cases() -> list[Case]:
    o = ["--out", "r.png"]
    c = [
        ("text file renamed .png", ["restore", "text.png", *o]),
        ("empty file named .png", ["restore", "empty.png", *o]),
        ("a folder as the image", ["restore", "imgs", *o]),
        ("missing image", ["restore", "nope.png", *o]),
        ("--out without extension", [*R, "--out", "result"]),
        ("--out naming a folder", [*R, "--out", "imgs"]),
        ("--out .txt", [*R, "--out", "r.txt"]),
        ("--out in a missing folder", [*R, "--out", "nope/r.png"]),
        ("--out an existing file", [*R, "--out", "existing.png"]),
        ("--samples 2, std map exists", [*R, "--out", "mean.png", "--samples", "2"]),
        ("measurement of the wrong size", [*R, *o, "--measurement", "small.png"]),
        ("--device cuda without GPU", [*R, *o, "--device", "cuda"]),
        ("--device gpu", [*R, *o, "--device", "gpu"]),
        ("--device cuda:7", [*R, *o, "--device", "cuda:7"]),
        ("restore --steps 0", [*R, *o, "--steps", "0"]),
        ("restore --steps -3", [*R, *o, "--steps", "-3"]),
        ("restore --samples 0", [*R, *o, "--samples", "0"]),
        ("--kernel-size on inpainting", [*R, *o, "--task", "inpaint_box", "--kernel-size", "5"]),
        ("--kernel-size larger than the image", [*R, *o, "--kernel-size", "99"]),
        ("--sigma-y -1", [*R, *o, "--sigma-y", "-1"]),
        ("--sigma-y nan", [*R, *o, "--sigma-y", "nan"]),
        ("--seed -1", [*R, *o, "--seed", "-1"]),
        ("unknown task", [*R, *o, "--task", "deblur"]),
        ("unknown method", [*R, *o, "--method", "foo"]),
        ("unconditional method in restore", [*R, *o, "--method", "ddim"]),
        ("--start unknown", [*R, *o, "--start", "foo"]),
        ("--start wiener on inpainting", [*R, *o, "--task", "inpaint_random", "--start", "wiener"]),
        ("--sigma-start -1", [*R, *o, "--sigma-start", "-1"]),
        ("missing prior file", [*R, *o, "--prior", "nope.pt"]),
        ("random bytes as a checkpoint", [*R, *o, "--prior", "rand.pt"]),
        ("code-carrying checkpoint", [*R, *o, "--prior", "evil.pt"]),
        ("NaN-weights checkpoint", [*R, *o, "--prior", "nan.pt"]),
        ("checkpoint giving a NaN result", [*R, *o, "--prior", "huge.pt"]),
        ("image of another size than the prior's", ["restore", "photo64.png", *o]),
        ("unknown option", [*R, *o, "--stpes", "3"]),
        ("no command", []),
        ("sample --n 0", ["sample", "--n", "0"]),
        ("sample --steps 0", ["sample", "--steps", "0"]),
        ("sample --size on a fixed-size prior", ["sample", "--size", "32", "--out", "s.png"]),
        ("sample --out .gif", ["sample", "--out", "s.gif"]),
        ("demo --n 0", ["demo", "--n", "0"]),
        ("bench nosuch", ["bench", "nosuch", "--out", "b"]),
        ("bench smoke --tasks foo", ["bench", "smoke", "--tasks", "foo", "--out", "b"]),
        ("bench --nfe 0", ["bench", "smoke", "--nfe", "0", "--out", "b"]),
        ("bench --seeds 0", ["bench", "smoke", "--seeds", "0", "--out", "b"]),
        ("bench unknown method", ["bench", "smoke", "--methods", "nosuch", "--out", "b"]),
        ("bench malformed method spec", ["bench", "smoke", "--methods", "ddrm:foo", "--out", "b"]),
        ("bench --out an existing file", ["bench", "smoke", "--out", "existing.png"]),
        ("train --batch 0", [*TRAIN, "--batch", "0", "--out", "t.ckpt"]),
        ("train --steps 0", [*TRAIN, "--steps", "0", "--out", "t.ckpt"]),
        ("train --lr -1", [*TRAIN, "--lr", "-1", "--out", "t.ckpt"]),
        ("train --ema 1", [*TRAIN, "--ema", "1", "--out", "t.ckpt"]),
        ("train missing data folder", ["train", "--data", "nofolder", "--out", "t.ckpt"]),
        ("train --out an existing file", [*TRAIN, "--out", "existing.pt"]),
        ("train --override without --resume", [*TRAIN, "--override", "--out", "t.ckpt"]),
        ("train --resume, other --lr", [*TRAIN, "--steps", "4", "--lr", "2e-3", "--resume", "--out", "run.ckpt"]),
        ("train --resume, other --batch", [*TRAIN, "--batch", "4", "--steps", "4", "--resume", "--out", "run.ckpt"]),
        ("train --resume, other --width", [*TRAIN, "--width", "16", "--steps", "4", "--resume", "--out", "run.ckpt"]),
        ("train --resume of a corrupt checkpoint", [*TRAIN, "--steps", "4", "--resume", "--out", "rand.pt"]),
        ("export a corrupt checkpoint", ["export", "rand.pt", "m.pt"]),
        ("export to .txt", ["export", "nan.pt", "m.txt"]),
        ("export over an existing file", ["export", "nan.pt", "existing.pt"]),
        ("tune unknown suite", ["tune", "nosuch", "--task", "gaussian_blur", "--method", "ddrm"]),
        ("tune unknown task", ["tune", "mnist", "--task", "foo", "--method", "ddrm", "--nfe", "20"]),
        ("sample --size not a multiple of 4, photo prior", ["sample", "--prior", "photo", "--size", "30"]),
        ("bench --n-images 0", ["bench", "smoke", "--n-images", "0", "--out", "b"]),
        ("bench --batch-size 0", ["bench", "smoke", "--batch-size", "0", "--out", "b"]),
        ("a folder without a model as --prior", [*R, *o, "--prior", "imgs"]),
        ("train on a folder holding a text file named .png", [*TRAIN, "--data", "badimgs", "--out", "t.ckpt"]),
        ("train on an empty folder", [*TRAIN, "--data", "emptydir", "--out", "t.ckpt"]),
        ("export a model file (not a training run)", ["export", "nan.pt", "m.pt"]),
    ]
    cases = [Case(n, "cli", a) for n, a in c]
    cases += [
        Case("restore, plain", "cli", [*R, "--out", "ok.png"], image_ok("ok.png")),
        Case("restore an RGB png with the gray prior", "cli",
             ["restore", "rgb.png", "--steps", "2", *o], image_ok("r.png")),
        Case("restore with a measurement of the right size", "cli",
             [*R, "--out", "m.png", "--measurement", "digit.png"], image_ok("m.png")),
        Case("restore with the photo prior on a digit", "cli", [*R, "--prior", "photo", *o], image_ok("r.png")),
        Case("restore --amp fp16 on CPU", "cli", [*R, "--out", "a.png", "--amp", "fp16"], image_ok("a.png")),
        Case("restore --out with an upper-case extension", "cli", [*R, "--out", "U.PNG"], image_ok("U.PNG")),
        Case("sample, plain", "cli", ["sample", "--n", "2", "--steps", "2", "--out", "s.png"], image_ok("s.png")),
        Case("2000² image with the photo prior", "cli", large_image),
        Case("--help shows every default once", "cli", help_defaults),
        Case("train --resume --override, other --lr", "cli", resume_override),
        Case("kill and resume training", "cli", killed_training),
        Case("torn results line on bench resume", "cli", torn_tail),
        Case("killed benchmark, resumed", "cli", killed_bench),
    ]  # fmt: skip
    return cases
