//! Spec strings: canonical forms, round trips and the errors of bad specs.

mod common;

use gradlab_optim::{Optimizer, SpecError};

#[test]
fn defaults_have_canonical_forms() {
    let want = [
        "sgd(lr=0.001)",
        "sgd_momentum(lr=0.01,momentum=0.9,nesterov=false)",
        "sgd_ema(lr=0.1,n_g=10)",
        "rmsprop(lr=0.01,n_s=100,eps=1e-8)",
        "rmsprop_momentum(lr=0.001,n_s=100,eps=1e-8,momentum=0.9)",
        "adam(lr=0.001,b1=0.9,b2=0.999,eps=1e-8)",
        "adamw(lr=0.001,b1=0.9,b2=0.999,eps=1e-8,decoupled_weight_decay=0.01)",
        "adam(lr=0.001,b1=0.9,b2=0.999,eps=1e-8,amsgrad=true)",
        "adam_lecture(lr=0.001,n_g=10,n_s=1000,eps=1e-8)",
        "adam_eta0(eta0=10,eps=0.0001,n_g=10,n_s=1000)",
        "adam_per_example(eta0=0.0001,n_g=10,n_s=1000,eps=1e-8)",
        "adagrad(lr=0.01,lr_decay=0,initial_accumulator_value=0,eps=1e-10)",
        "adamax(lr=0.002,b1=0.9,b2=0.999,eps=1e-8)",
        "nadam(lr=0.002,b1=0.9,b2=0.999,eps=1e-8,momentum_decay=0.004)",
        "nadamw(lr=0.002,b1=0.9,b2=0.999,eps=1e-8,momentum_decay=0.004,decoupled_weight_decay=0.01)",
        "radam(lr=0.001,b1=0.9,b2=0.999,eps=1e-8)",
        "adadelta(lr=1,rho=0.9,eps=1e-6)",
        "adabelief(lr=0.001,b1=0.9,b2=0.999,eps=1e-16,eps_root=1e-16)",
        "yogi(lr=0.01,b1=0.9,b2=0.999,eps=0.001,initial_accumulator_value=1e-6)",
        "sign_sgd(lr=0.0001)",
        "signum(lr=0.0001,beta=0.9)",
        "lamb(lr=0.001,b1=0.9,b2=0.999,eps=1e-6,trust_weight_decay=0)",
        "lion(lr=0.0001,b1=0.9,b2=0.99,decoupled_weight_decay=0.001)",
        "ademamix(lr=0.001,b1=0.9,b2=0.999,b3=0.9999,alpha=2,eps=1e-8,alpha_warmup=0,b3_warmup=0,decoupled_weight_decay=0)",
        "cautious_adamw(lr=0.001,b1=0.9,b2=0.999,eps=1e-8,decoupled_weight_decay=0.01)",
        "shampoo(lr=0.001,b1=0.9,b2=0.999,eps=1e-8,graft_eps=1e-8,precondition_frequency=100,start_preconditioning_step=100,max_preconditioner_dim=128,decoupled_weight_decay=0)",
        "soap(lr=0.003,b1=0.95,b2=0.95,shampoo_beta=0.95,eps=1e-8,precondition_frequency=10,max_precond_dim=1024,decoupled_weight_decay=0.01)",
        "schedule_free_adamw(lr=0.0025,b1=0.9,b2=0.999,eps=1e-8,decoupled_weight_decay=0,weight_lr_power=2)",
        "muon(lr=0.001,momentum=0.95,nesterov=true,ns_steps=5,eps=1e-7,adam_lr=0.0003,adam_b1=0.9,adam_b2=0.95,adam_eps=1e-10,decoupled_weight_decay=0.1,adam_decoupled_weight_decay=0)",
        "adafactor(lr=0.01,beta2_decay=-0.8,eps1=1.1920929e-7,eps2=0.001,d=1,decoupled_weight_decay=0)",
        "prodigy(lr=1,b1=0.9,b2=0.999,beta3=0,eps=1e-8,estim_lr0=1e-6,estim_lr_coef=1,decoupled_weight_decay=0)",
    ];
    assert_eq!(want.len(), common::ALL.len());
    for (name, want) in common::ALL.iter().zip(want) {
        assert_eq!(Optimizer::from_spec(name).unwrap().to_string(), want);
    }
}

