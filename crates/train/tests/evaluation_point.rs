//! A rule that is evaluated elsewhere than where it takes its gradients
//! (Schedule-Free: gradients at y, the model is x): the trainer evaluates,
//! saves and resumes it at the right points.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{data, save_in, small, temp_dir, weights};
use gradlab_autodiff::ParamStore;
use gradlab_layers::load_weights;
use gradlab_train::{Checkpoint, Event, FitOptions, FromTape, TrainError, Trainer};

const SPEC: &str = "schedule_free_adamw(lr=0.003,warmup=5)";

fn bits(params: &ParamStore) -> Vec<u32> {
    params
        .iter()
        .flat_map(|(_, _, v)| v.data().iter().map(|x| x.to_bits()))
        .collect()
}

#[test]
fn the_trainer_evaluates_and_saves_x() {
    let (train, test) = data(300);
    let dir = temp_dir("schedule-free-x");
    let mut t = Trainer::new(small(640, 1, SPEC), train.clone(), test.clone()).unwrap();
    let metrics = t.fit(&save_in(&dir), &mut |_| {}).unwrap();
    let x = t.optimizer.evaluation_params(&t.model.params).unwrap();
    assert_ne!(bits(&x), bits(&t.model.params), "x and y coincide");

    // The reported test loss is the loss at x: a trainer with a rule that
    // evaluates at its parameters, given x as its weights, reports the same
    // numbers, and given y it does not.
    let at = |params: &ParamStore| {
        let mut plain = Trainer::new(small(640, 1, "sgd"), train.clone(), test.clone()).unwrap();
        plain.model.params = params.clone();
        plain.evaluate_test()
    };
    let (at_x, at_y) = (at(&x), at(&t.model.params));
    let reported = &metrics[0];
    assert_eq!(reported.test_loss, at_x.loss);
    assert_eq!(reported.test_accuracy, at_x.accuracy);
    assert_ne!(reported.test_loss, at_y.loss);
    assert_eq!(t.evaluate_test(), at_x);

    // The checkpoint's model file holds x.
    let saved = Checkpoint::latest(&dir).unwrap();
    let mut loaded = t.model.params.clone();
    load_weights(&saved.path().join("model.safetensors"), &mut loaded).unwrap();
    assert_eq!(bits(&loaded), bits(&x));
}

#[test]
fn a_resumed_schedule_free_run_is_the_run_that_did_not_stop() {
    let (train, test) = data(100);
    let mut straight = Trainer::new(small(640, 2, SPEC), train.clone(), test.clone()).unwrap();
    let straight_metrics = straight.fit(&FitOptions::default(), &mut |_| {}).unwrap();

    let dir = temp_dir("schedule-free-resume");
    let stop = Arc::new(AtomicBool::new(false));
    let options = FitOptions {
        stop: Some(stop.clone()),
        ..save_in(&dir)
    };
    let mut t = Trainer::new(small(640, 2, SPEC), train.clone(), test.clone()).unwrap();
    let err = t
        .fit(&options, &mut |e| {
            if let Event::Step(s) = e {
                if s.step == 13 {
                    stop.store(true, Ordering::SeqCst);
                }
            }
        })
        .unwrap_err();
    assert!(
        matches!(err, TrainError::Interrupted { step: 13, .. }),
        "{err}"
    );
    let mut resumed = Checkpoint::latest(&dir)
        .unwrap()
        .resume(train, test, None)
        .unwrap();
    let metrics = resumed.fit(&save_in(&dir), &mut |_| {}).unwrap();
    assert!(weights(&resumed) == weights(&straight), "y differs");
    let x = |t: &Trainer| bits(&t.optimizer.evaluation_params(&t.model.params).unwrap());
    assert!(x(&resumed) == x(&straight), "x differs");
    let (a, b) = (metrics.last().unwrap(), straight_metrics.last().unwrap());
    assert_eq!(
        (a.test_loss, a.test_accuracy),
        (b.test_loss, b.test_accuracy)
    );
}
