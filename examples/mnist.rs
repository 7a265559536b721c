//! Train an MLP on MNIST (or any dataset in the same IDX layout).
//!
//! ```text
//! cargo run --example mnist
//! cargo run --release --example mnist -- --optimizer "sgd_momentum(lr=0.05,momentum=0.9)" --epochs 3
//! cargo run --example mnist -- --limit 5000 --epochs 1 --save runs/quick --log runs/quick.csv
//! cargo run --example mnist -- --resume runs/quick --epochs 2
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use gradlab::data;
use gradlab::train::{self, Event, Outputs, TrainConfig, TrainError, Trainer};
use indicatif::{ProgressBar, ProgressStyle};

/// Train a multi-layer perceptron on MNIST with gradlab.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    /// Optimizer spec, e.g. "adam(lr=1e-3)", "sgd(lr=0.1)",
    /// "adam_per_example(eta0=1e-5)". Default: the tuned Adam recipe.
    #[arg(long, default_value = train::DEFAULT_OPTIMIZER)]
    optimizer: String,
    /// Examples per step.
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    /// Passes over the training set (in total, when resuming).
    #[arg(long)]
    epochs: Option<usize>,
    /// Hidden layer widths, comma-separated.
    #[arg(long, default_value = "512,512", value_delimiter = ',')]
    hidden: Vec<usize>,
    /// Activation: relu, leaky_relu, tanh, sigmoid or gelu.
    #[arg(long, default_value = "relu")]
    activation: String,
    /// Dropout probability after each hidden activation.
    #[arg(long, default_value_t = 0.0)]
    dropout: f32,
    /// Seed for the weights, the shuffles and dropout.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Worker threads (default: one per core). Results do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// Directory with the four IDX files (raw or .gz).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Train on the first N training examples only.
    #[arg(long)]
    limit: Option<usize>,
    /// Save a checkpoint here after every epoch.
    #[arg(long)]
    save: Option<PathBuf>,
    /// Resume the run saved in this directory (its settings win over the flags,
    /// except --epochs).
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Write per-step and per-epoch metrics to this CSV file.
    #[arg(long)]
    log: Option<PathBuf>,
    /// Print only the final summary.
    #[arg(long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `datasets/mnist` below the working directory, or else the copy that ships
/// with gradlab (so the example works from any directory).
fn default_data_dir() -> PathBuf {
    let local = PathBuf::from("datasets/mnist");
    if local.is_dir() {
        local
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/mnist")
    }
}

fn run(args: &Args) -> Result<(), TrainError> {
    if let Some(n) = args.threads {
        if n == 0 {
            return Err(TrainError::Config("--threads must be at least 1".into()));
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| TrainError::Config(format!("--threads: {e}")))?;
    }
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    let start = Instant::now();
    let mnist = data::load(&data_dir)?;
    let load_seconds = start.elapsed().as_secs_f64();

    let mut trainer = match &args.resume {
        Some(dir) => train::checkpoint::resume(dir, mnist.train, mnist.test, args.epochs)?,
        None => {
            let config = TrainConfig {
                hidden: args.hidden.clone(),
                activation: args.activation.clone(),
                dropout: args.dropout,
                optimizer: args.optimizer.clone(),
                batch_size: args.batch_size,
                epochs: args.epochs.unwrap_or(TrainConfig::default().epochs),
                seed: args.seed,
                limit: args.limit,
                loss_scale: 1.0,
            };
            Trainer::new(config, mnist.train, mnist.test)?
        }
    };
    let c = &trainer.config;
    let sizes: Vec<String> = trainer.model.sizes.iter().map(|s| s.to_string()).collect();
    if !args.quiet {
        println!(
            "gradlab · MLP {} ({}{}) · {} params · {} · batch {} · {} epoch{} · {} threads",
            sizes.join("-"),
            c.activation,
            if c.dropout > 0.0 {
                format!(", dropout {}", c.dropout)
            } else {
                String::new()
            },
            trainer.model.params.num_scalars(),
            trainer.optimizer,
            c.batch_size,
            c.epochs,
            if c.epochs == 1 { "" } else { "s" },
            rayon::current_num_threads(),
        );
        println!(
            "data: {} · {} train / {} test examples (loaded in {load_seconds:.1} s){}",
            data_dir.display(),
            trainer.train_set().len(),
            trainer.test_set().len(),
            match &args.resume {
                Some(d) => format!(
                    " · resuming {} after epoch {}",
                    d.display(),
                    trainer.epochs_done
                ),
                None => String::new(),
            }
        );
    }

    let outputs = Outputs {
        save: args.save.clone().or_else(|| args.resume.clone()),
        log: args.log.clone(),
    };
    let epochs = trainer.config.epochs;
    let bar_style = ProgressStyle::with_template(
        "epoch {prefix} [{bar:32.cyan/blue}] {pos}/{len} · {msg} · {elapsed_precise}",
    )
    .expect("a valid template")
    .progress_chars("=> ");
    let mut bar: Option<ProgressBar> = None;
    let train_start = Instant::now();
    let history = trainer.fit(&outputs, &mut |event| {
        if args.quiet {
            return;
        }
        match event {
            Event::EpochStart { epoch, batches } => {
                let b = ProgressBar::new(batches as u64).with_style(bar_style.clone());
                b.set_prefix(format!("{epoch}/{epochs}"));
                bar = Some(b);
            }
            Event::Step(s) => {
                if let Some(b) = &bar {
                    b.set_position(s.batch as u64);
                    if s.batch % 20 == 0 || s.batch == s.batches {
                        b.set_message(format!("loss {:.4} · {:.0} ex/s", s.loss, s.examples_per_s));
                    }
                }
            }
            Event::Epoch(m) => {
                if let Some(b) = bar.take() {
                    b.finish_and_clear();
                }
                println!(
                    "epoch {}/{epochs}  train loss {:.4}  test loss {:.4}  test acc {:.2}%  {:.0} ex/s  {:.1} s{}",
                    m.epoch,
                    m.train_loss,
                    m.test_loss,
                    100.0 * m.test_accuracy,
                    m.examples_per_s,
                    m.train_seconds,
                    m.b_noise.map(|b| format!("  B_noise {b:.0}")).unwrap_or_default()
                );
            }
        }
    })?;
    let wall = train_start.elapsed().as_secs_f64();

    let (test_loss, test_acc) = match history.last() {
        Some(m) => (m.test_loss, m.test_accuracy),
        None => trainer.evaluate_test(),
    };
    let train_seconds: f64 = history.iter().map(|m| m.train_seconds).sum();
    let examples: f64 = history
        .iter()
        .map(|m| m.examples_per_s * m.train_seconds)
        .sum();
    println!("──────────────────────────────────────────────");
    println!("test accuracy   {:.2}%", 100.0 * test_acc);
    println!("test loss       {test_loss:.4}");
    println!("wall time       {wall:.1} s (training {train_seconds:.1} s, plus evaluation)");
    if train_seconds > 0.0 {
        println!("throughput      {:.0} examples/s", examples / train_seconds);
    }
    if let Some(dir) = &outputs.save {
        println!("checkpoint      {}", dir.display());
    }
    if let Some(log) = &outputs.log {
        println!("log             {}", log.display());
    }
    Ok(())
}
