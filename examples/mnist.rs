//! Train an MLP or a CNN on MNIST (or any dataset in the same IDX layout,
//! such as `datasets/fashion-mnist`).
//!
//! ```text
//! cargo run --example mnist
//! cargo run --release --example mnist -- --model cnn
//! cargo run --release --example mnist -- --model cnn --dp-epsilon 3
//! cargo run --release --example mnist -- --optimizer "sgd_momentum(lr=0.05,momentum=0.9)" --epochs 3
//! cargo run --example mnist -- --limit 5000 --epochs 1 --save runs/quick --log runs/quick.csv
//! cargo run --example mnist -- --resume runs/quick --epochs 2
//! cargo run --release --example mnist -- --optimizer "sgd(lr=4)" --batch-size 512 --epochs 10 --dp-epsilon 3
//! ```
//!
//! With `--dp-noise` or `--dp-epsilon` the run is private (DP-SGD): batches
//! are Poisson-sampled, every example's gradient is clipped to `--dp-clip`
//! and Gaussian noise is added; each epoch prints the ε spent at
//! `--dp-delta`, and the CSV log and checkpoints record it.
//!
//! Ctrl-C stops at the next step boundary, saves the run if `--save` (or
//! `--resume`) names a directory, and exits with status 130; a second
//! Ctrl-C exits at once (the checkpoint directory still holds its last
//! complete checkpoint). Any other error is one line on stderr and status 1.

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use gradlab::data::{self, Scattering};
use gradlab::layers::{Cnn, CnnKind, Model, Module};
use gradlab::optim::{format_float, significant, Optimizer};
use gradlab::train::{Checkpoint, Event, FitOptions, Task, TrainConfig, TrainError, Trainer};
use indicatif::{ProgressBar, ProgressStyle};

/// Train a multi-layer perceptron or a convolutional network on MNIST with
/// gradlab.
///
/// When resuming, the saved run's settings apply: a flag that differs from
/// them is an error, and `--epochs` only moves where the run stops.
#[derive(Parser, Debug)]
#[command(name = "mnist", version, args_override_self = true)]
struct Args {
    /// The network: `mlp` (the widths of --hidden), or `cnn` (gradlab's
    /// small CNN; with --dp-noise or --dp-epsilon, its private CNN on the
    /// images' scattering transform, with their own recipe) [default: mlp].
    #[arg(long, value_enum)]
    model: Option<Network>,
    /// Optimizer spec, e.g. "adam(lr=1e-3)", "sgd(lr=0.1)",
    /// "adam_per_example(eta0=1e-5)" [default: adam(lr=3e-3,schedule=cosine,warmup=100),
    /// or the CNN's recipe].
    #[arg(long)]
    optimizer: Option<String>,
    /// Examples per step [default: 64, or the CNN's recipe].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Passes over the training set [default: 3, or the CNN's recipe]. When
    /// resuming, the run stops after this many epochs in all, on the saved
    /// schedule.
    #[arg(long)]
    epochs: Option<usize>,
    /// Hidden layer widths, comma-separated [default: 256,256].
    #[arg(long, value_delimiter = ',', action = clap::ArgAction::Set)]
    hidden: Option<Vec<usize>>,
    /// Activation: relu, leaky_relu, tanh, sigmoid or gelu [default: relu].
    #[arg(long)]
    activation: Option<String>,
    /// Dropout probability after each hidden activation [default: 0].
    #[arg(long)]
    dropout: Option<f32>,
    /// Seed for the weights, the shuffles and dropout [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// Worker threads, at most one per core [default: one per core].
    /// Results do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// Directory with the four IDX files (raw or .gz) [default:
    /// datasets/mnist, or the saved run's when resuming].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Train on the first N training examples only.
    #[arg(long)]
    limit: Option<usize>,
    /// Save a checkpoint here after every epoch and when stopped by Ctrl-C.
    #[arg(long)]
    save: Option<PathBuf>,
    /// Resume the run saved in this checkpoint directory, or from the
    /// checkpoint DIR/step-N a run printed (and keep saving into DIR unless
    /// --save says otherwise).
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Write per-step and per-epoch metrics to this CSV file (a new file;
    /// when resuming, the run's log, continued).
    #[arg(long)]
    log: Option<PathBuf>,
    /// Print only the final summary.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    dp: gradlab::cli::DpArgs,
}

/// The networks `--model` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Network {
    /// A multi-layer perceptron.
    Mlp,
    /// A convolutional network.
    Cnn,
}

