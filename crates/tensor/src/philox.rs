//! Counter-based Gaussian noise: Philox4x32-10 and the Box–Muller transform,
//! vectorized.
//!
//! A counter-based generator is a keyed bijection of a counter (Salmon et
//! al. 2011, "Parallel Random Numbers: As Easy as 1, 2, 3"): the random
//! words for counter c are `philox(c, key)`, with no state carried from one
//! draw to the next. So element i of a [`GaussianStream`] is a function of
//! the stream and i alone: any thread can draw any part of it, in any order,
//! and a vector of 16 lanes draws 16 counters at once. PyTorch's and
//! TensorFlow's GPU generators are the same Philox4x32-10.
//!
//! Each counter gives 128 bits and two normal draws, by Box–Muller:
//!
//! ```text
//! z₁ = √(−2 ln u₁)·cos 2πu₂,   z₂ = √(−2 ln u₁)·sin 2πu₂
//! ```
//!
//! u₁ ∈ (0, 1] is read from 64 bits, so the radius reaches
//! √(130 ln 2) ≈ 9.5 standard deviations and the tail beyond the last value
//! has probability ~10⁻²⁰; from 32 bits it would stop at 6.7, cutting off
//! 3·10⁻¹¹ per draw. u₂ takes 32 bits, of which f32 keeps 24. The logarithm,
//! sine and cosine are polynomials (below) accurate to a few units in the
//! last place of an `f32`, written so the compiler vectorizes them.
//!
//! Philox is a statistical generator, not a cryptographic one: it passes
//! TestU01's BigCrush, but its key is not meant to be secret.

use rayon::prelude::*;

use crate::parallel::{CHUNK, PARALLEL_MIN};
use crate::simd::{vectorized_loop, Loop};

/// Philox4x32's multipliers and Weyl key increments (Salmon et al.,
/// Random123).
const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// The four words Philox4x32-10 maps `counter` to under `key`.
pub fn philox4x32(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let c = counter.map(u64::from);
    philox_wide(c, [u64::from(key[0]), u64::from(key[1])]).map(|w| w as u32)
}

/// Philox4x32-10 on 32-bit words held in 64-bit lanes: only each lane's
/// low half is the word, the high half is junk the next step ignores. A
/// 32 × 32 → 64-bit product of low halves is then one vector instruction
/// (`vpmuludq`) for 8 lanes, with no packing of 32-bit lanes around it.
#[inline(always)]
fn philox_wide(counter: [u64; 4], key: [u64; 2]) -> [u64; 4] {
    const LOW: u64 = 0xffff_ffff;
    let [mut c0, mut c1, mut c2, mut c3] = counter;
    let [mut k0, mut k1] = key;
    for round in 0..10 {
        if round > 0 {
            k0 = k0.wrapping_add(u64::from(W0));
            k1 = k1.wrapping_add(u64::from(W1));
        }
        let p0 = (c0 & LOW) * u64::from(M0);
        let p1 = (c2 & LOW) * u64::from(M1);
        // hi(p₁) ⊕ c₁ ⊕ k₀, lo(p₁), hi(p₀) ⊕ c₃ ⊕ k₁, lo(p₀)
        (c0, c1, c2, c3) = ((p1 >> 32) ^ c1 ^ k0, p1, (p0 >> 32) ^ c3 ^ k1, p0);
    }
    [c0 & LOW, c1 & LOW, c2 & LOW, c3 & LOW]
}

/// Two independent N(0, 1) draws from 128 random bits: u₁ from words 0–1,
/// u₂ from word 2 (word 3 is not used).
#[inline(always)]
pub fn box_muller(w: [u32; 4]) -> (f32, f32) {
    // u₁ = (w₀·2³² + w₁ + ½)/2⁶⁴, never 0 and at most 1, and 1 − u₁ from
    // the complemented bits, each rounded once to f32: near 1, u₁ alone
    // would have lost the digits −ln u₁ is made of.
    let (hi, lo) = (f32::from_bits(0x2f80_0000), f32::from_bits(0x1f80_0000)); // 2⁻³², 2⁻⁶⁴
    let u1 = w[0] as f32 * hi + (w[1] as f32 + 0.5) * lo;
    let v1 = !w[0] as f32 * hi + (!w[1] as f32 + 0.5) * lo;
    let r = (2.0 * neg_ln(u1, v1)).max(0.0).sqrt();
    let (s, c) = sin_cos_turns(w[2]);
    (r * c, r * s)
}

