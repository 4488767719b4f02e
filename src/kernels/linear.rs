//! The linear map `y = x W + b` and its gradients, as gemms on row-major slices with no
//! transposed copies (the gemm reads `x` and `W` with swapped strides in backward).

use super::{Real, add_rows, buffers};

/// `y = x W + b`.
///
/// # Shapes
/// - `x`: `[N, I]`, `w`: `[I, O]`, `b`: `[O]`; returns `y`: `[N, O]`
pub(crate) fn forward<E: Real>(x: &[E], w: &[E], b: &[E], [n, i, o]: [usize; 3]) -> Vec<E> {
    let mut y = buffers::repeat_rows(b, n);
    let threads = rayon::current_num_threads();
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
        threads,
    );
    y
}

/// The gradients `[dx, dW, db]` of [`forward`] from `dy`, each computed only when `need` asks
/// for it: `dx = dy W^T`, `dW = x^T dy`, `db` = the column sums of `dy`.
///
/// # Shapes
/// - `x`: `[N, I]`, `w`: `[I, O]`, `dy`: `[N, O]`; returns `dx` `[N, I]`, `dW` `[I, O]`, `db`
///   `[O]`
pub(crate) fn backward<E: Real>(
    x: &[E],
    w: &[E],
    dy: &[E],
    [n, i, o]: [usize; 3],
    need: [bool; 3],
) -> [Option<Vec<E>>; 3] {
    let threads = rayon::current_num_threads();
    let dx = need[0].then(|| {
        let mut dx = buffers::zeros(n * i);
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
        add_rows(&mut db, dy);
        db
    });
    [dx, dw, db]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_and_backward_match_loops() {
        let (n, i, o) = (4, 3, 5);
        let x: Vec<f64> = (0..n * i).map(|v| (v as f64 * 0.3).sin()).collect();
        let w: Vec<f64> = (0..i * o).map(|v| (v as f64 * 0.7).cos()).collect();
        let b: Vec<f64> = (0..o).map(|v| v as f64 * 0.1).collect();
        let dy: Vec<f64> = (0..n * o).map(|v| (v as f64 * 0.5).sin()).collect();
        let y = forward(&x, &w, &b, [n, i, o]);
        let [dx, dw, db] = backward(&x, &w, &dy, [n, i, o], [true; 3]);
        let (dx, dw, db) = (dx.unwrap(), dw.unwrap(), db.unwrap());
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        for r in 0..n {
            for c in 0..o {
                let want: f64 = b[c] + (0..i).map(|k| x[r * i + k] * w[k * o + c]).sum::<f64>();
                close(y[r * o + c], want);
            }
            for k in 0..i {
                let want: f64 = (0..o).map(|c| dy[r * o + c] * w[k * o + c]).sum();
                close(dx[r * i + k], want);
            }
        }
        for k in 0..i {
            for c in 0..o {
                let want: f64 = (0..n).map(|r| x[r * i + k] * dy[r * o + c]).sum();
                close(dw[k * o + c], want);
            }
        }
        for c in 0..o {
            close(db[c], (0..n).map(|r| dy[r * o + c]).sum());
        }
        assert!(backward(&x, &w, &dy, [n, i, o], [false, true, false])[0].is_none());
    }
}
