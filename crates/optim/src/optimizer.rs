//! [`Optimizer`]: an update rule composed with clipping, weight decay, a
//! learning-rate schedule and a batch-size rule, plus the per-parameter
//! state. It is every rule's driver: it computes the step's rate and
//! transform, creates state, and hands the rule the parameters
//! ([`Tensors`]); the element-wise pass it runs around a kernel is in
//! [`step`](crate::step).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use gradlab_tensor::Tensor;

use crate::batch_rule::BatchRule;
use crate::gradient::clip_factor;
use crate::hyperparameters::Hyperparameters;
use crate::parallel::sum_of_squares;
use crate::param::{Param, Parameters, Statistics};
use crate::registry::{self, Decay, DynRule, DECOUPLED};
use crate::rule::Options;
use crate::schedule::{Decay as ScheduleDecay, Schedule};
use crate::spec::{self, KeyWriter, Range, SpecError};
use crate::state::{Global, Moment, OptimizerState, ParamState, StateError, StateHeader};
use crate::step::{ByRef, Scratch, Slot, Tensors, Transform};

/// An optimizer built from a spec string: at each step
///
/// 1. (optional) clip: c = min(1, max_norm/(‖ĝ‖ + 10⁻⁶)), ‖ĝ‖ over every
///    parameter of the step (`clip_norm=`);
/// 2. (optional) L2 decay: g = c·ĝ + λΦ (`weight_decay=`);
/// 3. (optional) decoupled decay: Φ ← Φ − η_t·λ_d·Φ
///    (`decoupled_weight_decay=`; `adamw`'s `weight_decay`, see
///    [`registry`](crate::registry) for each name's spelling);
/// 4. the update rule (a [`Rule`](crate::Rule) or a [`TensorRule`](crate::TensorRule)) with
///    learning rate η_t = η·decay(t)·warm-up(t)·rule(B) ([`Schedule`],
///    [`BatchRule`]).
///
/// For an element-wise rule all four run inside its single fused pass over
/// each parameter; only the norm for clipping needs a pass of its own. The
/// state (the rule's tensors per parameter, its global numbers, and t) is
/// created the first time a parameter id is seen and reused afterwards, so
/// steps after the first do not allocate.
///
/// ```
/// use gradlab_optim::{Optimizer, Param};
/// use gradlab_tensor::Tensor;
///
/// let mut opt: Optimizer = "sgd_momentum(lr=0.1,momentum=0.5)".parse()?;
/// let mut w = Tensor::from_vec(vec![1.0, -1.0], &[2]);
/// let g = Tensor::from_vec(vec![0.5, 0.25], &[2]);
/// opt.step(&mut [Param::new(0, &mut w, &g)], 32);
/// assert_eq!(w.data(), &[0.95, -1.025]);
/// assert_eq!(opt.to_string(), "sgd_momentum(lr=0.1,momentum=0.5,nesterov=false)");
/// # Ok::<(), gradlab_optim::SpecError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Optimizer {
    /// The spec name it was built from (`adam` and `adamw` share a rule).
    name: &'static str,
    /// What the name does with weight decay.
    decay: Decay,
    rule: Box<dyn DynRule>,
    /// What the rule declared beyond its update.
    options: Options,
    /// λ of the L2 decay.
    l2: f64,
    /// λ_d of the decoupled decay.
    decoupled: f64,
    clip_norm: Option<f64>,
    batch_rule: BatchRule,
    schedule: Schedule,
    /// Steps taken.
    t: u64,
    /// Per parameter id: its shape and the rule's state tensors.
    slots: BTreeMap<usize, Slot>,
    /// The rule's global numbers, in the order of [`TensorRule::GLOBAL`](crate::TensorRule::GLOBAL).
    global: Vec<f64>,
    scratch: Scratch,
}

/// Two optimizers are equal when they apply the same update (whatever name
/// they were built from: `adamw` is `adam(decoupled_weight_decay=0.01)`)
/// from the same state.
impl PartialEq for Optimizer {
    fn eq(&self, other: &Optimizer) -> bool {
        self.same_configuration(other)
            && self.t == other.t
            && self.slots == other.slots
            && self.global == other.global
    }
}

