#!/usr/bin/env bash
# Forecaster training speed: burn-rnn against PyTorch with the same model, windows and batch
# (bench/forecast_pytorch.py), alternating, on the CPU. Prints per-round windows/s and the median
# of the per-round ratios.
#
# usage: bench/forecast.sh BIN CONFIG [ROUNDS]      (needs `pip install torch numpy`)
#   BIN     target/release/burn-rnn
#   CONFIG  a forecast config, e.g. configs/forecast.toml
set -euo pipefail
bin=${1:?usage: bench/forecast.sh BIN CONFIG [ROUNDS]}
config=${2:?usage: bench/forecast.sh BIN CONFIG [ROUNDS]}
rounds=${3:-3}
steps=320
run=$(mktemp -d)
ratios=()
for r in $(seq 1 "$rounds"); do
    # burn-rnn: the median of metrics.csv's windows/s over blocks of 50 steps after the first
    # block (one validation, at the end, in the last row, which is left out).
    "$bin" train "$config" --out "$run/r$r" --no-progress --set "train.steps=$steps" \
        --set "train.eval_interval=$steps" --set train.log_interval=50 >/dev/null 2>&1
    burn=$(awk -F, 'NR > 2 {print $5}' "$run/r$r/metrics.csv" | head -n -1 | sort -g |
        awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')
    torch=$(python3 "$(dirname "$0")/forecast_pytorch.py" "$config" --steps "$steps" 2>/dev/null |
        sed -n 's/.*windows_per_s_median=\([0-9]*\).*/\1/p')
    ratio=$(awk -v a="$burn" -v b="$torch" 'BEGIN {printf "%.2f", a / b}')
    ratios+=("$ratio")
    echo "round $r: burn-rnn $burn windows/s, PyTorch $torch windows/s, ratio ${ratio}x"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //' || true)"
family=$(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ' || true)
model=$(grep -m1 -w '^model' /proc/cpuinfo | cut -d: -f2 | tr -d ' ' || true)
echo "median ratio: ${median}x ($cpu, family $family model $model, $(nproc) cores)"
rm -rf "$run"
