//! Timings of the kernels against the alternatives they replaced, as ignored tests (they assert
//! nothing about speed; they print):
//!
//! ```text
//! cargo test --release --lib speed -- --ignored --nocapture --test-threads 1
//! ```
//!
//! Each pair runs interleaved in one process, 15 times, so that the drift of a shared machine
//! falls on both sides alike; a line gives each side's median GFLOP/s and the median of the 15
//! ratios (new over old).

use std::time::Instant;

use super::packed::PackedWeight;
use super::{Real, transposed};

/// Medians of `a`'s and `b`'s GFLOP/s and of their ratios over 15 interleaved runs of `reps`
/// calls each, for products of `flops` each.
fn interleaved(flops: usize, reps: usize, mut a: impl FnMut(), mut b: impl FnMut()) -> [f64; 3] {
    let rate = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        for _ in 0..reps {
            f();
        }
        (flops * reps) as f64 / t.elapsed().as_secs_f64() / 1e9
    };
    let (mut ra, mut rb, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..15 {
        let x = rate(&mut a);
        let y = rate(&mut b);
        ra.push(x);
        rb.push(y);
        ratio.push(x / y);
    }
    [ra, rb, ratio].map(|mut v| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    })
}

fn values(len: usize, seed: usize) -> Vec<f32> {
    (0..len)
        .map(|i| ((i * 7919 + seed) % 1000) as f32 * 1e-3 - 0.5)
        .collect()
}

/// A per-step product's operands: `A` `[m, k]` with row stride `lda`, two outputs `[m, n]` with
/// row stride `ldc`, its FLOPs and the repetitions that make about 2e8 of them.
fn per_step_operands(
    m: usize,
    k: usize,
    n: usize,
    lda: usize,
    ldc: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>, usize, usize) {
    let a = values((m - 1) * lda + k, 2);
    let c = vec![0.0f32; (m - 1) * ldc + n];
    let flops = 2 * m * k * n;
    (a, c.clone(), c, flops, (2e8 / flops as f64).ceil() as usize)
}

/// The per-step product of the benchmark workloads (one thread's rows of the batch, the strides
/// of the recurrence's buffers): the micro-kernel's loop over `k` unrolled 8, 4 and 2 times
/// against one `k` at a time ([`PackedWeight::gemm`] runs 8 on AVX2 and 1 on AVX-512; all with
/// row blocks as even as they go; `gemm_with::<false, 8>` gives the greedy blocks of `MR` rows
/// and a remainder).
#[test]
#[ignore = "a timing; run by hand"]
fn packed_per_step() {
    println!(
        "per-step product, kernels {}: k unrolled 8, 4 or 2 times / one k at a time",
        super::cpu_isa()
    );
    // (what, rows, k, n, lda, ldc)
    for (what, m, k, n, lda, ldc) in [
        ("M forward", 25, 128, 512, 128, 50 * 512),
        ("M backward", 25, 512, 128, 50 * 512, 128),
        ("L forward", 32, 512, 2048, 512, 100 * 2048),
        ("L backward", 32, 2048, 512, 100 * 2048, 512),
        ("G forward", 16, 256, 768, 256, 64 * 768),
        ("G backward", 16, 768, 256, 64 * 768, 256),
        ("cpu_10min forward", 4, 256, 768, 256, 512 * 768),
    ] {
        let Some(w) = PackedWeight::new(k, n, &values(k * n, 1)) else {
            println!("{what:18} {m}x{k}x{n}: not packed on this CPU (the gemm crate runs it)");
            continue;
        };
        let (a, mut c1, mut c2, flops, reps) = per_step_operands(m, k, n, lda, ldc);
        type Gemm = fn(&PackedWeight, usize, &[f32], usize, &mut [f32], usize, bool);
        let unrolled: [(usize, Gemm); 3] = [
            (8, PackedWeight::gemm_with::<true, 8>),
            (4, PackedWeight::gemm_with::<true, 4>),
            (2, PackedWeight::gemm_with::<true, 2>),
        ];
        for (u, gemm) in unrolled {
            let [x, one, r] = interleaved(
                flops,
                reps,
                || gemm(&w, m, &a, lda, &mut c1, ldc, true),
                || w.gemm_with::<true, 1>(m, &a, lda, &mut c2, ldc, true),
            );
            println!(
                "{what:18} {m}x{k}x{n} unrolled {u}: {x:6.1} / {one:6.1} GFLOP/s, ratio {r:.3}"
            );
        }
    }
}

