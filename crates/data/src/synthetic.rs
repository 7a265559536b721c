//! Synthetic data: examples drawn from a known distribution, the same for
//! a given seed on every machine, for benchmarks and tests that need a
//! problem whose answer is known.

use gradlab_tensor::{random, Tensor};

use crate::{DataError, Dataset, Targets};

/// A synthetic regression: `features` standard normal inputs, the target a
/// fixed random teacher network's output (`tanh` hidden layer of `teacher`
/// units, scaled to unit variance) plus Gaussian noise of standard
/// deviation `noise`: `train` then `test` examples, everything drawn from
/// `seed`. No feature, teacher unit or example, or a noise that is
/// negative or not finite, is an error.
///
/// ```
/// use gradlab_data::synthetic::teacher_regression;
/// let (train, test) = teacher_regression(16, 32, 0.1, 1_000, 200, 7)?;
/// assert_eq!((train.len(), test.len(), train.num_features()), (1_000, 200, 16));
/// assert_eq!(train.target_width(), Some(1));
/// # Ok::<(), gradlab_data::DataError>(())
/// ```
pub fn teacher_regression(
    features: usize,
    teacher: usize,
    noise: f32,
    train: usize,
    test: usize,
    seed: u64,
) -> Result<(Dataset, Dataset), DataError> {
    if features == 0 || teacher == 0 || train == 0 || test == 0 {
        return Err(DataError::Synthetic(format!(
            "needs at least one feature, teacher unit, training and test example; got \
             {features}, {teacher}, {train}, {test}"
        )));
    }
    if !(noise >= 0.0 && noise.is_finite()) {
        return Err(DataError::Synthetic(format!(
            "the noise's standard deviation must be finite and at least 0, got {noise}"
        )));
    }
    let mut rng = random::rng(seed);
    // The teacher: y = a · tanh(W x), W ~ 𝒩(0, 1/features) so that each
    // unit's input has unit variance, then scaled to unit variance.
    let w = Tensor::normal(
        &[teacher, features],
        0.0,
        (features as f32).powf(-0.5),
        &mut rng,
    );
    let a = Tensor::normal(&[teacher], 0.0, 1.0, &mut rng);
    let n = train + test;
    let x = Tensor::normal(&[n, features], 0.0, 1.0, &mut rng);
    let eps = Tensor::normal(&[n], 0.0, noise, &mut rng);
    let clean: Vec<f32> = (0..n)
        .map(|i| {
            let xi = &x.data()[i * features..(i + 1) * features];
            (0..teacher)
                .map(|j| {
                    let wj = &w.data()[j * features..(j + 1) * features];
                    let z: f32 = wj.iter().zip(xi).map(|(w, x)| w * x).sum();
                    a.data()[j] * z.tanh()
                })
                .sum()
        })
        .collect();
    let var = clean.iter().map(|&y| f64::from(y).powi(2)).sum::<f64>() / n as f64;
    let scale = var.sqrt().recip() as f32;
    let y: Vec<f32> = clean
        .iter()
        .zip(eps.data())
        .map(|(&c, &e)| c * scale + e)
        .collect();
    let split = |rows: std::ops::Range<usize>| {
        let m = rows.len();
        let xs = Tensor::from_vec(
            x.data()[rows.start * features..rows.end * features].to_vec(),
            &[m, features],
        );
        let ys = Tensor::from_vec(y[rows].to_vec(), &[m, 1]);
        Dataset::from_tensors(xs, Targets::Values(ys))
    };
    Ok((split(0..train)?, split(train..n)?))
}

#[cfg(test)]
mod tests {
    use super::teacher_regression;

    /// The clean target has unit variance, so the targets' variance is
    /// 1 + noise² up to sampling; the same seed gives the same data.
    #[test]
    fn targets_have_the_stated_variance_and_follow_the_seed() {
        let (train, _) = teacher_regression(8, 16, 0.5, 20_000, 10, 3).unwrap();
        let y = train.targets().values().unwrap().data();
        let mean = y.iter().map(|&v| f64::from(v)).sum::<f64>() / y.len() as f64;
        let var = y
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / y.len() as f64;
        assert!((var - 1.25).abs() < 0.05, "variance {var}");
        let again = teacher_regression(8, 16, 0.5, 20_000, 10, 3).unwrap().0;
        assert_eq!(again.targets().values().unwrap().data(), y);
        let other = teacher_regression(8, 16, 0.5, 20_000, 10, 4).unwrap().0;
        assert_ne!(other.targets().values().unwrap().data(), y);
    }

    #[test]
    fn settings_without_data_are_errors() {
        let err = |r: Result<_, crate::DataError>| r.err().unwrap().to_string();
        assert_eq!(
            err(teacher_regression(0, 16, 0.1, 10, 10, 0)),
            "teacher_regression: needs at least one feature, teacher unit, training and test \
             example; got 0, 16, 10, 10"
        );
        assert_eq!(
            err(teacher_regression(4, 16, f32::NAN, 10, 10, 0)),
            "teacher_regression: the noise's standard deviation must be finite and at least 0, \
             got NaN"
        );
    }
}
