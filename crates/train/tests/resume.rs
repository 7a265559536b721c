//! Honest resumes: a resumed run is the saved run, continued bit for bit; a
//! change of schedule length, data or state is refused or follows a written
//! rule; stopping mid-epoch loses nothing.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{checkpoint_hashes, data, save_in, saved_run, small, temp_dir, weights};
use gradlab_train::{Checkpoint, Checkpoints, Event, FitOptions, TrainError, Trainer};

/// The learning rate of every step of `t`'s remaining run.
fn fit_with_rates(t: &mut Trainer, options: &FitOptions) -> Vec<f32> {
    let mut rates = Vec::new();
    t.fit(options, &mut |e| {
        if let Event::Step(s) = e {
            rates.push(s.lr);
        }
    })
    .unwrap();
    rates
}

#[test]
fn extending_a_run_continues_its_saved_schedule() {
    let (train, test) = data(200);
    // 640 examples in batches of 64: 10 steps per epoch, T = 20.
    for (spec, same_as_straight) in [
        ("adam(lr=1e-3,schedule=cosine)", false),
        ("sgd_momentum(lr=0.05)", true),
    ] {
        let dir = temp_dir(&format!("extend-{}", spec.len()));
        let mut first = Trainer::new(small(640, 2, spec), train.clone(), test.clone()).unwrap();
        let first_rates = fit_with_rates(&mut first, &save_in(&dir));
        assert_eq!(first.schedule_steps(), 20);
        let after_two = weights(&first);

        let mut extended = Checkpoint::latest(&dir)
            .unwrap()
            .resume(train.clone(), test.clone(), Some(4))
            .unwrap();
        assert_eq!(
            extended.schedule_steps(),
            20,
            "{spec}: the schedule keeps T"
        );
        let more_rates = fit_with_rates(&mut extended, &save_in(&dir));
        assert_eq!(extended.epochs_done(), 4);
        assert_eq!(more_rates.len(), 20);

        let mut straight = Trainer::new(small(640, 4, spec), train.clone(), test.clone()).unwrap();
        let straight_rates = fit_with_rates(&mut straight, &FitOptions::default());
        if same_as_straight {
            // A constant schedule does not depend on the run length: 2 + 2
            // epochs are 4 epochs.
            assert_eq!([first_rates, more_rates].concat(), straight_rates);
            assert!(weights(&extended) == weights(&straight), "{spec}");
        } else {
            // Cosine: no jump back up after step T; the rate stays at its
            // final value 0, so the extra epochs leave the weights alone.
            assert!(first_rates[19] > 0.0 && first_rates[19] < 1e-5);
            assert!(more_rates.iter().all(|&r| r == 0.0), "{more_rates:?}");
            assert!(weights(&extended) == after_two, "{spec}");
            assert!(
                straight_rates[20] > 1e-4,
                "a 4-epoch run has its own schedule"
            );
        }
    }
}

#[test]
fn stopping_mid_epoch_and_resuming_equals_not_stopping() {
    let (train, test) = data(300);
    let spec = "adam_per_example(eta0=1e-5)";
    let mut straight = Trainer::new(small(1000, 2, spec), train.clone(), test.clone()).unwrap();
    let straight_metrics = straight.fit(&FitOptions::default(), &mut |_| {}).unwrap();

    // Ctrl-C during step 5 of epoch 2 (each epoch has 16 steps).
    let dir = temp_dir("midepoch");
    let stop = Arc::new(AtomicBool::new(false));
    let options = FitOptions {
        stop: Some(stop.clone()),
        ..save_in(&dir)
    };
    let mut t = Trainer::new(small(1000, 2, spec), train.clone(), test.clone()).unwrap();
    let err = t
        .fit(&options, &mut |e| {
            if let Event::Step(s) = e {
                if s.step == 21 {
                    stop.store(true, Ordering::SeqCst);
                }
            }
        })
        .unwrap_err();
    let TrainError::Interrupted { step, epoch, saved } = &err else {
        panic!("expected an interrupt, got {err}");
    };
    assert_eq!((*step, *epoch), (21, 2));
    assert_eq!(saved.as_deref(), Some(dir.as_path()));
    assert!(err.to_string().contains("ready to resume"), "{err}");

    let saved = Checkpoint::latest(&dir).unwrap();
    assert_eq!(saved.steps_done(), 21);
    let mut resumed = saved.resume(train, test, None).unwrap();
    assert_eq!(resumed.epochs_done(), 1);
    let metrics = resumed.fit(&save_in(&dir), &mut |_| {}).unwrap();
    assert!(
        weights(&resumed) == weights(&straight),
        "resumed run differs"
    );
    // The epoch cut in two reports what the uncut one did.
    let (a, b) = (&metrics[0], &straight_metrics[1]);
    assert_eq!(
        (a.epoch, a.steps, a.train_loss, a.test_loss, a.b_noise),
        (b.epoch, b.steps, b.train_loss, b.test_loss, b.b_noise)
    );
}

