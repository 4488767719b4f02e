//! The drivers of the recurrence on host memory: the batch cut into one chunk per thread, each
//! running the whole time loop (forward, then backward) on its rows with the gate maths of
//! `gates.rs`, and the weight gradient of all steps as one multi-threaded gemm.

use std::borrow::Cow;

use rayon::prelude::*;

use super::Recurrence;
use super::gates::*;
use crate::cell_kind::CellKind;
use crate::kernels::packed::{PackedWeight, as_f32, as_f32_mut};
use crate::kernels::{Real, buffers, transposed};

// ---------------------------------------------------------------------------------------------
// Batch chunks: one per thread, each running the whole time loop on its rows.

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
fn split_mut<'a, E>(
    mut buf: &'a mut [E],
    per_row: usize,
    rows: &[usize],
) -> std::vec::IntoIter<&'a mut [E]> {
    let per_row = if buf.is_empty() { 0 } else { per_row };
    let parts: Vec<_> = rows
        .iter()
        .map(|&r| {
            let (head, tail) = std::mem::take(&mut buf).split_at_mut(r * per_row);
            buf = tail;
            head
        })
        .collect();
    parts.into_iter()
}

/// [`split_mut`] for shared buffers.
fn split<'a, E>(mut buf: &'a [E], per_row: usize, rows: &[usize]) -> std::vec::IntoIter<&'a [E]> {
    let per_row = if buf.is_empty() { 0 } else { per_row };
    let parts: Vec<_> = rows
        .iter()
        .map(|&r| {
            let (head, tail) = buf.split_at(r * per_row);
            buf = tail;
            head
        })
        .collect();
    parts.into_iter()
}

/// Runs `work` on every chunk, in parallel when there is more than one.
fn for_each_chunk<C: Send>(chunks: Vec<C>, work: impl Fn(C) + Sync + Send) {
    if chunks.len() == 1 {
        chunks.into_iter().for_each(work);
    } else {
        chunks.into_par_iter().for_each(work);
    }
}

/// Asks the CPU to bring `s` into its L2 cache ahead of use (no effect off x86-64).
#[inline(always)]
fn prefetch<E>(s: &[E]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T1, _mm_prefetch};
        let p = s.as_ptr().cast::<i8>();
        for off in (0..std::mem::size_of_val(s)).step_by(64) {
            // SAFETY: a prefetch never faults, and the address is inside `s`.
            unsafe { _mm_prefetch::<_MM_HINT_T1>(p.add(off)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = s;
}

/// What every chunk shares: the recurrence, the sizes and the recurrent weight.
struct Shared<'a, E: Clone> {
    rec: Recurrence,
    seq: usize,
    hidden: usize,
    /// Forward: `W_hh` `[H, G*H]`; backward: its transpose `[G*H, H]`, so that both per-step
    /// gemms read the weight with unit row stride and `gemm` does not repack it every step.
    /// Empty when `packed` serves every product.
    w: Cow<'a, [E]>,
    /// The same weight packed for [`PackedWeight`]'s micro-kernel (f32 on AVX2 or AVX-512), or
    /// `None`.
    packed: Option<PackedWeight>,
}

impl<'a, E: Real> Shared<'a, E> {
    /// For the forward: products with `w` = `W_hh` `[H, G*H]`.
    fn forward(rec: Recurrence, seq: usize, hidden: usize, w: &'a [E]) -> Self {
        let gh = rec.kind.gates() * hidden;
        let packed = as_f32(w).and_then(|w| PackedWeight::new(hidden, gh, w));
        Shared {
            rec,
            seq,
            hidden,
            w: Cow::Borrowed(w),
            packed,
        }
    }

    /// For the backward: products with `W_hh^T` `[G*H, H]`, from `w` = `W_hh` `[H, G*H]`:
    /// packed straight from `w` when there is a micro-kernel (no transposed copy), else a
    /// transposed copy for the `gemm` crate.
    fn backward(rec: Recurrence, seq: usize, hidden: usize, w: &[E]) -> Self {
        let (h, gh) = (hidden, rec.kind.gates() * hidden);
        let packed = as_f32(w).and_then(|w| PackedWeight::new_transposed(gh, h, w));
        let w = if packed.is_some() {
            Cow::Borrowed(&[][..])
        } else {
            Cow::Owned(transposed(w, [h, gh]))
        };
        Shared {
            rec,
            seq,
            hidden,
            w,
            packed,
        }
    }

    /// `C = A w` (`C += A w` when `accumulate`) for the `m` rows of one chunk: `A` `[m, k]` with
    /// row stride `lda`, `C` `[m, n]` with row stride `ldc`. The packed micro-kernel when there
    /// is one, else the `gemm` crate (single-threaded: each chunk is on its own thread).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn step_gemm(
        &self,
        [m, k, n]: [usize; 3],
        a: &[E],
        lda: usize,
        c: &mut [E],
        ldc: usize,
        accumulate: bool,
    ) {
        if let Some(w) = &self.packed
            && let Some(a) = as_f32(a)
            && let Some(c) = as_f32_mut(c)
        {
            return w.gemm(m, a, lda, c, ldc, accumulate);
        }
        let beta = if accumulate { E::ONE } else { E::ZERO };
        E::gemm(m, k, n, a, (lda, 1), &self.w, (n, 1), beta, c, (ldc, 1), 1);
    }
}

