//! Running a sweep in one process or as independent jobs, and merging the
//! results.
//!
//! A sweep's output directory holds `sweep.json` (its options and data) and
//! one file per run, `runs/00007.json`. Every way of running writes exactly
//! these files — the in-process sweep one run after another, `--job K` one
//! run, on any machine — and skips a run whose file is there already, so
//! an interrupted sweep or job list is finished by running it again; and
//! [`merge`] alone turns them into `runs.csv`,
//! `curves.csv`, `targets.csv`, `report.md` and the plots. So a sweep
//! dispatched with GNU parallel or a Slurm job array and then merged gives
//! the same files as a sweep run in one process.

use std::fs;
use std::path::{Path, PathBuf};

use gradlab_layers::CheckpointError;
use serde::{Deserialize, Serialize};

use crate::csv;
use crate::experiments::{selected, Experiment};
use crate::options::{Options, Settings};
use crate::report;
use crate::run::{self, DataSets, RunRecord, RunSpec};
use crate::workloads::Data;
use crate::BenchError;

/// The `format` field of the files this module writes.
const FORMAT: &str = "gradlab-optim-bench";
/// The version of those files.
const VERSION: u32 = 1;
/// The sweep's file in an output directory.
pub const SWEEP_FILE: &str = "sweep.json";
/// The directory of the per-run files.
pub const RUNS_DIR: &str = "runs";

/// The dataset a sweep trained on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataInfo {
    /// Where it was loaded from.
    pub dir: PathBuf,
    /// Training examples used.
    pub train: usize,
    /// Test examples used.
    pub test: usize,
}

#[derive(Serialize, Deserialize)]
struct SweepFile {
    format: String,
    version: u32,
    options: Options,
    data: Option<DataInfo>,
}

#[derive(Serialize, Deserialize)]
struct RunFile {
    format: String,
    version: u32,
    record: RunRecord,
}

/// What a sweep reports while it runs.
#[derive(Debug)]
pub enum Progress<'a> {
    /// The sweep starts: this many runs, this many training examples in all.
    Sweep {
        /// Runs to do.
        runs: usize,
        /// Examples all of them will see.
        examples: u64,
    },
    /// A run starts.
    Run {
        /// Its index in the job list.
        job: usize,
        /// What it is.
        spec: &'a RunSpec,
    },
    /// A training step of this many examples finished.
    Examples(u64),
    /// A run finished (possibly diverged): its file written, or found.
    Done(&'a RunRecord),
}

/// What [`merge`] wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct Merged {
    /// The output directory.
    pub dir: PathBuf,
    /// Runs merged.
    pub runs: usize,
    /// Runs that diverged.
    pub diverged: usize,
    /// Seconds of training summed over the runs (evaluations excluded).
    pub train_seconds: f64,
    /// The files written, relative to `dir`.
    pub files: Vec<String>,
}

/// The runs of the sweep, in job order: the experiments in report order,
/// each experiment's runs in its own order.
///
/// # Errors
/// If `--experiment` names no experiment.
pub fn plan(settings: &Settings) -> Result<Vec<RunSpec>, BenchError> {
    let experiments = selected(settings)?;
    Ok(experiments.iter().flat_map(|e| e.plan(settings)).collect())
}

/// The records of experiment `e` among `records`, in their order.
fn of<'a>(e: &dyn Experiment, records: &'a [RunRecord]) -> Vec<&'a RunRecord> {
    let mine = records.iter().filter(|r| r.spec.experiment == e.name());
    mine.collect()
}

/// The command that runs the benchmark: `optim_bench`'s, to which a
/// program with rules or workloads of its own gives its own
/// ([`Cli::run_as`](crate::cli::Cli::run_as)).
pub const OPTIM_BENCH: &str = "cargo run --release --example optim_bench --";

/// The shell command that runs job `job` of the sweep `options` into `out`
/// with `program` (such as [`OPTIM_BENCH`]).
pub fn command(
    options: &Options,
    job: usize,
    out: &Path,
    threads: Option<usize>,
    program: &str,
) -> String {
    let mut args = options.to_args();
    args.extend([
        "--job".into(),
        job.to_string(),
        "--out".into(),
        out.display().to_string(),
    ]);
    if let Some(t) = threads {
        args.extend(["--threads".into(), t.to_string()]);
    }
    format!("{program} {}", shell_words(&args))
}

/// `args` as shell words, each quoted where it must be.
pub(crate) fn shell_words<S: AsRef<str>>(args: &[S]) -> String {
    // Every argument is a flag, a number, a spec or a path: never a NUL,
    // the one thing a shell word cannot hold.
    shlex::try_join(args.iter().map(AsRef::as_ref))
        .expect("the benchmark's arguments hold no NUL byte")
}

/// One command per run of the sweep `options`, each writing into `out`.
pub fn commands(
    options: &Options,
    out: &Path,
    threads: Option<usize>,
    program: &str,
) -> Result<Vec<String>, BenchError> {
    let runs = plan(&options.resolve()?)?.len();
    Ok((0..runs)
        .map(|k| command(options, k, out, threads, program))
        .collect())
}