#[test]
fn stopping_before_what_is_done_is_an_error() {
    let (train, test) = data(100);
    let dir = saved_run("shorten", 2);
    let err = Checkpoint::latest(&dir)
        .unwrap()
        .resume(train, test, Some(1))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("has completed 2 epochs already"), "{err}");
}

#[test]
fn resuming_on_other_data_is_an_error() {
    let (train, test) = data(100);
    let dir = saved_run("otherdata", 1);
    let saved = Checkpoint::latest(&dir).unwrap();
    let other_test = common::mnist().test.clone().limit(101);
    let err = saved.resume(train.clone(), other_test, None).err().unwrap();
    let TrainError::Conflict { setting, .. } = &err else {
        panic!("expected a conflict, got {err}");
    };
    assert_eq!(setting, "the test data");
    let msg = err.to_string();
    assert!(
        msg.contains("101 examples of 28×28") && msg.contains("100 examples of 28×28"),
        "{msg}"
    );
    // The same first examples in another order are other data too.
    let mut pixels = train.images().unwrap().to_vec();
    pixels.swap(0, 784);
    let mut labels: Vec<u8> = train.labels().unwrap().iter().map(|&l| l as u8).collect();
    labels.swap(0, 1);
    let swapped = gradlab_data::Dataset::new(pixels, labels, 28, 28).unwrap();
    let err = saved.resume(swapped, test, None).err().unwrap().to_string();
    assert!(err.starts_with("the training data"), "{err}");
}

#[test]
fn an_edited_state_is_refused() {
    let (train, test) = data(100);
    let dir = saved_run("edited", 2);
    let state = Checkpoint::latest(&dir).unwrap().path().join("state.json");
    let original = std::fs::read_to_string(&state).unwrap();
    for (from, to) in [
        ("\"steps_done\": 8", "\"steps_done\": 4"),
        ("\"seed\": 3", "\"seed\": 4"),
        ("\"epochs\": 2", "\"epochs\": 3"),
        ("\"batch_size\": 64", "\"batch_size\": 32"),
    ] {
        assert!(original.contains(from), "{from} in {original}");
        std::fs::write(&state, original.replacen(from, to, 1)).unwrap();
        let err = Checkpoint::latest(&dir).err().unwrap().to_string();
        assert!(
            err.contains("state.json") && err.contains("edited or damaged"),
            "{from} → {to}: {err}"
        );
    }
    // Whitespace is not content.
    std::fs::write(&state, original.replace("  ", "    ")).unwrap();
    Checkpoint::latest(&dir)
        .unwrap()
        .resume(train, test, None)
        .unwrap();
}

#[test]
fn a_new_run_never_overwrites_a_checkpoint() {
    let (train, test) = data(100);
    let dir = saved_run("overwrite", 1);
    let before = checkpoint_hashes(&dir);
    // Another run, and the same run started over: both would replace it.
    for seed in [4, 3] {
        let mut c = small(256, 1, "adam");
        c.seed = seed;
        let mut t = Trainer::new(c, train.clone(), test.clone()).unwrap();
        let mut steps = 0;
        let err = t
            .fit(&save_in(&dir), &mut |_| steps += 1)
            .err()
            .unwrap()
            .to_string();
        assert_eq!(steps, 0, "refused before training");
        let want = if seed == 4 {
            "another run"
        } else {
            "a later checkpoint"
        };
        assert!(err.contains(want), "seed {seed}: {err}");
    }
    assert_eq!(checkpoint_hashes(&dir), before);
}

#[test]
fn an_unwritable_checkpoint_directory_fails_before_training() {
    let (train, test) = data(100);
    let file = temp_dir("unwritable");
    std::fs::write(&file, b"a file, not a directory").unwrap();
    let mut t = Trainer::new(small(256, 1, "adam"), train, test).unwrap();
    let mut events = 0;
    let err = t
        .fit(&save_in(&file.join("ckpt")), &mut |_| events += 1)
        .err()
        .unwrap();
    assert!(matches!(err, TrainError::Io { .. }), "{err}");
    assert!(err.to_string().contains("ckpt"), "{err}");
    assert_eq!(events, 0);
}

