//! What the command-line examples share.

#[cfg(all(feature = "cli", feature = "bench"))]
mod bench;
#[cfg(all(feature = "cli", feature = "bench"))]
pub use bench::bench;

/// Makes a closed standard output end the program quietly with status 0,
/// as a reader such as `head -1` expects: the next `println!` after the
/// reader has gone exits instead of panicking with a backtrace.
///
/// Rust ignores `SIGPIPE`, so a write to a closed pipe fails with
/// `BrokenPipe`, and `println!` panics on a failed write. This installs a
/// panic hook that recognizes exactly that panic and exits with 0; every
/// other panic is reported as before. Call it first thing in `main`.
pub fn end_quietly_on_closed_pipe() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if is_closed_pipe(message) {
            std::process::exit(0);
        }
        report(info)
    }));
}

/// Sizes the global thread pool for `--threads`: `threads` if given,
/// capped at the number of cores with a warning (more threads than cores
/// only take turns, and a few thousand of them bring the machine to a
/// halt); 0 is an error. Results do not depend on it.
#[cfg(feature = "cli")]
pub fn set_threads(threads: Option<usize>) -> Result<(), gradlab_train::TrainError> {
    use gradlab_train::TrainError;
    let Some(mut n) = threads else {
        return Ok(());
    };
    if n == 0 {
        return Err(TrainError::Config("--threads must be at least 1".into()));
    }
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    if n > cores {
        eprintln!("warning: --threads {n} is more than the {cores} cores here; using {cores}");
        n = cores;
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
        .map_err(|e| TrainError::Config(format!("--threads: {e}")))
}

/// A flag that Ctrl-C sets, for a training loop to stop at its next step
/// boundary (and save); a second Ctrl-C exits at once with status 130 (a
/// checkpoint directory still holds its last complete checkpoint, whatever
/// a save was doing). If no handler can be installed, a warning says that
/// Ctrl-C will not save the run.
#[cfg(feature = "cli")]
pub fn stop_on_ctrl_c() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handler = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nstopping after this step (Ctrl-C again to quit at once)");
    });
    if let Err(e) = handler {
        eprintln!("warning: Ctrl-C will not save the run: {e}");
    }
    stop
}

