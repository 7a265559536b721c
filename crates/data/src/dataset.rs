//! [`Dataset`]: examples as rows of features, with class labels or
//! real-valued targets, turned into `f32` batches one at a time.

use gradlab_tensor::{parallel, Tensor};

mod build;
mod transform;

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
    /// A class index at each of `positions` positions of every example
    /// (the next character after each position of a text), example after
    /// example: `n · positions` labels.
    Sequences {
        /// The labels, `positions` per example.
        labels: Vec<usize>,
        /// Labels per example.
        positions: usize,
    },
}

impl Default for Targets {
    /// No classes: an empty buffer for [`Dataset::gather`].
    fn default() -> Targets {
        Targets::Classes(Vec::new())
    }
}

impl Targets {
    /// The class indices, for classes (for sequences, every position's,
    /// example after example).
    pub fn classes(&self) -> Option<&[usize]> {
        match self {
            Targets::Classes(c) | Targets::Sequences { labels: c, .. } => Some(c),
            Targets::Values(_) => None,
        }
    }

    /// Labels per example, for sequences.
    pub fn positions(&self) -> Option<usize> {
        match self {
            Targets::Sequences { positions, .. } => Some(*positions),
            _ => None,
        }
    }

    /// The target values `[n, k]`, for a regression.
    pub fn values(&self) -> Option<&Tensor> {
        match self {
            Targets::Values(v) => Some(v),
            _ => None,
        }
    }

    /// The number of examples.
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes(c) => c.len(),
            Targets::Values(v) => v.shape().first().copied().unwrap_or(0),
            Targets::Sequences { labels, positions } => labels.len() / positions.max(&1),
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

    /// The number of classes, for class labels (and labelled sequences):
    /// the layout's (10 for MNIST files, a text's vocabulary), or one more
    /// than the largest label.
    pub fn classes(&self) -> Option<usize> {
        self.targets.classes().is_some().then_some(self.classes)
    }

    /// Labels per example, for sequences ([`Targets::Sequences`]).
    pub fn positions(&self) -> Option<usize> {
        self.targets.positions()
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
            Targets::Sequences { labels, positions } => {
                update(b"sequences");
                update(&(*positions as u64).to_le_bytes());
                in_blocks(labels.iter().map(|&l| (l as u64).to_le_bytes()), update);
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
            Targets::Sequences { labels, positions } => {
                let t = *positions;
                if !matches!(y, Targets::Sequences { .. }) {
                    *y = Targets::Sequences {
                        labels: Vec::new(),
                        positions: t,
                    };
                }
                let Targets::Sequences {
                    labels: out,
                    positions: p,
                } = y
                else {
                    unreachable!()
                };
                *p = t;
                out.clear();
                out.extend(indices.iter().flat_map(|&i| &labels[i * t..(i + 1) * t]));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Three 2×2 images.
    pub(super) fn tiny() -> Dataset {
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
}
