//! [`Dataset`]: labelled greyscale images kept as bytes, scaled to `f32` one
//! batch at a time.

use std::path::Path;

use gradlab_tensor::{parallel, Tensor};

use crate::idx::read_idx_ndim;
use crate::{DataError, NUM_CLASSES};

/// Labelled greyscale images of a fixed size, such as one split of MNIST.
///
/// Pixels stay `u8` — a quarter of the memory of `f32` — and are scaled to
/// `[0, 1]` only when a batch is [gathered](Dataset::gather).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    images: Vec<u8>,
    labels: Vec<u8>,
    len: usize,
    rows: usize,
    cols: usize,
}

impl Dataset {
    /// A dataset of `labels.len()` images of `rows × cols` pixels, stored
    /// row-major one after another in `images`. It is an error if
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
        Ok(Dataset {
            images,
            labels,
            len,
            rows,
            cols,
        })
    }

    /// Reads a 3-D IDX file of images `[n, rows, cols]` and a 1-D IDX file of
    /// `n` labels, each raw or `.gz`.
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
        Ok(Dataset {
            images: image_idx.data,
            labels: label_idx.data,
            len: n,
            rows,
            cols,
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

    /// Pixel rows per image.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Pixel columns per image.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Pixels per image, `rows × cols`: the width of a gathered batch.
    pub fn num_features(&self) -> usize {
        self.rows * self.cols
    }

    /// All pixels, image after image, each image row-major.
    pub fn images(&self) -> &[u8] {
        &self.images
    }

    /// All labels, each below [`NUM_CLASSES`].
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The pixels of example `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn image(&self, i: usize) -> &[u8] {
        self.check_index(i);
        let f = self.num_features();
        &self.images[i * f..(i + 1) * f]
    }

    /// The label of example `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn label(&self, i: usize) -> usize {
        self.check_index(i);
        usize::from(self.labels[i])
    }

    /// The first `n` examples (all of them if there are fewer), for quick
    /// runs on a subset.
    pub fn limit(mut self, n: usize) -> Dataset {
        let n = n.min(self.len);
        self.images.truncate(n * self.num_features());
        self.labels.truncate(n);
        self.len = n;
        self
    }

    /// The mean pixel on a `[0, 1]` scale; NaN for a dataset without pixels.
    pub fn mean_pixel(&self) -> f64 {
        let sum: u64 = self.images.iter().map(|&p| u64::from(p)).sum();
        sum as f64 / (self.images.len() as f64 * 255.0)
    }

    /// Writes the examples at `indices` into `x`, shape
    /// `[indices.len(), num_features()]` with each pixel `p` as `p / 255`,
    /// and their labels into `y`.
    ///
    /// Both buffers are reused: once they have held a batch this large,
    /// gathering allocates nothing.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn gather(&self, indices: &[usize], x: &mut Tensor, y: &mut Vec<usize>) {
        let f = self.num_features();
        x.resize_for(&[indices.len(), f]);
        y.clear();
        y.extend(indices.iter().map(|&i| self.label(i)));
        // `chunks_exact_mut(0)` would panic; zero-pixel images leave nothing
        // to write.
        if f == 0 {
            return;
        }
        parallel::rows_mut(x.data_mut(), f, |first, rows| {
            for (row, &i) in rows.chunks_exact_mut(f).zip(&indices[first..]) {
                let image = &self.images[i * f..(i + 1) * f];
                for (out, &p) in row.iter_mut().zip(image) {
                    *out = f32::from(p) / 255.0;
                }
            }
        });
    }

    fn check_index(&self, i: usize) {
        assert!(
            i < self.len,
            "example {i} is out of range for a dataset of {} examples",
            self.len
        );
    }
}

/// The first label that is not a class index.
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
        let (mut x, mut y) = (Tensor::default(), Vec::new());
        tiny().gather(&[0, 2], &mut x, &mut y);
        assert_eq!(x.shape(), [2, 4]);
        assert_eq!(x.data(), [0.0, 1.0, 0.2, 0.4, 1.0, 1.0, 0.0, 0.0]);
        assert_eq!(y, [3, 0]);
    }

    #[test]
    fn gather_reuses_its_buffers() {
        let data = tiny();
        let (mut x, mut y) = (Tensor::default(), Vec::new());
        data.gather(&[0, 1], &mut x, &mut y);
        let (x_ptr, y_ptr) = (x.data().as_ptr(), y.as_ptr());
        data.gather(&[2, 0], &mut x, &mut y);
        assert_eq!((x.data().as_ptr(), y.as_ptr()), (x_ptr, y_ptr));
        // A smaller batch fits in the same buffers too.
        data.gather(&[1], &mut x, &mut y);
        assert_eq!((x.data().as_ptr(), y.as_ptr()), (x_ptr, y_ptr));
        assert_eq!(x.shape(), [1, 4]);
        assert_eq!(y, [9]);
    }

    #[test]
    fn gather_of_nothing_is_empty() {
        let (mut x, mut y) = (Tensor::default(), vec![5]);
        tiny().gather(&[], &mut x, &mut y);
        assert_eq!(x.shape(), [0, 4]);
        assert!(y.is_empty());
    }

    #[test]
    #[should_panic(expected = "example 3 is out of range for a dataset of 3 examples")]
    fn gather_out_of_range_panics() {
        tiny().gather(&[0, 3], &mut Tensor::default(), &mut Vec::new());
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
        assert_eq!(first.images(), &tiny().images()[..8]);
        assert_eq!(first.labels(), [3, 9]);
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
