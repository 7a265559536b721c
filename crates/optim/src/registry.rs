//! The rules by spec name: the built-in ones, and the ones a user registers.
//!
//! [`Optimizer::from_spec`](crate::Optimizer::from_spec) looks the name of a
//! spec up here. A rule of your own is added with [`register`] (see
//! [`rule`](crate::rule) for an example) and from then on parses, prints,
//! saves its state in checkpoints and trains like a built-in one.
//! Registration is process-wide; a program that resumes a checkpoint made
//! with its own rule registers the rule before loading it.
//!
//! ## Weight decay, one spelling per meaning
//!
//! | key | meaning | where |
//! |---|---|---|
//! | `weight_decay` | L2: the gradient becomes ĝ + λΦ | every rule (torch's `weight_decay` of SGD, Adam, RMSprop, …) |
//! | `decoupled_weight_decay` | Φ ← Φ − η_t·λ·Φ beside the rule's step (AdamW's) | every rule; the default of `adamw`, `nadamw`, `cautious_adamw` (0.01), `lion` (10⁻³), `ademamix`, `shampoo`, `adafactor` (0); applied by the rule itself, at its own rate, for `muon` (the matrices), `schedule_free_adamw` (at y, in z's step), `soap` (after its step) and `prodigy` (times d) |
//! | `adam_decoupled_weight_decay` | the same, for `muon`'s AdamW half | `muon` |
//! | `trust_weight_decay` | λΦ added to LAMB's direction inside the trust ratio | `lamb` |
//!
//! A spec may use the reference implementation's spelling where it differs:
//! `weight_decay` is the decoupled decay of `adamw`, `nadamw`
//! (`torch.optim.AdamW`, `NAdam(decoupled_weight_decay=True)`), `lion`
//! (optax), `adafactor`, `muon` (torch), `schedule_free_adamw` and
//! `prodigy` (optax), `ademamix` (its authors'), `cautious_adamw` (timm) and
//! `shampoo` (Distributed Shampoo) and `soap` (its authors'), and the trust-ratio decay of `lamb` (optax); those
//! names take no L2 decay. `decay` and `adam_decay`, gradlab's earlier
//! spellings, are read too. The canonical spec (and every checkpoint)
//! writes the spelling of the table.

use std::any::{Any, TypeId};
use std::fmt;
use std::sync::{LazyLock, PoisonError, RwLock};

use gradlab_tensor::Tensor;

use crate::hyperparameters::Hyperparameters;
use crate::rule::Options;
use crate::rules::*;
use crate::search::Dim;
use crate::spec::{KeyWriter, Keys, SpecError};
use crate::step::Tensors;
use crate::tensor_rule::TensorRule;

/// The keys the optimizer reads around every rule; a rule's hyperparameter
/// may not take one of these names, but for `decoupled_weight_decay` in a
/// rule that applies its decoupled decay itself.
pub(crate) const DRIVER_KEYS: [&str; 9] = [
    "weight_decay",
    "decoupled_weight_decay",
    "clip_norm",
    "batch_rule",
    "schedule",
    "warmup",
    "step_size",
    "gamma",
    "total_steps",
];

/// The decoupled decay's key.
pub(crate) const DECOUPLED: &str = "decoupled_weight_decay";