#[test]
fn the_log_of_a_resumed_run_reads_as_if_it_never_stopped() {
    let (train, test) = data(100);
    let strip = |log: &str| -> Vec<String> {
        // Without the examples/s column, the only one that is timed.
        log.lines()
            .map(|l| {
                let mut cols: Vec<&str> = l.split(',').collect();
                cols.remove(8);
                cols.join(",")
            })
            .collect()
    };
    let straight_log = temp_dir("log-straight").with_extension("csv");
    let _ = std::fs::remove_file(&straight_log);
    let mut t = Trainer::new(small(256, 2, "adam"), train.clone(), test.clone()).unwrap();
    let options = FitOptions {
        log: Some(straight_log.clone()),
        ..FitOptions::default()
    };
    t.fit(&options, &mut |_| {}).unwrap();

    let dir = temp_dir("log-resumed");
    let log = dir.with_extension("csv");
    let _ = std::fs::remove_file(&log);
    let options = FitOptions {
        log: Some(log.clone()),
        ..save_in(&dir)
    };
    let mut first = Trainer::new(small(256, 1, "adam"), train.clone(), test.clone()).unwrap();
    first.fit(&options, &mut |_| {}).unwrap();
    // A run killed in its second epoch: rows after the checkpoint, and a
    // row cut short.
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str("step,2,5,64,1e-3,2.1,,,,\nstep,2,6,64,1e-3,2.0,,,,\nstep,2,7,6");
    std::fs::write(&log, text).unwrap();
    let mut resumed = Checkpoint::latest(&dir)
        .unwrap()
        .resume(train, test, Some(2))
        .unwrap();
    resumed.fit(&options, &mut |_| {}).unwrap();
    let (a, b) = (
        std::fs::read_to_string(&log).unwrap(),
        std::fs::read_to_string(&straight_log).unwrap(),
    );
    assert_eq!(strip(&a), strip(&b));
}

#[test]
fn bad_logs_are_clear_errors() {
    let (train, test) = data(100);
    let missing = temp_dir("log-missing").join("folder").join("log.csv");
    let mut t = Trainer::new(small(256, 1, "adam"), train.clone(), test.clone()).unwrap();
    let options = |p: &std::path::Path| FitOptions {
        log: Some(p.to_path_buf()),
        ..FitOptions::default()
    };
    let err = t
        .fit(&options(&missing), &mut |_| {})
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("log.csv") && err.contains("the folder") && err.contains("does not exist"),
        "{err}"
    );
    let existing = temp_dir("log-existing").with_extension("csv");
    std::fs::write(&existing, "some other file\n").unwrap();
    let err = t
        .fit(&options(&existing), &mut |_| {})
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("the file exists"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&existing).unwrap(),
        "some other file\n"
    );
}

/// `sgd(lr=30)` and `rmsprop(lr=10)` blow the weights up with every loss
/// finite for a while; `adam(eps=0)` divides 0 by 0. Each stops the run
/// with an error naming step, epoch and loss, and the last good checkpoint
/// stays byte for byte.
#[test]
fn divergence_stops_the_run_and_keeps_the_last_good_checkpoint() {
    let (train, test) = data(100);
    for (spec, hint) in [
        ("sgd(lr=30)", "smaller learning rate"),
        ("rmsprop(lr=10)", "smaller learning rate"),
        ("adam(eps=0)", "eps=0"),
    ] {
        let dir = temp_dir(&format!("diverge-{}", &spec[..3]));
        let mut t = Trainer::new(small(256, 1, "adam"), train.clone(), test.clone()).unwrap();
        t.fit(&save_in(&dir), &mut |_| {}).unwrap();
        let good = checkpoint_hashes(&dir);
        let good_dir = Checkpoint::latest(&dir).unwrap().path().to_path_buf();
        let mut t = Checkpoint::latest(&dir)
            .unwrap()
            .resume(train.clone(), test.clone(), Some(3))
            .unwrap();
        t.optimizer = gradlab_optim::Optimizer::from_spec(spec).unwrap();
        let err = t.fit(&save_in(&dir), &mut |_| {}).unwrap_err();
        let TrainError::Diverged {
            step, epoch, loss, ..
        } = &err
        else {
            panic!("{spec}: expected divergence, got {err}")
        };
        assert_eq!(*epoch, 2, "{spec}");
        assert!(*step > 4, "{spec}");
        assert!(t.diverges(*loss), "{spec}: {loss}");
        let msg = err.to_string();
        assert!(
            msg.contains(hint)
                && msg.contains(&format!("step {step} (epoch 2)"))
                && msg.contains(&good_dir.display().to_string()),
            "{spec}: {msg}"
        );
        assert_eq!(checkpoint_hashes(&dir), good, "{spec}");
    }
}

#[test]
fn identical_runs_write_identical_bytes_for_any_thread_count() {
    let (train, test) = data(200);
    let run = |tag: &str, threads: usize| {
        let dir = temp_dir(tag);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut c = small(640, 2, "adam(lr=1e-3,schedule=cosine)");
            c.dropout = 0.1;
            let mut t = Trainer::new(c, train.clone(), test.clone()).unwrap();
            t.fit(&save_in(&dir), &mut |_| {}).unwrap();
        });
        checkpoint_hashes(&dir)
    };
    let a = run("bytes-a", 2);
    assert_eq!(
        a.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["model.safetensors", "optimizer.safetensors", "state.json"]
    );
    assert_eq!(a, run("bytes-b", 2), "two identical runs");
    assert_eq!(a, run("bytes-c", 1), "one thread and two");
}