#[test]
fn every_optimizer_round_trips_through_display() {
    let specs = [
        "sgd(lr=0.1)",
        "sgd(lr=0.5,weight_decay=1e-4,clip_norm=5,batch_rule=linear,schedule=step,step_size=100,gamma=0.5,warmup=10)",
        "sgd_momentum(lr=0.01,momentum=0.9,nesterov=true)",
        "sgd_momentum(lr=3e-3,momentum=0.95,schedule=cosine,total_steps=5000)",
        "sgd_ema(lr=0.1,n_g=10)",
        "sgd_ema(lr=0.2,n_g=2.5,batch_rule=sqrt)",
        "rmsprop(lr=1e-3,n_s=100)",
        "rmsprop(n_s=1000,eps=0,clip_norm=0.25)",
        "rmsprop_momentum(lr=1e-4,momentum=0.5)",
        "adam(lr=1e-3,b1=0.9,b2=0.999,eps=1e-8)",
        "adam(lr=0.003,weight_decay=5e-4,schedule=cosine,total_steps=20000,warmup=500)",
        "adamw(lr=1e-3,weight_decay=0.05)",
        "adam(lr=3e-3,amsgrad=true,weight_decay=1e-4)",
        "adamw(amsgrad=true,schedule=cosine,total_steps=100)",
        "adam_lecture(lr=1e-3,n_g=10,n_s=1000)",
        "adam_eta0(eta0=0.1,eps=1e-3)",
        "adam_eta0(eta0=0.1,eps=inf)",
        "adam_eta0(eta0=0.3,eps=1e6,batch_rule=sqrt)",
        "adam_per_example(eta0=1e-5)",
        "adam_per_example(eta0=1e-5,batch_rule=fixed)",
        "adagrad(lr=0.05,lr_decay=0.01,initial_accumulator_value=0.1)",
        "adamax(lr=3e-3,b2=0.99,eps=1e-7,weight_decay=1e-4)",
        "nadam(lr=1e-3,momentum_decay=0.01,clip_norm=1)",
        "nadamw(lr=1e-3,weight_decay=0.05,schedule=cosine,total_steps=100)",
        "radam(lr=3e-4,b1=0.95,decoupled_weight_decay=0.01)",
        "adadelta(lr=0.5,rho=0.95,eps=1e-5)",
        "adabelief(lr=3e-4,eps=1e-12,decoupled_weight_decay=0.01)",
        "yogi(lr=0.003,eps=1e-4,initial_accumulator_value=0.01)",
        "sign_sgd(lr=1e-3,schedule=step,step_size=10,gamma=0.5)",
        "signum(lr=3e-4,beta=0.95,clip_norm=2)",
        "lamb(lr=2e-3,trust_weight_decay=0.01,warmup=10)",
        "lion(lr=3e-4,b2=0.98,weight_decay=0.1)",
        "ademamix(lr=2e-3,b3=0.999,alpha=8,alpha_warmup=1000,b3_warmup=1000,weight_decay=0.1)",
        "cautious_adamw(lr=3e-4,b2=0.95,weight_decay=0.1,schedule=cosine,total_steps=100)",
        "shampoo(lr=2e-3,b1=0.95,b2=0.995,eps=1e-12,precondition_frequency=20,max_preconditioner_dim=64,weight_decay=0.01)",
        "soap(lr=1e-3,b1=0.9,b2=0.99,shampoo_beta=0.99,precondition_frequency=5,max_precond_dim=512,weight_decay=0.1)",
        "schedule_free_adamw(lr=0.01,b1=0.95,decay=1e-4,warmup=100)",
        "muon(lr=0.02,momentum=0.9,nesterov=false,ns_steps=3,decay=0,adam_lr=1e-3,adam_decay=0.01)",
        "adafactor(lr=0.05,beta2_decay=-0.5,d=2,weight_decay=0.01,schedule=cosine,total_steps=50)",
        "prodigy(lr=1,beta3=0.99,decay=0.01,schedule=cosine,total_steps=10,warmup=2)",
    ];
    for spec in specs {
        let opt = Optimizer::from_spec(spec).unwrap();
        let text = opt.to_string();
        let back: Optimizer = text.parse().unwrap();
        assert_eq!(back, opt, "{spec} → {text}");
        assert_eq!(back.to_string(), text, "{spec}");
    }
    // Every name is covered above.
    for spec in common::ALL {
        // A name, or a name with a switch (`adam(amsgrad=true)`), which a
        // round-tripped spec must set too.
        let (name, keys) = spec.split_once('(').unwrap_or((spec, ""));
        let keys = keys.trim_end_matches(')');
        assert!(
            specs
                .iter()
                .any(|s| s.starts_with(&format!("{name}(")) && s.contains(keys)),
            "{name}"
        );
    }
}