impl Optimizer {
    /// Builds an optimizer from a spec such as `adam(lr=1e-3)` or
    /// `sgd_momentum(lr=0.01,momentum=0.9,nesterov=true,clip_norm=1)`, by
    /// any name [`registered`](crate::registry); see the
    /// [`spec`](crate::spec) module for the keys every rule accepts.
    ///
    /// A schedule that needs the run's length (`schedule=cosine`) must have
    /// it in the spec (`total_steps=N`); a training loop that knows the
    /// length builds its optimizer with [`for_run`](Optimizer::for_run).
    pub fn from_spec(spec: &str) -> Result<Optimizer, SpecError> {
        let opt = Optimizer::parse(spec)?;
        if let ScheduleDecay::Cosine { total_steps: None } = opt.schedule.decay {
            return Err(SpecError::BadValue {
                optimizer: opt.name.to_string(),
                key: "schedule".into(),
                value: "cosine".into(),
                expected: "the run's length with it: add total_steps=N to the spec, or build \
                           the optimizer with Optimizer::for_run(spec, N) (the Trainer does)"
                    .into(),
            });
        }
        Ok(opt)
    }

    /// [`from_spec`](Optimizer::from_spec) for a run of `total_steps` steps:
    /// a schedule that needs the run's length (`schedule=cosine`) gets this
    /// one, replacing any `total_steps` of the spec. A run of 0 steps is an
    /// error.
    pub fn for_run(spec: &str, total_steps: u64) -> Result<Optimizer, SpecError> {
        Optimizer::parse(spec)?.with_total_steps(total_steps)
    }

    fn parse(spec: &str) -> Result<Optimizer, SpecError> {
        let mut keys = match spec::split(spec) {
            Err(SpecError::Empty { .. }) => {
                return Err(SpecError::Empty {
                    valid: registry::names().join(", "),
                })
            }
            keys => keys?,
        };
        let Some(entry) = registry::lookup(keys.name()) else {
            return Err(SpecError::UnknownOptimizer {
                name: keys.name().to_string(),
                valid: registry::names().join(", "),
            });
        };
        for &(spelling, key) in entry.decay.aliases {
            keys.rename(spelling, key)?;
        }
        let mut rule = (entry.make)();
        rule.parse(&mut keys)?;
        if let Some(variant) = entry.variant.and_then(|v| v(rule.as_ref())) {
            rule = variant;
        }
        let options = rule.options();
        let l2 = match entry
            .decay
            .aliases
            .iter()
            .any(|&(s, _)| s == "weight_decay")
        {
            true => 0.0,
            false => keys.float("weight_decay", 0.0, Range::NonNegative)?,
        };
        let decoupled = match options.decoupled_decay {
            true => keys.float(
                DECOUPLED,
                entry.decay.default.unwrap_or(0.0),
                Range::NonNegative,
            )?,
            false => 0.0,
        };
        let clip_norm = keys.optional_float("clip_norm", Range::Positive)?;
        let batch_rule = keys.choice("batch_rule", &BatchRule::CHOICES, options.batch_rule)?;
        let schedule = Schedule::parse(&mut keys)?;
        keys.finish()?;
        let global = rule.initial_global();
        assert_eq!(
            global.len(),
            rule.global_names().len(),
            "a rule's initial_global gives one number per GLOBAL name"
        );
        Ok(Optimizer {
            global,
            name: entry.name,
            decay: entry.decay,
            rule,
            options,
            l2,
            decoupled,
            clip_norm,
            batch_rule,
            schedule,
            t: 0,
            slots: BTreeMap::new(),
            scratch: Scratch::default(),
        })
    }

    /// Sets the run length T that `schedule=cosine` needs (an optimizer
    /// restored from a checkpoint, a run that stops at a budget). Other
    /// schedules do not depend on the run length and are left unchanged. A
    /// run of 0 steps is an error, and so is a warm-up of T steps or more
    /// (the rate would never reach η).
    pub fn with_total_steps(mut self, total_steps: u64) -> Result<Optimizer, SpecError> {
        if total_steps == 0 {
            return Err(SpecError::BadValue {
                optimizer: self.name.to_string(),
                key: "total_steps".into(),
                value: "0".into(),
                expected: "a run of at least one step".into(),
            });
        }
        let warmup = self.schedule.warmup;
        if warmup >= total_steps {
            return Err(SpecError::BadValue {
                optimizer: self.name.to_string(),
                key: "warmup".into(),
                value: warmup.to_string(),
                expected: format!(
                    "fewer steps than the run's {total_steps}: a warm-up of {warmup} steps would \
                     never reach the full rate"
                ),
            });
        }
        if let ScheduleDecay::Cosine { total_steps: t } = &mut self.schedule.decay {
            *t = Some(total_steps);
        }
        Ok(self)
    }

