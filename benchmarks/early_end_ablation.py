"""The early end's consistency step, ablated: DPS's old box entry on 64 MNIST *training* digits.

    OMP_NUM_THREADS=1 python benchmarks/early_end_ablation.py

Runs the DPS box-inpainting entry of the tuned table before ``sigma_end`` existed (ζ 1.8, discrepancy 0.50,
temperature 0.75, cold start; ``tuning.md``) on the search's digits (``train[:64]``, ``Cell.training_batches``) at
NFE 20, for several σ_end, with the consistency step of :func:`invdiff.samplers.early_end.finish` and without it
(the step replaced by the identity for the run).  Prints the mean PSNR of each.  This is what showed that an early
end needs the step: the prior's denoiser at σ_end also smooths the measured pixels.
"""

from __future__ import annotations

from unittest import mock

from invdiff.load import load_prior
from invdiff.samplers import common
from invdiff.tune.cells import Cell
from invdiff.tune.objective import Objective

OLD_DPS_BOX = {"zeta": 1.8, "discrepancy": 0.5003, "temperature": 0.7531, "start": "noise"}


def main() -> None:
    ob = Objective(Cell("mnist", "inpaint_box", "dps", 20), load_prior("mnist"), 64, 16)
    base = {**ob.cell.fixed_kw(), **OLD_DPS_BOX}
    print("| σ_end | with the consistency step | without |\n|---|---|---|")
    for s_end in (None, 0.1, 0.3, 0.5):
        kw = {**base, "sigma_end": s_end}
        with_step = ob.evaluate(kw)
        with mock.patch.object(common, "finish", lambda op, y, x, *_: x):
            without = ob.evaluate(kw)
        print(f"| {s_end} | {with_step:.2f} | {without:.2f} |", flush=True)


if __name__ == "__main__":
    main()
