//! Per-example clipping: the bound, and the second pass of a clipped
//! backward.
//!
//! The walk (in `backward`) leaves every parameter's squared per-example
//! norms on its node. [`take_norms`] turns them into norms and their
//! totals over all parameters; [`clip`] then reruns the backward of each op
//! that meets a parameter, from its output gradient with row b scaled by
//! c_b = min(1, C/(‖g_b‖ + 10⁻⁶)), so each weight gradient is one matmul on
//! scaled rows: (1/B) Σ_b c_b·g_b.

use std::mem;

use gradlab_tensor::Tensor;

use crate::backward::{differentiate, Pass};
use crate::kernels;
use crate::op::MAX_INPUTS;
use crate::params::ParamStore;
use crate::tape::{GradRequest, Kind, Node, Var};

/// How [`GradRequest::Clipped`] bounds each example's gradient.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Clipping {
    /// C: the bound on ‖g_b‖ over all parameters (`f32::INFINITY` clips
    /// nothing). Must not be negative or NaN.
    pub max_norm: f32,
    /// Clip each parameter tensor on its own, to C/√P for the P tensors
    /// that reach the loss, so that the whole g_b still has norm ≤ C
    /// (McMahan et al. 2018's per-layer clipping, with equal bounds). The
    /// default, `false`, clips the whole g_b at once (Opacus' flat
    /// clipping).
    pub per_tensor: bool,
}

impl Clipping {
    /// Flat clipping of the whole g_b to norm `max_norm`.
    pub fn flat(max_norm: f32) -> Clipping {
        Clipping {
            max_norm,
            per_tensor: false,
        }
    }

    /// Each of the P parameter tensors clipped to `max_norm`/√P.
    pub fn per_tensor(max_norm: f32) -> Clipping {
        Clipping {
            max_norm,
            per_tensor: true,
        }
    }

    /// The factor of an example whose gradient has norm `norm` under the
    /// bound `max_norm`: min(1, max_norm/(norm + 10⁻⁶)), Opacus'
    /// `clip_factor`.
    pub fn factor(max_norm: f32, norm: f32) -> f32 {
        (max_norm / (norm + 1e-6)).min(1.0)
    }
}

/// After the walk has filled every reached parameter's squared norms: the
/// totals ‖g_b‖ = √(Σ_params ‖g_b(p)‖²) (summed in the order of the
/// parameters' ids, so the same for any thread count) into `totals`, and
/// each parameter's norms square-rooted in place. Returns the number of
/// parameter tensors that reached the loss.
pub(crate) fn take_norms(
    nodes: &mut [Node],
    param_nodes: &[Option<Var>],
    batch: usize,
    totals: &mut Tensor,
) -> usize {
    totals.resize_for(&[batch]);
    totals.fill(0.0);
    let mut tensors = 0;
    for v in param_nodes.iter().flatten() {
        let node = &mut nodes[v.0];
        if !node.grad_ready {
            continue;
        }
        tensors += 1;
        let t = totals.data_mut();
        for (t, n) in t.iter_mut().zip(node.norms.data_mut()) {
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
pub(crate) fn clip(
    nodes: &mut [Node],
    loss: usize,
    store: &ParamStore,
    (clipping, tensors): (Clipping, usize),
    (scaled, factors): (&mut Tensor, &mut Tensor),
    totals: &Tensor,
    batch: usize,
) {
    let request = GradRequest::Clipped(clipping);
    let bound = if clipping.per_tensor {
        clipping.max_norm / (tensors.max(1) as f32).sqrt()
    } else {
        clipping.max_norm
    };
    // The walk marked the parameters it reached; this pass writes them.
    let reached = |n: &Node| matches!(n.kind, Kind::Param(_)) && n.grad_ready;
    let mut params = [0; MAX_INPUTS];
    for i in (0..=loss).rev() {
        let (before, rest) = nodes.split_at_mut(i);
        let node = &mut rest[0];
        if node.kind != Kind::Op || !node.grad_ready || !node.needs_grad {
            continue;
        }
        let mut count = 0;
        for v in &node.inputs {
            if reached(&before[v.0]) && !params[..count].contains(&v.0) {
                params[count] = v.0;
                count += 1;
            }
        }
        if count == 0 {
            continue;
        }
        for &p in &params[..count] {
            before[p].grad_ready = false;
        }
        // Scales the node's gradient by the factors of `norms` and runs
        // the op's backward from it for parameter `only` (or all).
        let mut run =
            |norms: &Tensor, only: Option<usize>, before: &mut [Node], node: &mut Node| {
                factors.resize_for(&[batch]);
                for (c, &n) in factors.data_mut().iter_mut().zip(norms.data()) {
                    *c = Clipping::factor(bound, n);
                }
                scaled.resize_for(node.grad.shape());
                kernels::scale_rows(node.grad.data(), factors.data(), scaled.data_mut());
                let pass = (request, batch, Pass::Clip(only));
                differentiate(node, before, store, pass, Some(scaled));
            };
        if clipping.per_tensor {
            for &p in &params[..count] {
                let norms = mem::take(&mut before[p].norms);
                run(&norms, Some(p), before, node);
                before[p].norms = norms;
            }
        } else {
            run(totals, None, before, node);
        }
    }
}