#[test]
fn composition_keys_are_read() {
    let opt =
        Optimizer::from_spec("adam(lr=0.01,weight_decay=0.1,clip_norm=2,batch_rule=sqrt)").unwrap();
    assert_eq!(opt.weight_decay(), 0.1);
    assert_eq!(opt.clip_norm(), Some(2.0));
    assert_eq!(opt.batch_rule(), gradlab_optim::BatchRule::Sqrt);
    // adamw's weight_decay is its own decoupled λ, not an L2 term.
    let adamw = Optimizer::from_spec("adamw(weight_decay=0.1)").unwrap();
    assert_eq!(adamw.weight_decay(), 0.0);
    assert_eq!(
        adamw.to_string(),
        "adamw(lr=0.001,b1=0.9,b2=0.999,eps=1e-8,decoupled_weight_decay=0.1)"
    );
}

fn error(spec: &str) -> String {
    Optimizer::from_spec(spec).unwrap_err().to_string()
}

#[test]
fn unknown_names_list_every_optimizer() {
    let valid =
        "sgd, sgd_momentum, sgd_ema, rmsprop, rmsprop_momentum, adam, adamw, adam_lecture, \
                 adam_eta0, adam_per_example, adagrad, adamax, nadam, nadamw, radam, adadelta, \
                 adabelief, yogi, sign_sgd, signum, lamb, lion, ademamix, cautious_adamw, shampoo, soap, \
                 schedule_free_adamw, adafactor, muon, prodigy";
    assert_eq!(
        error("rprop(lr=0.1)"),
        format!("unknown optimizer 'rprop'; valid optimizers: {valid}")
    );
    assert_eq!(
        error(""),
        format!("empty optimizer spec; valid optimizers: {valid}")
    );
}

#[test]
fn unknown_keys_list_the_valid_keys() {
    assert_eq!(
        error("adam(lr=1e-3,beta1=0.9)"),
        "unknown key 'beta1' for adam; valid keys: lr, b1, b2, eps, correction, amsgrad, weight_decay, \
         decoupled_weight_decay, clip_norm, batch_rule, schedule, warmup, step_size (with schedule=step), gamma (with schedule=step), total_steps \
         (with schedule=cosine)"
    );
    // Schedule keys without their schedule.
    assert!(error("sgd(total_steps=100)")
        .contains("unknown key 'total_steps' for sgd; valid keys: lr,"));
    assert!(error("sgd(total_steps=100)").contains("total_steps (with schedule=cosine)"));
    assert!(error("sgd(schedule=cosine,gamma=0.5)").contains("gamma (with schedule=step)"));
    // The lecture's names for the lecture's rules.
    assert!(error("adam_lecture(b1=0.9)").contains("valid keys: lr, n_g, n_s, eps,"));
}

