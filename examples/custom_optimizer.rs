//! An optimizer of your own: Lion, written outside gradlab's optim crate
//! with its public rule API, registered as `my_lion`, and trained on MNIST
//! by the same `Trainer` as the built-in rules. (gradlab has a `lion` of
//! its own, following optax; this is the same rule from the paper, written
//! as you would write yours.)
//!
//! ```text
//! cargo run --release --example custom_optimizer
//! cargo run --release --example custom_optimizer -- 'my_lion(lr=1e-4,decoupled_weight_decay=1)'
//! ```
//!
//! The rule is the three items below (about 40 lines); once registered,
//! `my_lion(...)` parses, prints, saves its state in checkpoints and runs in
//! the trainer and the optimizer benchmark like `adam(...)`.

use std::path::Path;
use std::process::ExitCode;

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

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    register::<Lion>()?;
    let optimizer = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "my_lion(lr=3e-4,schedule=cosine)".to_string());
    let mnist = gradlab::data::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/mnist"))?;
    let config = TrainConfig {
        optimizer,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(config, mnist.train, mnist.test)?;
    println!("training MLP 784-512-512-10 with {}", trainer.optimizer);
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
