//! Host kernels: the numerical work of a training step on plain slices, with no Burn types, no
//! cells and no files. The autodiff operations of [`crate::ops`] call them on the ndarray
//! backend; [`crate::sample`] calls the recurrence's gate loops for generation.
//!
//! - [`recurrence`]: a whole layer direction, forward and backward (gate loops, the per-step
//!   gemm, batch chunks per thread);
//! - [`linear`]: `y = x W + b` and its gradients;
//! - [`lookup`]: rows of a table by id, and the scatter-add of their gradient;
//! - [`packed`]: the recurrence's per-step product against a weight packed once per sequence;
//! - [`cross_entropy`]: softmax cross-entropy and its gradient;
//! - [`dropout`]: dropout masks from a counter-based generator, forward and backward;
//! - [`buffers`]: large buffers zeroed, copied and summed by all threads.
//!
//! Layout: row-major buffers; shape letters `B` batch, `T` time steps, `H` hidden, `G` gates,
//! `N` rows, `V` classes or table rows.

/// Defines `$name`, which runs `$impl` compiled for the widest SIMD the CPU has (AVX-512 or
/// AVX2 + FMA, detected at run time), so that its loops vectorise; `$impl` is `#[inline(always)]`.
/// Defined before the submodules, which use it (the recurrence's chunk loops, dropout's masks).
macro_rules! simd_dispatch {
    ($name:ident => $impl:ident, $avx512:ident, $avx2:ident, ($($arg:ident: $ty:ty),*)) => {
        fn $name<E: Real>($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[cfg(feature = "avx512")]
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has the features the function is compiled for.
                    return unsafe { $avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: as above.
                    return unsafe { $avx2($($arg),*) };
                }
            }
            $impl($($arg),*)
        }

        #[cfg(all(target_arch = "x86_64", feature = "avx512"))]
        #[target_feature(enable = "avx512f,avx2,fma")]
        fn $avx512<E: Real>($($arg: $ty),*) {
            $impl($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        fn $avx2<E: Real>($($arg: $ty),*) {
            $impl($($arg),*)
        }
    };
}

pub(crate) mod buffers;
pub(crate) mod cross_entropy;
pub(crate) mod dropout;
pub(crate) mod linear;
pub(crate) mod lookup;
pub(crate) mod packed;
pub(crate) mod recurrence;
#[cfg(test)]
mod speed;

use buffers::add_rows;
use rayon::prelude::*;

/// A float type the kernels run in (f32 or f64).
pub(crate) trait Real:
    Copy
    + Default
    + Send
    + Sync
    + std::fmt::Debug
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::AddAssign
    + 'static
{
    const ZERO: Self;
    const ONE: Self;
    const HALF: Self;
    fn tanh(self) -> Self;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    /// `C = A B + beta C` with strides (row, column) for each operand; `threads > 1` runs it
    /// on Rayon's pool.
    #[allow(clippy::too_many_arguments)]
    fn gemm(
        m: usize,
        k: usize,
        n: usize,
        a: &[Self],
        sa: (usize, usize),
        b: &[Self],
        sb: (usize, usize),
        beta: Self,
        c: &mut [Self],
        sc: (usize, usize),
        threads: usize,
    ) {
        gemm_split(m, k, n, a, sa, b, sb, beta, c, sc, threads)
    }
    /// The logistic sigmoid as `0.5 tanh(0.5 x) + 0.5` (PyTorch's values to rounding, and the
    /// same form as the reference's, so f64 parity holds to 1e-9).
    #[inline(always)]
    fn sigmoid(self) -> Self {
        Self::HALF * (Self::HALF * self).tanh() + Self::HALF
    }
}

/// The instruction set burn-rnn's CPU kernels use on this machine: `avx512f` (when the CPU has
/// it and the `avx512` feature is on, as by default), `avx2+fma`, or `generic` (what the compiler
/// targets). The matrix products (the `gemm` crate) dispatch the same way.
pub fn cpu_isa() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        #[cfg(feature = "avx512")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            return "avx512f";
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return "avx2+fma";
        }
    }
    "generic"
}

/// The largest index a strided `[rows, cols]` operand touches, plus one.
fn extent(rows: usize, cols: usize, (rs, cs): (usize, usize)) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * rs + (cols - 1) * cs + 1
    }
}

macro_rules! real {
    ($t:ty, $tanh:expr) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const HALF: Self = 0.5;
            #[inline(always)]
            fn tanh(self) -> Self {
                $tanh(self)
            }
            #[inline(always)]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
        }
    };
}

