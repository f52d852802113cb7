"""The command line: demo writes its figure, restore round-trips a PNG, --help shows defaults."""

import subprocess
import sys

import pytest

from invdiff.cli import build_parser, main
from invdiff.load import SHIPPED, WEIGHTS_DIR

needs_mnist = pytest.mark.skipif(not (WEIGHTS_DIR / SHIPPED["mnist"]).is_file(), reason="shipped MNIST prior absent")


def test_help_shows_defaults(capsys):
    for cmd in ("demo", "restore", "sample", "train", "bench", "export"):
        with pytest.raises(SystemExit):
            build_parser().parse_args([cmd, "--help"])
        out = capsys.readouterr().out
        assert "usage: invdiff" in out
        if cmd in ("restore", "train", "sample"):
            assert "(default:" in out


@needs_mnist
def test_demo_fast_writes_figure(tmp_path):
    out = tmp_path / "demo.png"
    r = subprocess.run(
        [sys.executable, "-m", "invdiff.cli", "demo", "--fast", "--n", "2", "--out", str(out)],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    assert out.is_file() and out.stat().st_size > 10_000
    assert "ddrm" in r.stdout and "PSNR" in r.stdout
    if (WEIGHTS_DIR / SHIPPED["photo"]).is_file():  # the photo part: mean/std rows for both tasks
        assert "photo gaussian_blur" in r.stdout and "photo inpaint_random" in r.stdout


def test_demo_never_overwrites(tmp_path, monkeypatch):
    """``invdiff demo --out`` an existing file writes the figure next to it (demo-1.png, then demo-2.png).

    The command line runs as the user's would; only the demo itself (minutes of sampling) is replaced by one that
    writes its figure where it is told to."""
    import invdiff.demo

    def fake_run_demo(out, **kw):
        assert not out.exists()  # the path the demo is handed is free
        out.write_bytes(b"figure")

    monkeypatch.setattr(invdiff.demo, "run_demo", fake_run_demo)
    p = tmp_path / "demo.png"
    p.write_bytes(b"user file")
    for k in (1, 2):
        assert main(["demo", "--out", str(p), "--device", "cpu"]) == 0
        assert p.read_bytes() == b"user file" and (tmp_path / f"demo-{k}.png").read_bytes() == b"figure"
    assert sorted(f.name for f in tmp_path.iterdir()) == ["demo-1.png", "demo-2.png", "demo.png"]


@needs_mnist
def test_restore_png(tmp_path):
    from invdiff.data import mnist
    from invdiff.io import read_image, write_image
    from invdiff.metrics import psnr

    x = mnist("test")[:1]
    src = write_image(tmp_path / "digit.png", x)
    out = tmp_path / "restored.png"
    assert main(["restore", str(src), "--task", "gaussian_blur", "--method", "ddrm", "--out", str(out)]) == 0
    xh = read_image(out, channels=1)
    assert (
        float(psnr(xh, read_image(src, channels=1))[0]) > 18.0
    )  # measured 31.3 dB (DDRM, 20 steps; 9x9 blur kernel scaled from DPS)
    # an existing output is refused without --force, and left untouched
    before = out.read_bytes()
    assert main(["restore", str(src), "--out", str(out)]) == 2
    assert out.read_bytes() == before


def test_restore_missing_image_is_clear_error(tmp_path, capsys):
    rc = main(
        ["restore", str(tmp_path / "nope.png"), "--out", str(tmp_path / "o.png"), "--prior", str(tmp_path / "nope.pt")]
    )
    assert rc == 2
    assert "does not exist" in capsys.readouterr().err


def test_python_m_invdiff_bench_and_report(tmp_path):
    """``python -m invdiff bench`` (baselines only: no prior needed) and ``python -m invdiff.bench.report``."""
    import json

    out = tmp_path / "b"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "invdiff",
            "bench",
            "smoke",
            "--methods",
            "pinv",
            "biharmonic",
            "--out",
            str(out),
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted({(x["task"], x["method"]) for x in rows}) == [
        ("gaussian_blur", "pinv"),
        ("inpaint_box", "biharmonic"),
        ("inpaint_box", "pinv"),
    ]
    assert len(rows) == 6 and all(x["status"] == "ok" and x["psnr"] is not None for x in rows)
    r = subprocess.run(
        [sys.executable, "-m", "invdiff.bench.report", str(out / "results.jsonl")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    best = {ln.split(" | ")[0].strip("| "): ln.split(" | ")[3] for ln in r.stdout.splitlines()[2:4]}
    assert best["inpaint_box"].startswith("biharmonic ") and best["gaussian_blur"].startswith("pinv ")
