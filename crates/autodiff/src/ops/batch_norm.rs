//! Batch normalization: each channel of `[B, C, …]` standardized over the
//! whole batch and every position, then scaled and shifted per channel
//! (PyTorch's `nn.BatchNorm2d` and `nn.BatchNorm1d`):
//!
//! ```text
//! μ_c = mean_{b,s} x_{b,c,s}    σ²_c = mean_{b,s} (x_{b,c,s} − μ_c)²
//! x̂ = (x − μ_c)/√(σ²_c + ε)    y = γ_c·x̂ + β_c
//! ```
//!
//! over the N = B·S values of channel c while training
//! ([`Statistics::Batch`]); evaluation reads μ and σ² from running averages
//! instead ([`Statistics::Given`]: two more inputs, constants).
//!
//! **Derivative.** With batch statistics every x̂ depends on every example
//! of the batch, so per channel, with dY = ∂L/∂y:
//!
//! ```text
//! dx = γ_c/√(σ²_c + ε) · (dY − mean(dY) − x̂·mean(dY·x̂))
//! dγ_c = Σ dY·x̂      dβ_c = Σ dY
//! ```
//!
//! and with given statistics dx = γ_c/√(σ²_c + ε)·dY.
//!
//! Batch statistics mix the examples: the op declares so, and a
//! per-example request through it is an error that names it (group or
//! layer normalization, which standardize within an example, pass them).

use gradlab_tensor::{parallel, Tensor};

use crate::op::{Backward, Examples, Op};
use crate::tape::{Graph, Var};

/// Where μ and σ² come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Statistics {
    /// The batch's own, per channel (training).
    Batch,
    /// Inputs 3 and 4, `[C]` each (evaluation: the running averages).
    Given,
}

/// Batch normalization with `eps` added to the variance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNorm {
    /// Where the statistics come from.
    pub statistics: Statistics,
    /// ε, added to the variance.
    pub eps: f32,
}

/// What batch normalization keeps between its passes. x̂ is not among
/// them: the backward pass computes it again from x, the same expression
/// to the bit, rather than write and read back a copy of the input.
#[derive(Default)]
pub struct BatchNormSaved {
    /// μ of every channel.
    mean: Tensor,
    /// σ² of every channel, when they are the batch's.
    var: Tensor,
    /// 1/√(σ² + ε) of every channel.
    rstd: Tensor,
    /// Σ dY and Σ dY·x̂ of every channel.
    sums: Vec<[f32; 2]>,
}

/// The mean μ_c and the (biased) variance σ²_c of every channel of `x`
/// (`[B, C, …]`) over the batch and every position, into `mean` and `var`
/// (`[C]` each): two passes, for accuracy.
fn channel_statistics(x: &Tensor, mean: &mut [f32], var: &mut [f32]) {
    let s = x.shape();
    let (channels, plane) = (s[1], s[2..].iter().product::<usize>());
    let n = x.len() / channels;
    let (means, _) = mean.as_chunks_mut::<1>();
    channel_sums(x.data(), x.data(), channels, plane, means, |_, v, _| [v]);
    mean.iter_mut().for_each(|m| *m /= n as f32);
    let mean = &*mean;
    let (vars, _) = var.as_chunks_mut::<1>();
    channel_sums(x.data(), x.data(), channels, plane, vars, |c, v, _| {
        [(v - mean[c]) * (v - mean[c])]
    });
    var.iter_mut().for_each(|v| *v /= n as f32);
}

/// Examples whose plane sums run side by side in [`channel_sums`].
const LANES: usize = 8;

