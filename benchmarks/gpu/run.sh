#!/usr/bin/env bash
# The GPU benchmark in one command (see benchmarks/gpu/README.md), meant to fit in 9 minutes on one GPU:
#   - photo256: the photo suite at 256² (4 held-out photos, every sampler and deepinv peer at NFE 50, baselines);
#   - mnist:    all 500 held-out digits, every sampler and deepinv's DPS/DiffPIR/DDRM at NFE 20 and 100
#               (with the classical baselines), then at NFE 1000.
# Each stage runs under torchrun (PROCS processes, sharing the GPUs by LOCAL_RANK) and is resumable:
# rerunning the same command continues a stage cut by the time budget.  Everything lands in one folder:
#   OUT/photo256/ and OUT/mnist/ (results.jsonl, results.md, figures), OUT/env.txt, OUT/timing.txt.
#
#   bash benchmarks/gpu/run.sh                       # OUT=benchmarks/results/gpu-<date>, PROCS=4, BUDGET=540 s
#   bash benchmarks/gpu/run.sh --tiny                # CPU smoke test of the script (2 processes, a few images)
#   bash benchmarks/gpu/run.sh --out DIR --procs 8 --budget 500 -- --amp bf16   # flags after -- go to bench
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-python}
TINY=0 OUT="" PROCS="" BUDGET="" EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --tiny) TINY=1 ;;
    --out) OUT=$2; shift ;;
    --procs) PROCS=$2; shift ;;
    --budget) BUDGET=$2; shift ;;
    --) shift; EXTRA=("$@"); break ;;
    *) echo "usage: $0 [--tiny] [--out DIR] [--procs N] [--budget SECONDS] [-- bench flags]" >&2; exit 2 ;;
  esac
  shift
done
if [ "$TINY" = 1 ]; then
  OUT=${OUT:-/tmp/invdiff-gpu-tiny} PROCS=${PROCS:-2} BUDGET=${BUDGET:-900} DEVICE=cpu
  MNIST=(--n-images 4 --batch-size 2) NFE_A=(2 4) NFE_B=(8)
  PHOTO=(--n-images 1 --nfe 2 --tasks inpaint_box gaussian_blur) PHOTO_NFE=2
  export OMP_NUM_THREADS=1
else
  OUT=${OUT:-benchmarks/results/gpu-$(date +%F)} PROCS=${PROCS:-4} BUDGET=${BUDGET:-540} DEVICE=cuda
  MNIST=(--batch-size 500) NFE_A=(20 100) NFE_B=(1000)
  PHOTO=() PHOTO_NFE=50
fi
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
START=$(date +%s) RESERVE=45  # seconds kept for the summaries at the end

{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(git rev-parse HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (modified)')"
  echo "command: $0 $* (tiny=$TINY, procs=$PROCS, budget=${BUDGET}s, extra: ${EXTRA[*]:-none})"
  "$PY" -c "import torch; print('torch', torch.__version__, '| cuda', torch.version.cuda, '| GPUs', torch.cuda.device_count(), [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())])"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  echo "cpus: $(getconf _NPROCESSORS_ONLN)"
} > "$OUT/env.txt"
: > "$OUT/timing.txt"

# stage NAME SUITE ARGS...: one resumable bench run, cut at the remaining budget
stage() {
  local name=$1 suite=$2; shift 2
  local left=$((BUDGET - RESERVE - ($(date +%s) - START))) t0 rc=0
  if [ "$left" -le 20 ]; then
    echo "$name: not started (budget spent); rerun this command to continue" | tee -a "$OUT/timing.txt"
    return 0
  fi
  t0=$(date +%s)
  timeout --signal=TERM --kill-after=15 "$left" \
    "$PY" -m torch.distributed.run --standalone --nproc-per-node="$PROCS" -m invdiff bench "$suite" \
    --out "$OUT/$suite" --device "$DEVICE" "$@" ${EXTRA[@]+"${EXTRA[@]}"} || rc=$?
  local what="done"
  [ "$rc" = 124 ] && what="cut by the budget (partial; rerun to continue)"
  [ "$rc" != 0 ] && [ "$rc" != 124 ] && what="failed (exit $rc)"
  echo "$name: $(( $(date +%s) - t0 )) s, $what" | tee -a "$OUT/timing.txt"
}

stage "photo256 NFE $PHOTO_NFE + baselines" photo256 ${PHOTO[@]+"${PHOTO[@]}"}
stage "mnist NFE ${NFE_A[*]} + baselines" mnist "${MNIST[@]}" --nfe "${NFE_A[@]}"
stage "mnist NFE ${NFE_B[*]}" mnist "${MNIST[@]}" --nfe "${NFE_B[@]}" \
  --methods dps pigdm ddrm ddnm diffpir reddiff daps deepinv-dps deepinv-diffpir deepinv-ddrm

# summaries of whatever is there (a stage cut by the budget leaves partial cells, marked by their n)
SUMMARY='import sys
from invdiff.bench import summarize
from invdiff.bench.distributed import merge
merge(sys.argv[1])  # rows of a stage cut by the budget are still in its shards
summarize(sys.argv[1], sys.argv[2])'
for s in photo256 mnist; do
  if [ -f "$OUT/$s/results.jsonl" ] || [ -d "$OUT/$s/shards" ]; then
    "$PY" -c "$SUMMARY" "$OUT/$s/results.jsonl" "$OUT/$s"
  fi
done
"$PY" -m invdiff.bench.report "$OUT"/mnist/results.jsonl > "$OUT/mnist/headline.md" 2>/dev/null || true
echo "total: $(( $(date +%s) - START )) s" | tee -a "$OUT/timing.txt"
echo "results in $OUT (commit it: git add $OUT)"
