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
