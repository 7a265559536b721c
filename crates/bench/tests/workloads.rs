//! Workloads of one's own: registered after checks that name what is
//! wrong, listed after the built-in ones, and their runs' errors reported
//! as errors. (Its own test binary: registration changes the default
//! `--workloads` of every later sweep in the process.)

use std::sync::Arc;

use gradlab_autodiff::Activation;
use gradlab_bench::run::{execute, RunSpec};
use gradlab_bench::workloads::{
    mlp, register, workload, workloads, Budget, Data, Goal, PrivateBudget, Workload,
};
use gradlab_bench::{BenchError, Options};
use gradlab_data::{Dataset, Targets};
use gradlab_tensor::Tensor;

/// Two classes of 4 features, separable by their first feature.
fn blobs(n: usize) -> Dataset {
    let x: Vec<f32> = (0..n * 4)
        .map(|i| {
            ((i * 7919) % 101) as f32 / 101.0 - 0.5 + if (i / 4) % 2 == 0 { 1.0 } else { -1.0 }
        })
        .collect();
    let y: Vec<usize> = (0..n).map(|i| i % 2).collect();
    Dataset::from_tensors(Tensor::from_vec(x, &[n, 4]), Targets::Classes(y)).unwrap()
}

fn own(name: &str) -> Workload {
    Workload {
        name: name.into(),
        about: "two blobs".into(),
        data: Some(Arc::new(|| Ok((blobs(64), blobs(32))))),
        model: mlp(&[8], Activation::Tanh),
        standardize: false,
        batch_size: 16,
        private: None,
        goal: Goal::Accuracy,
        targets: vec![0.9],
        quick_targets: vec![0.8],
        full: Budget {
            examples: 320,
            checkpoints: 2,
            test: None,
        },
        quick: Budget {
            examples: 160,
            checkpoints: 2,
            test: None,
        },
        variant: None,
    }
}

/// A run of SGD on workload `name`, batches of 16, two evaluations.
fn sgd_run(name: &str, budget: usize) -> RunSpec {
    RunSpec {
        experiment: "tune".into(),
        series: "sgd".into(),
        param: None,
        optimizer: "sgd(lr=0.1)".into(),
        batch_size: 16,
        seed: 0,
        loss_scale: 1.0,
        budget,
        checkpoints: 2,
        hidden: Vec::new(),
        privacy: None,
        workload: Some(name.into()),
        trial: None,
    }
}

#[test]
fn a_bad_workload_is_refused_with_what_is_wrong() {
    let cases: Vec<(Workload, &str)> = vec![
        (own("Blobs"), "lower case letters, digits and '-'"),
        (own("digits"), "the name is taken"),
        (
            Workload {
                batch_size: 0,
                ..own("zero-batch")
            },
            "the batch size must be at least 1",
        ),
        (
            Workload {
                targets: vec![],
                ..own("no-targets")
            },
            "the targets must be one or more values of the test accuracy, got []",
        ),
        (
            Workload {
                quick_targets: vec![1.5],
                ..own("past-one")
            },
            "the quick targets must be one or more values of the test accuracy, got [1.5]",
        ),
        (
            Workload {
                goal: Goal::Rmse,
                targets: vec![f64::INFINITY],
                ..own("infinite-rmse")
            },
            "the targets must be one or more values of the test RMSE",
        ),
        (
            Workload {
                goal: Goal::Loss,
                quick_targets: vec![-1.0],
                ..own("negative-loss")
            },
            "the quick targets must be one or more values of the test loss, got [-1.0]",
        ),
        (
            Workload {
                private: Some(PrivateBudget {
                    epsilon: 0.0,
                    delta: 1e-5,
                    max_norm: 1.0,
                }),
                ..own("no-epsilon")
            },
            "the privacy budget needs ε > 0, 0 < δ < 1 and a clipping bound C > 0, got ε = 0, \
             δ = 0.00001, C = 1",
        ),
        (
            Workload {
                private: Some(PrivateBudget {
                    epsilon: 3.0,
                    delta: 1.0,
                    max_norm: f32::INFINITY,
                }),
                ..own("no-delta")
            },
            "got ε = 3, δ = 1, C = inf",
        ),
        (
            Workload {
                quick: Budget {
                    examples: 8,
                    checkpoints: 2,
                    test: None,
                },
                ..own("short")
            },
            "the quick budget must see at least one batch",
        ),
        (
            Workload {
                full: Budget {
                    examples: 320,
                    checkpoints: 0,
                    test: None,
                },
                ..own("unevaluated")
            },
            "the full budget must see at least one batch and evaluate at least once",
        ),
    ];
    for (w, message) in cases {
        let name = w.name.clone();
        let err = register(w).unwrap_err().to_string();
        assert!(err.contains(message), "{name}: {err}");
        assert!(err.starts_with(&format!("workload '{name}': ")), "{err}");
        // Nothing refused was added, and the built-in one is kept.
        match workload(&name) {
            Some(w) => assert!(name == "digits" && w.about.starts_with("the 8×8 digits")),
            None => assert_ne!(name, "digits"),
        }
    }
}