#[test]
fn bad_values_say_what_is_expected() {
    let cases = [
        (
            "adam(lr=fast)",
            "bad value 'fast' for lr of adam: expected a finite number > 0",
        ),
        (
            "adam(lr=0)",
            "bad value '0' for lr of adam: expected a finite number > 0",
        ),
        (
            "adam(b1=1)",
            "bad value '1' for b1 of adam: expected a number in [0, 1)",
        ),
        (
            "adam(eps=-1)",
            "bad value '-1' for eps of adam: expected a finite number ≥ 0",
        ),
        (
            "adam(eps=nan)",
            "bad value 'nan' for eps of adam: expected a finite number ≥ 0",
        ),
        (
            "rmsprop(n_s=0.5)",
            "bad value '0.5' for n_s of rmsprop: expected a finite number ≥ 1",
        ),
        (
            "adam_eta0(eps=0)",
            "bad value '0' for eps of adam_eta0: expected a number > 0 (inf allowed)",
        ),
        (
            "adam(amsgrad=1)",
            "bad value '1' for amsgrad of adam: expected true or false",
        ),
        (
            "schedule_free_adamw(weight_decay=-0.1)",
            "bad value '-0.1' for weight_decay of schedule_free_adamw: expected a finite number ≥ 0",
        ),
        (
            "schedule_free_adamw(b2=1)",
            "bad value '1' for b2 of schedule_free_adamw: expected a number in [0, 1)",
        ),
        (
            "schedule_free_adamw(eps=-1e-8)",
            "bad value '-1e-8' for eps of schedule_free_adamw: expected a finite number ≥ 0",
        ),
        (
            "schedule_free_adamw(lr=nan)",
            "bad value 'nan' for lr of schedule_free_adamw: expected a finite number > 0",
        ),
        (
            "muon(decay=0.1,weight_decay=0.1)",
            "key 'decoupled_weight_decay (also spelled decay)' is given twice in 'muon(…)'",
        ),
        (
            "muon(ns_steps=0)",
            "bad value '0' for ns_steps of muon: expected a whole number ≥ 1",
        ),
        (
            "muon(ns_steps=2.5)",
            "bad value '2.5' for ns_steps of muon: expected a whole number ≥ 1",
        ),
        (
            "muon(momentum=1)",
            "bad value '1' for momentum of muon: expected a number in [0, 1)",
        ),
        (
            "muon(adam_eps=nan)",
            "bad value 'nan' for adam_eps of muon: expected a finite number ≥ 0",
        ),
        (
            "adafactor(beta2_decay=0.5)",
            "bad value '0.5' for beta2_decay of adafactor: expected a finite number ≤ 0",
        ),
        (
            "adafactor(d=0.5)",
            "bad value '0.5' for d of adafactor: expected a finite number ≥ 1",
        ),
        (
            "adafactor(eps2=-1)",
            "bad value '-1' for eps2 of adafactor: expected a finite number ≥ 0",
        ),
        (
            "prodigy(estim_lr0=0)",
            "bad value '0' for estim_lr0 of prodigy: expected a finite number > 0",
        ),
        (
            "prodigy(b2=1.5)",
            "bad value '1.5' for b2 of prodigy: expected a number in [0, 1)",
        ),
        (
            "prodigy(decoupled_weight_decay=nan)",
            "bad value 'nan' for decoupled_weight_decay of prodigy: expected a finite number ≥ 0",
        ),
        (
            "muon(eps=-1)",
            "bad value '-1' for eps of muon: expected a finite number > 0",
        ),
        (
            "adafactor(lr=nan)",
            "bad value 'nan' for lr of adafactor: expected a finite number > 0",
        ),
        (
            "prodigy(eps=-1e-8)",
            "bad value '-1e-8' for eps of prodigy: expected a finite number ≥ 0",
        ),
        (
            "prodigy(b1=nan)",
            "bad value 'nan' for b1 of prodigy: expected a number in [0, 1)",
        ),
        (
            "adam(b2=1,amsgrad=true)",
            "bad value '1' for b2 of adam: expected a number in [0, 1)",
        ),
        (
            "sgd_momentum(nesterov=yes)",
            "bad value 'yes' for nesterov of sgd_momentum: expected true or false",
        ),
        (
            "sgd(batch_rule=cubic)",
            "bad value 'cubic' for batch_rule of sgd: expected one of fixed, linear, sqrt",
        ),
        (
            "sgd(schedule=exp)",
            "bad value 'exp' for schedule of sgd: expected one of constant, step, cosine",
        ),
        (
            "sgd(schedule=cosine,total_steps=0)",
            "bad value '0' for total_steps of sgd: expected a whole number ≥ 1",
        ),
        (
            "sgd(warmup=-3)",
            "bad value '-3' for warmup of sgd: expected a whole number ≥ 0",
        ),
        (
            "sgd(schedule=step)",
            "sgd with schedule=step needs step_size=...",
        ),
    ];
    for (spec, message) in cases {
        assert_eq!(error(spec), message, "{spec}");
    }
}

#[test]
fn malformed_and_duplicate_keys() {
    assert_eq!(
        Optimizer::from_spec("adam(lr=1e-3,lr=1e-2)").unwrap_err(),
        SpecError::DuplicateKey {
            key: "lr".to_string(),
            spec: "adam(lr=1e-3,lr=1e-2)".to_string()
        }
    );
    assert!(error("adam(lr=1e-3")
        .starts_with("malformed optimizer spec 'adam(lr=1e-3': expected ')' at the end"));
    assert!(error("adam(lr)").contains("expected key=value, got 'lr'"));
}