/// −ln u for a positive normal u ≤ 1, given also v = 1 − u: u = m·2ᵉ with
/// m ∈ [√½, √2), and ln m = 2 atanh s = 2(s + s³/3 + s⁵/5 + …) for
/// s = (m − 1)/(m + 1), |s| ≤ 0.172, where five terms leave an error below
/// 10⁻⁹. For u ≥ √½ (e = 0), s = −v/(2 − v), from v's own digits.
#[inline(always)]
fn neg_ln(u: f32, v: f32) -> f32 {
    // Subtracting the bits of √½ puts m's exponent at 0 or −1 so that
    // m ∈ [√½, √2) comes out of one shift and mask.
    let offset = u.to_bits().wrapping_sub(0x3f35_04f3);
    let e = (offset as i32) >> 23;
    let m = f32::from_bits((offset & 0x007f_ffff) + 0x3f35_04f3);
    let (num, den) = if e == 0 {
        (-v, 2.0 - v)
    } else {
        (m - 1.0, m + 1.0)
    };
    let s = num / den;
    let s2 = s * s;
    let series = 1.0 + s2 * (1.0 / 3.0 + s2 * (0.2 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0))));
    // ln 2 in two parts (Cody & Waite): e·LN2_HI is exact for |e| < 2¹⁴.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let e = e as f32;
    -(e * LN2_HI + (e * LN2_LO + 2.0 * s * series))
}

/// (sin 2πt, cos 2πt) for t = `turn`/2³² of a full turn. The top bits pick
/// the quadrant exactly; the rest is an angle a ∈ [−π/4, π/4], where
/// Taylor polynomials of degree 9 (sine) and 10 (cosine) are within 2·10⁻⁹.
#[inline(always)]
fn sin_cos_turns(turn: u32) -> (f32, f32) {
    // Rounded to the nearest quarter turn q; the remainder is signed.
    let shifted = turn.wrapping_add(1 << 29);
    let quadrant = shifted >> 30;
    let rest = (shifted & ((1 << 30) - 1)) as i32 - (1 << 29);
    let a = rest as f32 * (std::f32::consts::PI * f32::from_bits(0x3000_0000)); // π·2⁻³¹
    let a2 = a * a;
    let sin = a
        * (1.0
            + a2 * (-1.0 / 6.0
                + a2 * (1.0 / 120.0 + a2 * (-1.0 / 5040.0 + a2 * (1.0 / 362_880.0)))));
    let cos = 1.0
        + a2 * (-0.5
            + a2 * (1.0 / 24.0
                + a2 * (-1.0 / 720.0 + a2 * (1.0 / 40_320.0 + a2 * (-1.0 / 3_628_800.0)))));
    // sin(a + qπ/2), cos(a + qπ/2): swap for odd q, then the signs.
    let (s, c) = if quadrant & 1 == 1 {
        (cos, sin)
    } else {
        (sin, cos)
    };
    let sin_sign = (quadrant >> 1) << 31;
    let cos_sign = ((quadrant + 1) >> 1 & 1) << 31;
    (
        f32::from_bits(s.to_bits() ^ sin_sign),
        f32::from_bits(c.to_bits() ^ cos_sign),
    )
}

/// Counters per block: a block of 2·`LANES` elements takes cos draws for
/// its first half and sin draws for its second, so both halves are stored
/// contiguously.
const LANES: usize = 16;
const BLOCK: usize = 2 * LANES;

/// An endless sequence of independent N(0, 1) draws named by a key and a
/// stream: element i is a function of (key, stream, i) alone.
///
/// Element i comes from counter (⌊i/32⌋·16 + i mod 16, stream₀, stream₁,
/// stream₂): the cosine draw for i mod 32 < 16, the sine draw otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GaussianStream {
    key: [u64; 2],
    stream: [u64; 3],
}

