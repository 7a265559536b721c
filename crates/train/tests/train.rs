//! End-to-end runs on the real MNIST files (small ones, so they are fast).

mod common;

use std::path::Path;

use common::{data, small, temp_dir, weights};
use gradlab_train::{Checkpoint, Checkpoints, FitOptions, TrainConfig, TrainError, Trainer};

/// `cargo run --example mnist -- --limit 5000 --epochs 1 --batch-size 16`.
#[test]
fn one_epoch_on_5000_examples_exceeds_90_percent() {
    let (train, test) = data(10_000);
    let config = TrainConfig {
        epochs: 1,
        limit: Some(5000),
        batch_size: 16,
        ..TrainConfig::default()
    };
    let mut t = Trainer::new(config, train, test).unwrap();
    let log = temp_dir("quick").with_extension("csv");
    let outputs = FitOptions {
        log: Some(log.clone()),
        ..FitOptions::default()
    };
    let history = t.fit(&outputs, &mut |_| {}).unwrap();
    let acc = history[0].test_accuracy.unwrap();
    assert!(acc > 0.90, "test accuracy {acc}");
    let log = std::fs::read_to_string(log).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines[0], gradlab_train::COLUMNS);
    assert_eq!(
        lines.len(),
        1 + 313 + 1,
        "header, one row per step, one per epoch"
    );
    assert!(lines[1].starts_with("step,1,1,16,"));
    assert!(lines[314].starts_with("epoch,1,313,"));
    let columns = gradlab_train::COLUMNS.split(',').count();
    assert!(lines.iter().all(|l| l.split(',').count() == columns));
}

#[test]
fn resuming_equals_not_stopping() {
    for (i, optimizer) in [
        "adam(lr=1e-3,schedule=cosine)",
        "adam_per_example(eta0=1e-5)",
    ]
    .iter()
    .enumerate()
    {
        let dir = temp_dir(&format!("resume{i}"));
        let _ = std::fs::remove_file(dir.with_extension("csv"));
        let (train, test) = data(500);
        let mut straight =
            Trainer::new(small(1000, 2, optimizer), train.clone(), test.clone()).unwrap();
        straight.fit(&FitOptions::default(), &mut |_| {}).unwrap();

        // The same two-epoch run, stopped after its first epoch.
        let mut first =
            Trainer::new(small(1000, 2, optimizer), train.clone(), test.clone()).unwrap();
        first.train_epoch(&mut |_| {}).unwrap();
        Checkpoints::open(&dir).unwrap().save(&first).unwrap();
        drop(first);
        let mut resumed = Checkpoint::latest(&dir)
            .unwrap()
            .resume(train, test, None)
            .unwrap();
        assert_eq!(resumed.epochs_done(), 1);
        let log = dir.with_extension("csv");
        let outputs = FitOptions {
            save: Some(dir.clone()),
            log: Some(log.clone()),
            ..FitOptions::default()
        };
        resumed.fit(&outputs, &mut |_| {}).unwrap();
        assert_eq!(resumed.steps_done(), straight.steps_done());
        assert!(
            weights(&resumed) == weights(&straight),
            "{optimizer}: resumed run differs"
        );
        let log = std::fs::read_to_string(&log).unwrap();
        assert_eq!(log.lines().filter(|l| l.starts_with("epoch,2,")).count(), 1);
    }
}

#[test]
fn same_seed_same_weights_for_one_and_two_threads() {
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let (train, test) = data(200);
            let mut config = small(1500, 1, "adam(lr=1e-3)");
            config.hidden = vec![300, 200];
            config.batch_size = 256;
            config.dropout = 0.1;
            let mut t = Trainer::new(config, train, test).unwrap();
            t.fit(&FitOptions::default(), &mut |_| {}).unwrap();
            weights(&t)
        })
    };
    assert!(run(1) == run(2), "1 and 2 threads gave different weights");
}

#[test]
fn divergence_stops_with_a_clear_error_and_keeps_the_checkpoint() {
    let dir = temp_dir("diverge");
    let (train, test) = data(100);
    // One good epoch and a checkpoint, then a learning rate that explodes.
    let mut t = Trainer::new(small(256, 1, "sgd(lr=0.01)"), train.clone(), test.clone()).unwrap();
    let outputs = FitOptions {
        save: Some(dir.clone()),
        ..FitOptions::default()
    };
    t.fit(&outputs, &mut |_| {}).unwrap();
    let good_dir = Checkpoint::latest(&dir).unwrap().path().to_path_buf();
    let good = std::fs::read(good_dir.join("model.safetensors")).unwrap();
    let mut t = Checkpoint::latest(&dir)
        .unwrap()
        .resume(train, test, Some(3))
        .unwrap();
    t.optimizer = gradlab_optim::Optimizer::from_spec("sgd(lr=1e30)").unwrap();
    let err = t.fit(&outputs, &mut |_| {}).unwrap_err();
    let TrainError::Diverged { step, epoch, .. } = err else {
        panic!("expected divergence, got {err}")
    };
    assert_eq!(epoch, 2);
    assert!(step > 4);
    let msg = err.to_string();
    assert!(
        msg.contains("smaller learning rate") && msg.contains(&dir.display().to_string()),
        "{msg}"
    );
    assert_eq!(Checkpoint::latest(&dir).unwrap().path(), good_dir);
    assert_eq!(
        std::fs::read(good_dir.join("model.safetensors")).unwrap(),
        good
    );
}

