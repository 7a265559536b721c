//! The rules by spec name: the built-in ones, and the ones a user registers.
//!
//! [`Optimizer::from_spec`](crate::Optimizer::from_spec) looks the name of a
//! spec up here. The built-in rules are listed once, in
//! [`rules`](crate::rules); a rule of your own is added with [`register`]
//! (see [`rule`](crate::rule) for an example) and from then on parses,
//! prints, saves its state in checkpoints and trains like a built-in one.
//! Registration is process-wide; a program that resumes a checkpoint made
//! with its own rule registers the rule before loading it.

use std::any::{Any, TypeId};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{LazyLock, PoisonError, RwLock};

use crate::batch_rule::BatchRule;
use crate::driver::StateArray;
use crate::driver::{step_all, Scratch, Slot, Transform};
use crate::param::{GradRequest, Param};
use crate::rule::Rule;
use crate::search::Dim;
use crate::spec::{KeyWriter, Keys, SpecError};

/// The keys the optimizer reads around every rule; a rule's hyperparameter
/// may not take one of these names.
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
    /// `STATE` and `State` disagree, or a state name repeats.
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

/// Registers rule `R` under its spec name [`Rule::NAME`]. Registering the
/// same rule again does nothing; another rule under a taken name, a name
/// that is not a spec name, a state or a hyperparameter table that does not
/// add up are errors.
pub fn register<R: Rule>() -> Result<(), RegistryError> {
    write().add::<R>(R::NAME, None)
}

/// Registers rule `R` under `name` with decoupled weight decay of default
/// `weight_decay`, the key `weight_decay` of that name being the decoupled λ
/// (as `torch.optim.AdamW` names it; such a name takes no L2 decay).
/// `adamw` is [`Adam`](crate::Adam) registered this way.
pub fn register_decoupled<R: Rule>(
    name: &'static str,
    weight_decay: f64,
) -> Result<(), RegistryError> {
    write().add::<R>(name, Some(weight_decay))
}

/// The search space of the rule registered as `name` ([`Rule::SEARCH`]),
/// with the decoupled weight decay added for a name registered with
/// [`register_decoupled`]; `None` if no rule has that name.
pub fn search_space(name: &str) -> Option<Vec<Dim>> {
    let e = lookup(name)?;
    let mut dims = e.search.to_vec();
    if e.decoupled.is_some() && !dims.iter().any(|d| d.key == "weight_decay") {
        dims.push(crate::search::DECOUPLED_WEIGHT_DECAY);
    }
    Some(dims)
}

/// Every registered spec name: the built-in ones in the lecture's order,
/// then the ones registered since.
pub fn names() -> Vec<&'static str> {
    read().entries.iter().map(|e| e.name).collect()
}

/// The registered rules.
pub(crate) struct Registry {
    entries: Vec<Entry>,
}

/// One spec name and the rule it builds.
#[derive(Clone, Copy)]
pub(crate) struct Entry {
    pub name: &'static str,
    rule: TypeId,
    /// The rule with its declared defaults.
    pub make: fn() -> Box<dyn DynRule>,
    /// `Some(λ)` for a name whose `weight_decay` is the decoupled decay.
    pub decoupled: Option<f64>,
    /// The rule's [`Rule::SEARCH`].
    search: &'static [Dim],
}

