//! The optimizer benchmark's command line with a progress bar, shared by
//! `optim_bench` and the examples that register rules or workloads of
//! their own.

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use gradlab_bench::cli::{Cli, Outcome};
use gradlab_bench::jobs::Progress;
use indicatif::{ProgressBar, ProgressStyle};

/// The optimizer benchmark's command line (`optim_bench`'s flags in
/// `args`, without the program name), with a progress bar, a thread pool of
/// `--threads` and a summary. `program` is the command that runs it
/// (`cargo run --release --example optim_bench --`, or a program's own with
/// its rules or workloads registered), which the commands it lists run.
pub fn bench(program: &str, args: impl IntoIterator<Item = String>) -> ExitCode {
    let name = program.split(" -- ").next().unwrap_or(program);
    let name = name.rsplit(' ').next().unwrap_or(name).to_string();
    let cli = match Cli::try_parse_from(std::iter::once(name).chain(args)) {
        Ok(cli) => cli,
        // --help and --version print and succeed; a bad flag is usage.
        Err(e) => e.exit(),
    };
    if let Some(n) = cli.threads {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
        if n == 0 || pool.is_err() {
            eprintln!("error: --threads must be at least 1");
            return ExitCode::FAILURE;
        }
    }
    let start = Instant::now();
    let bar = ProgressBar::hidden();
    let mut finished = 0u64;
    let mut progress = |p: Progress<'_>| match p {
        Progress::Sweep { runs, examples } => {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.set_length(examples);
            bar.reset_eta();
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:32.cyan/blue}] {percent:>3}% · {msg} · {elapsed_precise}, ETA {eta_precise}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(format!("{runs} run{}", if runs == 1 { "" } else { "s" }));
        }
        Progress::Run { job, spec } => bar.set_message(format!(
            "job {job}: {}{} · {} · B {} · seed {}",
            spec.experiment,
            spec.workload
                .as_ref()
                .map_or(String::new(), |w| format!(" · {w}")),
            spec.series,
            spec.batch_size,
            spec.seed
        )),
        Progress::Examples(n) => bar.inc(n),
        Progress::Done(record) => {
            // A diverged run stops early: count its whole budget as done.
            finished += record.spec.total_steps() * record.spec.batch_size as u64;
            bar.set_position(finished);
            if let Some(step) = record.diverged_at {
                bar.println(format!(
                    "job {}: {} (B {}, seed {}) diverged at step {step}",
                    record.job, record.spec.optimizer, record.spec.batch_size, record.spec.seed
                ));
            }
        }
    };
    let result = cli.run_as(program, &mut progress);
    bar.finish_and_clear();
    match result {
        Ok(Outcome::Listed { commands, merge }) => {
            for c in &commands {
                println!("{c}");
            }
            eprintln!("{} jobs; when they are done: {merge}", commands.len());
        }
        Ok(Outcome::Job { record, out }) => {
            let last = record.last();
            println!(
                "job {}: {} · B {} · seed {} · {} → {} ({:.1} s)",
                record.job,
                record.spec.optimizer,
                record.spec.batch_size,
                record.spec.seed,
                match last {
                    Some(m) => match (m.test_accuracy, m.test_rmse) {
                        (Some(acc), _) => {
                            format!("test loss {:.4}, accuracy {:.2}%", m.test_loss, 100.0 * acc)
                        }
                        (None, rmse) => format!(
                            "test loss {:.4}, RMSE {:.4}",
                            m.test_loss,
                            rmse.unwrap_or(f64::NAN)
                        ),
                    },
                    None => "diverged".into(),
                },
                out.display(),
                start.elapsed().as_secs_f64()
            );
        }
        Ok(Outcome::Merged(m)) => {
            println!(
                "{} runs ({} diverged), {:.0} s of training, {:.0} s in all → {}",
                m.runs,
                m.diverged,
                m.train_seconds,
                start.elapsed().as_secs_f64(),
                m.dir.display()
            );
            println!("wrote {}", m.files.join(", "));
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