/// A rule that cannot be registered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The spec name is taken by another rule.
    #[error("the optimizer name '{name}' is already registered for another rule")]
    Taken {
        /// The name.
        name: String,
    },
    /// The spec name is not lower case letters, digits and `_`.
    #[error("the optimizer name '{name}' must be lower case letters, digits and '_', starting with a letter")]
    BadName {
        /// The name.
        name: String,
    },
    /// A state or global name repeats, or one the rule names is not there.
    #[error("rule '{name}': {problem}")]
    State {
        /// The rule's name.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// A hyperparameter name repeats or is one of the optimizer's own keys.
    #[error("rule '{name}': the hyperparameter '{key}' {problem}")]
    Key {
        /// The rule's name.
        name: String,
        /// The key.
        key: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// A dimension of the rule's search space that is not a range of a key.
    #[error("rule '{name}': the search space of '{key}': {problem}")]
    Search {
        /// The rule's name.
        name: String,
        /// The key.
        key: String,
        /// What is wrong.
        problem: String,
    },
    /// A declared default outside its declared range.
    #[error("rule '{name}': the default {key}={value} is not {expected}")]
    Default {
        /// The rule's name.
        name: String,
        /// The key.
        key: String,
        /// The default.
        value: String,
        /// What the key takes.
        expected: String,
    },
}

/// Registers rule `R` (an element-wise [`Rule`](crate::Rule) or a
/// [`TensorRule`]) under its spec name. Registering the same rule again
/// does nothing; another rule under a taken name, a name that is not a
/// spec name, a state or a hyperparameter table that does not add up are
/// errors.
pub fn register<R: TensorRule>() -> Result<(), RegistryError> {
    write().add::<R>(R::NAME, Decay::OWN)
}

/// Registers rule `R` under `name` with decoupled weight decay of default
/// `weight_decay`, the key `weight_decay` of that name being the decoupled λ
/// (as `torch.optim.AdamW` names it; such a name takes no L2 decay).
/// `adamw` is [`Adam`] registered this way.
pub fn register_decoupled<R: TensorRule>(
    name: &'static str,
    weight_decay: f64,
) -> Result<(), RegistryError> {
    write().add::<R>(name, Decay::decoupled(weight_decay))
}

/// The search space of the rule registered as `name`
/// ([`Hyperparameters::SEARCH`]), with the decoupled weight decay added for
/// a name registered with [`register_decoupled`]; `None` if no rule has
/// that name.
pub fn search_space(name: &str) -> Option<Vec<Dim>> {
    let e = lookup(name)?;
    let mut dims = e.search.to_vec();
    if e.decay.default.is_some() && !dims.iter().any(|d| d.key == "weight_decay") {
        dims.push(crate::search::DECOUPLED_WEIGHT_DECAY);
    }
    Some(dims)
}

/// Every registered spec name: the built-in ones in the lecture's order,
/// then the ones registered since.
pub fn names() -> Vec<&'static str> {
    read().entries.iter().map(|e| e.name).collect()
}

/// A rule as a benchmark compares it: a registered name, or a switch of one
/// (`amsgrad`, which is `adam(amsgrad=true)`), at its tuned configuration.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Series {
    /// Its label in tables: the spec name, or the switch's name.
    pub label: &'static str,
    /// The spec name.
    pub name: &'static str,
    /// The keys that select the switch (`amsgrad=true`), or empty.
    pub variant: Option<&'static str>,
    /// The configuration a benchmark runs it at on the MNIST MLP: the base
    /// rate first (`lr=3e-3`, `eta0=30`), then further keys
    /// ([`Hyperparameters::TUNED`]).
    pub tuned: &'static str,
}

impl Series {
    /// The tuned base rate.
    pub fn rate(&self) -> f64 {
        let (_, value) = self.first().split_once('=').unwrap_or_default();
        value
            .parse()
            .expect("registration checks that a tuned rate is a number")
    }

    /// The key of the base rate (`lr` or `eta0`).
    pub fn rate_key(&self) -> &'static str {
        self.first().split_once('=').map_or("lr", |(k, _)| k)
    }

    /// The keys the tuned configuration sets besides the base rate, then the
    /// switch, each preceded by a comma (`,momentum=0.9`, `,amsgrad=true`).
    pub fn rest(&self) -> String {
        let keys = self.tuned.split(',').skip(1).chain(self.variant);
        keys.filter(|k| !k.is_empty())
            .map(|k| format!(",{k}"))
            .collect()
    }

    fn first(&self) -> &'static str {
        self.tuned.split(',').next().unwrap_or_default()
    }
}

/// Every rule with a tuned configuration ([`Hyperparameters::TUNED`]), in
/// the registry's order: each name, and the AMSGrad switch after the
/// lecture's rules.
pub fn series() -> Vec<Series> {
    read().series.clone()
}

/// What a name does with weight decay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Decay {
    /// The decoupled λ of a name whose default has one (`adamw`: 0.01).
    pub default: Option<f64>,
    /// Other spellings of keys: (spelling, canonical key).
    pub aliases: &'static [(&'static str, &'static str)],
}

