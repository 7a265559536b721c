//! The Lion rule of `examples/custom_optimizer.rs`, defined outside the
//! optim crate: its kernel against a transcription of the paper's
//! Algorithm 2, and a checkpoint made with it resumed exactly.

#[allow(dead_code)] // the example's `main` is not called here
#[path = "../examples/custom_optimizer.rs"]
mod example;

use std::path::{Path, PathBuf};

use clap::Parser;
use example::Lion;
use gradlab::bench::cli::{Cli, Outcome};
use gradlab::optim::{register, Optimizer, Param};
use gradlab::tensor::{rng, Tensor};
use gradlab::train::{Checkpoint, FitOptions, TrainConfig, Trainer};

/// Chen et al. 2023, Algorithm 2 ("Lion with decoupled weight decay"),
/// line by line in f64, for one parameter vector and a gradient stream:
///   c_t = β₁·m_{t−1} + (1 − β₁)·g_t
///   θ_t = θ_{t−1} − η_t·(sign(c_t) + λ·θ_{t−1})
///   m_t = β₂·m_{t−1} + (1 − β₂)·g_t
fn paper(theta: &[f64], grads: &[Vec<f64>], eta: f64, b1: f64, b2: f64, lambda: f64) -> Vec<f64> {
    let sign = |x: f64| {
        if x > 0.0 {
            1.0
        } else if x < 0.0 {
            -1.0
        } else {
            0.0
        }
    };
    let mut theta = theta.to_vec();
    let mut m = vec![0.0; theta.len()];
    for g in grads {
        for i in 0..theta.len() {
            let c = b1 * m[i] + (1.0 - b1) * g[i];
            theta[i] -= eta * (sign(c) + lambda * theta[i]);
            m[i] = b2 * m[i] + (1.0 - b2) * g[i];
        }
    }
    theta
}

#[test]
fn lion_follows_the_papers_algorithm_2_over_50_steps() {
    register::<Lion>().unwrap();
    let n = 40;
    let mut r = rng(5);
    let theta0 = Tensor::normal(&[n], 0.0, 1.0, &mut r);
    // Some exact zeros: sign(0) = 0 moves nothing.
    let grads: Vec<Tensor> = (0..50)
        .map(|t| {
            let g = Tensor::normal(&[n], 0.0, 1.0, &mut r);
            g.map(|x| if t % 7 == 0 && x.abs() < 0.3 { 0.0 } else { x })
        })
        .collect();
    let to64 = |t: &Tensor| t.data().iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
    for (spec, (eta, b1, b2, lambda)) in [
        ("my_lion", (1e-4, 0.9, 0.99, 0.0)),
        ("my_lion(lr=0.01,b1=0.8,b2=0.95)", (0.01, 0.8, 0.95, 0.0)),
        (
            "my_lion(lr=0.01,decoupled_weight_decay=0.5)",
            (0.01, 0.9, 0.99, 0.5),
        ),
    ] {
        let mut opt = Optimizer::from_spec(spec).unwrap();
        let mut theta = theta0.clone();
        for g in &grads {
            opt.step(&mut [Param::new(0, &mut theta, g)], 16);
        }
        let g64: Vec<Vec<f64>> = grads.iter().map(to64).collect();
        let want = paper(&to64(&theta0), &g64, eta, b1, b2, lambda);
        // Each f32 step rounds θ by at most half an ulp: 50 of them.
        let ulps = 50.0 * f64::from(f32::EPSILON) / 2.0;
        for (i, (&got, want)) in theta.data().iter().zip(want).enumerate() {
            assert!(
                (f64::from(got) - want).abs() <= ulps * want.abs().max(1.0),
                "{spec}: θ[{i}] = {got}, the paper's {want}"
            );
        }
    }
}

#[test]
fn lion_prints_and_parses_like_a_built_in_rule() {
    register::<Lion>().unwrap();
    let opt = Optimizer::from_spec("my_lion").unwrap();
    assert_eq!(opt.to_string(), "my_lion(lr=0.0001,b1=0.9,b2=0.99)");
    assert_eq!(opt.state_names(), ["m"]);
    assert_eq!(
        Optimizer::from_spec("my_lion(b2=1.5)")
            .unwrap_err()
            .to_string(),
        "bad value '1.5' for b2 of my_lion: expected a number in [0, 1)"
    );
}

fn mnist() -> (gradlab::data::Dataset, gradlab::data::Dataset) {
    let m =
        gradlab::data::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/mnist")).unwrap();
    (m.train, m.test.limit(100))
}

fn scratch(tag: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("gradlab-custom-{tag}"));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn weights(t: &Trainer) -> Vec<u32> {
    t.model
        .params
        .iter()
        .flat_map(|(_, _, v)| v.data().iter().map(|x| x.to_bits()))
        .collect()
}

#[test]
fn a_checkpoint_made_with_a_registered_rule_resumes_exactly() {
    register::<Lion>().unwrap();
    let config = |epochs| TrainConfig {
        hidden: vec![32],
        optimizer: "my_lion(lr=1e-3,decoupled_weight_decay=0.1)".into(),
        batch_size: 64,
        epochs,
        seed: 4,
        limit: Some(640),
        ..TrainConfig::default()
    };
    let (train, test) = mnist();
    let dir = scratch("lion-resume");
    let mut first = Trainer::new(config(2), train.clone(), test.clone()).unwrap();
    let save = FitOptions {
        save: Some(dir.clone()),
        ..FitOptions::default()
    };
    first.fit(&save, &mut |_| {}).unwrap();
    let mut resumed = Checkpoint::latest(&dir)
        .unwrap()
        .resume(train.clone(), test.clone(), Some(4))
        .unwrap();
    assert_eq!(resumed.optimizer, first.optimizer);
    resumed.fit(&save, &mut |_| {}).unwrap();

    let mut straight = Trainer::new(config(4), train, test).unwrap();
    straight.fit(&FitOptions::default(), &mut |_| {}).unwrap();
    assert_eq!(resumed.steps_done(), 40);
    assert!(weights(&resumed) == weights(&straight));
    assert_eq!(
        resumed.optimizer.moment(0, "m"),
        straight.optimizer.moment(0, "m")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_benchmark_tunes_the_registered_rule_through_the_example() {
    register::<Lion>().unwrap();
    assert_eq!(
        gradlab::optim::search_space("my_lion").unwrap(),
        <Lion as gradlab::optim::Hyperparameters>::SEARCH
    );
    let out = std::env::temp_dir().join(format!("gradlab-lion-bench-{}", std::process::id()));
    let flags = [
        "--experiment",
        "tune",
        "--quick",
        "--only",
        "my_lion",
        "--workloads",
        "digits",
        "--list-jobs",
        "--out",
        out.to_str().unwrap(),
    ];
    let cli = Cli::try_parse_from(std::iter::once("custom_optimizer").chain(flags)).unwrap();
    let Outcome::Listed { commands, merge } = cli.run_as(example::BENCH, &mut |_| {}).unwrap()
    else {
        panic!("--list-jobs lists")
    };
    // Three studies of two trials (the quick protocol) on one workload.
    assert_eq!(commands.len(), 6);
    for c in &commands {
        assert!(c.contains("--example custom_optimizer -- bench "), "{c}");
        assert!(!c.contains("optim_bench"), "{c}");
    }
    assert!(
        merge.ends_with(&format!(
            "--example custom_optimizer -- bench merge {}",
            out.display()
        )),
        "{merge}"
    );
}
