//! The backward pass: one walk from the loss back to the inputs.
//!
//! The loss is a `[B]` vector of per-example losses ℓ_b. Its gradient is
//! seeded with 1/B, so every node's gradient is ∂L/∂node for the batch loss
//! L = (1/B) Σ_b ℓ_b, and a parameter's gradient is ĝ = (1/B) Σ_b g_b. A
//! scalar loss is seeded with 1 (B = 1).
//!
//! Row b of a batched node's gradient is (1/B) ∂ℓ_b/∂node_b, because examples
//! do not interact. At the op that meets a parameter, the contribution of
//! example b to the parameter's gradient is therefore c_b = g_b / B, which
//! gives the per-example statistics: g_b = B·c_b and
//! (1/B) Σ_b g_b² = B·Σ_b c_b².

use std::mem;

use gradlab_tensor::Tensor;
use thiserror::Error;

use crate::ops;
use crate::params::ParamStore;
use crate::tape::{GradRequest, Graph, Node, Op, Var};

/// Why a backward pass cannot give the requested gradients.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum BackwardError {
    /// The loss is neither a `[B]` vector nor a scalar.
    #[error("backward: the loss has shape {shape:?}; expected a [B] vector of per-example losses or a scalar")]
    LossShape {
        /// The loss's shape.
        shape: Vec<usize>,
    },
    /// Per-example statistics need a `[B]` loss whose entries each depend on
    /// one example.
    #[error(
        "backward: {request:?} needs per-example losses, but the loss (node %{node}, {op}) {why}; \
         use GradRequest::Mean for this graph"
    )]
    NotPerExample {
        /// What was asked for.
        request: GradRequest,
        /// The loss node.
        node: usize,
        /// The op that produced it.
        op: String,
        /// What is wrong.
        why: &'static str,
    },
    /// A parameter is used in a way the per-example statistics do not cover.
    #[error(
        "backward: {request:?} cannot give per-example gradients of parameter {name:?}: {why}; \
         use GradRequest::Mean for this graph"
    )]
    UnsupportedParam {
        /// What was asked for.
        request: GradRequest,
        /// The parameter's name in the store.
        name: String,
        /// What is wrong.
        why: String,
    },
}

/// Everything an op's backward needs besides its own node.
pub(crate) struct Ctx<'a> {
    /// The nodes before the one being differentiated (its inputs among them).
    pub(crate) nodes: &'a mut [Node],
    pub(crate) store: &'a ParamStore,
    pub(crate) request: GradRequest,
    /// B: the number of examples.
    pub(crate) batch: usize,
    pub(crate) scratch: &'a mut [Tensor; 3],
}

impl Ctx<'_> {
    /// Adds a contribution to the gradient of input `v`, if it needs one.
    /// `f(grad, first, nodes, store)` must overwrite `grad` when `first` (it
    /// has been sized to `v`'s shape) and add to it otherwise.
    pub(crate) fn accumulate(
        &mut self,
        v: Var,
        f: impl FnOnce(&mut Tensor, bool, &[Node], &ParamStore),
    ) {
        if !self.nodes[v.0].needs_grad {
            return;
        }
        let mut g = mem::take(&mut self.nodes[v.0].grad);
        let first = !self.nodes[v.0].grad_ready;
        if first {
            let shape = crate::tape::value(self.nodes, self.store, v).shape();
            g.resize_for(shape);
        }
        f(&mut g, first, self.nodes, self.store);
        let node = &mut self.nodes[v.0];
        node.grad = g;
        node.grad_ready = true;
    }

    /// [`accumulate`](Ctx::accumulate) and [`stats`](Ctx::stats) in one
    /// call, for an op that computes a parameter's gradient and its
    /// statistics together: `f(grad, first, grad_sq, per_example, nodes,
    /// store)`.
    pub(crate) fn accumulate_with_stats(
        &mut self,
        v: Var,
        f: impl FnOnce(&mut Tensor, bool, &mut Tensor, Option<&mut Tensor>, &[Node], &ParamStore),
    ) {
        let mut sq = mem::take(&mut self.nodes[v.0].grad_sq);
        let mut pe = mem::take(&mut self.nodes[v.0].per_example);
        let want_pe = self.request == GradRequest::PerExample;
        self.accumulate(v, |g, first, nodes, store| {
            f(g, first, &mut sq, want_pe.then_some(&mut pe), nodes, store)
        });
        let node = &mut self.nodes[v.0];
        node.grad_sq = sq;
        node.per_example = pe;
        node.stats_ready = true;
    }

    /// Whether per-example statistics are wanted for input `v` (a parameter
    /// whose other operand is a batch).
    pub(crate) fn wants_stats(&self, v: Var) -> bool {
        self.request != GradRequest::Mean && matches!(self.nodes[v.0].op, Op::Param(_))
    }

    /// Fills the statistics of parameter node `v` with `f(grad_sq,
    /// per_example, nodes)`; `per_example` is `None` unless `PerExample` was
    /// requested.
    pub(crate) fn stats(
        &mut self,
        v: Var,
        f: impl FnOnce(&mut Tensor, Option<&mut Tensor>, &[Node]),
    ) {
        let mut sq = mem::take(&mut self.nodes[v.0].grad_sq);
        let mut pe = mem::take(&mut self.nodes[v.0].per_example);
        let want_pe = self.request == GradRequest::PerExample;
        f(&mut sq, want_pe.then_some(&mut pe), self.nodes);
        let node = &mut self.nodes[v.0];
        node.grad_sq = sq;
        node.per_example = pe;
        node.stats_ready = true;
    }
}

