//! The recurrence of a whole layer direction on host memory, for the ndarray backend.
//!
//! Burn's ndarray backend runs every elementwise op as its own pass (f32 `tanh` goes through
//! f64 libm) and wakes its thread pool for tiny per-step tensors. Here one step is a gemm
//! written in place into the step's rows of the projected input (the `gemm` crate, with strides,
//! no copies; AVX-512 where the CPU has it) and one fused loop over `[B, G*H]` for all the gate
//! math. Batch rows are independent, so the batch is cut into one chunk per thread and each
//! thread runs the whole time loop on its rows: no synchronisation per step. The weight gradient
//! of all steps is then one multi-threaded gemm. f32 uses a rational
//! `tanh` accurate to a few ulp (Eigen's); f64 uses `std`'s, so the f64 parity tests keep 1e-9.
//!
//! Layout: row-major buffers. `p` is `[B, T, G*H]`, `w` is `[H, G*H]`, states are `[B, H]`.
//! The output is `[B, T, H]`, the hidden state at every time position; the LSTM's final cell
//! state `[B, H]` comes separately, as in [`crate::fused`].

use rayon::prelude::*;

use crate::fused::Recurrence;

/// A float type the kernel runs in.
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
    #[inline(always)]
    fn sigmoid(self) -> Self {
        Self::HALF * (Self::HALF * self).tanh() + Self::HALF
    }
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
/// branch-free, so loops over it vectorise.
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

/// What the forward keeps for the backward.
#[derive(Clone, Debug)]
pub(crate) struct Saved<E> {
    kind: Recurrence,
    reverse: bool,
    batch: usize,
    seq: usize,
    hidden: usize,
    w: Vec<E>,
    h0: Vec<E>,
    c0: Vec<E>,
    /// `[B, T, H]`, the output.
    out: Vec<E>,
    /// Gate activations `[B, T, G*H]` (LSTM: i, f, g, o; GRU: r, z, n, and `W_hn h + b_hn` in a
    /// fourth block; RNN: unused).
    acts: Vec<E>,
    /// LSTM cell states `[B, T, H]`.
    cells: Vec<E>,
}

fn pos(reverse: bool, seq: usize, k: usize) -> usize {
    if reverse { seq - 1 - k } else { k }
}

fn gate_count(kind: Recurrence) -> usize {
    match kind {
        Recurrence::Tanh | Recurrence::Relu => 1,
        Recurrence::Lstm => 4,
        Recurrence::Gru => 3,
    }
}

/// Batch rows per chunk: one chunk per pool thread, at least [`MIN_ROWS`] rows each.
fn chunk_rows(batch: usize) -> Vec<usize> {
    const MIN_ROWS: usize = 4;
    let n = rayon::current_num_threads().min(batch / MIN_ROWS).max(1);
    (0..n)
        .map(|i| batch / n + usize::from(i < batch % n))
        .collect()
}

/// Cuts a batch-major buffer (`per_row` values per batch row) into chunks of `rows` rows; an
/// empty buffer gives empty chunks.
fn split_mut<'a, E>(mut buf: &'a mut [E], per_row: usize, rows: &[usize]) -> Vec<&'a mut [E]> {
    let per_row = if buf.is_empty() { 0 } else { per_row };
    rows.iter()
        .map(|&r| {
            let (head, tail) = std::mem::take(&mut buf).split_at_mut(r * per_row);
            buf = tail;
            head
        })
        .collect()
}

/// [`split_mut`] for shared buffers.
fn split<'a, E>(mut buf: &'a [E], per_row: usize, rows: &[usize]) -> Vec<&'a [E]> {
    let per_row = if buf.is_empty() { 0 } else { per_row };
    rows.iter()
        .map(|&r| {
            let (head, tail) = buf.split_at(r * per_row);
            buf = tail;
            head
        })
        .collect()
}

/// `[a, b, c]`, the first three blocks of `h` values of `s`.
#[inline(always)]
fn split3<E>(s: &[E], h: usize) -> [&[E]; 3] {
    let (a, r) = s.split_at(h);
    let (b, r) = r.split_at(h);
    [a, b, &r[..h]]
}

/// [`split3`] for mutable slices.
#[inline(always)]
fn split3_mut<E>(s: &mut [E], h: usize) -> [&mut [E]; 3] {
    let (a, r) = s.split_at_mut(h);
    let (b, r) = r.split_at_mut(h);
    [a, b, &mut r[..h]]
}