    /// The spec name (`"adam"`, `"adamw"`, …).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The update rule, if it is an `R`: its hyperparameters as parsed.
    pub fn rule<R: Hyperparameters>(&self) -> Option<&R> {
        self.rule.as_any().downcast_ref()
    }

    /// The value of the rule's hyperparameter `key` as the spec writes it
    /// (`"1e-8"`, `"true"`, `"published"`), if the rule has one.
    pub fn hyperparameter(&self, key: &str) -> Option<String> {
        self.rule.value(key)
    }

    /// The names of the state tensors kept per parameter, as
    /// [`moment`](Optimizer::moment) takes them.
    pub fn state_names(&self) -> &'static [&'static str] {
        self.rule.state_names()
    }

    /// The shape of state tensor `state` (an index into
    /// [`state_names`](Optimizer::state_names)) for a parameter of shape
    /// `shape`: the parameter's, except for rules whose
    /// [`init`](crate::TensorRule::init) keeps other shapes.
    pub fn state_shape(&self, state: usize, shape: &[usize]) -> Vec<usize> {
        let mut zeros = Tensor::default();
        zeros.resize_for(shape);
        self.rule.init(&zeros)[state].shape().to_vec()
    }

    /// The batch-size rule.
    pub fn batch_rule(&self) -> BatchRule {
        self.batch_rule
    }

    /// The learning-rate schedule.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// λ of the L2 decay.
    pub fn weight_decay(&self) -> f64 {
        self.l2
    }

    /// λ_d of the optimizer's decoupled decay (`adamw`'s `weight_decay`);
    /// 0 for a rule that applies a decay of its own.
    pub fn decoupled_weight_decay(&self) -> f64 {
        self.decoupled
    }

    /// The global-norm clipping threshold, if any.
    pub fn clip_norm(&self) -> Option<f64> {
        self.clip_norm
    }

    /// Which gradient statistics [`step`](Optimizer::step) needs.
    pub fn statistics(&self) -> Statistics {
        self.options.statistics
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.t
    }

    /// The rule's global number `name` ([`TensorRule::GLOBAL`](crate::TensorRule::GLOBAL): Prodigy's
    /// estimate `d`, Schedule-Free's `weight_sum`), if it has one.
    pub fn global(&self, name: &str) -> Option<f64> {
        let i = self.rule.global_names().iter().position(|&n| n == name)?;
        self.global.get(i).copied()
    }

    /// The learning rate of the next step for batches of `batch_size`:
    /// base rate × schedule × batch-size rule. The base rate is `lr`, or η₀
    /// for `adam_eta0` (the step of its SGD limit; the lecture's η is ε·η₀)
    /// and `adam_per_example`.
    ///
    /// # Panics
    /// As [`Schedule::factor`]: for a cosine schedule whose length was never set.
    pub fn learning_rate(&self, batch_size: usize) -> f32 {
        self.rate_at(self.t + 1, batch_size) as f32
    }

    fn rate_at(&self, t: u64, batch_size: usize) -> f64 {
        self.rule.learning_rate() * self.schedule.factor(t) * self.batch_rule.factor(batch_size)
    }

    /// One step: t ← t + 1, then every parameter is updated in place from its
    /// gradient statistics. `params` is an explicit list of [`Param`]s or
    /// any other [`Parameters`] view (a training loop's adapter of its
    /// gradients); `batch_size` is B, for the batch-size rule.
    ///
    /// Each parameter's update is one pass over Φ, ĝ (and the squares, when
    /// the rule reads them) and the state, split over rayon's threads in
    /// fixed chunks for large parameters: the result is bitwise the same for
    /// any number of threads. After the first step nothing is allocated.
    /// (Called from outside a rayon pool, each parallel loop hands rayon's
    /// global queue a job, and that queue allocates a small block once per
    /// 63 jobs.)
    ///
    /// # Panics
    /// If a gradient's shape differs from its parameter's, if an id appears
    /// twice, if the rule needs the per-example squares and a parameter has
    /// none, if a parameter's shape differs from the state kept for its id
    /// (call [`validate`](Optimizer::validate) after loading a state to get
    /// these as errors), if `batch_size` is 0, or as
    /// [`learning_rate`](Optimizer::learning_rate).
    pub fn step<P: Parameters + ?Sized>(&mut self, params: &mut P, batch_size: usize) {
        assert!(
            batch_size >= 1,
            "Optimizer::step: batch_size must be at least 1"
        );
        let t = self.t + 1;
        // Every parameter checked, its state made on first sight, and the
        // squared norm for clipping: one pass before any moves.
        let mut norm_sq = 0.0;
        let clipping = self.clip_norm.is_some();
        params.each(&mut |p: Param<'_>| {
            if let Err(e) = self.check_param(&p) {
                panic!("Optimizer::step: {e}");
            }
            let slot = self.slots.entry(p.id).or_insert_with(|| Slot {
                shape: p.value.shape().to_vec(),
                moments: self.rule.init(p.value),
                seen: 0,
            });
            // An id seen earlier in this step is a duplicate.
            if slot.seen == t {
                panic!("Optimizer::step: {}", StateError::DuplicateId { id: p.id });
            }
            slot.seen = t;
            if clipping {
                norm_sq += sum_of_squares(p.grad.data());
            }
        });
        let eta = self.rate_at(t, batch_size);
        let scale = self
            .clip_norm
            .map_or(1.0, |max| clip_factor(norm_sq.sqrt(), max));
        let x = Transform::new(scale as f32, self.l2 as f32, eta * self.decoupled);
        let mut tensors = Tensors {
            params: &mut ByRef(params),
            slots: &mut self.slots,
            scratch: &mut self.scratch,
            x,
            squares: self.options.statistics == Statistics::MeanAndSquares,
        };
        self.rule.step(t, eta, &mut tensors, &mut self.global);
        self.t = t;
    }

    /// The checks [`step`](Optimizer::step) makes on one parameter.
    fn check_param(&self, p: &Param<'_>) -> Result<(), StateError> {
        let id = p.id;
        let shape = p.value.shape();
        if p.grad.shape() != shape {
            return Err(StateError::GradShape {
                id,
                value: shape.to_vec(),
                grad: p.grad.shape().to_vec(),
            });
        }
        if self.statistics() == Statistics::MeanAndSquares {
            match p.grad_sq {
                None => {
                    return Err(StateError::MissingGradSq {
                        id,
                        optimizer: self.name,
                    })
                }
                Some(q) if q.shape() != shape => {
                    return Err(StateError::GradSqShape {
                        id,
                        value: shape.to_vec(),
                        grad_sq: q.shape().to_vec(),
                    })
                }
                Some(_) => {}
            }
        }
        match self.slots.get(&id) {
            Some(slot) if slot.shape != shape => Err(StateError::ShapeMismatch {
                id,
                param: shape.to_vec(),
                state: slot.shape.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// Checks that `params` fit this optimizer: gradients shaped as their
    /// parameters, the per-example squares present if needed, distinct ids,
    /// and, once steps have been taken (a loaded state), exactly the ids and
    /// shapes the state holds. A training loop calls it after loading a
    /// checkpoint, to get a mismatch as an error rather than a panic in
    /// [`step`](Optimizer::step).
    pub fn validate(&self, params: &[Param<'_>]) -> Result<(), StateError> {
        for (i, p) in params.iter().enumerate() {
            self.check_param(p)?;
            if params[..i].iter().any(|q| q.id == p.id) {
                return Err(StateError::DuplicateId { id: p.id });
            }
            if self.t > 0 && !self.slots.contains_key(&p.id) {
                return Err(StateError::MissingParam {
                    id: p.id,
                    steps: self.t,
                    known: self.slots.keys().copied().collect(),
                });
            }
        }
        if self.t > 0 {
            if let Some((&id, slot)) = self
                .slots
                .iter()
                .find(|(id, _)| !params.iter().any(|p| p.id == **id))
            {
                return Err(StateError::UnknownParam {
                    id,
                    shape: slot.shape.clone(),
                });
            }
        }
        Ok(())
    }

    /// Whether the rule evaluates (and saves) its parameters elsewhere than
    /// where it takes gradients ([`TensorRule::EVALUATE_AT`](crate::TensorRule::EVALUATE_AT),
    /// Schedule-Free's x).
    pub fn evaluates_elsewhere(&self) -> bool {
        self.rule.evaluate_at().is_some()
    }

    /// The point to evaluate and save parameter `id` at, when it is not the
    /// parameter itself ([`TensorRule::EVALUATE_AT`](crate::TensorRule::EVALUATE_AT)): `None` for a rule
    /// that evaluates at the parameters, or a parameter it has not stepped.
    pub fn evaluation_point(&self, id: usize) -> Option<&Tensor> {
        let at = self.rule.evaluate_at()?;
        Some(&self.slots.get(&id)?.moments[at])
    }

    /// Undoes [`evaluation_point`](Optimizer::evaluation_point) for a
    /// parameter loaded from a checkpoint: `value`, the saved evaluation
    /// point of parameter `id`, becomes the point the rule takes gradients
    /// at, rebuilt from the state bitwise as the last step computed it
    /// ([`TensorRule::training_point`](crate::TensorRule::training_point)). Nothing changes for a rule that
    /// evaluates at the parameters.
    pub fn restore_point(&self, id: usize, value: &mut Tensor) {
        if self.rule.evaluate_at().is_none() {
            return;
        }
        if let Some(slot) = self.slots.get(&id) {
            self.rule.training_point(value.data_mut(), &slot.moments);
        }
    }

    /// The state tensor `name` (one of
    /// [`state_names`](Optimizer::state_names)) of parameter `id`, as
    /// stored: Adam's `m` and `v` without the 1/(1 − βᵗ) correction.
    pub fn moment(&self, id: usize, name: &str) -> Option<&Tensor> {
        let i = self.state_names().iter().position(|&n| n == name)?;
        self.slots.get(&id)?.moments.get(i)
    }

    /// A copy of the state, for a checkpoint.
    pub fn state(&self) -> OptimizerState {
        let names = self.state_names();
        OptimizerState {
            spec: self.to_string(),
            steps: self.t,
            global: self
                .rule
                .global_names()
                .iter()
                .zip(&self.global)
                .map(|(name, &value)| Global {
                    name: name.to_string(),
                    value,
                })
                .collect(),
            params: self
                .slots
                .iter()
                .map(|(&id, slot)| ParamState {
                    id,
                    shape: slot.shape.clone(),
                    moments: names
                        .iter()
                        .zip(&slot.moments)
                        .map(|(name, m)| Moment {
                            name: name.to_string(),
                            shape: (m.shape() != slot.shape).then(|| m.shape().to_vec()),
                            data: m.data().to_vec(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    /// Rebuilds an optimizer from a saved state: its spec, t and every
    /// parameter's state tensors, checked against one another.
    pub fn from_state(state: OptimizerState) -> Result<Optimizer, StateError> {
        let mut opt = Optimizer::from_spec(&state.spec)?;
        let names = opt.state_names();
        opt.t = state.steps;
        let global = opt.rule.global_names();
        let found: Vec<&str> = state.global.iter().map(|g| g.name.as_str()).collect();
        if found != global {
            return Err(StateError::Global {
                optimizer: opt.name,
                expected: global.join(", "),
                found: found.join(", "),
            });
        }
        opt.global = state.global.iter().map(|g| g.value).collect();
        for p in state.params {
            let found: Vec<&str> = p.moments.iter().map(|m| m.name.as_str()).collect();
            if found != names {
                return Err(StateError::Moments {
                    id: p.id,
                    optimizer: opt.name,
                    expected: names.join(", "),
                    found: found.join(", "),
                });
            }
            let mut moments = Vec::with_capacity(names.len());
            for (k, m) in p.moments.into_iter().enumerate() {
                let shape = opt.state_shape(k, &p.shape);
                let found = m.shape.as_ref().unwrap_or(&p.shape);
                if *found != shape {
                    return Err(StateError::MomentShape {
                        id: p.id,
                        name: m.name,
                        expected: shape,
                        found: found.clone(),
                    });
                }
                if Some(m.data.len()) != numel(&shape) {
                    return Err(StateError::Length {
                        id: p.id,
                        name: m.name,
                        shape,
                        len: m.data.len(),
                    });
                }
                moments.push(Tensor::from_vec(m.data, &shape));
            }
            let slot = Slot {
                shape: p.shape,
                moments,
                seen: 0,
            };
            if opt.slots.insert(p.id, slot).is_some() {
                return Err(StateError::DuplicateId { id: p.id });
            }
        }
        Ok(opt)
    }

    /// Replaces this optimizer's t and state with a saved state's, after
    /// checking that the state was made by the same configuration (the same
    /// canonical spec). A training loop builds its optimizer from its
    /// command line, then loads the checkpoint into it.
    pub fn load_state(&mut self, state: OptimizerState) -> Result<(), StateError> {
        let loaded = Optimizer::from_state(state)?;
        if !self.same_configuration(&loaded) {
            return Err(StateError::SpecMismatch {
                state: loaded.to_string(),
                optimizer: self.to_string(),
            });
        }
        self.t = loaded.t;
        self.slots = loaded.slots;
        self.global = loaded.global;
        Ok(())
    }

    /// Whether both optimizers apply the same update (state aside).
    fn same_configuration(&self, other: &Optimizer) -> bool {
        self.rule.same(other.rule.as_ref())
            && self.l2 == other.l2
            && self.decoupled == other.decoupled
            && self.clip_norm == other.clip_norm
            && self.batch_rule == other.batch_rule
            && self.schedule == other.schedule
    }
}

/// The number of elements of `shape`, or `None` on overflow.
fn numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

/// A compared rule's specs are the optimizer's canonical form of them.
impl registry::Series {
    /// The canonical spec with the tuned base rate replaced by `rate` and
    /// `extra` keys (each preceded by a comma) added.
    ///
    /// # Panics
    /// If that spec is invalid: a tuned configuration that does not parse,
    /// or bad `extra` keys.
    pub fn spec_with(&self, rate: f64, extra: &str) -> String {
        let spec = format!(
            "{}({}={rate:e}{}{extra})",
            self.name,
            self.rate_key(),
            self.rest()
        );
        Optimizer::from_spec(&spec)
            .unwrap_or_else(|e| panic!("the spec {spec} is invalid: {e}"))
            .to_string()
    }

    /// The canonical spec at the tuned configuration.
    pub fn spec(&self) -> String {
        self.spec_with(self.rate(), "")
    }
}

impl OptimizerState {
    /// Puts a state back together from its header and its tensors, given as
    /// `(name, shape, data)`. Every moment the header's spec needs for every
    /// parameter must be there with the parameter's shape, and nothing else.
    pub fn from_parts(
        header: StateHeader,
        tensors: impl IntoIterator<Item = (String, Vec<usize>, Vec<f32>)>,
    ) -> Result<OptimizerState, StateError> {
        let optimizer = Optimizer::from_spec(&header.spec)?;
        let names = optimizer.state_names();
        let mut by_name: HashMap<String, (Vec<usize>, Vec<f32>)> = HashMap::new();
        for (name, shape, data) in tensors {
            if by_name.contains_key(&name) {
                return Err(StateError::DuplicateTensor { name });
            }
            by_name.insert(name, (shape, data));
        }
        let mut params = Vec::with_capacity(header.params.len());
        for p in header.params {
            let mut moments = Vec::with_capacity(names.len());
            for (k, &moment) in names.iter().enumerate() {
                let name = Self::tensor_name(p.id, moment);
                let Some((shape, data)) = by_name.remove(&name) else {
                    return Err(StateError::MissingTensor { name });
                };
                let expected = optimizer.state_shape(k, &p.shape);
                if shape != expected {
                    return Err(StateError::TensorShape {
                        name,
                        expected,
                        found: shape,
                    });
                }
                moments.push(Moment {
                    name: moment.to_string(),
                    shape: (shape != p.shape).then_some(shape),
                    data,
                });
            }
            params.push(ParamState {
                id: p.id,
                shape: p.shape,
                moments,
            });
        }
        if let Some(name) = by_name.into_keys().min() {
            return Err(StateError::UnexpectedTensor { name });
        }
        Ok(OptimizerState {
            spec: header.spec,
            steps: header.steps,
            global: header.global,
            params,
        })
    }
}

impl FromStr for Optimizer {
    type Err = SpecError;

    fn from_str(spec: &str) -> Result<Optimizer, SpecError> {
        Optimizer::from_spec(spec)
    }
}

/// Writes the canonical spec: the rule's every hyperparameter, then the
/// composition keys that differ from their defaults (a name's own decoupled
/// decay always), each in the one spelling of its meaning. Parsing it gives
/// an equal (fresh) optimizer.
impl fmt::Display for Optimizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.name)?;
        let mut w = KeyWriter::new(f);
        self.rule.write(&mut w)?;
        if self.l2 != 0.0 {
            w.float("weight_decay", self.l2)?;
        }
        if self.decay.default.is_some() || self.decoupled != 0.0 {
            w.float(DECOUPLED, self.decoupled)?;
        }
        if let Some(max) = self.clip_norm {
            w.float("clip_norm", max)?;
        }
        if self.batch_rule != self.options.batch_rule {
            w.text("batch_rule", self.batch_rule.name())?;
        }
        self.schedule.write(&mut w)?;
        f.write_str(")")
    }
}
