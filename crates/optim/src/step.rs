//! The driver: everything a step does around a rule's kernel, once for
//! every rule.
//!
//! For each parameter it creates the state on first sight, then makes one
//! pass (after a first one over every parameter, for a rule that needs
//! sums over them all) over Φ, ĝ (and the per-example squares if the rule
//! reads them) and the state: per element, the gradient transform
//! (clipping, L2), the decoupled decay, the rule's kernel, and the state
//! stored back flushed out of the denormal range ([`denormal`](crate::denormal)). The pass is cut
//! into fixed chunks over rayon's threads and runs in the CPU's widest
//! vector instructions ([`parallel`](crate::parallel)); the kernel is
//! inlined into it, so each rule gets its own vectorized loop.

use std::collections::BTreeMap;

use gradlab_tensor::simd::{vectorized_loop, Loop};
use gradlab_tensor::Tensor;

use crate::denormal::flush;
use crate::parallel::{for_each_chunk, Chunk, Lanes};
use crate::param::{GradRequest, Param};
use crate::rule::{Gradient, Rule, WholeTensor, Work};

/// The step's transform, folded into the rule's single pass rather than
/// run as passes of its own: the kernel reads g = c·ĝ + λ·Φ, where c is the
/// clipping factor of this step (1 without clipping) and λ the L2
/// coefficient (0 without decay), and Φ has been multiplied by 1 − η_t·λ_d
/// (1 without decoupled decay, whose multiply the loop then skips). The
/// extra flops per element cost nothing in a loop that waits on memory.
#[derive(Clone, Copy, Debug)]
pub struct Transform {
    /// c, the clipping factor.
    pub scale: f32,
    /// λ, the L2 coefficient.
    pub l2: f32,
    /// 1 − η_t·λ_d, the decoupled decay's factor.
    pub shrink: f32,
}

impl Transform {
    /// g = c·ĝ + λ·Φ.
    #[inline(always)]
    pub fn of(self, g_hat: f32, phi: f32) -> f32 {
        self.scale * g_hat + self.l2 * phi
    }

    /// (1/B) Σ_b (c·g_b + λΦ)² = c²·(1/B) Σ_b g_b² + λΦ·(2c·ĝ + λΦ), the
    /// per-example mean of squares of the same transformed gradient, from
    /// `grad_sq` = (1/B) Σ_b g_b² and `g` = c·ĝ + λΦ (so 2c·ĝ + λΦ = g + c·ĝ).
    #[inline(always)]
    pub fn square_of(self, grad_sq: f32, g_hat: f32, g: f32, phi: f32) -> f32 {
        let decay = self.l2 * phi;
        self.scale * self.scale * grad_sq + decay * (g + self.scale * g_hat)
    }
}

/// The state kept for one parameter.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Slot {
    pub shape: Vec<usize>,
    /// One tensor per name of [`Rule::STATE`], in that order.
    pub moments: Vec<Tensor>,
}

/// Buffers for the transformed gradient of the parameters a rule takes as
/// a whole, and the rule's working memory; they grow to the largest such
/// parameter once.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scratch {
    grad: Vec<f32>,
    grad_sq: Vec<f32>,
    /// [`WholeTensor::work`].
    work: Work,
    /// The sums of [`Rule::accumulate`].
    sums: Vec<f64>,
}