impl Decay {
    /// A name with no decay of its own.
    const OWN: Decay = Decay {
        default: None,
        aliases: &[],
    };

    /// A name whose decoupled decay defaults to `lambda` and whose
    /// `weight_decay` is that decay.
    const fn decoupled(lambda: f64) -> Decay {
        Decay {
            default: Some(lambda),
            aliases: &[("weight_decay", DECOUPLED)],
        }
    }

    /// A rule that applies its decoupled decay itself, spelled `decay`
    /// before.
    const OWNED: Decay = Decay {
        default: None,
        aliases: &[("weight_decay", DECOUPLED), ("decay", DECOUPLED)],
    };
}

/// The rule that runs instead of a name's rule for the hyperparameters a
/// spec gave it, if they select one.
pub(crate) type Switch = fn(&dyn DynRule) -> Option<Box<dyn DynRule>>;

/// The registered rules.
pub(crate) struct Registry {
    entries: Vec<Entry>,
    series: Vec<Series>,
}

/// One spec name and the rule it builds.
#[derive(Clone, Copy)]
pub(crate) struct Entry {
    pub name: &'static str,
    rule: TypeId,
    /// The rule with its declared defaults.
    pub make: fn() -> Box<dyn DynRule>,
    pub decay: Decay,
    /// The rule that runs instead when the spec sets a switch (`adam`
    /// with `amsgrad=true` keeps a third state tensor, so it runs as
    /// [`AmsGrad`]).
    pub variant: Option<Switch>,
    /// The rule's [`Hyperparameters::SEARCH`].
    search: &'static [Dim],
}

static REGISTRY: LazyLock<RwLock<Registry>> = LazyLock::new(|| {
    let mut registry = Registry {
        entries: Vec::new(),
        series: Vec::new(),
    };
    registry.builtin();
    RwLock::new(registry)
});

// A panic while the lock is held cannot leave the list half-written (a push
// is the only write), so a poisoned lock is used as it is.
fn read() -> std::sync::RwLockReadGuard<'static, Registry> {
    REGISTRY.read().unwrap_or_else(PoisonError::into_inner)
}

fn write() -> std::sync::RwLockWriteGuard<'static, Registry> {
    REGISTRY.write().unwrap_or_else(PoisonError::into_inner)
}

/// The entry registered as `name`.
pub(crate) fn lookup(name: &str) -> Option<Entry> {
    read().entries.iter().find(|e| e.name == name).copied()
}

impl Registry {
    /// The built-in rules, in the lecture's order, then the rules people
    /// compare them with.
    fn builtin(&mut self) {
        let lamb = Decay {
            default: None,
            aliases: &[("weight_decay", "trust_weight_decay")],
        };
        let muon = Decay {
            default: None,
            aliases: &[
                ("weight_decay", DECOUPLED),
                ("decay", DECOUPLED),
                ("adam_decay", "adam_decoupled_weight_decay"),
            ],
        };
        let lecture = [
            self.add::<Sgd>("sgd", Decay::OWN),
            self.add::<SgdMomentum>("sgd_momentum", Decay::OWN),
            self.add::<SgdEma>("sgd_ema", Decay::OWN),
            self.add::<RmsProp>("rmsprop", Decay::OWN),
            self.add::<RmsPropMomentum>("rmsprop_momentum", Decay::OWN),
            self.add_with_variant::<Adam, AmsGrad>("adam", Decay::OWN),
            self.add_with_variant::<Adam, AmsGrad>("adamw", Decay::decoupled(0.01)),
            self.add::<AdamLecture>("adam_lecture", Decay::OWN),
            self.add::<AdamEta0>("adam_eta0", Decay::OWN),
            self.add::<AdamPerExample>("adam_per_example", Decay::OWN),
        ];
        // AMSGrad is spelled `adam(amsgrad=true)`, and SGD with Nesterov's
        // momentum (AlgoPerf's baseline) `sgd_momentum(nesterov=true)`; a
        // benchmark compares the two switches after the lecture's rules.
        self.series.push(Series {
            label: "amsgrad",
            name: "adam",
            variant: Some("amsgrad=true"),
            tuned: Adam::TUNED,
        });
        self.series.push(Series {
            label: "nesterov",
            name: "sgd_momentum",
            variant: Some("nesterov=true"),
            tuned: SgdMomentum::TUNED,
        });
        let others = [
            self.add::<Adagrad>("adagrad", Decay::OWN),
            self.add::<Adamax>("adamax", Decay::OWN),
            self.add::<Nadam>("nadam", Decay::OWN),
            self.add::<Nadam>("nadamw", Decay::decoupled(0.01)),
            self.add::<Radam>("radam", Decay::OWN),
            self.add::<Adadelta>("adadelta", Decay::OWN),
            self.add::<AdaBelief>("adabelief", Decay::OWN),
            self.add::<Yogi>("yogi", Decay::OWN),
            self.add::<SignSgd>("sign_sgd", Decay::OWN),
            self.add::<Signum>("signum", Decay::OWN),
            self.add::<Lamb>("lamb", lamb),
            self.add::<Lion>("lion", Decay::decoupled(1e-3)),
            self.add::<AdEMAMix>("ademamix", Decay::decoupled(0.0)),
            self.add::<CautiousAdamW>("cautious_adamw", Decay::decoupled(0.01)),
            self.add::<Shampoo>("shampoo", Decay::decoupled(0.0)),
            self.add::<Soap>("soap", Decay::OWNED),
            self.add::<ScheduleFreeAdamW>("schedule_free_adamw", Decay::OWNED),
            self.add::<Adafactor>("adafactor", Decay::decoupled(0.0)),
            self.add::<Muon>("muon", muon),
            self.add::<Prodigy>("prodigy", Decay::OWNED),
        ];
        for result in lecture.into_iter().chain(others) {
            result.expect("a built-in rule is valid");
        }
    }