/// The per-step products of the weights that AVX-512 leaves to the `gemm` crate (under 2^19
/// values): the packed AVX-512 micro-kernel (forced) against the crate, single-threaded as a
/// chunk runs them.
#[cfg(feature = "avx512")]
#[test]
#[ignore = "a timing; run by hand"]
fn packed_against_the_crate_on_small_weights() {
    use super::packed::{Isa, force_isa};
    if !std::arch::is_x86_feature_detected!("avx512f") {
        println!("no AVX-512 on this CPU");
        return;
    }
    println!("per-step product: packed AVX-512 / gemm crate");
    for (what, m, k, n, lda, ldc) in [
        ("M forward", 25, 128, 512, 128, 50 * 512),
        ("M backward", 25, 512, 128, 50 * 512, 128),
        ("G forward", 16, 256, 768, 256, 64 * 768),
        ("G backward", 16, 768, 256, 64 * 768, 256),
        ("S forward", 16, 128, 128, 128, 50 * 128),
    ] {
        let wv = values(k * n, 1);
        force_isa(Some(Isa::Avx512));
        let w = PackedWeight::new(k, n, &wv).expect("forced");
        let (a, mut c1, mut c2, flops, reps) = per_step_operands(m, k, n, lda, ldc);
        let [packed, crate_, ratio] = interleaved(
            flops,
            reps,
            || w.gemm(m, &a, lda, &mut c1, ldc, true),
            || {
                f32::gemm(
                    m,
                    k,
                    n,
                    &a,
                    (lda, 1),
                    &wv,
                    (n, 1),
                    1.0,
                    &mut c2,
                    (ldc, 1),
                    1,
                )
            },
        );
        println!("{what:12} {m}x{k}x{n}: {packed:6.1} / {crate_:6.1} GFLOP/s, ratio {ratio:.3}");
    }
}

/// The products of a training step (input projections, head, their gradients, the weight
/// gradients of the recurrence) on all pool threads: one single-threaded `gemm` crate call per
/// part of `C` ([`Real::gemm`]) against the crate's own Rayon split.
#[test]
#[ignore = "a timing; run by hand"]
fn gemm_parts() {
    let threads = rayon::current_num_threads();
    println!("products on {threads} threads: parts / the gemm crate's Rayon split");
    // (what, m, k, n, A transposed, B transposed)
    for (what, m, k, n, a_t, b_t) in [
        ("L input projection", 6400, 512, 2048, false, false),
        ("L head", 6400, 512, 65, false, false),
        ("L dX", 6400, 2048, 512, false, true),
        ("L dW", 512, 6400, 2048, true, false),
        ("L head dW", 512, 6400, 65, true, false),
        ("M input projection", 2500, 128, 512, false, false),
        ("M dX", 2500, 512, 128, false, true),
        ("M dW", 128, 2500, 512, true, false),
        ("M head dW", 128, 2500, 65, true, false),
        ("G input projection", 2048, 256, 768, false, false),
        ("G dX", 2048, 768, 256, false, true),
        ("G dW", 256, 2048, 768, true, false),
    ] {
        let a = values(m * k, 3);
        let b = values(k * n, 4);
        let sa = if a_t { (1, m) } else { (k, 1) };
        let sb = if b_t { (1, k) } else { (n, 1) };
        let (mut c1, mut c2) = (vec![0.0f32; m * n], vec![0.0f32; m * n]);
        let flops = 2 * m * k * n;
        let reps = (1e9 / flops as f64).ceil() as usize;
        let [parts, rayon, ratio] = interleaved(
            flops,
            reps,
            || f32::gemm(m, k, n, &a, sa, &b, sb, 0.0, &mut c1, (n, 1), threads),
            || crate_rayon(m, k, n, &a, sa, &b, sb, &mut c2, threads),
        );
        assert!(
            c1 == c2,
            "{what}: the parts differ from the crate's own split"
        );
        println!("{what:20} {m}x{k}x{n}: {parts:6.1} / {rayon:6.1} GFLOP/s, ratio {ratio:.3}");
    }
}

/// `C = A B` by the `gemm` crate with its own Rayon split (what [`Real::gemm`] ran before).
#[allow(clippy::too_many_arguments)]
fn crate_rayon(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    sa: (usize, usize),
    b: &[f32],
    sb: (usize, usize),
    c: &mut [f32],
    threads: usize,
) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    // SAFETY: dense operands of the sizes asserted, strides inside them; `c` is borrowed
    // mutably.
    unsafe {
        super::crate_gemm(
            [m, k, n],
            (a.as_ptr(), sa),
            (b.as_ptr(), sb),
            0.0,
            (c.as_mut_ptr(), (n, 1)),
            gemm::Parallelism::Rayon(threads),
        )
    }
}

/// The backward's packed `W_hh^T`: packed straight from `W_hh` against a transposed copy first
/// (what the backward did before), for the workloads' recurrent weights.
#[test]
#[ignore = "a timing; run by hand"]
fn packing_the_transpose() {
    println!("W_hh^T for the backward: packed from W_hh / transposed copy, then packed (ms)");
    for (what, h, gh) in [("M", 128, 512), ("G", 256, 768), ("L", 512, 2048)] {
        let w = values(h * gh, 5);
        if PackedWeight::new(h, gh, &w).is_none() {
            println!("no packed kernel on this CPU");
            return;
        }
        let direct = || {
            std::hint::black_box(PackedWeight::new_transposed(gh, h, &w));
        };
        let copied = || {
            std::hint::black_box(PackedWeight::new(gh, h, &transposed(&w, [h, gh])));
        };
        // `interleaved` reports rates; one "flop" per call gives calls per ns.
        let [d, c, ratio] = interleaved(1, 20, direct, copied);
        println!(
            "{what} [{h}, {gh}]: {:.2} / {:.2} ms, {ratio:.2}x the rate",
            1e-6 / d,
            1e-6 / c
        );
    }
}
