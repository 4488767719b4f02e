//! The recurrence's gate maths on host memory, one batch row at a time: forward then backward
//! for each cell, in PyTorch's gate order (LSTM `i, f, g, o`; GRU `r, z, n`). The CubeCL kernels
//! in `cube.rs` beside this file compute the same equations on the GPU.

use crate::cell_kind::Activation;
use crate::kernels::Real;

// ---------------------------------------------------------------------------------------------
// Gate loops of one batch row, forward then backward for each cell. Each takes its slices as
// separate arguments (not in arrays or structs: only reference parameters tell the compiler that
// they do not overlap, and without that it does not vectorise the loop; bundling them cost 30%
// of workload M), and all slices have `h.len()` or more values.

/// Vanilla RNN forward: `h = act(g)`, also left in `g` (the backward reads it from the output).
#[inline(always)]
pub(super) fn rnn_forward<E: Real>(activation: Activation, g: &mut [E], h: &mut [E]) {
    match activation {
        Activation::Tanh => {
            for (x, s) in g.iter_mut().zip(h.iter_mut()) {
                *x = x.tanh();
                *s = *x;
            }
        }
        Activation::Relu => {
            for (x, s) in g.iter_mut().zip(h.iter_mut()) {
                if *x < E::ZERO {
                    *x = E::ZERO;
                }
                *s = *x;
            }
        }
    }
}

/// Vanilla RNN backward: the gradient of the pre-activation from `dh` and the output `h`.
#[inline(always)]
pub(super) fn rnn_backward<E: Real>(activation: Activation, h: &[E], dh: &[E], g: &mut [E]) {
    let n = g.len();
    let (h, dh) = (&h[..n], &dh[..n]);
    match activation {
        Activation::Tanh => {
            for j in 0..n {
                g[j] = dh[j] * (E::ONE - h[j] * h[j]);
            }
        }
        Activation::Relu => {
            for j in 0..n {
                g[j] = if h[j] > E::ZERO { dh[j] } else { E::ZERO };
            }
        }
    }
}

/// LSTM forward: from the pre-activations of the four gates, `c = σ(f) c + σ(i) tanh(g)` and
/// `h = σ(o) tanh(c)`; the gate slices are overwritten with the activations `i, f, g, o`.
#[inline(always)]
pub(crate) fn lstm_forward<E: Real>(
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

/// LSTM backward of one step, in place: the gate slices hold the activations `i, f, g, o` on
/// entry and the gradients of the four pre-activations on exit (the backward reads each
/// activation once, then writes its gradient over it: no separate buffer to zero and fill).
/// From them, the cell state `c` and the previous one and the gradients `dh` and `dc` (updated
/// to `dc_{t-1}`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn lstm_backward<E: Real>(
    gi: &mut [E],
    gf: &mut [E],
    gg: &mut [E],
    go: &mut [E],
    cv: &[E],
    c_prev: &[E],
    dh: &[E],
    dc: &mut [E],
) {
    let h = dc.len();
    let (cv, c_prev, dh) = (&cv[..h], &c_prev[..h], &dh[..h]);
    let (gi, gf, gg, go) = (&mut gi[..h], &mut gf[..h], &mut gg[..h], &mut go[..h]);
    for j in 0..h {
        let (i, f, gv, o) = (gi[j], gf[j], gg[j], go[j]);
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

/// GRU forward: from the input part `x = [xr, xz, xn]` and the recurrent part
/// `hp = h W_hh + b_hh = [hr, hz, hn]`, `r = σ(xr + hr)`, `z = σ(xz + hz)`,
/// `n = tanh(xn + r hn)`, `h = n + z (h - n)` in place.
#[inline(always)]
pub(crate) fn gru_forward<E: Real>(
    xr: &[E],
    xz: &[E],
    xn: &[E],
    hr: &[E],
    hz: &[E],
    hn: &[E],
    hs: &mut [E],
) {
    let h = hs.len();
    let (xr, xz, xn, hr, hz, hn) = (&xr[..h], &xz[..h], &xn[..h], &hr[..h], &hz[..h], &hn[..h]);
    for j in 0..h {
        let r = (xr[j] + hr[j]).sigmoid();
        let z = (xz[j] + hz[j]).sigmoid();
        let n = (xn[j] + r * hn[j]).tanh();
        hs[j] = n + z * (hs[j] - n);
    }
}

/// [`gru_forward`] that also keeps `r, z, n` and `hn` for the backward.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn gru_forward_keep<E: Real>(
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

/// GRU backward of one step: from the kept `[r, z, n, hn]`, the previous state and `dh`, writes
/// the gradients of the input pre-activations `dx = [dr, dz, dn]`, of the recurrent part
/// `dhp = [dr, dz, dn r]` and the direct path `z dh` into `next` (the part of `dh_{t-1}` that
/// does not go through `W_hh`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn gru_backward<E: Real>(
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

/// The first three blocks of `h` values of `s`.
#[inline(always)]
pub(super) fn blocks3<E>(s: &[E], h: usize) -> [&[E]; 3] {
    let (a, r) = s.split_at(h);
    let (b, r) = r.split_at(h);
    [a, b, &r[..h]]
}

/// [`blocks3`] for mutable slices.
#[inline(always)]
pub(super) fn blocks3_mut<E>(s: &mut [E], h: usize) -> [&mut [E]; 3] {
    let (a, r) = s.split_at_mut(h);
    let (b, r) = r.split_at_mut(h);
    [a, b, &mut r[..h]]
}

/// The first four blocks of `h` values of `s`.
#[inline(always)]
pub(super) fn blocks4<E>(s: &[E], h: usize) -> [&[E]; 4] {
    let (a, r) = s.split_at(h);
    let (b, r) = r.split_at(h);
    let (c, r) = r.split_at(h);
    [a, b, c, &r[..h]]
}

/// [`blocks4`] for mutable slices.
#[inline(always)]
pub(crate) fn blocks4_mut<E>(s: &mut [E], h: usize) -> [&mut [E]; 4] {
    let (a, r) = s.split_at_mut(h);
    let (b, r) = r.split_at_mut(h);
    let (c, r) = r.split_at_mut(h);
    [a, b, c, &mut r[..h]]
}
