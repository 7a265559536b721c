//! Normalization within an example: group normalization and layer
//! normalization, one op. Every group of `n` consecutive values of the
//! input is standardized, then scaled and shifted per feature:
//!
//! ```text
//! μ = mean(x_G)      σ² = mean((x_G − μ)²)      x̂ = (x − μ)/√(σ² + ε)
//! y = γ_a·x̂ + β_a
//! ```
//!
//! A group is contiguous in the row-major layout: for GroupNorm on
//! `[B, C, H, W]` it is `C/G` channels of one image (`n = (C/G)·H·W`), the
//! affine parameters are per channel (`a = ⌊i/(H·W)⌋ mod C` for position i
//! of the example); for LayerNorm over the last axis of `[…, D]` it is one
//! row (`n = D`) and the parameters are per feature (`a = i mod D`).
//!
//! **Derivative.** With `dY = ∂L/∂y` and `dx̂ = γ_a·dY`, per group:
//!
//! ```text
//! dx = (dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)) / √(σ² + ε)
//! dγ_a = Σ dY·x̂      dβ_a = Σ dY      (over every value using a)
//! ```
//!
//! A group never crosses examples, so the examples stay apart; example b's
//! gradient of γ sums dY·x̂ over its own values only, `g_b(γ) = B·Σ_{i∈b}
//! dY_i·x̂_i` (row b of dY being δ_b/B), and the op gives it for every
//! per-example request.

use gradlab_tensor::reduce::column_sums;
use gradlab_tensor::{parallel, Tensor};

use crate::kernels;
use crate::op::{Backward, Examples, Op};
use crate::tape::{Graph, Var};

/// Standardizes groups of `group` consecutive values, then scales and
/// shifts by inputs `γ` and `β` (both of length L), value i of an example
/// using parameter `⌊i/span⌋ mod L`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Normalize {
    /// Values per group.
    pub group: usize,
    /// Consecutive values that share one affine parameter.
    pub span: usize,
    /// ε, added to the variance.
    pub eps: f32,
}

/// What the normalization keeps between its passes.
#[derive(Default)]
pub struct NormSaved {
    /// x̂.
    xhat: Tensor,
    /// μ of every group.
    mean: Tensor,
    /// 1/√(σ² + ε) of every group.
    rstd: Tensor,
    /// Each example's Σ dY·x̂ and Σ dY per parameter, `[B, L]` each.
    per_example: (Tensor, Tensor),
}

impl Op for Normalize {
    type Saved = NormSaved;

    fn name(&self) -> String {
        format!("normalize groups of {}", self.group)
    }

    /// Groups lie within an example; γ or β given as a batch would mix.
    fn examples(&self, batched: &[bool]) -> Examples {
        Examples {
            batched: batched[0],
            mixes: batched[1..].iter().any(|&b| b),
        }
    }

    fn forward(&self, x: &[&Tensor], y: &mut Tensor, saved: &mut NormSaved) {
        let (xv, n, eps) = (x[0], self.group, self.eps);
        // The loops walk whole spans of one parameter.
        let example = xv.len() / xv.shape()[0];
        assert!(
            self.span > 0 && n % self.span == 0 && example % n == 0,
            "normalize: groups of {n} in examples of {example} values, spans of {}",
            self.span
        );
        let groups = xv.len() / n;
        saved.mean.resize_for(&[groups]);
        saved.rstd.resize_for(&[groups]);
        // μ, then 1/√(σ² + ε) (two passes over each group, for accuracy).
        parallel::per_row(saved.mean.data_mut(), n, |first, out| {
            for (g, m) in (first..).zip(out) {
                *m = xv.data()[g * n..][..n].iter().sum::<f32>() / n as f32;
            }
        });
        let mean = saved.mean.data();
        parallel::per_row(saved.rstd.data_mut(), n, |first, out| {
            for (g, r) in (first..).zip(out) {
                let m = mean[g];
                let var = xv.data()[g * n..][..n]
                    .iter()
                    .map(|&v| (v - m) * (v - m))
                    .sum::<f32>()
                    / n as f32;
                *r = 1.0 / (var + eps).sqrt();
            }
        });
        saved.xhat.resize_for(xv.shape());
        let rstd = saved.rstd.data();
        parallel::rows_mut(saved.xhat.data_mut(), n, |first, rows| {
            for (g, row) in (first..).zip(rows.chunks_exact_mut(n)) {
                let (m, r) = (mean[g], rstd[g]);
                row.iter_mut()
                    .zip(&xv.data()[g * n..][..n])
                    .for_each(|(o, &v)| *o = (v - m) * r);
            }
        });
        y.assign(&saved.xhat);
        let (gamma, beta) = (x[1].data(), x[2].data());
        let op = *self;
        parallel::rows_mut(y.data_mut(), example, |_, rows| {
            // The parameters repeat every L spans: blocks of L spans, each
            // span of values sharing one parameter, in order (a value per
            // parameter, layer norm's case, is a loop that vectorizes).
            let blocks = rows
                .chunks_exact_mut(example)
                .flat_map(|row| row.chunks_mut(gamma.len() * op.span));
            for block in blocks {
                if op.span == 1 {
                    let params = gamma.iter().zip(beta);
                    block
                        .iter_mut()
                        .zip(params)
                        .for_each(|(v, (g, b))| *v = g * *v + b);
                    continue;
                }
                for (a, span) in block.chunks_exact_mut(op.span).enumerate() {
                    span.iter_mut().for_each(|v| *v = gamma[a] * *v + beta[a]);
                }
            }
        });
    }

