//! [`Dataset`]'s constructors: from memory, from IDX files, from tensors.

use std::path::Path;

use gradlab_tensor::Tensor;

use super::{within_bounds, Dataset, Features, Targets, MAX_CLASSES};
use crate::idx::read_idx_ndim;
use crate::{DataError, NUM_CLASSES};

impl Dataset {
    /// A dataset of `labels.len()` greyscale images of `rows × cols` pixels,
    /// stored row-major one after another in `images`, with digit labels
    /// (MNIST's layout: 10 classes). It is an error if
    /// `images.len() != labels.len() * rows * cols` or a label is not below
    /// [`NUM_CLASSES`].
    pub fn new(
        images: Vec<u8>,
        labels: Vec<u8>,
        rows: usize,
        cols: usize,
    ) -> Result<Dataset, DataError> {
        let len = labels.len();
        let pixels = len.checked_mul(rows).and_then(|n| n.checked_mul(cols));
        if pixels != Some(images.len()) {
            return Err(DataError::PixelCount {
                labels: len,
                rows,
                cols,
                pixels: images.len(),
            });
        }
        if let Some((index, &value)) = first_bad_label(&labels) {
            return Err(DataError::LabelOutOfRange { index, value });
        }
        Ok(Dataset::digits(images, &labels, rows, cols))
    }

    fn digits(images: Vec<u8>, labels: &[u8], rows: usize, cols: usize) -> Dataset {
        Dataset {
            features: Features::Bytes(images),
            targets: Targets::Classes(labels.iter().map(|&l| usize::from(l)).collect()),
            classes: NUM_CLASSES,
            len: labels.len(),
            rows,
            cols,
            names: None,
            standardization: None,
        }
    }

    /// Reads a 3-D IDX file of images `[n, rows, cols]` and a 1-D IDX file of
    /// `n` digit labels, each raw or `.gz`.
    ///
    /// The labels are read first: they are small, so a bad label file fails
    /// before the images are decompressed.
    pub fn from_files(images: &Path, labels: &Path) -> Result<Dataset, DataError> {
        let label_idx = read_idx_ndim(labels, 1)?;
        if let Some((index, &value)) = first_bad_label(&label_idx.data) {
            return Err(DataError::BadLabel {
                path: labels.to_path_buf(),
                index,
                value,
            });
        }
        let image_idx = read_idx_ndim(images, 3)?;
        let (n, rows, cols) = (image_idx.dims[0], image_idx.dims[1], image_idx.dims[2]);
        if n != label_idx.data.len() {
            return Err(DataError::CountMismatch {
                images_path: images.to_path_buf(),
                images: n,
                labels_path: labels.to_path_buf(),
                labels: label_idx.data.len(),
            });
        }
        Ok(Dataset::digits(image_idx.data, &label_idx.data, rows, cols))
    }

