"""The package surface: lazy names and submodules after a bare ``import invdiff``."""


def test_submodules_reachable_after_bare_import():
    import subprocess
    import sys

    code = "import invdiff; print(invdiff.samplers.POSTERIOR['ddrm'].__name__, invdiff.data.MNIST_N_TRAIN)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.split() == ["ddrm", "4500"], r.stderr