/// [`Real::gemm`]: checks the operands, then runs the `gemm` crate single-threaded on each of
/// `threads` parts of `C`'s longer side (rows or columns, in multiples of 16) in parallel. The
/// crate's blocking of `k` depends on `k` and the caches only, not on a part's width, as long as
/// a part is not small (64 or less on both sides) where the whole is not; so every element is
/// summed in the same order as by one call over all of `C`: results do not depend on the number
/// of threads (a test holds it). On the thin products of training (`dW = X^T dY`: few
/// rows, long `k`) two parts ran 0-25% faster than the crate's own Rayon split on a 2-core AVX2
/// EPYC, and never slower beyond noise on the other shapes of the benchmark workloads.
#[allow(clippy::too_many_arguments)]
fn gemm_split<E: Real>(
    m: usize,
    k: usize,
    n: usize,
    a: &[E],
    sa: (usize, usize),
    b: &[E],
    sb: (usize, usize),
    beta: E,
    c: &mut [E],
    sc: (usize, usize),
    threads: usize,
) {
    assert!(extent(m, k, sa) <= a.len(), "gemm: A out of bounds");
    assert!(extent(k, n, sb) <= b.len(), "gemm: B out of bounds");
    assert!(extent(m, n, sc) <= c.len(), "gemm: C out of bounds");
    if m == 0 || n == 0 {
        return;
    }
    let by_rows = m >= n;
    let (long, short) = (m.max(n), m.min(n));
    // The crate blocks `k` by 512 when both sides are 64 or less, by a `k`-dependent size
    // otherwise: a part may be that small only when the whole product is.
    let least = if short <= 64 { 65 } else { 16 };
    // The widest split into at most `threads` parts (multiples of 16) whose last part is not
    // below `least`; one part when there is none.
    let width = (1..=threads.min(long / least).max(1))
        .rev()
        .map(|parts| long.div_ceil(parts).next_multiple_of(16))
        .find(|&width| long - (long.div_ceil(width) - 1) * width >= least)
        .unwrap_or(long);
    let parts = long.div_ceil(width);
    let (a, b, c) = (
        a.as_ptr() as usize,
        b.as_ptr() as usize,
        c.as_mut_ptr() as usize,
    );
    let part = |i: usize| {
        let (start, len) = (i * width, width.min(long - i * width));
        let (rows, cols) = if by_rows { (len, n) } else { (m, len) };
        // Part i: rows (or columns) start..start + len of A and C (of B and C).
        let (a, b, c) = if by_rows {
            (
                a + start * sa.0 * size_of::<E>(),
                b,
                c + start * sc.0 * size_of::<E>(),
            )
        } else {
            (
                a,
                b + start * sb.1 * size_of::<E>(),
                c + start * sc.1 * size_of::<E>(),
            )
        };
        // SAFETY: the asserts above keep every access of the three strided operands inside
        // their slices (a part reads and writes a subset of what the whole product would); the
        // parts write disjoint rows (or columns) of `C`, which is borrowed mutably, so it
        // aliases neither `a` nor `b`.
        unsafe {
            crate_gemm(
                [rows, k, cols],
                (a as *const E, sa),
                (b as *const E, sb),
                beta,
                (c as *mut E, sc),
                gemm::Parallelism::None,
            )
        }
    };
    if parts == 1 {
        part(0);
    } else {
        (0..parts).into_par_iter().for_each(part);
    }
}

