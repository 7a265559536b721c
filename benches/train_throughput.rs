//! Training examples per second on the workload of the reference peers
//! `peers/torch_mlp.py` and `peers/jax_mlp.py`: MLP 784-512-512-10 with
//! ReLU and softmax cross-entropy (`workload::train_config`: one epoch,
//! seed 0, no dropout), MNIST's training set in its file order cut into
//! contiguous batches, a whole training step (gather, forward, backward,
//! update) per batch.
//!
//! Each row is the median over `--reps` passes over the training set of
//! (examples after the first `--warmup` steps) / (their seconds), as the
//! peers measure it. Rows:
//!
//! * `sgd`, `adam` — `sgd(lr=0.1)` and `adam(lr=1e-3)` at every `--bs`;
//! * `adam+sq` — Adam whose backward also computes the per-example mean of
//!   squares (1/B) Σ_b g_b² (the noise-scale statistics), at B = 128;
//! * `adam_per_example` — the lecture's Adam with per-example squares, B = 128;
//! * `dp_sgd` — a DP-SGD step with `sgd(lr=0.1)` at every `--bs`: per-example
//!   norms and the clipped mean from one backward (C = 1, no per-example
//!   gradient materialized), Gaussian noise (σ = 1), the update;
//! * `dp_clip` — `dp_sgd` without the noise (σ = 0): what the norms and the
//!   clipped mean cost alone;
//! * `dp_sgd_materialized` — the same step the way a per-sample-gradient
//!   library takes it: every g_b materialized (`GradRequest::PerExample`),
//!   their norms, the clipped sum, the same noise and update, at every
//!   `--bs` (B× the weights' memory: 2.7 GB at B = 1024).
//!
//! It is not a criterion bench: a step changes the weights, and the peers'
//! figure is a rate over an epoch, so this measures the same thing the same
//! way. Run it next to the peers and compare ratios:
//!
//! ```text
//! cargo bench --bench train_throughput
//! cargo bench --bench train_throughput -- --bs 128 --opts adam --reps 5
//! cargo bench --bench train_throughput -- --bs 64,256,1024 --opts sgd,dp_sgd,dp_sgd_materialized
//! ```

// Each bench uses part of the pinned workload.
#[allow(dead_code)]
mod workload;

use std::path::Path;
use std::time::Instant;

use clap::Parser;
use gradlab::autodiff::{Clipping, GradRequest, Tape};
use gradlab::data::{self, Targets};
use gradlab::layers::{Mode, Module};
use gradlab::tensor::Tensor;
use gradlab::train::{privatize_tape, FromTape, Privacy, Trainer};
use workload::{model_name, train_config};

/// Training throughput of the peers' MLP workload.
#[derive(Parser, Debug)]
struct Args {
    /// Rows to run, comma-separated: sgd, adam, adam+sq, adam_per_example,
    /// dp_sgd, dp_clip, dp_sgd_materialized.
    #[arg(
        long,
        default_value = "sgd,adam,adam+sq,adam_per_example",
        value_delimiter = ','
    )]
    opts: Vec<String>,
    /// Batch sizes for sgd, adam and the DP-SGD rows (the other rows run at
    /// 128 only).
    #[arg(long, default_value = "32,128,512", value_delimiter = ',')]
    bs: Vec<usize>,
    /// Passes over the training set per row; the median is reported.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Steps at the start of each pass that are not timed.
    #[arg(long, default_value_t = 20)]
    warmup: usize,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// How a row steps.
#[derive(Clone, Copy, PartialEq)]
enum Route {
    /// The trainer's step.
    Plain,
    /// The trainer's step, the backward also computing the squares.
    Squares,
    /// The trainer's private step.
    Private,
    /// The trainer's private step without noise.
    Clip,
    /// A private step through materialized per-example gradients.
    Materialized,
}

/// The optimizer spec of a row, and its route.
fn row(name: &str) -> Option<(&'static str, Route)> {
    Some(match name {
        "sgd" => ("sgd(lr=0.1)", Route::Plain),
        "adam" => ("adam(lr=1e-3)", Route::Plain),
        "adam+sq" => ("adam(lr=1e-3)", Route::Squares),
        "adam_per_example" => ("adam_per_example(eta0=1e-5)", Route::Plain),
        "dp_sgd" => ("sgd(lr=0.1)", Route::Private),
        "dp_clip" => ("sgd(lr=0.1)", Route::Clip),
        "dp_sgd_materialized" => ("sgd(lr=0.1)", Route::Materialized),
        _ => return None,
    })
}

/// The DP-SGD rows' settings: C = 1, σ = 1, the bench's contiguous batches
/// (a step costs the same whoever is in the batch).
const DP: Privacy = Privacy {
    max_norm: 1.0,
    noise_multiplier: 1.0,
    delta: 1e-5,
    per_tensor: false,
    poisson: false,
};

