//! Large host buffers made by all pool threads.
//!
//! A training step allocates buffers of megabytes (the recurrence's outputs and gradients, the
//! linear map's outputs). Made serially (`vec![0.0; n]`, `clone`, a row-by-row fill), each keeps
//! one thread busy while the others wait: on a 2-core machine these passes were a quarter of
//! the step's wall time with the second core idle. Here every pass runs in parallel blocks.
//! Results do not depend on the number of threads.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::Real;

/// Values per parallel block: enough work per block to outweigh handing it to a thread.
const BLOCK: usize = 1 << 15;

/// `len` zeros.
pub(crate) fn zeros<E: Real>(len: usize) -> Vec<E> {
    if len <= BLOCK {
        return vec![E::ZERO; len];
    }
    let mut v = Vec::with_capacity(len);
    v.spare_capacity_mut()[..len]
        .par_chunks_mut(BLOCK)
        .for_each(|s| s.fill(MaybeUninit::new(E::ZERO)));
    // SAFETY: the blocks above cover the first `len` values and wrote every one of them.
    unsafe { v.set_len(len) };
    v
}

/// A copy of `src`.
pub(crate) fn copy<E: Real>(src: &[E]) -> Vec<E> {
    let len = src.len();
    if len <= BLOCK {
        return src.to_vec();
    }
    let mut v = Vec::with_capacity(len);
    v.spare_capacity_mut()[..len]
        .par_chunks_mut(BLOCK)
        .zip(src.par_chunks(BLOCK))
        .for_each(|(d, s)| {
            for (d, s) in d.iter_mut().zip(s) {
                d.write(*s);
            }
        });
    // SAFETY: the blocks of `src` and of the first `len` values pair up one to one (same
    // lengths), and every value of each block was written.
    unsafe { v.set_len(len) };
    v
}

/// `n` copies of `row`, one after another (`[n, C]`, `C = row.len()`).
pub(crate) fn repeat_rows<E: Real>(row: &[E], n: usize) -> Vec<E> {
    let c = row.len();
    let len = n * c;
    if len <= BLOCK || c == 0 {
        return row.repeat(n);
    }
    let rows = BLOCK.div_ceil(c);
    let mut v = Vec::with_capacity(len);
    v.spare_capacity_mut()[..len]
        .par_chunks_mut(rows * c)
        .for_each(|block| {
            for r in block.chunks_exact_mut(c) {
                for (d, s) in r.iter_mut().zip(row) {
                    d.write(*s);
                }
            }
        });
    // SAFETY: every block holds whole rows (its length is a multiple of `c`, as `len` is) and
    // every value of each row was written.
    unsafe { v.set_len(len) };
    v
}

/// Adds the column sums of `m` (`[N, C]`, `C = acc.len()`) to `acc`: fixed blocks of rows sum
/// in parallel, then the block sums add up in order, so the result does not depend on the
/// number of threads.
pub(crate) fn add_rows<E: Real>(acc: &mut [E], m: &[E]) {
    let c = acc.len();
    if c == 0 {
        return;
    }
    let sum = |acc: &mut [E], m: &[E]| {
        for r in m.chunks_exact(c) {
            for (a, v) in acc.iter_mut().zip(r) {
                *a += *v;
            }
        }
    };
    let rows = (4 * BLOCK).div_ceil(c);
    if m.len() <= rows * c {
        return sum(acc, m);
    }
    let partial: Vec<Vec<E>> = m
        .par_chunks(rows * c)
        .map(|m| {
            let mut s = vec![E::ZERO; c];
            sum(&mut s, m);
            s
        })
        .collect();
    for s in partial {
        for (a, v) in acc.iter_mut().zip(s) {
            *a += v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_hold_what_the_serial_versions_do() {
        for len in [0, 5, BLOCK, BLOCK + 1, 3 * BLOCK + 17] {
            assert_eq!(zeros::<f32>(len), vec![0.0; len]);
            let src: Vec<f64> = (0..len).map(|i| i as f64 * 0.5).collect();
            assert_eq!(copy(&src), src);
        }
        for (c, n) in [
            (3, 0),
            (7, 10),
            (65, 2500),
            (BLOCK + 3, 3),
            (1, 5 * BLOCK + 1),
        ] {
            let row: Vec<f32> = (0..c).map(|i| i as f32).collect();
            assert_eq!(repeat_rows(&row, n), row.repeat(n), "{c} x {n}");
        }
    }

    #[test]
    fn column_sums_match_a_serial_sum_in_order() {
        for (c, n) in [(3, 0), (4, 10), (512, 2500), (65, 6400)] {
            let m: Vec<f64> = (0..n * c)
                .map(|i| ((i % 97) as f64 - 40.0) * 0.25)
                .collect();
            let mut got = vec![1.0; c];
            add_rows(&mut got, &m);
            let mut want = vec![1.0; c];
            for r in m.chunks_exact(c) {
                for (a, v) in want.iter_mut().zip(r) {
                    *a += *v;
                }
            }
            // Values are multiples of 1/4 well inside f64's exact range: any order sums exactly.
            assert_eq!(got, want, "{c} x {n}");
        }
    }
}
