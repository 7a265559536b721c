//! [`DataError`]: everything that can be wrong with a dataset on disk.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Why a dataset could not be loaded.
///
/// Every variant names the file (or directory) at fault, so the message alone
/// tells the user which file to fix or download again.
#[derive(Debug, Error)]
pub enum DataError {
    /// A Poisson sampling rate outside (0, 1].
    #[error("the sampling rate must be in (0, 1], got {rate}")]
    SampleRate {
        /// The rate given.
        rate: f64,
    },
    /// The dataset directory does not exist or is not a directory.
    #[error(
        "{}: the dataset directory does not exist or is not a directory",
        path.display()
    )]
    MissingDir {
        /// The directory.
        path: PathBuf,
    },
    /// None of the accepted names for a file exists.
    #[error("no {name} file in {}; tried {}", dir.display(), PathList(tried))]
    MissingFile {
        /// The directory searched.
        dir: PathBuf,
        /// The file's base name, e.g. `train-images-idx3-ubyte`.
        name: String,
        /// Every path tried, in order.
        tried: Vec<PathBuf>,
    },
    /// Reading the file failed at the operating-system level.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A `.gz` file is not a valid gzip stream (bad header, corrupt deflate
    /// data, checksum mismatch or a stream cut short).
    #[error("{}: corrupt gzip data: {source}", path.display())]
    CorruptGzip {
        /// The file.
        path: PathBuf,
        /// The decoder's error.
        source: io::Error,
    },
    /// The first two bytes of the magic number are not zero.
    #[error(
        "{}: bad magic number {magic:#010x}; an IDX file starts with 0x000008NN \
         (NN = number of dimensions)",
        path.display()
    )]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The magic number as read.
        magic: u32,
    },
    /// The data type byte (third byte of the magic) is not `0x08`.
    #[error(
        "{}: IDX data type {code:#04x} is not supported; only 0x08 (unsigned byte) is",
        path.display()
    )]
    UnsupportedType {
        /// The file.
        path: PathBuf,
        /// The type byte.
        code: u8,
    },
    /// The file has a different number of dimensions than its role needs.
    #[error(
        "{}: expected an IDX file with {expected} dimension(s), got {got}",
        path.display()
    )]
    WrongDims {
        /// The file.
        path: PathBuf,
        /// The number of dimensions required.
        expected: usize,
        /// The number in the header.
        got: usize,
    },
    /// The product of the dimension sizes does not fit in `usize`.
    #[error(
        "{}: header dimensions {dims:?} describe more bytes than fit in memory",
        path.display()
    )]
    Overflow {
        /// The file.
        path: PathBuf,
        /// The dimension sizes in the header.
        dims: Vec<u32>,
    },
    /// The file ends inside the header.
    #[error(
        "{}: truncated header: it needs {needed} bytes, only {got} are present",
        path.display()
    )]
    TruncatedHeader {
        /// The file.
        path: PathBuf,
        /// The header length implied by what was read so far.
        needed: usize,
        /// The bytes present.
        got: usize,
    },
    /// The file holds fewer data bytes than its header declares.
    #[error(
        "{}: truncated data: the header {dims:?} declares {expected} bytes, only {got} are present",
        path.display()
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// The dimension sizes in the header.
        dims: Vec<usize>,
        /// Data bytes declared by the header.
        expected: u64,
        /// Data bytes present.
        got: u64,
    },
    /// The file holds more data bytes than its header declares.
    #[error(
        "{}: trailing data: the header {dims:?} declares {expected} bytes, but more follow",
        path.display()
    )]
    TrailingData {
        /// The file.
        path: PathBuf,
        /// The dimension sizes in the header.
        dims: Vec<usize>,
        /// Data bytes declared by the header.
        expected: u64,
    },
    /// A label is not a digit class.
    #[error(
        "{}: label {value} at index {index} is outside 0..={}",
        path.display(),
        crate::NUM_CLASSES - 1
    )]
    BadLabel {
        /// The labels file.
        path: PathBuf,
        /// Index of the first bad label.
        index: usize,
        /// Its value.
        value: u8,
    },
    /// The image and label files describe different numbers of examples.
    #[error(
        "{} has {images} images but {} has {labels} labels",
        images_path.display(),
        labels_path.display()
    )]
    CountMismatch {
        /// The images file.
        images_path: PathBuf,
        /// Number of images.
        images: usize,
        /// The labels file.
        labels_path: PathBuf,
        /// Number of labels.
        labels: usize,
    },
    /// The training and test images of a dataset directory differ in size.
    #[error(
        "{} holds {}×{} images but {} holds {}×{}: both splits must have one image size",
        train_path.display(), train.0, train.1, test_path.display(), test.0, test.1
    )]
    SizeMismatch {
        /// The training images file.
        train_path: PathBuf,
        /// Its image rows and columns.
        train: (usize, usize),
        /// The test images file.
        test_path: PathBuf,
        /// Its image rows and columns.
        test: (usize, usize),
    },
    /// In-memory images and labels that do not describe a dataset.
    #[error(
        "Dataset::new: {labels} labels of {rows}x{cols} images need {labels}*{rows}*{cols} \
         pixels, got {pixels}"
    )]
    PixelCount {
        /// Number of labels.
        labels: usize,
        /// Image rows.
        rows: usize,
        /// Image columns.
        cols: usize,
        /// Pixels given.
        pixels: usize,
    },
    /// An in-memory label that is not a digit class.
    #[error(
        "Dataset::new: label {value} at index {index} is not below {}",
        crate::NUM_CLASSES
    )]
    LabelOutOfRange {
        /// Index of the first bad label.
        index: usize,
        /// Its value.
        value: u8,
    },
    /// Batches of no examples.
    #[error("Batches: batch_size must be at least 1, got 0")]
    ZeroBatch,
    /// An in-memory tensor of the wrong rank.
    #[error("Dataset::from_tensors: {what} have shape {shape:?}; expected {expected}")]
    Shape {
        /// Which tensor.
        what: &'static str,
        /// Its shape.
        shape: Vec<usize>,
        /// The shape wanted.
        expected: String,
    },
    /// In-memory features and targets for different numbers of examples.
    #[error("Dataset::from_tensors: {examples} feature rows but {targets} targets")]
    TargetCount {
        /// Rows of features.
        examples: usize,
        /// Targets given.
        targets: usize,
    },
    /// An in-memory feature or target that is NaN, infinite or larger in
    /// magnitude than [`MAX_MAGNITUDE`](crate::dataset::MAX_MAGNITUDE).
    #[error(
        "Dataset::from_tensors: {what} {index} of example {example} is {}",
        if value.is_finite() {
            format!("{value:e}, above 1e18 in magnitude (its square would overflow f32)")
        } else {
            format!("not finite ({value})")
        }
    )]
    NotFinite {
        /// `"feature"` or `"target"`.
        what: &'static str,
        /// The example.
        example: usize,
        /// The feature or target within it.
        index: usize,
        /// Its value.
        value: f32,
    },
    /// Feature names that are not one per feature.
    #[error("Dataset::with_feature_names: {names} names for {features} features")]
    NameCount {
        /// Names given.
        names: usize,
        /// Features per example.
        features: usize,
    },
    /// A class index too large to be one.
    #[error(
        "Dataset::from_tensors: the class of example {example} is {value}, but class indices \
         stop below {limit}"
    )]
    ClassTooLarge {
        /// The example.
        example: usize,
        /// Its label.
        value: usize,
        /// [`MAX_CLASSES`](crate::dataset::MAX_CLASSES).
        limit: usize,
    },
    /// [`Dataset::with_classes`](crate::Dataset::with_classes) on targets
    /// that are values.
    #[error("Dataset::with_classes: the targets are values, not class labels")]
    NotClasses,
    /// A label not below the number of classes given to
    /// [`Dataset::with_classes`](crate::Dataset::with_classes).
    #[error("Dataset::with_classes: example {example} has class {value}, not below {classes}")]
    BeyondClasses {
        /// The example.
        example: usize,
        /// Its label.
        value: usize,
        /// The number of classes given.
        classes: usize,
    },
    /// A split that leaves the training or the test set empty.
    #[error(
        "Dataset::split: a test fraction of {fraction} of {examples} examples leaves a set \
         empty; give a fraction in (0, 1) that keeps at least one example on each side"
    )]
    Split {
        /// The fraction given.
        fraction: f64,
        /// Examples in the dataset.
        examples: usize,
    },
    /// A standardization that does not fit the dataset.
    #[error("Dataset::standardize: the standardization does not fit: {reason}")]
    Standardization {
        /// What is wrong.
        reason: String,
    },
    /// A CSV file that cannot be read as a table (an I/O or quoting error).
    #[error("{}: {reason}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// What the CSV reader reported.
        reason: String,
    },
    /// A CSV file without the named target column.
    #[error(
        "{}: line 1 (the header) has no column {column:?}; its columns are {}",
        path.display(),
        Columns(header)
    )]
    CsvColumn {
        /// The file.
        path: PathBuf,
        /// The column asked for.
        column: String,
        /// The header's column names.
        header: Vec<String>,
    },
    /// A CSV row with another number of fields than the header.
    #[error(
        "{}: line {line} has {fields} fields, but the header has {expected}",
        path.display()
    )]
    CsvRagged {
        /// The file.
        path: PathBuf,
        /// The line, from 1 (the header).
        line: u64,
        /// Fields on that line.
        fields: usize,
        /// Fields in the header.
        expected: usize,
    },
    /// A CSV cell that is not a value of its column.
    #[error(
        "{}: line {line}, column {column} ({name:?}): {value:?} is not {expected}",
        path.display()
    )]
    CsvValue {
        /// The file.
        path: PathBuf,
        /// The line, from 1 (the header).
        line: u64,
        /// The column, from 1.
        column: usize,
        /// The column's name.
        name: String,
        /// The cell as written.
        value: String,
        /// What the column holds.
        expected: &'static str,
    },
    /// Settings of a synthetic dataset that describe no data.
    #[error("teacher_regression: {0}")]
    Synthetic(String),
    /// A text with no characters.
    #[error("CharText: the text is empty")]
    EmptyText,
    /// A text file that is not UTF-8.
    #[error("{}: not UTF-8 text (byte {offset} is the first that is not)", path.display())]
    NotText {
        /// The file.
        path: PathBuf,
        /// Bytes before the first that is not UTF-8 (after decompression).
        offset: usize,
    },
    /// A character outside a text's vocabulary.
    #[error("CharText::encode: {char:?} (character {index}) never occurs in the text")]
    UnknownChar {
        /// The character.
        char: char,
        /// Its position in the string, in characters.
        index: usize,
    },
    /// A split of a text that leaves a part without a whole window.
    #[error(
        "CharText::split: a validation fraction of {validation} of {tokens} tokens leaves a \
         part shorter than a window of {context} tokens and its target; give a fraction in \
         (0, 1) that leaves more than {context} tokens on each side"
    )]
    TextSplit {
        /// Tokens in the text.
        tokens: usize,
        /// The fraction given.
        validation: f64,
        /// The window's length.
        context: usize,
    },
    /// Windows that do not fit in the tokens given.
    #[error(
        "windows: {batch} windows of {context} tokens need a context and a batch of at least \
         1 and more than {context} tokens; got {tokens}"
    )]
    Windows {
        /// Tokens given.
        tokens: usize,
        /// The window's length.
        context: usize,
        /// Windows asked for.
        batch: usize,
    },
    /// A scattering transform that cannot be computed for the images given.
    #[error("Scattering::new: {0}")]
    Scattering(String),
    /// A file that is not a regular file (a directory, a pipe, a device),
    /// which a loader refuses rather than read without end.
    #[error("{}: not a regular file (a pipe or a device is not read: it may never end)", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// A CSV file without a header row (an empty file).
    #[error("{}: the file is empty; a CSV file starts with a header row naming its columns", path.display())]
    CsvNoHeader {
        /// The file.
        path: PathBuf,
    },
    /// A CSV file whose only column is the target.
    #[error(
        "{}: line 1 (the header) has no column but the target {column:?}; the other columns \
         are the features, and there must be at least one",
        path.display()
    )]
    CsvNoFeatures {
        /// The file.
        path: PathBuf,
        /// The target column.
        column: String,
    },
    /// A CSV line longer than [`MAX_LINE_BYTES`](crate::csv::MAX_LINE_BYTES).
    #[error(
        "{}: line {line} is longer than {limit} bytes; this is not a table of numbers (or its \
         lines are not separated by newlines)",
        path.display()
    )]
    CsvLineTooLong {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: u64,
        /// The bound.
        limit: u64,
    },
    /// CSV text that is not UTF-8.
    #[error("{}: line {line} is not UTF-8 text{hint}", path.display())]
    CsvNotText {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: u64,
        /// What to try.
        hint: &'static str,
    },
    /// A CSV file with a header and no rows.
    #[error("{}: no rows after the header", path.display())]
    CsvEmpty {
        /// The file.
        path: PathBuf,
    },
}

impl DataError {
    pub(crate) fn io(path: &Path, source: io::Error) -> DataError {
        DataError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Displays column names as `a, b, c`, the first ten of a longer header
/// followed by how many more there are.
struct Columns<'a>(&'a [String]);

impl fmt::Display for Columns<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 10;
        let shown = if self.0.len() > SHOWN + 2 {
            SHOWN
        } else {
            self.0.len()
        };
        f.write_str(&self.0[..shown].join(", "))?;
        match self.0.len() - shown {
            0 => Ok(()),
            more => write!(
                f,
                ", … and {more} more (the last: {})",
                self.0[self.0.len() - 1]
            ),
        }
    }
}

/// Displays paths as `a, b, c`.
struct PathList<'a>(&'a [PathBuf]);

impl fmt::Display for PathList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", p.display())?;
        }
        Ok(())
    }
}
