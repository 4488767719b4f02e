//! The row lookup (an embedding): rows of a table picked by id, and its gradient, the rows of
//! the output gradient summed back into the table's rows.

use rayon::prelude::*;

use super::{Real, block_rows};

/// Rows of `table` picked by `ids`; rows copy in parallel.
///
/// # Shapes
/// - `table`: `[V, G]`, `ids`: `[N]` with values below `V`; returns `[N, G]`
pub(crate) fn gather_rows<E: Real>(table: &[E], ids: &[usize], g: usize) -> Vec<E> {
    let len = ids.len() * g;
    if g == 0 {
        return Vec::new();
    }
    let block = block_rows(ids.len());
    let mut out = Vec::with_capacity(len);
    out.spare_capacity_mut()[..len]
        .par_chunks_mut(block * g)
        .zip(ids.par_chunks(block))
        .for_each(|(rows, ids)| {
            for (row, &i) in rows.chunks_exact_mut(g).zip(ids) {
                for (d, s) in row.iter_mut().zip(&table[i * g..(i + 1) * g]) {
                    d.write(*s);
                }
            }
        });
    // SAFETY: the blocks cover the first `len` values in whole rows of `g`, one row per id,
    // and every value of every row was written (an id outside the table panics at its slice
    // above, before this line, and the vector is dropped empty).
    unsafe { out.set_len(len) };
    out
}

/// The gradient of [`gather_rows`]: the rows of `d` summed into the table's rows by `ids`.
/// Blocks of rows sum into their own `[V, G]` when that is small beside `d`, then add up.
///
/// # Shapes
/// - `d`: `[N, G]`, `ids`: `[N]`; returns `[V, G]`
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
    fn gather_then_scatter_add_match_loops() {
        let (v, g) = (3, 2);
        let table: Vec<f64> = (0..v * g).map(|x| x as f64).collect();
        // Enough rows for the per-block path as well as the serial one.
        let ids: Vec<usize> = (0..40).map(|k| (k * 7) % v).collect();
        let rows = gather_rows(&table, &ids, g);
        for (k, &i) in ids.iter().enumerate() {
            assert_eq!(&rows[k * g..(k + 1) * g], &table[i * g..(i + 1) * g]);
        }
        let d: Vec<f64> = (0..ids.len() * g).map(|x| (x as f64).sqrt()).collect();
        let sum = scatter_add_rows(&d, &ids, g, v);
        let mut want = vec![0.0; v * g];
        for (k, &i) in ids.iter().enumerate() {
            for c in 0..g {
                want[i * g + c] += d[k * g + c];
            }
        }
        for (a, b) in sum.iter().zip(&want) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }
}