impl GaussianStream {
    /// The stream `stream` under `key`.
    pub fn new(key: u64, stream: [u32; 3]) -> GaussianStream {
        GaussianStream {
            key: [key & 0xffff_ffff, key >> 32],
            stream: stream.map(u64::from),
        }
    }

    /// `out[j] ← a·out[j] + b·z_j` for the first `out.len()` draws z of the
    /// stream, split over rayon's threads in fixed chunks (the result is
    /// the same for any thread count).
    ///
    /// # Panics
    /// If `out` has 2³³ elements or more (the counter's first word, which
    /// counts pairs of draws, would wrap).
    pub fn axpby(&self, out: &mut [f32], a: f32, b: f32) {
        assert!(
            (out.len() as u64) < (1 << 33),
            "GaussianStream::axpby: {} elements exceed the stream's 2^33",
            out.len()
        );
        let run = |at: usize, chunk: &mut [f32]| {
            vectorized_loop(Fill {
                stream: self,
                first: at,
                out: chunk,
                a,
                b,
            })
        };
        if out.len() < PARALLEL_MIN {
            run(0, out);
        } else {
            out.par_chunks_mut(CHUNK)
                .enumerate()
                .for_each(|(i, c)| run(i * CHUNK, c));
        }
    }

    /// Block `block` of the stream: 32 draws.
    #[inline(always)]
    fn block(&self, block: usize) -> [f32; BLOCK] {
        let mut z = [0.0; BLOCK];
        let (cos, sin) = z.split_at_mut(LANES);
        let base = (block * LANES) as u32;
        for (lane, (c, s)) in cos.iter_mut().zip(sin).enumerate() {
            let counter = [
                u64::from(base + lane as u32),
                self.stream[0],
                self.stream[1],
                self.stream[2],
            ];
            (*c, *s) = box_muller(philox_wide(counter, self.key).map(|w| w as u32));
        }
        z
    }
}

/// [`GaussianStream::axpby`] on one chunk starting at element `first`.
struct Fill<'a> {
    stream: &'a GaussianStream,
    first: usize,
    out: &'a mut [f32],
    a: f32,
    b: f32,
}