    fn backward(&self, cx: &mut Backward, saved: &mut NormSaved) {
        let (x, dy) = (cx.x, cx.dy);
        let (xv, n) = (x[0], self.group);
        let batch = xv.shape()[0];
        let example = xv.len() / batch;
        let NormSaved {
            xhat,
            rstd,
            per_example: (pg, pb),
            ..
        } = saved;
        let (xhat, rstd) = (&*xhat, &*rstd);
        let gamma = x[1].data();
        let len = gamma.len();
        let op = *self;
        // Each example's Σ dY·x̂ and Σ dY for every parameter: the
        // per-example gradients of γ and β, over B.
        pg.resize_for(&[batch, len]);
        pb.resize_for(&[batch, len]);
        parallel::rows_mut(pg.data_mut(), len, |first, rows| {
            for (b, row) in (first..).zip(rows.chunks_exact_mut(len)) {
                row.fill(0.0);
                let (d, h) = (
                    &dy.data()[b * example..][..example],
                    &xhat.data()[b * example..][..example],
                );
                let blocks = d.chunks(len * op.span).zip(h.chunks(len * op.span));
                for (d, h) in blocks {
                    if op.span == 1 {
                        let terms = d.iter().zip(h);
                        row.iter_mut()
                            .zip(terms)
                            .for_each(|(sum, (&d, &h))| *sum += d * h);
                        continue;
                    }
                    let spans = d.chunks_exact(op.span).zip(h.chunks_exact(op.span));
                    for (sum, (d, h)) in row.iter_mut().zip(spans) {
                        d.iter().zip(h).for_each(|(&d, &h)| *sum += d * h);
                    }
                }
            }
        });
        parallel::rows_mut(pb.data_mut(), len, |first, rows| {
            for (b, row) in (first..).zip(rows.chunks_exact_mut(len)) {
                row.fill(0.0);
                let d = &dy.data()[b * example..][..example];
                for d in d.chunks(len * op.span) {
                    if op.span == 1 {
                        row.iter_mut().zip(d).for_each(|(sum, &d)| *sum += d);
                        continue;
                    }
                    for (sum, d) in row.iter_mut().zip(d.chunks_exact(op.span)) {
                        d.iter().for_each(|&d| *sum += d);
                    }
                }
            }
        });
        let s = cx.batch() as f32;
        let batched = cx.is_batch(0);
        for (input, sums) in [(1, &*pg), (2, &*pb)] {
            cx.accumulate(input, |grad, first| {
                if first {
                    column_sums(sums.data(), len, grad.data_mut());
                } else {
                    for row in sums.data().chunks_exact(len) {
                        grad.data_mut()
                            .iter_mut()
                            .zip(row)
                            .for_each(|(g, r)| *g += r);
                    }
                }
            });
            if batched && cx.wants_norms(input) {
                cx.norms(input, |out| kernels::row_norms(sums.data(), s * s, out));
            }
            if batched && cx.per_example(input) {
                cx.stats(input, |sq, pe| {
                    sq.resize_for(&[len]);
                    kernels::scaled_column_sums_of_squares(sums.data(), s, sq.data_mut());
                    if let Some(pe) = pe {
                        pe.resize_for(&[batch, len]);
                        pe.data_mut()
                            .iter_mut()
                            .zip(sums.data())
                            .for_each(|(o, &v)| *o = s * v);
                    }
                });
            }
        }
        cx.accumulate(0, |grad, first| {
            parallel::rows_mut(grad.data_mut(), n, |start, rows| {
                for (g, out) in (start..).zip(rows.chunks_exact_mut(n)) {
                    let (d, h) = (&dy.data()[g * n..][..n], &xhat.data()[g * n..][..n]);
                    // The group starts a span: its first value's span
                    // within the example, and each later span's parameter.
                    let first_span = g * n % example / op.span;
                    if op.span == 1 && first_span % len + n <= len {
                        // A value per parameter, the group's parameters
                        // side by side (layer norm): loops that vectorize.
                        let gamma = &gamma[first_span % len..][..n];
                        let (mut sum, mut dot) = (0.0f32, 0.0f32);
                        for ((&d, &h), &gamma) in d.iter().zip(h).zip(gamma) {
                            let v = gamma * d;
                            sum += v;
                            dot += v * h;
                        }
                        let (mean, mean_dot, r) = (sum / n as f32, dot / n as f32, rstd.data()[g]);
                        let values = d.iter().zip(h).zip(gamma);
                        for (o, ((&d, &h), &gamma)) in out.iter_mut().zip(values) {
                            let v = r * (gamma * d - mean - h * mean_dot);
                            *o = if first { v } else { *o + v };
                        }
                        continue;
                    }
                    let gamma_of = |j: usize| gamma[(first_span + j) % len];
                    let (mut sum, mut dot) = (0.0f32, 0.0f32);
                    let spans = d.chunks_exact(op.span).zip(h.chunks_exact(op.span));
                    for (j, (d, h)) in spans.enumerate() {
                        let gamma = gamma_of(j);
                        for (&d, &h) in d.iter().zip(h) {
                            let v = gamma * d;
                            sum += v;
                            dot += v * h;
                        }
                    }
                    let (mean, mean_dot, r) = (sum / n as f32, dot / n as f32, rstd.data()[g]);
                    let spans = out
                        .chunks_exact_mut(op.span)
                        .zip(d.chunks_exact(op.span).zip(h.chunks_exact(op.span)));
                    for (j, (out, (d, h))) in spans.enumerate() {
                        let gamma = gamma_of(j);
                        for (o, (&d, &h)) in out.iter_mut().zip(d.iter().zip(h)) {
                            let v = r * (gamma * d - mean - h * mean_dot);
                            *o = if first { v } else { *o + v };
                        }
                    }
                }
            });
        });
    }
}

