//! [`Dataset`]'s transforms: fewer examples, a split, and standardization.

use gradlab_tensor::Tensor;
use rand::seq::SliceRandom;

use super::{Dataset, Features, Standardization, Targets};
use crate::DataError;

impl Dataset {
    /// The first `n` examples (all of them if there are fewer), for quick
    /// runs on a subset.
    pub fn limit(self, n: usize) -> Dataset {
        if n >= self.len {
            return self;
        }
        self.subset(&(0..n).collect::<Vec<_>>())
    }

    /// The examples at `indices`, in that order, with this dataset's
    /// classes and standardization.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let f = self.num_features();
        indices.iter().for_each(|&i| self.check_index(i));
        let features = match &self.features {
            Features::Bytes(b) => Features::Bytes(
                indices
                    .iter()
                    .flat_map(|&i| &b[i * f..(i + 1) * f])
                    .copied()
                    .collect(),
            ),
            Features::Floats(x) => Features::Floats(
                indices
                    .iter()
                    .flat_map(|&i| &x[i * f..(i + 1) * f])
                    .copied()
                    .collect(),
            ),
        };
        let targets = match &self.targets {
            Targets::Classes(c) => Targets::Classes(indices.iter().map(|&i| c[i]).collect()),
            Targets::Values(v) => {
                let k = v.shape()[1];
                let data = indices.iter().flat_map(|&i| v.row(i)).copied().collect();
                Targets::Values(Tensor::from_vec(data, &[indices.len(), k]))
            }
            Targets::Sequences { labels, positions } => {
                let t = *positions;
                Targets::Sequences {
                    labels: indices
                        .iter()
                        .flat_map(|&i| &labels[i * t..(i + 1) * t])
                        .copied()
                        .collect(),
                    positions: t,
                }
            }
        };
        Dataset {
            features,
            targets,
            len: indices.len(),
            ..self.clone_header()
        }
    }

    /// This dataset's sizes, classes and standardization, without examples.
    fn clone_header(&self) -> Dataset {
        Dataset {
            features: Features::Floats(Vec::new()),
            targets: Targets::default(),
            classes: self.classes,
            len: 0,
            rows: self.rows,
            cols: self.cols,
            names: self.names.clone(),
            standardization: self.standardization.clone(),
        }
    }

    /// Splits the examples into a training and a test set: a seeded shuffle,
    /// then the first ⌈(1 − test_fraction)·n⌉ examples for training. Both
    /// keep this dataset's number of classes. A fraction outside (0, 1), or
    /// one that leaves either set empty, is an error.
    pub fn split(&self, test_fraction: f64, seed: u64) -> Result<(Dataset, Dataset), DataError> {
        let test = (test_fraction * self.len as f64).floor() as usize;
        if !(test_fraction > 0.0 && test_fraction < 1.0) || test == 0 || test == self.len {
            return Err(DataError::Split {
                fraction: test_fraction,
                examples: self.len,
            });
        }
        let mut order: Vec<usize> = (0..self.len).collect();
        order.shuffle(&mut gradlab_tensor::rng(seed));
        let (train, test) = order.split_at(self.len - test);
        Ok((self.subset(train), self.subset(test)))
    }

    /// The mean feature as a batch sees it (pixels on a `[0, 1]` scale,
    /// before any standardization); NaN for a dataset without features.
    pub fn mean_pixel(&self) -> f64 {
        let sum: f64 = match &self.features {
            Features::Bytes(b) => b.iter().map(|&p| u64::from(p)).sum::<u64>() as f64 / 255.0,
            Features::Floats(x) => x.iter().map(|&v| f64::from(v)).sum(),
        };
        sum / (self.len * self.num_features()) as f64
    }

    /// The mean and standard deviation of each feature over this dataset
    /// (as a batch sees it, before any standardization), computed in `f64`.
    pub fn standardization(&self) -> Standardization {
        let f = self.num_features();
        let (mut sum, mut sq) = (vec![0.0f64; f], vec![0.0f64; f]);
        for i in 0..self.len {
            for (j, v) in self.raw_row(i).enumerate() {
                sum[j] += v;
                sq[j] += v * v;
            }
        }
        let n = self.len.max(1) as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        let std = sq
            .iter()
            .zip(&mean)
            .map(|(s, m)| {
                let sd = (s / n - m * m).max(0.0).sqrt();
                if sd > 1e-12 {
                    sd as f32
                } else {
                    1.0
                }
            })
            .collect();
        Standardization {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std,
        }
    }

    /// Example `i`'s features as a batch sees them, before standardization.
    fn raw_row(&self, i: usize) -> impl Iterator<Item = f64> + '_ {
        let f = self.num_features();
        let (bytes, floats) = match &self.features {
            Features::Bytes(b) => (&b[i * f..(i + 1) * f], &[][..]),
            Features::Floats(x) => (&[][..], &x[i * f..(i + 1) * f]),
        };
        let bytes = bytes.iter().map(|&p| f64::from(f32::from(p) / 255.0));
        bytes.chain(floats.iter().map(|&v| f64::from(v)))
    }

    /// This dataset with `s` applied to every gathered batch (replacing any
    /// earlier one). A standardization of another number of features, or
    /// with a standard deviation that is not positive and finite, is an
    /// error.
    pub fn standardize(mut self, s: Standardization) -> Result<Dataset, DataError> {
        let f = self.num_features();
        if s.mean.len() != f || s.std.len() != f {
            return Err(DataError::Standardization {
                reason: format!(
                    "it has {} means and {} deviations for {f} features",
                    s.mean.len(),
                    s.std.len()
                ),
            });
        }
        if let Some(j) = s.std.iter().position(|&d| !(d.is_finite() && d > 0.0)) {
            return Err(DataError::Standardization {
                reason: format!("the deviation of feature {j} is {}", s.std[j]),
            });
        }
        if let Some(j) = s.mean.iter().position(|m| !m.is_finite()) {
            return Err(DataError::Standardization {
                reason: format!("the mean of feature {j} is {}", s.mean[j]),
            });
        }
        self.standardization = Some(s);
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::tests::tiny;

    #[test]
    fn mean_pixel_is_on_a_unit_scale() {
        let data = Dataset::new(vec![0, 255, 255, 0, 51, 51], vec![0, 1, 2], 1, 2).unwrap();
        assert!((data.mean_pixel() - 0.4).abs() < 1e-12);
        assert!(Dataset::new(vec![], vec![], 28, 28)
            .unwrap()
            .mean_pixel()
            .is_nan());
    }

    #[test]
    fn limit_keeps_the_first_examples() {
        let first = tiny().limit(2);
        assert_eq!(first.len(), 2);
        assert_eq!(first.images().unwrap(), &tiny().images().unwrap()[..8]);
        assert_eq!(first.labels().unwrap(), [3, 9]);
        assert_eq!(tiny().limit(3), tiny());
        assert_eq!(tiny().limit(7), tiny());
        assert!(tiny().limit(0).is_empty());
    }
}
