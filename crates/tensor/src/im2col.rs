//! The packing that turns a convolution into one matrix product (im2col),
//! and its adjoint (col2im), beside the GEMM they feed.
//!
//! A 2-D convolution slides a `kh × kw` window over every input channel;
//! at each of the `P = OH·OW` output positions it takes the dot product of
//! the window's `K = C·kh·kw` values with each filter. Written out as a
//! matrix whose column is one position's window — the *patches* — the
//! convolution of a whole batch is `Y = W·cols`: `[O, K]·[K, B·P]`, one
//! GEMM, however small each example's image is. Packing costs a copy of
//! `K·B·P` values (each input value appears in up to `kh·kw` windows);
//! the product is where the time goes.
//!
//! The backward pass reads the same matrix: `dW = dY·colsᵀ`, and the
//! input's gradient is `Wᵀ·dY` unpacked by [`col2im`], which adds each
//! window's values back to the input positions they came from.
//!
//! Both run in parallel over fixed blocks (rows of `cols`, examples of
//! `dx`), and every sum runs in a fixed order: the results do not depend
//! on the number of threads.

use crate::parallel;

/// The shape of a 2-D convolution over one example: its input, its window,
/// and how the window moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Input channels C.
    pub channels: usize,
    /// Input height H.
    pub height: usize,
    /// Input width W.
    pub width: usize,
    /// Window height and width (kh, kw).
    pub kernel: (usize, usize),
    /// Steps between windows, down and across.
    pub stride: (usize, usize),
    /// Zeros added on each side, top/bottom and left/right.
    pub padding: (usize, usize),
    /// Spacing of the window's taps (1: adjacent).
    pub dilation: (usize, usize),
}

impl ConvGeometry {
    /// The window's extent along one axis, dilation included.
    fn span(k: usize, d: usize) -> usize {
        d * (k - 1) + 1
    }

    /// Output height OH = ⌊(H + 2·ph − dh·(kh − 1) − 1)/sh⌋ + 1 (0 when
    /// the window does not fit).
    pub fn out_height(&self) -> usize {
        let padded = self.height + 2 * self.padding.0;
        let span = Self::span(self.kernel.0, self.dilation.0);
        if padded < span {
            0
        } else {
            (padded - span) / self.stride.0 + 1
        }
    }

    /// Output width OW, as [`out_height`](Self::out_height).
    pub fn out_width(&self) -> usize {
        let padded = self.width + 2 * self.padding.1;
        let span = Self::span(self.kernel.1, self.dilation.1);
        if padded < span {
            0
        } else {
            (padded - span) / self.stride.1 + 1
        }
    }

    /// P, the output positions of one example: OH·OW.
    pub fn positions(&self) -> usize {
        self.out_height() * self.out_width()
    }

    /// K, the values in one window: C·kh·kw.
    pub fn patch(&self) -> usize {
        self.channels * self.kernel.0 * self.kernel.1
    }