/// Buffers of the materialized route, kept across steps.
#[derive(Default)]
struct Materialized {
    tape: Tape,
    x: Tensor,
    targets: Targets,
    norms: Vec<f32>,
}

/// One DP-SGD step the way Opacus' `GradSampleModule` takes it: forward,
/// backward with every g_b materialized, ‖g_b‖ from them, the clipped mean
/// (1/B) Σ_b c_b g_b written over the gradient, then the trainer's noise
/// and update as in its own private step.
fn materialized_step(t: &mut Trainer, m: &mut Materialized, indices: &[usize], step: u64) {
    let b = indices.len();
    t.train_set().gather(indices, &mut m.x, &mut m.targets);
    let Targets::Classes(labels) = &m.targets else {
        unreachable!("MNIST has classes")
    };
    let mut g = m.tape.record(&t.model.params);
    let x = g.input(&m.x);
    let y = t.model.forward(&mut g, x, Mode::Train { seed: step });
    let loss = g.softmax_cross_entropy(y, labels);
    g.backward(loss, GradRequest::PerExample)
        .expect("an MLP has per-example gradients");
    let ids: Vec<_> = t.model.params.ids().collect();
    m.norms.clear();
    m.norms.resize(b, 0.0);
    for &id in &ids {
        let pe = m.tape.per_example(id).expect("computed").data();
        for (n, row) in m.norms.iter_mut().zip(pe.chunks_exact(pe.len() / b)) {
            *n += row.iter().map(|v| v * v).sum::<f32>();
        }
    }
    for n in &mut m.norms {
        *n = Clipping::factor(DP.max_norm, n.sqrt()) / b as f32;
    }
    for &id in &ids {
        let pe = m.tape.per_example(id).expect("computed").data().to_vec();
        let grad = m.tape.grad_mut(id).expect("computed").data_mut();
        grad.fill(0.0);
        for (&c, row) in m.norms.iter().zip(pe.chunks_exact(grad.len())) {
            grad.iter_mut().zip(row).for_each(|(g, v)| *g += c * v);
        }
    }
    let mechanism = gradlab::optim::GaussianMechanism::new(DP.noise_multiplier, DP.max_norm, 0)
        .expect("valid settings");
    privatize_tape(&mechanism, &t.model.params, &mut m.tape, b, b as f64, step);
    t.optimizer.update_for(&mut t.model.params, &m.tape, b);
}

fn main() {
    let args = Args::parse();
    rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build_global()
        .expect("the global thread pool is built once");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/mnist");
    let mnist = data::load(&dir).expect("MNIST ships in datasets/mnist");
    let n = mnist.train.len();
    println!(
        "gradlab, {}, {} threads, {n} examples",
        model_name(),
        args.threads
    );
    for name in &args.opts {
        let Some((spec, route)) = row(name) else {
            eprintln!(
                "unknown row {name:?}; expected sgd, adam, adam+sq, adam_per_example, dp_sgd, \
                 dp_clip or dp_sgd_materialized"
            );
            std::process::exit(2);
        };
        let every_size = matches!(
            name.as_str(),
            "sgd" | "adam" | "dp_sgd" | "dp_clip" | "dp_sgd_materialized"
        );
        let sizes: &[usize] = if every_size { &args.bs } else { &[128] };
        for &bs in sizes {
            let steps = n / bs;
            assert!(
                steps > args.warmup,
                "B = {bs}: {steps} steps leave none after the warm-up"
            );
            let rates: Vec<f64> = (0..args.reps)
                .map(|_| {
                    let privacy = match route {
                        Route::Private => Some(DP),
                        Route::Clip => Some(Privacy {
                            noise_multiplier: 0.0,
                            ..DP
                        }),
                        _ => None,
                    };
                    let config = train_config(spec, bs, privacy);
                    let mut trainer = Trainer::new(config, mnist.train.clone(), mnist.test.clone())
                        .expect("a valid configuration");
                    if route == Route::Squares {
                        trainer = trainer.with_noise_scale();
                    }
                    let mut materialized = Materialized::default();
                    let batch: Vec<Vec<usize>> = (0..steps)
                        .map(|i| (i * bs..(i + 1) * bs).collect())
                        .collect();
                    let mut start = Instant::now();
                    for (i, indices) in batch.iter().enumerate() {
                        if i == args.warmup {
                            start = Instant::now();
                        }
                        if route == Route::Materialized {
                            materialized_step(&mut trainer, &mut materialized, indices, i as u64);
                        } else {
                            trainer.step(indices).expect("training does not diverge");
                        }
                    }
                    ((steps - args.warmup) * bs) as f64 / start.elapsed().as_secs_f64()
                })
                .collect();
            let mut sorted = rates.clone();
            sorted.sort_by(f64::total_cmp);
            let runs: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
            println!(
                "{name:16} B={bs:4}  {:9.0} examples/s  (runs: {})",
                sorted[sorted.len() / 2],
                runs.join(", ")
            );
        }
    }
}