static REGISTRY: LazyLock<RwLock<Registry>> = LazyLock::new(|| {
    let mut registry = Registry {
        entries: Vec::new(),
    };
    crate::rules::register_builtin(&mut registry);
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
    /// Adds `R` as `name` after checking its declarations.
    pub(crate) fn add<R: Rule>(
        &mut self,
        name: &'static str,
        decoupled: Option<f64>,
    ) -> Result<(), RegistryError> {
        if let Some(e) = self.entries.iter().find(|e| e.name == name) {
            return if e.rule == TypeId::of::<R>() && e.decoupled == decoupled {
                Ok(())
            } else {
                Err(RegistryError::Taken { name: name.into() })
            };
        }
        check::<R>(name)?;
        if decoupled.is_some() && !R::DECOUPLED_DECAY {
            return Err(RegistryError::State {
                name: name.into(),
                problem: "applies its own weight decay (DECOUPLED_DECAY is false), so no name \
                          can give it a decoupled one"
                    .into(),
            });
        }
        self.entries.push(Entry {
            name,
            rule: TypeId::of::<R>(),
            make: || Box::new(R::default()),
            decoupled,
            search: R::SEARCH,
        });
        Ok(())
    }
}

/// The checks [`register`] makes on a rule's declarations.
fn check<R: Rule>(name: &str) -> Result<(), RegistryError> {
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
    if R::STATE.len() != R::State::LEN {
        return Err(state(format!(
            "STATE names {} tensors but State holds {}",
            R::STATE.len(),
            R::State::LEN
        )));
    }
    for name in R::FROM_PARAMETER {
        if !R::STATE.contains(name) {
            return Err(state(format!(
                "FROM_PARAMETER names '{name}', which is not in STATE"
            )));
        }
    }
    if let Some(at) = R::EVALUATE_AT {
        if !R::STATE.contains(&at) {
            return Err(state(format!(
                "EVALUATE_AT names '{at}', which is not in STATE"
            )));
        }
    }
    let initial = R::default().initial_global().len();
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
    let defaults = R::default();
    for (i, h) in R::TABLE.iter().enumerate() {
        if R::TABLE[..i].iter().any(|o| o.name == h.name) {
            return Err(key(h.name, "is declared twice"));
        }
        if DRIVER_KEYS.contains(&h.name) {
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
    Ok(())
}

/// A rule behind a pointer: what the [`Optimizer`](crate::Optimizer) needs
/// from any [`Rule`], implemented for all of them.
pub(crate) trait DynRule: Send + Sync + fmt::Debug {
    fn as_any(&self) -> &dyn Any;
    fn clone_box(&self) -> Box<dyn DynRule>;
    fn same(&self, other: &dyn DynRule) -> bool;
    /// Reads every hyperparameter from `keys` (defaults stay where a key is
    /// not given).
    fn parse(&mut self, keys: &mut Keys<'_>) -> Result<(), SpecError>;
    /// Writes every hyperparameter (a correction only when it is not the
    /// rule's default).
    fn write(&self, w: &mut KeyWriter<'_, '_>) -> fmt::Result;
    fn value(&self, key: &str) -> Option<String>;
    /// The rule to run instead, from [`Rule::variant`].
    fn variant(&self) -> Option<Box<dyn DynRule>>;
    fn state_names(&self) -> &'static [&'static str];
    fn global_names(&self) -> &'static [&'static str];
    fn initial_global(&self) -> Vec<f64>;
    fn state_shape(&self, state: usize, shape: &[usize]) -> Vec<usize>;
    /// The index of [`Rule::EVALUATE_AT`] among the state tensors.
    fn evaluate_at(&self) -> Option<usize>;
    fn decoupled_decay(&self) -> bool;
    /// Φ from the saved evaluation point and the state, element by element.
    fn training_point(&self, value: &mut [f32], moments: &[gradlab_tensor::Tensor]);
    fn grad_request(&self) -> GradRequest;
    fn default_batch_rule(&self) -> BatchRule;
    fn learning_rate(&self) -> f64;
    #[allow(clippy::too_many_arguments)]
    fn step(
        &self,
        slots: &mut BTreeMap<usize, Slot>,
        scratch: &mut Scratch,
        params: &mut [Param<'_>],
        t: u64,
        eta: f64,
        x: Transform,
        global: &mut [f64],
    );
}

impl<R: Rule> DynRule for R {
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
            keys.value(h.name, (h.field)(self), h.range)?;
        }
        self.check().map_err(|(key, expected)| {
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

    fn variant(&self) -> Option<Box<dyn DynRule>> {
        Rule::variant(self).map(|v| v.0)
    }

    fn state_names(&self) -> &'static [&'static str] {
        R::STATE
    }

    fn global_names(&self) -> &'static [&'static str] {
        R::GLOBAL
    }

    fn initial_global(&self) -> Vec<f64> {
        Rule::initial_global(self)
    }

    fn state_shape(&self, state: usize, shape: &[usize]) -> Vec<usize> {
        Rule::state_shape(self, state, shape)
    }

    fn evaluate_at(&self) -> Option<usize> {
        R::EVALUATE_AT.and_then(|name| R::STATE.iter().position(|&s| s == name))
    }

    fn decoupled_decay(&self) -> bool {
        R::DECOUPLED_DECAY
    }

    fn training_point(&self, value: &mut [f32], moments: &[gradlab_tensor::Tensor]) {
        for (i, phi) in value.iter_mut().enumerate() {
            *phi = Rule::training_point(self, *phi, &R::State::load(moments, i));
        }
    }

    fn grad_request(&self) -> GradRequest {
        R::REQUEST
    }

    fn default_batch_rule(&self) -> BatchRule {
        R::BATCH_RULE
    }

    fn learning_rate(&self) -> f64 {
        Rule::learning_rate(self)
    }

    fn step(
        &self,
        slots: &mut BTreeMap<usize, Slot>,
        scratch: &mut Scratch,
        params: &mut [Param<'_>],
        t: u64,
        eta: f64,
        x: Transform,
        global: &mut [f64],
    ) {
        step_all(self, slots, scratch, params, t, eta, x, global);
    }
}

impl Clone for Box<dyn DynRule> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}
