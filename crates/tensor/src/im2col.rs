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
//! [`im2col`] runs in parallel over the rows of `cols`; [`im2col_examples`]
//! and [`col2im`] work on one example, for a loop that is parallel over
//! the examples already. Every sum runs in a fixed order: the results do
//! not depend on the number of threads.

use crate::parallel;
use crate::simd::{vectorized_loop, Loop};

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
        let (ow, s, off, pw) = (
            self.out_width(),
            self.stride.1,
            j * self.dilation.1,
            self.padding.1,
        );
        // Output column ox reads input column ox·s + off − pw: inside for
        // ox from ⌈(pw − off)/s⌉ up to before ⌈(W + pw − off)/s⌉.
        let first = pw.saturating_sub(off).div_ceil(s);
        let end = (self.width + pw).saturating_sub(off).div_ceil(s).min(ow);
        let last = if first < end { end } else { 0 };
        (first.min(last), last, (first * s + off).saturating_sub(pw))
    }

    /// The taps `(c, i, j)` of the window from tap `k` on, in order of
    /// `k = (c·kh + i)·kw + j`, counted up rather than divided out.
    fn taps(&self, k: usize) -> impl Iterator<Item = (usize, usize, usize)> {
        let (kh, kw) = self.kernel;
        let start = (k / (kh * kw), k / kw % kh, k % kw);
        std::iter::successors(Some(start), move |&(c, i, j)| {
            Some(if j + 1 < kw {
                (c, i, j + 1)
            } else if i + 1 < kh {
                (c, i + 1, 0)
            } else {
                (c + 1, 0, 0)
            })
        })
    }

    /// Checks the slices of a batch of `batch` examples whose `cols` hold
    /// the windows at positions `first..first + len` of the batch's `B·P`.
    fn check(&self, what: &str, x: usize, cols: usize, batch: usize, first: usize, len: usize) {
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
        assert!(
            cols == self.patch() * len && first + len <= batch * self.positions(),
            "{what}: {cols} patch values from position {first} of {batch} examples of {self:?}"
        );
    }
}

/// Packs windows of `batch` examples `x` (`[B, C, H, W]`, row-major) into
/// `cols` (`[K, len]`): column `q` is the window at position `first + q`
/// of the batch's `B·P` (position `b·P + p` is example b's output position
/// p), row `k = (c·kh + i)·kw + j` its tap (c, i, j), and a tap that falls
/// in the padding reads 0. With `first = 0` and `len = B·P`, the whole
/// batch's `[K, B·P]`; a part of it is packed when only that part fits in
/// cache (see `gemm_chunked`).
///
/// # Panics
/// If a slice's length does not match `g`, `batch` and a whole number of
/// columns within the batch.
pub fn im2col(g: &ConvGeometry, x: &[f32], batch: usize, first: usize, cols: &mut [f32]) {
    let len = cols.len().checked_div(g.patch()).unwrap_or(0);
    g.check("im2col", x.len(), cols.len(), batch, first, len);
    if len == 0 {
        return;
    }
    parallel::rows_mut(cols, len, |k0, rows| {
        for (tap, row) in g.taps(k0).zip(rows.chunks_exact_mut(len)) {
            tap_row(g, x, tap, first, row);
        }
    });
}

/// [`im2col`] of a few examples (`x` is `[n, C, H, W]`, `cols`
/// `[K, n·P]`) on the calling thread, for a loop that runs over the
/// examples in parallel.
///
/// # Panics
/// If a slice's length does not match `g`.
#[inline]
pub fn im2col_examples(g: &ConvGeometry, x: &[f32], cols: &mut [f32]) {
    let n = x.len().checked_div(g.input()).unwrap_or(0);
    let len = n * g.positions();
    g.check("im2col", x.len(), cols.len(), n, 0, len);
    if len == 0 {
        return;
    }
    for (tap, row) in g.taps(0).zip(cols.chunks_exact_mut(len)) {
        tap_row(g, x, tap, 0, row);
    }
}

