//! Matrix multiplication: `C = α·op(A)·op(B) + β·C`, `op(X) ∈ {X, Xᵀ}`.
//!
//! A transposed operand is not copied: a row-major `[r, c]` matrix read with
//! row stride 1 and column stride `c` *is* its transpose, and
//! `matrixmultiply::sgemm` takes those strides directly. Its BLIS-style
//! kernel packs panels of A and B into cache-sized blocks and runs SIMD
//! micro-kernels selected at run time (AVX2/FMA where the CPU has them).
//!
//! ## Parallel split
//!
//! Large products are cut into tiles of C that rayon runs on its threads. A
//! tile of rows re-packs all of B, a tile of columns re-packs all of A, so we
//! cut along the dimension whose *other* operand is cheaper to pack again:
//! rows when `n < m` (B, `k×n`, is the smaller), columns otherwise. For the
//! training shapes this matters: `δ·Wᵀ` (128×512 · 512×784) split over rows
//! would pack the 400k-element weight twice; split over columns it packs only
//! the 64k-element `δ` twice.
//!
//! Tile boundaries are multiples of 16 elements (a multiple of every
//! micro-kernel's tile) and depend only on the shape, so each element of C is
//! computed by exactly one micro-kernel call whose summation order over `k` is
//! fixed: the result is bitwise identical for any number of threads.

use rayon::prelude::*;

use crate::Tensor;

/// Whether an operand enters a product as stored or transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transpose {
    /// `op(X) = X`.
    No,
    /// `op(X) = Xᵀ`.
    Yes,
}

/// Products smaller than this many flops run on the calling thread.
const PARALLEL_MIN_FLOPS: usize = 4_000_000;
/// Roughly how much work one tile should carry.
const TILE_FLOPS: usize = 32_000_000;
/// The most tiles a product is cut into.
const MAX_TILES: usize = 16;
/// Tile edges are multiples of this (≥ every micro-kernel's MR and NR).
const ALIGN: usize = 16;

/// A raw pointer that may cross threads. Tiles write disjoint parts of C.
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

/// Row and column strides of `op(X)` for a row-major `X` of `cols` columns.
fn strides(t: Transpose, cols: usize) -> (isize, isize) {
    match t {
        Transpose::No => (cols as isize, 1),
        Transpose::Yes => (1, cols as isize),
    }
}

/// How the product `m × k × n` is cut: `(split_rows, tile_len, tiles)`.
fn split(m: usize, k: usize, n: usize) -> (bool, usize, usize) {
    let flops = 2 * m * k * n;
    let split_rows = n < m;
    let extent = if split_rows { m } else { n };
    if flops < PARALLEL_MIN_FLOPS || extent < 2 * ALIGN {
        return (split_rows, extent.max(1), 1);
    }
    let wanted = flops.div_ceil(TILE_FLOPS).clamp(2, MAX_TILES);
    let tile_len = extent.div_ceil(wanted).next_multiple_of(ALIGN);
    (split_rows, tile_len, extent.div_ceil(tile_len))
}

/// `C = α·op(A)·op(B) + β·C` on raw row-major slices.
///
/// `op(A)` is `m × k` (A stored `[m, k]`, or `[k, m]` when transposed),
/// `op(B)` is `k × n` (B stored `[k, n]`, or `[n, k]`), and C is `[m, n]`.
/// With `β = 0`, C's previous contents are ignored (NaNs included).
///
/// # Panics
/// If a slice length does not match its dimensions.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: &[f32],
    ta: Transpose,
    b: &[f32],
    tb: Transpose,
    beta: f32,
    c: &mut [f32],
) {
    assert!(
        a.len() == m * k && b.len() == k * n && c.len() == m * n,
        "gemm: {m}×{k}·{k}×{n} needs A, B, C of {}, {}, {} elements; got {}, {}, {}",
        m * k,
        k * n,
        m * n,
        a.len(),
        b.len(),
        c.len()
    );
    if m == 0 || n == 0 {
        return;
    }
    let (rsa, csa) = strides(ta, if ta == Transpose::No { k } else { m });
    let (rsb, csb) = strides(tb, if tb == Transpose::No { n } else { k });
    let (split_rows, tile_len, tiles) = split(m, k, n);
    let (a, b, c) = (a.as_ptr() as usize, b.as_ptr() as usize, SendPtr(c.as_mut_ptr()));
    let run = |t: usize| {
        let start = t * tile_len;
        let end = ((t + 1) * tile_len).min(if split_rows { m } else { n });
        let (mt, nt) = if split_rows { (end - start, n) } else { (m, end - start) };
        let (a_off, b_off, c_off) = if split_rows {
            (start as isize * rsa, 0, start * n)
        } else {
            (0, start as isize * csb, start)
        };
        let c = c;
        // SAFETY: the slices were checked against m, k, n above; tile `t`
        // reads within A and B and writes only its own rows (or columns) of C,
        // disjoint from every other tile's.
        unsafe {
            matrixmultiply::sgemm(
                mt,
                k,
                nt,
                alpha,
                (a as *const f32).offset(a_off),
                rsa,
                csa,
                (b as *const f32).offset(b_off),
                rsb,
                csb,
                beta,
                c.0.add(c_off),
                n as isize,
                1,
            );
        }
    };
    if tiles == 1 {
        run(0);
    } else {
        (0..tiles).into_par_iter().for_each(run);
    }
}