/// One call of the `gemm` crate: `C = A B + beta C` (`C` not read when `beta` is zero), each
/// operand a pointer and its (row, column) strides.
///
/// # Safety
/// Every element of the strided `[m, k]`, `[k, n]` and `[m, n]` operands is inside its
/// allocation, and `C` overlaps neither `A` nor `B` (the `gemm` crate's contract).
pub(super) unsafe fn crate_gemm<E: Real>(
    [m, k, n]: [usize; 3],
    (a, sa): (*const E, (usize, usize)),
    (b, sb): (*const E, (usize, usize)),
    beta: E,
    (c, sc): (*mut E, (usize, usize)),
    parallelism: gemm::Parallelism,
) {
    // SAFETY: the caller's contract. `gemm` computes dst = alpha dst + beta lhs rhs, strides
    // given as (column, row).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c,
            sc.1 as isize,
            sc.0 as isize,
            beta != E::ZERO,
            a,
            sa.1 as isize,
            sa.0 as isize,
            b,
            sb.1 as isize,
            sb.0 as isize,
            beta,
            E::ONE,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// `w` `[rows, cols]` transposed: `[cols, rows]`, row-major.
pub(crate) fn transposed<E: Copy + Default>(w: &[E], [rows, cols]: [usize; 2]) -> Vec<E> {
    let mut t = vec![E::default(); rows * cols];
    for (i, r) in w[..rows * cols].chunks_exact(cols).enumerate() {
        for (j, v) in r.iter().enumerate() {
            t[j * rows + i] = *v;
        }
    }
    t
}

/// `tanh` for f32 as a rational function, max error a few ulp (Eigen's `generic_fast_tanh_float`);
/// branch-free, so loops over it vectorise. f64 uses `std`'s, so the f64 parity tests keep 1e-9.
#[inline(always)]
fn tanh_f32(x: f32) -> f32 {
    let x = x.clamp(-7.905_311, 7.905_311);
    let x2 = x * x;
    let mut p = x2 * -2.760_768_5e-16 + 2.000_188e-13;
    p = x2 * p + -8.604_672e-11;
    p = x2 * p + 5.122_297e-8;
    p = x2 * p + 1.485_722_4e-5;
    p = x2 * p + 6.372_619_3e-4;
    p = x2 * p + 4.893_524_6e-3;
    p *= x;
    let mut q = x2 * 1.198_258_4e-6 + 1.185_347_1e-4;
    q = x2 * q + 2.268_434_6e-3;
    q = x2 * q + 4.893_525e-3;
    p / q
}

real!(f32, tanh_f32);
real!(f64, f64::tanh);

/// Rows per parallel block so that `rows` split into about four blocks per thread.
fn block_rows(rows: usize) -> usize {
    rows.div_ceil(4 * rayon::current_num_threads()).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_tanh_is_accurate() {
        let mut worst = 0.0f64;
        for i in -20000..=20000 {
            let x = i as f32 * 1e-3;
            let err = (tanh_f32(x) as f64 - (x as f64).tanh()).abs();
            worst = worst.max(err);
        }
        assert!(worst < 1e-6, "{worst}");
        assert_eq!(tanh_f32(30.0), 1.0);
    }

    /// The product split across threads is the one-thread product to the bit: split by rows,
    /// by columns, with transposed operands, beta 0 and 1, sizes not multiples of 16.
    #[test]
    fn gemm_results_do_not_depend_on_threads() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        for (m, k, n, a_t, b_t) in [
            (100, 37, 20, false, false),
            (20, 300, 130, true, false),
            (67, 65, 70, false, true),
            (33, 1100, 250, true, false),
            (250, 1100, 33, false, true),
            (60, 700, 130, false, false),
            (530, 70, 17, false, false),
            (90, 600, 90, true, true),
        ] {
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 7919 % 1000) as f32 - 500.0) * 1e-3)
                .collect();
            let b: Vec<f32> = (0..k * n)
                .map(|i| ((i * 104_729 % 997) as f32 - 498.0) * 1e-3)
                .collect();
            let sa = if a_t { (1, m) } else { (k, 1) };
            let sb = if b_t { (1, k) } else { (n, 1) };
            for beta in [0.0, 1.0] {
                let start: Vec<f32> = (0..m * n).map(|i| (i % 11) as f32 * 0.1).collect();
                let mut one = start.clone();
                f32::gemm(m, k, n, &a, sa, &b, sb, beta, &mut one, (n, 1), 1);
                for threads in [2, 3] {
                    let mut split = start.clone();
                    pool.install(|| {
                        f32::gemm(m, k, n, &a, sa, &b, sb, beta, &mut split, (n, 1), threads)
                    });
                    assert_eq!(
                        split, one,
                        "{m}x{k}x{n} a_t={a_t} b_t={b_t} beta={beta} threads={threads}"
                    );
                }
                let want: f64 = (0..k)
                    .map(|p| a[p * sa.1] as f64 * b[p * sb.0] as f64)
                    .sum::<f64>()
                    + beta as f64 * start[0] as f64;
                assert!((one[0] as f64 - want).abs() < 1e-3, "{} vs {want}", one[0]);
            }
        }
    }

    /// The strided gemm against a triple loop, with a transposed operand and beta = 1.
    #[test]
    fn gemm_with_strides_matches_a_loop() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f64> = (0..m * k).map(|i| (i as f64 * 0.37).sin()).collect();
        // B stored transposed: element (p, j) at j * k + p.
        let bt: Vec<f64> = (0..k * n).map(|i| (i as f64 * 0.11).cos()).collect();
        let mut c: Vec<f64> = (0..m * n).map(|i| i as f64).collect();
        let mut expected = c.clone();
        for i in 0..m {
            for j in 0..n {
                for p in 0..k {
                    expected[i * n + j] += a[i * k + p] * bt[j * k + p];
                }
            }
        }
        f64::gemm(m, k, n, &a, (k, 1), &bt, (1, k), 1.0, &mut c, (n, 1), 2);
        for (x, y) in c.iter().zip(&expected) {
            assert!((x - y).abs() < 1e-12, "{x} vs {y}");
        }
    }
}