#[test]
fn the_checkpoint_directory_is_cleaned_of_interrupted_saves() {
    let dir = saved_run("cleanup", 2);
    // What a kill during a save leaves: a partial checkpoint, an older one
    // being retired, and both old and new complete.
    let latest = Checkpoint::latest(&dir).unwrap().path().to_path_buf();
    for leftover in [
        ".partial-step-000000012",
        ".stale-step-000000004",
        "step-000000004",
    ] {
        std::fs::create_dir(dir.join(leftover)).unwrap();
        std::fs::write(dir.join(leftover).join("model.safetensors"), b"half").unwrap();
    }
    assert_eq!(Checkpoint::latest(&dir).unwrap().path(), latest);
    Checkpoints::open(&dir).unwrap();
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    // The lock file stays: removing it would let two runs lock two files.
    assert_eq!(left, [".lock", "step-000000008"]);
}

#[test]
fn training_in_pieces_equals_fitting_and_an_epoch_then_reports_what_it_would_have() {
    let (train, test) = data(300);
    // 1000 examples in batches of 64: 16 steps an epoch, the last of 40.
    let spec = "adam_per_example(eta0=1e-5)";
    let mut straight = Trainer::new(small(1000, 2, spec), train.clone(), test.clone()).unwrap();
    let straight_metrics = straight.fit(&FitOptions::default(), &mut |_| {}).unwrap();

    let mut pieces = Trainer::new(small(1000, 2, spec), train.clone(), test).unwrap();
    let (mut starts, mut steps, mut sizes) = (Vec::new(), Vec::new(), Vec::new());
    for until in [3, 7, 7, 16, 21] {
        pieces
            .train_until(until, None, &mut |e| match e {
                Event::EpochStart { epoch, batches } => starts.push((epoch, batches)),
                Event::Step(s) => {
                    steps.push(s.step);
                    sizes.push(s.batch_size);
                    assert!(s.seconds > 0.0 && s.noise.is_some());
                }
                Event::Epoch(_) => panic!("train_until evaluates nothing"),
            })
            .unwrap();
        assert_eq!(pieces.steps_done(), until);
    }
    assert_eq!(starts, [(1, 16), (2, 16)]);
    assert_eq!(steps, (1..=21).collect::<Vec<u64>>());
    assert_eq!(sizes[15], 1000 - 15 * 64);
    // The rest of epoch 2 through train_epoch: what fit reported for it.
    let rest = pieces.train_epoch(&mut |_| {}).unwrap();
    assert!(
        weights(&pieces) == weights(&straight),
        "the run in pieces differs"
    );
    let b = &straight_metrics[1];
    assert_eq!(
        (
            rest.epoch,
            rest.steps,
            rest.train_loss,
            rest.test_loss,
            rest.b_noise
        ),
        (b.epoch, b.steps, b.train_loss, b.test_loss, b.b_noise)
    );
}

#[test]
fn train_until_stops_before_a_step_when_asked() {
    let (train, test) = data(300);
    let mut t = Trainer::new(small(1000, 2, "sgd(lr=0.1)"), train, test).unwrap();
    let stop = AtomicBool::new(false);
    let mut steps = 0;
    let result = t.train_until(10, Some(&stop), &mut |e| {
        if let Event::Step(_) = e {
            steps += 1;
            if steps == 4 {
                stop.store(true, Ordering::SeqCst);
            }
        }
    });
    match result {
        Err(TrainError::Interrupted { step, epoch, saved }) => {
            assert_eq!((step, epoch, saved), (4, 1, None));
        }
        other => panic!("expected an interruption, got {other:?}"),
    }
    assert_eq!(t.steps_done(), 4);
}

#[test]
fn drop_last_takes_only_full_batches() {
    let (train, test) = data(300);
    let config = gradlab_train::TrainConfig {
        drop_last: true,
        ..small(1000, 2, "sgd(lr=0.1)")
    };
    let mut t = Trainer::new(config, train, test).unwrap();
    assert_eq!(t.steps_per_epoch(), 15);
    let mut sizes = Vec::new();
    t.fit(&FitOptions::default(), &mut |e| {
        if let Event::Step(s) = e {
            sizes.push(s.batch_size);
        }
    })
    .unwrap();
    assert_eq!(sizes, vec![64; 30]);
    assert_eq!((t.steps_done(), t.epochs_done()), (30, 2));
}
