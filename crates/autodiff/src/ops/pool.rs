//! Pooling over the windows of each channel of a batch of images
//! (`[B, C, H, W]` → `[B, C, OH, OW]`): the maximum, the mean, and the mean
//! over the whole image (global average pooling, → `[B, C]`).
//!
//! **Derivative.** A maximum passes its output's gradient to the input it
//! took (the first of equal ones); a mean spreads it evenly over its
//! window, `dY/(kh·kw)` to each of its values (padding included, as
//! PyTorch's default `count_include_pad`). A value in several windows
//! receives the sum.
//!
//! Each channel of each image is pooled on its own: the examples stay apart,
//! and there are no parameters, so no per-example statistics to give.

use std::ops::Range;

use gradlab_tensor::im2col::ConvGeometry;
use gradlab_tensor::{parallel, simd, Tensor};

use crate::op::{Backward, Examples, Op};
use crate::tape::{Graph, Var};

/// What a pooling window computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pooling {
    /// The largest value (padding never wins).
    Max,
    /// The mean of the window, padding counted as zeros.
    Average,
}

/// Pooling with a `kernel` window moved by `stride`, the image padded by
/// `padding` on each side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2d {
    /// What each window computes.
    pub kind: Pooling,
    /// The window's height and width.
    pub kernel: (usize, usize),
    /// Steps between windows.
    pub stride: (usize, usize),
    /// Padding on each side.
    pub padding: (usize, usize),
}

impl Pool2d {
    /// The geometry of one channel of input `x`.
    fn geometry(&self, x: &Tensor) -> ConvGeometry {
        ConvGeometry {
            channels: 1,
            height: x.shape()[2],
            width: x.shape()[3],
            kernel: self.kernel,
            stride: self.stride,
            padding: self.padding,
            dilation: (1, 1),
        }
    }

    /// Calls `f(output index, rows, columns)` for every window of one
    /// channel, window by window, with the rows and columns of the window
    /// that lie inside the image (the padding holds no value to read).
    #[inline]
    fn windows(g: &ConvGeometry, mut f: impl FnMut(usize, Range<usize>, Range<usize>)) {
        let (oh, ow) = (g.out_height(), g.out_width());
        // The part of a window starting at `start - pad` that lies in 0..len.
        let inside = |start: usize, pad: usize, k: usize, len: usize| {
            start.saturating_sub(pad)..(start + k).saturating_sub(pad).min(len)
        };
        for oy in 0..oh {
            let rows = inside(oy * g.stride.0, g.padding.0, g.kernel.0, g.height);
            for ox in 0..ow {
                let cols = inside(ox * g.stride.1, g.padding.1, g.kernel.1, g.width);
                f(oy * ow + ox, rows.clone(), cols);
            }
        }
    }
}

impl Pool2d {
    /// Whether the windows tile the image: they move by their own size
    /// with no padding, so no value is in two windows and each window's
    /// rows are whole runs of the image's rows.
    fn tiles(&self) -> bool {
        self.stride == self.kernel && self.padding == (0, 0)
    }
}

/// Max pooling of one channel whose windows tile it, as a loop compiled for
/// the widest vectors (a closure would be compiled on its own, without
/// them).
enum TiledMax<'a> {
    /// [`tiled_max`].
    Forward {
        g: &'a ConvGeometry,
        x: &'a [f32],
        y: &'a mut [f32],
    },
    /// [`tiled_max_backward`].
    Backward {
        g: &'a ConvGeometry,
        x: &'a [f32],
        y: &'a [f32],
        dy: &'a [f32],
        dx: &'a mut [f32],
    },
}

impl simd::Loop for TiledMax<'_> {
    #[inline(always)]
    fn run(self) {
        match self {
            TiledMax::Forward { g, x, y } => tiled_max(g, x, y),
            TiledMax::Backward { g, x, y, dy, dx } => tiled_max_backward(g, x, y, dy, dx),
        }
    }
}

/// `m` raised to `v` if `v` is larger: the comparison of the general
/// loop, written as a select so that it needs no branch.
#[inline(always)]
fn raise(m: f32, v: f32) -> f32 {
    if v > m {
        v
    } else {
        m
    }
}

