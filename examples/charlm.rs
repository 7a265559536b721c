//! Train a small GPT on characters: Jane Austen's six novels (shipped in
//! `datasets/austen`), or any UTF-8 text.
//!
//! ```text
//! cargo run --release --example charlm
//! cargo run --release --example charlm -- --text my-book.txt --epochs 5 --sample 500
//! cargo run --release --example charlm -- --save runs/austen
//! cargo run --release --example charlm -- --resume runs/austen --sample 1000 --temperature 0.6
//! cargo run --release --example charlm -- --dp-epsilon 8 --batch-size 512 --epochs 4
//! ```
//!
//! The text's last 10 % is the validation text, unseen in training; the rest
//! is cut into windows of `--context` characters, each an example whose
//! label at every position is the next character. Every `--eval-every`
//! steps the run prints the validation loss (on the first `--eval-windows`
//! validation windows) in nats per character and in bits per character,
//! and saves a checkpoint if `--save` names a directory; at the end it
//! evaluates the whole validation text and samples `--sample` characters.
//! A resumed run that has finished trains nothing: it evaluates and samples.
//!
//! With `--dp-noise` or `--dp-epsilon` the run is private (DP-SGD): windows
//! are Poisson-sampled, every window's gradient is clipped to `--dp-clip`
//! and Gaussian noise is added; ε at `--dp-delta` is printed at every
//! evaluation, for the training text (each character in one window).
//!
//! Ctrl-C stops at the next step boundary, saves the run if `--save` (or
//! `--resume`) names a directory, and exits with status 130. Any other
//! error is one line on stderr and status 1.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use clap::Parser;
use gradlab::data::CharText;
use gradlab::layers::{sample, Gpt, GptConfig, Model};
use gradlab::optim::{format_float, significant, Optimizer};
use gradlab::train::{Checkpoint, Checkpoints, Event, TrainConfig, TrainError, Trainer};
use indicatif::{ProgressBar, ProgressStyle};

/// The default recipe for a run of `steps` steps: AdamW at 3·10⁻³ with
/// β₂ = 0.99 (nanoGPT's Shakespeare-char recipe for a small model), weight
/// decay 0.1, warmed up over 100 steps (5 % of a run shorter than 2 000)
/// and cosine-decayed.
fn default_optimizer(steps: u64) -> String {
    let warmup = (steps / 20).clamp(1, 100);
    format!("adamw(lr=3e-3,b2=0.99,weight_decay=0.1,schedule=cosine,warmup={warmup})")
}

/// Train a small GPT on characters with gradlab.
///
/// When resuming, the saved run's settings apply: a flag that differs from
/// them is an error.
#[derive(Parser, Debug)]
#[command(name = "charlm", version, args_override_self = true)]
struct Args {
    /// A UTF-8 text file (or .gz), or a directory of .txt/.txt.gz files
    /// read in the order of their names [default: datasets/austen, or the
    /// saved run's].
    #[arg(long)]
    text: Option<PathBuf>,
    /// The fraction of the text, at its end, held out for validation.
    #[arg(long, default_value_t = 0.1)]
    validation: f64,
    /// Characters per window: the longest context the model sees [default: 128].
    #[arg(long)]
    context: Option<usize>,
    /// Transformer blocks [default: 4].
    #[arg(long)]
    layers: Option<usize>,
    /// Attention heads per block; they divide --width [default: 4].
    #[arg(long)]
    heads: Option<usize>,
    /// Features per position [default: 128].
    #[arg(long)]
    width: Option<usize>,
    /// Optimizer spec [default:
    /// adamw(lr=3e-3,b2=0.99,weight_decay=0.1,schedule=cosine,warmup=100),
    /// the warm-up 5 % of a run shorter than 2 000 steps].
    #[arg(long)]
    optimizer: Option<String>,
    /// Windows per step [default: 32].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Passes over the training text [default: 2].
    #[arg(long)]
    epochs: Option<usize>,
    /// Seed of the weights, the shuffles and the sampling [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// Steps between evaluations and checkpoints.
    #[arg(long, default_value_t = 200)]
    eval_every: u64,
    /// Validation windows evaluated every --eval-every steps (the whole
    /// validation text is evaluated at the end).
    #[arg(long, default_value_t = 512)]
    eval_windows: usize,
    /// Characters to sample at the end (0: none).
    #[arg(long, default_value_t = 300)]
    sample: usize,
    /// Sampling temperature: below 1 the likelier characters, above 1 the
    /// rarer ones.
    #[arg(long, default_value_t = 0.8)]
    temperature: f32,
    /// The text the sample continues [default: a new line].
    #[arg(long)]
    prompt: Option<String>,
    /// Worker threads, at most one per core [default: one per core].
    /// Results do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// Save a checkpoint here at every evaluation and when stopped by
    /// Ctrl-C.
    #[arg(long)]
    save: Option<PathBuf>,
    /// Resume the run saved in this checkpoint directory (and keep saving
    /// into it unless --save says otherwise).
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Print only the evaluations, the summary and the sample.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    dp: gradlab::cli::DpArgs,
}

