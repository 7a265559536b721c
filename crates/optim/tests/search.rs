//! Every built-in rule declares a search space whose every point is a valid
//! spec, its rate first; a rule of one's own with a bad space is refused at
//! registration, naming the key.

use gradlab_optim::rule::{Gradient, Rule};
use gradlab_optim::search::{log, Dim};
use gradlab_optim::{hyperparameters, registry, search_space, Optimizer, RegistryError};

/// The spec of `name` with every dimension of `dims` at coordinate `u`.
fn spec_at(name: &str, dims: &[Dim], u: f64) -> String {
    let keys: Vec<String> = dims
        .iter()
        .map(|d| format!("{}={}", d.key, d.at(u)))
        .collect();
    format!("{name}({})", keys.join(","))
}

#[test]
fn every_built_in_rule_has_a_space_of_valid_specs_led_by_its_rate() {
    // The rules of this file's other tests are registered without a space.
    for name in registry::names()
        .into_iter()
        .filter(|n| !n.starts_with("tuned_"))
    {
        let dims = search_space(name).unwrap();
        assert!(!dims.is_empty(), "{name} declares no search space");
        let first = dims[0].key;
        assert!(
            first == "lr" || first == "eta0",
            "{name}: the space starts with {first}, not the rate"
        );
        for u in [0.0, 0.37, 1.0] {
            let spec = spec_at(name, &dims, u);
            let o = Optimizer::from_spec(&spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
            for d in &dims {
                match o.hyperparameter(d.key) {
                    Some(v) => assert_eq!(v.parse::<f64>().unwrap(), d.at(u), "{spec}: {}", d.key),
                    // One of the optimizer's own keys, which it prints
                    // unless it is at its default.
                    None => assert!(
                        d.at(u) == 0.0 || o.to_string().contains(&format!("{}=", d.key)),
                        "{spec} prints as {o}"
                    ),
                }
            }
        }
    }
    // A decoupled name adds its weight decay to the rule's space.
    let adamw = search_space("adamw").unwrap();
    assert_eq!(adamw.len(), search_space("adam").unwrap().len() + 1);
    assert_eq!(adamw.last().unwrap().key, "weight_decay");
    assert!(search_space("no_such_rule").is_none());
}

hyperparameters! {
    /// A sign-descent rule whose search space names a key it does not have.
    pub struct BadSpace {
        /// η.
        lr: f64 = 1e-3, Positive;
    }
    search: [log("lr", 1e-4, 1e-2), log("beta", 0.1, 0.9)];
}

impl Rule for BadSpace {
    const NAME: &'static str = "bad_space";
    const STATE: &'static [&'static str] = &[];
    type State = [f32; 0];
    type Scalars = f32;

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn scalars(&self, _t: u64, eta: f64) -> f32 {
        eta as f32
    }

    fn update(&eta: &f32, phi: &mut f32, g: Gradient, _: &mut [f32; 0]) {
        *phi -= eta * gradlab_optim::sign(g.mean);
    }
}

hyperparameters! {
    /// A rule whose rate range ends at a value the key refuses.
    pub struct BadRange {
        /// η.
        lr: f64 = 1e-3, Positive;
    }
    search: [gradlab_optim::search::linear("lr", -1.0, 1.0)];
}

impl Rule for BadRange {
    const NAME: &'static str = "bad_range";
    const STATE: &'static [&'static str] = &[];
    type State = [f32; 0];
    type Scalars = f32;

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn scalars(&self, _t: u64, eta: f64) -> f32 {
        eta as f32
    }

    fn update(&eta: &f32, phi: &mut f32, g: Gradient, _: &mut [f32; 0]) {
        *phi -= eta * g.mean;
    }
}

#[test]
fn a_bad_search_space_is_refused_naming_the_key() {
    let err = gradlab_optim::register::<BadSpace>().unwrap_err();
    assert_eq!(
        err,
        RegistryError::Key {
            name: "bad_space".into(),
            key: "beta".into(),
            problem: "is searched but is not a key of the spec",
        }
    );
    let err = gradlab_optim::register::<BadRange>().unwrap_err();
    assert!(
        matches!(&err, RegistryError::Search { key, problem, .. }
            if key == "lr" && problem.contains("-1")),
        "{err}"
    );
    assert!(Optimizer::from_spec("bad_range").is_err());
}

/// A sign-descent rule called `$name` whose tuned configuration is
/// `$tuned`.
macro_rules! tuned_rule {
    ($rule:ident, $name:literal, $tuned:literal) => {
        hyperparameters! {
            /// Sign descent with a declared tuned configuration.
            pub struct $rule {
                /// η.
                lr: f64 = 1e-3, Positive;
            }
            tuned: $tuned;
        }

        impl Rule for $rule {
            const NAME: &'static str = $name;
            const STATE: &'static [&'static str] = &[];
            type State = [f32; 0];
            type Scalars = f32;

            fn learning_rate(&self) -> f64 {
                self.lr
            }

            fn scalars(&self, _t: u64, eta: f64) -> f32 {
                eta as f32
            }

            fn update(&eta: &f32, phi: &mut f32, g: Gradient, _: &mut [f32; 0]) {
                *phi -= eta * gradlab_optim::sign(g.mean);
            }
        }
    };
}

tuned_rule!(TunedWell, "tuned_well", "lr=3e-4");
tuned_rule!(TunedUnknown, "tuned_unknown", "lr=3e-4,momentum=0.9");
tuned_rule!(TunedBare, "tuned_bare", "lr");
tuned_rule!(TunedNegative, "tuned_negative", "lr=-1");
tuned_rule!(TunedWords, "tuned_words", "lr=fast");

#[test]
fn a_tuned_configuration_is_checked_and_joins_the_compared_rules() {
    for (err, expected) in [
        (
            gradlab_optim::register::<TunedUnknown>(),
            "rule 'tuned_unknown': the tuned 'momentum=0.9' names no key of the rule",
        ),
        (
            gradlab_optim::register::<TunedBare>(),
            "rule 'tuned_bare': the tuned 'lr' is not key=value",
        ),
        (
            gradlab_optim::register::<TunedNegative>(),
            "rule 'tuned_negative': the tuned 'lr=-1' is not a finite number > 0",
        ),
        (
            gradlab_optim::register::<TunedWords>(),
            "rule 'tuned_words': the tuned 'lr=fast' must be the base rate, a number",
        ),
    ] {
        assert_eq!(err.unwrap_err().to_string(), expected);
    }
    gradlab_optim::register::<TunedWell>().unwrap();
    let series = registry::series();
    let mine = series.iter().find(|s| s.name == "tuned_well").unwrap();
    assert_eq!(
        (mine.label, mine.rate(), mine.rate_key()),
        ("tuned_well", 3e-4, "lr")
    );
    assert_eq!(mine.spec(), "tuned_well(lr=0.0003)");
    // A rule without a tuned configuration is registered, not compared.
    gradlab_optim::register::<BadRange>().unwrap_err();
    assert!(series.iter().all(|s| !s.name.starts_with("tuned_u")));
    assert!(series.iter().any(|s| s.label == "amsgrad"));
}
