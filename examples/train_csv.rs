//! Trains an MLP on any CSV file with a header row and a target column:
//! class labels (a classifier, scored by accuracy) or real values (a
//! regression with mean squared error, scored by RMSE).
//!
//! ```text
//! cargo run --release --example train_csv -- --train datasets/digits/train.csv \
//!     --test datasets/digits/test.csv --target digit --standardize
//! cargo run --release --example train_csv -- --train data.csv --test-fraction 0.2 \
//!     --target price --values
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use gradlab::data::{Dataset, TargetKind};
use gradlab::train::{Event, FitOptions, TrainConfig, Trainer};

/// Train an MLP on a CSV file.
#[derive(Parser, Debug)]
#[command(name = "train_csv")]
struct Args {
    /// The training data: a CSV file with a header row.
    #[arg(long)]
    train: PathBuf,
    /// The test data, with the same columns; without it, a seeded share of
    /// the training file is held out (--test-fraction).
    #[arg(long)]
    test: Option<PathBuf>,
    /// The share of the training file held out for testing when no --test
    /// file is given.
    #[arg(long, default_value_t = 0.2)]
    test_fraction: f64,
    /// The column to predict; every other column is a feature.
    #[arg(long)]
    target: String,
    /// The target is a real value (a regression), not a class index.
    #[arg(long)]
    values: bool,
    /// Standardize each feature by the training set's mean and deviation.
    #[arg(long)]
    standardize: bool,
    /// Hidden layer widths.
    #[arg(long, value_delimiter = ',', default_value = "64,64")]
    hidden: Vec<usize>,
    /// Activation of the hidden layers: relu, leaky_relu, tanh, sigmoid, gelu.
    #[arg(long, default_value = "relu")]
    activation: String,
    /// The optimizer spec.
    #[arg(long, default_value = "adam(lr=1e-3,schedule=cosine)")]
    optimizer: String,
    /// Examples per step.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Passes over the training set.
    #[arg(long, default_value_t = 50)]
    epochs: usize,
    /// Seed of the weights, the shuffles and the held-out split.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn main() -> ExitCode {
    gradlab::cli::end_quietly_on_closed_pipe();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let kind = if args.values {
        TargetKind::Values
    } else {
        TargetKind::Classes
    };
    let data = Dataset::from_csv(&args.train, &args.target, kind)?;
    let (train, test) = match &args.test {
        Some(path) => (data, Dataset::from_csv(path, &args.target, kind)?),
        None => data.split(args.test_fraction, args.seed)?,
    };
    let config = TrainConfig {
        hidden: args.hidden,
        activation: args.activation,
        optimizer: args.optimizer,
        batch_size: args.batch_size,
        epochs: args.epochs,
        seed: args.seed,
        standardize: args.standardize,
        ..TrainConfig::default()
    };
    let (n_train, n_test) = (train.len(), test.len());
    let mut trainer = Trainer::new(config, train, test)?;
    let task = trainer.task();
    println!(
        "{} · {} features → {task} · {n_train} train / {n_test} test examples · {} · {}",
        trainer.model.name,
        trainer.train_set().num_features(),
        trainer.optimizer,
        if trainer.config.standardize {
            "standardized"
        } else {
            "raw features"
        },
    );
    if let Some(warning) = trainer.warmup_warning() {
        eprintln!("warning: {warning}");
    }
    let epochs = trainer.config.epochs;
    let history = trainer.fit(&FitOptions::default(), &mut |event| {
        if let Event::Epoch(m) = event {
            if m.epoch % 10 == 0 || m.epoch == epochs {
                let metric = match (m.test_accuracy, m.test_rmse) {
                    (Some(acc), _) => format!("test acc {:.2}%", 100.0 * acc),
                    (_, Some(rmse)) => format!("test rmse {rmse:.4}"),
                    _ => String::new(),
                };
                println!(
                    "epoch {:>3}/{epochs}  train loss {:.4}  test loss {:.4}  {metric}",
                    m.epoch, m.train_loss, m.test_loss
                );
            }
        }
    })?;
    let last = history.last().expect("at least one epoch");
    match (last.test_accuracy, last.test_rmse) {
        (Some(acc), _) => println!("test accuracy {:.2}%", 100.0 * acc),
        (_, Some(rmse)) => println!("test rmse {rmse:.4}"),
        _ => {}
    }
    Ok(())
}
