#!/usr/bin/env bash
# The GPU measurement: burn-rnn on CUDA and on wgpu (Vulkan) against PyTorch with cuDNN, workloads
# M and L, on a bare GPU machine (no network, no Rust; an NVIDIA driver, a CUDA toolkit or
# PyTorch's NVIDIA wheels for NVRTC, Python with PyTorch). Every run has a timeout; the table and
# every run's log go to OUT.
#
# usage: bench/gpu.sh BIN OUT [options]
#   BIN   burn-rnn built elsewhere: `cargo build --release --features wgpu,cuda`, then
#         `strip target/release/burn-rnn` (about 40 MB; the size goes into the table's header)
#   OUT   a folder for table.md, env.txt and one log per run (created)
# options:
#   --seconds N          timed training seconds per run, after warm-up (default 6)
#   --rounds N           rounds of all implementations, alternating (default 2)
#   --workloads "M L"    workloads (default "M L")
#   --test-bin FILE      the GPU test binary (`cargo test --release --features wgpu,cuda --test gpu
#                        --no-run` prints its path): run first, CUDA and wgpu parity with the
#                        reference loop and with PyTorch's fixtures
#   --deadline N         start no run after N seconds (default 420); what is skipped says so
#   --run-timeout N      stop any one run after N seconds (default 150)
#   --allow-cpu-adapter  run wgpu on a software adapter (lavapipe) too: for trying the script
#                        without a GPU; otherwise a CPU adapter stops the wgpu runs
#
# The bare machine may lack the Vulkan loader: put libvulkan.so.1 in BIN's folder or under its
# lib/, or install it before. NVRTC comes from BIN's folder, the CUDA toolkit, or PyTorch's wheels.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(realpath "${1:?usage: bench/gpu.sh BIN OUT [options]}")
out=$(mkdir -p "${2:?usage: bench/gpu.sh BIN OUT [options]}" && cd "$2" && pwd)
shift 2
secs=6 rounds=2 workloads="M L" test_bin="" deadline=420 allow_cpu=0 run_timeout=150
while [ $# -gt 0 ]; do
    case $1 in
        --seconds) secs=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --workloads) workloads=$2; shift 2 ;;
        --test-bin) test_bin=$(realpath "$2"); shift 2 ;;
        --deadline) deadline=$2; shift 2 ;;
        --run-timeout) run_timeout=$2; shift 2 ;;
        --allow-cpu-adapter) allow_cpu=1; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
[ -x "$bin" ] || { echo "no executable $bin (build it with --features wgpu,cuda)" >&2; exit 2; }
start=$SECONDS
left() { echo $((deadline - (SECONDS - start))); }

dir=$(dirname "$bin")
libs="$dir/lib:$dir"
for cuda in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
    [ -d "$cuda" ] && libs="$libs:$cuda"
done
# cudarc looks for `libnvrtc.so` among other names: a link of that name to the versioned file
# found (BIN's folder, the toolkit, PyTorch's nvidia-* wheels) goes first.
nvrtc=$(ls "$dir"/libnvrtc.so* "$dir"/lib/libnvrtc.so* /usr/local/cuda/lib64/libnvrtc.so* 2>/dev/null | head -n 1)
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
fi
export LD_LIBRARY_PATH="$libs:${LD_LIBRARY_PATH:-}"
# Containers that mount NVIDIA's driver under /usr/local/nvidia keep its Vulkan manifest there.
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] && [ -f "$icd" ]; then
    export VK_DRIVER_FILES="$icd"
fi

{
    echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "binary: $bin, $(stat -c %s "$bin") bytes"
    echo "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo none)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
    echo "nvrtc: ${nvrtc:-not found}"
    echo "vulkan driver files: ${VK_DRIVER_FILES:-${VK_ICD_FILENAMES:-loader default}}"
    python3 -c 'import torch; print(f"torch: {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, GPU {torch.cuda.is_available()}")' 2>&1 | tail -1
} | tee "$out/env.txt"
has_torch=$(python3 -c 'import torch; print(int(torch.cuda.is_available()))' 2>/dev/null || echo 0)

# The GPU tests first: numbers before speed.
if [ -n "$test_bin" ]; then
    for t in cuda wgpu; do
        if [ "$(left)" -le 60 ]; then echo "test $t: skipped, past the deadline" | tee -a "$out/env.txt"; continue; fi
        flags="--ignored"; [ $t = wgpu ] && flags=""
        (cd "$root" && timeout "$run_timeout" "$test_bin" $flags "$t" --nocapture --test-threads 1) >"$out/test-$t.log" 2>&1
        rc=$?
        echo "test $t: exit $rc ($(grep -E '^test result' "$out/test-$t.log" | tail -1))" | tee -a "$out/env.txt"
    done
fi