    /// Adds `R` as `name` after checking its declarations.
    pub(crate) fn add<R: TensorRule>(
        &mut self,
        name: &'static str,
        decay: Decay,
    ) -> Result<(), RegistryError> {
        self.insert::<R>(name, decay, None)
    }

    /// Adds `R` as `name`, running as `V` when the spec sets the switch
    /// `V` declares (its [`Variant::of`]).
    fn add_with_variant<R: TensorRule, V: Variant<R>>(
        &mut self,
        name: &'static str,
        decay: Decay,
    ) -> Result<(), RegistryError> {
        let variant: Switch = |rule| {
            let rule = rule.as_any().downcast_ref::<R>()?;
            V::of(rule).map(|v| Box::new(v) as Box<dyn DynRule>)
        };
        self.insert::<R>(name, decay, Some(variant))
    }

    fn insert<R: TensorRule>(
        &mut self,
        name: &'static str,
        decay: Decay,
        variant: Option<Switch>,
    ) -> Result<(), RegistryError> {
        if let Some(e) = self.entries.iter().find(|e| e.name == name) {
            return if e.rule == TypeId::of::<R>() && e.decay == decay {
                Ok(())
            } else {
                Err(RegistryError::Taken { name: name.into() })
            };
        }
        check::<R>(name)?;
        if decay.default.is_some() && !R::default().options().decoupled_decay {
            return Err(RegistryError::State {
                name: name.into(),
                problem: "applies its own weight decay (Options::decoupled_decay is false), so \
                          no name can give it a decoupled one"
                    .into(),
            });
        }
        self.entries.push(Entry {
            name,
            rule: TypeId::of::<R>(),
            make: || Box::new(R::default()),
            decay,
            variant,
            search: R::SEARCH,
        });
        if !R::TUNED.is_empty() {
            self.series.push(Series {
                label: name,
                name,
                variant: None,
                tuned: R::TUNED,
            });
        }
        Ok(())
    }
}

/// A rule that runs in place of `R` when the spec sets one of `R`'s keys
/// (a switch that changes what the rule keeps).
pub(crate) trait Variant<R>: TensorRule {
    /// The variant for these hyperparameters of `R`, if they select it.
    fn of(rule: &R) -> Option<Self>;
}

impl Variant<Adam> for AmsGrad {
    fn of(adam: &Adam) -> Option<AmsGrad> {
        adam.amsgrad.0.then_some(AmsGrad(*adam))
    }
}