/// Max pooling of one channel `x` into `y` when the windows tile the image
/// ([`Pool2d::tiles`]), each window's taps compared row by row, left to
/// right, as [`Pool2d::windows`] visits them. The common 2 × 2 window has
/// its own loop, which the compiler vectorizes across windows.
#[inline(always)]
fn tiled_max(g: &ConvGeometry, x: &[f32], y: &mut [f32]) {
    let ((kh, kw), ow) = (g.kernel, g.out_width());
    for (oy, y) in y.chunks_exact_mut(ow).enumerate() {
        let rows = &x[oy * kh * g.width..][..kh * g.width];
        if (kh, kw) == (2, 2) {
            let (r0, r1) = rows.split_at(g.width);
            for ((m, a), b) in y.iter_mut().zip(r0.chunks_exact(2)).zip(r1.chunks_exact(2)) {
                let top = raise(raise(f32::NEG_INFINITY, a[0]), a[1]);
                *m = raise(raise(top, b[0]), b[1]);
            }
            continue;
        }
        for (ox, m) in y.iter_mut().enumerate() {
            *m = rows
                .chunks_exact(g.width)
                .flat_map(|line| &line[ox * kw..][..kw])
                .fold(f32::NEG_INFINITY, |m, &v| raise(m, v));
        }
    }
}

/// The derivative of [`tiled_max`]: each window's gradient added to the
/// first of its taps, row by row, that holds the window's maximum.
#[inline(always)]
fn tiled_max_backward(g: &ConvGeometry, x: &[f32], y: &[f32], dy: &[f32], dx: &mut [f32]) {
    let ((kh, kw), ow) = (g.kernel, g.out_width());
    for (oy, (y, dy)) in y.chunks_exact(ow).zip(dy.chunks_exact(ow)).enumerate() {
        let rows = oy * kh * g.width..(oy + 1) * kh * g.width;
        if (kh, kw) == (2, 2) {
            let (r0, r1) = x[rows.clone()].split_at(g.width);
            let (d0, d1) = dx[rows].split_at_mut(g.width);
            let taps = r0.chunks_exact(2).zip(r1.chunks_exact(2));
            let grads = d0.chunks_exact_mut(2).zip(d1.chunks_exact_mut(2));
            for (((a, b), (da, db)), (&m, &d)) in taps.zip(grads).zip(y.iter().zip(dy)) {
                // Which tap is the first to hold the maximum, as masks
                // (`&`, not `&&`: no branch to take).
                let (e0, e1, e2, e3) = (a[0] == m, a[1] == m, b[0] == m, b[1] == m);
                let t1 = !e0 & e1;
                let t2 = !e0 & !e1 & e2;
                let t3 = !e0 & !e1 & !e2 & e3;
                let add = |g: f32, t: bool| if t { g + d } else { g };
                da[0] = add(da[0], e0);
                da[1] = add(da[1], t1);
                db[0] = add(db[0], t2);
                db[1] = add(db[1], t3);
            }
            continue;
        }
        for ox in 0..ow {
            'window: for r in oy * kh..(oy + 1) * kh {
                let at = r * g.width + ox * kw;
                for (i, &v) in (at..).zip(&x[at..at + kw]) {
                    if v == y[ox] {
                        dx[i] += dy[ox];
                        break 'window;
                    }
                }
            }
        }
    }
}

impl Op for Pool2d {
    type Saved = ();

    fn name(&self) -> String {
        format!(
            "{} pool {:?} stride {:?}",
            match self.kind {
                Pooling::Max => "max",
                Pooling::Average => "average",
            },
            self.kernel,
            self.stride
        )
    }

    fn examples(&self, batched: &[bool]) -> Examples {
        Examples::rowwise(batched)
    }

