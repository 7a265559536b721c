//! Fixed-size chunking for parallel loops.
//!
//! Work is cut into chunks whose size depends only on the data, never on the
//! number of threads, and reductions combine the chunks' partial results in
//! chunk order. That is what makes every result bitwise identical for 1 or N
//! threads: the threads only decide *who* computes a chunk, not *what* it is.

use rayon::prelude::*;

use crate::simd::vectorized;

/// Elements per chunk of a parallel elementwise loop or reduction.
pub(crate) const CHUNK: usize = 1 << 14;

/// Below this many elements a loop runs on the calling thread: spawning
/// costs more than it saves.
pub(crate) const PARALLEL_MIN: usize = 1 << 16;

/// Calls `f(offset, chunk)` for consecutive chunks of `out`, in parallel when
/// `out` is large. `offset` is the index of the chunk's first element, so
/// `f` can read other slices at the same positions. Each call runs with the
/// widest vectors the CPU has ([`vectorized`]).
pub fn chunks_mut(out: &mut [f32], f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    if out.len() < PARALLEL_MIN {
        vectorized(|| f(0, out));
    } else {
        out.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(i, c)| vectorized(|| f(i * CHUNK, c)));
    }
}

/// Calls `f(first_row, rows)` over blocks of whole rows of a row-major buffer
/// with `row_len` elements per row, in parallel when the buffer is large.
pub fn rows_mut(out: &mut [f32], row_len: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    if out.len() < PARALLEL_MIN || row_len == 0 {
        vectorized(|| f(0, out));
    } else {
        let rows_per_chunk = (CHUNK / row_len).max(1);
        out.par_chunks_mut(rows_per_chunk * row_len)
            .enumerate()
            .for_each(|(i, c)| vectorized(|| f(i * rows_per_chunk, c)));
    }
}

/// Calls `f(i, a_i, b_i)` for row i of two row-major buffers that have the
/// same number of rows (`a_row` and `b_row` elements long), in parallel
/// when they are large: for work that fills a row of one from a row of
/// scratch space in the other (an example's output from its own buffer).
///
/// # Panics
/// If the buffers do not have the same number of rows.
pub fn zip_rows_mut(
    a: &mut [f32],
    a_row: usize,
    b: &mut [f32],
    b_row: usize,
    f: impl Fn(usize, &mut [f32], &mut [f32]) + Sync + Send,
) {
    let rows = a.len() / a_row.max(1);
    assert!(
        a.len() == rows * a_row && b.len() == rows * b_row,
        "zip_rows_mut: {} and {} elements are not the same number of rows of {a_row} and {b_row}",
        a.len(),
        b.len()
    );
    if a_row == 0 || b_row == 0 {
        return;
    }
    if a.len() + b.len() < PARALLEL_MIN {
        let pairs = a.chunks_exact_mut(a_row).zip(b.chunks_exact_mut(b_row));
        vectorized(|| pairs.enumerate().for_each(|(i, (x, y))| f(i, x, y)));
    } else {
        a.par_chunks_mut(a_row)
            .zip(b.par_chunks_mut(b_row))
            .enumerate()
            .for_each(|(i, (x, y))| vectorized(|| f(i, x, y)));
    }
}

/// Calls `f(first_row, rows, scratch)` over blocks of whole rows of a
/// row-major buffer with `row_len` elements per row, in parallel, each
/// block with `scratch_len` floats of `scratch` of its own: for work that
/// makes each row from an intermediate (an example's windows) that should
/// stay in cache rather than be written to memory for the whole batch.
///
/// There are at most four blocks per thread, so `scratch` (grown here the
/// first time it is too short) holds a few intermediates, not one per row.
/// The blocks depend on the number of threads: `f` must compute each row
/// on its own, whatever block it falls in.
pub fn rows_with_scratch(
    out: &mut [f32],
    row_len: usize,
    scratch: &mut Vec<f32>,
    scratch_len: usize,
    f: impl Fn(usize, &mut [f32], &mut [f32]) + Sync + Send,
) {
    let rows = out.len() / row_len.max(1);
    if rows == 0 {
        return;
    }
    let blocks = if out.len() < PARALLEL_MIN {
        1
    } else {
        rows.min(4 * rayon::current_num_threads())
    };
    let per_block = rows.div_ceil(blocks);
    if scratch.len() < blocks * scratch_len {
        scratch.resize(blocks * scratch_len, 0.0);
    }
    if blocks == 1 {
        vectorized(|| f(0, out, &mut scratch[..scratch_len]));
        return;
    }
    out.par_chunks_mut(per_block * row_len)
        .zip(scratch.par_chunks_mut(scratch_len.max(1)))
        .enumerate()
        .for_each(|(i, (rows, s))| vectorized(|| f(i * per_block, rows, s)));
}