impl Loop for Fill<'_> {
    #[inline(always)]
    fn run(self) {
        let (a, b) = (self.a, self.b);
        let mut i = self.first;
        let mut rest = self.out;
        while !rest.is_empty() {
            let block = i / BLOCK;
            let from = i % BLOCK;
            let take = (BLOCK - from).min(rest.len());
            let z = self.stream.block(block);
            let (head, tail) = rest.split_at_mut(take);
            for (o, &z) in head.iter_mut().zip(&z[from..]) {
                *o = a * *o + b * z;
            }
            rest = tail;
            i += take;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random123's known-answer vectors for Philox4x32-10 (`kat_vectors`).
    #[test]
    fn philox_known_answers() {
        assert_eq!(
            philox4x32([0; 4], [0; 2]),
            [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
        );
        assert_eq!(
            philox4x32([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
        );
        assert_eq!(
            philox4x32(
                [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
                [0xa409_3822, 0x299f_31d0]
            ),
            [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]
        );
    }

    /// Box–Muller in f64 with libm's functions, from the same bits.
    fn reference(w: [u32; 4]) -> (f64, f64) {
        let u1 = (f64::from(w[0]) * 2f64.powi(32) + f64::from(w[1]) + 0.5) / 2f64.powi(64);
        let theta = std::f64::consts::TAU * f64::from(w[2]) / 2f64.powi(32);
        let r = (-2.0 * u1.ln()).sqrt();
        (r * theta.cos(), r * theta.sin())
    }

    fn close(z: f32, reference: f64) -> bool {
        (f64::from(z) - reference).abs() <= 4e-7 * reference.abs().max(1.0)
    }

    #[test]
    fn box_muller_agrees_with_libm_in_f64() {
        for i in 0..200_000u32 {
            let w = philox4x32([i, 1, 2, 3], [5, 8]);
            let (z1, z2) = box_muller(w);
            let (r1, r2) = reference(w);
            assert!(
                close(z1, r1) && close(z2, r2),
                "{w:x?}: {z1} {z2} vs {r1} {r2}"
            );
        }
    }

    #[test]
    fn box_muller_at_the_ends_of_its_range() {
        let corners = [0, 1, 1 << 29, 1 << 30, 3 << 30, u32::MAX - 1, u32::MAX];
        for w0 in [0, 1, 255, 1 << 24, u32::MAX] {
            for w1 in [0, u32::MAX] {
                for &w2 in &corners {
                    let w = [w0, w1, w2, 0];
                    let (z1, z2) = box_muller(w);
                    let (r1, r2) = reference(w);
                    assert!(
                        close(z1, r1) && close(z2, r2),
                        "{w:x?}: {z1} {z2} vs {r1} {r2}"
                    );
                }
            }
        }
        // The largest radius: u₁ = 2⁻⁶⁵.
        let (z, _) = box_muller([0, 0, 0, 0]);
        assert!(
            (f64::from(z) - (130.0 * 2f64.ln()).sqrt()).abs() < 1e-5,
            "{z}"
        );
    }

    #[test]
    fn moments_of_a_million_draws() {
        let mut z = vec![0.0; 1 << 20];
        GaussianStream::new(42, [7, 0, 0]).axpby(&mut z, 0.0, 1.0);
        let n = z.len() as f64;
        let moment = |k: i32| z.iter().map(|&x| f64::from(x).powi(k)).sum::<f64>() / n;
        // Standard errors at n = 2²⁰: 0.001, 0.0014, 0.0024, 0.0095.
        assert!(moment(1).abs() < 0.005, "mean {}", moment(1));
        assert!((moment(2) - 1.0).abs() < 0.007, "variance {}", moment(2));
        assert!(moment(3).abs() < 0.012, "third moment {}", moment(3));
        assert!(
            (moment(4) - 3.0).abs() < 0.05,
            "fourth moment {}",
            moment(4)
        );
        // P(|z| > 3) = 0.0026998
        let beyond = z.iter().filter(|x| x.abs() > 3.0).count() as f64 / n;
        assert!((beyond - 0.0027).abs() < 0.0003, "tail {beyond}");
    }

    #[test]
    fn any_part_of_a_stream_is_the_same_draws() {
        let stream = GaussianStream::new(3, [1, 2, 3]);
        let mut whole = vec![0.0; 100_000];
        stream.axpby(&mut whole, 0.0, 1.0);
        // Element by element, from the definition.
        for i in [0, 1, 15, 16, 17, 31, 32, 99_999] {
            let w = philox4x32([(i / 32 * 16 + i % 16) as u32, 1, 2, 3], [3, 0]);
            let (c, s) = box_muller(w);
            assert_eq!(whole[i], if i % 32 < 16 { c } else { s }, "element {i}");
        }
        // A chunk that starts mid-block.
        let mut part = vec![0.0; 1000];
        Fill {
            stream: &stream,
            first: 4099,
            out: &mut part,
            a: 0.0,
            b: 1.0,
        }
        .run();
        assert_eq!(part, whole[4099..5099]);
        // Other streams and keys differ.
        let mut other = vec![0.0; 64];
        GaussianStream::new(3, [1, 2, 4]).axpby(&mut other, 0.0, 1.0);
        assert_ne!(other, whole[..64]);
        GaussianStream::new(4, [1, 2, 3]).axpby(&mut other, 0.0, 1.0);
        assert_ne!(other, whole[..64]);
    }

    #[test]
    fn axpby_scales_and_adds() {
        let stream = GaussianStream::new(9, [0, 0, 0]);
        let mut z = vec![0.0; 70_000];
        stream.axpby(&mut z, 0.0, 1.0);
        let mut out: Vec<f32> = (0..70_000).map(|i| i as f32 * 1e-3).collect();
        stream.axpby(&mut out, 2.0, 0.5);
        for (i, (&o, &z)) in out.iter().zip(&z).enumerate() {
            assert_eq!(o, 2.0 * (i as f32 * 1e-3) + 0.5 * z);
        }
    }

    #[test]
    fn same_draws_on_one_thread() {
        let stream = GaussianStream::new(11, [5, 6, 7]);
        let mut two = vec![0.0; 300_000];
        stream.axpby(&mut two, 0.0, 1.0);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let mut one = vec![0.0; 300_000];
        pool.install(|| stream.axpby(&mut one, 0.0, 1.0));
        assert_eq!(one, two);
    }
}
