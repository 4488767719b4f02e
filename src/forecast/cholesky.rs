//! Solving the normal equations of a linear fit: a blocked Cholesky factorisation of a
//! symmetric positive definite matrix, its panels in parallel, its trailing updates matrix
//! products.

use rayon::prelude::*;

use crate::kernels::Real;

/// Columns of a block of the Cholesky factorisation.
const BLOCK: usize = 64;

/// Rows of the panel below a diagonal block that one task of [`solve_spd`] computes.
const PANEL_ROWS: usize = 16;

/// Columns `k0..k0 + kb` of `rows` (whole rows of `p` values) below a factorised diagonal block
/// (`diagonal`: that block's rows, from column 0): each row's `L21` values, in column order,
/// `(a - sum of l * l) / d` as the column-by-column factorisation computes them, four rows
/// interleaved so that their sums run side by side.
fn panel_rows(rows: &mut [f64], diagonal: &[f64], p: usize, k0: usize, kb: usize) {
    let l = |j: usize, k: usize| diagonal[j * p + k0 + k];
    for group in rows.chunks_mut(4 * p) {
        let n = group.len() / p;
        let mut x = [[0.0f64; BLOCK]; 4];
        for (r, row) in x.iter_mut().enumerate().take(n) {
            row[..kb].copy_from_slice(&group[r * p + k0..r * p + k0 + kb]);
        }
        for j in 0..kb {
            let d = l(j, j);
            let mut s = [x[0][j], x[1][j], x[2][j], x[3][j]];
            for (k, &ljk) in diagonal[j * p + k0..j * p + k0 + j].iter().enumerate() {
                s[0] -= x[0][k] * ljk;
                s[1] -= x[1][k] * ljk;
                s[2] -= x[2][k] * ljk;
                s[3] -= x[3][k] * ljk;
            }
            for (row, s) in x.iter_mut().zip(s) {
                row[j] = s / d;
            }
        }
        for (r, row) in x.iter().enumerate().take(n) {
            group[r * p + k0..r * p + k0 + kb].copy_from_slice(&row[..kb]);
        }
    }
}

/// The diagonal block of columns `k0..k0 + kb` of `a` (rows of `p` values, its earlier blocks'
/// updates applied), factorised in place column by column: `L11` on and below its diagonal.
fn factor_diagonal(a: &mut [f64], p: usize, k0: usize, kb: usize) {
    for j in k0..k0 + kb {
        let mut d = a[j * p + j];
        for k in k0..j {
            d -= a[j * p + k] * a[j * p + k];
        }
        let d = d.max(1e-300).sqrt();
        a[j * p + j] = d;
        for i in j + 1..k0 + kb {
            let mut s = a[i * p + j];
            for k in k0..j {
                s -= a[i * p + k] * a[j * p + k];
            }
            a[i * p + j] = s / d;
        }
    }
}

/// Solves `A X = B` for a symmetric positive definite `A` `[p, p]` and `B` `[p, m]` by Cholesky
/// factorisation (`A = L L^T`, by blocks of [`BLOCK`] columns whose trailing updates are
/// matrix products), in place.
pub(crate) fn solve_spd(mut a: Vec<f64>, mut b: Vec<f64>, p: usize, m: usize) -> Vec<f64> {
    let threads = rayon::current_num_threads();
    let mut panel = Vec::new();
    let mut negated = Vec::new();
    for k0 in (0..p).step_by(BLOCK) {
        let kb = BLOCK.min(p - k0);
        factor_diagonal(&mut a, p, k0, kb);
        // The rows below it (L21 = A21 L11^-T), each on its own: in parallel, four at a time.
        let (top, below) = a.split_at_mut((k0 + kb) * p);
        let diagonal = &top[k0 * p..];
        below
            .par_chunks_mut(PANEL_ROWS * p)
            .for_each(|rows| panel_rows(rows, diagonal, p, k0, kb));
        // The trailing matrix loses L21 L21^T.
        let (r0, rows) = (k0 + kb, p - k0 - kb);
        if rows == 0 {
            break;
        }
        panel.clear();
        negated.clear();
        for i in r0..p {
            panel.extend_from_slice(&a[i * p + k0..i * p + k0 + kb]);
            negated.extend(a[i * p + k0..i * p + k0 + kb].iter().map(|v| -v));
        }
        // On and below the diagonal only (the factorisation reads nothing above it): each
        // block of rows up to its last column. The blocks are wider than 64 (or the whole),
        // so each element is summed as by one product over the whole trailing matrix.
        for block in symmetric_blocks(rows) {
            f64::gemm(
                block.len(),
                kb,
                block.end,
                &negated[block.start * kb..],
                (kb, 1),
                &panel,
                (1, kb),
                1.0,
                &mut a[(r0 + block.start) * p + r0..],
                (p, 1),
                threads,
            );
        }
    }
    // The substitutions, each right-hand side on its own: the columns of `B` in `threads`
    // parts, each solved in parallel as the whole would be.
    let width = m.div_ceil(threads.max(1)).max(1);
    let mut parts: Vec<Vec<f64>> = (0..m)
        .step_by(width)
        .map(|c0| {
            let w = width.min(m - c0);
            (0..p)
                .flat_map(|i| b[i * m + c0..i * m + c0 + w].iter().copied())
                .collect()
        })
        .collect();
    parts.par_iter_mut().for_each(|part| {
        let w = part.len() / p.max(1);
        substitute(&a, part, p, w);
    });
    for (c, part) in parts.iter().enumerate() {
        let (c0, w) = (c * width, part.len() / p.max(1));
        for i in 0..p {
            b[i * m + c0..i * m + c0 + w].copy_from_slice(&part[i * w..(i + 1) * w]);
        }
    }
    b
}

