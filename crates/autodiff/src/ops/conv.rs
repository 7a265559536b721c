//! 2-D convolution: `y = W ⋆ x + b` over a batch of images, in PyTorch's
//! layouts (`x` is `[B, C, H, W]`, `W` is `[O, C, kh, kw]`, `y` is
//! `[B, O, OH, OW]`).
//!
//! **As a product.** With the input's windows packed as columns (im2col,
//! see the tensor crate's `im2col` module: `cols` is `[K, B·P]`, K = C·kh·kw
//! values per window, P = OH·OW windows per image), the convolution of the
//! whole batch is one matrix product, `Y = W·cols + b` (`[O, K]·[K, B·P]`).
//!
//! **Derivative.** With `dY = ∂L/∂y` laid out the same way (`[O, B·P]`):
//!
//! ```text
//! dW = dY·colsᵀ      db_o = Σ_b Σ_p dY_b,o,p      dx = col2im(Wᵀ·dY)
//! ```
//!
//! col2im adds each window's gradient back to the input positions the
//! window read: a position read by several windows gets the sum.
//!
//! **In cache.** The batch's windows are large (`[K, B·P]` is 160 MB for
//! the standard CNN's second convolution at B = 256), and written to memory
//! and read back they cost more than the products. So training never packs
//! them whole: the forward pass packs one example's windows at a time into
//! a scratch block and multiplies them there, dx unpacks each example's
//! `Wᵀ·dY_b` from a scratch block the same way, and dW's product over the
//! B·P positions runs chunk by chunk, each chunk of the windows and of dY
//! made just before it is multiplied (the tensor crate's `gemm_chunked`,
//! which gives the bits of the one product). Only per-example statistics,
//! which read every example's windows, pack the batch's.
//!
//! **Per example: weight sharing.** The filter is used at every position,
//! so example b's gradient sums an outer product per position:
//! `g_b(W) = Σ_p δ_b,p a_b,pᵀ` (a_b,p the window, δ_b,p the output gradient
//! there), `g_b(b) = Σ_p δ_b,p`. The `sharing` module says how its norms,
//! mean of squares and clipped mean are computed — materialized on the
//! GEMM, one `[O, P]·[P, K]` product per example, or by ghost norms — and
//! why.

use gradlab_tensor::im2col::{col2im, im2col, im2col_examples, ConvGeometry};
use gradlab_tensor::{gemm_chunked, gemm_packed, parallel, PackedMatrix, Tensor};

use crate::kernels;
use crate::op::{Backward, Examples, Op};
use crate::ops::sharing::{self, Norms};
use crate::tape::{Graph, Var};

/// A 2-D convolution: inputs `x`, `w` and, when `bias`, `b`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2d {
    /// Steps between windows, down and across.
    pub stride: (usize, usize),
    /// Zeros added on each side, top/bottom and left/right.
    pub padding: (usize, usize),
    /// Spacing of the window's taps (1: adjacent).
    pub dilation: (usize, usize),
    /// Whether the third input is a bias.
    pub bias: bool,
}

/// Floats of windows the forward pass packs at a time (at least one
/// example's): small images go a few at a time, so that packing a tap's
/// row is not mostly the cost of starting one.
const GROUP: usize = 1 << 16;

/// What the convolution keeps between its passes, reused step after step.
#[derive(Default)]
pub struct ConvSaved {
    /// The whole batch's windows, `[K, B·P]`, made only for per-example
    /// statistics.
    cols: Tensor,
    /// Whether `cols` holds this step's windows (made by the backward pass
    /// since the last forward).
    cols_made: bool,
    /// A few examples' windows (`[K, n·P]`, n examples of a group), or an
    /// example's `Wᵀ·dY_b`, per block of examples run side by side: each is
    /// used while it is in cache.
    windows: Vec<f32>,
    /// Chunks of dY and of the windows, for the weight product.
    chunks: Vec<f32>,
    /// W (forward) or Wᵀ (backward), packed once for every example's
    /// product.
    filters: PackedMatrix,
    /// The input's gradient before it is added to another's.
    dx: Tensor,
    /// Each example's weight gradient, `[B, O·K]`, when it is asked for.
    per_example: Tensor,
    /// Rows in which examples' weight gradients are made for their norms.
    scratch: Tensor,
    /// Each example's bias gradient, `[B, O]`.
    per_example_bias: Tensor,
}

