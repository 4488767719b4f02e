#!/usr/bin/env bash
# The CPU comparison: `burn-rnn bench` and bench/pytorch_bench.py run alternately, workload by
# workload, ROUNDS times; then one table of medians, ratios and per-round ratios.
#
# usage: bench/cpu.sh BIN [native|avx2]
#   BIN     a burn-rnn binary. For `avx2`, build it without AVX-512 kernels:
#           cargo build --release --no-default-features --features ndarray,app
#           (then copy target/release/burn-rnn somewhere, since the next build replaces it)
#   avx2    limits both sides to AVX2 (PyTorch through `pytorch_bench.py --isa avx2`); the script
#           refuses a binary whose kernels are not `avx2+fma`.
# env: ROUNDS (3), WORKLOADS ("S M L G"), RUN_SECONDS (15, timed training per run), THREADS (2).
# Needs `pip install torch numpy`. Every run's RESULT line goes to bench/cpu-results.txt.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(realpath "${1:?usage: bench/cpu.sh BIN [native|avx2]}")
isa=${2:-native}
rounds=${ROUNDS:-3}
workloads=${WORKLOADS:-S M L G}
secs=${RUN_SECONDS:-15}
threads=${THREADS:-2}
out="$root/bench/cpu-results.txt"
cd "$root" || exit 2

line=$("$bin" bench --backend cpu --workload S --seconds 0 2>&1 | grep -m1 "kernels" || true)
echo "burn-rnn: $line"
if [ "$isa" = avx2 ] && ! grep -q "kernels avx2+fma" <<<"$line"; then
    echo "error: $bin does not run AVX2 kernels (build it with --no-default-features --features ndarray,app)" >&2
    exit 2
fi
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')" \
    "(family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')" \
    "model $(grep -m1 -w '^model' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')), $(nproc) cores," \
    "$(grep -o -m1 -w avx512f /proc/cpuinfo || echo 'no avx512f'), isa=$isa" | tee "$out"

for round in $(seq 1 "$rounds"); do
    for w in $workloads; do
        b=$("$bin" bench --backend cpu --workload "$w" --seconds "$secs" 2>&1 | grep "^RESULT")
        t=$(python3 bench/pytorch_bench.py "$w" --threads "$threads" --isa "$isa" 2>&1 | grep "^RESULT")
        echo "round=$round $w | $b | $t" | tee -a "$out"
    done
done

# Per workload: the median of each side's tokens/s, and the median of the per-round ratios
# (burn-rnn over PyTorch, each pair run back to back, so slow spells of the machine cancel).
awk '
function med(s,   a, n, i, j, t) {
    n = split(s, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
/^round=/ {
    w = $2; b = ""; t = ""
    for (i = 1; i <= NF; i++) if ($i ~ /^tok_per_s_median=/) { v = substr($i, 18); if (b == "") b = v; else t = v }
    if (b == "" || t == "") next
    if (!(w in seen)) { seen[w] = 1; order[++n] = w }
    bs[w] = bs[w] " " b; ts[w] = ts[w] " " t; rs[w] = rs[w] sprintf(" %.4f", b / t)
}
END {
    print "\n| workload | burn-rnn tok/s | PyTorch tok/s | ratio (median of rounds) | per-round ratios |"
    print "|---|---|---|---|---|"
    for (k = 1; k <= n; k++) {
        w = order[k]; m = split(rs[w], r, " "); list = ""
        for (i = 1; i <= m; i++) list = list sprintf("%s%.2f", i > 1 ? ", " : "", r[i])
        printf "| %s | %d | %d | %.2fx | %s |\n", w, med(bs[w]), med(ts[w]), med(rs[w]), list
    }
}' "$out"
