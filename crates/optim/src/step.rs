//! One step's view of the parameters, as a rule sees them: each tensor
//! ([`TensorStep`]) with its gradient, its state and the step's transform,
//! and the element-wise pass that runs a kernel over it.
//!
//! The element-wise pass fuses, per element, the gradient transform
//! (clipping, L2), the decoupled decay, the kernel, and the state stored
//! back flushed out of the denormal range (the `denormal` module).
//! It is cut into fixed chunks over rayon's threads and runs in the CPU's
//! widest vector instructions (the `parallel` module); the kernel
//! is inlined into it, so each rule gets its own vectorized loop. A rule
//! that needs the whole tensor instead asks for it
//! ([`TensorStep::whole`]): the transformed gradient in a buffer, Φ
//! decayed, and the state, flushed after its update.

use std::collections::BTreeMap;

use gradlab_tensor::simd::{vectorized_loop, Loop};
use gradlab_tensor::Tensor;

use crate::denormal::flush;
use crate::parallel::{for_each_chunk, Chunk, Lanes};
use crate::param::{Param, Parameters};
use crate::rule::{Gradient, Rule};

/// The step's transform, folded into the rule's single pass rather than
/// run as passes of its own: the kernel reads g = c·ĝ + λ·Φ, where c is the
/// clipping factor of this step (1 without clipping) and λ the L2
/// coefficient (0 without decay), and Φ has lost η_t·λ_d·Φ (none without
/// decoupled decay, whose arithmetic the loop then skips). The extra flops
/// per element cost nothing in a loop that waits on memory.
#[derive(Clone, Copy, Debug)]
pub struct Transform {
    /// c, the clipping factor.
    pub scale: f32,
    /// λ, the L2 coefficient.
    pub l2: f32,
    /// η_t·λ_d, the decoupled decay's fraction: Φ ← Φ − η_t·λ_d·Φ.
    pub decay: f32,
}

impl Transform {
    /// The transform of a step with clipping factor `scale`, L2 coefficient
    /// `l2` and decoupled decay `decay` = η_t·λ_d (all 1, 0 and 0 without).
    pub fn new(scale: f32, l2: f32, decay: f64) -> Transform {
        Transform {
            scale,
            l2,
            decay: decay as f32,
        }
    }

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

    /// Φ − η_t·λ_d·Φ, see [`decayed`].
    #[inline(always)]
    pub fn decayed(self, phi: f32) -> f32 {
        decayed(phi, self.decay)
    }
}

/// Φ − d·Φ for the decay fraction d = η·λ, in one fused multiply-add:
/// rounded once, however small d. Multiplying by 1 − d instead would round
/// the factor first — 1 − 10⁻⁸ is 1 in f32, so a decay of 10⁻⁸ per step
/// would never act, and 1 − 10⁻⁷ rounds to a decay 19 % too strong. The
/// one rounding left is d's own, 2⁻²⁴ relative, which moves the result by
/// at most d·2⁻²⁴·|Φ|: less than an ulp of Φ for any d < 1.
#[inline(always)]
pub fn decayed(phi: f32, d: f32) -> f32 {
    (-d).mul_add(phi, phi)
}

/// A loop body over the elements of one tensor with K state tensors: a
/// rule's kernel with the step's scalars. Implementations mark `update`
/// `#[inline(always)]`, so that it is inlined into the pass's wide copies.
pub trait Kernel<const K: usize>: Copy + Sync {
    /// Updates one element: Φ and the state from g.
    fn update(&self, phi: &mut f32, g: Gradient, state: &mut [f32; K]);
}

/// An element-wise [`Rule`]'s kernel with the scalars of one step.
pub struct RuleKernel<R: Rule>(pub R::Scalars);

impl<R: Rule> Clone for RuleKernel<R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R: Rule> Copy for RuleKernel<R> {}

impl<R: Rule<State = [f32; K]>, const K: usize> Kernel<K> for RuleKernel<R> {
    #[inline(always)]
    fn update(&self, phi: &mut f32, g: Gradient, state: &mut [f32; K]) {
        R::update(&self.0, phi, g, state);
    }
}

