//! Fixed-size chunking of the fused update loops and of the gradient norm.
//!
//! A large parameter is cut into chunks of [`CHUNK`] elements at offsets that
//! depend only on its length, and rayon's threads take the chunks. The update
//! is elementwise, and the norm's partial sums are added along a tree whose
//! shape is fixed by the length, so results are bitwise the same for 1 or N
//! threads: threads decide who computes a chunk, never what it is.

use gradlab_tensor::simd::vectorized;

/// Elements per chunk (128 KiB of each tensor the loop touches).
pub(crate) const CHUNK: usize = 1 << 15;

/// Below this many elements a loop runs on the calling thread: spawning
/// costs more than it saves.
pub(crate) const PARALLEL_MIN: usize = 1 << 16;

/// The slices one fused update pass reads and writes, all of one length.
/// A slice the algorithm does not use is empty.
pub(crate) struct Lanes<'a> {
    /// Φ.
    pub value: &'a mut [f32],
    /// ĝ.
    pub grad: &'a [f32],
    /// (1/B) Σ_b g_b², or empty.
    pub grad_sq: &'a [f32],
    /// The algorithm's first state tensor, or empty.
    pub first: &'a mut [f32],
    /// The algorithm's second state tensor, or empty.
    pub second: &'a mut [f32],
}

/// Splits a slice at `mid`, leaving an empty slice as two empty halves.
fn cut<T>(s: &[T], mid: usize) -> (&[T], &[T]) {
    s.split_at(mid.min(s.len()))
}

fn cut_mut<T>(s: &mut [T], mid: usize) -> (&mut [T], &mut [T]) {
    let mid = mid.min(s.len());
    s.split_at_mut(mid)
}

impl<'a> Lanes<'a> {
    fn split_at(self, mid: usize) -> (Lanes<'a>, Lanes<'a>) {
        let (v0, v1) = cut_mut(self.value, mid);
        let (g0, g1) = cut(self.grad, mid);
        let (q0, q1) = cut(self.grad_sq, mid);
        let (a0, a1) = cut_mut(self.first, mid);
        let (b0, b1) = cut_mut(self.second, mid);
        (
            Lanes {
                value: v0,
                grad: g0,
                grad_sq: q0,
                first: a0,
                second: b0,
            },
            Lanes {
                value: v1,
                grad: g1,
                grad_sq: q1,
                first: a1,
                second: b1,
            },
        )
    }
}

/// Runs `f` over `lanes`: in one call for a parameter of fewer than
/// [`PARALLEL_MIN`] elements, else over [`CHUNK`]-sized pieces in parallel.
pub(crate) fn for_each_chunk(lanes: Lanes<'_>, f: &(impl Fn(Lanes<'_>) + Sync)) {
    if lanes.value.len() < PARALLEL_MIN {
        vectorized(|| f(lanes));
    } else {
        split_into_chunks(lanes, f);
    }
}

fn split_into_chunks(lanes: Lanes<'_>, f: &(impl Fn(Lanes<'_>) + Sync)) {
    let n = lanes.value.len();
    if n <= CHUNK {
        vectorized(|| f(lanes));
    } else {
        // Split at a chunk boundary near the middle; the recursion ends on
        // whole chunks (and one shorter tail), the same ones for any pool.
        let mid = n.div_ceil(CHUNK) / 2 * CHUNK;
        let (left, right) = lanes.split_at(mid);
        rayon::join(
            || split_into_chunks(left, f),
            || split_into_chunks(right, f),
        );
    }
}

/// Σ x² in `f64`, accumulated per chunk in eight independent lanes (so the
/// compiler can vectorize it) and combined along a tree fixed by the length.
pub(crate) fn sum_of_squares(x: &[f32]) -> f64 {
    if x.len() <= CHUNK {
        return chunk_sum_of_squares(x);
    }
    let mid = x.len().div_ceil(CHUNK) / 2 * CHUNK;
    let (left, right) = x.split_at(mid);
    let (a, b) = if x.len() < PARALLEL_MIN {
        (sum_of_squares(left), sum_of_squares(right))
    } else {
        rayon::join(|| sum_of_squares(left), || sum_of_squares(right))
    };
    a + b
}

fn chunk_sum_of_squares(x: &[f32]) -> f64 {
    let mut acc = [0.0f64; 8];
    let mut blocks = x.chunks_exact(8);
    for block in &mut blocks {
        for (a, &v) in acc.iter_mut().zip(block) {
            *a += f64::from(v) * f64::from(v);
        }
    }
    let tail: f64 = blocks
        .remainder()
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum();
    acc.iter().sum::<f64>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_element_once() {
        let n = 5 * CHUNK + 17;
        let mut value = vec![0.0f32; n];
        let grad: Vec<f32> = (0..n).map(|i| i as f32).collect();
        let mut first = vec![1.0f32; n];
        let lanes = Lanes {
            value: &mut value,
            grad: &grad,
            grad_sq: &[],
            first: &mut first,
            second: &mut [],
        };
        for_each_chunk(lanes, &|l: Lanes<'_>| {
            assert!(l.value.len() <= CHUNK);
            assert!(l.grad_sq.is_empty() && l.second.is_empty());
            for ((v, &g), a) in l.value.iter_mut().zip(l.grad).zip(l.first.iter_mut()) {
                *v += g;
                *a -= 1.0;
            }
        });
        assert!(value.iter().enumerate().all(|(i, &v)| v == i as f32));
        assert!(first.iter().all(|&a| a == 0.0));
    }

    #[test]
    fn sum_of_squares_is_exact_on_integers() {
        // Σ_{i<n} i² = (n−1)n(2n−1)/6 is exactly representable in f64 here.
        let n = 3 * CHUNK + 5;
        let x: Vec<f32> = (0..n).map(|i| i as f32).collect();
        let n = n as f64;
        assert_eq!(sum_of_squares(&x), (n - 1.0) * n * (2.0 * n - 1.0) / 6.0);
    }
}