/// Writes `f(i)` into `out[i]` when `first`, adds it otherwise.
#[inline]
pub(crate) fn emit(out: &mut [f32], first: bool, f: impl Fn(usize) -> f32) {
    if first {
        out.iter_mut().enumerate().for_each(|(i, o)| *o = f(i));
    } else {
        out.iter_mut().enumerate().for_each(|(i, o)| *o += f(i));
    }
}

impl Graph<'_, '_> {
    /// Differentiates `loss` and stores, for every parameter that reaches it,
    /// what `request` asks for (read them with [`Tape::grad`],
    /// [`Tape::grad_sq`] and [`Tape::per_example`]).
    ///
    /// `loss` is normally the `[B]` vector of per-example losses; a scalar
    /// loss is accepted for [`GradRequest::Mean`].
    ///
    /// [`Tape::grad`]: crate::Tape::grad
    /// [`Tape::grad_sq`]: crate::Tape::grad_sq
    /// [`Tape::per_example`]: crate::Tape::per_example
    pub fn backward(&mut self, loss: Var, request: GradRequest) -> Result<(), BackwardError> {
        let tape = &mut *self.tape;
        tape.last = None;
        let nodes = &mut tape.nodes[..tape.len];
        let l = &nodes[loss.0];
        let batch = match *l.value.shape() {
            [b] if l.batched => b,
            [] | [1] => 1,
            _ => {
                return Err(BackwardError::LossShape {
                    shape: l.value.shape().to_vec(),
                })
            }
        };
        if request != GradRequest::Mean {
            let why = if l.mixed {
                Some("depends on a statistic across examples")
            } else if !l.batched {
                Some("is not a per-example [B] vector")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(BackwardError::NotPerExample {
                    request,
                    node: loss.0,
                    op: l.op.name(),
                    why,
                });
            }
        }
        for n in nodes.iter_mut() {
            n.grad_ready = false;
            n.stats_ready = false;
        }
        let seed = &mut nodes[loss.0];
        let n = seed.value.len();
        seed.grad.resize_for(&[n]);
        seed.grad.fill(1.0 / batch as f32);
        seed.grad.resize_for(seed.value.shape());
        seed.grad_ready = true;

        for i in (0..=loss.0).rev() {
            let (before, rest) = nodes.split_at_mut(i);
            let node = &rest[0];
            if !node.grad_ready || !node.needs_grad {
                continue;
            }
            let mut ctx = Ctx {
                nodes: before,
                store: self.store,
                request,
                batch,
                scratch: &mut tape.scratch,
            };
            ops::backward(node, &mut ctx);
        }

        if request != GradRequest::Mean {
            for v in tape.param_nodes.iter().flatten() {
                let node = &nodes[v.0];
                let Op::Param(id) = node.op else { continue };
                let why = if !node.grad_ready {
                    continue;
                } else if node.uses > 1 {
                    format!(
                        "it is used by {} ops, and each example's gradient would be the sum of \
                         their contributions",
                        node.uses
                    )
                } else if !node.stats_ready {
                    "it reaches the loss through an op that does not keep examples apart (it \
                     must be the weight of a matmul with a batch, or a row vector combined with \
                     a batch)"
                        .to_string()
                } else {
                    continue;
                };
                return Err(BackwardError::UnsupportedParam {
                    request,
                    name: self.store.name(id).to_string(),
                    why,
                });
            }
        }
        tape.last = Some((request, batch));
        Ok(())
    }
}
