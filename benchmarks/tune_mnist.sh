#!/usr/bin/env bash
# Tune DDRM, DPS and DiffPIR at NFE 20 on two MNIST tasks (30 trials, 16 training digits each) and
# write the shipped table invdiff/weights/mnist.tuned.json; one thread, cells one after the other.
# Usage (from the repository root): OMP_NUM_THREADS=1 bash benchmarks/tune_mnist.sh [PYTHON]
set -euo pipefail
PY=${1:-python}
for task in inpaint_random gaussian_blur; do
  for method in ddrm dps diffpir; do
    TIMEFORMAT="TIME $task $method: %R s wall, %U s user, %S s sys"
    time "$PY" -m invdiff tune mnist --task "$task" --method "$method" --nfe 20 --trials 30 --n-images 16 \
      --batch-size 4 --device cpu --table invdiff/weights/mnist.tuned.json
    uptime
  done
done
