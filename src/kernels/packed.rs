//! The per-step matrix product of the recurrence, `C = A W (+ C)`, against a weight packed once
//! per sequence (f32, x86-64 with AVX2+FMA or AVX-512).
//!
//! A recurrence step multiplies a few batch rows (`[b, H]`, b = the rows of one thread) by the
//! whole recurrent weight (`[H, G*H]`). A general gemm repacks the weight on every call, and with
//! so few rows the packing costs as much as the arithmetic: on `[32, 512] x [512, 2048]` the
//! `gemm` crate reaches about 40% of what it does on large products. Here the weight is packed
//! once into column panels (`[K, NR]` each, contiguous) and every step runs a register-blocked
//! micro-kernel over them: `MR` rows times `NR` columns of accumulators, one broadcast of `A` and
//! `NR / lanes` loads of the panel per `k`.
//!
//! | ISA | micro-kernel (`MR` x `NR`) |
//! |---|---|
//! | AVX2+FMA | 6 x 16 (12 of 16 ymm registers) |
//! | AVX-512 | 12 x 32 (24 of 32 zmm registers) |
//!
//! The sums run over `k` in order within blocks of [`KC`], so results differ from the `gemm`
//! crate's only by rounding.

use rayon::prelude::*;

/// `k` values per block: a panel block (`KC x NR` floats) stays in L1 while it is used for every
/// row block.
const KC: usize = 512;

/// Which micro-kernel a packed weight is laid out for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Isa {
    Avx2,
    #[cfg(feature = "avx512")]
    Avx512,
}

impl Isa {
    /// Columns per panel.
    fn nr(self) -> usize {
        match self {
            Isa::Avx2 => 16,
            #[cfg(feature = "avx512")]
            Isa::Avx512 => 32,
        }
    }
}

/// A weight `[K, N]` packed into column panels for the per-step product.
#[derive(Clone, Debug)]
pub(crate) struct PackedWeight {
    isa: Isa,
    k: usize,
    n: usize,
    /// `ceil(N / NR)` panels of `[K, NR]`, the last one padded with zeros.
    data: Vec<f32>,
}

impl PackedWeight {
    /// Packs `w` `[K, N]` (row-major) when this CPU has a micro-kernel for it and the product is
    /// one where packing pays: always on AVX2; on AVX-512 (where the `gemm` crate is faster on
    /// small weights) when the weight has at least 2^19 values (2 MiB, about a core's L2).
    /// `None` otherwise: the caller uses the general gemm.
    pub(crate) fn new(k: usize, n: usize, w: &[f32]) -> Option<Self> {
        Some(Self::pack(Self::isa(k * n)?, k, n, w, false))
    }

    /// [`Self::new`] for the transpose of `w` `[N, K]` (row-major): the weight `w^T` `[K, N]`,
    /// packed straight from `w`, with no transposed copy.
    pub(crate) fn new_transposed(k: usize, n: usize, w: &[f32]) -> Option<Self> {
        Some(Self::pack(Self::isa(k * n)?, k, n, w, true))
    }

    /// Packs `w` `[K, N]` (`w^T` with `w` `[N, K]` when `transposed`) for the micro-kernel of
    /// `isa`; the panels are independent, so large weights are packed on all pool threads.
    fn pack(isa: Isa, k: usize, n: usize, w: &[f32], transposed: bool) -> Self {
        assert!(
            w.len() >= k * n,
            "packed weight: {} values for [{k}, {n}]",
            w.len()
        );
        let nr = isa.nr();
        let panels = n.div_ceil(nr);
        let mut data = vec![0.0; panels * k * nr];
        let fill = |(j, panel): (usize, &mut [f32])| {
            let cols = nr.min(n - j * nr);
            if transposed {
                // Column c of the panel is row j * nr + c of `w`, read in order.
                for c in 0..cols {
                    let src = &w[(j * nr + c) * k..][..k];
                    for (dst, v) in panel.chunks_exact_mut(nr).zip(src) {
                        dst[c] = *v;
                    }
                }
            } else {
                for (p, dst) in panel.chunks_exact_mut(nr).enumerate() {
                    dst[..cols].copy_from_slice(&w[p * n + j * nr..][..cols]);
                }
            }
        };
        if k * n >= 1 << 16 {
            data.par_chunks_exact_mut(k * nr).enumerate().for_each(fill);
        } else {
            data.chunks_exact_mut(k * nr).enumerate().for_each(fill);
        }
        PackedWeight { isa, k, n, data }
    }