impl Graph<'_, '_> {
    /// Group normalization of a batch of images `x` (`[B, C, H, W]`, or
    /// `[B, C]`): the channels in `groups` groups, each standardized over
    /// its channels and positions, then scaled by `gamma` and shifted by
    /// `beta` (`[C]` each, PyTorch's `nn.GroupNorm`).
    ///
    /// # Panics
    /// If `groups` does not divide C, or γ and β are not `[C]`.
    pub fn group_norm(&mut self, x: Var, groups: usize, gamma: Var, beta: Var, eps: f32) -> Var {
        let shape = self.value(x).shape();
        assert!(
            shape.len() >= 2 && groups > 0 && shape[1].is_multiple_of(groups),
            "group_norm: {groups} groups do not divide the channels of {shape:?}"
        );
        let channels = shape[1];
        let plane: usize = shape[2..].iter().product();
        for v in [gamma, beta] {
            let s = self.value(v).shape();
            assert!(
                s == [channels],
                "group_norm: affine parameter {s:?} for {channels} channels"
            );
        }
        let op = Normalize {
            group: channels / groups * plane,
            span: plane,
            eps,
        };
        self.apply(op, &[x, gamma, beta])
    }

    /// Layer normalization over the last axis of `x` (`[…, D]`): each row
    /// standardized, then scaled by `gamma` and shifted by `beta` (`[D]`
    /// each, PyTorch's `nn.LayerNorm(D)`).
    ///
    /// # Panics
    /// If γ and β are not `[D]`.
    pub fn layer_norm(&mut self, x: Var, gamma: Var, beta: Var, eps: f32) -> Var {
        let d = *self
            .value(x)
            .shape()
            .last()
            .expect("layer_norm: a scalar has no features");
        for v in [gamma, beta] {
            let s = self.value(v).shape();
            assert!(
                s == [d],
                "layer_norm: affine parameter {s:?} for rows of {d}"
            );
        }
        assert!(d > 0, "layer_norm: rows of 0 values");
        let op = Normalize {
            group: d,
            span: 1,
            eps,
        };
        self.apply(op, &[x, gamma, beta])
    }
}
