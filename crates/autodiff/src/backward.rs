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
//!
//! Each node visited hands its gradient to its op's
//! [`backward`](crate::Op::backward) through a [`Backward`]: the input
//! values, the output and its gradient, and one gradient buffer per input,
//! which the op overwrites if it is the first to write it and adds to
//! otherwise (a value read by two ops receives the sum of both).
//!
//! **Clipping** ([`GradRequest::Clipped`]) takes two passes. The walk
//! computes every ∂L/∂node and every parameter's per-example norms but
//! leaves the parameters' gradients for later: the factors
//! c_b = min(1, C/‖g_b‖) need the norms of all parameters. Then each op that
//! meets a parameter runs its backward once more, with the rows of its
//! output gradient scaled by c_b and only its parameter inputs wanted. A
//! parameter's gradient is linear in the output gradient's rows, row b
//! carrying example b's contribution, so this gives (1/B) Σ_b c_b·g_b with
//! one weight-gradient matmul, as a plain backward has. That second pass
//! is in the `clipping` module.

use std::mem;

use gradlab_tensor::Tensor;

use crate::clipping::{clip, take_norms};
use crate::error::BackwardError;
use crate::op::MAX_INPUTS;
use crate::params::ParamStore;
use crate::tape::{values, GradRequest, Graph, Kind, Node, Var};

/// Which pass of the backward an op's [`Backward`] belongs to.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Pass {
    /// The walk from the loss: every gradient, or with clipping all but the
    /// parameters' (which it only marks as reached).
    Walk,
    /// Clipping's second pass: the parameter inputs only (or only the one
    /// of these nodes whose tape index is given), from row-scaled output
    /// gradients.
    Clip(Option<usize>),
}

/// The gradient buffers of one input of the node being differentiated,
/// taken out of the input's node for the op's backward and put back after.
#[derive(Default)]
struct Sink {
    node: usize,
    grad: Tensor,
    grad_sq: Tensor,
    per_example: Tensor,
    /// Some parameter is upstream of the input.
    needed: bool,
    /// The input is a parameter.
    param: bool,
    /// The input is a batch.
    batched: bool,
    /// `grad` holds a contribution (from this op or an earlier one).
    ready: bool,
    /// The op filled the statistics.
    stats: bool,
    /// The `[B]` squared per-example norms (parameters only).
    norms: Tensor,
    /// The op filled `norms`.
    norms_ready: bool,
}

/// What an op's [`backward`](crate::Op::backward) is given: its inputs'
/// values `x`, its output `y` and the output's gradient `dy` = ∂L/∂y, and
/// one gradient to write per input.
///
/// The fields are plain references: copy them out before a call that
/// borrows `self` mutably (`let (x, dy) = (cx.x, cx.dy);`).
pub struct Backward<'a> {
    /// The input values, in the order given to
    /// [`Graph::apply`](crate::Graph::apply).
    pub x: &'a [&'a Tensor],
    /// The op's output.
    pub y: &'a Tensor,
    /// ∂L/∂y, of `y`'s shape.
    pub dy: &'a Tensor,
    sinks: &'a mut [Sink],
    /// The sink of each input: two inputs that are one value share one.
    slot: [usize; MAX_INPUTS],
    request: GradRequest,
    batch: usize,
    pass: Pass,
}