/// Per channel c of `x` (`[B, C, S]`): `out[c] = Σ f(c, x, y)` over the
/// channel's values, `y` being the same positions of `other`, for each of
/// the `N` sums f gives — each example's plane summed in order of
/// position, the planes' sums added in order of example.
///
/// A plane's sum is one chain of dependent additions, bound by the adder's
/// latency; [`LANES`] examples' chains run interleaved, so the adder works
/// on several at once while every sum keeps its order (and its bits).
fn channel_sums<const N: usize>(
    x: &[f32],
    other: &[f32],
    channels: usize,
    plane: usize,
    out: &mut [[f32; N]],
    f: impl Fn(usize, f32, f32) -> [f32; N] + Sync + Send,
) {
    let n = x.len() / channels;
    let batch = n / plane.max(1);
    let at = |b: usize, c: usize| (b * channels + c) * plane;
    parallel::per_row(out, n, |first, block| {
        for (c, o) in (first..).zip(block) {
            // Rust's f32 sum starts from −0.0; so do the planes' sums.
            let mut sum = [0.0f32; N];
            let mut b = 0;
            while b + LANES <= batch {
                let xs: [&[f32]; LANES] = std::array::from_fn(|i| &x[at(b + i, c)..][..plane]);
                let ys: [&[f32]; LANES] = std::array::from_fn(|i| &other[at(b + i, c)..][..plane]);
                let mut acc = [[-0.0f32; N]; LANES];
                for s in 0..plane {
                    for (acc, (xs, ys)) in acc.iter_mut().zip(xs.iter().zip(&ys)) {
                        let v = f(c, xs[s], ys[s]);
                        (0..N).for_each(|j| acc[j] += v[j]);
                    }
                }
                for acc in &acc {
                    (0..N).for_each(|j| sum[j] += acc[j]);
                }
                b += LANES;
            }
            for b in b..batch {
                let (xs, ys) = (&x[at(b, c)..][..plane], &other[at(b, c)..][..plane]);
                let mut part = [-0.0f32; N];
                for (&u, &v) in xs.iter().zip(ys) {
                    let v = f(c, u, v);
                    (0..N).for_each(|j| part[j] += v[j]);
                }
                (0..N).for_each(|j| sum[j] += part[j]);
            }
            *o = sum;
        }
    });
}

impl Op for BatchNorm {
    type Saved = BatchNormSaved;

    fn name(&self) -> String {
        match self.statistics {
            Statistics::Batch => "batch norm (batch statistics)".into(),
            Statistics::Given => "batch norm (running statistics)".into(),
        }
    }

    /// Batch statistics mix every example into every output.
    fn examples(&self, batched: &[bool]) -> Examples {
        Examples {
            batched: batched[0],
            mixes: (self.statistics == Statistics::Batch && batched[0])
                || batched[1..].iter().any(|&b| b),
        }
    }

    fn forward(&self, x: &[&Tensor], y: &mut Tensor, saved: &mut BatchNormSaved) {
        let xv = x[0];
        let s = xv.shape();
        let (channels, plane) = (s[1], s[2..].iter().product::<usize>());
        saved.mean.resize_for(&[channels]);
        saved.rstd.resize_for(&[channels]);
        let eps = self.eps;
        match self.statistics {
            Statistics::Batch => {
                saved.var.resize_for(&[channels]);
                channel_statistics(xv, saved.mean.data_mut(), saved.var.data_mut());
                saved
                    .rstd
                    .data_mut()
                    .iter_mut()
                    .zip(saved.var.data())
                    .for_each(|(r, &v)| *r = 1.0 / (v + eps).sqrt());
            }
            Statistics::Given => {
                saved.mean.assign(x[3]);
                let var = x[4].data();
                saved
                    .rstd
                    .data_mut()
                    .iter_mut()
                    .zip(var)
                    .for_each(|(r, &v)| *r = 1.0 / (v + eps).sqrt());
            }
        }
        let (mean, rstd) = (saved.mean.data(), saved.rstd.data());
        y.resize_for(s);
        let (gamma, beta) = (x[1].data(), x[2].data());
        parallel::rows_mut(y.data_mut(), plane, |first, rows| {
            for (i, y) in (first..).zip(rows.chunks_exact_mut(plane)) {
                let c = i % channels;
                let x = &xv.data()[i * plane..][..plane];
                for (y, &v) in y.iter_mut().zip(x) {
                    let h = (v - mean[c]) * rstd[c];
                    *y = gamma[c] * h + beta[c];
                }
            }
        });
    }