/// The checks [`register`] makes on a rule's declarations.
fn check<R: TensorRule>(name: &str) -> Result<(), RegistryError> {
    let spec_name = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    if !spec_name(name) {
        return Err(RegistryError::BadName { name: name.into() });
    }
    let state = |problem: String| RegistryError::State {
        name: name.into(),
        problem,
    };
    let defaults = R::default();
    let probe = defaults.init(&Tensor::zeros(&[2, 3]));
    if probe.len() != R::STATE.len() {
        return Err(state(format!(
            "STATE names {} tensors but State holds {}",
            R::STATE.len(),
            probe.len()
        )));
    }
    if let Some(at) = R::EVALUATE_AT {
        if !R::STATE.contains(&at) {
            return Err(state(format!(
                "EVALUATE_AT names '{at}', which is not in STATE"
            )));
        }
    }
    let initial = defaults.initial_global().len();
    if initial != R::GLOBAL.len() {
        return Err(state(format!(
            "GLOBAL names {} numbers but initial_global gives {initial}",
            R::GLOBAL.len()
        )));
    }
    for (i, s) in R::GLOBAL.iter().enumerate() {
        if R::GLOBAL[..i].contains(s) || s.is_empty() {
            return Err(state(format!("the global name '{s}' repeats or is empty")));
        }
    }
    for (i, s) in R::STATE.iter().enumerate() {
        if R::STATE[..i].contains(s) || s.is_empty() || s.contains('.') {
            return Err(state(format!(
                "the state name '{s}' repeats, is empty or contains '.'"
            )));
        }
    }
    let key = |key: &str, problem| RegistryError::Key {
        name: name.into(),
        key: key.into(),
        problem,
    };
    let owns_decay = !defaults.options().decoupled_decay;
    for (i, h) in R::TABLE.iter().enumerate() {
        if R::TABLE[..i].iter().any(|o| o.name == h.name) {
            return Err(key(h.name, "is declared twice"));
        }
        let owned = owns_decay && h.name == DECOUPLED;
        if DRIVER_KEYS.contains(&h.name) && !owned {
            return Err(key(h.name, "is one of the optimizer's own keys"));
        }
        // A default must be a value the spec would accept.
        let mut copy = defaults.clone();
        let text = (h.field)(&mut copy).text();
        if let Err(expected) = (h.field)(&mut copy).set(&text, h.range) {
            return Err(RegistryError::Default {
                name: name.into(),
                key: h.name.into(),
                value: text,
                expected,
            });
        }
    }
    for (i, d) in R::SEARCH.iter().enumerate() {
        if R::SEARCH[..i].iter().any(|o| o.key == d.key) {
            return Err(key(d.key, "is searched twice"));
        }
        if let Some(problem) = d.problem() {
            return Err(RegistryError::Search {
                name: name.into(),
                key: d.key.into(),
                problem,
            });
        }
        match R::TABLE.iter().find(|h| h.name == d.key) {
            // Both ends of the range must be values the spec accepts.
            Some(h) => {
                for end in [d.low, d.high] {
                    let mut copy = defaults.clone();
                    if let Err(expected) = (h.field)(&mut copy).set(&end.to_string(), h.range) {
                        return Err(RegistryError::Search {
                            name: name.into(),
                            key: d.key.into(),
                            problem: format!("the end {end} of its range is not {expected}"),
                        });
                    }
                }
            }
            None if DRIVER_KEYS.contains(&d.key) => {}
            None => return Err(key(d.key, "is searched but is not a key of the spec")),
        }
    }
    // The tuned configuration: the base rate (a number) first, then keys
    // of the rule, each at a value the spec accepts.
    for (i, kv) in R::TUNED.split(',').filter(|kv| !kv.is_empty()).enumerate() {
        let tuned = |problem: String| state(format!("the tuned '{kv}' {problem}"));
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| tuned("is not key=value".into()))?;
        let h = R::TABLE
            .iter()
            .find(|h| h.name == k)
            .ok_or_else(|| tuned("names no key of the rule".into()))?;
        if i == 0 && v.parse::<f64>().is_err() {
            return Err(tuned("must be the base rate, a number".into()));
        }
        let mut copy = defaults.clone();
        (h.field)(&mut copy)
            .set(v, h.range)
            .map_err(|expected| tuned(format!("is not {expected}")))?;
    }
    Ok(())
}

