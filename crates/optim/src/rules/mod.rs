//! The built-in rules, one file each, and the list that registers them.
//!
//! Adding a rule to the built-in set is one file here and one line in the
//! list below; the line names the file and the rule, optionally the
//! decoupled weight decay its own name runs with by default (`lion = …`),
//! and optionally a second spec name under which it runs with decoupled
//! weight decay by default (`adamw`).

use crate::registry::Registry;

/// Declares each rule's module, re-exports the rule and registers it, in
/// the order of the list (the order spec errors name them in).
macro_rules! builtin_rules {
    ($( $module:ident :: $rule:ident $(= $own:expr)? $(, $decoupled:literal = $lambda:expr)? ; )*) => {
        $( mod $module; pub use $module::$rule; )*

        /// Registers every built-in rule.
        pub(crate) fn register_builtin(registry: &mut Registry) {
            $(
                let own: Option<f64> = None $( .or(Some($own)) )?;
                registry.add::<$rule>(<$rule as crate::Rule>::NAME, own).expect("a built-in rule is valid");
                $( registry.add::<$rule>($decoupled, Some($lambda)).expect("a built-in rule is valid"); )?
            )*
        }
    };
}

/// AMSGrad is spelled `adam(amsgrad=true)`: Adam runs as it when asked
/// ([`Rule::variant`](crate::Rule::variant)), so it has no name of its own.
mod amsgrad;
pub use amsgrad::AmsGrad;

builtin_rules! {
    sgd::Sgd;
    sgd_momentum::SgdMomentum;
    sgd_ema::SgdEma;
    rmsprop::RmsProp;
    rmsprop_momentum::RmsPropMomentum;
    adam::Adam, "adamw" = 0.01;
    adam_lecture::AdamLecture;
    adam_eta0::AdamEta0;
    adam_per_example::AdamPerExample;
    adagrad::Adagrad;
    adamax::Adamax;
    nadam::Nadam, "nadamw" = 0.01;
    radam::Radam;
    adadelta::Adadelta;
    adabelief::AdaBelief;
    yogi::Yogi;
    sign_sgd::SignSgd;
    signum::Signum;
    lamb::Lamb;
    lion::Lion = 1e-3;
    schedule_free_adamw::ScheduleFreeAdamW;
    muon::Muon;
    adafactor::Adafactor = 0.0;
    prodigy::Prodigy;
}