fn op_dims(x: &Tensor, t: Transpose, name: &str) -> (usize, usize) {
    let (r, c) = x.dims2(name);
    match t {
        Transpose::No => (r, c),
        Transpose::Yes => (c, r),
    }
}

fn describe(shape: &[usize], t: Transpose) -> String {
    match t {
        Transpose::No => format!("{shape:?}"),
        Transpose::Yes => format!("{shape:?}ᵀ"),
    }
}

impl Tensor {
    /// `op(self)·op(other)` for 2-D tensors.
    ///
    /// # Panics
    /// If the inner dimensions differ; the message names both operands.
    pub fn matmul(&self, ta: Transpose, other: &Tensor, tb: Transpose) -> Tensor {
        let mut out = Tensor::zeros(&[]);
        self.matmul_into(ta, other, tb, 1.0, 0.0, &mut out);
        out
    }

    /// `out = α·op(self)·op(other) + β·out`, reusing `out`'s buffer.
    ///
    /// With `β = 0`, `out` is resized to the product's shape and overwritten;
    /// otherwise it must already have that shape (this is how gradients
    /// accumulate).
    pub fn matmul_into(
        &self,
        ta: Transpose,
        other: &Tensor,
        tb: Transpose,
        alpha: f32,
        beta: f32,
        out: &mut Tensor,
    ) {
        let (m, k) = op_dims(self, ta, "matmul");
        let (k2, n) = op_dims(other, tb, "matmul");
        assert!(
            k == k2,
            "matmul: cannot multiply {} by {} (inner dimensions {k} and {k2} differ)",
            describe(self.shape(), ta),
            describe(other.shape(), tb)
        );
        if beta == 0.0 {
            out.resize_for(&[m, n]);
        } else {
            assert!(
                out.shape() == [m, n],
                "matmul: accumulating {} · {} into {:?}, expected [{m}, {n}]",
                describe(self.shape(), ta),
                describe(other.shape(), tb),
                out.shape()
            );
        }
        gemm(m, k, n, alpha, self.data(), ta, other.data(), tb, beta, out.data_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_aligned_and_covers_the_extent() {
        for &(m, k, n) in &[(128, 784, 512), (784, 128, 512), (128, 512, 784), (1024, 1024, 1024), (33, 513, 129)] {
            let (rows, len, tiles) = split(m, k, n);
            let extent = if rows { m } else { n };
            assert!(tiles == 1 || len % ALIGN == 0);
            assert!(tiles * len >= extent && (tiles - 1) * len < extent);
        }
        assert_eq!(split(4, 4, 4).2, 1);
    }

    #[test]
    #[should_panic(expected = "matmul: cannot multiply [2, 3] by [2, 3] (inner dimensions 3 and 2 differ)")]
    fn inner_dimension_mismatch_names_both_shapes() {
        Tensor::zeros(&[2, 3]).matmul(Transpose::No, &Tensor::zeros(&[2, 3]), Transpose::No);
    }

    #[test]
    fn accumulates_with_beta() {
        let a = Tensor::from_vec(vec![1.0, 2.0], &[1, 2]);
        let b = Tensor::from_vec(vec![3.0, 4.0], &[2, 1]);
        let mut c = Tensor::from_vec(vec![10.0], &[1, 1]);
        a.matmul_into(Transpose::No, &b, Transpose::No, 2.0, 0.5, &mut c);
        assert_eq!(c.data(), &[2.0 * 11.0 + 5.0]);
    }
}