/// The exit status of a training command's `result`, its error said in one
/// line on stderr: 0 for success; 130 for a run stopped by Ctrl-C, with the
/// command that continues it (`resume`, followed by the directory it was
/// saved in); 1 for any other error.
#[cfg(feature = "cli")]
pub fn exit_status(
    result: Result<(), gradlab_train::TrainError>,
    resume: &str,
) -> std::process::ExitCode {
    use gradlab_train::TrainError;
    use std::process::ExitCode;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ TrainError::Interrupted { .. }) => {
            eprintln!("{e}");
            if let TrainError::Interrupted {
                saved: Some(dir), ..
            } = &e
            {
                eprintln!("continue with: {resume} {}", dir.display());
            }
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The DP-SGD flags of the training examples (`mnist`, `charlm`):
/// `--dp-noise σ` or `--dp-epsilon ε` make a run private.
#[cfg(feature = "cli")]
#[derive(clap::Args, Debug, Default)]
pub struct DpArgs {
    /// Train privately (DP-SGD) with noise multiplier σ: noise of standard
    /// deviation σ·C on each batch's sum of clipped gradients.
    #[arg(long, conflicts_with = "dp_epsilon")]
    pub dp_noise: Option<f64>,
    /// Train privately (DP-SGD) with the σ that spends exactly this ε (at
    /// --dp-delta) over the run.
    #[arg(long)]
    pub dp_epsilon: Option<f64>,
    /// DP-SGD: the bound C on each example's gradient norm [default: 1, or
    /// the recipe's].
    #[arg(long)]
    pub dp_clip: Option<f32>,
    /// DP-SGD: the δ of the (ε, δ) reported [default: 1e-5].
    #[arg(long)]
    pub dp_delta: Option<f64>,
    /// DP-SGD: clip each parameter tensor to C/√P instead of the whole
    /// gradient to C.
    #[arg(long)]
    pub dp_per_tensor: bool,
}

#[cfg(feature = "cli")]
impl DpArgs {
    /// Whether the flags ask for a private run.
    pub fn private(&self) -> bool {
        self.dp_noise.is_some() || self.dp_epsilon.is_some()
    }

    /// The privacy settings of a new run of `steps_per_epoch` × `epochs`
    /// steps (C = `clip` unless `--dp-clip` says otherwise): `None` for an
    /// ordinary run; the other DP flags without `--dp-noise` or
    /// `--dp-epsilon` are an error.
    pub fn privacy(
        &self,
        steps_per_epoch: u64,
        epochs: usize,
        clip: f32,
    ) -> Result<Option<gradlab_train::Privacy>, gradlab_train::TrainError> {
        let delta = self.dp_delta.unwrap_or(1e-5);
        let noise_multiplier = match (self.dp_noise, self.dp_epsilon) {
            (Some(sigma), _) => sigma,
            (None, Some(epsilon)) => {
                let steps = steps_per_epoch.saturating_mul(epochs as u64);
                let q = 1.0 / steps_per_epoch as f64;
                gradlab_optim::accountant::noise_multiplier(epsilon, delta, q, steps)?
            }
            (None, None) => {
                if self.dp_clip.is_some() || self.dp_delta.is_some() || self.dp_per_tensor {
                    return Err(gradlab_train::TrainError::Config(
                        "--dp-clip, --dp-delta and --dp-per-tensor set up a private run, which \
                         needs --dp-noise or --dp-epsilon"
                            .into(),
                    ));
                }
                return Ok(None);
            }
        };
        Ok(Some(gradlab_train::Privacy {
            max_norm: self.dp_clip.unwrap_or(clip),
            noise_multiplier,
            delta,
            per_tensor: self.dp_per_tensor,
            poisson: true,
        }))
    }

    /// For a resumed run: `--dp-epsilon` is an error (the run keeps its σ),
    /// and a flag that differs from the saved run's privacy is a
    /// [`Conflict`](gradlab_train::TrainError::Conflict).
    pub fn check_resumed(
        &self,
        saved: &gradlab_train::Checkpoint,
    ) -> Result<(), gradlab_train::TrainError> {
        use gradlab_train::{Privacy, TrainError};
        if self.dp_epsilon.is_some() {
            return Err(TrainError::Config(
                "--dp-epsilon chooses the noise of a new run; a resumed run keeps its own σ".into(),
            ));
        }
        let dp = saved.config().privacy;
        let was = |f: fn(&Privacy) -> String| dp.as_ref().map_or("none (not private)".into(), f);
        let checks: [(&str, Option<String>, String); 4] = [
            (
                "--dp-noise",
                self.dp_noise.map(|s| s.to_string()),
                was(|p| p.noise_multiplier.to_string()),
            ),
            (
                "--dp-clip",
                self.dp_clip.map(|s| s.to_string()),
                was(|p| p.max_norm.to_string()),
            ),
            (
                "--dp-delta",
                self.dp_delta.map(|s| s.to_string()),
                was(|p| p.delta.to_string()),
            ),
            (
                "--dp-per-tensor",
                self.dp_per_tensor.then(|| "true".to_string()),
                was(|p| p.per_tensor.to_string()),
            ),
        ];
        for (flag, given, was) in checks {
            if let Some(given) = given.filter(|g| *g != was) {
                return Err(TrainError::Conflict {
                    setting: flag.into(),
                    given,
                    saved: was,
                    checkpoint: saved.path().to_path_buf(),
                });
            }
        }
        Ok(())
    }
}

/// Whether `message` is the panic of `print!` on a closed standard output.
fn is_closed_pipe(message: &str) -> bool {
    message.starts_with("failed printing to stdout")
        && message.to_lowercase().contains("broken pipe")
}

#[cfg(test)]
mod tests {
    use super::is_closed_pipe;

    #[test]
    fn only_a_closed_stdout_is_recognized() {
        assert!(is_closed_pipe(
            "failed printing to stdout: Broken pipe (os error 32)"
        ));
        assert!(!is_closed_pipe("failed printing to stdout: No space left"));
        assert!(!is_closed_pipe("index out of bounds: Broken pipe"));
    }
}
