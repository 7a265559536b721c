//! Any model, any supervised data: a regression to a noise floor, classes
//! counted from the data, a model of one's own (checkpointed and resumed
//! bitwise), standardization recorded with the run, and the errors of a
//! model or data that do not fit.

mod common;

use common::temp_dir;
use gradlab_autodiff::{Activation, ParamStore};
use gradlab_data::{CharText, Dataset, Targets};
use gradlab_layers::{Gpt, GptConfig, Linear, Model};
use gradlab_tensor::{rng, Tensor};
use gradlab_train::{Checkpoint, FitOptions, Task, TrainConfig, TrainError, Trainer};

/// The noise of the synthetic regression's targets.
const NOISE: f32 = 0.1;

/// `n` examples of y = sin(2x₀) + x₁²/2 + N(0, NOISE²), x uniform in
/// [−1.5, 1.5]², with a third feature the target does not depend on.
fn regression(n: usize, seed: u64) -> Dataset {
    let mut r = rng(seed);
    let x = Tensor::uniform(&[n, 3], -1.5, 1.5, &mut r);
    let noise = Tensor::normal(&[n, 1], 0.0, NOISE, &mut r);
    let y = x
        .data()
        .chunks_exact(3)
        .zip(noise.data())
        .map(|(x, e)| (2.0 * x[0]).sin() + 0.5 * x[1] * x[1] + e)
        .collect();
    Dataset::from_tensors(x, Targets::Values(Tensor::from_vec(y, &[n, 1]))).unwrap()
}

/// `n` points around three centres, labelled by centre.
fn blobs(n: usize, seed: u64) -> Dataset {
    let mut r = rng(seed);
    let labels: Vec<usize> = (0..n).map(|i| i % 3).collect();
    let centres = [[0.0, 2.0], [-2.0, -1.0], [2.0, -1.0]];
    let noise = Tensor::normal(&[n, 2], 0.0, 0.7, &mut r);
    let x = labels
        .iter()
        .zip(noise.data().chunks_exact(2))
        .flat_map(|(&l, e)| [centres[l][0] + e[0], centres[l][1] + e[1]])
        .collect();
    Dataset::from_tensors(Tensor::from_vec(x, &[n, 2]), Targets::Classes(labels)).unwrap()
}

fn config(hidden: &[usize], epochs: usize, optimizer: &str) -> TrainConfig {
    TrainConfig {
        hidden: hidden.to_vec(),
        activation: "tanh".into(),
        optimizer: optimizer.into(),
        batch_size: 32,
        epochs,
        ..TrainConfig::default()
    }
}

#[test]
fn a_regression_reaches_the_noise_floor() {
    let c = config(&[64, 64], 40, "adam(lr=3e-3,schedule=cosine)");
    let mut t = Trainer::new(c, regression(2000, 1), regression(1000, 2)).unwrap();
    assert_eq!(t.task(), Task::Values(1));
    assert_eq!(t.model.name, "mlp 3-64-64-1");
    // The chance level of a regression is the loss of predicting 0, E[t²].
    let mean_sq = match t.train_set().targets() {
        Targets::Values(v) => v.data().iter().map(|&y| f64::from(y * y)).sum::<f64>() / 2000.0,
        _ => unreachable!(),
    };
    assert!((t.loss_limit() - 100.0 * mean_sq).abs() < 1e-9 * t.loss_limit());
    let history = t.fit(&FitOptions::default(), &mut |_| {}).unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.test_accuracy, None);
    let rmse = last.test_rmse.unwrap();
    assert!(
        (rmse * rmse - last.test_loss).abs() < 1e-12,
        "RMSE² is the mean squared error"
    );
    // The targets' own noise is 0.1: no model does much better on unseen
    // data, and a model that has learned the function comes close to it.
    assert!(
        rmse > 0.09 && rmse < 0.13,
        "test RMSE {rmse} against noise {NOISE}"
    );
    // A model that predicts the mean does far worse.
    assert!(history[0].test_rmse.unwrap() > rmse);
}