fn main() -> ExitCode {
    gradlab::cli::end_quietly_on_closed_pipe();
    let args = Args::parse();
    let stop = gradlab::cli::stop_on_ctrl_c();
    gradlab::cli::exit_status(
        run(&args, &stop),
        "cargo run --release --example charlm -- --resume",
    )
}

/// `datasets/austen` below the working directory, or else the copy that
/// ships with gradlab.
fn default_text() -> PathBuf {
    let local = PathBuf::from("datasets/austen");
    if local.is_dir() {
        local
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/austen")
    }
}

/// The text at `path`: a file, or a directory of text files.
fn read_text(path: &Path) -> Result<CharText, TrainError> {
    Ok(if path.is_dir() {
        CharText::read_dir(path)?
    } else {
        CharText::read(&[path.to_path_buf()])?
    })
}

/// The flags that define a run must agree with the saved run's.
fn check_flags(args: &Args, saved: &Checkpoint, size: &GptConfig) -> Result<(), TrainError> {
    let c = saved.config();
    args.dp.check_resumed(saved)?;
    if let Some(spec) = &args.optimizer {
        let canonical = |s: &str| -> Result<String, TrainError> {
            Ok(Optimizer::for_run(s, saved.schedule_steps())?.to_string())
        };
        let (given, was) = (canonical(spec)?, canonical(&c.optimizer)?);
        if given != was {
            return Err(conflict(saved, "--optimizer", given, was));
        }
    }
    let s = |v: usize| v.to_string();
    let checks: [(&str, Option<String>, String); 7] = [
        ("--context", args.context.map(s), s(size.context)),
        ("--layers", args.layers.map(s), s(size.layers)),
        ("--heads", args.heads.map(s), s(size.heads)),
        ("--width", args.width.map(s), s(size.width)),
        ("--batch-size", args.batch_size.map(s), s(c.batch_size)),
        ("--epochs", args.epochs.map(s), s(c.epochs)),
        (
            "--seed",
            args.seed.map(|v| v.to_string()),
            c.seed.to_string(),
        ),
    ];
    for (flag, given, was) in checks {
        if let Some(given) = given.filter(|g| *g != was) {
            return Err(conflict(saved, flag, given, was));
        }
    }
    Ok(())
}

fn conflict(saved: &Checkpoint, setting: &str, given: String, was: String) -> TrainError {
    TrainError::Conflict {
        setting: setting.into(),
        given,
        saved: was,
        checkpoint: saved.path().to_path_buf(),
    }
}

/// "1.23 M" for 1 234 567.
fn millions(n: f64) -> String {
    format!("{:.2} M", n / 1e6)
}

