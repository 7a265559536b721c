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
use gradlab_tensor::{parallel, Tensor};

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
        parallel::rows_mut(y.data_mut(), out, |first, planes| {
            for (n, y) in (first..).zip(planes.chunks_exact_mut(out)) {
                let x = &x.data()[n * plane..][..plane];
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
        cx.accumulate(0, |dx, first| {
            parallel::rows_mut(dx.data_mut(), plane, |start, planes| {
                for (n, dx) in (start..).zip(planes.chunks_exact_mut(plane)) {
                    if first {
                        dx.fill(0.0);
                    }
                    let (x, y) = (&x.data()[n * plane..][..plane], &y.data()[n * out..][..out]);
                    let dy = &dy.data()[n * out..][..out];
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