    #[allow(unused_variables)]
    fn isa(values: usize) -> Option<Isa> {
        if values == 0 {
            return None;
        }
        #[cfg(test)]
        if let Some(forced) = FORCED.with(|f| f.get()) {
            return forced;
        }
        #[cfg(target_arch = "x86_64")]
        {
            #[cfg(feature = "avx512")]
            if std::arch::is_x86_feature_detected!("avx512f") {
                return (values >= 1 << 19).then_some(Isa::Avx512);
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Some(Isa::Avx2);
            }
        }
        None
    }

    /// `C = A W`, or `C += A W` when `accumulate`, for `m` rows: `A` `[m, K]` with row stride
    /// `lda`, `C` `[m, N]` with row stride `ldc` (both unit column stride).
    pub(crate) fn gemm(
        &self,
        m: usize,
        a: &[f32],
        lda: usize,
        c: &mut [f32],
        ldc: usize,
        accumulate: bool,
    ) {
        // The k loop unrolled 8 times pays on AVX2 (a pointer per row, fewer branches); on
        // AVX-512 its 24 accumulators then spill to the stack (Zen 4: 50 against 112 GFLOP/s
        // for L's per-step product, `speed::packed_per_step`), so it runs one k at a time.
        match self.isa {
            #[cfg(all(target_arch = "x86_64", feature = "avx512"))]
            Isa::Avx512 => self.gemm_with::<true, 1>(m, a, lda, c, ldc, accumulate),
            _ => self.gemm_with::<true, 8>(m, a, lda, c, ldc, accumulate),
        }
    }

    /// [`Self::gemm`] with row blocks as even as they go when `EVEN`, else greedy (`MR` rows,
    /// then the remainder, as before `gemm` balanced them), and the micro-kernel's loop over `k`
    /// unrolled `U` times ([`Self::gemm`]: even, 8 on AVX2 and 1 on AVX-512; the others for the
    /// tests and timings). The
    /// sums run in the same order for every `U`: the results are bit-identical.
    pub(super) fn gemm_with<const EVEN: bool, const U: usize>(
        &self,
        m: usize,
        a: &[f32],
        lda: usize,
        c: &mut [f32],
        ldc: usize,
        accumulate: bool,
    ) {
        let (k, n) = (self.k, self.n);
        if m == 0 {
            return;
        }
        assert!((m - 1) * lda + k <= a.len(), "packed gemm: A out of bounds");
        assert!((m - 1) * ldc + n <= c.len(), "packed gemm: C out of bounds");
        assert!(lda >= k && ldc >= n, "packed gemm: row strides");
        let kernel = match self.isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => avx2::gemm::<EVEN, U>,
            #[cfg(all(target_arch = "x86_64", feature = "avx512"))]
            Isa::Avx512 => avx512::gemm::<EVEN, U>,
            #[cfg(not(target_arch = "x86_64"))]
            _ => unreachable!("no packed kernel off x86-64"),
        };
        // SAFETY: `new` chose the ISA after detecting it on this CPU; the asserts keep every
        // row of A and C inside the slices, and the panels are `data`'s own size.
        unsafe {
            kernel(
                m,
                k,
                n,
                a.as_ptr(),
                lda,
                &self.data,
                c.as_mut_ptr(),
                ldc,
                accumulate,
            )
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Tests: the ISA every weight packed on this thread uses (`Some(None)`: none), whatever
    /// the size rule says.
    static FORCED: std::cell::Cell<Option<Option<Isa>>> = const { std::cell::Cell::new(None) };
}

/// Tests: makes weights packed on this thread use `isa` (`None`: the `gemm` crate).
#[cfg(test)]
pub(crate) fn force_isa(isa: Option<Isa>) {
    FORCED.with(|f| f.set(Some(isa)));
}

/// Tests: the micro-kernels this CPU can run.
#[cfg(test)]
pub(crate) fn available_isas() -> Vec<Isa> {
    let mut isas = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            isas.push(Isa::Avx2);
        }
        #[cfg(feature = "avx512")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            isas.push(Isa::Avx512);
        }
    }
    isas
}

/// `s` as f32 values when `E` is f32.
pub(crate) fn as_f32<E: 'static>(s: &[E]) -> Option<&[f32]> {
    // SAFETY: E is f32, so the cast is the identity.
    (std::any::TypeId::of::<E>() == std::any::TypeId::of::<f32>())
        .then(|| unsafe { std::slice::from_raw_parts(s.as_ptr().cast(), s.len()) })
}

/// [`as_f32`] for mutable slices.
pub(crate) fn as_f32_mut<E: 'static>(s: &mut [E]) -> Option<&mut [f32]> {
    // SAFETY: as above.
    (std::any::TypeId::of::<E>() == std::any::TypeId::of::<f32>())
        .then(|| unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast(), s.len()) })
}