/// The records of `plan`'s runs in `dir` and the jobs that have no file
/// there. A file of another run is an error.
fn read_records(dir: &Path, plan: &[RunSpec]) -> Result<(Vec<RunRecord>, Vec<usize>), BenchError> {
    let mut records = Vec::with_capacity(plan.len());
    let mut missing = Vec::new();
    for (job, spec) in plan.iter().enumerate() {
        match finished(dir, job, spec)? {
            Some(record) => records.push(record),
            None => missing.push(job),
        }
    }
    Ok((records, missing))
}

/// The record of job `job` if `dir` holds its file, which must be of
/// `spec`'s run.
fn finished(dir: &Path, job: usize, spec: &RunSpec) -> Result<Option<RunRecord>, BenchError> {
    let path = run_path(dir, job);
    if !path.exists() {
        return Ok(None);
    }
    let file: RunFile = read_json(&path)?;
    check_format(&path, &file.format, file.version)?;
    if file.record.job != job || file.record.spec != *spec {
        return Err(BenchError::Merge(format!(
            "{}: made by a different sweep (it ran {:?}, job {job} of this sweep is {:?})",
            path.display(),
            file.record.spec,
            spec
        )));
    }
    Ok(Some(file.record))
}

/// Runs job `job` of the sweep `options` on `data` and writes its file (and
/// the sweep's) into `out`.
pub fn run_job(
    options: &Options,
    data: &mut DataSets,
    job: usize,
    out: &Path,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<RunRecord, BenchError> {
    let runs = plan(&options.resolve()?)?;
    let spec = runs.get(job).ok_or_else(|| {
        BenchError::Options(format!(
            "--job {job}: the sweep has {} runs, numbered 0 to {}",
            runs.len(),
            runs.len().saturating_sub(1)
        ))
    })?;
    write_sweep_file(out, options, Some(&data.mnist))?;
    progress(Progress::Sweep {
        runs: 1,
        examples: examples(spec),
    });
    one(job, spec, data, out, progress)
}

/// Runs every job of the sweep `options` in this process, then merges.
pub fn sweep(
    options: &Options,
    out: &Path,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Merged, BenchError> {
    let settings = options.resolve()?;
    let plan = plan(&settings)?;
    let mut data = if plan.is_empty() {
        None
    } else {
        let data = Data::load(
            &settings.data_dir,
            settings.train_limit,
            settings.test_limit,
        )?;
        Some(DataSets::new(data, &settings))
    };
    write_sweep_file(out, options, data.as_ref().map(|d| &d.mnist))?;
    progress(Progress::Sweep {
        runs: plan.len(),
        examples: plan.iter().map(examples).sum(),
    });
    if let Some(data) = &mut data {
        for (job, spec) in plan.iter().enumerate() {
            one(job, spec, data, out, progress)?;
        }
    }
    merge(out, OPTIM_BENCH)
}

/// Examples a run sees by its end.
fn examples(spec: &RunSpec) -> u64 {
    spec.total_steps() * spec.batch_size as u64
}

fn one(
    job: usize,
    spec: &RunSpec,
    data: &mut DataSets,
    out: &Path,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<RunRecord, BenchError> {
    // A run whose file is there (a sweep or a job run again) is skipped.
    if let Some(record) = finished(out, job, spec)? {
        progress(Progress::Done(&record));
        return Ok(record);
    }
    progress(Progress::Run { job, spec });
    let data = data.for_run(spec)?;
    let record = run::execute(job, spec, data, &mut |n| progress(Progress::Examples(n)))?;
    let file = RunFile {
        format: FORMAT.into(),
        version: VERSION,
        record,
    };
    let path = run_path(out, job);
    write_atomic(&path, &to_json(&file))?;
    progress(Progress::Done(&file.record));
    Ok(file.record)
}

fn run_path(dir: &Path, job: usize) -> PathBuf {
    dir.join(RUNS_DIR).join(format!("{job:05}.json"))
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).expect("bench files serialize") + "\n"
}

/// Writes `contents` to `path` with the workspace's atomic write (a
/// temporary file named for this process, fsync, rename), so that jobs
/// running at once never see one another's half-written files and a crash
/// leaves the old file or the new one.
fn write_atomic(path: &Path, contents: &str) -> Result<(), BenchError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| BenchError::io(dir, e))?;
    }
    gradlab_layers::write_atomic(path, contents.as_bytes()).map_err(|e| match e {
        CheckpointError::Io { path, source } => BenchError::io(path, source),
        other => unreachable!("a write fails only on I/O, not with {other}"),
    })
}