impl Conv2d {
    /// The geometry of input `x` under weight `w`.
    fn geometry(&self, x: &Tensor, w: &Tensor) -> ConvGeometry {
        ConvGeometry {
            channels: x.shape()[1],
            height: x.shape()[2],
            width: x.shape()[3],
            kernel: (w.shape()[2], w.shape()[3]),
            stride: self.stride,
            padding: self.padding,
            dilation: self.dilation,
        }
    }
}

impl Op for Conv2d {
    type Saved = ConvSaved;

    fn name(&self) -> String {
        format!(
            "conv2d stride {:?} padding {:?}{}{}",
            self.stride,
            self.padding,
            if self.dilation == (1, 1) {
                String::new()
            } else {
                format!(" dilation {:?}", self.dilation)
            },
            if self.bias { " + bias" } else { "" }
        )
    }

    /// Image b of the output is example b's; a weight or bias that is itself
    /// a batch would sum over examples.
    fn examples(&self, batched: &[bool]) -> Examples {
        Examples {
            batched: batched[0],
            mixes: batched[1..].iter().any(|&b| b),
        }
    }

    fn forward(&self, x: &[&Tensor], y: &mut Tensor, saved: &mut ConvSaved) {
        let (xv, w) = (x[0], x[1]);
        let g = self.geometry(xv, w);
        let (batch, outputs) = (xv.shape()[0], w.shape()[0]);
        let (k, p) = (g.patch(), g.positions());
        // Y_b = W·cols_b (+ b), example by example straight into its
        // [O, P] image of y, from b's windows packed in cache a few
        // examples at a time (as many as fit in `GROUP` floats, at least
        // one): the same products, element for element, as one
        // [O, K]·[K, B·P] GEMM, without writing the batch's windows to
        // memory.
        y.resize_for(&[batch, outputs, g.out_height(), g.out_width()]);
        let bias = self.bias.then(|| x[2].data());
        let (xs, input) = (xv.data(), g.input());
        let each = outputs * p;
        let group = (GROUP / (k * p).max(1)).max(1);
        saved.cols_made = false;
        saved.filters.pack(outputs, k, w.data(), (k, 1));
        let filters = &saved.filters;
        parallel::rows_with_scratch(
            y.data_mut(),
            each,
            &mut saved.windows,
            group * k * p,
            |first, images, cols| {
                for (b0, images) in (first..)
                    .step_by(group)
                    .zip(images.chunks_mut(group * each))
                {
                    let n = images.len() / each;
                    let cols = &mut cols[..k * n * p];
                    im2col_examples(&g, &xs[b0 * input..][..n * input], cols);
                    for (j, image) in images.chunks_exact_mut(each).enumerate() {
                        gemm_packed(filters, p, 1.0, &cols[j * p..], (n * p, 1), 0.0, image, p);
                        if let Some(bias) = bias {
                            for (row, &c) in image.chunks_exact_mut(p).zip(bias) {
                                row.iter_mut().for_each(|v| *v += c);
                            }
                        }
                    }
                }
            },
        );
    }