declare -A tps step
run_burn() { # workload backend round [launcher: persistent or steps, else the default]
    local w=$1 b=$2 r=$3 l=${4:-} name=$2
    [ -n "$l" ] && name="$b-$l"
    local log="$out/burn-$w-$name-$r.log"
    BURN_RNN_GPU_RECURRENCE=$l timeout "$run_timeout" "$bin" bench --workload "$w" --backend "$b" --seconds "$secs" --data "$root/data/tinyshakespeare.txt" >"$log" 2>&1
    local rc=$? adapter
    adapter=$(grep -m1 '^backend:' "$log")
    if [ "$b" = wgpu ] && grep -q '(CPU,' <<<"$adapter" && [ $allow_cpu = 0 ]; then
        echo "wgpu got a CPU adapter ($adapter): its runs stop here (--allow-cpu-adapter runs them)" | tee -a "$out/env.txt"
        return 3
    fi
    local line
    line=$(grep "^RESULT burn-$w train" "$log")
    if [ -n "$line" ]; then
        tps[$w,burn-$name]+="$(sed -n 's/.*tok_per_s_median=\([0-9]*\).*/\1/p' <<<"$line") "
        step[$w,burn-$name]+="$(sed -n 's/.*median_step_s=\([0-9.]*\).*/\1/p' <<<"$line") "
    else
        echo "burn-rnn $w on $name, round $r: no result (exit $rc), see $(basename "$log")" | tee -a "$out/env.txt"
    fi
}
run_torch() { # workload tf32 round
    local w=$1 tf=$2 r=$3 log="$out/torch-$1-tf32$2-$3.log"
    [ "$has_torch" = 1 ] || return
    timeout "$run_timeout" python3 "$root/bench/pytorch_bench.py" "$w" --device cuda --tf32 "$tf" --seconds "$secs" >"$log" 2>&1
    local line
    line=$(grep "^RESULT torch-$w train" "$log")
    if [ -n "$line" ]; then
        tps[$w,torch-$tf]+="$(sed -n 's/.*tok_per_s_median=\([0-9]*\).*/\1/p' <<<"$line") "
        step[$w,torch-$tf]+="$(sed -n 's/.*median_step_s=\([0-9.]*\).*/\1/p' <<<"$line") "
    else
        echo "PyTorch $w tf32 $tf, round $r: no result, see $(basename "$log")" | tee -a "$out/env.txt"
    fi
}

wgpu_ok=1
# burn-cuda-alt: the recurrence's matmul-and-gate-kernel launcher per step, beside the default
# (persistent for a W_hh up to 1 MiB, M; the LSTM's fused step above, L): the A/B that sets it.
alt() { echo steps; }
impls="burn-cuda torch-off burn-cuda-alt burn-wgpu torch-on"
for r in $(seq 1 "$rounds"); do
    for w in $workloads; do
        for i in $impls; do
            if [ "$(left)" -le 0 ]; then echo "round $r $w $i: skipped, past the deadline" | tee -a "$out/env.txt"; continue; fi
            echo "== round $r: $w $i ($(left) s left)"
            case $i in
                burn-cuda) run_burn "$w" cuda "$r" ;;
                burn-cuda-alt) run_burn "$w" cuda "$r" "$(alt "$w")" ;;
                burn-wgpu) [ $wgpu_ok = 1 ] && { run_burn "$w" wgpu "$r" || wgpu_ok=0; } ;;
                torch-off) run_torch "$w" off "$r" ;;
                torch-on) run_torch "$w" on "$r" ;;
            esac
        done
    done
done

median() { tr ' ' '\n' | grep . | sort -g | awk -v OFMT=%.10g '{a[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
{
    echo
    echo "| workload | implementation | tokens/s (median of rounds) | step ms | rounds | vs PyTorch tf32 off | vs PyTorch tf32 on |"
    echo "|---|---|---|---|---|---|---|"
    for w in $workloads; do
        off=$(median <<<"${tps[$w,torch-off]:-}")
        on=$(median <<<"${tps[$w,torch-on]:-}")
        for i in burn-cuda "burn-cuda-$(alt "$w")" burn-wgpu torch-off torch-on; do
            t=$(median <<<"${tps[$w,$i]:-}")
            s=$(median <<<"${step[$w,$i]:-}")
            n=$(wc -w <<<"${tps[$w,$i]:-}")
            ratio() { [ "$t" != - ] && [ "$1" != - ] && awk -v a="$t" -v b="$1" 'BEGIN{printf "%.2fx", a/b}' || echo -; }
            ms=$( [ "$s" != - ] && awk -v s="$s" 'BEGIN{printf "%.2f", s*1000}' || echo -)
            echo "| $w | $i | $t | $ms | $n | $(ratio "$off") | $(ratio "$on") |"
        done
    done
    echo
    echo "(per-round tokens/s:$(for k in "${!tps[@]}"; do printf ' %s=[%s]' "$k" "${tps[$k]% }"; done))"
} | tee "$out/table.md"
