//! Dropout masks from a counter-based generator, applied in parallel blocks.
//!
//! Element `i` of a call with key `k` is kept when 32 bits hashed from `(k, i)` (two rounds of
//! MurmurHash3's finaliser, keyed by the two halves of `k`) are below `keep · 2^32`: the mask is
//! a pure function of `(k, i)`, so the forward pass and the backward pass compute the same mask
//! without storing it, and the result does not depend on the number of threads. The hash is
//! 32-bit integer arithmetic, so the loop runs eight elements at a time with AVX2 (sixteen with
//! AVX-512). Burn's own dropout draws every element from one sequential generator (ChaCha)
//! behind a lock, then multiplies twice; on a 2-core CPU that was a third of a character model's
//! training step.

use rayon::prelude::*;

use super::Real;

/// Values per parallel block (a power of two, so that no block straddles a multiple of 2^32).
const BLOCK: usize = 1 << 14;

/// MurmurHash3's 32-bit finaliser: a bijection of `u32` in which every input bit flips every
/// output bit with probability close to 1/2.
#[inline(always)]
fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85EB_CA6B);
    h ^= h >> 13;
    h = h.wrapping_mul(0xC2B2_AE35);
    h ^ (h >> 16)
}

/// The 32 random bits of element `i` under `key`, from the low 32 bits of `i` and the key's
/// halves; `hi` is the key's high half with the high bits of `i` folded in (see [`halves`]).
#[inline(always)]
fn bits(lo: u32, hi: u32, i: u32) -> u32 {
    fmix32(fmix32(i ^ lo).wrapping_add(hi))
}

/// The key's halves for the elements from `start` on (up to the next multiple of 2^32).
fn halves(key: u64, start: usize) -> (u32, u32) {
    (key as u32, (key >> 32) as u32 ^ (start as u64 >> 32) as u32)
}

/// The threshold below which an element is kept with probability `keep` (in `(0, 1)`).
fn threshold(keep: f64) -> u32 {
    // 2^32 · keep, saturating just below 1.
    (keep * 4_294_967_296.0) as u32
}

/// `x` with each element kept with probability `keep` and scaled by `1 / keep`, or zeroed:
/// `y_i = x_i · (1 / keep)` where the mask of `key` keeps `i`, else `0` (as Burn's dropout:
/// the scale is `1 / keep` rounded to `E`, one product per element).
///
/// The same call on the output's gradient is the backward pass. Works in place on `x`'s buffer.
pub(crate) fn apply<E: Real>(mut x: Vec<E>, key: u64, keep: f64) -> Vec<E> {
    let t = threshold(keep);
    let scale = E::from_f64(1.0 / keep);
    if x.len() <= BLOCK {
        masked(&mut x, 0, key, t, scale);
    } else {
        x.par_chunks_mut(BLOCK)
            .enumerate()
            .for_each(|(b, x)| masked(x, b * BLOCK, key, t, scale));
    }
    x
}

simd_dispatch!(
    // Applies the mask to the block `x` of elements `start..` (within one multiple of 2^32).
    masked => masked_impl,
    masked_avx512,
    masked_avx2,
    (x: &mut [E], start: usize, key: u64, t: u32, scale: E)
);

#[inline(always)]
fn masked_impl<E: Real>(x: &mut [E], start: usize, key: u64, t: u32, scale: E) {
    let (lo, hi) = halves(key, start);
    let first = start as u32;
    for (j, x) in x.iter_mut().enumerate() {
        let kept = bits(lo, hi, first.wrapping_add(j as u32)) < t;
        *x = if kept { *x * scale } else { E::ZERO };
    }
}

/// Whether the mask of `key` keeps element `i` with probability `keep` (for tests).
#[cfg(test)]
pub(crate) fn kept(key: u64, i: usize, keep: f64) -> bool {
    let (lo, hi) = halves(key, i);
    bits(lo, hi, i as u32) < threshold(keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_murmur3s_finaliser_twice() {
        // MurmurHash3's fmix32 of 1 and 2 (its reference implementation), and the keyed hash of
        // a few elements computed independently (Python, the same formula).
        assert_eq!(fmix32(1), 0x514E_28B7);
        assert_eq!(fmix32(2), 0x30F4_C306);
        let key = 0x0123_4567_89AB_CDEF;
        for (i, want) in [
            (0usize, 965_615_817u32),
            (1, 4_024_775_166),
            (2, 3_281_917_404),
            ((1 << 32) + 5, 4_289_513_056),
        ] {
            let (lo, hi) = halves(key, i);
            assert_eq!(bits(lo, hi, i as u32), want, "element {i}");
        }
    }

    #[test]
    fn the_vector_loop_is_the_scalar_loop() {
        // One block as `apply` cuts them (a short one: the vector loop's tail too).
        let x: Vec<f32> = (0..BLOCK - 3).map(|i| 1.0 + i as f32).collect();
        let scale = (1.0f64 / 0.7) as f32;
        for start in [0usize, 3 * BLOCK, (1 << 32) - BLOCK, 1 << 32] {
            let mut a = x.clone();
            masked(&mut a, start, 99, threshold(0.7), scale);
            let mut b = x.clone();
            masked_impl(&mut b, start, 99, threshold(0.7), scale);
            assert_eq!(a, b);
            for (j, (&x, &y)) in x.iter().zip(&a).enumerate() {
                let want = if kept(99, start + j, 0.7) {
                    x * scale
                } else {
                    0.0
                };
                assert_eq!(y, want, "element {}", start + j);
            }
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
        // Keys that differ in one bit of either half give unrelated masks: both kept about
        // keep^2 of the time.
        for other in [7 ^ 1 << 40, 7 ^ 1 << 3] {
            let both = (0..n)
                .filter(|&i| kept(7, i, 0.5) && kept(other, i, 0.5))
                .count();
            assert!(
                (both as f64 - n as f64 * 0.25).abs() < 5.0 * sd,
                "keys 7 and {other}: {both} of {n}"
            );
        }
    }
}