/// The row of tap `(c, i, j)` of the windows, at positions
/// `first..first + row.len()` of the batch `x`.
#[inline(always)]
fn tap_row(
    g: &ConvGeometry,
    x: &[f32],
    (c, i, j): (usize, usize, usize),
    first: usize,
    row: &mut [f32],
) {
    let (p, ow, oh) = (g.positions(), g.out_width(), g.out_height());
    let (lo, hi, x0) = g.in_cols(j);
    let plane = g.height * g.width;
    if g.stride == (1, 1) && ow == g.width {
        // The output as wide as the input, the window moved one step at a
        // time: the tap reads the channel's plane shifted by one offset,
        // so each example's run is one copy, its overhanging columns
        // zeroed after.
        let span = shifted_span(g, i, (lo, x0), p);
        let (mut q, mut out) = (first, row);
        while !out.is_empty() {
            let (b, at) = (q / p, q % p);
            let run = (p - at).min(out.len());
            let (seg, rest) = out.split_at_mut(run);
            let image = &x[b * g.input() + c * plane..][..plane];
            shifted_plane(image, span, (lo, hi), ow, at, seg);
            (q, out) = (q + run, rest);
        }
        return;
    }
    // The row is cut where an output row or an example ends; the first
    // piece may start inside one.
    let (mut b, mut oy, mut ox) = (first / p, first % p / ow, first % ow);
    let mut out = row;
    while !out.is_empty() {
        let run = (ow - ox).min(out.len());
        let (seg, rest) = out.split_at_mut(run);
        let line = g.in_row(i, oy).map(|r| {
            let at = b * g.input() + (c * g.height + r) * g.width;
            &x[at..at + g.width]
        });
        window_row(line, (lo, hi, x0), g.stride.1, ox, seg);
        out = rest;
        (ox, oy) = (0, oy + 1);
        if oy == oh {
            (oy, b) = (0, b + 1);
        }
    }
}

/// Positions `at..at + seg.len()` of one example's row of a tap whose
/// window reads columns `lo..hi` of each `ow`-wide output row, when stride
/// is 1 and the output is as wide as the input (`image` is the channel's
/// `[H, W]`, `span` the tap's [`shifted_span`]): position `q` reads
/// `image[q + shift]`, unless its row is in the padding or its column
/// outside `lo..hi`, where it is 0.
#[inline(always)]
fn shifted_plane(
    image: &[f32],
    (from, to, shift): (usize, usize, isize),
    (lo, hi): (usize, usize),
    ow: usize,
    at: usize,
    seg: &mut [f32],
) {
    let end = at + seg.len();
    // Clamping keeps from ≤ to.
    let (from, to) = (from.clamp(at, end), to.clamp(at, end));
    seg[..from - at].fill(0.0);
    seg[to - at..].fill(0.0);
    if from < to {
        let src = (from as isize + shift) as usize;
        seg[from - at..to - at].copy_from_slice(&image[src..src + (to - from)]);
    }
    zero_overhangs(seg, (lo, hi), ow, from, to, at);
}

/// For a tap in row `i` of the window whose columns `lo..` read from input
/// column `x0` on, under stride 1 and an output as wide as the input: the
/// positions `from..to` of an example whose input index `q + shift` lies
/// in the channel's plane and whose row is inside the image. Outside them
/// the tap reads padding; inside, only the columns outside `lo..hi` do.
#[inline(always)]
fn shifted_span(
    g: &ConvGeometry,
    i: usize,
    (lo, x0): (usize, usize),
    p: usize,
) -> (usize, usize, isize) {
    let (ow, oh) = (g.out_width(), g.out_height());
    let (ph, di) = (g.padding.0, i * g.dilation.0);
    // Output rows oy whose input row oy + i·dh − ph lies in the image.
    let rows = (
        ph.saturating_sub(di).min(oh),
        (g.height + ph).saturating_sub(di).min(oh),
    );
    let (a, z) = ((rows.0 * ow).min(p), (rows.1 * ow).min(p));
    // Input index of position q: (oy + i·dh − ph)·W + (ox − lo) + x0.
    let shift = (di as isize - ph as isize) * g.width as isize + x0 as isize - lo as isize;
    let plane = (g.height * g.width) as isize;
    let from = (a as isize).max(-shift).min(z as isize);
    let to = (z as isize).min(plane - shift).max(from);
    (from as usize, to as usize, shift)
}

