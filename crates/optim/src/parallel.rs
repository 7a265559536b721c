//! Fixed-size chunking of the update loops and of the gradient norm.
//!
//! A large parameter is cut into chunks of [`CHUNK`] elements at offsets that
//! depend only on its length, and rayon's threads take the chunks. The update
//! is elementwise, and the norm's partial sums are added along a tree whose
//! shape is fixed by the length, so results are bitwise the same for 1 or N
//! threads: threads decide who computes a chunk, never what it is.

use gradlab_tensor::simd::{vectorized_loop, Loop};

/// Elements per chunk (128 KiB of each tensor the loop touches).
pub(crate) const CHUNK: usize = 1 << 15;

/// Below this many elements a loop runs on the calling thread: spawning
/// costs more than it saves.
pub(crate) const PARALLEL_MIN: usize = 1 << 16;

/// The slices one update pass reads and writes, all of one length: Φ, ĝ,
/// the per-example squares (empty unless the rule reads them) and the
/// rule's K state tensors.
pub(crate) struct Lanes<'a, const K: usize> {
    pub value: &'a mut [f32],
    pub grad: &'a [f32],
    pub grad_sq: &'a [f32],
    pub state: [&'a mut [f32]; K],
}

/// Splits a slice at `mid`, leaving an empty slice as two empty halves.
fn cut(s: &[f32], mid: usize) -> (&[f32], &[f32]) {
    s.split_at(mid.min(s.len()))
}

impl<'a, const K: usize> Lanes<'a, K> {
    fn split_at(self, mid: usize) -> (Lanes<'a, K>, Lanes<'a, K>) {
        let (v0, v1) = self.value.split_at_mut(mid);
        let (g0, g1) = cut(self.grad, mid);
        let (q0, q1) = cut(self.grad_sq, mid);
        let mut left: [&mut [f32]; K] = std::array::from_fn(|_| Default::default());
        let mut right: [&mut [f32]; K] = std::array::from_fn(|_| Default::default());
        for ((s, l), r) in self.state.into_iter().zip(&mut left).zip(&mut right) {
            (*l, *r) = s.split_at_mut(mid);
        }
        (
            Lanes {
                value: v0,
                grad: g0,
                grad_sq: q0,
                state: left,
            },
            Lanes {
                value: v1,
                grad: g1,
                grad_sq: q1,
                state: right,
            },
        )
    }
}

/// A loop over one chunk. Implementations mark `run` `#[inline(always)]`:
/// it must be inlined into the AVX-512/AVX2 copies [`vectorized_loop`]
/// makes (a closure would be compiled on its own, without them).
pub(crate) trait Chunk<const K: usize>: Sync {
    fn run(&self, lanes: Lanes<'_, K>);
}

/// `f` over one chunk, as a [`Loop`].
struct OneChunk<'f, 'a, F, const K: usize> {
    f: &'f F,
    lanes: Lanes<'a, K>,
}

impl<F: Chunk<K>, const K: usize> Loop for OneChunk<'_, '_, F, K> {
    #[inline(always)]
    fn run(self) {
        self.f.run(self.lanes);
    }
}

/// Runs `f` over `lanes`: in one call for a parameter of fewer than
/// [`PARALLEL_MIN`] elements, else over [`CHUNK`]-sized pieces in parallel.
/// Each call runs in the widest vector instructions the CPU has.
pub(crate) fn for_each_chunk<const K: usize>(lanes: Lanes<'_, K>, f: &impl Chunk<K>) {
    if lanes.value.len() < PARALLEL_MIN {
        vectorized_loop(OneChunk { f, lanes });
    } else {
        split_into_chunks(lanes, f);
    }
}

fn split_into_chunks<const K: usize>(lanes: Lanes<'_, K>, f: &impl Chunk<K>) {
    let n = lanes.value.len();
    if n <= CHUNK {
        vectorized_loop(OneChunk { f, lanes });
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
        let mut second = vec![2.0f32; n];
        let lanes = Lanes {
            value: &mut value,
            grad: &grad,
            grad_sq: &[],
            state: [&mut first, &mut second],
        };
        struct AddAndCount;
        impl Chunk<2> for AddAndCount {
            fn run(&self, l: Lanes<'_, 2>) {
                assert!(l.value.len() <= CHUNK);
                assert!(l.grad_sq.is_empty());
                let [a, b] = l.state;
                for (((v, &g), a), b) in l.value.iter_mut().zip(l.grad).zip(a).zip(b) {
                    *v += g;
                    *a -= 1.0;
                    *b -= 2.0;
                }
            }
        }
        for_each_chunk(lanes, &AddAndCount);
        assert!(value.iter().enumerate().all(|(i, &v)| v == i as f32));
        assert!(first.iter().chain(&second).all(|&a| a == 0.0));
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
