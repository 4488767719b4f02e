//! The recurrence of a whole layer direction on host memory, for the ndarray backend.
//!
//! Burn's ndarray backend runs every elementwise op as its own pass (f32 `tanh` goes through
//! f64 libm) and wakes its thread pool for tiny per-step tensors. Here one step is a gemm
//! written in place into the step's rows of the projected input (`matrixmultiply` with strides,
//! no copies) and one fused loop over `[B, G*H]` for all the gate math. f32 uses a rational
//! `tanh` accurate to a few ulp (Eigen's); f64 uses `std`'s, so the f64 parity tests keep 1e-9.
//!
//! Layout: row-major buffers. `p` is `[B, T, G*H]`, `w` is `[H, G*H]`, states are `[B, H]`.
//! The output is `[B, T + 1, H]`: the hidden state at every time position, then the final LSTM
//! cell state (or the final hidden state for RNN and GRU), as in [`crate::fused`].

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
    + std::ops::AddAssign
    + 'static
{
    const ZERO: Self;
    const ONE: Self;
    const HALF: Self;
    fn tanh(self) -> Self;
    /// `C = A B + beta C` with strides (row, column) for each operand.
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
    );
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
    ($t:ty, $gemm:path, $tanh:expr) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const HALF: Self = 0.5;
            #[inline(always)]
            fn tanh(self) -> Self {
                $tanh(self)
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
            ) {
                assert!(extent(m, k, sa) <= a.len(), "gemm: A out of bounds");
                assert!(extent(k, n, sb) <= b.len(), "gemm: B out of bounds");
                assert!(extent(m, n, sc) <= c.len(), "gemm: C out of bounds");
                // SAFETY: the asserts above keep every access of the three strided operands
                // inside their slices, and `c` is borrowed mutably, so it aliases neither `a`
                // nor `b`.
                unsafe {
                    $gemm(
                        m,
                        k,
                        n,
                        1.0,
                        a.as_ptr(),
                        sa.0 as isize,
                        sa.1 as isize,
                        b.as_ptr(),
                        sb.0 as isize,
                        sb.1 as isize,
                        beta,
                        c.as_mut_ptr(),
                        sc.0 as isize,
                        sc.1 as isize,
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

real!(f32, matrixmultiply::sgemm, tanh_f32);
real!(f64, matrixmultiply::dgemm, f64::tanh);

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
    /// `[B, T + 1, H]`, the output.
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

/// Runs the recurrence. `b_hh` is `[G*H]` (used by the GRU only).
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
) -> (Vec<E>, Option<Saved<E>>) {
    let h = hidden;
    let gates = match kind {
        Recurrence::Tanh | Recurrence::Relu => 1,
        Recurrence::Lstm => 4,
        Recurrence::Gru => 3,
    };
    let gh = gates * h;
    let row = seq * gh; // stride of batch rows in p
    let mut out = vec![E::ZERO; batch * (seq + 1) * h];
    let mut state = h0.clone();
    let mut cell = c0.clone();
    let mut cells = if kind == Recurrence::Lstm && keep {
        vec![E::ZERO; batch * seq * h]
    } else {
        Vec::new()
    };
    // GRU: W_h h + b_h of the step, and the saved (r, z, n, W_hn h + b_hn) per step.
    let mut hp = if kind == Recurrence::Gru {
        vec![E::ZERO; batch * gh]
    } else {
        Vec::new()
    };
    let mut gru_acts = if kind == Recurrence::Gru && keep {
        vec![E::ZERO; batch * seq * 4 * h]
    } else {
        Vec::new()
    };
    for k in 0..seq {
        let t = pos(reverse, seq, k);
        match kind {
            Recurrence::Gru => {
                for b in 0..batch {
                    hp[b * gh..(b + 1) * gh].copy_from_slice(b_hh);
                }
                E::gemm(
                    batch,
                    h,
                    gh,
                    &state,
                    (h, 1),
                    &w,
                    (gh, 1),
                    E::ONE,
                    &mut hp,
                    (gh, 1),
                );
            }
            _ => {
                // p[:, t, :] += h W, in place.
                let c = &mut p[t * gh..];
                E::gemm(
                    batch,
                    h,
                    gh,
                    &state,
                    (h, 1),
                    &w,
                    (gh, 1),
                    E::ONE,
                    c,
                    (row, 1),
                );
            }
        }
        for b in 0..batch {
            let g = &mut p[b * row + t * gh..b * row + (t + 1) * gh];
            let hs = &mut state[b * h..(b + 1) * h];
            match kind {
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
                    let (gi, rest) = g.split_at_mut(h);
                    let (gf, rest) = rest.split_at_mut(h);
                    let (gg, go) = rest.split_at_mut(h);
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
                    if keep {
                        cells[(b * seq + t) * h..(b * seq + t + 1) * h].copy_from_slice(cs);
                    }
                }
                Recurrence::Gru => {
                    let hpb = &hp[b * gh..(b + 1) * gh];
                    let acts: &mut [E] = if keep {
                        &mut gru_acts[(b * seq + t) * 4 * h..(b * seq + t + 1) * 4 * h]
                    } else {
                        &mut []
                    };
                    for j in 0..h {
                        let r = (g[j] + hpb[j]).sigmoid();
                        let z = (g[h + j] + hpb[h + j]).sigmoid();
                        let hn = hpb[2 * h + j];
                        let n = (g[2 * h + j] + r * hn).tanh();
                        hs[j] = n + z * (hs[j] - n);
                        if keep {
                            acts[j] = r;
                            acts[h + j] = z;
                            acts[2 * h + j] = n;
                            acts[3 * h + j] = hn;
                        }
                    }
                }
            }
            out[(b * (seq + 1) + t) * h..(b * (seq + 1) + t + 1) * h].copy_from_slice(hs);
        }
    }
    let last = if kind == Recurrence::Lstm {
        &cell
    } else {
        &state
    };
    for b in 0..batch {
        out[(b * (seq + 1) + seq) * h..(b * (seq + 1) + seq + 1) * h]
            .copy_from_slice(&last[b * h..(b + 1) * h]);
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
    (out, saved)
}

/// Gradients `(dp [B,T,G*H], dw [H,G*H], db_hh [G*H], dh0 [B,H], dc0 [B,H])` from the gradient
/// of the output `[B, T + 1, H]`.
pub(crate) type Grads<E> = (Vec<E>, Vec<E>, Vec<E>, Vec<E>, Vec<E>);

/// The backward pass of [`forward`].
pub(crate) fn backward<E: Real>(s: &Saved<E>, d_out: &[E]) -> Grads<E> {
    let (batch, seq, h) = (s.batch, s.seq, s.hidden);
    let gates = match s.kind {
        Recurrence::Tanh | Recurrence::Relu => 1,
        Recurrence::Lstm => 4,
        Recurrence::Gru => 3,
    };
    let gh = gates * h;
    let row = seq * gh;
    let orow = (seq + 1) * h;
    let mut dp = vec![E::ZERO; batch * row];
    // GRU: the gradient of W_h h + b_h differs from dp in the n block.
    let mut dhp = if s.kind == Recurrence::Gru {
        vec![E::ZERO; batch * row]
    } else {
        Vec::new()
    };
    let mut dh = vec![E::ZERO; batch * h];
    let mut dc = vec![E::ZERO; batch * h];
    let mut dh_next = vec![E::ZERO; batch * h];
    for b in 0..batch {
        let last = &d_out[b * orow + seq * h..b * orow + (seq + 1) * h];
        if s.kind == Recurrence::Lstm {
            dc[b * h..(b + 1) * h].copy_from_slice(last);
        } else {
            dh[b * h..(b + 1) * h].copy_from_slice(last);
        }
    }
    // h_{t-1} for the step at time position t, `[B, T, H]`, for dW = H_prev^T dG.
    let mut h_prev = vec![E::ZERO; batch * seq * h];
    for k in 0..seq {
        let t = pos(s.reverse, seq, k);
        for b in 0..batch {
            let src = if k == 0 {
                &s.h0[b * h..(b + 1) * h]
            } else {
                let tp = pos(s.reverse, seq, k - 1);
                &s.out[b * orow + tp * h..b * orow + (tp + 1) * h]
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
            let hs = &s.out[b * orow + t * h..b * orow + (t + 1) * h];
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
                    let a = &s.acts[b * row + t * gh..b * row + (t + 1) * gh];
                    let c = &s.cells[(b * seq + t) * h..(b * seq + t + 1) * h];
                    let c_prev: &[E] = if k == 0 {
                        &s.c0[b * h..(b + 1) * h]
                    } else {
                        let tp = pos(s.reverse, seq, k - 1);
                        &s.cells[(b * seq + tp) * h..(b * seq + tp + 1) * h]
                    };
                    let dcb = &mut dc[b * h..(b + 1) * h];
                    for j in 0..h {
                        let (i, f, gv, o) = (a[j], a[h + j], a[2 * h + j], a[3 * h + j]);
                        let tc = c[j].tanh();
                        let d_o = dhb[j] * tc;
                        let dct = dcb[j] + dhb[j] * o * (E::ONE - tc * tc);
                        g[j] = dct * gv * i * (E::ONE - i);
                        g[h + j] = dct * c_prev[j] * f * (E::ONE - f);
                        g[2 * h + j] = dct * i * (E::ONE - gv * gv);
                        g[3 * h + j] = d_o * o * (E::ONE - o);
                        dcb[j] = dct * f;
                    }
                }
                Recurrence::Gru => {
                    let a = &s.acts[(b * seq + t) * 4 * h..(b * seq + t + 1) * 4 * h];
                    let hp = &h_prev[(b * seq + t) * h..(b * seq + t + 1) * h];
                    let gr = &mut dhp[b * row + t * gh..b * row + (t + 1) * gh];
                    let next = &mut dh_next[b * h..(b + 1) * h];
                    for j in 0..h {
                        let (r, z, n, hn) = (a[j], a[h + j], a[2 * h + j], a[3 * h + j]);
                        let d = dhb[j];
                        let dnp = d * (E::ONE - z) * (E::ONE - n * n);
                        let drp = dnp * hn * r * (E::ONE - r);
                        let dzp = d * (hp[j] - n) * z * (E::ONE - z);
                        g[j] = drp;
                        g[h + j] = dzp;
                        g[2 * h + j] = dnp;
                        gr[j] = drp;
                        gr[h + j] = dzp;
                        gr[2 * h + j] = dnp * r;
                        next[j] = d * z;
                    }
                }
            }
        }
        // dh = dG_t W^T (+ the GRU's direct path z * dh).
        let (src, beta) = if s.kind == Recurrence::Gru {
            (&dhp, E::ONE)
        } else {
            (&dp, E::ZERO)
        };
        if s.kind == Recurrence::Gru {
            dh.copy_from_slice(&dh_next);
        }
        E::gemm(
            batch,
            gh,
            h,
            &src[t * gh..],
            (row, 1),
            &s.w,
            (1, gh),
            beta,
            &mut dh,
            (h, 1),
        );
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
