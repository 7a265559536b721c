//! [`Dataset`]: examples as rows of features, with class labels or
//! real-valued targets, turned into `f32` batches one at a time.

use std::path::Path;

use gradlab_tensor::{parallel, Tensor};
use rand::seq::SliceRandom;

use crate::idx::read_idx_ndim;
use crate::{DataError, NUM_CLASSES};

/// The most classes a dataset may have: a larger label is almost surely not
/// a class index (an id, a price), and would give the model that many
/// outputs.
pub const MAX_CLASSES: usize = 1 << 20;

/// The largest magnitude a feature or target value may have: 10¹⁸.
/// Training squares them and their gradients (a regression's loss, the
/// second moments of adaptive optimizers, the standardization), and the
/// square of a value much above this overflows `f32` (whose largest is
/// 3.4·10³⁸); such a value is almost surely an id or a unit mistake.
pub const MAX_MAGNITUDE: f32 = 1e18;

/// Whether `v` is a number a dataset may hold: finite, of magnitude at most
/// [`MAX_MAGNITUDE`].
pub(crate) fn within_bounds(v: f32) -> bool {
    v.abs() <= MAX_MAGNITUDE
}

/// Labelled examples, each a `rows × cols` grid of features (an image) or,
/// for tabular data, one row of features (`rows = 1`).
///
/// Features are kept as the data came: greyscale pixels stay `u8` — a
/// quarter of the memory of `f32` — and are scaled to `[0, 1]` only when a
/// batch is [gathered](Dataset::gather); features read from a CSV file or
/// given as a tensor are `f32`. The targets are class indices (a
/// classification) or real-valued vectors (a regression). A dataset may
/// also carry a per-feature [`Standardization`], applied as batches are
/// gathered.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    features: Features,
    targets: Targets,
    /// For classes: the number of classes (one more than the largest label,
    /// or the layout's: 10 for MNIST).
    classes: usize,
    len: usize,
    rows: usize,
    cols: usize,
    /// The features' names, for data read from a file with a header.
    names: Option<Vec<String>>,
    standardization: Option<Standardization>,
}

/// Features as stored.
#[derive(Debug, Clone, PartialEq)]
enum Features {
    /// Pixels in 0–255, read as `p / 255`.
    Bytes(Vec<u8>),
    Floats(Vec<f32>),
}

/// What each example is to be mapped to: a batch's targets, or a whole
/// dataset's.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// One class index per example.
    Classes(Vec<usize>),
    /// One real-valued vector per example: a `[n, k]` tensor.
    Values(Tensor),
}

impl Default for Targets {
    /// No classes: an empty buffer for [`Dataset::gather`].
    fn default() -> Targets {
        Targets::Classes(Vec::new())
    }
}

impl Targets {
    /// The class indices, for classes.
    pub fn classes(&self) -> Option<&[usize]> {
        match self {
            Targets::Classes(c) => Some(c),
            Targets::Values(_) => None,
        }
    }

    /// The target values `[n, k]`, for a regression.
    pub fn values(&self) -> Option<&Tensor> {
        match self {
            Targets::Classes(_) => None,
            Targets::Values(v) => Some(v),
        }
    }