    fn backward(&self, cx: &mut Backward, saved: &mut ConvSaved) {
        let (x, dy) = (cx.x, cx.dy.data());
        let (xv, w) = (x[0], x[1]);
        let g = self.geometry(xv, w);
        let (batch, outputs) = (xv.shape()[0], w.shape()[0]);
        let (k, p) = (g.patch(), g.positions());
        let ConvSaved {
            cols,
            cols_made,
            windows,
            chunks,
            filters,
            dx,
            per_example,
            scratch,
            per_example_bias,
        } = saved;
        let s = cx.batch() as f32;
        let batched = cx.is_batch(0);
        let norms_by = sharing::norms_by(cx.clipping(), batch, k, outputs, p);
        // dW = dY·colsᵀ, written over the gradient or added to it: the
        // product over the batch's B·P positions, each chunk of dY (as
        // [O, B·P]) and of the windows made as the product reaches it —
        // copied from the batch's windows when they were made already.
        let xs = xv.data();
        let weight_product =
            |grad: &mut Tensor, first: bool, chunks: &mut Vec<f32>, made: Option<&Tensor>| {
                let beta = if first { 0.0 } else { 1.0 };
                let positions = batch * p;
                gemm_chunked(
                    outputs,
                    positions,
                    k,
                    1.0,
                    beta,
                    grad.data_mut(),
                    chunks,
                    |q, d, a| {
                        kernels::channel_major(dy, outputs, p, q, d);
                        match made {
                            Some(cols) => kernels::columns(cols.data(), positions, q, a),
                            None => im2col(&g, xs, batch, q, a),
                        }
                    },
                );
            };
        if let (Some(c), true) = (cx.clip_factors(), batched) {
            // Clipping's second pass (the batch's input needs no gradient
            // in it): the clipped mean Σ_b c_b·(g_b/B) from the g_b/B the
            // walk kept, or the weight product from dY, whose rows are
            // scaled by c_b.
            if norms_by == Norms::Kept {
                cx.accumulate(1, |grad, first| {
                    kernels::weighted_row_sum(per_example.data(), c, first, grad.data_mut())
                });
            } else {
                let made = cols_made.then_some(&*cols);
                cx.accumulate(1, |grad, first| weight_product(grad, first, chunks, made));
            }
            if self.bias {
                cx.accumulate(2, |grad, first| {
                    kernels::weighted_row_sum(per_example_bias.data(), c, first, grad.data_mut())
                });
            }
            return;
        }
        let keep = batched && (cx.per_example(1) || (cx.wants_norms(1) && norms_by == Norms::Kept));
        if keep || (batched && cx.wants_norms(1)) {
            // Each example's statistics read its windows in place.
            cols.resize_for(&[k, batch * p]);
            im2col(&g, xs, batch, 0, cols.data_mut());
            *cols_made = true;
        }
        let made = cols_made.then_some(&*cols);
        if keep {
            // g_b(W)/B for every example, the rows of `per_example`.
            per_example.resize_for(&[batch, outputs * k]);
            let cols = cols.data();
            kernels::per_example_products(per_example.data_mut(), outputs * k, |b, g| {
                kernels::example_product(dy, cols, outputs, k, p, batch, b, g)
            });
        }
        if batched && cx.wants_norms(1) {
            let cols = cols.data();
            cx.norms(1, |n| match norms_by {
                // ‖g_b‖² = B²·⟨A_b A_bᵀ, D_b D_bᵀ⟩
                Norms::Ghost => kernels::ghost_norms(cols, dy, k, outputs, p, batch, s * s, n),
                // ‖g_b‖² = B²·‖g_b/B‖², from the kept rows or each made in
                // scratch.
                Norms::Kept => kernels::row_norms(per_example.data(), s * s, n),
                Norms::Scratch => {
                    kernels::norms_of_products(n, outputs * k, s * s, scratch, |b, g| {
                        kernels::example_product(dy, cols, outputs, k, p, batch, b, g)
                    })
                }
            });
        }
        if batched && cx.per_example(1) {
            cx.accumulate_with_stats(1, |grad, first, sq, pe| {
                weight_product(grad, first, chunks, made);
                // (1/B)·Σ_b g_b² = B·Σ_b (g_b/B)².
                sq.resize_for(w.shape());
                kernels::scaled_column_sums_of_squares(per_example.data(), s, sq.data_mut());
                if let Some(pe) = pe {
                    let ws = w.shape();
                    pe.resize_for(&[batch, ws[0], ws[1], ws[2], ws[3]]);
                    pe.data_mut()
                        .iter_mut()
                        .zip(per_example.data())
                        .for_each(|(o, &v)| *o = s * v);
                }
            });
        } else {
            cx.accumulate(1, |grad, first| weight_product(grad, first, chunks, made));
        }
        if self.bias {
            let bias_stats = batched && (cx.per_example(2) || cx.wants_norms(2));
            if bias_stats {
                per_example_bias.resize_for(&[batch, outputs]);
                kernels::position_sums(dy, p, per_example_bias.data_mut());
            }
            if batched && cx.wants_norms(2) {
                // ‖g_b(b)‖² = B²·‖Σ_p dY_b,·,p‖²
                cx.norms(2, |n| kernels::row_norms(per_example_bias.data(), s * s, n));
            }
            // db_o = Σ_b Σ_p dY_b,o,p
            cx.accumulate(2, |grad, first| {
                kernels::output_sums(dy, p, first, grad.data_mut())
            });
            if batched && cx.per_example(2) {
                cx.stats(2, |sq, pe| {
                    sq.resize_for(&[outputs]);
                    kernels::scaled_column_sums_of_squares(
                        per_example_bias.data(),
                        s,
                        sq.data_mut(),
                    );
                    if let Some(pe) = pe {
                        pe.resize_for(&[batch, outputs]);
                        pe.data_mut()
                            .iter_mut()
                            .zip(per_example_bias.data())
                            .for_each(|(o, &v)| *o = s * v);
                    }
                });
            }
        }
        if cx.needs_grad(0) {
            // dx_b = col2im(Wᵀ·dY_b), example by example, so that the
            // [K, P] gradient of b's windows is still in cache when it is
            // unpacked (each element the same product as in one
            // [K, O]·[O, B·P] GEMM).
            filters.pack(k, outputs, w.data(), (1, k));
            let filters = &*filters;
            let unpack = |dxs: &mut [f32], windows: &mut Vec<f32>| {
                parallel::rows_with_scratch(dxs, g.input(), windows, k * p, |first, images, dc| {
                    for (b, image) in (first..).zip(images.chunks_exact_mut(g.input())) {
                        let dy_b = &dy[b * outputs * p..][..outputs * p];
                        gemm_packed(filters, p, 1.0, dy_b, (p, 1), 0.0, dc, p);
                        col2im(&g, dc, image);
                    }
                });
            };
            cx.accumulate(0, |grad, first| {
                if first {
                    unpack(grad.data_mut(), windows);
                } else {
                    dx.resize_for(grad.shape());
                    unpack(dx.data_mut(), windows);
                    grad.data_mut()
                        .iter_mut()
                        .zip(dx.data())
                        .for_each(|(g, d)| *g += d);
                }
            });
        }
    }
}