    fn backward(&self, cx: &mut Backward, saved: &mut BatchNormSaved) {
        let (xv, dy) = (cx.x[0], cx.dy);
        let s = xv.shape();
        let (channels, plane) = (s[1], s[2..].iter().product::<usize>());
        let n = (xv.len() / channels) as f32;
        let BatchNormSaved {
            mean, rstd, sums, ..
        } = saved;
        let (mean, rstd) = (mean.data(), rstd.data());
        // x̂ as the forward pass computed it.
        let xhat = |c: usize, v: f32| (v - mean[c]) * rstd[c];
        // Σ dY and Σ dY·x̂ in one pass.
        sums.resize(channels, [0.0; 2]);
        channel_sums(dy.data(), xv.data(), channels, plane, sums, |c, d, v| {
            [d, d * xhat(c, v)]
        });
        let sums = &*sums;
        for (input, which) in [(1, 1), (2, 0)] {
            // dγ_c = Σ dY·x̂, dβ_c = Σ dY.
            cx.accumulate(input, |grad, first| {
                let g = grad.data_mut();
                for (g, s) in g.iter_mut().zip(sums) {
                    *g = if first { s[which] } else { *g + s[which] };
                }
            });
        }
        let gamma = cx.x[1].data();
        let batch = self.statistics == Statistics::Batch;
        cx.accumulate(0, |grad, first| {
            parallel::rows_mut(grad.data_mut(), plane, |start, rows| {
                for (i, out) in (start..).zip(rows.chunks_exact_mut(plane)) {
                    let c = i % channels;
                    let (d, x) = (
                        &dy.data()[i * plane..][..plane],
                        &xv.data()[i * plane..][..plane],
                    );
                    let scale = gamma[c] * rstd[c];
                    // Batch statistics: dY − mean(dY) − x̂·mean(dY·x̂).
                    let (mean_dy, mean_dot) = if batch {
                        (sums[c][0] / n, sums[c][1] / n)
                    } else {
                        (0.0, 0.0)
                    };
                    for ((o, &d), &v) in out.iter_mut().zip(d).zip(x) {
                        let v = scale * (d - mean_dy - xhat(c, v) * mean_dot);
                        *o = if first { v } else { *o + v };
                    }
                }
            });
        });
    }
}

impl Graph<'_, '_> {
    /// Batch normalization of `x` (`[B, C, …]`) with the batch's own
    /// statistics per channel, scaled by `gamma` and shifted by `beta`
    /// (`[C]` each): PyTorch's `nn.BatchNorm2d` in training mode. It mixes
    /// the examples of the batch, so no per-example statistic passes it.
    ///
    /// # Panics
    /// If `x` has fewer than 2 axes or a channel of a single value, or γ and
    /// β are not `[C]`.
    pub fn batch_norm(&mut self, x: Var, gamma: Var, beta: Var, eps: f32) -> Var {
        let shape = self.value(x).shape();
        assert!(
            shape.len() >= 2 && shape[0] * shape[2..].iter().product::<usize>() > 1,
            "batch_norm: input {shape:?} must be [B, C, …] with more than one value per channel"
        );
        self.check_affine("batch_norm", x, &[gamma, beta]);
        let op = BatchNorm {
            statistics: Statistics::Batch,
            eps,
        };
        self.apply(op, &[x, gamma, beta])
    }

    /// The batch's mean μ and (biased) variance σ² per channel (`[C]`
    /// each) that batch normalization node `y` standardized with, for a
    /// layer's running averages; `None` if `y` is not a batch
    /// normalization with batch statistics.
    pub fn batch_statistics(&mut self, y: Var) -> Option<(&[f32], &[f32])> {
        let (op, saved) = self.recorded::<BatchNorm>(y)?;
        (op.statistics == Statistics::Batch).then(|| (saved.mean.data(), saved.var.data()))
    }

    /// Batch normalization of `x` (`[B, C, …]`) with the given per-channel
    /// `mean` and `var` (`[C]`, the running averages): PyTorch's
    /// `nn.BatchNorm2d` in evaluation mode.
    ///
    /// # Panics
    /// If `x` has fewer than 2 axes, or γ, β, μ or σ² are not `[C]`.
    pub fn batch_norm_with(
        &mut self,
        x: Var,
        gamma: Var,
        beta: Var,
        mean: Var,
        var: Var,
        eps: f32,
    ) -> Var {
        let shape = self.value(x).shape();
        assert!(
            shape.len() >= 2,
            "batch_norm: input {shape:?} must be [B, C, …]"
        );
        self.check_affine("batch_norm", x, &[gamma, beta, mean, var]);
        let op = BatchNorm {
            statistics: Statistics::Given,
            eps,
        };
        self.apply(op, &[x, gamma, beta, mean, var])
    }

    /// Panics unless every one of `per_channel` is `[C]` for the channels
    /// (axis 1) of `x`.
    fn check_affine(&self, op: &str, x: Var, per_channel: &[Var]) {
        let channels = self.value(x).shape()[1];
        for &v in per_channel {
            let s = self.value(v).shape();
            assert!(
                s == [channels],
                "{op}: per-channel input {s:?} for {channels} channels"
            );
        }
    }
}
