//! Text for a character-level language model: [`CharText`] reads UTF-8 text
//! (files raw or gzip), makes every distinct character a token, and holds
//! the text as token ids; [`CharText::split`] divides it into training and
//! validation parts; [`CharText::sequences`] cuts a part into a
//! [`Dataset`] of windows that a trainer shuffles, batches and
//! Poisson-samples like any examples; [`windows`] draws a batch of seeded
//! windows at random offsets — inputs `[B, T]` and, one position on, their
//! targets.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use gradlab_tensor::Tensor;
use rand::Rng as _;

use crate::{DataError, Dataset, Targets};

/// Mixed into the seed of [`windows`], so that its draws differ from other
/// users of the run's seed (weight initialisation, say).
const WINDOWS_KEY: u64 = 0x5749_4e44_4f57_5331; // "WINDOWS1"

/// A text as token ids, one token per distinct character.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CharText {
    /// The characters, in increasing order: token i is `vocab[i]`.
    vocab: Vec<char>,
    /// The text, as tokens.
    ids: Vec<u32>,
}

impl CharText {
    /// The text `text`, its vocabulary the characters it uses.
    ///
    /// ```
    /// use gradlab_data::CharText;
    /// let t = CharText::new("abba!")?;
    /// assert_eq!(t.vocab(), &['!', 'a', 'b']);
    /// assert_eq!(t.ids(), &[1, 2, 2, 1, 0]);
    /// assert_eq!(t.decode(&[2, 1, 0]), "ba!");
    /// # Ok::<(), gradlab_data::DataError>(())
    /// ```
    pub fn new(text: &str) -> Result<CharText, DataError> {
        if text.is_empty() {
            return Err(DataError::EmptyText);
        }
        let mut vocab: Vec<char> = text.chars().collect();
        vocab.sort_unstable();
        vocab.dedup();
        let ids = text
            .chars()
            .map(|c| {
                vocab
                    .binary_search(&c)
                    .expect("every character is in the vocabulary") as u32
            })
            .collect();
        Ok(CharText { vocab, ids })
    }

    /// The files at `paths` (each UTF-8 text, gzip-compressed when its name
    /// ends in `.gz`), one after the other, as one text.
    pub fn read(paths: &[PathBuf]) -> Result<CharText, DataError> {
        let mut text = String::new();
        for path in paths {
            text.push_str(&read_text(path)?);
        }
        CharText::new(&text)
    }

    /// Every `.txt` and `.txt.gz` file of directory `dir`, in the order of
    /// their names, as one text.
    pub fn read_dir(dir: &Path) -> Result<CharText, DataError> {
        let entries = std::fs::read_dir(dir).map_err(|_| DataError::MissingDir {
            path: dir.to_path_buf(),
        })?;
        let mut paths = vec![];
        for entry in entries {
            let path = entry.map_err(|e| DataError::io(dir, e))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(".txt") || name.ends_with(".txt.gz") {
                paths.push(path);
            }
        }
        if paths.is_empty() {
            return Err(DataError::MissingFile {
                name: "text".into(),
                dir: dir.to_path_buf(),
                tried: vec![dir.join("*.txt"), dir.join("*.txt.gz")],
            });
        }
        paths.sort();
        CharText::read(&paths)
    }

    /// The characters, in increasing order: token i stands for `vocab()[i]`.
    pub fn vocab(&self) -> &[char] {
        &self.vocab
    }

    /// The text as token ids.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// `s` as tokens of this text's vocabulary; a character the text never
    /// uses is an error.
    pub fn encode(&self, s: &str) -> Result<Vec<u32>, DataError> {
        s.chars()
            .enumerate()
            .map(|(i, c)| {
                self.vocab
                    .binary_search(&c)
                    .map(|t| t as u32)
                    .map_err(|_| DataError::UnknownChar { char: c, index: i })
            })
            .collect()
    }

    /// The characters of `ids`.
    ///
    /// # Panics
    /// If an id is not below the vocabulary's size.
    pub fn decode(&self, ids: &[u32]) -> String {
        ids.iter().map(|&t| self.vocab[t as usize]).collect()
    }

    /// The first `1 − validation` of the tokens for training and the rest
    /// for validation (nanoGPT's split: the validation text is the end of
    /// the text, unseen in training). Each part must hold at least
    /// `context + 1` tokens, one window.
    pub fn split(&self, validation: f64, context: usize) -> Result<(&[u32], &[u32]), DataError> {
        let n = self.ids.len();
        let at = ((1.0 - validation) * n as f64).round() as usize;
        let fits = validation > 0.0 && validation < 1.0 && at > context && n - at > context;
        if !fits {
            return Err(DataError::TextSplit {
                tokens: n,
                validation,
                context,
            });
        }
        Ok(self.ids.split_at(at))
    }
}