impl Graph<'_, '_> {
    /// The 2-D convolution of a batch `x` (`[B, C, H, W]`) with filters `w`
    /// (`[O, C, kh, kw]`, PyTorch's `nn.Conv2d` layout) and an optional
    /// bias `b` (`[O]`): output `[B, O, OH, OW]` with
    /// OH = ⌊(H + 2·ph − dh·(kh − 1) − 1)/sh⌋ + 1 (and OW alike).
    ///
    /// # Panics
    /// If the shapes do not fit, or the window does not fit in the padded
    /// image.
    pub fn conv2d(&mut self, x: Var, w: Var, b: Option<Var>, op: Conv2d) -> Var {
        let (xs, ws) = (self.value(x).shape(), self.value(w).shape());
        let four = |s: &[usize]| <[usize; 4]>::try_from(s).ok();
        let (Some(xs), Some(ws)) = (four(xs), four(ws)) else {
            panic!("conv2d: input {xs:?} and weight {ws:?} must be [B, C, H, W] and [O, C, kh, kw]")
        };
        assert!(
            xs[1] == ws[1],
            "conv2d: input {xs:?} has {} channels but weight {ws:?} takes {}",
            xs[1],
            ws[1]
        );
        let g = op.geometry(self.value(x), self.value(w));
        assert!(
            op.stride.0 > 0 && op.stride.1 > 0 && op.dilation.0 > 0 && op.dilation.1 > 0,
            "conv2d: stride {:?} and dilation {:?} must be positive",
            op.stride,
            op.dilation
        );
        assert!(
            g.positions() > 0,
            "conv2d: a {}×{} window (dilation {:?}) does not fit in input {xs:?} padded by {:?}",
            ws[2],
            ws[3],
            op.dilation,
            op.padding
        );
        let op = Conv2d {
            bias: b.is_some(),
            ..op
        };
        match b {
            Some(b) => {
                let shape = self.value(b).shape();
                assert!(
                    shape == [ws[0]],
                    "conv2d: bias of shape {shape:?} for {} filters",
                    ws[0]
                );
                self.apply(op, &[x, w, b])
            }
            None => self.apply(op, &[x, w]),
        }
    }
}
