//! What an op's backward is given: the [`Backward`] context, and the
//! buffers it writes (a node's gradient, a parameter's per-example
//! statistics).

use gradlab_tensor::Tensor;

use crate::request::GradRequest;

/// The most inputs an op may have: the forward and backward passes hand an
/// op its inputs in fixed-size arrays, so that a step allocates nothing.
pub const MAX_INPUTS: usize = 8;

/// ∂L/∂value of one node; `ready` once a consumer has written it.
#[derive(Default)]
pub(crate) struct Grad {
    pub(crate) tensor: Tensor,
    pub(crate) ready: bool,
}

/// A parameter's per-example statistics, as the ops that meet it fill them.
#[derive(Default)]
pub(crate) struct ParamStats {
    /// (1/B) Σ_b g_b².
    pub(crate) grad_sq: Tensor,
    /// The `[B, …]` per-example gradients.
    pub(crate) per_example: Tensor,
    /// The `[B]` norms ‖g_b‖ (squared while the walk fills them).
    pub(crate) norms: Tensor,
    /// An op filled what the request asks for.
    pub(crate) filled: bool,
    /// How many inputs of differentiated ops the parameter is.
    pub(crate) uses: u32,
}

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

/// Where input `k` of the op being differentiated lives on the tape.
#[derive(Clone, Copy, Default)]
pub(crate) struct Input {
    /// Its node.
    pub(crate) node: usize,
    /// Its parameter id, if it is a parameter.
    pub(crate) param: Option<usize>,
    /// Some parameter is upstream of it.
    pub(crate) needed: bool,
    /// Axis 0 of its value indexes the examples.
    pub(crate) batched: bool,
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
    /// The gradients of the nodes before this one.
    pub(crate) grads: &'a mut [Grad],
    /// The statistics of every parameter, by id.
    pub(crate) params: &'a mut [ParamStats],
    pub(crate) inputs: [Input; MAX_INPUTS],
    pub(crate) request: GradRequest,
    pub(crate) batch: usize,
    pub(crate) pass: Pass,
    /// In clipping's second pass, the factors c_b that scaled `dy`'s rows.
    pub(crate) factors: Option<&'a [f32]>,
}

impl<'a> Backward<'a> {
    /// Whether input `i` needs a gradient (some parameter is upstream of
    /// it); [`add`](Backward::add) and [`accumulate`](Backward::accumulate)
    /// do nothing for one that does not.
    pub fn needs_grad(&self, i: usize) -> bool {
        let input = self.inputs[i];
        match self.pass {
            Pass::Walk => input.needed,
            Pass::Clip(only) => {
                input.needed && input.param.is_some() && only.is_none_or(|n| n == input.node)
            }
        }
    }

    /// Whether axis 0 of input `i` indexes the examples of the batch.
    pub fn is_batch(&self, i: usize) -> bool {
        self.inputs[i].batched
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
        let input = self.inputs[i];
        let grad = &mut self.grads[input.node];
        let deferred = matches!(self.request, GradRequest::Clipped(_)) && self.pass == Pass::Walk;
        if deferred && input.param.is_some() {
            // Clipping's second pass computes it; the walk records that
            // the parameter was reached.
            grad.ready = true;
            return;
        }
        let first = !grad.ready;
        if first {
            grad.tensor.resize_for(self.x[i].shape());
        }
        f(&mut grad.tensor, first);
        grad.ready = true;
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
        self.request.computes_squares() && self.inputs[i].param.is_some()
    }

    /// Whether the per-example gradient norms of input `i` are wanted: it
    /// is a parameter and [`GradRequest::Norms`] or
    /// [`GradRequest::Clipped`] is being computed (in the walk).
    pub fn wants_norms(&self, i: usize) -> bool {
        self.request.computes_norms() && self.pass == Pass::Walk && self.inputs[i].param.is_some()
    }

    /// Whether the request is the clipped mean
    /// ([`GradRequest::Clipped`]), in either of its passes: the walk leaves
    /// the parameters' gradients to the second pass.
    pub fn clipping(&self) -> bool {
        matches!(self.request, GradRequest::Clipped(_))
    }

    /// In clipping's second pass, the factors c_b by which the rows of `dy`
    /// were scaled (`None` in the walk). An op that kept each example's
    /// gradient of a parameter from the walk may write the clipped mean
    /// (1/B) Σ_b c_b·g_b from those instead of from `dy`.
    pub fn clip_factors(&self) -> Option<&'a [f32]> {
        self.factors
    }

    /// Fills the per-example norms of parameter input `i`: `f` writes
    /// ‖g_b‖², the squared norm of example b's gradient of the parameter,
    /// into element b of the `[B]` slice it is given (whatever it held).
    pub fn norms(&mut self, i: usize, f: impl FnOnce(&mut [f32])) {
        let batch = self.batch;
        let stats = self.stats_of(i);
        stats.norms.resize_for(&[batch]);
        f(stats.norms.data_mut());
        stats.filled = true;
    }

    /// Fills the statistics of parameter input `i`: `f(grad_sq,
    /// per_example)` writes (1/B) Σ_b g_b² and, when the request is
    /// [`GradRequest::PerExample`], the `[B, …]` tensor of the g_b.
    pub fn stats(&mut self, i: usize, f: impl FnOnce(&mut Tensor, Option<&mut Tensor>)) {
        let want_pe = self.request == GradRequest::PerExample;
        let stats = self.stats_of(i);
        f(
            &mut stats.grad_sq,
            want_pe.then_some(&mut stats.per_example),
        );
        stats.filled = true;
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
        let input = self.inputs[i];
        let param = input.param.expect("statistics are a parameter's");
        let (grad, stats) = (&mut self.grads[input.node], &mut self.params[param]);
        let first = !grad.ready;
        if first {
            grad.tensor.resize_for(self.x[i].shape());
        }
        f(
            &mut grad.tensor,
            first,
            &mut stats.grad_sq,
            want_pe.then_some(&mut stats.per_example),
        );
        grad.ready = true;
        stats.filled = true;
    }

    /// The statistics of parameter input `i`.
    fn stats_of(&mut self, i: usize) -> &mut ParamStats {
        let param = self.inputs[i].param.expect("statistics are a parameter's");
        &mut self.params[param]
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
