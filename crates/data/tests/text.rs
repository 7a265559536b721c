//! Text as characters: the vocabulary and ids, reading raw and gzip files
//! and directories, the split, seeded windows, the shipped Austen corpus,
//! and every bad input as an error.

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use gradlab_data::text::windows;
use gradlab_data::{CharText, DataError, Dataset, Targets};
use gradlab_tensor::Tensor;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gradlab-text-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn gzip(path: &Path, bytes: &[u8]) {
    let mut e = GzEncoder::new(std::fs::File::create(path).unwrap(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap();
}

#[test]
fn characters_become_tokens_in_order_and_back() {
    let text = "Emma Woodhouse, handsome, clever, and rich — “é”";
    let t = CharText::new(text).unwrap();
    let mut chars: Vec<char> = text.chars().collect();
    chars.sort_unstable();
    chars.dedup();
    assert_eq!(t.vocab(), &chars[..]);
    assert_eq!(t.ids().len(), text.chars().count());
    assert_eq!(t.decode(t.ids()), text);
    assert_eq!(
        t.encode("rich Emma").unwrap(),
        t.encode("rich")
            .unwrap()
            .into_iter()
            .chain(t.encode(" Emma").unwrap())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        t.encode("rich!").unwrap_err().to_string(),
        "CharText::encode: '!' (character 4) never occurs in the text"
    );
    assert_eq!(
        CharText::new("").unwrap_err().to_string(),
        "CharText: the text is empty"
    );
}

#[test]
fn files_raw_and_gzip_and_directories_read_alike() {
    let dir = scratch("read");
    std::fs::write(dir.join("a.txt"), "first part\n").unwrap();
    gzip(&dir.join("b.txt.gz"), "second part\n".as_bytes());
    std::fs::write(dir.join("notes.md"), "not read").unwrap();
    let whole = CharText::new("first part\nsecond part\n").unwrap();
    let files = CharText::read(&[dir.join("a.txt"), dir.join("b.txt.gz")]).unwrap();
    assert_eq!(files, whole);
    assert_eq!(CharText::read_dir(&dir).unwrap(), whole);
}

#[test]
fn bad_files_are_errors_naming_them() {
    let dir = scratch("bad");
    let latin1 = dir.join("latin1.txt");
    std::fs::write(&latin1, b"caf\xe9").unwrap();
    assert_eq!(
        CharText::read(std::slice::from_ref(&latin1))
            .unwrap_err()
            .to_string(),
        format!(
            "{}: not UTF-8 text (byte 3 is the first that is not)",
            latin1.display()
        )
    );
    let corrupt = dir.join("corrupt.txt.gz");
    std::fs::write(&corrupt, b"\x1f\x8b\x08\x00garbage").unwrap();
    assert!(matches!(
        CharText::read(std::slice::from_ref(&corrupt)),
        Err(DataError::CorruptGzip { .. })
    ));
    assert!(matches!(
        CharText::read(std::slice::from_ref(&dir)),
        Err(DataError::NotAFile { .. })
    ));
    assert!(matches!(
        CharText::read(&[dir.join("missing.txt")]),
        Err(DataError::Io { .. })
    ));
    let empty = scratch("empty");
    std::fs::write(empty.join("readme.md"), "x").unwrap();
    let err = CharText::read_dir(&empty).unwrap_err().to_string();
    assert!(err.starts_with("no text file in "), "{err}");
    assert!(matches!(
        CharText::read_dir(&empty.join("nowhere")),
        Err(DataError::MissingDir { .. })
    ));
}

#[test]
fn the_split_keeps_the_end_for_validation() {
    let t = CharText::new(&"abcdefghij".repeat(10)).unwrap();
    let (train, val) = t.split(0.1, 8).unwrap();
    assert_eq!((train.len(), val.len()), (90, 10));
    assert_eq!(val, &t.ids()[90..]);
    for (fraction, context) in [(0.0, 4), (1.0, 4), (0.05, 8), (0.95, 8)] {
        let err = t.split(fraction, context).unwrap_err();
        assert!(
            matches!(err, DataError::TextSplit { tokens: 100, .. }),
            "{fraction}: {err}"
        );
    }
}

#[test]
fn windows_are_the_text_and_its_next_tokens_and_depend_only_on_seed_and_step() {
    let t = CharText::new(
        &(0..500)
            .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
            .collect::<String>(),
    )
    .unwrap();
    let tokens = t.ids();
    let (mut x, mut y) = (Tensor::default(), vec![]);
    windows(tokens, 16, 8, 3, 5, &mut x, &mut y).unwrap();
    assert_eq!((x.shape(), y.len()), (&[8, 16][..], 8 * 16));
    for (row, targets) in x.data().chunks_exact(16).zip(y.chunks_exact(16)) {
        let row: Vec<u32> = row.iter().map(|&v| v as u32).collect();
        let start = (0..tokens.len() - 16)
            .find(|&s| {
                tokens[s..s + 16] == row[..]
                    && tokens[s + 1..s + 17]
                        .iter()
                        .map(|&v| v as usize)
                        .eq(targets.iter().copied())
            })
            .map(|_| ());
        assert!(start.is_some(), "a window that is not in the text");
    }
    let (mut x2, mut y2) = (Tensor::default(), vec![]);
    windows(tokens, 16, 8, 3, 5, &mut x2, &mut y2).unwrap();
    assert!(x == x2 && y == y2);
    windows(tokens, 16, 8, 3, 6, &mut x2, &mut y2).unwrap();
    assert!(x != x2);
    let err = windows(tokens, 500, 8, 0, 0, &mut x, &mut y)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "windows: 8 windows of 500 tokens need a context and a batch of at least 1 and more \
         than 500 tokens; got 500"
    );
    assert!(windows(tokens, 0, 8, 0, 0, &mut x, &mut y).is_err());
    assert!(windows(tokens, 8, 0, 0, 0, &mut x, &mut y).is_err());
}

/// The shipped corpus: six novels, 4 024 029 bytes of UTF-8, read as one
/// text in the order of their file names.
#[test]
fn jane_austens_novels_read_as_one_text() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/austen");
    let t = CharText::read_dir(&dir).unwrap();
    let text = t.decode(t.ids());
    assert_eq!(
        text.len(),
        883_028 + 883_280 + 433_411 + 466_854 + 684_768 + 673_688
    );
    assert!(text.contains("It is a truth universally acknowledged"));
    assert!(t.vocab().len() < 120, "{} characters", t.vocab().len());
}

