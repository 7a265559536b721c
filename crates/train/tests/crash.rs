//! Nothing is lost when a run dies while it saves: killed with SIGKILL at
//! random moments, or failing on a full disk, the checkpoint directory
//! always holds a complete checkpoint (the old one or the new one), and
//! resuming from it ends with the weights of a run that was never
//! interrupted.
//!
//! The killed runs are child processes: this test binary started again with
//! `--ignored --exact training_child` and the checkpoint directory in
//! `GRADLAB_CRASH_DIR`.

mod common;

use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{save_in, temp_dir, weights};
use gradlab_data::Dataset;
use gradlab_train::checkpoint::FileWriter;
use gradlab_train::{Checkpoint, Checkpoints, TrainConfig, TrainError, Trainer};
use rand::{Rng, SeedableRng};

const DIR_ENV: &str = "GRADLAB_CRASH_DIR";

/// `n` random 28×28 images with labels 0–9, from `seed`.
fn synthetic(n: usize, seed: u64) -> Dataset {
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let images = (0..n * 784).map(|_| r.random::<u8>()).collect();
    let labels = (0..n).map(|_| r.random_range(0..10u8)).collect();
    Dataset::new(images, labels, 28, 28).unwrap()
}

fn data() -> (Dataset, Dataset) {
    (synthetic(64, 1), synthetic(32, 2))
}

/// A run that spends most of its time saving: two steps per epoch, a
/// checkpoint of about 1.2 MB after each.
fn config() -> TrainConfig {
    TrainConfig {
        hidden: vec![128],
        optimizer: "adam(lr=1e-3,schedule=cosine)".into(),
        batch_size: 32,
        epochs: 150,
        seed: 5,
        ..TrainConfig::default()
    }
}

/// The run in `dir`, resumed if it has a checkpoint.
fn start_or_resume(dir: &Path) -> Trainer {
    let (train, test) = data();
    match Checkpoint::latest(dir) {
        Ok(saved) => saved.resume(train, test, None).unwrap(),
        Err(_) => Trainer::new(config(), train, test).unwrap(),
    }
}

/// The weights of the whole run, never interrupted.
fn uninterrupted() -> Vec<u32> {
    let (train, test) = data();
    let mut t = Trainer::new(config(), train, test).unwrap();
    t.fit(&Default::default(), &mut |_| {}).unwrap();
    weights(&t)
}

#[test]
#[ignore = "the child process of sigkill_during_saves_loses_nothing"]
fn training_child() {
    let Some(dir) = std::env::var_os(DIR_ENV) else {
        return;
    };
    let dir = Path::new(&dir);
    let mut t = start_or_resume(dir);
    println!("ready");
    io::stdout().flush().unwrap();
    t.fit(&save_in(dir), &mut |_| {}).unwrap();
}

/// What a kill left: whether a save was under way (a partial checkpoint, or
/// two complete ones), and how many complete checkpoints there are.
fn after_kill(dir: &Path) -> (bool, usize) {
    let names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    let complete = names.iter().filter(|n| n.starts_with("step-")).count();
    let partial = names
        .iter()
        .any(|n| n.starts_with(".partial-") || n.starts_with(".stale-"));
    (partial || complete > 1, complete)
}

#[test]
fn sigkill_during_saves_loses_nothing() {
    let dir = temp_dir("sigkill");
    let want = uninterrupted();
    let total = config().epochs as u64 * 2;
    let spawn = || {
        Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "training_child", "--nocapture"])
            .args(["--test-threads", "1"])
            .env(DIR_ENV, &dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let (mut kills, mut during_saves, mut steps) = (0, 0, 0u64);
    while during_saves < 30 {
        assert!(
            kills < 600,
            "only {during_saves} of {kills} kills fell during a save"
        );
        let mut child = spawn();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while !line.trim_end().ends_with("ready") {
            line.clear();
            assert!(out.read_line(&mut line).unwrap() > 0, "the child died");
        }
        std::thread::sleep(Duration::from_micros(rng.random_range(0..20_000)));
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        let (saving, complete) = after_kill(&dir);
        during_saves += usize::from(saving);
        if complete == 0 {
            assert_eq!(steps, 0, "after kill {kills} no checkpoint is left");
            continue;
        }
        // Whatever the kill interrupted, the newest checkpoint loads whole
        // and is the old one or a newer one.
        let saved = Checkpoint::latest(&dir).unwrap();
        let (train, test) = data();
        saved.resume(train, test, None).unwrap();
        assert!(
            saved.steps_done() >= steps,
            "kill {kills} went back in time"
        );
        steps = saved.steps_done();
        assert!(
            steps < total,
            "the run ended before 30 kills fell during saves"
        );
    }
    let status = spawn().wait().unwrap();
    assert!(status.success());
    let done = start_or_resume(&dir);
    assert_eq!(done.steps_done(), total);
    assert!(
        weights(&done) == want,
        "the run killed {kills} times ended with other weights"
    );
    eprintln!("{kills} kills, {during_saves} during a save");
}

/// A disk that fills up after `budget` more bytes: a write past it stores
/// what fits and fails with "no space left on device".
struct FullDisk {
    budget: usize,
}

impl FileWriter for FullDisk {
    fn write_file(&mut self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let n = bytes.len().min(self.budget);
        self.budget -= n;
        let mut f = std::fs::File::create(path)?;
        f.write_all(&bytes[..n])?;
        if n < bytes.len() {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "no space left on device",
            ));
        }
        f.sync_all()
    }
}

#[test]
fn a_full_disk_during_a_save_loses_nothing() {
    let dir = temp_dir("fulldisk");
    let want = uninterrupted();
    let (train, test) = data();
    let mut t = Trainer::new(config(), train.clone(), test.clone()).unwrap();
    t.train_epoch(&mut |_| {}).unwrap();
    let checkpoints = Checkpoints::open(&dir).unwrap();
    let first = checkpoints.save(&t).unwrap();
    let hashes = common::checkpoint_hashes(&dir);
    t.train_epoch(&mut |_| {}).unwrap();
    // The size of the second save, and 40 ways for the disk to fill during
    // it: at its first byte, inside each file, between files, at its last.
    let size: usize = std::fs::read_dir(&first)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len() as usize)
        .sum();
    for i in 0..40 {
        let budget = i * size / 40 + i % 3;
        let err = checkpoints
            .save_with(&t, &mut FullDisk { budget })
            .unwrap_err();
        assert!(
            matches!(&err, TrainError::Io { source, .. } if source.kind() == io::ErrorKind::StorageFull),
            "budget {budget}: {err}"
        );
        assert!(err.to_string().contains("no space left"), "{err}");
        assert_eq!(Checkpoint::latest(&dir).unwrap().path(), first);
        assert_eq!(common::checkpoint_hashes(&dir), hashes, "budget {budget}");
        assert_eq!(after_kill(&dir), (false, 1), "budget {budget}: leftovers");
    }
    // The run dies (and its lock with it); started again, it resumes from
    // the first checkpoint.
    drop(t);
    drop(checkpoints);
    let mut resumed = Checkpoint::latest(&dir)
        .unwrap()
        .resume(train, test, None)
        .unwrap();
    assert_eq!(resumed.steps_done(), 2);
    resumed.fit(&save_in(&dir), &mut |_| {}).unwrap();
    assert!(weights(&resumed) == want);
}
