//! A CNN with batch normalization through the trainer: it learns, its
//! running averages are stepped once per step and saved and resumed with
//! its weights (a resumed run ends bit for bit where an unbroken one does),
//! and a private run of it is an error naming the batch norm.

mod common;

use gradlab_autodiff::{Activation, ParamStore};
use gradlab_layers::{
    Act, BatchNorm2d, Conv2d, ConvShape, Flatten, Image, Linear, Model, Pool2d, Sequential,
};
use gradlab_train::{Checkpoint, Privacy, TrainConfig, TrainError, Trainer};

/// conv 3×3 ×8 → batch norm → relu → max pool 4 → fc 10.
fn bn_cnn(seed: u64) -> Model {
    let mut rng = gradlab_tensor::rng(seed);
    let mut p = ParamStore::new();
    let mut net = Sequential::new();
    net.push(Image { shape: [1, 28, 28] });
    let shape = ConvShape {
        inputs: 1,
        outputs: 8,
        kernel: 3,
        stride: 1,
        padding: 1,
    };
    net.push(Conv2d::new(&mut p, "layers.1", shape, false, &mut rng).unwrap());
    net.push(BatchNorm2d::new(&mut p, "layers.2", 8).unwrap());
    net.push(Act(Activation::Relu));
    net.push(Pool2d::max(4, 4));
    net.push(Flatten);
    net.push(Linear::new(&mut p, "layers.6", 8 * 49, 10, true, &mut rng).unwrap());
    Model::new("bn-cnn", net, p)
}

fn config(epochs: usize) -> TrainConfig {
    TrainConfig {
        optimizer: "adam(lr=3e-3)".into(),
        batch_size: 64,
        epochs,
        seed: 1,
        limit: Some(512),
        ..TrainConfig::default()
    }
}

#[test]
fn a_batch_norm_cnn_learns_and_resumes_with_its_running_averages() {
    let (train, test) = common::data(500);
    let mut whole = Trainer::with_model(config(2), bn_cnn(0), train.clone(), test.clone()).unwrap();
    let history = whole.fit(&Default::default(), &mut |_| {}).unwrap();
    let accuracy = history.last().unwrap().test_accuracy.unwrap();
    // Chance is 10 %; after 16 steps the running averages still hold a
    // fifth of their initial 0 and 1, which evaluation reads.
    assert!(
        accuracy > 0.5,
        "test accuracy {accuracy} after 2 epochs of 512 examples"
    );
    let mean = whole.model.params.find("layers.2.running_mean").unwrap();
    assert!(
        whole
            .model
            .params
            .get(mean)
            .data()
            .iter()
            .all(|&m| m != 0.0),
        "16 steps moved every running mean"
    );

    let dir = common::temp_dir("batch-norm");
    let mut first = Trainer::with_model(config(1), bn_cnn(0), train.clone(), test.clone()).unwrap();
    first.fit(&common::save_in(&dir), &mut |_| {}).unwrap();
    let saved = Checkpoint::latest(&dir).unwrap();
    let mut resumed = saved.resume_with(bn_cnn(9), train, test, Some(2)).unwrap();
    resumed.fit(&common::save_in(&dir), &mut |_| {}).unwrap();
    assert_eq!(common::weights(&resumed), common::weights(&whole));
}

#[test]
fn a_private_run_of_a_batch_norm_cnn_names_the_batch_norm() {
    let (train, test) = common::data(100);
    let config = TrainConfig {
        optimizer: "sgd(lr=0.1)".into(),
        privacy: Some(Privacy {
            max_norm: 1.0,
            noise_multiplier: 1.0,
            delta: 1e-5,
            per_tensor: false,
            poisson: true,
        }),
        ..config(1)
    };
    let mut t = Trainer::with_model(config, bn_cnn(0), train, test).unwrap();
    let err = t.fit(&Default::default(), &mut |_| {}).unwrap_err();
    assert!(matches!(err, TrainError::Backward(_)), "{err:?}");
    assert!(
        err.to_string().contains("batch norm (batch statistics)"),
        "{err}"
    );
}