/// Zeroes the columns outside `lo..hi` of the positions `from..to` of
/// `seg`, which starts at position `at` of the example: a column at a time
/// down the rows, a few stores each, where a fill per row would be a call
/// per row.
#[inline(always)]
fn zero_overhangs(
    seg: &mut [f32],
    (lo, hi): (usize, usize),
    ow: usize,
    from: usize,
    to: usize,
    at: usize,
) {
    if from >= to {
        return;
    }
    let from_col = from % ow;
    for col in (0..lo).chain(hi..ow) {
        // The first position at or after `from` in this column.
        let ahead = col + ow - from_col;
        let mut q = from + if ahead >= ow { ahead - ow } else { ahead };
        while q < to {
            seg[q - at] = 0.0;
            q += ow;
        }
    }
}

/// Output columns `ox..ox + seg.len()` of one tap's row of windows: input
/// `line` (`None` when the tap's row is in the padding) read at output
/// columns `lo..hi` from column `x0` on, in steps of `stride`, and 0 around
/// them.
#[inline(always)]
fn window_row(
    line: Option<&[f32]>,
    (lo, hi, x0): (usize, usize, usize),
    stride: usize,
    ox: usize,
    seg: &mut [f32],
) {
    let end = ox + seg.len();
    let Some(line) = line else {
        seg.fill(0.0);
        return;
    };
    // Inside the image: output columns from..to, of this segment.
    let (from, to) = (lo.clamp(ox, end), hi.clamp(ox, end));
    seg[..from - ox].fill(0.0);
    seg[to - ox..].fill(0.0);
    if from == to {
        return;
    }
    let start = x0 + (from - lo) * stride;
    let inside = &mut seg[from - ox..to - ox];
    if stride == 1 {
        inside.copy_from_slice(&line[start..start + inside.len()]);
    } else {
        for (n, o) in inside.iter_mut().enumerate() {
            *o = line[start + n * stride];
        }
    }
}

/// The adjoint of [`im2col_examples`]: overwrites one example's `dx`
/// (`[C, H, W]`) with, at each input position, the sum of the entries of
/// `cols` (`[K, P]`) of the windows that read it, each sum over the taps
/// in order. The entries of `cols` for taps that fall in the padding,
/// which reach no input position, may be set to 0 along the way.
///
/// # Panics
/// If a slice's length does not match `g`.
pub fn col2im(g: &ConvGeometry, cols: &mut [f32], dx: &mut [f32]) {
    let p = g.positions();
    g.check("col2im", dx.len(), cols.len(), 1, 0, p);
    let (ow, oh) = (g.out_width(), g.out_height());
    let plane = g.height * g.width;
    dx.fill(0.0);
    if p == 0 {
        return;
    }
    for ((c, i, j), src) in g.taps(0).zip(cols.chunks_exact_mut(p)) {
        let (lo, hi, x0) = g.in_cols(j);
        let image = &mut dx[c * plane..][..plane];
        if g.stride == (1, 1) && ow == g.width {
            // As in im2col: the tap's positions land on the plane shifted
            // by one offset. With the overhanging columns zeroed (adding
            // +0 to a sum that started at +0 changes no bit of it), the
            // tap's rows are one run added to one run.
            let (from, to, shift) = shifted_span(g, i, (lo, x0), p);
            zero_overhangs(&mut src[..], (lo, hi), ow, from, to, 0);
            if from < to {
                let dst = (from as isize + shift) as usize;
                vectorized_loop(AddTo {
                    dst: &mut image[dst..dst + (to - from)],
                    src: &src[from..to],
                });
            }
            continue;
        }
        for (oy, src) in src.chunks_exact(ow).enumerate().take(oh) {
            let Some(r) = g.in_row(i, oy) else { continue };
            let line = &mut image[r * g.width..][..g.width];
            for (n, &v) in src[lo..hi].iter().enumerate() {
                line[x0 + n * g.stride.1] += v;
            }
        }
    }
}

