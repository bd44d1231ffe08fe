#!/usr/bin/env bash
# Every GPU table of docs/benchmarks.md in one command, within one wall-clock budget (issue 16).
#
#   bash scripts/gpu_tables.sh [OUT_DIR]          # OUT_DIR: default $OUT, else ./gpu_tables
#   TOTAL_S=540 bash scripts/gpu_tables.sh out     # the whole command's budget in seconds (default 540)
#   SMOKE=1 bash scripts/gpu_tables.sh /tmp/smoke  # the same commands, tiny, on the CPU (what a test runs)
#
# Installs the package first when .venv cannot import it (`make install`; else a python with torch and
# pytorch_lightning and this folder on PYTHONPATH). Then runs, in order of interest, each table of
# scripts/benchmark.py as its own process: resnet50-layer4 (random-weight ResNet-50 `layer4`, fp32 / bf16-mixed /
# channels_last / compile, units per GPU-hour and peak memory), lite0-atlas (every lite0 block and class in one
# run), whole-layer (lite0 `_blocks.3`, the CPU table's settings). Each gets a soft budget (--budget-s: no run
# starts after it) and a hard limit (`timeout`: SIGTERM, after which benchmark.py skips the runs left and still
# writes its table), both cut to what is left of TOTAL_S. Markdown goes to stdout and to OUT_DIR/<table>.md, the
# progress of each to OUT_DIR/<table>.log; a table that fails is named in OUT_DIR/failures.txt and the next runs.
# Then, in the repository: python scripts/benchmark.py --merge OUT_DIR/*.md --out docs/benchmarks.md
#
# Sizes (estimated conservatively for one H200; about 7 minutes in all): resnet50-layer4 256 units x 128 steps at
# 128 px in 2 groups of 128 (compile only on these 256 units), the one-unit loop on 16 units; lite0-atlas 2808
# units x 128 steps at 128 px, batch 256, the loop on every 64th unit of each layer; whole-layer 40 units x 48 steps
# (the CPU table's settings, plus the plain loop in one batch of 40).
set -u
started=$(date +%s)
total=${TOTAL_S:-540}
out=${1:-${OUT:-gpu_tables}}
mkdir -p "$out" && out=$(cd "$out" && pwd) || exit 1
cd "$(dirname "$0")/.." || exit 1
: > "$out/failures.txt"

python=${PYTHON:-.venv/bin/python}
imports="import torch, pytorch_lightning, lit_actmax.lightning.module"
if ! "$python" -c "$imports" 2>/dev/null; then
    echo "== make install" >&2
    if make install >&2 && .venv/bin/python -c "$imports"; then
        python=.venv/bin/python
    elif python3 -c "$imports" 2>/dev/null || PYTHONPATH=. python3 -c "$imports"; then
        python=python3
        export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}
    else
        echo "gpu_tables: no python that imports torch, pytorch_lightning and lit_actmax" | tee -a "$out/failures.txt" >&2
        exit 1
    fi
fi

if [ -n "${SMOKE:-}" ]; then
    device=(--smoke --device cpu --threads 1)
else
    if ! "$python" -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
        echo "gpu_tables: no CUDA device (SMOKE=1 runs the same commands on the CPU)" | tee -a "$out/failures.txt" >&2
        exit 1
    fi
    device=(--device cuda)
    nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true
fi

# table soft-budget-seconds hard-limit-seconds [benchmark.py options...]
run_table() {
    local name=$1 budget=$2 limit=$3
    shift 3
    local left=$((total - ($(date +%s) - started) - 10))
    if [ "$left" -lt 30 ]; then
        echo "$name: skipped, ${left}s left of TOTAL_S=${total}" | tee -a "$out/failures.txt" >&2
        return
    fi
    [ "$limit" -le "$left" ] || limit=$left
    [ "$budget" -le $((limit - 20)) ] || budget=$((limit - 20))
    [ "$budget" -ge 1 ] || budget=1
    echo "== $name: budget ${budget}s, limit ${limit}s" >&2
    timeout -k 20 "$limit" "$python" scripts/benchmark.py --table "$name" "${device[@]}" --budget-s "$budget" \
        --out "$out/$name.md" "$@" 2> "$out/$name.log"
    local rc=$?
    if [ "$rc" -eq 124 ]; then
        echo "$name: stopped at its time limit (${limit}s); $out/$name.md holds the rows measured" | tee -a "$out/failures.txt" >&2
    elif [ "$rc" -ne 0 ]; then
        echo "$name: exit $rc (see $out/$name.log)" | tee -a "$out/failures.txt" >&2
    fi
}

run_table resnet50-layer4 150 230 --units 0-255 --layer-batch 128 --unit-steps 128 --size 128 --loop-units 16 --repeats 1
run_table lite0-atlas 110 180 --layer-batch 256 --unit-steps 128 --size 128 --loop-stride 64 --repeats 1
run_table whole-layer 50 100 --layer _blocks.3 --unit-steps 48 --size 128 --layer-batch 8 --plain-loop-batch 40 \
    --trainer-per-unit 8 --repeats 2

echo "gpu_tables: done in $(($(date +%s) - started))s; tables in $out/" >&2
[ -s "$out/failures.txt" ] && exit 1
exit 0