#[test]
fn bad_checkpoints_are_clear_errors() {
    let dir = temp_dir("badckpt");
    let (train, test) = data(100);
    let save = |d: &Path| FitOptions {
        save: Some(d.to_path_buf()),
        ..FitOptions::default()
    };
    let mut t = Trainer::new(small(256, 1, "adam"), train.clone(), test.clone()).unwrap();
    t.fit(&save(&dir), &mut |_| {}).unwrap();
    let resume = |d: &Path| {
        Checkpoint::latest(d)
            .and_then(|c| c.resume(train.clone(), test.clone(), None))
            .err()
            .map(|e| e.to_string())
    };

    let nope = dir.join("nope");
    let missing = resume(&nope).unwrap();
    assert!(
        missing.contains(&nope.display().to_string())
            && missing.contains("no such checkpoint directory"),
        "{missing}"
    );

    // Files of two different saves do not mix.
    let other = temp_dir("badckpt-other");
    let mut c = small(256, 1, "adam");
    c.seed = 4;
    let mut t2 = Trainer::new(c, train.clone(), test.clone()).unwrap();
    t2.fit(&save(&other), &mut |_| {}).unwrap();
    let (ours, theirs) = (
        Checkpoint::latest(&dir).unwrap().path().to_path_buf(),
        Checkpoint::latest(&other).unwrap().path().to_path_buf(),
    );
    std::fs::copy(
        theirs.join("model.safetensors"),
        ours.join("model.safetensors"),
    )
    .unwrap();
    let mixed = resume(&dir).unwrap();
    assert!(mixed.contains("does not belong to this state"), "{mixed}");

    // A truncated weights file.
    let bytes = std::fs::read(theirs.join("model.safetensors")).unwrap();
    std::fs::write(theirs.join("model.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    let truncated = resume(&other).unwrap();
    assert!(
        truncated.contains("model.safetensors") && truncated.contains("corrupt"),
        "{truncated}"
    );

    // A damaged state file.
    std::fs::write(theirs.join("state.json"), "{\"format\": 1").unwrap();
    let damaged = resume(&other).unwrap();
    assert!(damaged.contains("not a run state"), "{damaged}");
}

#[test]
fn bad_configs_are_errors() {
    let (train, test) = data(100);
    let mut c = small(256, 1, "adam");
    c.activation = "swish".into();
    let err = Trainer::new(c, train.clone(), test.clone())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("swish") && err.contains("relu"), "{err}");
    let err = Trainer::new(small(256, 1, "adamm(lr=1)"), train.clone(), test.clone())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("adamm") && err.contains("adam"), "{err}");
    let mut c = small(256, 1, "adam");
    c.batch_size = 0;
    assert!(matches!(
        Trainer::new(c, train.clone(), test.clone()),
        Err(TrainError::Config(_))
    ));

    // No epochs, a batch larger than the data, test images of another size:
    // typed errors, before anything is built.
    let config_error =
        |c: gradlab_train::TrainConfig, test: gradlab_data::Dataset| match Trainer::new(
            c,
            train.clone(),
            test,
        ) {
            Err(TrainError::Config(msg)) => msg,
            Err(e) => panic!("expected a config error, got {e}"),
            Ok(_) => panic!("expected a config error"),
        };
    let msg = config_error(small(256, 0, "adam"), test.clone());
    assert!(msg.contains("--epochs must be at least 1"), "{msg}");
    let mut c = small(256, 1, "adam");
    c.batch_size = 300;
    let msg = config_error(c, test.clone());
    assert!(
        msg.contains("batch size 300") && msg.contains("256 training examples (after --limit)"),
        "{msg}"
    );
    let small_images = gradlab_data::Dataset::new(vec![0; 2 * 196], vec![1, 2], 14, 14).unwrap();
    let msg = config_error(small(256, 1, "adam"), small_images);
    assert!(msg.contains("14×14") && msg.contains("28×28"), "{msg}");

    // A model beyond the memory is refused, not aborted by the allocator.
    let mut c = small(256, 1, "adam");
    c.hidden = vec![100_000_000];
    let err = Trainer::new(c, train, test).err().unwrap();
    assert!(
        matches!(
            err,
            TrainError::TooLarge {
                parameters: 79_500_000_010,
                ..
            }
        ),
        "{err}"
    );
}

/// `with_noise_scale` adds the gradient noise scale to every epoch's report
/// and changes nothing else: Adam ignores the squares, so the weights are
/// bitwise those of a run without them.
#[test]
fn noise_scale_is_reported_without_changing_training() {
    let (train, test) = data(200);
    let run = |noise: bool| {
        let mut t =
            Trainer::new(small(640, 1, "adam(lr=1e-3)"), train.clone(), test.clone()).unwrap();
        if noise {
            t = t.with_noise_scale();
        }
        let metrics = t.fit(&FitOptions::default(), &mut |_| {}).unwrap();
        (metrics[0].b_noise, weights(&t))
    };
    let (plain_noise, plain) = run(false);
    let (noise, with) = run(true);
    assert_eq!(plain_noise, None);
    let b = noise.expect("the epoch reports B_noise");
    assert!(b.is_finite() && b > 0.0, "B_noise = {b}");
    assert!(plain == with, "asking for the squares changed the weights");
}