#[test]
fn the_number_of_classes_comes_from_the_data() {
    let mut t = Trainer::new(
        config(&[16], 5, "adam(lr=1e-2)"),
        blobs(600, 3),
        blobs(300, 4),
    )
    .unwrap();
    assert_eq!(t.task(), Task::Classes(3));
    assert_eq!(t.model.name, "mlp 2-16-3");
    assert!((t.loss_limit() - 100.0 * 3f64.ln()).abs() < 1e-12);
    let history = t.fit(&FitOptions::default(), &mut |_| {}).unwrap();
    let acc = history.last().unwrap().test_accuracy.unwrap();
    assert!(acc > 0.9, "test accuracy {acc}");
    assert_eq!(history.last().unwrap().test_rmse, None);
}

/// A residual model of one's own: x → h = tanh(x·W₀ᵀ + b₀) → h + tanh(h·W₁ᵀ
/// + b₁) → logits.
struct Residual {
    first: Linear,
    inner: Linear,
    head: Linear,
}

impl gradlab_layers::Module for Residual {
    fn forward(
        &self,
        g: &mut gradlab_autodiff::Graph,
        x: gradlab_autodiff::Var,
        mode: gradlab_layers::Mode,
    ) -> gradlab_autodiff::Var {
        let h = self.first.forward(g, x, mode);
        let f = self.inner.forward(g, h, mode);
        let h = g.add(h, f);
        self.head.forward(g, h, mode)
    }

    fn params(&self) -> Vec<gradlab_autodiff::ParamId> {
        [&self.first, &self.inner, &self.head]
            .iter()
            .flat_map(|l| l.params())
            .collect()
    }
}

fn residual(seed: u64, inputs: usize, outputs: usize) -> Model {
    let (mut params, mut r) = (ParamStore::new(), rng(seed));
    let mut layer = |name: &str, i: usize, o: usize, f: Option<Activation>| {
        let l = Linear::new(&mut params, name, i, o, true, &mut r).unwrap();
        match f {
            Some(f) => l.with_activation(f),
            None => l,
        }
    };
    let net = Residual {
        first: layer("first", inputs, 16, Some(Activation::Tanh)),
        inner: layer("inner", 16, 16, Some(Activation::Tanh)),
        head: layer("head", 16, outputs, None),
    };
    Model::new("residual 2-16-16-3", net, params)
}