    fn forward(&self, x: &[&Tensor], y: &mut Tensor, _: &mut ()) {
        let x = x[0];
        let g = self.geometry(x);
        let (plane, out) = (g.height * g.width, g.positions());
        let s = x.shape();
        y.resize_for(&[s[0], s[1], g.out_height(), g.out_width()]);
        let area = (g.kernel.0 * g.kernel.1) as f32;
        let kind = self.kind;
        let tiled = self.tiles();
        parallel::rows_mut(y.data_mut(), out, |first, planes| {
            for (n, y) in (first..).zip(planes.chunks_exact_mut(out)) {
                let x = &x.data()[n * plane..][..plane];
                if kind == Pooling::Max && tiled {
                    simd::vectorized_loop(TiledMax::Forward { g: &g, x, y });
                    continue;
                }
                Pool2d::windows(&g, |o, rows, cols| {
                    let row = |r: usize| &x[r * g.width..][cols.clone()];
                    y[o] = match kind {
                        Pooling::Max => {
                            let mut m = f32::NEG_INFINITY;
                            for r in rows {
                                for &v in row(r) {
                                    if v > m {
                                        m = v;
                                    }
                                }
                            }
                            m
                        }
                        Pooling::Average => {
                            let mut sum = 0.0;
                            for r in rows {
                                for &v in row(r) {
                                    sum += v / area;
                                }
                            }
                            sum
                        }
                    };
                });
            }
        });
    }

    fn backward(&self, cx: &mut Backward, _: &mut ()) {
        let (x, y, dy) = (cx.x[0], cx.y, cx.dy);
        let g = self.geometry(x);
        let (plane, out) = (g.height * g.width, g.positions());
        let area = (g.kernel.0 * g.kernel.1) as f32;
        let kind = self.kind;
        let tiled = self.tiles();
        cx.accumulate(0, |dx, first| {
            parallel::rows_mut(dx.data_mut(), plane, |start, planes| {
                for (n, dx) in (start..).zip(planes.chunks_exact_mut(plane)) {
                    if first {
                        dx.fill(0.0);
                    }
                    let (x, y) = (&x.data()[n * plane..][..plane], &y.data()[n * out..][..out]);
                    let dy = &dy.data()[n * out..][..out];
                    if kind == Pooling::Max && tiled {
                        simd::vectorized_loop(TiledMax::Backward {
                            g: &g,
                            x,
                            y,
                            dy,
                            dx,
                        });
                        continue;
                    }
                    Pool2d::windows(&g, |o, rows, cols| match kind {
                        Pooling::Max => {
                            // The first tap that holds the window's maximum.
                            'window: for r in rows {
                                for c in cols.clone() {
                                    let i = r * g.width + c;
                                    if x[i] == y[o] {
                                        dx[i] += dy[o];
                                        break 'window;
                                    }
                                }
                            }
                        }
                        Pooling::Average => {
                            for r in rows {
                                for v in &mut dx[r * g.width..][cols.clone()] {
                                    *v += dy[o] / area;
                                }
                            }
                        }
                    });
                }
            });
        });
    }
}

/// The mean of each channel of each image: `[B, C, H, W]` → `[B, C]`.
pub struct GlobalAveragePool;

impl Op for GlobalAveragePool {
    type Saved = ();

    fn name(&self) -> String {
        "global average pool".into()
    }

    fn examples(&self, batched: &[bool]) -> Examples {
        Examples::rowwise(batched)
    }

    fn forward(&self, x: &[&Tensor], y: &mut Tensor, _: &mut ()) {
        let x = x[0];
        let s = x.shape();
        let plane = s[2] * s[3];
        y.resize_for(&[s[0], s[1]]);
        for (y, p) in y.data_mut().iter_mut().zip(x.data().chunks_exact(plane)) {
            *y = p.iter().sum::<f32>() / plane as f32;
        }
    }

    fn backward(&self, cx: &mut Backward, _: &mut ()) {
        let s = cx.x[0].shape();
        let plane = s[2] * s[3];
        let dy = cx.dy.data();
        // ∂L/∂x = dY/(H·W) at every position of the channel.
        cx.add(0, |i| dy[i / plane] / plane as f32);
    }
}

impl Graph<'_, '_> {
    /// Max or average pooling of a batch of images `x` (`[B, C, H, W]`).
    ///
    /// # Panics
    /// If `x` is not 4-D, the window or stride is 0, or the window does not
    /// fit in the padded image (or the padding exceeds half the window, as
    /// PyTorch requires).
    pub fn pool2d(&mut self, x: Var, op: Pool2d) -> Var {
        let shape = self.value(x).shape();
        let Ok(shape) = <[usize; 4]>::try_from(shape) else {
            panic!("pool2d: input {shape:?} must be [B, C, H, W]")
        };
        let (k, s, p) = (op.kernel, op.stride, op.padding);
        assert!(
            k.0 > 0 && k.1 > 0 && s.0 > 0 && s.1 > 0,
            "pool2d: window {k:?} and stride {s:?} must be positive"
        );
        assert!(
            2 * p.0 <= k.0 && 2 * p.1 <= k.1,
            "pool2d: padding {p:?} exceeds half the window {k:?}"
        );
        assert!(
            op.geometry(self.value(x)).positions() > 0,
            "pool2d: a {k:?} window does not fit in input {shape:?} padded by {p:?}"
        );
        self.apply(op, &[x])
    }

