//! Reading one IDX file, raw or gzip-compressed, and validating its header
//! against the bytes actually present.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::DataError;

/// The IDX type code for unsigned bytes, the only element type MNIST-style
/// datasets use.
const UNSIGNED_BYTE: u8 = 0x08;

/// The contents of an IDX file of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idx {
    /// The dimension sizes from the header, outermost first.
    pub dims: Vec<usize>,
    /// The elements in row-major order; `data.len()` is the product of
    /// `dims`.
    pub data: Vec<u8>,
}

/// Reads an IDX file of unsigned bytes with any number of dimensions.
///
/// A path ending in `.gz` is decompressed on the fly; any other path is read
/// as raw IDX. See the [crate docs](crate) for the checks made.
pub fn read_idx(path: &Path) -> Result<Idx, DataError> {
    read(path, None)
}

/// Like [`read_idx`], but fails with [`DataError::WrongDims`] unless the
/// header declares exactly `ndim` dimensions. The check happens right after
/// the magic number, before any data is read.
pub fn read_idx_ndim(path: &Path, ndim: usize) -> Result<Idx, DataError> {
    read(path, Some(ndim))
}

fn read(path: &Path, ndim: Option<usize>) -> Result<Idx, DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let gzip = path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("gz"));
    if gzip {
        // The decoder reports both its own complaints and the file's I/O
        // failures as `io::Error`; recording which reads of the file failed
        // tells the two apart.
        let source = TrackedFile {
            file,
            failed: Cell::new(false),
        };
        // Multi-member, like `gzip -d`: concatenated members are one stream,
        // and garbage after the last member is an error rather than ignored.
        let mut decoder = MultiGzDecoder::new(&source);
        let error = |e| {
            if source.failed.get() {
                DataError::io(path, e)
            } else {
                DataError::CorruptGzip {
                    path: path.to_path_buf(),
                    source: e,
                }
            }
        };
        match parse(&mut decoder, path, ndim, None, error) {
            Err(e @ (DataError::Io { .. } | DataError::CorruptGzip { .. })) => Err(e),
            // Damaged deflate data can decode to other bytes, more or fewer
            // than were compressed: a bad header or size follows from it.
            // The stream's checksum, at its end, tells corruption from a
            // file that really holds what it decodes to.
            Err(e) => match io::copy(&mut decoder, &mut io::sink()) {
                Err(corrupt) => Err(error(corrupt)),
                Ok(_) => Err(e),
            },
            ok => ok,
        }
    } else {
        let len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
        parse(&file, path, ndim, Some(len), |e| DataError::io(path, e))
    }
}

/// Parses and validates an IDX stream.
///
/// `file_len` is the size of a raw file, known up front, which lets a header
/// that claims more data than the file holds fail before anything is
/// allocated. For a compressed stream the size is unknown until it has been
/// read, so the buffer only ever grows with the bytes actually decompressed.
fn parse<R: Read>(
    mut reader: R,
    path: &Path,
    ndim: Option<usize>,
    file_len: Option<u64>,
    read_error: impl Fn(io::Error) -> DataError,
) -> Result<Idx, DataError> {
    let mut magic = [0u8; 4];
    let got = read_full(&mut reader, &mut magic).map_err(&read_error)?;
    if got < magic.len() {
        return Err(DataError::TruncatedHeader {
            path: path.to_path_buf(),
            needed: magic.len(),
            got,
        });
    }
    if magic[..2] != [0, 0] {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            magic: u32::from_be_bytes(magic),
        });
    }
    if magic[2] != UNSIGNED_BYTE {
        return Err(DataError::UnsupportedType {
            path: path.to_path_buf(),
            code: magic[2],
        });
    }
    let got_ndim = usize::from(magic[3]);
    if let Some(expected) = ndim {
        if got_ndim != expected {
            return Err(DataError::WrongDims {
                path: path.to_path_buf(),
                expected,
                got: got_ndim,
            });
        }
    }

    let header_len = 4 * (1 + got_ndim);
    let mut size_bytes = [0u8; 4 * 255];
    let size_bytes = &mut size_bytes[..4 * got_ndim];
    let got = read_full(&mut reader, size_bytes).map_err(&read_error)?;
    if got < size_bytes.len() {
        return Err(DataError::TruncatedHeader {
            path: path.to_path_buf(),
            needed: header_len,
            got: magic.len() + got,
        });
    }
    let sizes: Vec<u32> = size_bytes
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let (dims, data_len) = match element_count(&sizes) {
        Some(found) => found,
        None => {
            return Err(DataError::Overflow {
                path: path.to_path_buf(),
                dims: sizes,
            })
        }
    };
    let expected = data_len as u64;

    let size_error = |got: u64| {
        if got < expected {
            DataError::Truncated {
                path: path.to_path_buf(),
                dims: dims.clone(),
                expected,
                got,
            }
        } else {
            DataError::TrailingData {
                path: path.to_path_buf(),
                dims: dims.clone(),
                expected,
            }
        }
    };
    let capacity = match file_len {
        Some(len) => {
            let present = len.saturating_sub(header_len as u64);
            if present != expected {
                return Err(size_error(present));
            }
            // Equal to the file's remaining length, so bounded by real bytes.
            data_len
        }
        None => 0,
    };

    let mut data = Vec::with_capacity(capacity);
    // One byte past the declared size is enough to detect trailing data
    // without reading (or decompressing) an arbitrarily long tail.
    reader
        .take(expected.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(&read_error)?;
    // Checked again for raw files too: the file may have changed since its
    // length was taken.
    if data.len() as u64 != expected {
        return Err(size_error(data.len() as u64));
    }
    // A decompressed buffer grew by doubling; give back the slack.
    data.shrink_to_fit();
    Ok(Idx { dims, data })
}

/// The dimension sizes as `usize` and their product, or `None` if either
/// does not fit.
fn element_count(sizes: &[u32]) -> Option<(Vec<usize>, usize)> {
    let dims = sizes
        .iter()
        .map(|&d| usize::try_from(d).ok())
        .collect::<Option<Vec<usize>>>()?;
    let count = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))?;
    Some((dims, count))
}

/// Fills as much of `buf` as the stream allows, returning the count; fewer
/// than `buf.len()` bytes means the stream ended.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// A file that remembers whether a read of it failed.
struct TrackedFile {
    file: File,
    failed: Cell<bool>,
}

impl Read for &TrackedFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let result = (&self.file).read(buf);
        if let Err(e) = &result {
            if e.kind() != io::ErrorKind::Interrupted {
                self.failed.set(true);
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_count_is_checked() {
        assert_eq!(element_count(&[]), Some((vec![], 1)));
        assert_eq!(
            element_count(&[60_000, 28, 28]),
            Some((vec![60_000, 28, 28], 47_040_000))
        );
        assert_eq!(element_count(&[u32::MAX, u32::MAX, u32::MAX]), None);
    }

    /// Hands out at most three bytes per read, and is interrupted before
    /// each, as a slow pipe might be.
    struct Dribble<'a> {
        bytes: &'a [u8],
        interrupt: bool,
    }

    impl Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.interrupt = !self.interrupt;
            if self.interrupt {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let n = buf.len().min(3).min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    #[test]
    fn short_reads_are_completed() {
        let file = [0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6];
        let reader = Dribble {
            bytes: &file,
            interrupt: false,
        };
        let idx = parse(reader, Path::new("pipe"), Some(2), None, |e| {
            panic!("unexpected read error {e}")
        })
        .unwrap();
        assert_eq!(idx.dims, [2, 3]);
        assert_eq!(idx.data, [1, 2, 3, 4, 5, 6]);
    }
}
