//! Training examples per second of the CNNs on MNIST, the workload of
//! the peers `peers/cnn_peers.py` (PyTorch eager, JAX jit, Opacus):
//!
//! * `adam` — `cnn 1x28x28-10` (conv 5×5 ×32, max pool, conv 5×5 ×64, max
//!   pool, fc 128, fc 10, ReLU), `adam(lr=1e-3)`, at every `--bs`;
//! * `tanh_sgd` — `private-cnn 1x28x28-10` (Papernot et al.'s tanh CNN with
//!   group norm) trained without privacy, `sgd_momentum(lr=0.5,momentum=0.9)`,
//!   at every `--bs`;
//! * `tanh_dp_sgd` — the same network and rule with DP-SGD: per-example
//!   norms (ghost or materialized per layer, whichever is cheaper), the
//!   clipped mean (C = 0.1), Gaussian noise (σ = 1), at every `--bs`;
//! * `dormann_sgd`, `dormann_dp_sgd` — the same two for
//!   `dormann-cnn 1x28x28-10` (Dörmann et al.'s network of the private
//!   `mnist` run: 5 × 5 and 4 × 4 convolutions, max pooling, tanh, no
//!   normalization layer);
//! * `scatter_sgd`, `scatter_dp_sgd` — the same two for
//!   `scatter-cnn 81x7x7-10` (Tramèr & Boneh's CNN of the private `mnist`
//!   run, on the images' scattering coefficients, J = 2, L = 8, computed
//!   once before the timed steps).
//!
//! A row is the median over `--reps` runs of `--steps` contiguous batches in
//! the training set's file order, each a whole training step (gather,
//! forward, backward, update), of (examples after the first `--warmup`
//! steps) / (their seconds), as the peers measure it.
//!
//! ```text
//! cargo bench --bench cnn_throughput
//! cargo bench --bench cnn_throughput -- --rows tanh_sgd,tanh_dp_sgd --bs 256
//! ```

use std::path::Path;
use std::time::Instant;

use clap::Parser;
use gradlab::data::{self, Scattering};
use gradlab::layers::{Cnn, CnnKind, Model};
use gradlab::train::{Privacy, TrainConfig, Trainer};

/// Training throughput of the CNN workloads.
#[derive(Parser, Debug)]
struct Args {
    /// Rows to run, comma-separated: adam, tanh_sgd, tanh_dp_sgd,
    /// dormann_sgd, dormann_dp_sgd, scatter_sgd, scatter_dp_sgd.
    #[arg(
        long,
        default_value = "adam,tanh_sgd,tanh_dp_sgd",
        value_delimiter = ','
    )]
    rows: Vec<String>,
    /// Batch sizes.
    #[arg(long, default_value = "64,256", value_delimiter = ',')]
    bs: Vec<usize>,
    /// Runs per row; the median is reported.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Steps per run.
    #[arg(long, default_value_t = 60)]
    steps: usize,
    /// Steps at the start of each run that are not timed.
    #[arg(long, default_value_t = 5)]
    warmup: usize,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// The DP row's settings: C = 0.1, σ = 1, the bench's contiguous batches
/// (a step costs the same whoever is in the batch).
const DP: Privacy = Privacy {
    max_norm: 0.1,
    noise_multiplier: 1.0,
    delta: 1e-5,
    per_tensor: false,
    poisson: false,
};

/// A row's network, rule and privacy.
fn row(name: &str) -> Option<(CnnKind, &'static str, Option<Privacy>)> {
    let momentum = "sgd_momentum(lr=0.5,momentum=0.9)";
    Some(match name {
        "adam" => (CnnKind::Standard, "adam(lr=1e-3)", None),
        "tanh_sgd" => (CnnKind::Private, momentum, None),
        "tanh_dp_sgd" => (CnnKind::Private, momentum, Some(DP)),
        "dormann_sgd" => (CnnKind::Dormann, momentum, None),
        "dormann_dp_sgd" => (CnnKind::Dormann, momentum, Some(DP)),
        "scatter_sgd" => (CnnKind::Scatter, momentum, None),
        "scatter_dp_sgd" => (CnnKind::Scatter, momentum, Some(DP)),
        _ => return None,
    })
}

fn main() {
    let args = Args::parse();
    rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build_global()
        .expect("the global thread pool is built once");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/mnist");
    let mnist = data::load(&dir).expect("MNIST ships in datasets/mnist");
    println!("gradlab CNNs, {} threads", args.threads);
    for name in &args.rows {
        let Some((kind, spec, privacy)) = row(name) else {
            eprintln!(
                "unknown row {name:?}; expected adam, tanh_sgd, tanh_dp_sgd, dormann_sgd, \
                 dormann_dp_sgd, scatter_sgd or scatter_dp_sgd"
            );
            std::process::exit(2);
        };
        // The scattering network's inputs: the coefficients of the examples
        // the steps read (and of a few test images, which go unused).
        let (train, test, input) = if kind == CnnKind::Scatter {
            let s = Scattering::new([1, 28, 28], 2, 8).expect("MNIST's images scatter");
            let n = args.steps * args.bs.iter().max().copied().unwrap_or(0);
            let train = s.dataset(&mnist.train.clone().limit(n));
            let test = s.dataset(&mnist.test.clone().limit(100));
            let (train, test) = (train.expect("scattered"), test.expect("scattered"));
            (train, test, s.output_shape())
        } else {
            (mnist.train.clone(), mnist.test.clone(), [1, 28, 28])
        };
        for &bs in &args.bs {
            assert!(
                args.steps > args.warmup && args.steps * bs <= train.len(),
                "B = {bs}: {} steps must exceed the warm-up and fit in the training set",
                args.steps
            );
            let rates: Vec<f64> = (0..args.reps)
                .map(|_| {
                    // Every setting spelled out; the MLP's three are unused
                    // by a run of another model.
                    let config = TrainConfig {
                        hidden: Vec::new(),
                        activation: "relu".into(),
                        dropout: 0.0,
                        optimizer: spec.into(),
                        batch_size: bs,
                        epochs: 1,
                        seed: 0,
                        limit: None,
                        loss_scale: 1.0,
                        standardize: false,
                        drop_last: false,
                        privacy,
                    };
                    let cnn = Cnn::new(kind, input, 10, 0).expect("a valid CNN");
                    let mut trainer =
                        Trainer::with_model(config, Model::from(cnn), train.clone(), test.clone())
                            .expect("a valid configuration");
                    let mut start = Instant::now();
                    for i in 0..args.steps {
                        if i == args.warmup {
                            start = Instant::now();
                        }
                        let indices: Vec<usize> = (i * bs..(i + 1) * bs).collect();
                        trainer.step(&indices).expect("training does not diverge");
                    }
                    ((args.steps - args.warmup) * bs) as f64 / start.elapsed().as_secs_f64()
                })
                .collect();
            let mut sorted = rates.clone();
            sorted.sort_by(f64::total_cmp);
            let runs: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
            println!(
                "{name:14} B={bs:4}  {:9.0} examples/s  (runs: {})",
                sorted[sorted.len() / 2],
                runs.join(", ")
            );
        }
    }
}