/// Runs an element-wise rule's kernel over a tensor: the dispatch from a
/// rule's state array to its number of state tensors K, implemented for
/// every `[f32; K]`.
pub trait Drive {
    /// [`TensorStep::elementwise`] with rule `R`'s kernel.
    fn drive<R: Rule<State = Self>>(step: TensorStep<'_>, c: &R::Scalars);
}

impl<const K: usize> Drive for [f32; K] {
    fn drive<R: Rule<State = Self>>(step: TensorStep<'_>, c: &R::Scalars) {
        step.elementwise(RuleKernel::<R>(*c));
    }
}

/// Buffers a step keeps between parameters and between steps: the
/// transformed gradient of a tensor taken whole, and a rule's working
/// memory. They grow to the largest parameter once.
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    grad: Vec<f32>,
    grad_sq: Vec<f32>,
    work: Work,
}

/// Working memory for a rule that takes tensors whole: resize and use it
/// as you like. It is kept between steps, so once it has grown to the
/// largest parameter's needs, steps do not allocate.
#[derive(Clone, Debug, Default)]
pub struct Work {
    /// Single-precision numbers.
    pub f32s: Vec<f32>,
    /// Double-precision numbers (sums).
    pub f64s: Vec<f64>,
}

/// One parameter at one step, as a rule's update receives it: its value,
/// its gradient statistics as the training loop gave them, the step's
/// [`Transform`] and the rule's state tensors. The rule takes it through
/// an element-wise kernel ([`elementwise`](TensorStep::elementwise)) or as
/// a whole ([`whole`](TensorStep::whole)).
pub struct TensorStep<'a> {
    pub(crate) id: usize,
    pub(crate) shape: &'a [usize],
    pub(crate) value: &'a mut Tensor,
    pub(crate) grad: &'a Tensor,
    /// The per-example squares, when the rule reads them.
    pub(crate) grad_sq: Option<&'a Tensor>,
    pub(crate) x: Transform,
    pub(crate) state: &'a mut [Tensor],
    pub(crate) scratch: &'a mut Scratch,
    /// Set once the state is stored flushed (the element-wise pass does
    /// it; after a whole-tensor update the optimizer does).
    pub(crate) flushed: &'a mut bool,
}

impl<'a> TensorStep<'a> {
    /// The parameter's id.
    pub fn id(&self) -> usize {
        self.id
    }

    /// The parameter's shape.
    pub fn shape(&self) -> &[usize] {
        self.shape
    }

    /// Runs `kernel` over every element in the fused, vectorized, parallel
    /// pass: g = c·ĝ + λΦ (and its per-example squares), Φ decayed, the
    /// kernel, the state stored flushed.
    pub fn elementwise<const K: usize>(self, kernel: impl Kernel<K>) {
        let mut tensors = self.state.iter_mut();
        let state: [&mut [f32]; K] =
            std::array::from_fn(|_| tensors.next().expect("one tensor per state").data_mut());
        let lanes = Lanes {
            value: self.value.data_mut(),
            grad: self.grad.data(),
            grad_sq: self.grad_sq.map_or(&[][..], Tensor::data),
            state,
        };
        let squares = self.grad_sq.is_some();
        for_each_chunk(
            lanes,
            &Pass {
                kernel,
                x: self.x,
                squares,
            },
        );
        *self.flushed = true;
    }

