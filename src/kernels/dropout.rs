//! Dropout masks from a counter-based generator, applied in parallel blocks.
//!
//! Element `i` of a call with key `k` is kept when the SplitMix64 output for counter `i` of
//! stream `k` is below `keep · 2^64`: the mask is a pure function of `(k, i)`, so the forward
//! pass and the backward pass compute the same mask without storing it, and the result does not
//! depend on the number of threads. Burn's own dropout draws every element from one sequential
//! generator (ChaCha) behind a lock, then multiplies twice; on a 2-core CPU that was a third of
//! a character model's training step.

use rayon::prelude::*;

use super::Real;

/// Values per parallel block.
const BLOCK: usize = 1 << 14;

/// SplitMix64's increment (the golden ratio in 64 bits).
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 output for counter `i` of the stream that starts at `key`.
#[inline(always)]
fn splitmix64(key: u64, i: u64) -> u64 {
    let mut z = key.wrapping_add(i.wrapping_add(1).wrapping_mul(GOLDEN));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The threshold below which an element is kept with probability `keep` (in `(0, 1)`).
fn threshold(keep: f64) -> u64 {
    // 2^64 · keep, exact to the last bit of `keep`'s 53 (as u64 saturates at the top).
    (keep * 18_446_744_073_709_551_616.0) as u64
}

/// `x` with each element kept with probability `keep` and scaled by `1 / keep`, or zeroed:
/// `y_i = x_i · (1 / keep)` where the mask of `key` keeps `i`, else `0` (as Burn's dropout:
/// the scale is `1 / keep` rounded to `E`, one product per element).
///
/// The same call on the output's gradient is the backward pass. Works in place on `x`'s buffer.
pub(crate) fn apply<E: Real>(mut x: Vec<E>, key: u64, keep: f64) -> Vec<E> {
    let t = threshold(keep);
    let scale = E::from_f64(1.0 / keep);
    let block = |start: usize, x: &mut [E]| {
        for (j, x) in x.iter_mut().enumerate() {
            let kept = splitmix64(key, (start + j) as u64) < t;
            *x = if kept { *x * scale } else { E::ZERO };
        }
    };
    if x.len() <= BLOCK {
        block(0, &mut x);
    } else {
        x.par_chunks_mut(BLOCK)
            .enumerate()
            .for_each(|(b, x)| block(b * BLOCK, x));
    }
    x
}

/// Whether the mask of `key` keeps element `i` with probability `keep` (for tests).
#[cfg(test)]
pub(crate) fn kept(key: u64, i: usize, keep: f64) -> bool {
    splitmix64(key, i as u64) < threshold(keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_is_the_reference_generator() {
        // The first outputs of SplitMix64 seeded with 1234567 (Vigna's splitmix64.c).
        let expected = [
            6457827717110365317u64,
            3203168211198807973,
            9817491932198370423,
            4593380528125082431,
            16408922859458223821,
        ];
        for (i, e) in expected.iter().enumerate() {
            assert_eq!(splitmix64(1234567, i as u64), *e, "output {i}");
        }
    }

    #[test]
    fn keeps_the_share_asked_for_and_scales_what_it_keeps() {
        let n = 3 * BLOCK + 123;
        let x: Vec<f32> = (0..n).map(|i| 1.0 + (i % 97) as f32 * 0.25).collect();
        for keep in [0.5, 0.9, 0.75] {
            let y = apply(x.clone(), 42, keep);
            let scale = (1.0 / keep) as f32;
            let mut kept_count = 0;
            for (i, (&x, &y)) in x.iter().zip(&y).enumerate() {
                if kept(42, i, keep) {
                    assert_eq!(y, x * scale, "element {i}");
                    kept_count += 1;
                } else {
                    assert_eq!(y, 0.0, "element {i}");
                }
            }
            // Binomial(n, keep): five standard deviations.
            let mean = n as f64 * keep;
            let sd = (n as f64 * keep * (1.0 - keep)).sqrt();
            assert!(
                (kept_count as f64 - mean).abs() < 5.0 * sd,
                "kept {kept_count} of {n} for keep {keep}"
            );
        }
    }

    #[test]
    fn the_mask_is_a_function_of_the_key_and_the_index() {
        let x = vec![1.0f64; 2 * BLOCK + 5];
        assert_eq!(apply(x.clone(), 7, 0.9), apply(x.clone(), 7, 0.9));
        assert_ne!(apply(x.clone(), 7, 0.9), apply(x.clone(), 8, 0.9));
        // A block's mask is the serial loop's: no dependence on how the work is split.
        let serial: Vec<f64> = (0..x.len())
            .map(|i| if kept(7, i, 0.9) { 1.0 / 0.9 } else { 0.0 })
            .collect();
        assert_eq!(apply(x.clone(), 7, 0.9), serial);
        // Neighbouring elements are not correlated: pairs kept together about keep^2 of the time.
        let n = x.len() - 1;
        let both = (0..n)
            .filter(|&i| kept(7, i, 0.5) && kept(7, i + 1, 0.5))
            .count();
        let sd = (n as f64 * 0.25 * 0.75).sqrt();
        assert!(
            (both as f64 - n as f64 * 0.25).abs() < 5.0 * sd,
            "{both} of {n}"
        );
    }
}