    /// The maximum over `k × k` windows moved by `k` (no padding).
    pub fn max_pool2d(&mut self, x: Var, k: usize) -> Var {
        self.pool2d(
            x,
            Pool2d {
                kind: Pooling::Max,
                kernel: (k, k),
                stride: (k, k),
                padding: (0, 0),
            },
        )
    }

    /// The mean over `k × k` windows moved by `k` (no padding).
    pub fn avg_pool2d(&mut self, x: Var, k: usize) -> Var {
        self.pool2d(
            x,
            Pool2d {
                kind: Pooling::Average,
                kernel: (k, k),
                stride: (k, k),
                padding: (0, 0),
            },
        )
    }

    /// The mean of every channel: `[B, C, H, W]` → `[B, C]`.
    ///
    /// # Panics
    /// If `x` is not 4-D or has an empty image.
    pub fn global_avg_pool(&mut self, x: Var) -> Var {
        let shape = self.value(x).shape();
        assert!(
            shape.len() == 4 && shape[2] * shape[3] > 0,
            "global_avg_pool: input {shape:?} must be [B, C, H, W] with H, W > 0"
        );
        self.apply(GlobalAveragePool, &[x])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Max pooling of one channel and its derivative (added to `dx`) by
    /// the general loop, window by window.
    fn by_windows(g: &ConvGeometry, x: &[f32], dy: &[f32], dx: &mut [f32]) -> Vec<f32> {
        let mut y = vec![0.0; g.positions()];
        Pool2d::windows(g, |o, rows, cols| {
            let mut m = f32::NEG_INFINITY;
            for r in rows.clone() {
                for &v in &x[r * g.width..][cols.clone()] {
                    if v > m {
                        m = v;
                    }
                }
            }
            y[o] = m;
            'window: for r in rows {
                for c in cols.clone() {
                    if x[r * g.width + c] == m {
                        dx[r * g.width + c] += dy[o];
                        break 'window;
                    }
                }
            }
        });
        y
    }

    /// The tiled loops give the general loop's bits, ties and signed zeros
    /// included (the first of equal taps wins; −0 and +0 are equal), for
    /// the 2 × 2 loop and the others, on images the windows do not cover.
    #[test]
    fn tiled_max_pooling_is_the_general_loop() {
        for (kernel, (h, w)) in [
            ((2, 2), (6, 8)),
            ((2, 2), (7, 5)),
            ((3, 3), (7, 8)),
            ((1, 3), (4, 7)),
        ] {
            let g = ConvGeometry {
                channels: 1,
                height: h,
                width: w,
                kernel,
                stride: kernel,
                padding: (0, 0),
                dilation: (1, 1),
            };
            let values = [0.0, -0.0, 1.0, -1.0, 1.0, f32::NEG_INFINITY, 2.0];
            let x: Vec<f32> = (0..h * w).map(|i| values[(i * 5 + i / 3) % 7]).collect();
            let dy: Vec<f32> = (0..g.positions()).map(|i| 0.5 + i as f32).collect();
            let start: Vec<f32> = (0..h * w).map(|i| -0.25 * i as f32).collect();
            let mut want_dx = start.clone();
            let want_y = by_windows(&g, &x, &dy, &mut want_dx);
            let mut y = vec![f32::NAN; g.positions()];
            tiled_max(&g, &x, &mut y);
            let mut dx = start;
            tiled_max_backward(&g, &x, &y, &dy, &mut dx);
            let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&y), bits(&want_y), "{kernel:?} on {h}×{w}");
            assert_eq!(bits(&dx), bits(&want_dx), "{kernel:?} on {h}×{w}");
        }
    }
}