#[test]
fn a_registered_workload_runs_and_its_model_errors_are_errors() {
    register(own("blobs")).unwrap();
    assert_eq!(
        register(own("blobs")).unwrap_err().to_string(),
        "workload 'blobs': the name is taken"
    );
    assert!(workloads().iter().any(|w| w.name == "blobs"));
    let settings = Options {
        experiment: vec!["tune".into()],
        workloads: Some(vec!["blobs".into()]),
        ..Options::default()
    }
    .resolve()
    .unwrap();
    assert_eq!(settings.workloads, [workload("blobs").unwrap()]);

    let spec = |name: &str| sgd_run(name, 160);
    let w = workload("blobs").unwrap();
    let mut mnist = || -> Result<Data, BenchError> { panic!("blobs has its own data") };
    let data = w.data(w.quick, &mut mnist).unwrap();
    let record = execute(0, &spec("blobs"), &data, &mut |_| {}).unwrap();
    assert_eq!(record.checkpoints.len(), 2);
    assert!(record.last().unwrap().accuracy() > 0.9);

    // A model whose output is not one logit per class: the trainer's error,
    // naming the shapes, not a panic.
    register(Workload {
        model: Arc::new(|inputs, _, seed| {
            let m = gradlab_layers::Mlp::new(&[inputs, 3], Activation::Relu, seed)?;
            Ok(gradlab_layers::Model::from(m))
        }),
        ..own("blobs-three")
    })
    .unwrap();
    let err = execute(0, &spec("blobs-three"), &data, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("[1, 3]") && err.contains("[1, 2]"), "{err}");
    // Data that cannot be made: its error, from the first run that needs it.
    register(Workload {
        data: Some(Arc::new(|| {
            Err(BenchError::Options("the blobs are out of stock".into()))
        })),
        ..own("no-blobs")
    })
    .unwrap();
    let w = workload("no-blobs").unwrap();
    let err = w.data(w.quick, &mut mnist).err().unwrap().to_string();
    assert_eq!(err, "the blobs are out of stock");
}

/// A private workload's runs are DP-SGD with the noise that spends its ε
/// over each run's own steps: ε at the last checkpoint is the budget (to
/// the calibration's 0.01), a run twice as long spends the same ε with
/// more noise, and the same run without the budget spends none.
#[test]
fn a_private_workload_spends_its_budget_over_every_run() {
    let budget = PrivateBudget {
        epsilon: 2.0,
        delta: 1e-5,
        max_norm: 1.0,
    };
    register(Workload {
        private: Some(budget),
        ..own("private-blobs")
    })
    .unwrap();
    let w = workload("private-blobs").unwrap();
    let mut mnist = || -> Result<Data, BenchError> { panic!("blobs has its own data") };
    let data = w.data(w.quick, &mut mnist).unwrap();
    let run = |budget: usize| sgd_run("private-blobs", budget);
    for examples in [160, 320] {
        let record = execute(0, &run(examples), &data, &mut |_| {}).unwrap();
        let spent = record.last().unwrap().epsilon.unwrap();
        assert!((1.99..=2.0).contains(&spent), "{examples}: ε = {spent}");
        let first = record.checkpoints[0].metrics.as_ref().unwrap();
        assert!(first.epsilon.unwrap() < spent, "ε grows over the run");
    }
    let sigma = |steps| budget.privacy(64, 16, steps).unwrap().noise_multiplier;
    assert!(sigma(20) > sigma(10), "{} against {}", sigma(20), sigma(10));
    register(own("blobs-plain")).unwrap();
    let plain = execute(
        0,
        &RunSpec {
            workload: Some("blobs-plain".into()),
            ..run(160)
        },
        &data,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(plain.last().unwrap().epsilon, None);
}