    /// The tensor whole: the transformed gradient g = c·ĝ + λΦ (and its
    /// per-example squares) in buffers, Φ after the decoupled decay, the
    /// state (flushed by the optimizer after the update) and working
    /// memory.
    pub fn whole(self) -> Whole<'a> {
        let Scratch {
            grad,
            grad_sq,
            work,
        } = self.scratch;
        let x = self.x;
        let value = self.value.data_mut();
        grad.clear();
        grad.extend(
            value
                .iter()
                .zip(self.grad.data())
                .map(|(&phi, &gh)| x.of(gh, phi)),
        );
        grad_sq.clear();
        if let Some(sq) = self.grad_sq {
            let parts = value.iter().zip(self.grad.data()).zip(grad.iter());
            grad_sq.extend(
                parts
                    .zip(sq.data())
                    .map(|(((&phi, &gh), &g), &q)| x.square_of(q, gh, g, phi)),
            );
        }
        if x.decay != 0.0 {
            for phi in value.iter_mut() {
                *phi = x.decayed(*phi);
            }
        }
        Whole {
            shape: self.shape,
            value,
            grad,
            grad_sq,
            state: self.state,
            decay: x.decay,
            work,
        }
    }
}

/// One parameter as a whole, from [`TensorStep::whole`].
pub struct Whole<'a> {
    /// Its shape.
    pub shape: &'a [usize],
    /// Φ, row-major, after the decoupled decay.
    pub value: &'a mut [f32],
    /// g = c·ĝ + λΦ, element by element.
    pub grad: &'a [f32],
    /// The transformed per-example squares, or empty.
    pub grad_sq: &'a [f32],
    /// The rule's state tensors, in the order of its state names, shaped
    /// as its `init` made them.
    pub state: &'a mut [Tensor],
    /// η_t·λ_d, the fraction of Φ the decoupled decay just took (0
    /// without), for a rule that reads Φ as it was before the step.
    pub decay: f32,
    /// Working memory, kept between steps and shared by all parameters.
    pub work: &'a mut Work,
}

/// The state kept for one parameter.
#[derive(Clone, Debug)]
pub(crate) struct Slot {
    pub shape: Vec<usize>,
    /// One tensor per state name of the rule, in that order.
    pub moments: Vec<Tensor>,
    /// The last step that updated it (a parameter seen twice in one step
    /// is an error).
    pub seen: u64,
}

/// Two slots are equal when they hold the same state, whenever last seen.
impl PartialEq for Slot {
    fn eq(&self, other: &Slot) -> bool {
        self.shape == other.shape && self.moments == other.moments
    }
}

/// Every parameter of one step, as a rule's update goes over them:
/// [`each`](Tensors::each) hands out one [`TensorStep`] per parameter, as
/// often as the rule asks (Prodigy sums over all of them before it moves
/// any).
pub struct Tensors<'a> {
    pub(crate) params: &'a mut dyn Parameters,
    pub(crate) slots: &'a mut BTreeMap<usize, Slot>,
    pub(crate) scratch: &'a mut Scratch,
    pub(crate) x: Transform,
    /// The rule reads the per-example squares.
    pub(crate) squares: bool,
}

impl Tensors<'_> {
    /// Runs `work` on every parameter, in the training loop's order, and
    /// stores a state it took whole flushed afterwards. Each call is
    /// compiled for the widest vector instructions the CPU has, so that a
    /// rule's loops over a whole tensor vectorize when `work`'s
    /// [`tensor`](PerTensor::tensor) is inlined into it (see [`PerTensor`]).
    pub fn each(&mut self, work: &mut impl PerTensor) {
        let Tensors {
            params,
            slots,
            scratch,
            x,
            squares,
        } = self;
        params.each(&mut |p: Param<'_>| {
            let slot = slots.get_mut(&p.id).expect("the optimizer made every slot");
            let mut flushed = false;
            let step = TensorStep {
                id: p.id,
                shape: &slot.shape,
                value: p.value,
                grad: p.grad,
                grad_sq: if *squares { p.grad_sq } else { None },
                x: *x,
                state: &mut slot.moments,
                scratch,
                flushed: &mut flushed,
            };
            vectorized_loop(Call {
                work: &mut *work,
                step,
            });
            if !flushed {
                flush_state(&mut slot.moments);
            }
        });
    }
}

/// A view of parameters behind a reference, so that any of them, a slice
/// included, can be handed on as `dyn Parameters`.
pub(crate) struct ByRef<'a, P: ?Sized>(pub &'a mut P);