/// Defines a module with one ISA's micro-kernel and the loop over panels and row blocks.
macro_rules! kernels {
    (
        $module:ident, $features:literal, nr = $nr:literal, mr = $mr:literal, lanes = $lanes:literal,
        $vec:ty, $zero:ident, $load:ident, $store:ident, $fma:ident, $add:ident, $set1:ident,
        rows = [$($r:literal)*]
    ) => {
        #[cfg(target_arch = "x86_64")]
        mod $module {
            use std::arch::x86_64::*;

            use super::KC;

            /// Columns per panel.
            const NR: usize = $nr;
            /// Rows per block.
            const MR: usize = $mr;

            /// `R` rows (`R <= MR`) times one panel block of `kb` values of `k`: accumulates in
            /// registers, `U` values of `k` per iteration (a pointer per row, one loop counter
            /// for `U` steps: on a Zen 3 EPYC, up to 30% faster at `U` = 8 than one `k` at a time,
            /// whose address arithmetic and loop branch share the cycles with the FMAs, and never
            /// slower; docs/performance.md), then writes (or adds to) the first `cols` columns
            /// of `C`.
            ///
            /// # Safety
            /// The CPU has `$features`; `a` has `R` rows of `kb` values at stride `lda`, `b` has
            /// `kb * NR` values, `c` has `R` rows of `cols` values at stride `ldc`.
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            unsafe fn micro<const R: usize, const U: usize>(
                kb: usize,
                a: *const f32,
                lda: usize,
                b: *const f32,
                c: *mut f32,
                ldc: usize,
                accumulate: bool,
                cols: usize,
            ) {
                // SAFETY: the caller's contract.
                unsafe {
                    let mut acc: [[$vec; 2]; R] = [[$zero(); 2]; R];
                    let rows: [*const f32; R] = std::array::from_fn(|r| a.add(r * lda));
                    // One `k` value: the same order of sums for every unrolling.
                    let step = |acc: &mut [[$vec; 2]; R], p: usize| {
                        let b0 = $load(b.add(p * NR));
                        let b1 = $load(b.add(p * NR + $lanes));
                        for (row, acc) in rows.iter().zip(acc.iter_mut()) {
                            let av = $set1(*row.add(p));
                            acc[0] = $fma(av, b0, acc[0]);
                            acc[1] = $fma(av, b1, acc[1]);
                        }
                    };
                    let mut p = 0;
                    while p + U <= kb {
                        for u in 0..U {
                            step(&mut acc, p + u);
                        }
                        p += U;
                    }
                    while p < kb {
                        step(&mut acc, p);
                        p += 1;
                    }
                    for (r, acc) in acc.iter_mut().enumerate() {
                        let cp = c.add(r * ldc);
                        if cols == NR {
                            if accumulate {
                                acc[0] = $add(acc[0], $load(cp));
                                acc[1] = $add(acc[1], $load(cp.add($lanes)));
                            }
                            $store(cp, acc[0]);
                            $store(cp.add($lanes), acc[1]);
                        } else {
                            let mut tmp = [0.0f32; NR];
                            $store(tmp.as_mut_ptr(), acc[0]);
                            $store(tmp.as_mut_ptr().add($lanes), acc[1]);
                            for (j, v) in tmp.iter().enumerate().take(cols) {
                                if accumulate {
                                    *cp.add(j) += *v;
                                } else {
                                    *cp.add(j) = *v;
                                }
                            }
                        }
                    }
                }
            }

            /// `C (+)= A W` over all panels, in blocks of [`KC`] values of `k` and of at most
            /// `MR` rows: as even as they go when `EVEN` (25 rows: five of 5, not four of 6 and
            /// one of 1, whose two accumulators would leave the FMA units idle), else greedy;
            /// the micro-kernel unrolled `U` times over `k`.
            ///
            /// # Safety
            /// The CPU has `$features`; `a` holds `m` rows of `k` values at stride `lda`, `c`
            /// holds `m` rows of `n` values at stride `ldc`, `panels` is `W` packed for `NR`.
            #[target_feature(enable = $features)]
            #[allow(clippy::too_many_arguments)]
            pub(super) unsafe fn gemm<const EVEN: bool, const U: usize>(
                m: usize,
                k: usize,
                n: usize,
                a: *const f32,
                lda: usize,
                panels: &[f32],
                c: *mut f32,
                ldc: usize,
                accumulate: bool,
            ) {
                let blocks = m.div_ceil(MR);
                let mut k0 = 0;
                while k0 < k {
                    let kb = KC.min(k - k0);
                    let add = accumulate || k0 > 0;
                    for (j, panel) in panels.chunks_exact(k * NR).enumerate() {
                        let cols = NR.min(n - j * NR);
                        let b = panel[k0 * NR..].as_ptr();
                        let mut i = 0;
                        for blk in 0..blocks {
                            let r = if EVEN {
                                m / blocks + usize::from(blk < m % blocks)
                            } else {
                                MR.min(m - i)
                            };
                            // SAFETY: rows i..i + r of A and C, columns of this panel; the
                            // caller's contract.
                            unsafe {
                                let ap = a.add(i * lda + k0);
                                let cp = c.add(i * ldc + j * NR);
                                match r {
                                    $($r => micro::<$r, U>(kb, ap, lda, b, cp, ldc, add, cols),)*
                                    _ => unreachable!("row block of {r}"),
                                }
                            }
                            i += r;
                        }
                    }
                    k0 += kb;
                }
            }
        }
    };
}