impl Backward<'_> {
    /// Whether input `i` needs a gradient (some parameter is upstream of
    /// it); [`add`](Backward::add) and [`accumulate`](Backward::accumulate)
    /// do nothing for one that does not.
    pub fn needs_grad(&self, i: usize) -> bool {
        let sink = &self.sinks[self.slot[i]];
        match self.pass {
            Pass::Walk => sink.needed,
            Pass::Clip(only) => sink.needed && sink.param && only.is_none_or(|n| n == sink.node),
        }
    }

    /// Whether axis 0 of input `i` indexes the examples of the batch.
    pub fn is_batch(&self, i: usize) -> bool {
        self.sinks[self.slot[i]].batched
    }

    /// B, the number of examples of the loss.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Adds a contribution to ∂L/∂x_i: `f(grad, first)` must overwrite
    /// `grad` (already sized to x_i's shape) when `first`, and add to it
    /// otherwise.
    pub fn accumulate(&mut self, i: usize, f: impl FnOnce(&mut Tensor, bool)) {
        if !self.needs_grad(i) {
            return;
        }
        let deferred = matches!(self.request, GradRequest::Clipped(_)) && self.pass == Pass::Walk;
        let sink = &mut self.sinks[self.slot[i]];
        if deferred && sink.param {
            // Clipping's second pass computes it; the walk records that
            // the parameter was reached.
            sink.ready = true;
            return;
        }
        let first = !sink.ready;
        if first {
            sink.grad.resize_for(self.x[i].shape());
        }
        f(&mut sink.grad, first);
        sink.ready = true;
    }

    /// ∂L/∂x_i, element k, (+)= `f(k)`: the contribution of an elementwise
    /// op.
    pub fn add(&mut self, i: usize, f: impl Fn(usize) -> f32) {
        self.accumulate(i, |g, first| emit(g.data_mut(), first, f));
    }

    /// Whether the per-example statistics of input `i` are wanted: it is a
    /// parameter and [`GradRequest::MeanAndSquares`] or
    /// [`GradRequest::PerExample`] is being computed.
    pub fn per_example(&self, i: usize) -> bool {
        let sink = &self.sinks[self.slot[i]];
        matches!(
            self.request,
            GradRequest::MeanAndSquares | GradRequest::PerExample
        ) && sink.param
    }

    /// Whether the per-example gradient norms of input `i` are wanted: it
    /// is a parameter and [`GradRequest::Norms`] or
    /// [`GradRequest::Clipped`] is being computed (in the walk).
    pub fn wants_norms(&self, i: usize) -> bool {
        let sink = &self.sinks[self.slot[i]];
        self.request.computes_norms() && self.pass == Pass::Walk && sink.param
    }

    /// Fills the per-example norms of parameter input `i`: `f` writes
    /// ‖g_b‖², the squared norm of example b's gradient of the parameter,
    /// into element b of the `[B]` slice it is given (whatever it held).
    pub fn norms(&mut self, i: usize, f: impl FnOnce(&mut [f32])) {
        let batch = self.batch;
        let sink = &mut self.sinks[self.slot[i]];
        sink.norms.resize_for(&[batch]);
        f(sink.norms.data_mut());
        sink.norms_ready = true;
    }

    /// Fills the statistics of parameter input `i`: `f(grad_sq,
    /// per_example)` writes (1/B) Σ_b g_b² and, when the request is
    /// [`GradRequest::PerExample`], the `[B, …]` tensor of the g_b.
    pub fn stats(&mut self, i: usize, f: impl FnOnce(&mut Tensor, Option<&mut Tensor>)) {
        let want_pe = self.request == GradRequest::PerExample;
        let sink = &mut self.sinks[self.slot[i]];
        f(&mut sink.grad_sq, want_pe.then_some(&mut sink.per_example));
        sink.stats = true;
    }

    /// [`accumulate`](Backward::accumulate) and [`stats`](Backward::stats)
    /// in one call, for an op that computes a parameter's gradient and its
    /// statistics together: `f(grad, first, grad_sq, per_example)`.
    pub fn accumulate_with_stats(
        &mut self,
        i: usize,
        f: impl FnOnce(&mut Tensor, bool, &mut Tensor, Option<&mut Tensor>),
    ) {
        let want_pe = self.request == GradRequest::PerExample;
        let shape = self.x[i].shape();
        let sink = &mut self.sinks[self.slot[i]];
        let first = !sink.ready;
        if first {
            sink.grad.resize_for(shape);
        }
        f(
            &mut sink.grad,
            first,
            &mut sink.grad_sq,
            want_pe.then_some(&mut sink.per_example),
        );
        sink.ready = true;
        sink.stats = true;
    }
}

/// Writes `f(i)` into `out[i]` when `first`, adds it otherwise.
#[inline]
fn emit(out: &mut [f32], first: bool, f: impl Fn(usize) -> f32) {
    if first {
        out.iter_mut().enumerate().for_each(|(i, o)| *o = f(i));
    } else {
        out.iter_mut().enumerate().for_each(|(i, o)| *o += f(i));
    }
}

