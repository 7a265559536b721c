//! An optimizer of your own: Lion, written outside gradlab's optim crate
//! with its public rule API, registered as `my_lion`, and trained on MNIST
//! by the same `Trainer` as the built-in rules. (gradlab has a `lion` of
//! its own, following optax; this is the same rule from the paper, written
//! as you would write yours.)
//!
//! ```text
//! cargo run --release --example custom_optimizer
//! cargo run --release --example custom_optimizer -- 'my_lion(lr=1e-4,decoupled_weight_decay=1)'
//! cargo run --release --example custom_optimizer -- bench --experiment tune --quick \
//!     --only my_lion,lion,adam
//! ```
//!
//! The rule is the three items below (about 40 lines) and its search space;
//! once registered, `my_lion(...)` parses, prints, saves its state in
//! checkpoints and runs in the trainer and the optimizer benchmark like
//! `adam(...)`: `bench` followed by `optim_bench`'s flags runs the benchmark
//! with the rule registered, so `tune` gives it the same trials as the
//! built-in rules on every workload.

use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use gradlab::optim::search::{decay, log};
use gradlab::optim::{hyperparameters, register, sign, Gradient, Rule};
use gradlab::train::{Event, FitOptions, TrainConfig, Trainer};

hyperparameters! {
    /// Lion (Chen et al. 2023, "Symbolic Discovery of Optimization
    /// Algorithms", Algorithm 2): the sign of an interpolation between the
    /// momentum and the gradient, so every coordinate moves by exactly η.
    ///
    /// ```text
    /// c = β₁·m + (1 − β₁)·ĝ
    /// Φ ← Φ − η·sign(c)            (decoupled decay: decoupled_weight_decay=λ)
    /// m ← β₂·m + (1 − β₂)·ĝ
    /// ```
    pub struct Lion {
        /// η, the size of every coordinate's step.
        lr: f64 = 1e-4, Positive;
        /// β₁, the momentum's weight in the step's direction.
        b1: f64 = 0.9, Fraction;
        /// β₂, the decay of the momentum.
        b2: f64 = 0.99, Fraction;
    }
    // What `tune` searches: η on a log scale (Lion wants 3–10× less than
    // Adam), β₁ and β₂ as 1 − β on a log scale.
    search: [
        log("lr", 1e-5, 3e-3),
        decay("b1", 0.5, 0.99),
        decay("b2", 0.9, 0.999),
    ];
}

impl Rule for Lion {
    const NAME: &'static str = "my_lion";
    const STATE: &'static [&'static str] = &["m"];
    type State = [f32; 1];
    /// η_t, β₁, β₂.
    type Scalars = [f32; 3];

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn scalars(&self, _t: u64, eta: f64) -> [f32; 3] {
        [eta as f32, self.b1 as f32, self.b2 as f32]
    }

    fn update(&[eta, b1, b2]: &[f32; 3], phi: &mut f32, g: Gradient, [m]: &mut [f32; 1]) {
        let c = b1 * *m + (1.0 - b1) * g.mean; // c = β₁·m + (1 − β₁)·ĝ
        *phi -= eta * sign(c); // Φ ← Φ − η·sign(c)
        *m = b2 * *m + (1.0 - b2) * g.mean; // m ← β₂·m + (1 − β₂)·ĝ
    }
}

/// The command that runs the benchmark with `my_lion` registered: the
/// commands it lists run through this example, not `optim_bench`, which
/// does not know the rule.
pub const BENCH: &str = "cargo run --release --example custom_optimizer -- bench";

fn main() -> ExitCode {
    gradlab::cli::end_quietly_on_closed_pipe();
    if std::env::args().nth(1).as_deref() == Some("bench") {
        if let Err(e) = register::<Lion>() {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
        return gradlab::cli::bench(BENCH, std::env::args().skip(2));
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Train gradlab's default MNIST model (MLP 784-256-256-10, ReLU, batch 64,
/// 3 epochs) with `my_lion`, a Lion written outside gradlab's optim crate.
///
/// `custom_optimizer bench [optim_bench's flags]` runs the optimizer
/// benchmark with `my_lion` registered instead.
#[derive(Parser, Debug)]
#[command(name = "custom_optimizer")]
struct Args {
    /// The optimizer spec; `my_lion(...)` or any built-in rule.
    #[arg(default_value = "my_lion(lr=3e-4,schedule=cosine)")]
    optimizer: String,
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    register::<Lion>()?;
    let args = Args::parse();
    let mnist = gradlab::data::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/mnist"))?;
    let config = TrainConfig {
        optimizer: args.optimizer,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(config, mnist.train, mnist.test)?;
    let c = &trainer.config;
    println!(
        "training {} ({}) on MNIST, batch {}, {} epochs, with {}",
        trainer.model.name.replacen("mlp", "MLP", 1),
        c.activation,
        c.batch_size,
        c.epochs,
        trainer.optimizer
    );
    let epochs = trainer.fit(&FitOptions::default(), &mut |e| {
        if let Event::Epoch(m) = e {
            println!(
                "epoch {}: train loss {:.4}, test loss {:.4}, test accuracy {:.2} %",
                m.epoch,
                m.train_loss,
                m.test_loss,
                100.0 * m.test_accuracy.expect("MNIST has classes")
            );
        }
    })?;
    let last = epochs.last().expect("at least one epoch");
    println!(
        "test accuracy {:.2} %",
        100.0 * last.test_accuracy.expect("MNIST has classes")
    );
    Ok(())
}
