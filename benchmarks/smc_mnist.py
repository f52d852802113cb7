"""SMC samplers on MNIST 70 % random inpainting: the weighted posterior mean of ONE run of K particles.

    OMP_NUM_THREADS=1 python benchmarks/smc_mnist.py --n-images 16 --steps 100 --particles 16 --samplers mcgdiff,tds

The mnist suite's inpaint_random task (σ_y = 0.05 on [-1, 1], operator and noise seed 0), the first held-out
digits, the shipped prior.  Prints per sampler the PSNR of the weighted mean and of the particle drawn by weight,
the median ESS over steps and digits, the fraction of steps that resampled, and the wall time.  Numbers quoted in
benchmarks/results/calibration.md (the SMC issue's MNIST target).
"""

from __future__ import annotations

import argparse
import time

import torch

import operators
from invdiff.data import mnist
from invdiff.load import load_prior
from invdiff.metrics import psnr
from invdiff.samplers import POSTERIOR


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-images", type=int, default=16)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--particles", type=int, default=16)
    ap.add_argument("--samplers", default="mcgdiff,tds")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    x = mnist("test")[: a.n_images]
    prior = load_prior("mnist")
    op = operators.build("inpaint_random", shape=(1, 28, 28), batch=a.n_images, seed=0, fraction=0.7)
    y = operators.measure(op, x, sigma_y=0.05, seed=0)
    for name in a.samplers.split(","):
        t = time.perf_counter()
        r = POSTERIOR[name](prior, op, y, sigma_y=0.05, steps=a.steps, seed=0, particles=a.particles, return_info=True)
        w = r.log_weights.exp().to(r.particles).reshape(a.n_images, a.particles, *[1] * (r.particles.ndim - 2))
        mean = (w * r.particles).sum(1)
        print(
            f"{name} steps {a.steps} K {a.particles}: mean PSNR {float(psnr(mean.clamp(-1, 1), x).mean()):.2f}, "
            f"one particle {float(psnr(r.x.clamp(-1, 1), x).mean()):.2f}, median ESS {float(r.ess.median()):.2f}, "
            f"resampled {float(r.resampled.double().mean()):.2f}, {time.perf_counter() - t:.0f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