/// Updates every parameter with rule `rule` at step `t`: the step's scalars
/// (and the rule's global numbers) are computed once, then, for a rule that
/// needs sums over all parameters, each parameter gets a first pass and the
/// rule its sums, then each parameter gets its update pass.
#[allow(clippy::too_many_arguments)]
pub(crate) fn step_all<R: Rule>(
    rule: &R,
    slots: &mut BTreeMap<usize, Slot>,
    scratch: &mut Scratch,
    params: &mut [Param<'_>],
    t: u64,
    eta: f64,
    x: Transform,
    global: &mut [f64],
) {
    let mut c = rule.scalars(t, eta);
    rule.step_global(eta, global, &mut c);
    for p in params.iter() {
        slots.entry(p.id).or_insert_with(|| new_slot(rule, p.value));
    }
    if R::SUMS > 0 {
        // The first pass: the sums over every parameter, before any moves.
        scratch.sums.clear();
        scratch.sums.resize(R::SUMS, 0.0);
        for p in params.iter_mut() {
            let slot = slots.get_mut(&p.id).expect("created above");
            fill_grad(scratch, p, x);
            R::accumulate(
                &c,
                WholeTensor {
                    shape: &slot.shape,
                    value: p.value.data_mut(),
                    grad: &scratch.grad,
                    grad_sq: &[],
                    state: &mut slot.moments,
                    shrink: 1.0,
                    work: &mut scratch.work,
                },
                &mut scratch.sums,
            );
        }
        rule.finish(global, &scratch.sums, &mut c);
    }
    for p in params.iter_mut() {
        let slot = slots.get_mut(&p.id).expect("created above");
        let grad_sq = match R::REQUEST {
            GradRequest::Mean | GradRequest::Norms | GradRequest::Clipped(_) => &[],
            GradRequest::MeanAndSquares | GradRequest::PerExample => {
                p.grad_sq.map_or(&[][..], Tensor::data)
            }
        };
        if rule.whole_tensor(&slot.shape) {
            whole_tensor::<R>(&c, slot, scratch, p, grad_sq, x);
        } else {
            R::State::update_parameter::<R>(
                &c,
                x,
                p.value.data_mut(),
                p.grad.data(),
                grad_sq,
                &mut slot.moments,
            );
        }
    }
}

/// The state of a parameter seen for the first time: each tensor of the
/// shape the rule keeps, filled with its initial value or, for the tensors
/// the rule starts from the parameter, with a copy of Φ.
fn new_slot<R: Rule>(rule: &R, value: &Tensor) -> Slot {
    let shape = value.shape();
    let mut moments: Vec<Tensor> = (0..R::STATE.len())
        .map(|k| Tensor::zeros(&rule.state_shape(k, shape)))
        .collect();
    assert!(
        moments.iter().all(|m| m.shape() == shape) || rule.whole_tensor(shape),
        "rule '{}' keeps state not shaped like its parameter {shape:?} but does not take \
         the parameter as a whole (Rule::whole_tensor)",
        R::NAME
    );
    let initial = rule.initial_state();
    if initial != R::State::ZERO {
        initial.fill(&mut moments);
    }
    for (m, name) in moments.iter_mut().zip(R::STATE) {
        if R::FROM_PARAMETER.contains(name) {
            m.data_mut().copy_from_slice(value.data());
        }
    }
    Slot {
        shape: shape.to_vec(),
        moments,
    }
}

/// g = c·ĝ + λΦ of parameter `p` into the scratch buffer.
fn fill_grad(scratch: &mut Scratch, p: &Param<'_>, x: Transform) {
    let value = p.value.data();
    scratch.grad.clear();
    scratch.grad.resize(value.len(), 0.0);
    let pairs = value.iter().zip(p.grad.data()).zip(&mut scratch.grad);
    for ((phi, &gh), g) in pairs {
        *g = x.of(gh, *phi);
    }
}

/// The hook's path: the transformed gradient into the scratch buffers, the
/// decoupled decay, the rule's whole-tensor update (compiled for the widest
/// vectors the CPU has, where the rule inlines it), the state flushed.
fn whole_tensor<R: Rule>(
    c: &R::Scalars,
    slot: &mut Slot,
    scratch: &mut Scratch,
    p: &mut Param<'_>,
    grad_sq: &[f32],
    x: Transform,
) {
    fill_grad(scratch, p, x);
    let value = p.value.data_mut();
    scratch.grad_sq.clear();
    scratch.grad_sq.resize(grad_sq.len(), 0.0);
    let pairs = value.iter().zip(p.grad.data()).zip(&scratch.grad);
    for (((phi, &gh), &g), (sq, &q)) in pairs.zip(scratch.grad_sq.iter_mut().zip(grad_sq)) {
        *sq = x.square_of(q, gh, g, *phi);
    }
    for phi in value.iter_mut() {
        *phi *= x.shrink;
    }
    vectorized_loop(TensorPass::<R> {
        c,
        tensor: WholeTensor {
            shape: &slot.shape,
            value,
            grad: &scratch.grad,
            grad_sq: &scratch.grad_sq,
            state: &mut slot.moments,
            shrink: x.shrink,
            work: &mut scratch.work,
        },
    });
    for m in &mut slot.moments {
        for s in m.data_mut() {
            *s = flush(*s);
        }
    }
}

/// One call of a rule's whole-tensor update, as a [`Loop`] so that the
/// wide copies of [`vectorized_loop`] inline it.
struct TensorPass<'a, R: Rule> {
    c: &'a R::Scalars,
    tensor: WholeTensor<'a>,
}

impl<R: Rule> Loop for TensorPass<'_, R> {
    #[inline(always)]
    fn run(self) {
        R::update_tensor(self.c, self.tensor);
    }
}

/// The element-wise pass for K state tensors, implemented for every
/// `[f32; K]` (the only [`StateArray`]s).
pub trait Drive {
    /// One pass of rule `R` over one parameter.
    fn update_parameter<R: Rule<State = Self>>(
        c: &R::Scalars,
        x: Transform,
        value: &mut [f32],
        grad: &[f32],
        grad_sq: &[f32],
        moments: &mut [Tensor],
    );
}