/// Writes `sweep.json`, refusing a directory that already holds a different
/// sweep.
fn write_sweep_file(out: &Path, options: &Options, data: Option<&Data>) -> Result<(), BenchError> {
    let file = SweepFile {
        format: FORMAT.into(),
        version: VERSION,
        options: options.clone(),
        data: data.map(|d| DataInfo {
            dir: d.dir.clone(),
            train: d.train.len(),
            test: d.test.len(),
        }),
    };
    let path = out.join(SWEEP_FILE);
    if path.exists() {
        let old = read_sweep_file(out)?;
        // The data directory may be spelled differently on each machine of
        // a distributed sweep; what must agree is the data's size.
        let size = |d: &Option<DataInfo>| d.as_ref().map(|d| (d.train, d.test));
        if old.options != file.options || size(&old.data) != size(&file.data) {
            return Err(BenchError::Merge(format!(
                "{} holds a different sweep; choose another --out",
                out.display()
            )));
        }
        return Ok(());
    }
    write_atomic(&path, &to_json(&file))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, BenchError> {
    let text = fs::read_to_string(path).map_err(|e| BenchError::io(path, e))?;
    serde_json::from_str(&text).map_err(|source| BenchError::Json {
        path: path.to_path_buf(),
        source,
    })
}

fn read_sweep_file(dir: &Path) -> Result<SweepFile, BenchError> {
    let path = dir.join(SWEEP_FILE);
    let file: SweepFile = read_json(&path)?;
    check_format(&path, &file.format, file.version)?;
    Ok(file)
}

fn check_format(path: &Path, format: &str, version: u32) -> Result<(), BenchError> {
    if format != FORMAT || version != VERSION {
        return Err(BenchError::Merge(format!(
            "{}: a {format:?} file of version {version}, expected {FORMAT:?} version {VERSION}",
            path.display()
        )));
    }
    Ok(())
}

/// Combines the per-run files in `dir` into `runs.csv`, `curves.csv`,
/// `targets.csv`, `report.md` and the plots. Every run of the sweep must be
/// there, made by the same sweep; if some are not, the error says how to
/// run the first of them with `program` (such as [`OPTIM_BENCH`]).
pub fn merge(dir: &Path, program: &str) -> Result<Merged, BenchError> {
    let sweep = read_sweep_file(dir)?;
    let settings = sweep.options.resolve()?;
    let runs = plan(&settings)?;
    let (records, missing) = read_records(dir, &runs)?;
    let total = runs.len();
    if let Some(&first_missing) = missing.first() {
        let shown: Vec<String> = missing.iter().take(20).map(usize::to_string).collect();
        let more = if missing.len() > shown.len() {
            ", …"
        } else {
            ""
        };
        return Err(BenchError::Merge(format!(
            "{} of {} runs have no file in {}: jobs {}{more}; run each with --job K, e.g.\n  {}",
            missing.len(),
            total,
            dir.join(RUNS_DIR).display(),
            shown.join(", "),
            command(&sweep.options, first_missing, dir, None, program)
        )));
    }
    let refs: Vec<&RunRecord> = records.iter().collect();
    let mut outputs = vec![
        ("runs.csv".to_string(), csv::runs(&refs)),
        ("curves.csv".to_string(), csv::curves(&refs)),
        ("targets.csv".to_string(), csv::targets(&refs, &settings)),
    ];
    let sections: Vec<report::Section> = selected(&settings)?
        .into_iter()
        .map(|e| e.section(&settings, &of(e, &records)))
        .collect();
    let diverged = records.iter().filter(|r| r.diverged_at.is_some()).count();
    let last = |r: &RunRecord| r.checkpoints.iter().rev().find_map(|c| c.metrics.clone());
    let train_seconds: f64 = records
        .iter()
        .filter_map(last)
        .map(|m| m.train_seconds)
        .sum();
    let summary = summary(&sweep, records.len(), diverged, train_seconds);
    outputs.push((
        "report.md".into(),
        report::document(&settings, &summary, &sections),
    ));
    for s in sections {
        outputs.extend(s.files.into_iter().map(|f| (f.name, f.contents)));
    }
    for (name, contents) in &outputs {
        let path = dir.join(name);
        fs::write(&path, contents).map_err(|e| BenchError::io(&path, e))?;
    }
    Ok(Merged {
        dir: dir.to_path_buf(),
        runs: records.len(),
        diverged,
        train_seconds,
        files: outputs.into_iter().map(|(name, _)| name).collect(),
    })
}

/// The report's opening: the command, the runs and the data.
fn summary(sweep: &SweepFile, runs: usize, diverged: usize, train_seconds: f64) -> String {
    let data = match &sweep.data {
        Some(d) => format!(
            "{} training and {} test examples from `{}`",
            d.train,
            d.test,
            d.dir.display()
        ),
        None => "no dataset (no training runs)".into(),
    };
    format!(
        "`cargo run --release --example optim_bench -- {}`{}: {runs} runs ({diverged} \
         diverged) on {data}; {} s of training in all (evaluations excluded, summed over runs).",
        shell_words(&sweep.options.to_args()),
        if sweep.options.quick {
            " (the quick subset)"
        } else {
            ""
        },
        report::num(train_seconds)
    )
}

#[cfg(test)]
mod tests {
    use super::shell_words;

    #[test]
    fn shell_words_read_back_as_the_same_arguments() {
        let args = [
            "--only",
            "sgd,adam",
            "--out",
            "/tmp/a b'c",
            "adam(lr=1e-3)",
            "",
        ];
        let line = shell_words(&args);
        assert_eq!(shlex::split(&line).unwrap(), args);
        assert!(line.starts_with("--only 'sgd,adam' --out "), "{line}");
    }
}