    /// Values in one example's input: C·H·W.
    pub fn input(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// For row `k = (c, i, j)` of the patches and output row `oy`, the input
    /// row read, if inside the image.
    #[inline]
    fn in_row(&self, i: usize, oy: usize) -> Option<usize> {
        (oy * self.stride.0 + i * self.dilation.0)
            .checked_sub(self.padding.0)
            .filter(|&r| r < self.height)
    }

    /// The input columns read by tap `j` across the output row, as the
    /// range of output columns that land inside the image and the input
    /// column of the first of them.
    #[inline]
    fn in_cols(&self, j: usize) -> (usize, usize, usize) {
        let (ow, s, off) = (self.out_width(), self.stride.1, j * self.dilation.1);
        // Output column ox reads input column ox·s + off − pw.
        let first = self.padding.1.saturating_sub(off).div_ceil(s);
        let last = (0..ow)
            .rev()
            .find(|&ox| {
                let c = ox * s + off;
                c >= self.padding.1 && c - self.padding.1 < self.width
            })
            .map_or(0, |ox| ox + 1);
        (
            first.min(last),
            last,
            (first * s + off).saturating_sub(self.padding.1),
        )
    }

    /// Checks the slices of a batch of `batch` examples.
    fn check(&self, what: &str, x: usize, cols: usize, batch: usize) {
        assert!(
            self.kernel.0 > 0 && self.kernel.1 > 0 && self.stride.0 > 0 && self.stride.1 > 0,
            "{what}: a window of {:?} with stride {:?}",
            self.kernel,
            self.stride
        );
        assert!(
            self.dilation.0 > 0 && self.dilation.1 > 0,
            "{what}: dilation {:?}",
            self.dilation
        );
        assert_eq!(
            x,
            batch * self.input(),
            "{what}: input of {x} values for {batch} examples of {self:?}"
        );
        assert_eq!(
            cols,
            self.patch() * batch * self.positions(),
            "{what}: {cols} patch values for {batch} examples of {self:?}"
        );
    }
}

/// Packs the windows of `batch` examples `x` (`[B, C, H, W]`, row-major)
/// into `cols` (`[K, B·P]`): column `b·P + p` is the window of example b at
/// output position p, row `k = (c·kh + i)·kw + j` its tap (c, i, j), and a
/// tap that falls in the padding reads 0.
///
/// # Panics
/// If a slice's length does not match `g` and `batch`.
pub fn im2col(g: &ConvGeometry, x: &[f32], batch: usize, cols: &mut [f32]) {
    g.check("im2col", x.len(), cols.len(), batch);
    let (p, ow, oh) = (g.positions(), g.out_width(), g.out_height());
    let (kh, kw) = g.kernel;
    let row_len = batch * p;
    if row_len == 0 {
        return;
    }
    parallel::rows_mut(cols, row_len, |first, rows| {
        for (k, row) in (first..).zip(rows.chunks_exact_mut(row_len)) {
            let (c, i, j) = (k / (kh * kw), k / kw % kh, k % kw);
            let (lo, hi, x0) = g.in_cols(j);
            for (b, out) in row.chunks_exact_mut(p).enumerate() {
                let image = &x[b * g.input() + c * g.height * g.width..][..g.height * g.width];
                for (oy, out) in out.chunks_exact_mut(ow).enumerate().take(oh) {
                    let Some(r) = g.in_row(i, oy) else {
                        out.fill(0.0);
                        continue;
                    };
                    let line = &image[r * g.width..][..g.width];
                    out[..lo].fill(0.0);
                    out[hi..].fill(0.0);
                    if lo == hi {
                        continue;
                    }
                    if g.stride.1 == 1 {
                        out[lo..hi].copy_from_slice(&line[x0..x0 + (hi - lo)]);
                    } else {
                        for (n, o) in out[lo..hi].iter_mut().enumerate() {
                            *o = line[x0 + n * g.stride.1];
                        }
                    }
                }
            }
        }
    });
}

/// The adjoint of [`im2col`]: overwrites `dx` (`[B, C, H, W]`) with, at
/// each input position, the sum of the `cols` entries (`[K, B·P]`) of the
/// windows that read it. Each sum runs over the taps in a fixed order.
///
/// # Panics
/// If a slice's length does not match `g` and `batch`.
pub fn col2im(g: &ConvGeometry, cols: &[f32], batch: usize, dx: &mut [f32]) {
    g.check("col2im", dx.len(), cols.len(), batch);
    let (p, ow, oh) = (g.positions(), g.out_width(), g.out_height());
    let (kh, kw) = g.kernel;
    let row_len = batch * p;
    let input = g.input();
    if input == 0 {
        return;
    }
    parallel::rows_mut(dx, input, |first, examples| {
        for (b, image) in (first..).zip(examples.chunks_exact_mut(input)) {
            image.fill(0.0);
            for k in 0..g.patch() {
                let (c, i, j) = (k / (kh * kw), k / kw % kh, k % kw);
                let (lo, hi, x0) = g.in_cols(j);
                let plane = &mut image[c * g.height * g.width..][..g.height * g.width];
                let src = &cols[k * row_len + b * p..][..p];
                for (oy, src) in src.chunks_exact(ow).enumerate().take(oh) {
                    let Some(r) = g.in_row(i, oy) else { continue };
                    let line = &mut plane[r * g.width..][..g.width];
                    if g.stride.1 == 1 {
                        // Adjacent windows read adjacent columns: a run
                        // added to a run, in vectors.
                        let run = &mut line[x0..x0 + (hi - lo)];
                        run.iter_mut().zip(&src[lo..hi]).for_each(|(l, &v)| *l += v);
                    } else {
                        for (n, &v) in src[lo..hi].iter().enumerate() {
                            line[x0 + n * g.stride.1] += v;
                        }
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(
        (c, h, w): (usize, usize, usize),
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        dilation: (usize, usize),
    ) -> ConvGeometry {
        ConvGeometry {
            channels: c,
            height: h,
            width: w,
            kernel,
            stride,
            padding,
            dilation,
        }
    }

    /// im2col written the obvious way: every tap of every window.
    fn naive(g: &ConvGeometry, x: &[f32], batch: usize) -> Vec<f32> {
        let (p, ow) = (g.positions(), g.out_width());
        let mut cols = vec![0.0; g.patch() * batch * p];
        for b in 0..batch {
            for c in 0..g.channels {
                for i in 0..g.kernel.0 {
                    for j in 0..g.kernel.1 {
                        let k = (c * g.kernel.0 + i) * g.kernel.1 + j;
                        for q in 0..p {
                            let (oy, ox) = (q / ow, q % ow);
                            let r = (oy * g.stride.0 + i * g.dilation.0) as isize
                                - g.padding.0 as isize;
                            let s = (ox * g.stride.1 + j * g.dilation.1) as isize
                                - g.padding.1 as isize;
                            let inside = r >= 0
                                && s >= 0
                                && (r as usize) < g.height
                                && (s as usize) < g.width;
                            cols[k * batch * p + b * p + q] = if inside {
                                x[b * g.input()
                                    + (c * g.height + r as usize) * g.width
                                    + s as usize]
                            } else {
                                0.0
                            };
                        }
                    }
                }
            }
        }
        cols
    }

    #[test]
    fn packing_matches_the_definition_and_unpacking_is_its_adjoint() {
        let cases = [
            geometry((1, 5, 5), (3, 3), (1, 1), (0, 0), (1, 1)),
            geometry((2, 6, 7), (3, 2), (2, 1), (1, 2), (1, 1)),
            geometry((3, 7, 5), (2, 3), (1, 2), (2, 1), (2, 1)),
            geometry((2, 4, 4), (5, 5), (1, 1), (2, 2), (1, 1)),
            geometry((1, 9, 8), (3, 3), (3, 2), (0, 1), (2, 2)),
        ];
        for g in cases {
            let batch = 3;
            let x: Vec<f32> = (0..batch * g.input())
                .map(|i| (i as f32 * 0.37).sin())
                .collect();
            let mut cols = vec![f32::NAN; g.patch() * batch * g.positions()];
            im2col(&g, &x, batch, &mut cols);
            assert_eq!(cols, naive(&g, &x, batch), "{g:?}");
            // ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩ for any c: col2im is the adjoint.
            let c: Vec<f32> = (0..cols.len()).map(|i| (i as f32 * 0.11).cos()).collect();
            let mut dx = vec![f32::NAN; x.len()];
            col2im(&g, &c, batch, &mut dx);
            let lhs: f64 = cols.iter().zip(&c).map(|(a, b)| f64::from(a * b)).sum();
            let rhs: f64 = x.iter().zip(&dx).map(|(a, b)| f64::from(a * b)).sum();
            assert!(
                (lhs - rhs).abs() < 1e-3 * lhs.abs().max(1.0),
                "{g:?}: {lhs} vs {rhs}"
            );
        }
    }

    #[test]
    fn output_sizes_follow_pytorchs_formula() {
        let g = geometry((1, 28, 28), (5, 5), (1, 1), (2, 2), (1, 1));
        assert_eq!((g.out_height(), g.out_width(), g.patch()), (28, 28, 25));
        let g = geometry((16, 14, 14), (3, 3), (2, 2), (1, 1), (1, 1));
        assert_eq!((g.out_height(), g.out_width()), (7, 7));
        let g = geometry((1, 7, 7), (3, 3), (1, 1), (0, 0), (3, 3));
        assert_eq!((g.out_height(), g.out_width()), (1, 1));
        let g = geometry((1, 2, 2), (3, 3), (1, 1), (0, 0), (1, 1));
        assert_eq!(g.positions(), 0);
    }
}