impl<const K: usize> Drive for [f32; K] {
    fn update_parameter<R: Rule<State = Self>>(
        c: &R::Scalars,
        x: Transform,
        value: &mut [f32],
        grad: &[f32],
        grad_sq: &[f32],
        moments: &mut [Tensor],
    ) {
        let mut tensors = moments.iter_mut();
        let state: [&mut [f32]; K] =
            std::array::from_fn(|_| tensors.next().expect("one tensor per state").data_mut());
        let lanes = Lanes {
            value,
            grad,
            grad_sq,
            state,
        };
        for_each_chunk(lanes, &Pass::<R> { c, x });
    }
}

/// Rule `R`'s pass over one chunk, at one step.
struct Pass<'c, R: Rule> {
    c: &'c R::Scalars,
    x: Transform,
}

impl<R: Rule<State = [f32; K]>, const K: usize> Chunk<K> for Pass<'_, R> {
    // Inlined so that each `vectorized_loop` copy gets wide vectors.
    #[inline(always)]
    fn run(&self, l: Lanes<'_, K>) {
        // Without decoupled decay the loop skips its multiply by 1.
        if self.x.shrink == 1.0 {
            pass::<R, K, false>(self.c, self.x, l);
        } else {
            pass::<R, K, true>(self.c, self.x, l);
        }
    }
}

/// Per element: the transform, the decoupled decay (if `DECAY`), the
/// kernel, the state stored back flushed. The slices are cut to one length
/// first, so the compiler drops the bounds checks and vectorizes the loop.
#[inline(always)]
fn pass<R: Rule<State = [f32; K]>, const K: usize, const DECAY: bool>(
    c: &R::Scalars,
    x: Transform,
    l: Lanes<'_, K>,
) {
    // A copy the loop's stores cannot touch, so the scalars stay in
    // registers and a branch on one of them is taken once, not per element.
    let c = *c;
    let c = &c;
    let n = l.value.len();
    let value = &mut l.value[..n];
    let grad = &l.grad[..n];
    let mut state: [&mut [f32]; K] = l.state.map(|s| &mut s[..n]);
    let squares = R::REQUEST != GradRequest::Mean;
    let grad_sq = if squares { &l.grad_sq[..n] } else { &[][..] };
    for i in 0..n {
        let phi = &mut value[i];
        let mean = x.of(grad[i], *phi);
        let g = Gradient {
            mean,
            squares: if squares {
                x.square_of(grad_sq[i], grad[i], mean, *phi)
            } else {
                0.0
            },
        };
        if DECAY {
            *phi *= x.shrink;
        }
        let mut s: [f32; K] = std::array::from_fn(|k| state[k][i]);
        R::update(c, phi, g, &mut s);
        for (tensor, v) in state.iter_mut().zip(s) {
            tensor[i] = flush(v);
        }
    }
}

/// One element of each of a rule's K state tensors: `[f32; K]`.
pub trait StateArray: Drive + Copy + PartialEq + Send + Sync + 'static {
    /// K.
    const LEN: usize;
    /// Every element 0.
    const ZERO: Self;
    /// Element `i` of each tensor.
    fn load(tensors: &[Tensor], i: usize) -> Self;
    /// Stores the elements at `i`, each flushed to 0 below 2⁻¹²⁶.
    fn store(self, tensors: &mut [Tensor], i: usize);
    /// Sets every element of each tensor to its value here.
    fn fill(self, tensors: &mut [Tensor]);
}

impl<const K: usize> StateArray for [f32; K] {
    const LEN: usize = K;
    const ZERO: Self = [0.0; K];

    fn load(tensors: &[Tensor], i: usize) -> Self {
        std::array::from_fn(|k| tensors[k].data()[i])
    }

    fn store(self, tensors: &mut [Tensor], i: usize) {
        for (t, x) in tensors.iter_mut().zip(self) {
            t.data_mut()[i] = crate::denormal::flush(x);
        }
    }

    fn fill(self, tensors: &mut [Tensor]) {
        for (t, x) in tensors.iter_mut().zip(self) {
            t.data_mut().fill(x);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn square_of_matches_the_per_example_definition() {
        // Two examples g₁ = 1, g₂ = 3: ĝ = 2, (1/B) Σ g_b² = 5.
        let (c, l2, phi) = (0.5f32, 0.1f32, 2.0f32);
        let grad = Transform {
            scale: c,
            l2,
            shrink: 1.0,
        };
        let g = grad.of(2.0, phi);
        // (0.5·1 + 0.2)² = 0.49, (0.5·3 + 0.2)² = 2.89, mean 1.69.
        assert!((grad.square_of(5.0, 2.0, g, phi) - 1.69).abs() < 1e-6);
        assert!((g - 1.2).abs() < 1e-6);
    }
}