fn run(args: &Args, stop: &AtomicBool) -> Result<(), TrainError> {
    gradlab::cli::set_threads(args.threads)?;
    let bad = |msg: String| Err(TrainError::Config(msg));
    if args.eval_every == 0 {
        return bad("--eval-every must be at least 1".into());
    }
    if args.eval_windows == 0 {
        return bad("--eval-windows must be at least 1".into());
    }
    if !(args.temperature.is_finite() && args.temperature > 0.0) {
        return bad(format!(
            "--temperature must be positive and finite, got {}",
            args.temperature
        ));
    }
    let saved = args.resume.as_deref().map(Checkpoint::latest).transpose()?;
    let saved_size = match &saved {
        Some(s) => Some(GptConfig::from_name(s.model_name()).ok_or_else(|| {
            TrainError::Config(format!(
                "{} is a run of the model {:?}, not of a GPT: resume it with the example that \
                 trained it",
                s.path().display(),
                s.model_name()
            ))
        })?),
        None => None,
    };
    if let (Some(s), Some(size)) = (&saved, &saved_size) {
        check_flags(args, s, size)?;
    }
    let path = args
        .text
        .clone()
        .or_else(|| {
            saved
                .as_ref()
                .and_then(|s| s.data_source().map(Path::to_path_buf))
        })
        .unwrap_or_else(default_text);
    let start = Instant::now();
    let text = read_text(&path)?;
    let vocab = text.vocab().len();
    let size = saved_size.unwrap_or(GptConfig {
        vocab,
        context: args.context.unwrap_or(128),
        layers: args.layers.unwrap_or(4),
        heads: args.heads.unwrap_or(4),
        width: args.width.unwrap_or(128),
    });
    if size.vocab != vocab {
        return bad(format!(
            "{} has {vocab} distinct characters but the saved model reads {}: it was trained on \
             another text",
            path.display(),
            size.vocab
        ));
    }
    let prompt = match &args.prompt {
        Some(p) if p.is_empty() => return bad("--prompt must hold at least one character".into()),
        Some(p) => text
            .encode(p)
            .map_err(|e| TrainError::Config(format!("--prompt: {e}")))?,
        None => text.encode("\n").unwrap_or_else(|_| vec![0]),
    };
    let (train_ids, val_ids) = text.split(args.validation, size.context)?;
    let train = text.sequences(train_ids, size.context)?;
    let validation = text.sequences(val_ids, size.context)?;
    let probe = validation.clone().limit(args.eval_windows);
    let load_seconds = start.elapsed().as_secs_f64();

    let model = |seed| -> Result<Model, TrainError> { Ok(Model::from(Gpt::new(size, seed)?)) };
    let mut trainer = match &saved {
        Some(s) => s.resume_with(model(s.config().seed)?, train, validation, None)?,
        None => {
            let batch_size = args.batch_size.unwrap_or(32);
            let epochs = args.epochs.unwrap_or(2);
            let steps_per_epoch = train.len().div_ceil(batch_size.max(1)) as u64;
            let config = TrainConfig {
                optimizer: args.optimizer.clone().unwrap_or_else(|| {
                    default_optimizer(steps_per_epoch.saturating_mul(epochs as u64))
                }),
                batch_size,
                epochs,
                seed: args.seed.unwrap_or(0),
                privacy: args.dp.privacy(steps_per_epoch, epochs, 1.0)?,
                ..TrainConfig::default()
            };
            let seed = config.seed;
            Trainer::with_model(config, model(seed)?, train, validation)?
        }
    }
    .with_data_source(std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone()));
    let save_dir = args
        .save
        .clone()
        .or_else(|| saved.as_ref().map(|s| s.dir().to_path_buf()));
    let checkpoints = match &save_dir {
        Some(dir) => {
            let c = Checkpoints::open(dir)?;
            c.check_continues(&trainer)?;
            Some(c)
        }
        None => None,
    };

    let c = trainer.config.clone();
    let tokens_per_step = (c.batch_size * size.context) as f64;
    let total = trainer.steps_per_epoch() * c.epochs as u64;
    let params = trainer.model.params.num_scalars();
    println!(
        "gradlab · GPT {} layers × {} wide, {} heads, context {} · {} params · {} · batch {} ({} \
         characters) · {} epoch{} ({total} steps) · {} threads",
        size.layers,
        size.width,
        size.heads,
        size.context,
        millions(params as f64),
        trainer.optimizer,
        c.batch_size,
        c.batch_size * size.context,
        c.epochs,
        if c.epochs == 1 { "" } else { "s" },
        rayon::current_num_threads(),
    );
    println!(
        "text: {} · {vocab} characters · {} training / {} validation characters ({} / {} windows; \
         loaded in {load_seconds:.1} s){}",
        path.display(),
        millions(train_ids.len() as f64),
        millions(val_ids.len() as f64),
        trainer.train_set().len(),
        trainer.test_set().len(),
        match &saved {
            Some(s) => format!(
                " · resuming {} after step {}",
                s.path().display(),
                s.steps_done()
            ),
            None => String::new(),
        }
    );
    if let (Some(p), Some(q)) = (&c.privacy, trainer.sample_rate()) {
        println!(
            "privacy: DP-SGD · clip C = {} · noise σ = {} · δ = {} · Poisson sampling q = {q:.3e} \
             (≈ {:.1} windows a batch)",
            p.max_norm,
            significant(p.noise_multiplier, 4),
            format_float(p.delta),
            q * trainer.train_set().len() as f64,
        );
    }
    if let Some(warning) = trainer.warmup_warning() {
        eprintln!("warning: {warning}");
    }
    if trainer.steps_done() >= total {
        eprintln!("note: the run is complete ({total} steps): nothing to train");
    }

    let bar = (!args.quiet && trainer.steps_done() < total).then(|| {
        let style = ProgressBar::new(total).with_style(
            ProgressStyle::with_template(
                "[{bar:32.cyan/blue}] {pos}/{len} · {msg} · {elapsed_precise}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        style.set_position(trainer.steps_done());
        style
    });
    // A bar that draws nothing (stderr is not a terminal) prints nothing
    // either: the evaluations go to stdout then.
    let say = |line: String| match &bar {
        Some(b) if !b.is_hidden() => b.println(line),
        _ => println!("{line}"),
    };
    let (mut train_seconds, mut tokens) = (0.0f64, 0.0f64);
    while trainer.steps_done() < total {
        let next = ((trainer.steps_done() / args.eval_every + 1) * args.eval_every).min(total);
        let (mut loss_sum, mut steps, mut seconds) = (0.0f64, 0u64, 0.0f64);
        let result = trainer.train_until(next, Some(stop), &mut |e| {
            if let Event::Step(s) = e {
                loss_sum += f64::from(s.loss);
                steps += 1;
                seconds += s.seconds;
                if let Some(b) = &bar {
                    b.set_position(s.step);
                    if s.step % 10 == 0 {
                        b.set_message(format!(
                            "loss {:.4} · {:.0} characters/s",
                            s.loss,
                            steps as f64 * tokens_per_step / seconds
                        ));
                    }
                }
            }
        });
        train_seconds += seconds;
        tokens += steps as f64 * tokens_per_step;
        match result {
            Ok(()) => {}
            Err(TrainError::Interrupted { step, epoch, .. }) => {
                if let Some(b) = &bar {
                    b.finish_and_clear();
                }
                let saved = match &checkpoints {
                    Some(c) => {
                        c.save(&trainer)?;
                        Some(c.dir().to_path_buf())
                    }
                    None => None,
                };
                return Err(TrainError::Interrupted { step, epoch, saved });
            }
            Err(e) => {
                if let Some(b) = &bar {
                    b.finish_and_clear();
                }
                return Err(e);
            }
        }
        let eval = trainer.evaluate(&probe)?;
        let step = trainer.steps_done();
        say(format!(
            "step {step:>6}/{total} · {} characters · train loss {:.4} · val loss {:.4} nats \
             ({:.3} bits) per character · {:.0} characters/s{}",
            millions(step as f64 * tokens_per_step),
            loss_sum / steps.max(1) as f64,
            eval.loss,
            eval.loss / std::f64::consts::LN_2,
            steps as f64 * tokens_per_step / seconds,
            trainer
                .epsilon()
                .map(|e| format!(" · ε {}", significant(e, 4)))
                .unwrap_or_default()
        ));
        if let Some(c) = &checkpoints {
            c.save(&trainer)?;
        }
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if let Some(c) = &checkpoints {
        // A complete run resumed into a new directory is saved there too.
        c.save(&trainer)?;
    }

    let eval_start = Instant::now();
    let whole = trainer.evaluate_test();
    let eval_seconds = eval_start.elapsed().as_secs_f64();
    println!("──────────────────────────────────────────────");
    println!(
        "validation loss {:.4} nats per character · {:.3} bits per character · {:.1} % of next \
         characters guessed (the whole validation text, {} characters, in {eval_seconds:.1} s)",
        whole.loss,
        whole.loss / std::f64::consts::LN_2,
        100.0 * whole.accuracy.unwrap_or(0.0),
        millions((trainer.test_set().len() * size.context) as f64),
    );
    if train_seconds > 0.0 {
        println!(
            "training        {train_seconds:.1} s · {} characters · {:.0} characters/s",
            millions(tokens),
            tokens / train_seconds
        );
    }
    if let (Some(e), Some(p)) = (trainer.epsilon(), &trainer.config.privacy) {
        println!(
            "privacy spent   ε = {} at δ = {} (the training text only)",
            significant(e, 4),
            format_float(p.delta)
        );
    }
    if let Some(dir) = &save_dir {
        if let Ok(latest) = Checkpoint::latest(dir) {
            println!("checkpoint      {}", latest.path().display());
        }
    }
    if args.sample > 0 {
        let params = trainer.evaluation_params();
        let seed = args.seed.unwrap_or(trainer.config.seed);
        let ids = sample(
            trainer.model.net.as_ref(),
            &params,
            size.context,
            &prompt,
            args.sample,
            args.temperature,
            seed,
        );
        println!(
            "── sample (temperature {}, seed {seed}) ──",
            args.temperature
        );
        println!("{}{}", text.decode(&prompt), text.decode(&ids));
    }
    Ok(())
}