#[test]
fn a_model_of_ones_own_trains_saves_and_resumes_bitwise() {
    // A constant rate: a run stopped after 2 epochs and resumed for 2 more
    // is the 4-epoch run (a cosine schedule would keep the 2-epoch length).
    let c = config(&[], 4, "adam(lr=1e-2)");
    let (train, test) = (blobs(320, 5), blobs(100, 6));
    let mut whole =
        Trainer::with_model(c.clone(), residual(7, 2, 3), train.clone(), test.clone()).unwrap();
    let history = whole.fit(&FitOptions::default(), &mut |_| {}).unwrap();
    assert!(history.last().unwrap().test_accuracy.unwrap() > 0.9);

    let dir = temp_dir("own-model");
    let two = TrainConfig { epochs: 2, ..c };
    let mut first =
        Trainer::with_model(two, residual(7, 2, 3), train.clone(), test.clone()).unwrap();
    let save = FitOptions {
        save: Some(dir.clone()),
        ..FitOptions::default()
    };
    first.fit(&save, &mut |_| {}).unwrap();
    let saved = Checkpoint::latest(&dir).unwrap();
    assert_eq!(saved.model_name(), "residual 2-16-16-3");
    let mut resumed = saved
        .resume_with(residual(99, 2, 3), train.clone(), test.clone(), Some(4))
        .unwrap();
    resumed.fit(&save, &mut |_| {}).unwrap();
    assert_eq!(common::weights(&resumed), common::weights(&whole));

    // The config's MLP is not the saved model: resume says so, and how.
    let err = saved
        .resume(train.clone(), test.clone(), None)
        .err()
        .unwrap();
    assert!(matches!(&err, TrainError::Resume { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(
            "this is a run of the model \"residual 2-16-16-3\", not of the config's MLP \
             (\"mlp 2-3\"): resume it with Checkpoint::resume_with"
        ),
        "{msg}"
    );
    // Nor is a model of another name.
    let mut other = residual(7, 2, 3);
    other.name = "residual, wider".into();
    let err = saved.resume_with(other, train, test, None).err().unwrap();
    assert!(
        matches!(&err, TrainError::Conflict { setting, .. } if setting == "the model"),
        "{err:?}"
    );
    assert!(err.to_string().contains("residual, wider"), "{err}");
}

#[test]
fn a_model_whose_output_does_not_fit_the_data_is_refused() {
    let c = config(&[], 1, "sgd");
    let err = Trainer::with_model(c.clone(), residual(1, 2, 4), blobs(64, 1), blobs(32, 2))
        .err()
        .unwrap();
    assert!(matches!(err, TrainError::Config(_)), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("maps a batch of 1 example to shape [1, 4], but a trainer needs [1, 3]")
            && msg.contains("the data has 3 classes"),
        "{msg}"
    );
    let err = Trainer::with_model(
        c.clone(),
        residual(1, 3, 3),
        regression(64, 1),
        regression(32, 2),
    )
    .err()
    .unwrap();
    assert!(
        err.to_string()
            .contains("[1, 3], but a trainer needs [1, 1]"),
        "{err}"
    );
    // A model for inputs of another width: the first layer's shape check,
    // as an error.
    let err = Trainer::with_model(c, residual(1, 2, 1), regression(64, 1), regression(32, 2))
        .err()
        .unwrap();
    assert!(matches!(err, TrainError::Config(_)), "{err:?}");
    assert!(
        err.to_string().contains(
            "the model \"residual 2-16-16-3\" cannot take the data's examples of 3 features: \
             linear: input [1, 3] and weight [16, 2] differ in the number of inputs"
        ),
        "{err}"
    );
}

#[test]
fn data_of_two_kinds_or_sizes_is_refused() {
    let c = config(&[8], 1, "sgd");
    let err = Trainer::new(c.clone(), blobs(64, 1), regression(32, 2))
        .err()
        .unwrap();
    assert!(
        err.to_string().contains(
            "the test examples have 3 features but the training examples have 2 features"
        ),
        "{err}"
    );
    let two = |n, seed| {
        let d = regression(n, seed);
        let x = Tensor::uniform(&[n, 3], 0.0, 1.0, &mut rng(seed));
        Dataset::from_tensors(x, Targets::Values(Tensor::zeros(&[n, 2]))).map(|w| (d, w))
    };
    let (one_value, two_values) = two(32, 3).unwrap();
    let err = Trainer::new(c.clone(), one_value.clone(), two_values)
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("the training targets have 1 values each but the test targets 2"),
        "{err}"
    );
    let classes =
        Dataset::from_tensors(Tensor::zeros(&[32, 3]), Targets::Classes(vec![0; 32])).unwrap();
    let err = Trainer::new(c, one_value, classes).err().unwrap();
    assert!(err.to_string().contains("targets of two kinds"), "{err}");
}

#[test]
fn standardization_is_computed_on_the_training_set_and_saved() {
    let mut c = config(&[8], 2, "adam");
    c.standardize = true;
    let (train, test) = (regression(256, 8), regression(64, 9));
    let s = train.standardization();
    let dir = temp_dir("standardized");
    let mut t = Trainer::new(c.clone(), train.clone(), test.clone()).unwrap();
    assert_eq!(t.train_set().standardized(), Some(&s));
    assert_eq!(
        t.test_set().standardized(),
        Some(&s),
        "the test set takes the training set's"
    );
    let one = TrainConfig {
        epochs: 1,
        ..c.clone()
    };
    let mut first = Trainer::new(one, train.clone(), test.clone()).unwrap();
    let save = FitOptions {
        save: Some(dir.clone()),
        ..FitOptions::default()
    };
    first.fit(&save, &mut |_| {}).unwrap();
    let saved = Checkpoint::latest(&dir).unwrap();
    let json = std::fs::read_to_string(saved.path().join("state.json")).unwrap();
    assert!(json.contains("\"standardization\""), "{json}");
    let state: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mean: Vec<f32> = serde_json::from_value(state["standardization"][0].clone()).unwrap();
    assert_eq!(mean, s.mean);
    assert_eq!(saved.standardization(), Some(s.clone()));
    let mut resumed = saved.resume(train, test.clone(), Some(2)).unwrap();
    resumed.fit(&save, &mut |_| {}).unwrap();
    t.fit(&FitOptions::default(), &mut |_| {}).unwrap();
    assert_eq!(common::weights(&resumed), common::weights(&t));

    // Raw data evaluated by the trainer is standardized as its training
    // data is: the same figures as its own (standardized) test set.
    let own = t.evaluate_test();
    assert_eq!(t.evaluate(&test).unwrap(), own);
    let already = test.clone().standardize(s).unwrap();
    assert_eq!(t.evaluate(&already).unwrap(), own);
    // Data of another kind or width is refused.
    let err = t.evaluate(&blobs(10, 1)).unwrap_err();
    assert!(
        err.to_string().contains(
            "cannot evaluate on data of 2 features, 3 classes with a model trained on data of 3 \
             features, 1 values"
        ),
        "{err}"
    );
}

#[test]
fn csv_columns_in_another_order_are_refused() {
    let dir = temp_dir("csv-order");
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("train.csv"), dir.join("test.csv"));
    std::fs::write(&a, "x,z,label\n1,2,0\n3,4,1\n5,6,0\n").unwrap();
    std::fs::write(&b, "z,x,label\n2,1,0\n4,3,1\n").unwrap();
    let read = |p| Dataset::from_csv(p, "label", gradlab_data::TargetKind::Classes).unwrap();
    let c = TrainConfig {
        batch_size: 2,
        ..config(&[4], 1, "sgd")
    };
    let err = Trainer::new(c.clone(), read(&a), read(&b)).err().unwrap();
    assert!(
        err.to_string()
            .contains("feature 1 is \"x\" in the training data but \"z\" in the test data"),
        "{err}"
    );
    assert!(Trainer::new(c, read(&a), read(&a)).is_ok());
}