/// Runs the backward of op node `node`, whose inputs are among `before`,
/// in pass `pass`, from its gradient or, if given, from `dy`.
pub(crate) fn differentiate(
    node: &mut Node,
    before: &mut [Node],
    store: &ParamStore,
    (request, batch, pass): (GradRequest, usize, Pass),
    dy: Option<&Tensor>,
) {
    let Node {
        op,
        inputs,
        value,
        grad,
        ..
    } = node;
    let grad = dy.unwrap_or(grad);
    let op = op.as_mut().expect("an op node holds its op");
    let mut sinks: [Sink; MAX_INPUTS] = Default::default();
    let mut slot = [0; MAX_INPUTS];
    let mut used = 0;
    for (k, v) in inputs.iter().enumerate() {
        if let Some(j) = sinks[..used].iter().position(|s| s.node == v.0) {
            slot[k] = j;
            continue;
        }
        let input = &mut before[v.0];
        sinks[used] = Sink {
            node: v.0,
            grad: mem::take(&mut input.grad),
            grad_sq: mem::take(&mut input.grad_sq),
            per_example: mem::take(&mut input.per_example),
            needed: input.needs_grad,
            param: matches!(input.kind, Kind::Param(_)),
            batched: input.batched,
            ready: input.grad_ready,
            stats: input.stats_ready,
            norms: mem::take(&mut input.norms),
            norms_ready: input.norms_ready,
        };
        slot[k] = used;
        used += 1;
    }
    // Each input of an op that reaches the loss is a use (`x ⊙ x` uses x
    // twice): a parameter used more than once has per-example gradients
    // that are sums of several ops' contributions.
    if pass == Pass::Walk {
        for v in inputs.iter() {
            before[v.0].uses += 1;
        }
    }
    let x = values(before, store, inputs);
    let mut cx = Backward {
        x: &x[..inputs.len()],
        y: value,
        dy: grad,
        sinks: &mut sinks[..used],
        slot,
        request,
        batch,
        pass,
    };
    op.backward(&mut cx);
    for sink in &mut sinks[..used] {
        let input = &mut before[sink.node];
        input.grad = mem::take(&mut sink.grad);
        input.grad_sq = mem::take(&mut sink.grad_sq);
        input.per_example = mem::take(&mut sink.per_example);
        input.grad_ready = sink.ready;
        input.stats_ready = sink.stats;
        input.norms = mem::take(&mut sink.norms);
        input.norms_ready = sink.norms_ready;
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
                    op: l.name(),
                    why,
                });
            }
        }
        for n in nodes.iter_mut() {
            n.grad_ready = false;
            n.stats_ready = false;
            n.uses = 0;
        }
        let seed = &mut nodes[loss.0];
        let n = seed.value.len();
        seed.grad.resize_for(&[n]);
        seed.grad.fill(1.0 / batch as f32);
        seed.grad.resize_for(seed.value.shape());
        seed.grad_ready = true;

        let walk = (request, batch, Pass::Walk);
        for i in (0..=loss.0).rev() {
            let (before, rest) = nodes.split_at_mut(i);
            let node = &mut rest[0];
            if node.kind == Kind::Op && node.grad_ready && node.needs_grad {
                differentiate(node, before, self.store, walk, None);
            }
        }

        if request != GradRequest::Mean {
            for v in tape.param_nodes.iter().flatten() {
                let node = &nodes[v.0];
                let Kind::Param(id) = node.kind else { continue };
                let filled = match request {
                    GradRequest::Norms | GradRequest::Clipped(_) => node.norms_ready,
                    _ => node.stats_ready,
                };
                let why = if !node.grad_ready {
                    continue;
                } else if node.uses > 1 {
                    format!(
                        "it is used by {} ops, and each example's gradient would be the sum of \
                         their contributions",
                        node.uses
                    )
                } else if !filled {
                    let user = nodes[..=loss.0]
                        .iter()
                        .find(|n| n.inputs.contains(v))
                        .map_or_else(String::new, Node::name);
                    format!(
                        "it reaches the loss through {user}, which does not give a parameter \
                         per-example statistics (the built-in ops that do: a matmul or linear \
                         layer with a batch, a row vector combined with a batch)"
                    )
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
        if request.computes_norms() {
            let tensors = take_norms(nodes, &tape.param_nodes, batch, &mut tape.total_norms);
            if let GradRequest::Clipped(clipping) = request {
                let scratch = (&mut tape.scaled, &mut tape.factors);
                let totals = &tape.total_norms;
                clip(
                    nodes,
                    loss.0,
                    self.store,
                    (clipping, tensors),
                    scratch,
                    totals,
                    batch,
                );
            }
        }
        tape.last = Some((request, batch));
        Ok(())
    }
}