/// `L Y = B`, then `L^T X = Y`, in place: `a` holds the factor `L` on and below its diagonal
/// (rows of `p` values), `b` is `[p, m]`.
fn substitute(a: &[f64], b: &mut [f64], p: usize, m: usize) {
    for i in 0..p {
        for k in 0..i {
            let l = a[i * p + k];
            let (done, rest) = b.split_at_mut(i * m);
            for (bi, bk) in rest[..m].iter_mut().zip(&done[k * m..(k + 1) * m]) {
                *bi -= l * bk;
            }
        }
        let d = a[i * p + i];
        for v in &mut b[i * m..(i + 1) * m] {
            *v /= d;
        }
    }
    for i in (0..p).rev() {
        for k in i + 1..p {
            let l = a[k * p + i];
            let (head, tail) = b.split_at_mut(k * m);
            for (bi, bk) in head[i * m..(i + 1) * m].iter_mut().zip(&tail[..m]) {
                *bi -= l * bk;
            }
        }
        let d = a[i * p + i];
        for v in &mut b[i * m..(i + 1) * m] {
            *v /= d;
        }
    }
}

/// The blocks of `p` rows (or features) whose products [`solve_spd`]'s trailing updates and the
/// normal equations of a linear fit compute on and below the diagonal: 192 each, the last 128
/// to 319; one block below 320.
pub(super) fn symmetric_blocks(p: usize) -> Vec<std::ops::Range<usize>> {
    let mut blocks: Vec<std::ops::Range<usize>> = (0..p)
        .step_by(192)
        .map(|start| start..(start + 192).min(p))
        .collect();
    while blocks.len() > 1 && blocks.last().is_some_and(|b| b.len() < 128) {
        let last = blocks.pop().expect("a block");
        blocks.last_mut().expect("a block").end = last.end;
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`solve_spd`] with the whole trailing matrix updated by one product and the right-hand
    /// sides substituted together.
    fn whole(mut a: Vec<f64>, mut b: Vec<f64>, p: usize, m: usize) -> Vec<f64> {
        for k0 in (0..p).step_by(BLOCK) {
            let kb = BLOCK.min(p - k0);
            factor_diagonal(&mut a, p, k0, kb);
            let (top, below) = a.split_at_mut((k0 + kb) * p);
            panel_rows(below, &top[k0 * p..], p, k0, kb);
            let (r0, rows) = (k0 + kb, p - k0 - kb);
            if rows == 0 {
                break;
            }
            let panel: Vec<f64> = (r0..p)
                .flat_map(|i| a[i * p + k0..i * p + k0 + kb].to_vec())
                .collect();
            let negated: Vec<f64> = panel.iter().map(|v| -v).collect();
            f64::gemm(
                rows,
                kb,
                rows,
                &negated,
                (kb, 1),
                &panel,
                (1, kb),
                1.0,
                &mut a[r0 * p + r0..],
                (p, 1),
                2,
            );
        }
        substitute(&a, &mut b, p, m);
        b
    }

    #[test]
    fn blocked_cholesky_solves_beyond_one_block() {
        // A = M M^T + p I with p spanning five blocks of the trailing update and a remainder.
        let (p, m) = (5 * BLOCK * 3 + 37, 3);
        let mut state = 7_u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let g: Vec<f64> = (0..p * p).map(|_| next()).collect();
        let mut a = vec![0.0; p * p];
        for i in 0..p {
            for j in 0..p {
                a[i * p + j] = (0..p).map(|k| g[i * p + k] * g[j * p + k]).sum::<f64>();
            }
            a[i * p + i] += p as f64;
        }
        let b: Vec<f64> = (0..p * m).map(|_| next()).collect();
        let x = solve_spd(a.clone(), b.clone(), p, m);
        // The same numbers, to the bit, as the whole trailing matrix updated by one product and
        // the right-hand sides substituted together.
        assert_eq!(x, whole(a.clone(), b.clone(), p, m));
        for i in 0..p {
            for c in 0..m {
                let ax: f64 = (0..p).map(|k| a[i * p + k] * x[k * m + c]).sum();
                assert!(
                    (ax - b[i * m + c]).abs() < 1e-9,
                    "row {i}: {ax} vs {}",
                    b[i * m + c]
                );
            }
        }
    }
}