// ---------------------------------------------------------------------------------------------
// Forward

/// What the forward keeps for the backward.
#[derive(Clone, Debug)]
pub(crate) struct HostTrace<E> {
    rec: Recurrence,
    batch: usize,
    seq: usize,
    hidden: usize,
    /// `W_hh` `[H, G*H]`.
    w: Vec<E>,
    /// `[B, H]`.
    h0: Vec<E>,
    /// `[B, H]` (LSTM; zeros otherwise).
    c0: Vec<E>,
    /// `[B, T, H]`, the output.
    out: Vec<E>,
    /// Gate activations: LSTM `[B, T, 4H]` (`i, f, g, o`); GRU `[B, T, 4H]` (`r, z, n` and
    /// `W_hn h + b_hn`); RNN unused.
    acts: Vec<E>,
    /// LSTM cell states `[B, T, H]`.
    cells: Vec<E>,
}

impl<E> HostTrace<E> {
    /// The cell traced.
    pub(crate) fn kind(&self) -> CellKind {
        self.rec.kind
    }
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

simd_dispatch!(
    // Runs the whole time loop for one chunk of batch rows.
    forward_chunk => forward_chunk_impl,
    forward_chunk_avx512,
    forward_chunk_avx2,
    (s: &Shared<E>, b_hh: &[E], c: ForwardChunk<E>)
);

#[inline(always)]
fn forward_chunk_impl<E: Real>(s: &Shared<E>, b_hh: &[E], c: ForwardChunk<E>) {
    let (seq, h) = (s.seq, s.hidden);
    let kind = s.rec.kind;
    let gh = kind.gates() * h;
    let row = seq * gh; // stride of batch rows in p
    let batch = c.state.len() / h;
    let ForwardChunk {
        p,
        out,
        state,
        cell,
        cells,
        gru,
    } = c;
    // GRU: W_h h + b_h of the step, kept apart for r * (W_hn h + b_hn).
    let mut hp = if kind == CellKind::Gru {
        vec![E::ZERO; batch * gh]
    } else {
        Vec::new()
    };
    for k in 0..seq {
        let t = s.rec.position(seq, k);
        if k + 1 < seq {
            // The next step's rows, cold since the input projection wrote them, arrive while
            // this step multiplies.
            let t1 = s.rec.position(seq, k + 1);
            for b in 0..batch {
                let at = (b * seq + t1) * h;
                prefetch(&p[b * row + t1 * gh..][..gh]);
                prefetch(&out[at..at + h]);
                if !cells.is_empty() {
                    prefetch(&cells[at..at + h]);
                }
                if !gru.is_empty() {
                    prefetch(&gru[4 * at..4 * (at + h)]);
                }
            }
        }
        if kind == CellKind::Gru {
            for r in hp.chunks_exact_mut(gh) {
                r.copy_from_slice(b_hh);
            }
            s.step_gemm([batch, h, gh], state, h, &mut hp, gh, true);
        } else {
            // p[:, t, :] += h W, in place.
            s.step_gemm([batch, h, gh], state, h, &mut p[t * gh..], row, true);
        }
        for b in 0..batch {
            let g = &mut p[b * row + t * gh..][..gh];
            let hs = &mut state[b * h..][..h];
            let at = (b * seq + t) * h; // row (b, t) of a [b, T, H] buffer
            match kind {
                CellKind::Rnn => rnn_forward(s.rec.activation, g, hs),
                CellKind::Lstm => {
                    let cs = &mut cell[b * h..][..h];
                    let [gi, gf, gg, go] = blocks4_mut(g, h);
                    lstm_forward(gi, gf, gg, go, cs, hs);
                    if !cells.is_empty() {
                        cells[at..at + h].copy_from_slice(cs);
                    }
                }
                CellKind::Gru => {
                    let [xr, xz, xn] = blocks3(g, h);
                    let [hr, hz, hn] = blocks3(&hp[b * gh..], h);
                    if gru.is_empty() {
                        gru_forward(xr, xz, xn, hr, hz, hn, hs);
                    } else {
                        let [ar, az, an, ahn] = blocks4_mut(&mut gru[4 * at..], h);
                        gru_forward_keep(xr, xz, xn, hr, hz, hn, hs, ar, az, an, ahn);
                    }
                }
            }
            out[at..at + h].copy_from_slice(hs);
        }
    }
}

/// Outputs of [`forward`]: the output `[B, T, H]`, the final hidden state `[B, H]`, the LSTM's
/// final cell state `[B, H]` (empty for RNN and GRU) and, when kept, the trace for the backward.
pub(crate) type Forward<E> = (Vec<E>, Vec<E>, Vec<E>, Option<HostTrace<E>>);

/// Runs the recurrence of `rec` from the projected input, keeping what the backward needs when
/// `keep`.
///
/// # Shapes
/// - `p`: `[B, T, G*H]` (both biases folded in for RNN and LSTM, `b_ih` only for GRU)
/// - `w`: `W_hh` `[H, G*H]`; `b_hh`: `[G*H]` (read by the GRU only)
/// - `h0`, `c0`: `[B, H]`
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward<E: Real>(
    rec: Recurrence,
    [batch, seq, hidden]: [usize; 3],
    mut p: Vec<E>,
    w: Vec<E>,
    b_hh: &[E],
    h0: Vec<E>,
    c0: Vec<E>,
    keep: bool,
) -> Forward<E> {
    let h = hidden;
    let gh = rec.kind.gates() * h;
    let mut out = buffers::zeros(batch * seq * h);
    let mut state = h0.clone();
    let mut cell = c0.clone();
    let mut cells = if rec.kind == CellKind::Lstm && keep {
        buffers::zeros(batch * seq * h)
    } else {
        Vec::new()
    };
    let mut gru_acts = if rec.kind == CellKind::Gru && keep {
        buffers::zeros(batch * seq * 4 * h)
    } else {
        Vec::new()
    };
    {
        let rows = chunk_rows(batch);
        let shared = Shared::forward(rec, seq, hidden, &w);
        let mut p = split_mut(&mut p, seq * gh, &rows);
        let mut out = split_mut(&mut out, seq * h, &rows);
        let mut state = split_mut(&mut state, h, &rows);
        let mut cell = split_mut(&mut cell, h, &rows);
        let mut cells = split_mut(&mut cells, seq * h, &rows);
        let mut gru = split_mut(&mut gru_acts, seq * 4 * h, &rows);
        let chunks: Vec<ForwardChunk<E>> = rows
            .iter()
            .map(|_| ForwardChunk {
                p: p.next().expect("a chunk"),
                out: out.next().expect("a chunk"),
                state: state.next().expect("a chunk"),
                cell: cell.next().expect("a chunk"),
                cells: cells.next().expect("a chunk"),
                gru: gru.next().expect("a chunk"),
            })
            .collect();
        for_each_chunk(chunks, |c| forward_chunk(&shared, b_hh, c));
    }
    let trace = keep.then(|| HostTrace {
        rec,
        batch,
        seq,
        hidden,
        w,
        h0,
        c0,
        out: buffers::copy(&out),
        acts: if rec.kind == CellKind::Gru {
            gru_acts
        } else {
            p
        },
        cells,
    });
    if rec.kind != CellKind::Lstm {
        cell = Vec::new();
    }
    (out, state, cell, trace)
}

// ---------------------------------------------------------------------------------------------
// Backward

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
    /// GRU `[b, T, 4H]`; LSTM and RNN empty (the LSTM's activations are in `dp`).
    acts: &'a [E],
    /// LSTM `[b, T, H]`, else empty.
    cells: &'a [E],
    /// `[b, H]`.
    h0: &'a [E],
    /// `[b, H]`.
    c0: &'a [E],
    /// `[b, T, G*H]`: the LSTM's gate activations on entry; the gradients on exit.
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

simd_dispatch!(
    // Runs the backward time loop for one chunk of batch rows.
    backward_chunk => backward_chunk_impl,
    backward_chunk_avx512,
    backward_chunk_avx2,
    (s: &Shared<E>, c: BackwardChunk<E>)
);

/// Copies `h_{t-1}` of every step into `h_prev` `[b, T, H]` (time order), for `dW`.
fn gather_previous_states<E: Real>(s: &Shared<E>, h0: &[E], out: &[E], h_prev: &mut [E]) {
    let (seq, h) = (s.seq, s.hidden);
    let batch = h0.len() / h;
    for k in 0..seq {
        let t = s.rec.position(seq, k);
        for b in 0..batch {
            let src = if k == 0 {
                &h0[b * h..][..h]
            } else {
                &out[(b * seq + s.rec.position(seq, k - 1)) * h..][..h]
            };
            h_prev[(b * seq + t) * h..][..h].copy_from_slice(src);
        }
    }
}

#[inline(always)]
fn backward_chunk_impl<E: Real>(s: &Shared<E>, c: BackwardChunk<E>) {
    let (seq, h) = (s.seq, s.hidden);
    let kind = s.rec.kind;
    let gh = kind.gates() * h;
    let row = seq * gh;
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
    // GRU: the part of dh_{t-1} that skips W_hh (z dh).
    let mut dh_next = if kind == CellKind::Gru {
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
    gather_previous_states(s, h0, out, h_prev);
    let acts_row = 4 * h; // the GRU's kept activations
    for k in (0..seq).rev() {
        let t = s.rec.position(seq, k);
        if k > 0 {
            // The rows of the step before, while this one runs.
            let t1 = s.rec.position(seq, k - 1);
            for b in 0..batch {
                let at = (b * seq + t1) * h;
                prefetch(&d_out[at..at + h]);
                if !acts.is_empty() {
                    prefetch(&acts[(b * seq + t1) * acts_row..][..acts_row]);
                }
                prefetch(&dp[b * row + t1 * gh..][..gh]);
                if !dhp.is_empty() {
                    prefetch(&dhp[b * row + t1 * gh..][..gh]);
                }
                if !cells.is_empty() {
                    prefetch(&cells[at..at + h]);
                }
            }
        }
        for b in 0..batch {
            let at = (b * seq + t) * h; // row (b, t) of a [b, T, H] buffer
            let dhb = &mut dh[b * h..][..h];
            for (d, o) in dhb.iter_mut().zip(&d_out[at..at + h]) {
                *d += *o;
            }
            let g = &mut dp[b * row + t * gh..][..gh];
            match kind {
                CellKind::Rnn => rnn_backward(s.rec.activation, &out[at..at + h], dhb, g),
                CellKind::Lstm => {
                    let c_prev: &[E] = if k == 0 {
                        &c0[b * h..][..h]
                    } else {
                        &cells[(b * seq + s.rec.position(seq, k - 1)) * h..][..h]
                    };
                    let cv = &cells[at..at + h];
                    let dcb = &mut dc[b * h..][..h];
                    let [gi, gf, gg, go] = blocks4_mut(g, h);
                    lstm_backward(gi, gf, gg, go, cv, c_prev, dhb, dcb);
                }
                CellKind::Gru => {
                    let [ar, az, an, ahn] = blocks4(&acts[4 * at..], h);
                    let hp = &h_prev[at..at + h];
                    let [gr, gz, gn] = blocks3_mut(g, h);
                    let [rr, rz, rn] = blocks3_mut(&mut dhp[b * row + t * gh..], h);
                    let next = &mut dh_next[b * h..][..h];
                    gru_backward(ar, az, an, ahn, hp, dhb, gr, gz, gn, rr, rz, rn, next);
                }
            }
        }
        // dh = dG_t W^T (+ the GRU's direct path z dh).
        let (src, accumulate): (&[E], bool) = if kind == CellKind::Gru {
            dh.copy_from_slice(&dh_next);
            (dhp, true)
        } else {
            (dp, false)
        };
        s.step_gemm([batch, gh, h], &src[t * gh..], row, dh, h, accumulate);
    }
}

/// Gradients `[dp [B,T,G*H], dw [H,G*H], db_hh [G*H], dh0 [B,H], dc0 [B,H]]` of [`forward`].
/// `db_hh` is computed for the GRU only (the others fold `b_hh` into `p`) and is zeros otherwise.
pub(crate) type Grads<E> = [Vec<E>; 5];

/// The backward pass of [`forward`] from its trace (owned when the caller can hand it over:
/// the LSTM then reuses its activation buffer for the gradients).
///
/// # Shapes
/// - `d_out`: `[B, T, H]`, the gradient of the output
/// - `d_hidden`, `d_cell`: `[B, H]`, the gradients of the final hidden state and of the LSTM's
///   final cell state, or empty when the loss does not use them
pub(crate) fn backward<E: Real>(
    s: Cow<'_, HostTrace<E>>,
    d_out: &[E],
    d_hidden: &[E],
    d_cell: &[E],
) -> Grads<E> {
    let (batch, seq, h) = (s.batch, s.seq, s.hidden);
    let kind = s.rec.kind;
    let gh = kind.gates() * h;
    // The LSTM's gradients are written over its activations: the trace's own buffer when the
    // trace is handed over, else a copy of it.
    let (s, mut dp) = match (kind, s) {
        (CellKind::Lstm, Cow::Owned(mut s)) => {
            let acts = std::mem::take(&mut s.acts);
            (Cow::Owned(s), acts)
        }
        (CellKind::Lstm, Cow::Borrowed(s)) => (Cow::Borrowed(s), buffers::copy(&s.acts)),
        (_, s) => (s, buffers::zeros(batch * seq * gh)),
    };
    // GRU: the gradient of W_h h + b_h differs from dp in the n block.
    let mut dhp = if kind == CellKind::Gru {
        buffers::zeros(batch * seq * gh)
    } else {
        Vec::new()
    };
    let mut dh = vec![E::ZERO; batch * h];
    let mut dc = vec![E::ZERO; batch * h];
    // h_{t-1} for the step at time position t, `[B, T, H]`, for dW = H_prev^T dG.
    let mut h_prev = buffers::zeros(batch * seq * h);
    {
        let rows = chunk_rows(batch);
        let shared = Shared::backward(s.rec, seq, h, &s.w);
        // Only the GRU reads kept activations apart from dp.
        let (kept, acts_row): (&[E], usize) = if kind == CellKind::Gru {
            (&s.acts, 4 * h)
        } else {
            (&[], 0)
        };
        let mut d_out = split(d_out, seq * h, &rows);
        let mut d_hidden = split(d_hidden, h, &rows);
        let mut d_cell = split(d_cell, h, &rows);
        let mut out = split(&s.out, seq * h, &rows);
        let mut acts = split(kept, seq * acts_row, &rows);
        let mut cells = split(&s.cells, seq * h, &rows);
        let mut h0 = split(&s.h0, h, &rows);
        let mut c0 = split(&s.c0, h, &rows);
        let mut dp_ = split_mut(&mut dp, seq * gh, &rows);
        let mut dhp_ = split_mut(&mut dhp, seq * gh, &rows);
        let mut h_prev_ = split_mut(&mut h_prev, seq * h, &rows);
        let mut dh_ = split_mut(&mut dh, h, &rows);
        let mut dc_ = split_mut(&mut dc, h, &rows);
        let chunks: Vec<BackwardChunk<E>> = rows
            .iter()
            .map(|_| BackwardChunk {
                d_out: d_out.next().expect("a chunk"),
                d_hidden: d_hidden.next().expect("a chunk"),
                d_cell: d_cell.next().expect("a chunk"),
                out: out.next().expect("a chunk"),
                acts: acts.next().expect("a chunk"),
                cells: cells.next().expect("a chunk"),
                h0: h0.next().expect("a chunk"),
                c0: c0.next().expect("a chunk"),
                dp: dp_.next().expect("a chunk"),
                dhp: dhp_.next().expect("a chunk"),
                h_prev: h_prev_.next().expect("a chunk"),
                dh: dh_.next().expect("a chunk"),
                dc: dc_.next().expect("a chunk"),
            })
            .collect();
        for_each_chunk(chunks, |c| backward_chunk(&shared, c));
    }
    let rec = if kind == CellKind::Gru { &dhp } else { &dp };
    // dW = H_prev^T dG over all batch rows and time steps: [H, B*T] x [B*T, G*H].
    let mut dw = vec![E::ZERO; h * gh];
    let threads = rayon::current_num_threads();
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
        threads,
    );
    let mut db = vec![E::ZERO; gh];
    if kind == CellKind::Gru {
        crate::kernels::add_rows(&mut db, rec);
    }
    [dp, dw, db, dh, dc]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell_kind::Activation;

    #[test]
    fn chunks_cover_the_batch() {
        for batch in [1, 3, 4, 7, 8, 13, 50] {
            let rows = chunk_rows(batch);
            assert_eq!(rows.iter().sum::<usize>(), batch, "{batch}");
            assert!(rows.iter().all(|&r| r >= 1));
            let buf: Vec<u8> = (0..batch * 2).map(|v| v as u8).collect();
            let parts: Vec<&[u8]> = split(&buf, 2, &rows).collect();
            assert_eq!(parts.concat(), buf);
        }
    }

    /// The backward from a shared trace (the LSTM copies its activations to write the
    /// gradients over) equals the backward from an owned one (it writes over the trace's own
    /// buffer), and leaves the shared trace as it was; for every cell, both directions.
    #[test]
    fn backward_from_a_shared_trace_equals_an_owned_one() {
        let (batch, seq, h) = (5, 4, 3);
        for kind in [CellKind::Rnn, CellKind::Lstm, CellKind::Gru] {
            for reverse in [false, true] {
                let rec = Recurrence {
                    kind,
                    activation: Activation::Tanh,
                    reverse,
                };
                let gh = kind.gates() * h;
                let v = |n: usize, s: f64| -> Vec<f64> {
                    (0..n).map(|i| (i as f64 * s).sin() * 0.8).collect()
                };
                let (.., trace) = forward(
                    rec,
                    [batch, seq, h],
                    v(batch * seq * gh, 0.37),
                    v(h * gh, 0.23),
                    &v(gh, 0.5),
                    v(batch * h, 0.7),
                    v(batch * h, 0.9),
                    true,
                );
                let trace = trace.expect("kept");
                let before = trace.clone();
                let d_out = v(batch * seq * h, 0.13);
                let d_last = v(batch * h, 0.31);
                let d_cell = if kind == CellKind::Lstm {
                    v(batch * h, 0.17)
                } else {
                    Vec::new()
                };
                let shared = backward(Cow::Borrowed(&trace), &d_out, &d_last, &d_cell);
                let owned = backward(Cow::Owned(trace.clone()), &d_out, &d_last, &d_cell);
                assert_eq!(shared, owned, "{kind:?} reverse={reverse}");
                assert_eq!(
                    trace.acts, before.acts,
                    "{kind:?}: the shared trace changed"
                );
                assert!(shared[0].iter().any(|&x| x != 0.0));
            }
        }
    }

    /// One LSTM step of the kernel against the equations written out in f64.
    #[test]
    fn one_lstm_step_matches_the_equations() {
        let (h, gh) = (2, 8);
        let p: Vec<f64> = (0..gh).map(|v| (v as f64 * 0.9).sin()).collect();
        let w: Vec<f64> = (0..h * gh).map(|v| (v as f64 * 0.4).cos() * 0.5).collect();
        let (h0, c0) = (vec![0.3, -0.2], vec![0.1, 0.5]);
        let rec = Recurrence {
            kind: CellKind::Lstm,
            activation: Activation::Tanh,
            reverse: false,
        };
        let (out, last, cell, _) = forward(
            rec,
            [1, 1, h],
            p.clone(),
            w.clone(),
            &[0.0; 8],
            h0.clone(),
            c0.clone(),
            false,
        );
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        for j in 0..h {
            let g = |q: usize| {
                p[q * h + j] + (0..h).map(|k| h0[k] * w[k * gh + q * h + j]).sum::<f64>()
            };
            let c = sig(g(1)) * c0[j] + sig(g(0)) * g(2).tanh();
            let hv = sig(g(3)) * c.tanh();
            assert!((cell[j] - c).abs() < 1e-12 && (last[j] - hv).abs() < 1e-12);
            assert_eq!(out[j], last[j]);
        }
    }
}