/// A text whose next character follows from the last two: "abcab cabca …"
/// with a period every 7 characters.
fn text() -> CharText {
    let s: String = (0..3000)
        .map(|i| {
            if i % 7 == 6 {
                '.'
            } else {
                ['a', 'b', 'c'][i % 3]
            }
        })
        .collect();
    CharText::new(&s).unwrap()
}

fn tiny_gpt(vocab: usize, seed: u64) -> Model {
    let config = GptConfig {
        vocab,
        context: 16,
        layers: 1,
        heads: 2,
        width: 16,
    };
    Model::from(Gpt::new(config, seed).unwrap())
}

#[test]
fn a_gpt_learns_a_text_position_by_position_and_resumes_bitwise() {
    let t = text();
    let (train_ids, val_ids) = t.split(0.1, 16).unwrap();
    let train = t.sequences(train_ids, 16).unwrap();
    let val = t.sequences(val_ids, 16).unwrap();
    let c = TrainConfig {
        batch_size: 16,
        epochs: 10,
        optimizer: "adamw(lr=1e-2)".into(),
        ..TrainConfig::default()
    };
    let mut whole =
        Trainer::with_model(c.clone(), tiny_gpt(4, 1), train.clone(), val.clone()).unwrap();
    assert_eq!(
        whole.task(),
        Task::Sequences {
            classes: 4,
            positions: 16
        }
    );
    assert_eq!(whole.task().to_string(), "4 classes at 16 positions");
    assert!((whole.loss_limit() - 100.0 * 4f64.ln()).abs() < 1e-9);
    let history = whole.fit(&FitOptions::default(), &mut |_| {}).unwrap();
    // Every character but the first of a window follows from the ones
    // before: the accuracy is over every position.
    let last = history.last().unwrap();
    assert!(last.test_accuracy.unwrap() > 0.85, "{last:?}");
    assert!(last.test_loss < 0.35, "{last:?}");
    let eval = whole.evaluate(&val).unwrap();
    assert_eq!(
        (eval.loss, eval.accuracy),
        (last.test_loss, last.test_accuracy)
    );

    let dir = temp_dir("gpt");
    let save = FitOptions {
        save: Some(dir.clone()),
        ..FitOptions::default()
    };
    let two = TrainConfig { epochs: 4, ..c };
    let mut first = Trainer::with_model(two, tiny_gpt(4, 1), train.clone(), val.clone()).unwrap();
    first.fit(&save, &mut |_| {}).unwrap();
    let saved = Checkpoint::latest(&dir).unwrap();
    let mut resumed = saved
        .resume_with(tiny_gpt(4, 7), train.clone(), val.clone(), Some(10))
        .unwrap();
    resumed.fit(&save, &mut |_| {}).unwrap();
    assert_eq!(common::weights(&resumed), common::weights(&whole));
    // The labels are part of the data's identity: other targets, same
    // features, are another run's data.
    let mut shifted = train.labels().unwrap().to_vec();
    shifted.rotate_left(1);
    let x = Tensor::from_vec(
        (0..train.len())
            .flat_map(|i| {
                let mut row = Tensor::default();
                train.gather(&[i], &mut row, &mut Targets::default());
                row.into_vec()
            })
            .collect(),
        &[train.len(), 16],
    );
    let other = Dataset::from_tensors(
        x,
        Targets::Sequences {
            labels: shifted,
            positions: 16,
        },
    )
    .unwrap()
    .with_classes(4)
    .unwrap();
    let err = saved
        .resume_with(tiny_gpt(4, 7), other, val, None)
        .err()
        .unwrap();
    assert!(err.to_string().contains("training data"), "{err}");
}