/// The first four blocks of `h` values of `s`.
#[inline(always)]
fn split4<E>(s: &[E], h: usize) -> [&[E]; 4] {
    let (a, r) = s.split_at(h);
    let (b, r) = r.split_at(h);
    let (c, r) = r.split_at(h);
    [a, b, c, &r[..h]]
}

/// [`split4`] for mutable slices.
#[inline(always)]
fn split4_mut<E>(s: &mut [E], h: usize) -> [&mut [E]; 4] {
    let (a, r) = s.split_at_mut(h);
    let (b, r) = r.split_at_mut(h);
    let (c, r) = r.split_at_mut(h);
    [a, b, c, &mut r[..h]]
}

// The gate loops of one batch row. Each takes its slices as separate arguments, so that the
// compiler knows they do not overlap and vectorises the loop (all slices have `hs.len()` or
// more values).

#[inline(always)]
fn lstm_gates<E: Real>(
    gi: &mut [E],
    gf: &mut [E],
    gg: &mut [E],
    go: &mut [E],
    cs: &mut [E],
    hs: &mut [E],
) {
    let h = hs.len();
    let (gi, gf, gg, go, cs) = (
        &mut gi[..h],
        &mut gf[..h],
        &mut gg[..h],
        &mut go[..h],
        &mut cs[..h],
    );
    for j in 0..h {
        let i = gi[j].sigmoid();
        let f = gf[j].sigmoid();
        let gv = gg[j].tanh();
        let o = go[j].sigmoid();
        let c = f * cs[j] + i * gv;
        cs[j] = c;
        hs[j] = o * c.tanh();
        gi[j] = i;
        gf[j] = f;
        gg[j] = gv;
        go[j] = o;
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn gru_gates_keep<E: Real>(
    xr: &[E],
    xz: &[E],
    xn: &[E],
    hr: &[E],
    hz: &[E],
    hn: &[E],
    hs: &mut [E],
    ar: &mut [E],
    az: &mut [E],
    an: &mut [E],
    ahn: &mut [E],
) {
    let h = hs.len();
    let (xr, xz, xn, hr, hz, hn) = (&xr[..h], &xz[..h], &xn[..h], &hr[..h], &hz[..h], &hn[..h]);
    let (ar, az, an, ahn) = (&mut ar[..h], &mut az[..h], &mut an[..h], &mut ahn[..h]);
    for j in 0..h {
        let r = (xr[j] + hr[j]).sigmoid();
        let z = (xz[j] + hz[j]).sigmoid();
        let n = (xn[j] + r * hn[j]).tanh();
        hs[j] = n + z * (hs[j] - n);
        ar[j] = r;
        az[j] = z;
        an[j] = n;
        ahn[j] = hn[j];
    }
}

#[inline(always)]
fn gru_gates<E: Real>(xr: &[E], xz: &[E], xn: &[E], hr: &[E], hz: &[E], hn: &[E], hs: &mut [E]) {
    let h = hs.len();
    let (xr, xz, xn, hr, hz, hn) = (&xr[..h], &xz[..h], &xn[..h], &hr[..h], &hz[..h], &hn[..h]);
    for j in 0..h {
        let r = (xr[j] + hr[j]).sigmoid();
        let z = (xz[j] + hz[j]).sigmoid();
        let n = (xn[j] + r * hn[j]).tanh();
        hs[j] = n + z * (hs[j] - n);
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn lstm_gates_backward<E: Real>(
    ai: &[E],
    af: &[E],
    ag: &[E],
    ao: &[E],
    cv: &[E],
    c_prev: &[E],
    dh: &[E],
    dc: &mut [E],
    gi: &mut [E],
    gf: &mut [E],
    gg: &mut [E],
    go: &mut [E],
) {
    let h = dc.len();
    let (ai, af, ag, ao, cv, c_prev, dh) = (
        &ai[..h],
        &af[..h],
        &ag[..h],
        &ao[..h],
        &cv[..h],
        &c_prev[..h],
        &dh[..h],
    );
    let (gi, gf, gg, go) = (&mut gi[..h], &mut gf[..h], &mut gg[..h], &mut go[..h]);
    for j in 0..h {
        let (i, f, gv, o) = (ai[j], af[j], ag[j], ao[j]);
        let tc = cv[j].tanh();
        let d_o = dh[j] * tc;
        let dct = dc[j] + dh[j] * o * (E::ONE - tc * tc);
        gi[j] = dct * gv * i * (E::ONE - i);
        gf[j] = dct * c_prev[j] * f * (E::ONE - f);
        gg[j] = dct * i * (E::ONE - gv * gv);
        go[j] = d_o * o * (E::ONE - o);
        dc[j] = dct * f;
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn gru_gates_backward<E: Real>(
    ar: &[E],
    az: &[E],
    an: &[E],
    ahn: &[E],
    hp: &[E],
    dh: &[E],
    gr: &mut [E],
    gz: &mut [E],
    gn: &mut [E],
    rr: &mut [E],
    rz: &mut [E],
    rn: &mut [E],
    next: &mut [E],
) {
    let h = next.len();
    let (ar, az, an, ahn, hp, dh) = (&ar[..h], &az[..h], &an[..h], &ahn[..h], &hp[..h], &dh[..h]);
    let (gr, gz, gn) = (&mut gr[..h], &mut gz[..h], &mut gn[..h]);
    let (rr, rz, rn) = (&mut rr[..h], &mut rz[..h], &mut rn[..h]);
    for j in 0..h {
        let (r, z, n, hn) = (ar[j], az[j], an[j], ahn[j]);
        let d = dh[j];
        let dnp = d * (E::ONE - z) * (E::ONE - n * n);
        let drp = dnp * hn * r * (E::ONE - r);
        let dzp = d * (hp[j] - n) * z * (E::ONE - z);
        gr[j] = drp;
        gz[j] = dzp;
        gn[j] = dnp;
        rr[j] = drp;
        rz[j] = dzp;
        rn[j] = dnp * r;
        next[j] = d * z;
    }
}

/// The sizes and weights every chunk shares.
struct Shape<'a, E> {
    kind: Recurrence,
    reverse: bool,
    seq: usize,
    hidden: usize,
    /// Forward: `W_hh` `[H, G*H]`; backward: its transpose `[G*H, H]`, so that both per-step
    /// gemms read the weight with unit row stride and `gemm` does not repack it every step.
    w: &'a [E],
}

/// One chunk's buffers for the forward pass (all batch-major, for this chunk's rows).
struct ForwardChunk<'a, E> {
    /// `[b, T, G*H]`, overwritten with the gate activations.
    p: &'a mut [E],
    /// `[b, T, H]`.
    out: &'a mut [E],
    /// `[b, H]`, `h0` on entry.
    state: &'a mut [E],
    /// `[b, H]`, `c0` on entry.
    cell: &'a mut [E],
    /// LSTM cell states `[b, T, H]`, or empty.
    cells: &'a mut [E],
    /// GRU activations `[b, T, 4H]`, or empty.
    gru: &'a mut [E],
}

/// Runs the whole time loop for one chunk of batch rows, compiled for the widest SIMD the CPU
/// has (the gate loops vectorise; the gemms dispatch on their own).
fn forward_chunk<E: Real>(s: &Shape<E>, b_hh: &[E], c: ForwardChunk<E>) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has the features the function is compiled for.
            return unsafe { forward_chunk_avx512(s, b_hh, c) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: as above.
            return unsafe { forward_chunk_avx2(s, b_hh, c) };
        }
    }
    forward_chunk_impl(s, b_hh, c)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn forward_chunk_avx512<E: Real>(s: &Shape<E>, b_hh: &[E], c: ForwardChunk<E>) {
    forward_chunk_impl(s, b_hh, c)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn forward_chunk_avx2<E: Real>(s: &Shape<E>, b_hh: &[E], c: ForwardChunk<E>) {
    forward_chunk_impl(s, b_hh, c)
}

#[inline(always)]
fn forward_chunk_impl<E: Real>(s: &Shape<E>, b_hh: &[E], c: ForwardChunk<E>) {
    let (seq, h) = (s.seq, s.hidden);
    let gh = gate_count(s.kind) * h;
    let row = seq * gh; // stride of batch rows in p
    let batch = c.state.len() / h;
    let (p, out, state, cell) = (c.p, c.out, c.state, c.cell);
    let keep_cells = !c.cells.is_empty();
    let keep_gru = !c.gru.is_empty();
    // GRU: W_h h + b_h of the step.
    let mut hp = if s.kind == Recurrence::Gru {
        vec![E::ZERO; batch * gh]
    } else {
        Vec::new()
    };
    for k in 0..seq {
        let t = pos(s.reverse, seq, k);
        if s.kind == Recurrence::Gru {
            for r in hp.chunks_exact_mut(gh) {
                r.copy_from_slice(b_hh);
            }
            E::gemm(
                batch,
                h,
                gh,
                state,
                (h, 1),
                s.w,
                (gh, 1),
                E::ONE,
                &mut hp,
                (gh, 1),
                1,
            );
        } else {
            // p[:, t, :] += h W, in place.
            E::gemm(
                batch,
                h,
                gh,
                state,
                (h, 1),
                s.w,
                (gh, 1),
                E::ONE,
                &mut p[t * gh..],
                (row, 1),
                1,
            );
        }
        for b in 0..batch {
            let g = &mut p[b * row + t * gh..b * row + (t + 1) * gh];
            let hs = &mut state[b * h..(b + 1) * h];
            match s.kind {
                Recurrence::Tanh => {
                    for (x, s) in g.iter_mut().zip(hs.iter_mut()) {
                        *x = x.tanh();
                        *s = *x;
                    }
                }
                Recurrence::Relu => {
                    for (x, s) in g.iter_mut().zip(hs.iter_mut()) {
                        if *x < E::ZERO {
                            *x = E::ZERO;
                        }
                        *s = *x;
                    }
                }
                Recurrence::Lstm => {
                    let cs = &mut cell[b * h..(b + 1) * h];
                    let [gi, gf, gg, go] = split4_mut(g, h);
                    lstm_gates(gi, gf, gg, go, cs, hs);
                    if keep_cells {
                        c.cells[(b * seq + t) * h..(b * seq + t + 1) * h].copy_from_slice(cs);
                    }
                }
                Recurrence::Gru => {
                    let [xr, xz, xn] = split3(g, h);
                    let [hr, hz, hn] = split3(&hp[b * gh..(b + 1) * gh], h);
                    if keep_gru {
                        let acts = &mut c.gru[(b * seq + t) * 4 * h..(b * seq + t + 1) * 4 * h];
                        let [ar, az, an, ahn] = split4_mut(acts, h);
                        gru_gates_keep(xr, xz, xn, hr, hz, hn, hs, ar, az, an, ahn);
                    } else {
                        gru_gates(xr, xz, xn, hr, hz, hn, hs);
                    }
                }
            }
            out[(b * seq + t) * h..(b * seq + t + 1) * h].copy_from_slice(hs);
        }
    }
}

/// Runs the recurrence. `b_hh` is `[G*H]` (used by the GRU only). Returns the output `[B, T, H]`,
/// the final hidden state `[B, H]`, the final cell state `[B, H]` (the LSTM's `c_T`; empty for
/// RNN and GRU) and, when `keep`, what the backward pass needs.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward<E: Real>(
    kind: Recurrence,
    reverse: bool,
    [batch, seq, hidden]: [usize; 3],
    mut p: Vec<E>,
    w: Vec<E>,
    b_hh: &[E],
    h0: Vec<E>,
    c0: Vec<E>,
    keep: bool,
) -> (Vec<E>, Vec<E>, Vec<E>, Option<Saved<E>>) {
    let h = hidden;
    let gh = gate_count(kind) * h;
    let mut out = vec![E::ZERO; batch * seq * h];
    let mut state = h0.clone();
    let mut cell = c0.clone();
    let mut cells = if kind == Recurrence::Lstm && keep {
        vec![E::ZERO; batch * seq * h]
    } else {
        Vec::new()
    };
    let mut gru_acts = if kind == Recurrence::Gru && keep {
        vec![E::ZERO; batch * seq * 4 * h]
    } else {
        Vec::new()
    };
    {
        let rows = chunk_rows(batch);
        let shape = Shape {
            kind,
            reverse,
            seq,
            hidden,
            w: &w,
        };
        let chunks: Vec<ForwardChunk<E>> = split_mut(&mut p, seq * gh, &rows)
            .into_iter()
            .zip(split_mut(&mut out, seq * h, &rows))
            .zip(split_mut(&mut state, h, &rows))
            .zip(split_mut(&mut cell, h, &rows))
            .zip(split_mut(&mut cells, seq * h, &rows))
            .zip(split_mut(&mut gru_acts, seq * 4 * h, &rows))
            .map(|(((((p, out), state), cell), cells), gru)| ForwardChunk {
                p,
                out,
                state,
                cell,
                cells,
                gru,
            })
            .collect();
        if chunks.len() == 1 {
            chunks
                .into_iter()
                .for_each(|c| forward_chunk(&shape, b_hh, c));
        } else {
            chunks
                .into_par_iter()
                .for_each(|c| forward_chunk(&shape, b_hh, c));
        }
    }
    let saved = keep.then(|| Saved {
        kind,
        reverse,
        batch,
        seq,
        hidden,
        w,
        h0,
        c0,
        out: out.clone(),
        acts: if kind == Recurrence::Gru { gru_acts } else { p },
        cells,
    });
    if kind != Recurrence::Lstm {
        cell = Vec::new();
    }
    (out, state, cell, saved)
}

/// Gradients `(dp [B,T,G*H], dw [H,G*H], db_hh [G*H], dh0 [B,H], dc0 [B,H])` from the gradients
/// of the output `[B, T, H]` and of the final hidden and cell states `[B, H]`.
pub(crate) type Grads<E> = (Vec<E>, Vec<E>, Vec<E>, Vec<E>, Vec<E>);

/// One chunk's buffers for the backward pass (all batch-major, for this chunk's rows).
struct BackwardChunk<'a, E> {
    /// `[b, T, H]`, the gradient of the output.
    d_out: &'a [E],
    /// `[b, H]`, the gradient of the final hidden state, or empty.
    d_hidden: &'a [E],
    /// `[b, H]`, the gradient of the final cell state (LSTM), or empty.
    d_cell: &'a [E],
    /// `[b, T, H]`, the saved output.
    out: &'a [E],
    /// LSTM `[b, T, 4H]`, GRU `[b, T, 4H]`, RNN empty.
    acts: &'a [E],
    /// LSTM `[b, T, H]`, else empty.
    cells: &'a [E],
    /// `[b, H]`.
    h0: &'a [E],
    /// `[b, H]`.
    c0: &'a [E],
    /// `[b, T, G*H]`.
    dp: &'a mut [E],
    /// GRU `[b, T, G*H]`, else empty.
    dhp: &'a mut [E],
    /// `[b, T, H]`: `h_{t-1}` of the step at time position t.
    h_prev: &'a mut [E],
    /// `[b, H]`, zeros on entry, `dh0` on exit.
    dh: &'a mut [E],
    /// `[b, H]`, zeros on entry, `dc0` on exit.
    dc: &'a mut [E],
}

/// Runs the backward time loop for one chunk of batch rows.
fn backward_chunk<E: Real>(s: &Shape<E>, c: BackwardChunk<E>) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has the features the function is compiled for.
            return unsafe { backward_chunk_avx512(s, c) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: as above.
            return unsafe { backward_chunk_avx2(s, c) };
        }
    }
    backward_chunk_impl(s, c)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn backward_chunk_avx512<E: Real>(s: &Shape<E>, c: BackwardChunk<E>) {
    backward_chunk_impl(s, c)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn backward_chunk_avx2<E: Real>(s: &Shape<E>, c: BackwardChunk<E>) {
    backward_chunk_impl(s, c)
}

#[inline(always)]
fn backward_chunk_impl<E: Real>(s: &Shape<E>, c: BackwardChunk<E>) {
    let (seq, h) = (s.seq, s.hidden);
    let gh = gate_count(s.kind) * h;
    let row = seq * gh;
    let orow = seq * h;
    let batch = c.dh.len() / h;
    let BackwardChunk {
        d_out,
        d_hidden,
        d_cell,
        out,
        acts,
        cells,
        h0,
        c0,
        dp,
        dhp,
        h_prev,
        dh,
        dc,
    } = c;
    let mut dh_next = if s.kind == Recurrence::Gru {
        vec![E::ZERO; batch * h]
    } else {
        Vec::new()
    };
    if !d_hidden.is_empty() {
        dh.copy_from_slice(d_hidden);
    }
    if !d_cell.is_empty() {
        dc.copy_from_slice(d_cell);
    }
    for k in 0..seq {
        let t = pos(s.reverse, seq, k);
        for b in 0..batch {
            let src = if k == 0 {
                &h0[b * h..(b + 1) * h]
            } else {
                let tp = pos(s.reverse, seq, k - 1);
                &out[b * orow + tp * h..b * orow + (tp + 1) * h]
            };
            h_prev[(b * seq + t) * h..(b * seq + t + 1) * h].copy_from_slice(src);
        }
    }
    for k in (0..seq).rev() {
        let t = pos(s.reverse, seq, k);
        for b in 0..batch {
            let dhb = &mut dh[b * h..(b + 1) * h];
            for (d, o) in dhb
                .iter_mut()
                .zip(&d_out[b * orow + t * h..b * orow + (t + 1) * h])
            {
                *d += *o;
            }
            let g = &mut dp[b * row + t * gh..b * row + (t + 1) * gh];
            let hs = &out[b * orow + t * h..b * orow + (t + 1) * h];
            match s.kind {
                Recurrence::Tanh => {
                    for j in 0..h {
                        g[j] = dhb[j] * (E::ONE - hs[j] * hs[j]);
                    }
                }
                Recurrence::Relu => {
                    for j in 0..h {
                        g[j] = if hs[j] > E::ZERO { dhb[j] } else { E::ZERO };
                    }
                }
                Recurrence::Lstm => {
                    let [ai, af, ag, ao] = split4(&acts[b * row + t * gh..], h);
                    let cv = &cells[(b * seq + t) * h..][..h];
                    let c_prev: &[E] = if k == 0 {
                        &c0[b * h..][..h]
                    } else {
                        let tp = pos(s.reverse, seq, k - 1);
                        &cells[(b * seq + tp) * h..][..h]
                    };
                    let dcb = &mut dc[b * h..][..h];
                    let [gi, gf, gg, go] = split4_mut(g, h);
                    lstm_gates_backward(ai, af, ag, ao, cv, c_prev, dhb, dcb, gi, gf, gg, go);
                }
                Recurrence::Gru => {
                    let [ar, az, an, ahn] = split4(&acts[(b * seq + t) * 4 * h..], h);
                    let hp = &h_prev[(b * seq + t) * h..][..h];
                    let [gr, gz, gn] = split3_mut(g, h);
                    let [rr, rz, rn] = split3_mut(&mut dhp[b * row + t * gh..], h);
                    let next = &mut dh_next[b * h..][..h];
                    gru_gates_backward(ar, az, an, ahn, hp, dhb, gr, gz, gn, rr, rz, rn, next);
                }
            }
        }
        // dh = dG_t W^T (+ the GRU's direct path z * dh).
        let (src, beta): (&[E], E) = if s.kind == Recurrence::Gru {
            dh.copy_from_slice(&dh_next);
            (dhp, E::ONE)
        } else {
            (dp, E::ZERO)
        };
        E::gemm(
            batch,
            gh,
            h,
            &src[t * gh..],
            (row, 1),
            s.w,
            (h, 1),
            beta,
            dh,
            (h, 1),
            1,
        );
    }
}

/// The backward pass of [`forward`].
///
/// `d_hidden` and `d_cell` are the gradients of the final hidden state and of the LSTM's final
/// cell state, `[B, H]`, or empty when the loss does not use them.
pub(crate) fn backward<E: Real>(
    s: &Saved<E>,
    d_out: &[E],
    d_hidden: &[E],
    d_cell: &[E],
) -> Grads<E> {
    let (batch, seq, h) = (s.batch, s.seq, s.hidden);
    let gh = gate_count(s.kind) * h;
    let mut dp = vec![E::ZERO; batch * seq * gh];
    // GRU: the gradient of W_h h + b_h differs from dp in the n block.
    let mut dhp = if s.kind == Recurrence::Gru {
        vec![E::ZERO; batch * seq * gh]
    } else {
        Vec::new()
    };
    let mut dh = vec![E::ZERO; batch * h];
    let mut dc = vec![E::ZERO; batch * h];
    // h_{t-1} for the step at time position t, `[B, T, H]`, for dW = H_prev^T dG.
    let mut h_prev = vec![E::ZERO; batch * seq * h];
    {
        let rows = chunk_rows(batch);
        let mut w_t = vec![E::ZERO; gh * h];
        for (i, r) in s.w.chunks_exact(gh).enumerate() {
            for (j, v) in r.iter().enumerate() {
                w_t[j * h + i] = *v;
            }
        }
        let shape = Shape {
            kind: s.kind,
            reverse: s.reverse,
            seq,
            hidden: h,
            w: &w_t,
        };
        let acts_row = if s.kind == Recurrence::Gru { 4 * h } else { gh };
        let chunks: Vec<BackwardChunk<E>> = split(d_out, seq * h, &rows)
            .into_iter()
            .zip(split(d_hidden, h, &rows))
            .zip(split(d_cell, h, &rows))
            .zip(split(&s.out, seq * h, &rows))
            .zip(split(&s.acts, seq * acts_row, &rows))
            .zip(split(&s.cells, seq * h, &rows))
            .zip(split(&s.h0, h, &rows))
            .zip(split(&s.c0, h, &rows))
            .zip(split_mut(&mut dp, seq * gh, &rows))
            .zip(split_mut(&mut dhp, seq * gh, &rows))
            .zip(split_mut(&mut h_prev, seq * h, &rows))
            .zip(split_mut(&mut dh, h, &rows))
            .zip(split_mut(&mut dc, h, &rows))
            .map(
                |(
                    (
                        (
                            (
                                (
                                    (((((((d_out, d_hidden), d_cell), out), acts), cells), h0), c0),
                                    dp,
                                ),
                                dhp,
                            ),
                            h_prev,
                        ),
                        dh,
                    ),
                    dc,
                )| {
                    BackwardChunk {
                        d_out,
                        d_hidden,
                        d_cell,
                        out,
                        acts,
                        cells,
                        h0,
                        c0,
                        dp,
                        dhp,
                        h_prev,
                        dh,
                        dc,
                    }
                },
            )
            .collect();
        if chunks.len() == 1 {
            chunks.into_iter().for_each(|c| backward_chunk(&shape, c));
        } else {
            chunks
                .into_par_iter()
                .for_each(|c| backward_chunk(&shape, c));
        }
    }
    let rec = if s.kind == Recurrence::Gru { &dhp } else { &dp };
    // dW = H_prev^T dG over all batch rows and time steps: [H, B*T] x [B*T, G*H].
    let mut dw = vec![E::ZERO; h * gh];
    E::gemm(
        h,
        batch * seq,
        gh,
        &h_prev,
        (1, h),
        rec,
        (gh, 1),
        E::ZERO,
        &mut dw,
        (gh, 1),
        rayon::current_num_threads(),
    );
    let mut db = vec![E::ZERO; gh];
    if s.kind == Recurrence::Gru {
        for r in rec.chunks_exact(gh) {
            for (d, v) in db.iter_mut().zip(r) {
                *d += *v;
            }
        }
    }
    (dp, dw, db, dh, dc)
}

/// `y = x W + b` for `x` `[N, I]`, `W` `[I, O]`, `b` `[O]`; returns `[N, O]`.
pub(crate) fn linear_forward<E: Real>(x: &[E], w: &[E], b: &[E], [n, i, o]: [usize; 3]) -> Vec<E> {
    let mut y = Vec::with_capacity(n * o);
    for _ in 0..n {
        y.extend_from_slice(b);
    }
    E::gemm(
        n,
        i,
        o,
        x,
        (i, 1),
        w,
        (o, 1),
        E::ONE,
        &mut y,
        (o, 1),
        rayon::current_num_threads(),
    );
    y
}

/// The gradients `(dx [N, I], dW [I, O], db [O])` of [`linear_forward`] from `dy` `[N, O]`, each
/// computed only when `need` asks for it.
pub(crate) fn linear_backward<E: Real>(
    x: &[E],
    w: &[E],
    dy: &[E],
    [n, i, o]: [usize; 3],
    need: [bool; 3],
) -> [Option<Vec<E>>; 3] {
    let threads = rayon::current_num_threads();
    let dx = need[0].then(|| {
        let mut dx = vec![E::ZERO; n * i];
        E::gemm(
            n,
            o,
            i,
            dy,
            (o, 1),
            w,
            (1, o),
            E::ZERO,
            &mut dx,
            (i, 1),
            threads,
        );
        dx
    });
    let dw = need[1].then(|| {
        let mut dw = vec![E::ZERO; i * o];
        E::gemm(
            i,
            n,
            o,
            x,
            (1, i),
            dy,
            (o, 1),
            E::ZERO,
            &mut dw,
            (o, 1),
            threads,
        );
        dw
    });
    let db = need[2].then(|| {
        let mut db = vec![E::ZERO; o];
        for r in dy.chunks_exact(o) {
            for (d, v) in db.iter_mut().zip(r) {
                *d += *v;
            }
        }
        db
    });
    [dx, dw, db]
}

/// Rows per parallel block so that `rows` split into about four blocks per thread.
fn block_rows(rows: usize) -> usize {
    rows.div_ceil(4 * rayon::current_num_threads()).max(1)
}

/// Mean softmax cross-entropy of the rows of `logits` `[N, V]` against `targets` `[N]`
/// (class indices below `V`), as PyTorch's `cross_entropy` with mean reduction. `logits` is
/// overwritten with the softmax probabilities, which [`softmax_cross_entropy_backward`] turns
/// into the gradient. Rows run in parallel; the sum is accumulated in f64.
pub(crate) fn softmax_cross_entropy<E: Real>(logits: &mut [E], targets: &[usize], v: usize) -> E {
    let n = targets.len();
    assert_eq!(logits.len(), n * v, "cross-entropy: logits are not [N, V]");
    if n == 0 {
        return E::ZERO;
    }
    let block = block_rows(n);
    let total: f64 = logits
        .par_chunks_mut(block * v)
        .zip(targets.par_chunks(block))
        .map(|(rows, targets)| {
            let mut sum = 0.0f64;
            for (x, &t) in rows.chunks_exact_mut(v).zip(targets) {
                assert!(
                    t < v,
                    "cross-entropy: target {t} is not below the {v} classes"
                );
                let max = x.iter().fold(x[0], |m, &y| if y > m { y } else { m });
                let picked = x[t];
                let mut s = E::ZERO;
                for y in x.iter_mut() {
                    *y = (*y - max).exp();
                    s += *y;
                }
                let inv = E::ONE / s;
                for y in x.iter_mut() {
                    *y = *y * inv;
                }
                sum += (max + s.ln() - picked).to_f64();
            }
            sum
        })
        .sum();
    E::from_f64(total / n as f64)
}

/// Turns the probabilities left by [`softmax_cross_entropy`] into the gradient of the logits,
/// `(p - onehot(target)) * scale` (`scale` = upstream gradient / N), in place.
pub(crate) fn softmax_cross_entropy_backward<E: Real>(
    probs: &mut [E],
    targets: &[usize],
    v: usize,
    scale: E,
) {
    let block = block_rows(targets.len());
    probs
        .par_chunks_mut(block * v)
        .zip(targets.par_chunks(block))
        .for_each(|(rows, targets)| {
            for (x, &t) in rows.chunks_exact_mut(v).zip(targets) {
                x[t] = x[t] - E::ONE;
                for y in x.iter_mut() {
                    *y = *y * scale;
                }
            }
        });
}

/// Rows of `table` `[V, G]` picked by `ids` `[N]`; returns `[N, G]`. Rows copy in parallel.
pub(crate) fn gather_rows<E: Real>(table: &[E], ids: &[usize], g: usize) -> Vec<E> {
    let mut out = vec![E::ZERO; ids.len() * g];
    if g == 0 {
        return out;
    }
    let block = block_rows(ids.len());
    out.par_chunks_mut(block * g)
        .zip(ids.par_chunks(block))
        .for_each(|(rows, ids)| {
            for (row, &i) in rows.chunks_exact_mut(g).zip(ids) {
                row.copy_from_slice(&table[i * g..(i + 1) * g]);
            }
        });
    out
}

/// The gradient of [`gather_rows`]: the rows of `d` `[N, G]` summed into `[V, G]` by `ids`.
/// Blocks of rows sum into their own `[V, G]` when that is small beside `d`, then add up.
pub(crate) fn scatter_add_rows<E: Real>(d: &[E], ids: &[usize], g: usize, v: usize) -> Vec<E> {
    let add = |acc: &mut [E], d: &[E], ids: &[usize]| {
        for (row, &i) in d.chunks_exact(g).zip(ids) {
            for (a, x) in acc[i * g..(i + 1) * g].iter_mut().zip(row) {
                *a += *x;
            }
        }
    };
    let threads = rayon::current_num_threads();
    if g == 0 || threads == 1 || v * threads > ids.len() {
        let mut acc = vec![E::ZERO; v * g];
        add(&mut acc, d, ids);
        return acc;
    }
    let block = ids.len().div_ceil(threads);
    d.par_chunks(block * g)
        .zip(ids.par_chunks(block))
        .map(|(d, ids)| {
            let mut acc = vec![E::ZERO; v * g];
            add(&mut acc, d, ids);
            acc
        })
        .reduce_with(|mut a, b| {
            for (x, y) in a.iter_mut().zip(&b) {
                *x += *y;
            }
            a
        })
        .unwrap_or_else(|| vec![E::ZERO; v * g])
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
}