#[test]
fn sequences_cut_a_part_into_windows_labelled_by_the_next_token() {
    let t = CharText::new("the cat sat on the mat.").unwrap();
    let (train, validation) = t.split(0.3, 4).unwrap();
    let data = t.sequences(train, 4).unwrap();
    // 16 training tokens: ⌊15/4⌋ = 3 windows, without overlap.
    assert_eq!((data.len(), data.num_features()), (3, 4));
    assert_eq!(data.classes(), Some(t.vocab().len()));
    assert_eq!(data.positions(), Some(4));
    let (mut x, mut y) = (Tensor::default(), Targets::default());
    data.gather(&[2, 0], &mut x, &mut y);
    assert_eq!(x.shape(), &[2, 4]);
    let ids = |s: &str| t.encode(s).unwrap();
    let as_f32 = |v: Vec<u32>| v.into_iter().map(|i| i as f32).collect::<Vec<_>>();
    assert_eq!(
        x.data(),
        [as_f32(ids("sat ")), as_f32(ids("the "))].concat()
    );
    let next: Vec<usize> = [ids("at o"), ids("he c")]
        .concat()
        .into_iter()
        .map(|i| i as usize)
        .collect();
    assert_eq!(y.classes().unwrap(), next);
    assert_eq!(y.positions(), Some(4));
    // The validation part has every class of the text even if it uses few.
    let v = t.sequences(validation, 4).unwrap();
    assert_eq!((v.len(), v.classes()), (1, Some(t.vocab().len())));
    // A subset keeps each example's labels with it.
    let sub = data.subset(&[1]);
    assert_eq!(sub.labels().unwrap(), &data.labels().unwrap()[4..8]);
}

#[test]
fn sequences_and_labels_out_of_range_are_errors() {
    let t = CharText::new("abcde").unwrap();
    assert!(matches!(
        t.sequences(t.ids(), 5),
        Err(DataError::Windows {
            tokens: 5,
            context: 5,
            ..
        })
    ));
    assert!(t.sequences(t.ids(), 0).is_err());
    let x = Tensor::from_vec(vec![0.0; 6], &[2, 3]);
    let labels = |n: usize| Targets::Sequences {
        labels: vec![1; n],
        positions: 3,
    };
    let err = Dataset::from_tensors(x.clone(), labels(5)).unwrap_err();
    assert!(
        err.to_string().contains("sequence labels have shape [5]"),
        "{err}"
    );
    let data = Dataset::from_tensors(x, labels(6)).unwrap();
    assert_eq!(
        data.with_classes(1).unwrap_err().to_string(),
        "Dataset::with_classes: example 0 has class 1, not below 1"
    );
    let values = Dataset::from_tensors(
        Tensor::zeros(&[2, 1]),
        Targets::Values(Tensor::zeros(&[2, 1])),
    )
    .unwrap();
    assert!(matches!(values.with_classes(3), Err(DataError::NotClasses)));
}
