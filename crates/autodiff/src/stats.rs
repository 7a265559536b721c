//! Per-example statistics: which losses they may be asked of, the checks
//! after the walk, the norms' totals and the clipped request's second pass.
//!
//! The ops that meet a parameter fill its statistics during the walk
//! (`Backward::stats`, `Backward::norms`). This module checks that every
//! parameter that reached the loss got them, from exactly one op; turns
//! the squared norms into norms and their totals over all parameters; and,
//! for [`GradRequest::Clipped`], runs the second pass.
//!
//! **Clipping** takes two passes. The walk computes every ∂L/∂node and
//! every parameter's per-example norms but leaves the parameters' gradients
//! for later: the factors c_b = min(1, C/(‖g_b‖ + 10⁻⁶)) need the norms of
//! all parameters. Then each op that meets a parameter runs its backward
//! once more, with the rows of its output gradient scaled by c_b and only
//! its parameter inputs wanted. A parameter's gradient is linear in the
//! output gradient's rows, row b carrying example b's contribution, so
//! this gives (1/B) Σ_b c_b·g_b with one weight-gradient matmul, as a plain
//! backward has. An op that kept its g_b from the walk is also handed the
//! factors, and sums Σ_b c_b·g_b instead of running the matmul.

use std::mem;

use gradlab_tensor::Tensor;

use crate::context::{Pass, MAX_INPUTS};
use crate::error::BackwardError;
use crate::kernels;
use crate::params::ParamStore;
use crate::request::{Clipping, GradRequest};
use crate::tape::{differentiate, Kind, Node, Tape, Var};

/// The batch size B of `loss`, after checking that `request` can be asked
/// of it: a `[B]` vector of per-example losses (a scalar only for the
/// mean), none of which mixes examples.
pub(crate) fn check_loss(
    tape: &Tape,
    loss: Var,
    request: GradRequest,
) -> Result<usize, BackwardError> {
    let l = &tape.nodes[..tape.len][loss.0];
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
        let nodes = &tape.nodes[..tape.len];
        if l.mixed {
            // Name the op that mixed the examples: the first mixed node
            // whose inputs were not.
            let (node, op) = nodes[..=loss.0]
                .iter()
                .enumerate()
                .find(|(_, n)| n.mixed && n.inputs.iter().all(|v| !nodes[v.0].mixed))
                .map(|(i, n)| (i, n.name()))
                .unwrap_or((loss.0, l.name()));
            return Err(BackwardError::MixedExamples { request, node, op });
        }
        if !l.batched {
            return Err(BackwardError::NotPerExample {
                request,
                node: loss.0,
                op: l.name(),
                why: "is not a per-example [B] vector",
            });
        }
    }
    Ok(batch)
}

/// Forgets the gradients and statistics of an earlier backward of this
/// graph.
pub(crate) fn clear(tape: &mut Tape) {
    for g in &mut tape.grads[..tape.len] {
        g.ready = false;
    }
    for p in &mut tape.params {
        p.filled = false;
        p.uses = 0;
    }
}

/// After the walk: every parameter that reached the loss has what
/// `request` asks for, from one op, or the request is an error; the norms
/// are totalled, and a clipped request gets its second pass.
pub(crate) fn finish(
    tape: &mut Tape,
    store: &ParamStore,
    loss: Var,
    request: GradRequest,
    batch: usize,
) -> Result<(), BackwardError> {
    if request != GradRequest::Mean {
        check_params(tape, store, loss, request)?;
    }
    if request.computes_norms() {
        let tensors = take_norms(tape, batch);
        if let GradRequest::Clipped(clipping) = request {
            clip(tape, store, loss.0, clipping, tensors, batch);
        }
    }
    Ok(())
}

/// Whether each parameter that reached the loss had its statistics filled
/// by the one op that used it.
fn check_params(
    tape: &Tape,
    store: &ParamStore,
    loss: Var,
    request: GradRequest,
) -> Result<(), BackwardError> {
    let nodes = &tape.nodes[..tape.len];
    for (id, v) in tape.param_nodes.iter().enumerate() {
        let Some(v) = *v else { continue };
        let stats = &tape.params[id];
        let why = if !tape.grads[v.0].ready {
            continue;
        } else if stats.uses > 1 {
            format!(
                "it is used by {} ops, and each example's gradient would be the sum of their \
                 contributions",
                stats.uses
            )
        } else if !stats.filled {
            let user = nodes[..=loss.0]
                .iter()
                .find(|n| n.inputs.contains(&v))
                .map_or_else(String::new, Node::name);
            format!(
                "it reaches the loss through {user}, which does not give a parameter \
                 per-example statistics (the built-in ops that do: a matmul or linear layer \
                 with a batch, a row vector combined with a batch, a convolution, a group or \
                 layer norm, an embedding)"
            )
        } else {
            continue;
        };
        return Err(BackwardError::UnsupportedParam {
            request,
            name: store.name(crate::ParamId(id)).to_string(),
            why,
        });
    }
    Ok(())
}