kernels!(
    avx2, "avx2,fma", nr = 16, mr = 6, lanes = 8,
    __m256, _mm256_setzero_ps, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_fmadd_ps,
    _mm256_add_ps, _mm256_set1_ps,
    rows = [1 2 3 4 5 6]
);

#[cfg(feature = "avx512")]
kernels!(
    avx512, "avx512f,avx2,fma", nr = 32, mr = 12, lanes = 16,
    __m512, _mm512_setzero_ps, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_fmadd_ps,
    _mm512_add_ps, _mm512_set1_ps,
    rows = [1 2 3 4 5 6 7 8 9 10 11 12]
);

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row count up to two blocks, a partial last panel, more than one `k` block, with and
    /// without accumulation, against a loop in f64.
    #[test]
    fn packed_gemm_matches_a_loop() {
        let mut isas = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                isas.push(Isa::Avx2);
            }
            #[cfg(feature = "avx512")]
            if std::arch::is_x86_feature_detected!("avx512f") {
                isas.push(Isa::Avx512);
            }
        }
        for isa in isas {
            check(isa);
        }
    }

    fn check(isa: Isa) {
        for (m, k, n) in [
            (1, 3, 5),
            (7, 600, 40),
            (25, 130, 512),
            (13, 1100, 33),
            (30, 64, 96),
        ] {
            let wv = values(k * n, 0.37);
            let w = PackedWeight::pack(isa, k, n, &wv, false);
            let lda = k + 3;
            let ldc = n + 5;
            let a = values(m * lda, 0.11);
            for (accumulate, greedy) in [(false, false), (true, false), (true, true)] {
                let mut c = values(m * ldc, 0.71);
                let before = c.clone();
                if greedy {
                    w.gemm_with::<false, 1>(m, &a, lda, &mut c, ldc, accumulate);
                } else {
                    w.gemm(m, &a, lda, &mut c, ldc, accumulate);
                    // The unrolled loop over `k` sums in the same order as one `k` at a time.
                    let mut one_at_a_time = before.clone();
                    w.gemm_with::<true, 1>(m, &a, lda, &mut one_at_a_time, ldc, accumulate);
                    assert!(
                        c == one_at_a_time,
                        "{isa:?} {m}x{k}x{n}: unrolling changed C"
                    );
                }
                for i in 0..m {
                    for j in 0..ldc {
                        let got = c[i * ldc + j] as f64;
                        if j >= n {
                            assert_eq!(got, before[i * ldc + j] as f64, "padding touched");
                            continue;
                        }
                        let mut want = if accumulate {
                            before[i * ldc + j] as f64
                        } else {
                            0.0
                        };
                        for p in 0..k {
                            want += a[i * lda + p] as f64 * wv[p * n + j] as f64;
                        }
                        assert!(
                            (got - want).abs() < 1e-4 * (1.0 + want.abs()),
                            "{isa:?} {m}x{k}x{n} ({i},{j}): {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    /// Packing `w^T` straight from `w` gives the panels of packing a transposed copy.
    #[test]
    fn packing_a_transpose_equals_packing_its_copy() {
        for isa in available_isas() {
            for (k, n) in [(3, 5), (40, 33), (512, 128), (300, 260)] {
                let w = values(n * k, 0.29); // [n, k]
                let w_t = super::super::transposed(&w, [n, k]);
                let direct = PackedWeight::pack(isa, k, n, &w, true);
                let copied = PackedWeight::pack(isa, k, n, &w_t, false);
                assert_eq!(direct.data, copied.data, "{isa:?} [{k}, {n}]");
            }
        }
    }

    fn values(len: usize, step: f64) -> Vec<f32> {
        (0..len)
            .map(|i| ((i as f64 * step).sin() * 0.5) as f32)
            .collect()
    }
}
