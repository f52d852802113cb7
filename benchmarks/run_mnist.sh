#!/usr/bin/env bash
# Run (or resume) the MNIST benchmark suite and write its summary.
#
#   bash benchmarks/run_mnist.sh                    # full suite: 500 digits, default + matched NFE
#   N_IMAGES=100 NFE="20 100" bash benchmarks/run_mnist.sh   # smaller: 100 digits, samplers at NFE 20 and 100
#
# Results are appended to $OUT/mnist.jsonl as each image batch finishes; rerunning the
# same command skips everything already there (a killed run loses nothing finished).
# The summary (results.md, psnr_vs_nfe.png, pareto.png, grid_<task>.png) goes to $OUT/mnist/.
# Needs the shipped prior invdiff/weights/mnist.pt (PRIOR=path overrides it).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results}
PY=${PY:-python}
N_IMAGES=${N_IMAGES:-} NFE=${NFE:-} METHODS=${METHODS:-} TASKS=${TASKS:-} PRIOR=${PRIOR:-} OUT=$OUT "$PY" - <<'PYEOF'
import os
from invdiff import bench
from invdiff.bench.suites import get_suite

env = lambda k: os.environ.get(k) or None
split = lambda k: env(k).split() if env(k) else None
prior = None
if env("PRIOR"):
    from invdiff.load import load_prior
    prior = load_prior(env("PRIOR"))
out = os.environ["OUT"]
bench.run_suite(get_suite("mnist", prior=prior), f"{out}/mnist.jsonl", methods=split("METHODS"),
                nfe=[int(v) for v in split("NFE")] if split("NFE") else None, tasks=split("TASKS"),
                n_images=int(env("N_IMAGES")) if env("N_IMAGES") else None)
print(bench.summarize(f"{out}/mnist.jsonl", f"{out}/mnist"))
PYEOF