/// The totals ‖g_b‖ = √(Σ_params ‖g_b(p)‖²) (summed in the order of the
/// parameters' ids, so the same for any thread count), and each
/// parameter's squared norms square-rooted in place. Returns the number of
/// parameter tensors that reached the loss.
fn take_norms(tape: &mut Tape, batch: usize) -> usize {
    let totals = &mut tape.total_norms;
    totals.resize_for(&[batch]);
    totals.fill(0.0);
    let mut tensors = 0;
    for (id, v) in tape.param_nodes.iter().enumerate() {
        let Some(v) = *v else { continue };
        if !tape.grads[v.0].ready {
            continue;
        }
        tensors += 1;
        let norms = tape.params[id].norms.data_mut();
        for (t, n) in totals.data_mut().iter_mut().zip(norms) {
            *t += *n;
            *n = n.sqrt();
        }
    }
    totals.map_inplace(f32::sqrt);
    tensors
}

/// Clipping's second pass: every op node up to `loss` that meets a reached
/// parameter runs its backward again from its output gradient with row b
/// scaled by c_b, for its parameter inputs only (flat clipping: once, with
/// the factors of the total norms; per tensor: once per parameter input,
/// with that tensor's factors under the bound C/√P).
fn clip(
    tape: &mut Tape,
    store: &ParamStore,
    loss: usize,
    clipping: Clipping,
    tensors: usize,
    batch: usize,
) {
    let request = GradRequest::Clipped(clipping);
    let bound = if clipping.per_tensor {
        clipping.max_norm / (tensors.max(1) as f32).sqrt()
    } else {
        clipping.max_norm
    };
    let (mut scaled, mut factors) = mem::take(&mut tape.clip_buffers);
    let totals = mem::take(&mut tape.total_norms);
    // The walk marked the parameters it reached; this pass writes them.
    let reached = |n: &Node, ready: bool| matches!(n.kind, Kind::Param(_)) && ready;
    let mut params = [(0, 0); MAX_INPUTS];
    for i in (0..=loss).rev() {
        let node = &tape.nodes[i];
        if node.kind != Kind::Op || !tape.grads[i].ready || !node.needs_grad {
            continue;
        }
        let mut count = 0;
        for v in &node.inputs {
            let input = &tape.nodes[v.0];
            let Kind::Param(id) = input.kind else {
                continue;
            };
            if reached(input, tape.grads[v.0].ready) && !params[..count].contains(&(v.0, id.0)) {
                params[count] = (v.0, id.0);
                count += 1;
            }
        }
        if count == 0 {
            continue;
        }
        for &(p, _) in &params[..count] {
            tape.grads[p].ready = false;
        }
        // Scales the node's gradient by the factors of `norms` and runs the
        // op's backward from it for parameter node `only` (or all).
        let mut run = |tape: &mut Tape, norms: &Tensor, only: Option<usize>| {
            factors.resize_for(&[batch]);
            for (c, &n) in factors.data_mut().iter_mut().zip(norms.data()) {
                *c = Clipping::factor(bound, n);
            }
            let dy = &tape.grads[i].tensor;
            scaled.resize_for(dy.shape());
            kernels::scale_rows(dy.data(), factors.data(), scaled.data_mut());
            let pass = (request, batch, Pass::Clip(only));
            differentiate(tape, store, i, pass, Some((&scaled, factors.data())));
        };
        if clipping.per_tensor {
            for &(p, id) in &params[..count] {
                let norms = mem::take(&mut tape.params[id].norms);
                run(tape, &norms, Some(p));
                tape.params[id].norms = norms;
            }
        } else {
            run(tape, &totals, None);
        }
    }
    tape.total_norms = totals;
    tape.clip_buffers = (scaled, factors);
}
