#!/usr/bin/env bash
# The GPU comparison: burn-rnn on CUDA and on wgpu (Vulkan) against PyTorch on CUDA, workloads L
# and M, one table at the end.
#
# usage: bench/gpu.sh DIR [SECONDS]        (WORKLOADS="L M" by default)
#
# DIR holds `burn-rnn`, built with `cargo build --release --features wgpu,cuda`, and may hold
# the libraries a bare machine lacks (the Vulkan loader `libvulkan.so.1`, CUDA's
# `libnvrtc.so*`), directly or under DIR/lib. Without them in DIR, the NVRTC that PyTorch's
# wheel ships is used when `python3 -c 'import nvidia.cuda_nvrtc'` finds it. PyTorch
# (`pip install torch numpy`) runs the reference; without it, its rows say so. SECONDS (default
# 20) is the timed training per run, after warm-up. Run from anywhere; the corpus is the
# repository's data/tinyshakespeare.txt. Every run's full output goes to bench/gpu-results.txt.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(cd "${1:?usage: bench/gpu.sh DIR [SECONDS]}" && pwd)
secs=${2:-20}
bin="$dir/burn-rnn"
[ -x "$bin" ] || { echo "no executable $bin (build it with --features wgpu,cuda)" >&2; exit 2; }

libs="$dir/lib:$dir"
# CUDA's NVRTC from DIR, else from PyTorch's nvidia-* wheels (nvidia/cuda_nvrtc/lib or
# nvidia/cu13/lib, say). cudarc looks for `libnvrtc.so` among other names, so a link of that name
# to the versioned file goes first; the real folder follows for the builtins library beside it.
nvrtc=$(ls "$dir"/libnvrtc.so* "$dir"/lib/libnvrtc.so* 2>/dev/null | head -n 1)
if [ -z "$nvrtc" ]; then
    nvrtc=$(python3 - <<'PY' 2>/dev/null || true
import os, nvidia
for root in nvidia.__path__:
    for folder, _, files in sorted(os.walk(root)):
        hits = sorted(f for f in files if f.startswith("libnvrtc.so"))
        if hits:
            print(os.path.join(folder, hits[0]))
            raise SystemExit
PY
)
fi
if [ -n "$nvrtc" ]; then
    links=$(mktemp -d)
    ln -s "$nvrtc" "$links/libnvrtc.so"
    libs="$links:$libs:$(dirname "$nvrtc")"
    echo "NVRTC: $nvrtc"
fi
export LD_LIBRARY_PATH="$libs:${LD_LIBRARY_PATH:-}"
# Containers that mount NVIDIA's driver under /usr/local/nvidia keep its Vulkan manifest there.
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] && [ -f "$icd" ]; then
    export VK_DRIVER_FILES="$icd"
fi
has_torch=$(python3 -c 'import torch; print(int(torch.cuda.is_available()))' 2>/dev/null || echo none)

cd "$root"
log="$root/bench/gpu-results.txt"
: >"$log"
rows=()
row() { rows+=("$(printf '| %-8s | %-24s | %12s | %12s | %10s |' "$@")"); }

for w in ${WORKLOADS:-L M}; do
    for backend in cuda wgpu; do
        echo "== burn-rnn $w on $backend" | tee -a "$log"
        # Timed without the launch counter (its logging costs host time), then counted apart.
        out=$("$bin" bench --workload "$w" --backend "$backend" --seconds "$secs" 2>&1)
        echo "$out" >>"$log"
        result=$(grep "^RESULT burn-$w train" <<<"$out")
        counted=$("$bin" bench --workload "$w" --backend "$backend" --seconds 0 --min-steps 1 --launches 2>&1)
        echo "$counted" >>"$log"
        launches=$(grep "^LAUNCHES burn-$w" <<<"$counted" | sed -n 's/.* step=\([0-9]*\).*/\1/p')
        if [ -n "$result" ]; then
            tps=$(sed -n 's/.*tok_per_s_median=\([0-9]*\).*/\1/p' <<<"$result")
            step=$(sed -n 's/.*median_step_s=\([0-9.]*\).*/\1/p' <<<"$result")
            row "$w" "burn-rnn $backend" "$tps" "$(awk -v s="$step" 'BEGIN{printf "%.2f", s*1000}')" "${launches:--}"
        else
            row "$w" "burn-rnn $backend" "failed" "-" "-"
            tail -3 <<<"$out" >&2
        fi
    done
    # Full f32 (as burn-rnn computes), then with TF32 allowed (PyTorch's default for cuDNN).
    for tf32 in off on; do
        echo "== PyTorch $w on cuda, tf32 $tf32" | tee -a "$log"
        if [ "$has_torch" = 1 ]; then
            out=$(python3 bench/pytorch_bench.py "$w" --device cuda --tf32 "$tf32" 2>&1)
            echo "$out" >>"$log"
            result=$(grep "^RESULT torch-$w train" <<<"$out")
            tps=$(sed -n 's/.*tok_per_s_median=\([0-9]*\).*/\1/p' <<<"$result")
            step=$(sed -n 's/.*median_step_s=\([0-9.]*\).*/\1/p' <<<"$result")
            row "$w" "PyTorch cuDNN tf32 $tf32" "${tps:-failed}" "$(awk -v s="${step:-0}" 'BEGIN{printf "%.2f", s*1000}')" "-"
        else
            row "$w" "PyTorch cuDNN tf32 $tf32" "no torch/CUDA" "-" "-"
        fi
    done
done

echo
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | sed 's/^/GPU: /'
printf '| %-8s | %-24s | %12s | %12s | %10s |\n' workload implementation "tokens/s" "step ms" launches
printf '|%s|%s|%s|%s|%s|\n' ---------- -------------------------- -------------- -------------- ------------
printf '%s\n' "${rows[@]}"
echo "(medians of the timed steps; full output in $log)"
