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


@needs_mnist
def test_demo_never_overwrites(tmp_path):
    from invdiff.cli import _free_path

    p = tmp_path / "demo.png"
    p.write_bytes(b"user file")
    q = _free_path(p)
    assert q != p and p.read_bytes() == b"user file"


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
