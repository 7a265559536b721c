//! Private training: DP-SGD's step, its accounting across a resume, its
//! log and its errors.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{data, save_in, small, temp_dir, weights};
use gradlab_optim::accountant::{self, Phase};
use gradlab_train::{Checkpoint, Event, FitOptions, Privacy, TrainConfig, TrainError, Trainer};

fn private(config: TrainConfig, privacy: Privacy) -> TrainConfig {
    TrainConfig {
        privacy: Some(privacy),
        ..config
    }
}

fn dp(max_norm: f32, noise_multiplier: f64) -> Privacy {
    Privacy {
        max_norm,
        noise_multiplier,
        delta: 1e-5,
        per_tensor: false,
        poisson: true,
    }
}

#[test]
fn without_sampling_noise_or_clipping_the_private_step_is_the_plain_one_bitwise() {
    let (train, test) = data(100);
    for spec in ["sgd(lr=0.1)", "adam(lr=1e-3,schedule=cosine)"] {
        // 640 examples: 10 full batches of 64 an epoch.
        let plain_config = small(640, 2, spec);
        let mut plain = Trainer::new(plain_config.clone(), train.clone(), test.clone()).unwrap();
        plain.fit(&FitOptions::default(), &mut |_| {}).unwrap();
        let fixed = Privacy {
            poisson: false,
            ..dp(f32::INFINITY, 0.0)
        };
        let config = private(plain_config, fixed);
        let mut private_run = Trainer::new(config, train.clone(), test.clone()).unwrap();
        private_run
            .fit(&FitOptions::default(), &mut |_| {})
            .unwrap();
        assert!(weights(&private_run) == weights(&plain), "{spec}");
        // A finite bound that clips some examples moves the weights.
        let clipped = Privacy {
            poisson: false,
            ..dp(0.5, 0.0)
        };
        let config = private(small(640, 2, spec), clipped);
        let mut c = Trainer::new(config, train.clone(), test.clone()).unwrap();
        c.fit(&FitOptions::default(), &mut |_| {}).unwrap();
        assert!(weights(&c) != weights(&plain), "{spec}");
    }
}

#[test]
fn a_private_run_reports_the_accountant_s_epsilon_each_epoch() {
    let (train, test) = data(100);
    let config = private(small(640, 3, "sgd(lr=0.5)"), dp(1.0, 1.1));
    let mut t = Trainer::new(config, train, test).unwrap();
    assert_eq!(t.sample_rate(), Some(0.1), "10 steps an epoch");
    let dir = temp_dir("privacy-log");
    let log = dir.with_extension("csv");
    let options = FitOptions {
        log: Some(log.clone()),
        ..FitOptions::default()
    };
    let mut sizes = vec![];
    let metrics = t
        .fit(&options, &mut |e| {
            if let Event::Step(s) = e {
                sizes.push(s.batch_size);
            }
        })
        .unwrap();
    // Poisson sampling: batch sizes vary around q·N = 64.
    assert_eq!(sizes.len(), 30);
    assert!(sizes.iter().any(|&b| b != sizes[0]), "{sizes:?}");
    let mean = sizes.iter().sum::<usize>() as f64 / 30.0;
    assert!((mean - 64.0).abs() < 8.0, "mean batch {mean}");
    let orders = accountant::default_orders();
    for m in &metrics {
        let phase = Phase {
            noise_multiplier: 1.1,
            sample_rate: 0.1,
            steps: m.steps,
        };
        let expected = accountant::spent(&[phase], 1e-5, &orders).unwrap().epsilon;
        assert_eq!(m.epsilon, Some(expected), "epoch {}", m.epoch);
    }
    assert!(metrics[0].epsilon < metrics[2].epsilon);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.lines().next().unwrap().ends_with(",epsilon"));
    let last = text.lines().last().unwrap();
    let cell: f64 = last.rsplit(',').next().unwrap().parse().unwrap();
    assert_eq!(Some(cell), metrics[2].epsilon, "{last}");
    // A plain run has no ε.
    let (train, test) = data(100);
    let mut plain = Trainer::new(small(640, 1, "sgd(lr=0.5)"), train, test).unwrap();
    let m = plain.fit(&FitOptions::default(), &mut |_| {}).unwrap();
    assert_eq!(m[0].epsilon, None);
    assert!(plain.accountant().is_none());
}