impl CharText {
    /// `tokens` (a part of this text, from [`split`](CharText::split)) cut
    /// into ⌊(n − 1)/T⌋ windows of T = `context` tokens, one after the
    /// other without overlap, as a dataset: example i's features are the
    /// ids of tokens iT … iT + T − 1 (as `f32`), its labels those of
    /// iT + 1 … iT + T, the next token after each position
    /// ([`Targets::Sequences`]), its classes the vocabulary. Each token is
    /// in one example only, so that an example's privacy is its window's.
    /// Fewer than `context + 1` tokens, or a token beyond the vocabulary,
    /// is an error.
    ///
    /// ```
    /// use gradlab_data::CharText;
    /// let t = CharText::new("abcdefg")?;
    /// let data = t.sequences(t.ids(), 3)?;
    /// assert_eq!((data.len(), data.num_features(), data.classes()), (2, 3, Some(7)));
    /// assert_eq!(data.labels().unwrap(), [1, 2, 3, 4, 5, 6]);
    /// # Ok::<(), gradlab_data::DataError>(())
    /// ```
    pub fn sequences(&self, tokens: &[u32], context: usize) -> Result<Dataset, DataError> {
        if context == 0 || tokens.len() <= context {
            return Err(DataError::Windows {
                tokens: tokens.len(),
                context,
                batch: 1,
            });
        }
        let n = (tokens.len() - 1) / context;
        let x: Vec<f32> = tokens[..n * context].iter().map(|&t| t as f32).collect();
        let labels = tokens[1..=n * context]
            .iter()
            .map(|&t| t as usize)
            .collect();
        let x = Tensor::from_vec(x, &[n, context]);
        let y = Targets::Sequences {
            labels,
            positions: context,
        };
        Dataset::from_tensors(x, y)?.with_classes(self.vocab.len())
    }
}

/// Reads one UTF-8 text file, gzip-decompressed when its name ends in `.gz`.
fn read_text(path: &Path) -> Result<String, DataError> {
    let meta = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?;
    if !meta.is_file() {
        return Err(DataError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let gzip = path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("gz"));
    let bytes = if gzip {
        let mut out = vec![];
        MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|source| DataError::CorruptGzip {
                path: path.to_path_buf(),
                source,
            })?;
        out
    } else {
        raw
    };
    String::from_utf8(bytes).map_err(|e| DataError::NotText {
        path: path.to_path_buf(),
        offset: e.utf8_error().valid_up_to(),
    })
}

/// Batch `step` of `batch` windows of `context` tokens from `tokens`: row b
/// of `x` (`[B, T]`, the ids as `f32`) is the window starting at a position
/// drawn uniformly from the generator `rng(seed ^ WINDOWS_KEY)` on ChaCha
/// stream `step`, and `y` holds the token after each position (`B·T`
/// targets). A pure function of `(seed, step)`, so a resumed run draws the
/// same batches.
///
/// ```
/// use gradlab_data::{text::windows, CharText};
/// use gradlab_tensor::Tensor;
/// let t = CharText::new("abcdefgh")?;
/// let (mut x, mut y) = (Tensor::default(), vec![]);
/// windows(t.ids(), 3, 2, 0, 0, &mut x, &mut y)?;
/// assert_eq!(x.shape(), &[2, 3]);
/// // Each target is the next token of its input's position.
/// assert_eq!(y[0], x.data()[1] as usize);
/// # Ok::<(), gradlab_data::DataError>(())
/// ```
pub fn windows(
    tokens: &[u32],
    context: usize,
    batch: usize,
    seed: u64,
    step: u64,
    x: &mut Tensor,
    y: &mut Vec<usize>,
) -> Result<(), DataError> {
    if context == 0 || batch == 0 || tokens.len() <= context {
        return Err(DataError::Windows {
            tokens: tokens.len(),
            context,
            batch,
        });
    }
    let mut rng = gradlab_tensor::rng(seed ^ WINDOWS_KEY);
    rng.set_stream(step);
    x.resize_for(&[batch, context]);
    y.clear();
    for row in x.data_mut().chunks_exact_mut(context) {
        let start = rng.random_range(0..tokens.len() - context);
        let window = &tokens[start..start + context + 1];
        for (o, &t) in row.iter_mut().zip(window) {
            *o = t as f32;
        }
        y.extend(window[1..].iter().map(|&t| t as usize));
    }
    Ok(())
}
