//! Softmax cross-entropy over the rows of a logit matrix, mean over rows (PyTorch's
//! `F.cross_entropy`), forward in one parallel pass and backward in one.

use rayon::prelude::*;

use super::{Real, block_rows};

/// Mean softmax cross-entropy of the rows of `logits` against `targets`. `logits` is
/// overwritten with the softmax probabilities, which [`backward`] turns into the gradient. Rows
/// run in parallel; the sum is accumulated in f64.
///
/// # Shapes
/// - `logits`: `[N, V]`, `targets`: `[N]` with values below `V`
pub(crate) fn forward<E: Real>(logits: &mut [E], targets: &[usize], v: usize) -> E {
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

/// Turns the probabilities left by [`forward`] into the gradient of the logits,
/// `(p - onehot(target)) * scale` (`scale` = upstream gradient / N), in place.
///
/// # Shapes
/// - `probs`: `[N, V]`, `targets`: `[N]`
pub(crate) fn backward<E: Real>(probs: &mut [E], targets: &[usize], v: usize, scale: E) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_and_gradient_match_the_formula() {
        let v = 4;
        let logits: Vec<f64> = (0..3 * v).map(|x| (x as f64 * 1.3).sin() * 3.0).collect();
        let targets = [2usize, 0, 3];
        let mut probs = logits.clone();
        let loss = forward(&mut probs, &targets, v);
        let mut want = 0.0;
        for (r, &t) in targets.iter().enumerate() {
            let row = &logits[r * v..(r + 1) * v];
            let lse = row.iter().map(|x| x.exp()).sum::<f64>().ln();
            want += lse - row[t];
        }
        assert!(
            (loss - want / 3.0).abs() < 1e-12,
            "{loss} vs {}",
            want / 3.0
        );
        backward(&mut probs, &targets, v, 0.5);
        for (r, &t) in targets.iter().enumerate() {
            let row = &logits[r * v..(r + 1) * v];
            let z: f64 = row.iter().map(|x| x.exp()).sum();
            for c in 0..v {
                let p = row[c].exp() / z - if c == t { 1.0 } else { 0.0 };
                assert!((probs[r * v + c] - 0.5 * p).abs() < 1e-12);
            }
        }
    }
}
