//! The real MNIST files shipped in `datasets/mnist` load with the known
//! sizes, labels and pixel statistics.

use std::sync::OnceLock;

use gradlab_data::{load, Batches, Mnist, Targets};
use gradlab_tensor::Tensor;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets/mnist");

/// Loaded once and shared: decompressing the training images is the slow
/// part of this suite.
fn mnist() -> &'static Mnist {
    static MNIST: OnceLock<Mnist> = OnceLock::new();
    MNIST.get_or_init(|| load(DIR).unwrap_or_else(|e| panic!("{e}")))
}

#[test]
fn sizes() {
    let m = mnist();
    assert_eq!(m.train.len(), 60_000);
    assert_eq!(m.test.len(), 10_000);
    for split in [&m.train, &m.test] {
        assert_eq!((split.rows(), split.cols()), (28, 28));
        assert_eq!(split.num_features(), 784);
    }
}

#[test]
fn first_labels() {
    let m = mnist();
    assert_eq!(
        m.train.labels().unwrap()[..10],
        [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    );
    assert_eq!(
        m.test.labels().unwrap()[..10],
        [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    );
}

#[test]
fn mean_pixels() {
    let m = mnist();
    let train = m.train.mean_pixel();
    let test = m.test.mean_pixel();
    assert!((train - 0.1307).abs() < 1e-4, "train mean pixel {train}");
    assert!((test - 0.1325).abs() < 1e-4, "test mean pixel {test}");
}

#[test]
fn every_digit_occurs() {
    let mut counts = [0usize; 10];
    for &l in mnist().train.labels().unwrap() {
        counts[l] += 1;
    }
    // MNIST's rarest training digit, 5, has 5421 examples.
    assert!(counts.iter().all(|&c| c >= 5421), "{counts:?}");
}

#[test]
fn an_epoch_of_batches_covers_the_training_set() {
    let train = &mnist().train;
    let (mut x, mut y) = (Tensor::default(), Targets::default());
    let mut pixel_sum = 0.0f64;
    let mut seen = 0;
    for batch in &Batches::new(train.len(), 1024, 1, 0, false).unwrap() {
        train.gather(batch, &mut x, &mut y);
        pixel_sum += x.data().iter().map(|&p| f64::from(p)).sum::<f64>();
        seen += y.len();
    }
    assert_eq!(seen, 60_000);
    let mean = pixel_sum / (60_000.0 * 784.0);
    assert!((mean - train.mean_pixel()).abs() < 1e-6, "{mean}");
}
