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

use buffers::add_rows;

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
    );
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
                assert!(extent(m, k, sa) <= a.len(), "gemm: A out of bounds");
                assert!(extent(k, n, sb) <= b.len(), "gemm: B out of bounds");
                assert!(extent(m, n, sc) <= c.len(), "gemm: C out of bounds");
                if m == 0 || n == 0 {
                    return;
                }
                let parallelism = if threads > 1 {
                    gemm::Parallelism::Rayon(threads)
                } else {
                    gemm::Parallelism::None
                };
                // SAFETY: the asserts above keep every access of the three strided operands
                // inside their slices, and `c` is borrowed mutably, so it aliases neither `a`
                // nor `b`. `gemm` computes dst = alpha dst + beta lhs rhs, strides given as
                // (column, row).
                unsafe {
                    gemm::gemm(
                        m,
                        n,
                        k,
                        c.as_mut_ptr(),
                        sc.1 as isize,
                        sc.0 as isize,
                        beta != 0.0,
                        a.as_ptr(),
                        sa.1 as isize,
                        sa.0 as isize,
                        b.as_ptr(),
                        sb.1 as isize,
                        sb.0 as isize,
                        beta,
                        1.0,
                        false,
                        false,
                        false,
                        parallelism,
                    )
                }
            }
        }
    };
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