    /// A dataset of the rows of `x` (`[n, features]`) and their targets `y`:
    /// `n` class indices (the number of classes is one more than the
    /// largest), or a `[n, k]` tensor of values. Another shape of `x`, a
    /// number of targets other than `n`, a class index of [`MAX_CLASSES`] or
    /// more, or a feature or target that is not finite or larger in
    /// magnitude than [`MAX_MAGNITUDE`] is an error.
    ///
    /// ```
    /// use gradlab_data::{Dataset, Targets};
    /// use gradlab_tensor::Tensor;
    ///
    /// let x = Tensor::from_vec(vec![0.0, 1.0, 1.0, 0.0, 0.5, 0.5], &[3, 2]);
    /// let data = Dataset::from_tensors(x, Targets::Classes(vec![0, 1, 2]))?;
    /// assert_eq!((data.len(), data.num_features(), data.classes()), (3, 2, Some(3)));
    /// # Ok::<(), gradlab_data::DataError>(())
    /// ```
    ///
    /// [`MAX_MAGNITUDE`]: crate::dataset::MAX_MAGNITUDE
    pub fn from_tensors(x: Tensor, y: Targets) -> Result<Dataset, DataError> {
        let &[n, f] = x.shape() else {
            return Err(DataError::Shape {
                what: "the features",
                shape: x.shape().to_vec(),
                expected: "[examples, features]".into(),
            });
        };
        if let Some(i) = x.data().iter().position(|&v| !within_bounds(v)) {
            return Err(DataError::NotFinite {
                what: "feature",
                example: i / f.max(1),
                index: i % f.max(1),
                value: x.data()[i],
            });
        }
        let classes = match &y {
            Targets::Classes(labels) | Targets::Sequences { labels, .. } => {
                if let Targets::Sequences { labels, positions } = &y {
                    if *positions == 0 || labels.len() != n * positions {
                        return Err(DataError::Shape {
                            what: "the sequence labels",
                            shape: vec![labels.len()],
                            expected: format!(
                                "[{n} examples × {positions} positions], positions ≥ 1"
                            ),
                        });
                    }
                }
                let example = |i: usize| i / y.positions().unwrap_or(1);
                if let Some(i) = labels.iter().position(|&l| l >= MAX_CLASSES) {
                    return Err(DataError::ClassTooLarge {
                        example: example(i),
                        value: labels[i],
                        limit: MAX_CLASSES,
                    });
                }
                labels.iter().max().map_or(0, |&m| m + 1)
            }
            Targets::Values(v) => {
                if !matches!(v.shape(), &[_, k] if k > 0) {
                    return Err(DataError::Shape {
                        what: "the target values",
                        shape: v.shape().to_vec(),
                        expected: "[examples, values]".into(),
                    });
                }
                let k = v.shape()[1];
                if let Some(i) = v.data().iter().position(|&v| !within_bounds(v)) {
                    return Err(DataError::NotFinite {
                        what: "target",
                        example: i / k,
                        index: i % k,
                        value: v.data()[i],
                    });
                }
                0
            }
        };
        if y.len() != n {
            return Err(DataError::TargetCount {
                examples: n,
                targets: y.len(),
            });
        }
        Ok(Dataset {
            features: Features::Floats(x.into_vec()),
            targets: y,
            classes,
            len: n,
            rows: 1,
            cols: f,
            names: None,
            standardization: None,
        })
    }

    /// This dataset with `classes` classes rather than one more than its
    /// largest label: a text's vocabulary, or a test set in which the last
    /// classes happen not to occur. A label not below `classes`, or targets
    /// that are not classes, is an error.
    pub fn with_classes(mut self, classes: usize) -> Result<Dataset, DataError> {
        let Some(labels) = self.targets.classes() else {
            return Err(DataError::NotClasses);
        };
        if let Some(i) = labels.iter().position(|&l| l >= classes) {
            return Err(DataError::BeyondClasses {
                example: i / self.positions().unwrap_or(1),
                value: labels[i],
                classes,
            });
        }
        self.classes = classes;
        Ok(self)
    }

    /// This dataset with its features named `names`, one per feature, as a
    /// CSV header names them. Another number of names is an error.
    pub fn with_feature_names(mut self, names: Vec<String>) -> Result<Dataset, DataError> {
        if names.len() != self.num_features() {
            return Err(DataError::NameCount {
                names: names.len(),
                features: self.num_features(),
            });
        }
        self.names = Some(names);
        Ok(self)
    }
}

/// The first label that is not a digit.
fn first_bad_label(labels: &[u8]) -> Option<(usize, &u8)> {
    labels
        .iter()
        .enumerate()
        .find(|(_, &l)| usize::from(l) >= NUM_CLASSES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_checks_the_pixel_count() {
        let err = Dataset::new(vec![0; 7], vec![0, 1], 2, 2).unwrap_err();
        assert!(matches!(err, DataError::PixelCount { pixels: 7, .. }));
        assert!(
            err.to_string().contains("need 2*2*2 pixels, got 7"),
            "{err}"
        );
    }

    #[test]
    fn new_checks_the_labels() {
        let err = Dataset::new(vec![0; 8], vec![0, 10], 2, 2).unwrap_err();
        assert!(matches!(
            err,
            DataError::LabelOutOfRange {
                index: 1,
                value: 10
            }
        ));
        assert!(
            err.to_string()
                .contains("label 10 at index 1 is not below 10"),
            "{err}"
        );
    }
}