/// A recipe: the defaults of a new run of a network.
struct Recipe {
    /// The rule's spec for a run of this many steps.
    optimizer: fn(u64) -> String,
    batch_size: usize,
    epochs: usize,
    clip: f32,
}

/// The defaults of a new run of `network`, privately or not.
fn recipe(network: Network, private: bool) -> Recipe {
    let mlp = TrainConfig::default();
    match (network, private) {
        // The trainer shortens the default's warm-up to the run.
        (Network::Mlp, _) => Recipe {
            optimizer: |_| TrainConfig::default().optimizer,
            batch_size: mlp.batch_size,
            epochs: mlp.epochs,
            clip: 1.0,
        },
        (Network::Cnn, false) => Recipe {
            optimizer: cnn_optimizer,
            batch_size: 64,
            epochs: CNN_EPOCHS,
            clip: 1.0,
        },
        (Network::Cnn, true) => Recipe {
            optimizer: |_| PRIVATE_CNN_OPTIMIZER.into(),
            batch_size: PRIVATE_CNN_BATCH,
            epochs: PRIVATE_CNN_EPOCHS,
            clip: PRIVATE_CNN_CLIP,
        },
    }
}

/// The CNN's rule for a run of `steps` steps: Adam at 2·10⁻³, warmed up
/// over min(100, ⌊T/20⌋) steps (as the MLP's default) and cosine-decayed.
fn cnn_optimizer(steps: u64) -> String {
    match (steps / 20).min(100) {
        0 => "adam(lr=2e-3,schedule=cosine)".into(),
        w => format!("adam(lr=2e-3,schedule=cosine,warmup={w})"),
    }
}
/// The CNN's epochs.
const CNN_EPOCHS: usize = 4;
/// The private CNN's rule: momentum SGD at Dörmann et al. 2021's rate and
/// momentum for ε ≈ 3 (their code's third setting, for their end-to-end
/// CNN; on the scattering CNN it does better than Tramèr & Boneh's
/// `sgd_momentum(lr=4,momentum=0.9)` with batches of 8 192 and C = 0.1).
const PRIVATE_CNN_OPTIMIZER: &str = "sgd_momentum(lr=10.244,momentum=0.5784)";
/// The private CNN's expected batch: a sixth of the training set, so that
/// more of the noise is the Gaussian noise the accountant counts and less
/// the sampling's, which it does not (Dörmann et al. 2021).
const PRIVATE_CNN_BATCH: usize = 10_000;
/// The private CNN's epochs.
const PRIVATE_CNN_EPOCHS: usize = 40;
/// The private CNN's clipping bound C (Dörmann et al. 2021).
const PRIVATE_CNN_CLIP: f32 = 0.4196;

fn main() -> ExitCode {
    gradlab::cli::end_quietly_on_closed_pipe();
    let args = Args::parse();
    let stop = gradlab::cli::stop_on_ctrl_c();
    let console = Console {
        broken: AtomicBool::new(false),
        stop: stop.clone(),
    };
    let result = run(&args, &console, stop);
    if result.is_err() && console.broken.load(Ordering::SeqCst) {
        // Whoever read the output is gone (`| head`): end quietly.
        return ExitCode::SUCCESS;
    }
    gradlab::cli::exit_status(result, "cargo run --example mnist -- --resume")
}

/// Standard output that tolerates a reader going away: after a broken pipe
/// nothing more is printed and the run is asked to stop.
struct Console {
    broken: AtomicBool,
    stop: Arc<AtomicBool>,
}