#[test]
fn the_accounting_and_the_noise_survive_a_resume_exactly() {
    let (train, test) = data(100);
    let config = private(small(640, 2, "sgd_momentum(lr=0.1)"), dp(1.0, 0.8));
    let mut straight = Trainer::new(config.clone(), train.clone(), test.clone()).unwrap();
    let straight_metrics = straight.fit(&FitOptions::default(), &mut |_| {}).unwrap();

    // Stopped during epoch 2 (after step 13), saved, resumed.
    let dir = temp_dir("privacy-resume");
    let stop = Arc::new(AtomicBool::new(false));
    let options = FitOptions {
        stop: Some(stop.clone()),
        ..save_in(&dir)
    };
    let mut t = Trainer::new(config, train.clone(), test.clone()).unwrap();
    let err = t
        .fit(&options, &mut |e| {
            if let Event::Step(s) = e {
                if s.step == 13 {
                    stop.store(true, Ordering::SeqCst);
                }
            }
        })
        .unwrap_err();
    assert!(
        matches!(err, TrainError::Interrupted { step: 13, .. }),
        "{err}"
    );
    let saved = Checkpoint::latest(&dir).unwrap();
    let mut resumed = saved.resume(train, test, None).unwrap();
    assert_eq!(resumed.accountant(), t.accountant());
    let metrics = resumed.fit(&save_in(&dir), &mut |_| {}).unwrap();
    assert!(
        weights(&resumed) == weights(&straight),
        "the resumed run differs"
    );
    assert_eq!(resumed.accountant(), straight.accountant());
    assert_eq!(metrics[0].epsilon, straight_metrics[1].epsilon);
    let steps: u64 = resumed
        .accountant()
        .unwrap()
        .history()
        .iter()
        .map(|p| p.steps)
        .sum();
    assert_eq!(steps, 20);
}

#[test]
fn an_empty_poisson_batch_is_a_step_of_noise_alone() {
    let (train, test) = data(100);
    // 20 examples in 20 steps an epoch: q = 1/20, one example a batch on
    // average, so about a third of the batches are empty.
    let config = TrainConfig {
        batch_size: 1,
        ..private(small(20, 3, "sgd(lr=0.1)"), dp(1.0, 1.0))
    };
    let mut t = Trainer::new(config, train, test).unwrap();
    let before = weights(&t);
    let mut empty = 0;
    t.fit(&FitOptions::default(), &mut |e| {
        if let Event::Step(s) = e {
            if s.batch_size == 0 {
                empty += 1;
                assert_eq!(s.loss, 0.0);
            }
        }
    })
    .unwrap();
    assert!(empty >= 5, "{empty} empty batches of 60");
    let after = weights(&t);
    assert!(after != before);
    assert!(after.iter().all(|&w| f32::from_bits(w).is_finite()));
}

#[test]
fn bad_privacy_settings_are_errors() {
    let (train, test) = data(100);
    let cases: [(Privacy, &str, &str); 6] = [
        (dp(1.0, -1.0), "sgd", "noise multiplier"),
        (dp(1.0, f64::NAN), "sgd", "noise multiplier"),
        (dp(0.0, 1.0), "sgd", "clipping bound"),
        (dp(f32::INFINITY, 1.0), "sgd", "∞ only without noise"),
        (
            Privacy {
                delta: 1.0,
                ..dp(1.0, 1.0)
            },
            "sgd",
            "δ must be in (0, 1)",
        ),
        (
            dp(1.0, 1.0),
            "adam_per_example(eta0=1e-5)",
            "does not privatize",
        ),
    ];
    for (privacy, spec, message) in cases {
        let config = private(small(640, 1, spec), privacy);
        let err = Trainer::new(config, train.clone(), test.clone())
            .err()
            .unwrap();
        assert!(
            err.to_string().contains(message),
            "{privacy:?} {spec}: {err}"
        );
    }
    let config = TrainConfig {
        loss_scale: 2.0,
        ..private(small(640, 1, "sgd"), dp(1.0, 1.0))
    };
    let err = Trainer::new(config, train, test).err().unwrap();
    assert!(err.to_string().contains("loss scale"), "{err}");
}

#[test]
fn an_infinite_bound_is_written_as_null_and_read_back() {
    let config = private(small(640, 1, "sgd"), dp(f32::INFINITY, 0.0));
    let json = serde_json::to_string(&config).unwrap();
    assert!(json.contains(r#""max_norm":null"#), "{json}");
    let back: TrainConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, config);
    // A plain config's JSON has no privacy field, as before it existed.
    let plain = serde_json::to_string(&small(640, 1, "sgd")).unwrap();
    assert!(!plain.contains("privacy"), "{plain}");
}