/// Calls `f(first_row, block)` over consecutive blocks of `out`, which
/// holds one result per row of some row-major data with `row_len` elements
/// per row (a norm per row, say): each block covers about 16 384
/// elements of that data, and the blocks run in parallel when it is large.
pub fn per_row<T: Send>(out: &mut [T], row_len: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    if out.len() * row_len < PARALLEL_MIN {
        vectorized(|| f(0, out));
    } else {
        let rows_per_block = (CHUNK / row_len.max(1)).max(1);
        out.par_chunks_mut(rows_per_block)
            .enumerate()
            .for_each(|(i, c)| vectorized(|| f(i * rows_per_block, c)));
    }
}

/// `Σ data` accumulated in f64, one partial sum per fixed chunk, the partials
/// added in chunk order.
pub(crate) fn sum(data: &[f32]) -> f64 {
    let chunk_sum = |c: &[f32]| c.iter().map(|&x| x as f64).sum::<f64>();
    if data.len() < PARALLEL_MIN {
        data.chunks(CHUNK).map(chunk_sum).sum()
    } else {
        let partials: Vec<f64> = data.par_chunks(CHUNK).map(chunk_sum).collect();
        partials.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Row i of each buffer reaches the call for i, small and large alike.
    #[test]
    fn zip_rows_mut_hands_each_call_the_rows_of_its_index() {
        for rows in [3, 5000] {
            let (mut a, mut b) = (vec![0.0; rows * 4], vec![0.0; rows * 20]);
            zip_rows_mut(&mut a, 4, &mut b, 20, |i, x, y| {
                x.fill(i as f32);
                y.fill(-(i as f32));
            });
            for i in 0..rows {
                assert!(a[i * 4..][..4].iter().all(|&v| v == i as f32));
                assert!(b[i * 20..][..20].iter().all(|&v| v == -(i as f32)));
            }
        }
    }

    /// Every row is handed over once, with a scratch block no other
    /// block shares, and the scratch grows only the first time.
    #[test]
    fn rows_with_scratch_covers_every_row_once() {
        for rows in [3, 5000] {
            let (mut out, mut scratch) = (vec![0.0; rows * 20], Vec::new());
            let mut first_buffer = None;
            for _ in 0..2 {
                rows_with_scratch(&mut out, 20, &mut scratch, 7, |first, block, s| {
                    s.fill(first as f32);
                    for (i, row) in (first..).zip(block.chunks_exact_mut(20)) {
                        row.fill(i as f32 + s[6] - first as f32);
                    }
                });
                assert_eq!(
                    *first_buffer.get_or_insert(scratch.as_ptr()),
                    scratch.as_ptr()
                );
            }
            for (i, row) in out.chunks_exact(20).enumerate() {
                assert!(row.iter().all(|&v| v == i as f32));
            }
            assert!(scratch.len() <= 4 * rayon::current_num_threads().max(1) * 7);
        }
    }

    #[test]
    #[should_panic(
        expected = "zip_rows_mut: 8 and 9 elements are not the same number of rows of 4 and 3"
    )]
    fn zip_rows_mut_refuses_buffers_of_different_row_counts() {
        zip_rows_mut(&mut [0.0; 8], 4, &mut [0.0; 9], 3, |_, _, _| {});
    }
}
