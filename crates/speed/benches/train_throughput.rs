//! Training examples per second on the workload of the reference peers
//! `../shared/bench/torch_mlp.py` and `../shared/bench/jax_mlp.py`: MLP
//! 784-512-512-10 with ReLU and softmax cross-entropy, MNIST's training set
//! in its file order cut into contiguous batches, a whole training step
//! (gather, forward, backward, update) per batch.
//!
//! Each row is the median over `--reps` passes over the training set of
//! (examples after the first `--warmup` steps) / (their seconds), as the
//! peers measure it. Rows:
//!
//! * `sgd`, `adam` — `sgd(lr=0.1)` and `adam(lr=1e-3)` at every `--bs`;
//! * `adam+sq` — Adam whose backward also computes the per-example mean of
//!   squares (1/B) Σ_b g_b² (the noise-scale statistics), at B = 128;
//! * `adam_per_example` — the lecture's Adam with per-example squares, B = 128.
//!
//! It is not a criterion bench: a step changes the weights, and the peers'
//! figure is a rate over an epoch, so this measures the same thing the same
//! way. Run it next to the peers and compare ratios:
//!
//! ```text
//! cargo bench -p gradlab-speed --bench train_throughput
//! cargo bench -p gradlab-speed --bench train_throughput -- --bs 128 --opts adam --reps 5
//! ```

use std::path::Path;
use std::time::Instant;

use clap::Parser;
use gradlab::data;
use gradlab::train::{TrainConfig, Trainer};

/// Training throughput of the peers' MLP workload.
#[derive(Parser, Debug)]
struct Args {
    /// Rows to run, comma-separated: sgd, adam, adam+sq, adam_per_example.
    #[arg(
        long,
        default_value = "sgd,adam,adam+sq,adam_per_example",
        value_delimiter = ','
    )]
    opts: Vec<String>,
    /// Batch sizes for sgd and adam (the other rows run at 128 only).
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

/// The optimizer spec of a row, and whether it also asks for the squares.
fn row(name: &str) -> Option<(&'static str, bool)> {
    Some(match name {
        "sgd" => ("sgd(lr=0.1)", false),
        "adam" => ("adam(lr=1e-3)", false),
        "adam+sq" => ("adam(lr=1e-3)", true),
        "adam_per_example" => ("adam_per_example(eta0=1e-5)", false),
        _ => return None,
    })
}

fn main() {
    let args = Args::parse();
    rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build_global()
        .expect("the global thread pool is built once");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/mnist");
    let mnist = data::load(&dir).expect("MNIST ships in datasets/mnist");
    let n = mnist.train.len();
    println!("gradlab, {} threads, {n} examples", args.threads);
    for name in &args.opts {
        let Some((spec, squares)) = row(name) else {
            eprintln!("unknown row {name:?}; expected sgd, adam, adam+sq or adam_per_example");
            std::process::exit(2);
        };
        let sizes: &[usize] = if matches!(name.as_str(), "sgd" | "adam") {
            &args.bs
        } else {
            &[128]
        };
        for &bs in sizes {
            let steps = n / bs;
            assert!(
                steps > args.warmup,
                "B = {bs}: {steps} steps leave none after the warm-up"
            );
            let rates: Vec<f64> = (0..args.reps)
                .map(|_| {
                    let config = TrainConfig {
                        optimizer: spec.into(),
                        batch_size: bs,
                        epochs: 1,
                        ..TrainConfig::default()
                    };
                    let mut trainer = Trainer::new(config, mnist.train.clone(), mnist.test.clone())
                        .expect("a valid configuration");
                    if squares {
                        trainer = trainer.with_noise_scale();
                    }
                    let batch: Vec<Vec<usize>> = (0..steps)
                        .map(|i| (i * bs..(i + 1) * bs).collect())
                        .collect();
                    let mut start = Instant::now();
                    for (i, indices) in batch.iter().enumerate() {
                        if i == args.warmup {
                            start = Instant::now();
                        }
                        trainer.step(indices).expect("training does not diverge");
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