    /// The number of examples.
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes(c) => c.len(),
            Targets::Values(v) => v.shape().first().copied().unwrap_or(0),
        }
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A per-feature affine map x ↦ (x − mean)/std, computed on a training set
/// ([`Dataset::standardization`]) and applied to it and to its test set
/// alike ([`Dataset::standardize`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Standardization {
    /// The mean of each feature.
    pub mean: Vec<f32>,
    /// The standard deviation of each feature (1 for a constant feature,
    /// which is only centered, as scikit-learn's `StandardScaler` does).
    pub std: Vec<f32>,
}

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
            Targets::Classes(labels) => {
                if let Some(example) = labels.iter().position(|&l| l >= MAX_CLASSES) {
                    return Err(DataError::ClassTooLarge {
                        example,
                        value: labels[example],
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

    /// The number of examples.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Feature rows per example (image rows; 1 for tabular data).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Feature columns per example (image columns; the number of features
    /// for tabular data).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Features per example, `rows × cols`: the width of a gathered batch.
    pub fn num_features(&self) -> usize {
        self.rows * self.cols
    }

    /// The features' names, for data read from a CSV file (its header
    /// without the target column).
    pub fn feature_names(&self) -> Option<&[String]> {
        self.names.as_deref()
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

    /// The number of classes, for class labels: the layout's (10 for MNIST
    /// files), or one more than the largest label.
    pub fn classes(&self) -> Option<usize> {
        matches!(self.targets, Targets::Classes(_)).then_some(self.classes)
    }

    /// The width k of each target vector, for a regression.
    pub fn target_width(&self) -> Option<usize> {
        self.targets.values().map(|v| v.shape()[1])
    }

    /// All pixels, image after image, each image row-major, for a dataset
    /// of `u8` images.
    pub fn images(&self) -> Option<&[u8]> {
        match &self.features {
            Features::Bytes(b) => Some(b),
            Features::Floats(_) => None,
        }
    }

    /// The targets of every example.
    pub fn targets(&self) -> &Targets {
        &self.targets
    }

    /// All class labels, for classes.
    pub fn labels(&self) -> Option<&[usize]> {
        self.targets.classes()
    }

    /// The pixels of example `i`, for a dataset of `u8` images.
    ///
    /// # Panics
    /// If `i >= self.len()`, or the features are not `u8` pixels.
    pub fn image(&self, i: usize) -> &[u8] {
        self.check_index(i);
        let f = self.num_features();
        let images = self
            .images()
            .expect("Dataset::image: the features are not u8 pixels");
        &images[i * f..(i + 1) * f]
    }

    /// The label of example `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`, or the targets are not classes.
    pub fn label(&self, i: usize) -> usize {
        self.check_index(i);
        self.labels()
            .expect("Dataset::label: the targets are values, not classes")[i]
    }

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

    /// The standardization applied to gathered batches, if any.
    pub fn standardized(&self) -> Option<&Standardization> {
        self.standardization.as_ref()
    }

    /// Feeds every byte that defines this dataset to `update` (its sizes,
    /// features and targets, not its standardization): for a checksum that
    /// tells whether two datasets hold the same examples.
    pub fn hash_into(&self, update: &mut dyn FnMut(&[u8])) {
        for n in [self.len, self.rows, self.cols, self.classes] {
            update(&(n as u64).to_le_bytes());
        }
        match &self.features {
            Features::Bytes(b) => {
                update(b"u8");
                update(b);
            }
            Features::Floats(x) => {
                update(b"f32");
                in_blocks(x.iter().map(|v| v.to_le_bytes()), update);
            }
        }
        match &self.targets {
            Targets::Classes(c) => {
                update(b"classes");
                in_blocks(c.iter().map(|&l| (l as u64).to_le_bytes()), update);
            }
            Targets::Values(v) => {
                update(b"values");
                in_blocks(v.data().iter().map(|x| x.to_le_bytes()), update);
            }
        }
    }

    /// Writes the examples at `indices` into `x`, shape
    /// `[indices.len(), num_features()]` (a pixel `p` as `p / 255`, then the
    /// standardization if there is one), and their targets into `y`.
    ///
    /// Both buffers are reused: once they have held a batch this large,
    /// gathering allocates nothing.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn gather(&self, indices: &[usize], x: &mut Tensor, y: &mut Targets) {
        indices.iter().for_each(|&i| self.check_index(i));
        self.gather_targets(indices, y);
        let f = self.num_features();
        x.resize_for(&[indices.len(), f]);
        // `chunks_exact_mut(0)` would panic; zero-feature examples leave
        // nothing to write.
        if f == 0 {
            return;
        }
        let s = self.standardization.as_ref();
        parallel::rows_mut(x.data_mut(), f, |first, rows| {
            for (row, &i) in rows.chunks_exact_mut(f).zip(&indices[first..]) {
                match &self.features {
                    Features::Bytes(b) => {
                        for (out, &p) in row.iter_mut().zip(&b[i * f..(i + 1) * f]) {
                            *out = f32::from(p) / 255.0;
                        }
                    }
                    Features::Floats(v) => row.copy_from_slice(&v[i * f..(i + 1) * f]),
                }
                if let Some(s) = s {
                    for ((out, m), d) in row.iter_mut().zip(&s.mean).zip(&s.std) {
                        *out = (*out - m) / d;
                    }
                }
            }
        });
    }

    fn gather_targets(&self, indices: &[usize], y: &mut Targets) {
        match &self.targets {
            Targets::Classes(labels) => {
                if !matches!(y, Targets::Classes(_)) {
                    *y = Targets::default();
                }
                let Targets::Classes(out) = y else {
                    unreachable!()
                };
                out.clear();
                out.extend(indices.iter().map(|&i| labels[i]));
            }
            Targets::Values(v) => {
                let k = v.shape()[1];
                if !matches!(y, Targets::Values(_)) {
                    *y = Targets::Values(Tensor::default());
                }
                let Targets::Values(out) = y else {
                    unreachable!()
                };
                out.resize_for(&[indices.len(), k]);
                for (o, &i) in out.data_mut().chunks_exact_mut(k).zip(indices) {
                    o.copy_from_slice(v.row(i));
                }
            }
        }
    }

    fn check_index(&self, i: usize) {
        assert!(
            i < self.len,
            "example {i} is out of range for a dataset of {} examples",
            self.len
        );
    }
}

/// Feeds the bytes of `items` to `update` a few thousand at a time (one
/// call per value would make hashing a large dataset slow).
fn in_blocks<const N: usize>(items: impl Iterator<Item = [u8; N]>, update: &mut dyn FnMut(&[u8])) {
    let mut block = Vec::with_capacity(1 << 14);
    for bytes in items {
        block.extend_from_slice(&bytes);
        if block.len() >= 1 << 14 {
            update(&block);
            block.clear();
        }
    }
    update(&block);
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

    /// Three 2×2 images.
    fn tiny() -> Dataset {
        let images = vec![0, 255, 51, 102, 1, 2, 3, 4, 255, 255, 0, 0];
        Dataset::new(images, vec![3, 9, 0], 2, 2).unwrap()
    }

    #[test]
    fn gather_scales_pixels_to_the_unit_interval() {
        let (mut x, mut y) = (Tensor::default(), Targets::default());
        tiny().gather(&[0, 2], &mut x, &mut y);
        assert_eq!(x.shape(), [2, 4]);
        assert_eq!(x.data(), [0.0, 1.0, 0.2, 0.4, 1.0, 1.0, 0.0, 0.0]);
        assert_eq!(y.classes().unwrap(), [3, 0]);
    }

    #[test]
    fn gather_reuses_its_buffers() {
        let data = tiny();
        let (mut x, mut y) = (Tensor::default(), Targets::default());
        data.gather(&[0, 1], &mut x, &mut y);
        let (x_ptr, y_ptr) = (x.data().as_ptr(), y.classes().unwrap().as_ptr());
        data.gather(&[2, 0], &mut x, &mut y);
        assert_eq!(
            (x.data().as_ptr(), y.classes().unwrap().as_ptr()),
            (x_ptr, y_ptr)
        );
        // A smaller batch fits in the same buffers too.
        data.gather(&[1], &mut x, &mut y);
        assert_eq!(
            (x.data().as_ptr(), y.classes().unwrap().as_ptr()),
            (x_ptr, y_ptr)
        );
        assert_eq!(x.shape(), [1, 4]);
        assert_eq!(y.classes().unwrap(), [9]);
    }

    #[test]
    fn gather_of_nothing_is_empty() {
        let (mut x, mut y) = (Tensor::default(), Targets::Classes(vec![5]));
        tiny().gather(&[], &mut x, &mut y);
        assert_eq!(x.shape(), [0, 4]);
        assert!(y.is_empty());
    }

    #[test]
    #[should_panic(expected = "example 3 is out of range for a dataset of 3 examples")]
    fn gather_out_of_range_panics() {
        tiny().gather(&[0, 3], &mut Tensor::default(), &mut Targets::default());
    }

    #[test]
    fn accessors() {
        let data = tiny();
        assert_eq!((data.len(), data.rows(), data.cols()), (3, 2, 2));
        assert_eq!(data.num_features(), 4);
        assert_eq!(data.image(1), [1, 2, 3, 4]);
        assert_eq!(data.label(1), 9);
        assert!(!data.is_empty());
    }

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