#[test]
fn sequences_beside_single_labels_or_of_another_length_are_refused() {
    let t = text();
    let seq = |n| t.sequences(t.ids(), n).unwrap();
    let labels = Targets::Classes(vec![0; 10]);
    let single = Dataset::from_tensors(Tensor::zeros(&[10, 16]), labels).unwrap();
    let err = Trainer::with_model(TrainConfig::default(), tiny_gpt(4, 0), seq(16), single)
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "the training examples have a label at each of 16 positions but the test examples one \
         target"
    );
    let eight = Targets::Sequences {
        labels: vec![0; 80],
        positions: 8,
    };
    let eight = Dataset::from_tensors(Tensor::zeros(&[10, 16]), eight).unwrap();
    let err = Trainer::with_model(TrainConfig::default(), tiny_gpt(4, 0), seq(16), eight)
        .err()
        .unwrap();
    assert!(err.to_string().contains("each of 8 positions"), "{err}");
    // A model whose vocabulary is not the text's.
    let err = Trainer::with_model(TrainConfig::default(), tiny_gpt(5, 0), seq(16), seq(16))
        .err()
        .unwrap();
    assert!(
        err.to_string().contains(
            "[1, 16, 4] (one logit per class at each position: the data has 4 classes at 16 \
             positions)"
        ),
        "{err}"
    );
}

#[test]
fn a_private_gpt_clips_each_sequence_and_spends_epsilon() {
    let t = text();
    let data = t.sequences(t.ids(), 16).unwrap();
    let c = TrainConfig {
        batch_size: 32,
        epochs: 2,
        optimizer: "adamw(lr=1e-2)".into(),
        privacy: Some(gradlab_train::Privacy {
            max_norm: 1.0,
            noise_multiplier: 1.0,
            delta: 1e-5,
            per_tensor: false,
            poisson: true,
        }),
        ..TrainConfig::default()
    };
    let mut private = Trainer::with_model(c, tiny_gpt(4, 1), data.clone(), data.limit(20)).unwrap();
    let history = private.fit(&FitOptions::default(), &mut |_| {}).unwrap();
    let eps = history.last().unwrap().epsilon.unwrap();
    assert!(eps.is_finite() && eps > 0.0);
    // The trained model is better than chance (ln 4) despite the noise.
    assert!(history.last().unwrap().test_loss < 4f64.ln(), "{history:?}");
}