/// `dst += src`, elementwise, in the widest vectors the CPU has.
struct AddTo<'a> {
    dst: &'a mut [f32],
    src: &'a [f32],
}

impl Loop for AddTo<'_> {
    #[inline(always)]
    fn run(self) {
        self.dst
            .iter_mut()
            .zip(self.src)
            .for_each(|(d, &s)| *d += s);
    }
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

    /// col2im written the obvious way: every entry of `cols` that reads
    /// the image added to where it read, the taps in order.
    fn naive_adjoint(g: &ConvGeometry, cols: &[f32], batch: usize) -> Vec<f32> {
        let (p, ow) = (g.positions(), g.out_width());
        let mut dx = vec![0.0; batch * g.input()];
        for k in 0..g.patch() {
            let (c, i, j) = (
                k / (g.kernel.0 * g.kernel.1),
                k / g.kernel.1 % g.kernel.0,
                k % g.kernel.1,
            );
            for b in 0..batch {
                for q in 0..p {
                    let (oy, ox) = (q / ow, q % ow);
                    let r = (oy * g.stride.0 + i * g.dilation.0) as isize - g.padding.0 as isize;
                    let s = (ox * g.stride.1 + j * g.dilation.1) as isize - g.padding.1 as isize;
                    if r >= 0 && s >= 0 && (r as usize) < g.height && (s as usize) < g.width {
                        let at = b * g.input() + (c * g.height + r as usize) * g.width + s as usize;
                        dx[at] += cols[k * batch * p + b * p + q];
                    }
                }
            }
        }
        dx
    }

    #[test]
    fn packing_matches_the_definition_and_unpacking_is_its_adjoint() {
        let cases = [
            geometry((1, 5, 5), (3, 3), (1, 1), (0, 0), (1, 1)),
            geometry((2, 6, 7), (3, 2), (2, 1), (1, 2), (1, 1)),
            geometry((3, 7, 5), (2, 3), (1, 2), (2, 1), (2, 1)),
            geometry((2, 4, 4), (5, 5), (1, 1), (2, 2), (1, 1)),
            geometry((1, 9, 8), (3, 3), (3, 2), (0, 1), (2, 2)),
            // As wide out as in, stride 1: the shifted-plane copies.
            geometry((3, 6, 5), (3, 3), (1, 1), (1, 1), (1, 1)),
            geometry((2, 7, 6), (3, 5), (1, 1), (0, 4), (2, 2)),
            geometry((1, 3, 1), (3, 3), (1, 1), (4, 1), (1, 1)),
            geometry((2, 5, 3), (1, 1), (1, 1), (0, 0), (1, 1)),
        ];
        for g in cases {
            let batch = 3;
            let x: Vec<f32> = (0..batch * g.input())
                .map(|i| (i as f32 * 0.37).sin())
                .collect();
            let mut cols = vec![f32::NAN; g.patch() * batch * g.positions()];
            im2col(&g, &x, batch, 0, &mut cols);
            let whole = naive(&g, &x, batch);
            assert_eq!(cols, whole, "{g:?}");
            let (k, p) = (g.patch(), g.positions());
            let mut one = vec![f32::NAN; k * p];
            im2col_examples(&g, &x[g.input()..][..g.input()], &mut one);
            for (row, want) in one.chunks_exact(p).zip(whole.chunks_exact(batch * p)) {
                assert_eq!(row, &want[p..2 * p], "{g:?}: example 1 alone");
            }
            let mut two = vec![f32::NAN; k * 2 * p];
            im2col_examples(&g, &x[g.input()..], &mut two);
            for (row, want) in two.chunks_exact(2 * p).zip(whole.chunks_exact(batch * p)) {
                assert_eq!(row, &want[p..3 * p], "{g:?}: examples 1 and 2");
            }
            // Any run of positions, across rows and examples, is those
            // columns of the whole.
            let n = batch * p;
            let runs = (0..n).step_by(3).flat_map(|first| {
                [1, g.out_width() + 1, p + 5, n - first]
                    .into_iter()
                    .filter(move |&len| len > 0 && first + len <= n)
                    .map(move |len| (first, len))
            });
            for (first, len) in runs {
                let mut part = vec![f32::NAN; k * len];
                im2col(&g, &x, batch, first, &mut part);
                for (row, want) in part.chunks_exact(len).zip(whole.chunks_exact(n)) {
                    assert_eq!(row, &want[first..first + len], "{g:?} from {first}");
                }
            }
            // ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩ for any c: col2im is the
            // adjoint, and each of its sums runs over the taps in order.
            let c: Vec<f32> = (0..cols.len()).map(|i| (i as f32 * 0.11).cos()).collect();
            let mut dx = vec![f32::NAN; x.len()];
            for (b, dx) in dx.chunks_exact_mut(g.input()).enumerate() {
                let mut cb: Vec<f32> = c
                    .chunks_exact(n)
                    .flat_map(|r| &r[b * p..][..p])
                    .copied()
                    .collect();
                col2im(&g, &mut cb, dx);
            }
            assert_eq!(dx, naive_adjoint(&g, &c, batch), "{g:?}");
            let lhs: f64 = cols.iter().zip(&c).map(|(a, b)| f64::from(a * b)).sum();
            let rhs: f64 = x.iter().zip(&dx).map(|(a, b)| f64::from(a * b)).sum();
            assert!(
                (lhs - rhs).abs() < 1e-3 * lhs.abs().max(1.0),
                "{g:?}: {lhs} vs {rhs}"
            );
        }
    }

    #[test]
    #[should_panic(expected = "im2col: 8 patch values from position 3 of 1 examples")]
    fn packing_past_the_batch_is_refused() {
        let g = geometry((1, 3, 3), (2, 2), (1, 1), (0, 0), (1, 1));
        im2col(&g, &[0.0; 9], 1, 3, &mut [0.0; 8]);
    }

    /// The columns a tap reads inside the image, against every output
    /// column tried one by one; and the taps counted up as divided out.
    #[test]
    fn a_taps_columns_and_order_match_the_definition() {
        for (w, pw, s, kw, d) in (1..8).flat_map(|w| {
            (0..4).flat_map(move |pw| {
                (1..4).flat_map(move |s| {
                    (1..5).flat_map(move |kw| (1..3).map(move |d| (w, pw, s, kw, d)))
                })
            })
        }) {
            let g = geometry((2, 3, w), (2, kw), (1, s), (0, pw), (1, d));
            for j in 0..kw {
                let inside: Vec<usize> = (0..g.out_width())
                    .filter(|&ox| {
                        let c = ox * s + j * d;
                        c >= pw && c - pw < w
                    })
                    .collect();
                let (lo, hi, x0) = g.in_cols(j);
                assert_eq!((lo..hi).collect::<Vec<_>>(), inside, "{g:?} tap {j}");
                if let Some(&first) = inside.first() {
                    assert_eq!(x0, first * s + j * d - pw, "{g:?} tap {j}");
                }
            }
            let (kh, kw) = g.kernel;
            let divided = (0..g.patch()).map(|k| (k / (kh * kw), k / kw % kh, k % kw));
            assert!(g.taps(0).zip(divided.clone()).all(|(a, b)| a == b));
            assert!(g.taps(3).zip(divided.skip(3)).all(|(a, b)| a == b));
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
