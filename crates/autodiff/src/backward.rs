//! The backward pass: one walk from the loss back to the inputs.
//!
//! The loss is a `[B]` vector of per-example losses ℓ_b. Its gradient is
//! seeded with 1/B, so every node's gradient is ∂L/∂node for the batch loss
//! L = (1/B) Σ_b ℓ_b, and a parameter's gradient is ĝ = (1/B) Σ_b g_b. A
//! scalar loss is seeded with 1 (B = 1).
//!
//! The walk visits the nodes from the loss back to the start. Every node
//! only points to earlier ones, so when the walk reaches a node, each of
//! its consumers has added its part to the node's gradient; the node's op
//! then sends that gradient on to its own inputs by the chain rule
//! ([`Op::backward`](crate::Op::backward)), overwriting an input's gradient
//! if it is the first to write it and adding to it otherwise (a value read
//! by two ops receives the sum of both).
//!
//! Row b of a batched node's gradient is (1/B) ∂ℓ_b/∂node_b, because
//! examples do not interact. At the op that meets a parameter, example b's
//! contribution to the parameter's gradient is therefore g_b/B, which gives
//! the per-example statistics the other requests ask for; the ops fill
//! them as they go, and the `stats` module checks and completes them after
//! the walk (the norms' totals, and the clipped request's second pass).

use crate::context::Pass;
use crate::error::BackwardError;
use crate::request::GradRequest;
use crate::stats;
use crate::tape::{differentiate, Graph, Kind, Var};

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
        let batch = stats::check_loss(tape, loss, request)?;
        stats::clear(tape);

        // Seed: ∂L/∂ℓ_b = 1/B.
        let seed = &mut tape.grads[loss.0];
        let shape = tape.nodes[loss.0].value.shape();
        seed.tensor.resize_for(&[shape.iter().product()]);
        seed.tensor.fill(1.0 / batch as f32);
        seed.tensor.resize_for(shape);
        seed.ready = true;

        // Walk back: each op node that has a gradient hands it to its inputs.
        for i in (0..=loss.0).rev() {
            let node = &tape.nodes[i];
            if node.kind == Kind::Op && tape.grads[i].ready && node.needs_grad {
                differentiate(tape, self.store, i, (request, batch, Pass::Walk), None);
            }
        }

        stats::finish(tape, self.store, loss, request, batch)?;
        tape.last = Some((request, batch));
        Ok(())
    }
}