impl<P: Parameters + ?Sized> Parameters for ByRef<'_, P> {
    fn each(&mut self, f: &mut dyn FnMut(Param<'_>)) {
        self.0.each(f);
    }
}

/// One call of a rule's update on one tensor, as a [`Loop`] so that the
/// wide copies of [`vectorized_loop`] inline it.
struct Call<'w, 'a, W> {
    work: &'w mut W,
    step: TensorStep<'a>,
}

impl<W: PerTensor> Loop for Call<'_, '_, W> {
    #[inline(always)]
    fn run(self) {
        self.work.tensor(self.step);
    }
}

/// What a tensor rule does to each parameter of a step
/// ([`Tensors::each`]). A closure `|p: TensorStep| …` is one; a rule whose
/// loops over a whole tensor should be fast implements it on a struct of
/// its scalars with `tensor` marked `#[inline(always)]`, which is then
/// compiled into the wide-vector copies of the call (a closure's body is
/// called, not inlined, once it is large).
pub trait PerTensor {
    /// The work on one parameter.
    fn tensor(&mut self, p: TensorStep<'_>);
}

impl<F: FnMut(TensorStep<'_>)> PerTensor for F {
    #[inline(always)]
    fn tensor(&mut self, p: TensorStep<'_>) {
        self(p)
    }
}

/// Stores every element of `state` flushed to 0 below 2⁻¹²⁶.
pub(crate) fn flush_state(state: &mut [Tensor]) {
    for m in state {
        for s in m.data_mut() {
            *s = flush(*s);
        }
    }
}

/// A kernel's pass over one chunk, at one step.
struct Pass<Kn> {
    kernel: Kn,
    x: Transform,
    /// The rule reads the per-example squares.
    squares: bool,
}

impl<Kn: Kernel<K>, const K: usize> Chunk<K> for Pass<Kn> {
    // Inlined so that each `vectorized_loop` copy gets wide vectors.
    #[inline(always)]
    fn run(&self, l: Lanes<'_, K>) {
        // Without decoupled decay the loop skips its multiply, and without
        // squares their reads.
        match (self.x.decay != 0.0, self.squares) {
            (false, false) => pass::<Kn, K, false, false>(self.kernel, self.x, l),
            (true, false) => pass::<Kn, K, true, false>(self.kernel, self.x, l),
            (false, true) => pass::<Kn, K, false, true>(self.kernel, self.x, l),
            (true, true) => pass::<Kn, K, true, true>(self.kernel, self.x, l),
        }
    }
}

/// Per element: the transform, the decoupled decay (if `DECAY`), the
/// kernel, the state stored back flushed. The slices are cut to one length
/// first, so the compiler drops the bounds checks and vectorizes the loop.
#[inline(always)]
fn pass<Kn: Kernel<K>, const K: usize, const DECAY: bool, const SQUARES: bool>(
    kernel: Kn,
    x: Transform,
    l: Lanes<'_, K>,
) {
    // The kernel (and its scalars) is a copy the loop's stores cannot
    // touch, so it stays in registers and a branch on a scalar is taken
    // once, not per element.
    let n = l.value.len();
    let value = &mut l.value[..n];
    let grad = &l.grad[..n];
    let mut state: [&mut [f32]; K] = l.state.map(|s| &mut s[..n]);
    let grad_sq = if SQUARES { &l.grad_sq[..n] } else { &[][..] };
    for i in 0..n {
        let phi = &mut value[i];
        let mean = x.of(grad[i], *phi);
        let g = Gradient {
            mean,
            squares: if SQUARES {
                x.square_of(grad_sq[i], grad[i], mean, *phi)
            } else {
                0.0
            },
        };
        if DECAY {
            *phi = x.decayed(*phi);
        }
        let mut s: [f32; K] = std::array::from_fn(|k| state[k][i]);
        kernel.update(phi, g, &mut s);
        for (tensor, v) in state.iter_mut().zip(s) {
            tensor[i] = flush(v);
        }
    }
}