/// A rule behind a pointer: what the [`Optimizer`](crate::Optimizer) needs
/// from any [`TensorRule`], implemented for all of them.
pub(crate) trait DynRule: Send + Sync + fmt::Debug {
    fn as_any(&self) -> &dyn Any;
    fn clone_box(&self) -> Box<dyn DynRule>;
    fn same(&self, other: &dyn DynRule) -> bool;
    /// Reads every hyperparameter from `keys` (defaults stay where a key is
    /// not given), then checks that they go together.
    fn parse(&mut self, keys: &mut Keys<'_>) -> Result<(), SpecError>;
    /// Writes every hyperparameter (a correction only when it is not the
    /// rule's default).
    fn write(&self, w: &mut KeyWriter<'_, '_>) -> fmt::Result;
    fn value(&self, key: &str) -> Option<String>;
    fn state_names(&self) -> &'static [&'static str];
    fn global_names(&self) -> &'static [&'static str];
    fn initial_global(&self) -> Vec<f64>;
    fn init(&self, value: &Tensor) -> Vec<Tensor>;
    /// The index of [`TensorRule::EVALUATE_AT`] among the state tensors.
    fn evaluate_at(&self) -> Option<usize>;
    fn training_point(&self, value: &mut [f32], moments: &[Tensor]);
    fn options(&self) -> Options;
    fn learning_rate(&self) -> f64;
    /// One step: the scalars, then the update of every tensor.
    fn step(&self, t: u64, eta: f64, tensors: &mut Tensors<'_>, global: &mut [f64]);
}

impl<R: TensorRule> DynRule for R {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn clone_box(&self) -> Box<dyn DynRule> {
        Box::new(self.clone())
    }

    fn same(&self, other: &dyn DynRule) -> bool {
        other.as_any().downcast_ref::<R>() == Some(self)
    }

    fn parse(&mut self, keys: &mut Keys<'_>) -> Result<(), SpecError> {
        for h in R::TABLE {
            if let Some(value) = keys.take(h.name) {
                (h.field)(self)
                    .set(value, h.range)
                    .map_err(|expected| keys.bad(h.name, value, &expected))?;
            }
        }
        TensorRule::options(self).check.map_err(|(key, expected)| {
            let value = self.value(key).unwrap_or_default();
            keys.bad(key, &value, &expected)
        })
    }

    fn write(&self, w: &mut KeyWriter<'_, '_>) -> fmt::Result {
        let defaults = R::default();
        for h in R::TABLE {
            let mut copy = self.clone();
            let value = (h.field)(&mut copy);
            let text = value.text();
            let mut default = defaults.clone();
            if value.shown_at_default() || text != (h.field)(&mut default).text() {
                w.text(h.name, &text)?;
            }
        }
        Ok(())
    }

    fn value(&self, key: &str) -> Option<String> {
        let h = R::TABLE.iter().find(|h| h.name == key)?;
        Some((h.field)(&mut self.clone()).text())
    }

    fn state_names(&self) -> &'static [&'static str] {
        R::STATE
    }

    fn global_names(&self) -> &'static [&'static str] {
        R::GLOBAL
    }

    fn initial_global(&self) -> Vec<f64> {
        TensorRule::initial_global(self)
    }

    fn init(&self, value: &Tensor) -> Vec<Tensor> {
        TensorRule::init(self, value)
    }

    fn evaluate_at(&self) -> Option<usize> {
        R::EVALUATE_AT.and_then(|name| R::STATE.iter().position(|&s| s == name))
    }

    fn training_point(&self, value: &mut [f32], moments: &[Tensor]) {
        TensorRule::training_point(self, value, moments);
    }

    fn options(&self) -> Options {
        TensorRule::options(self)
    }

    fn learning_rate(&self) -> f64 {
        TensorRule::learning_rate(self)
    }

    fn step(&self, t: u64, eta: f64, tensors: &mut Tensors<'_>, global: &mut [f64]) {
        let c = self.scalars(t, eta, global);
        self.update(&c, tensors, global);
    }
}

impl Clone for Box<dyn DynRule> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}