#[test]
fn bad_hyperparameters_of_the_added_rules_name_their_key() {
    let cases = [
        ("adamax(b1=1)", "b1", "adamax"),
        ("adamax(b2=1.5)", "b2", "adamax"),
        ("adamax(eps=-1)", "eps", "adamax"),
        ("nadam(momentum_decay=-0.1)", "momentum_decay", "nadam"),
        ("nadam(lr=nan)", "lr", "nadam"),
        ("nadamw(weight_decay=-1)", "weight_decay", "nadamw"),
        ("nadamw(b1=inf)", "b1", "nadamw"),
        ("radam(b2=1)", "b2", "radam"),
        ("radam(eps=nan)", "eps", "radam"),
        ("adadelta(rho=1)", "rho", "adadelta"),
        ("adadelta(eps=-1e-6)", "eps", "adadelta"),
        ("adadelta(lr=0)", "lr", "adadelta"),
        ("adabelief(b2=1)", "b2", "adabelief"),
        ("adabelief(eps_root=-1e-16)", "eps_root", "adabelief"),
        ("yogi(b1=-0.1)", "b1", "yogi"),
        (
            "yogi(initial_accumulator_value=nan)",
            "initial_accumulator_value",
            "yogi",
        ),
        ("sign_sgd(lr=-1)", "lr", "sign_sgd"),
        ("signum(beta=1)", "beta", "signum"),
        (
            "lamb(trust_weight_decay=-0.1)",
            "trust_weight_decay",
            "lamb",
        ),
        ("lamb(eps=nan)", "eps", "lamb"),
        ("lion(b2=1)", "b2", "lion"),
        ("lion(weight_decay=-1e-3)", "weight_decay", "lion"),
        ("ademamix(b3=1)", "b3", "ademamix"),
        ("ademamix(alpha=-2)", "alpha", "ademamix"),
        ("ademamix(alpha_warmup=-10)", "alpha_warmup", "ademamix"),
        ("ademamix(b3_warmup=inf)", "b3_warmup", "ademamix"),
        ("cautious_adamw(b1=1)", "b1", "cautious_adamw"),
        ("cautious_adamw(eps=-1)", "eps", "cautious_adamw"),
        ("shampoo(eps=0)", "eps", "shampoo"),
        ("shampoo(graft_eps=-1e-8)", "graft_eps", "shampoo"),
        (
            "shampoo(precondition_frequency=0)",
            "precondition_frequency",
            "shampoo",
        ),
        (
            "shampoo(start_preconditioning_step=-1)",
            "start_preconditioning_step",
            "shampoo",
        ),
        (
            "shampoo(max_preconditioner_dim=1.5)",
            "max_preconditioner_dim",
            "shampoo",
        ),
        ("soap(shampoo_beta=1)", "shampoo_beta", "soap"),
        ("soap(eps=0)", "eps", "soap"),
        (
            "soap(precondition_frequency=0)",
            "precondition_frequency",
            "soap",
        ),
        ("soap(weight_decay=-0.01)", "weight_decay", "soap"),
    ];
    for (spec, key, name) in cases {
        let err = Optimizer::from_spec(spec).unwrap_err();
        assert!(
            matches!(&err, SpecError::BadValue { key: k, .. } if k == key),
            "{spec}: {err:?}"
        );
        assert!(
            err.to_string().contains(&format!("for {key} of {name}")),
            "{spec}: {err}"
        );
    }
}

/// `dampening` is written only when it is set: every spec and checkpoint
/// of `sgd_momentum` from before the key reads as it did. Nesterov with
/// dampening is refused, as torch.optim.SGD refuses it.
#[test]
fn dampening_is_quiet_at_its_default_and_refused_with_nesterov() {
    let plain = Optimizer::from_spec("sgd_momentum(dampening=0)").unwrap();
    assert_eq!(
        plain.to_string(),
        "sgd_momentum(lr=0.01,momentum=0.9,nesterov=false)"
    );
    assert_eq!(plain, Optimizer::from_spec("sgd_momentum").unwrap());
    let damped = Optimizer::from_spec("sgd_momentum(dampening=0.25)").unwrap();
    assert_eq!(
        damped.to_string(),
        "sgd_momentum(lr=0.01,momentum=0.9,nesterov=false,dampening=0.25)"
    );
    assert_eq!(damped.to_string().parse::<Optimizer>().unwrap(), damped);
    assert_eq!(damped.hyperparameter("dampening").as_deref(), Some("0.25"));
    let err = Optimizer::from_spec("sgd_momentum(nesterov=true,dampening=0.1)").unwrap_err();
    assert!(
        matches!(&err, SpecError::BadValue { key, .. } if key == "dampening"),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("bad value '0.1' for dampening of sgd_momentum")
            && err
                .to_string()
                .contains("Nesterov momentum needs undamped momentum"),
        "{err}"
    );
    assert!(Optimizer::from_spec("sgd_momentum(nesterov=true,dampening=0)").is_ok());
    let err = Optimizer::from_spec("sgd_momentum(dampening=1)").unwrap_err();
    assert!(
        err.to_string().contains("for dampening of sgd_momentum"),
        "{err}"
    );
}