impl Console {
    fn line(&self, text: fmt::Arguments) {
        if self.broken.load(Ordering::SeqCst) {
            return;
        }
        if let Err(e) = writeln!(io::stdout().lock(), "{text}") {
            if e.kind() == io::ErrorKind::BrokenPipe {
                self.broken.store(true, Ordering::SeqCst);
                self.stop.store(true, Ordering::SeqCst);
            }
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

/// The scattering transform the private CNN learns on: Tramèr & Boneh's
/// J = 2 (maps of a quarter of the image's side), L = 8 angles.
fn scattering(image: [usize; 3]) -> Result<Scattering, TrainError> {
    Ok(Scattering::new(image, 2, 8)?)
}

/// The kind of CNN a model of this name is, if it is one of them for images
/// of `image` and `classes` classes, and the shape of its input (the
/// image's, or its scattering coefficients').
fn cnn_named(name: &str, image: [usize; 3], classes: usize) -> Option<(CnnKind, [usize; 3])> {
    let scattered = scattering(image).ok().map(|s| s.output_shape());
    [CnnKind::Standard, CnnKind::Private, CnnKind::Dormann]
        .into_iter()
        .map(|kind| (kind, image))
        .chain(scattered.map(|shape| (CnnKind::Scatter, shape)))
        .find(|&(kind, shape)| Cnn::name_of(kind, shape, classes) == name)
}

/// The training and test sets as the kind of CNN takes them: their
/// scattering coefficients for [`CnnKind::Scatter`] (of the first `limit`
/// training examples only, the ones the run trains on), else as they are.
fn inputs_for(
    kind: CnnKind,
    mnist: data::Mnist,
    limit: Option<usize>,
) -> Result<data::Mnist, TrainError> {
    if kind != CnnKind::Scatter {
        return Ok(mnist);
    }
    let s = scattering([1, mnist.train.rows(), mnist.train.cols()])?;
    let train = match limit {
        Some(n) => mnist.train.limit(n),
        None => mnist.train,
    };
    Ok(data::Mnist {
        train: s.dataset(&train)?,
        test: s.dataset(&mnist.test)?,
        unread: mnist.unread,
    })
}

/// The MLP's flags do not apply to a CNN.
fn check_cnn_flags(args: &Args) -> Result<(), TrainError> {
    let mlp_flags = [
        ("--hidden", args.hidden.is_some()),
        ("--activation", args.activation.is_some()),
        ("--dropout", args.dropout.is_some()),
    ];
    match mlp_flags.iter().find(|(_, given)| *given) {
        Some((flag, _)) => Err(TrainError::Config(format!(
            "{flag} shapes the MLP; --model cnn has its own architecture"
        ))),
        None => Ok(()),
    }
}

/// The flags given for a resumed run must agree with its saved settings.
fn check_flags(args: &Args, saved: &Checkpoint) -> Result<(), TrainError> {
    let c = saved.config();
    let conflict = |setting: &str, given: String, was: String| {
        Err(TrainError::Conflict {
            setting: setting.into(),
            given,
            saved: was,
            checkpoint: saved.path().to_path_buf(),
        })
    };
    if let Some(network) = args.model {
        let was = if saved.model_name().starts_with("mlp") {
            Network::Mlp
        } else {
            Network::Cnn
        };
        if network != was {
            let name = |n: Network| format!("{n:?}").to_lowercase();
            return conflict("--model", name(network), name(was));
        }
    }
    if let Some(spec) = &args.optimizer {
        // Compared in canonical form, so `lr=1e-3` and `lr=0.001` agree.
        let canonical = |s: &str| -> Result<String, TrainError> {
            let opt = Optimizer::for_run(s, saved.schedule_steps())?;
            Ok(opt.to_string())
        };
        let (given, was) = (canonical(spec)?, canonical(&c.optimizer)?);
        if given != was {
            return conflict("--optimizer", given, was);
        }
    }
    let list = |h: &[usize]| h.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
    let limit = |l: Option<usize>| l.map_or("none (every example)".into(), |n| n.to_string());
    args.dp.check_resumed(saved)?;
    let checks: [(&str, Option<String>, String); 6] = [
        (
            "--batch-size",
            args.batch_size.map(|b| b.to_string()),
            c.batch_size.to_string(),
        ),
        (
            "--hidden",
            args.hidden.as_deref().map(list),
            list(&c.hidden),
        ),
        (
            "--activation",
            args.activation.clone(),
            c.activation.clone(),
        ),
        (
            "--dropout",
            args.dropout.map(|p| p.to_string()),
            c.dropout.to_string(),
        ),
        (
            "--seed",
            args.seed.map(|s| s.to_string()),
            c.seed.to_string(),
        ),
        (
            "--limit",
            args.limit.map(|n| limit(Some(n))),
            limit(c.limit),
        ),
    ];
    for (flag, given, was) in checks {
        if let Some(given) = given.filter(|g| *g != was) {
            return conflict(flag, given, was);
        }
    }
    Ok(())
}

/// What `--epochs` does to a resumed run, in a sentence, if it changes
/// anything.
fn epochs_note(trainer: &Trainer, saved_epochs: usize) -> Option<String> {
    let epochs = trainer.config.epochs;
    if epochs == saved_epochs {
        return None;
    }
    let t = trainer.schedule_steps();
    let mut note = format!(
        "note: the run stops after epoch {epochs} instead of {saved_epochs}, on its saved \
         schedule of {t} steps"
    );
    if epochs > saved_epochs {
        let factor = trainer.optimizer.schedule().factor(t + 1);
        note.push_str(&format!(
            "; beyond step {t} the schedule continues as defined (its rate factor at step {} is \
             {factor})",
            t + 1
        ));
        if factor == 0.0 {
            note.push_str(
                ", so the extra steps leave the weights as they are; for a longer \
                           schedule start a new run",
            );
        }
    }
    Some(note)
}

fn run(args: &Args, console: &Console, stop: Arc<AtomicBool>) -> Result<(), TrainError> {
    gradlab::cli::set_threads(args.threads)?;
    let saved = args.resume.as_deref().map(Checkpoint::latest).transpose()?;
    if let Some(saved) = &saved {
        check_flags(args, saved)?;
    }
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| {
            saved
                .as_ref()
                .and_then(|s| s.data_source().map(Path::to_path_buf))
        })
        .unwrap_or_else(default_data_dir);
    let start = Instant::now();
    let mnist = data::load(&data_dir)?;
    let load_seconds = start.elapsed().as_secs_f64();
    if !mnist.unread.is_empty() {
        let unread: Vec<String> = mnist
            .unread
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        eprintln!(
            "note: read the raw IDX files; the compressed {} beside them {} not read",
            unread.join(", "),
            if unread.len() == 1 { "was" } else { "were" }
        );
    }
    let source = std::fs::canonicalize(&data_dir).unwrap_or_else(|_| data_dir.clone());

    let defaults = TrainConfig::default();
    let image = [1, mnist.train.rows(), mnist.train.cols()];
    let classes = Task::of(&mnist.train, &mnist.test)?.outputs();
    let mut scatter_seconds = None;
    let mut inputs = |kind: CnnKind, mnist: data::Mnist, limit: Option<usize>| {
        let start = Instant::now();
        let scattered = inputs_for(kind, mnist, limit);
        if kind == CnnKind::Scatter {
            scatter_seconds = Some(start.elapsed().as_secs_f64());
        }
        scattered
    };
    let mut trainer = match &saved {
        Some(saved) => match cnn_named(saved.model_name(), image, classes) {
            Some((kind, shape)) => {
                let cnn = Cnn::new(kind, shape, classes, saved.config().seed)?;
                let m = inputs(kind, mnist, saved.config().limit)?;
                saved.resume_with(Model::from(cnn), m.train, m.test, args.epochs)?
            }
            None => saved.resume(mnist.train, mnist.test, args.epochs)?,
        },
        None => {
            let network = args.model.unwrap_or(Network::Mlp);
            let private = args.dp.private();
            if network == Network::Cnn {
                check_cnn_flags(args)?;
            }
            let recipe = recipe(network, private);
            let batch_size = args.batch_size.unwrap_or(recipe.batch_size);
            let epochs = args.epochs.unwrap_or(recipe.epochs);
            let examples = args
                .limit
                .map_or(mnist.train.len(), |n| n.min(mnist.train.len()));
            let steps_per_epoch = examples.div_ceil(batch_size.max(1)) as u64;
            let config = TrainConfig {
                hidden: args.hidden.clone().unwrap_or(defaults.hidden),
                activation: args.activation.clone().unwrap_or(defaults.activation),
                dropout: args.dropout.unwrap_or(defaults.dropout),
                optimizer: match &args.optimizer {
                    Some(spec) => spec.clone(),
                    None => (recipe.optimizer)(steps_per_epoch.saturating_mul(epochs as u64)),
                },
                batch_size,
                epochs,
                seed: args.seed.unwrap_or(defaults.seed),
                limit: args.limit,
                loss_scale: 1.0,
                standardize: false,
                drop_last: false,
                privacy: args.dp.privacy(steps_per_epoch, epochs, recipe.clip)?,
            };
            match network {
                Network::Mlp => Trainer::new(config, mnist.train, mnist.test)?,
                Network::Cnn => {
                    let (kind, shape) = if private {
                        (CnnKind::Scatter, scattering(image)?.output_shape())
                    } else {
                        (CnnKind::Standard, image)
                    };
                    let cnn = Cnn::new(kind, shape, classes, config.seed)?;
                    let m = inputs(kind, mnist, config.limit)?;
                    Trainer::with_model(config, Model::from(cnn), m.train, m.test)?
                }
            }
        }
    }
    .with_data_source(source);
    let quiet = args.quiet;
    let c = &trainer.config;
    let network = if let Some((kind, _)) = cnn_named(&trainer.model.name, image, classes) {
        let scattered = if kind == CnnKind::Scatter {
            "the images' scattering transform, J = 2, L = 8; then "
        } else {
            ""
        };
        format!("{} ({scattered}{kind})", trainer.model.name)
    } else {
        let widths = std::iter::once(trainer.train_set().num_features())
            .chain(c.hidden.iter().copied())
            .chain([trainer.task().outputs()]);
        let sizes: Vec<String> = widths.map(|s| s.to_string()).collect();
        format!(
            "MLP {} ({}{})",
            sizes.join("-"),
            c.activation,
            if c.dropout > 0.0 {
                format!(", dropout {}", c.dropout)
            } else {
                String::new()
            }
        )
    };
    if !quiet {
        console.line(format_args!(
            "gradlab · {network} · {} params · {} · batch {} · {} epoch{} · {} threads",
            trainer
                .model
                .params()
                .iter()
                .map(|&id| trainer.model.params.get(id).len())
                .sum::<usize>(),
            match trainer.optimizer.schedule().warmup {
                0 => trainer.optimizer.to_string(),
                w => format!(
                    "{} (warm-up: {w} of {} steps)",
                    trainer.optimizer,
                    trainer.schedule_steps()
                ),
            },
            c.batch_size,
            c.epochs,
            if c.epochs == 1 { "" } else { "s" },
            rayon::current_num_threads(),
        ));
        console.line(format_args!(
            "data: {} · {} train / {} test examples (loaded in {load_seconds:.1} s{}){}",
            data_dir.display(),
            trainer.train_set().len(),
            trainer.test_set().len(),
            match scatter_seconds {
                Some(t) => format!(", scattering transform in {t:.1} s"),
                None => String::new(),
            },
            match &saved {
                Some(s) => format!(
                    " · resuming {} after step {} (epoch {})",
                    s.path().display(),
                    trainer.steps_done(),
                    trainer.epochs_done()
                ),
                None => String::new(),
            }
        ));
    }
    if let (Some(p), Some(q), false) = (&trainer.config.privacy, trainer.sample_rate(), quiet) {
        console.line(format_args!(
            "privacy: DP-SGD · clip C = {} ({}) · noise σ = {} · δ = {} · Poisson sampling q = {q:.3e} (≈ {:.1} examples a batch)",
            p.max_norm,
            if p.per_tensor { "per tensor" } else { "flat" },
            significant(p.noise_multiplier, 4),
            format_float(p.delta),
            q * trainer.train_set().len() as f64,
        ));
    }
    if let Some(note) = saved
        .as_ref()
        .and_then(|s| epochs_note(&trainer, s.config().epochs))
    {
        eprintln!("{note}");
    }
    if let Some(warning) = trainer.warmup_warning() {
        eprintln!("warning: {warning}");
    }
    let complete = trainer.epochs_done() >= trainer.config.epochs;
    if let (Some(saved), true) = (&saved, complete) {
        let copy = match &args.save {
            Some(new) if new != saved.dir() => {
                format!("; its checkpoint is saved into {} as well", new.display())
            }
            _ => String::new(),
        };
        eprintln!(
            "note: the run is complete: it has trained all {} epochs ({} steps), so nothing is \
             trained{copy}; --epochs N with N above {} continues it",
            trainer.config.epochs,
            trainer.steps_done(),
            trainer.config.epochs
        );
    }

    let options = FitOptions {
        save: args
            .save
            .clone()
            .or_else(|| saved.as_ref().map(|s| s.dir().to_path_buf())),
        log: args.log.clone(),
        stop: Some(stop),
    };
    let epochs = trainer.config.epochs;
    let bar_style = ProgressStyle::with_template(
        "epoch {prefix} [{bar:32.cyan/blue}] {pos}/{len} · {msg} · {elapsed_precise}",
    )
    .expect("a valid template")
    .progress_chars("=> ");
    let mut bar: Option<ProgressBar> = None;
    let train_start = Instant::now();
    let result = trainer.fit(&options, &mut |event| {
        if quiet {
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
                console.line(format_args!(
                    "epoch {}/{epochs}  train loss {:.4}  test loss {:.4}  test acc {:.2}%  {:.0} ex/s  {:.1} s{}",
                    m.epoch,
                    m.train_loss,
                    m.test_loss,
                    100.0 * m.test_accuracy.expect("MNIST has classes"),
                    m.examples_per_s,
                    m.train_seconds,
                    m.b_noise.map(|b| format!("  B_noise {b:.0}")).unwrap_or_default()
                        + &m.epsilon.map(|e| format!("  ε {}", significant(e, 4))).unwrap_or_default()
                ));
            }
        }
    });
    if let Some(b) = bar.take() {
        b.finish_and_clear();
    }
    let history = result?;
    let wall = train_start.elapsed().as_secs_f64();

    let (test_loss, test_acc) = match history.last() {
        Some(m) => (m.test_loss, m.test_accuracy),
        None => {
            let e = trainer.evaluate_test();
            (e.loss, e.accuracy)
        }
    };
    let test_acc = test_acc.expect("MNIST has classes");
    let train_seconds: f64 = history.iter().map(|m| m.train_seconds).sum();
    let examples: f64 = history
        .iter()
        .map(|m| m.examples_per_s * m.train_seconds)
        .sum();
    console.line(format_args!(
        "──────────────────────────────────────────────"
    ));
    console.line(format_args!("test accuracy   {:.2}%", 100.0 * test_acc));
    console.line(format_args!("test loss       {test_loss:.4}"));
    if let (Some(e), Some(p)) = (trainer.epsilon(), &trainer.config.privacy) {
        console.line(format_args!(
            "privacy spent   ε = {} at δ = {} (the training set only: this test \
             accuracy is outside the guarantee)",
            significant(e, 4),
            format_float(p.delta)
        ));
    }
    if history.is_empty() {
        console.line(format_args!(
            "wall time       {wall:.1} s (nothing to train)"
        ));
    } else {
        console.line(format_args!(
            "wall time       {wall:.1} s (training {train_seconds:.1} s, plus evaluation)"
        ));
    }
    if train_seconds > 0.0 {
        console.line(format_args!(
            "throughput      {:.0} examples/s",
            examples / train_seconds
        ));
    }
    if let Some(Ok(latest)) = options.save.as_deref().map(Checkpoint::latest) {
        console.line(format_args!("checkpoint      {}", latest.path().display()));
    }
    if let Some(log) = &options.log {
        console.line(format_args!("log             {}", log.display()));
    }
    Ok(())
}
