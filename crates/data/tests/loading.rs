//! Well-formed files load, raw or gzip, whatever their sizes.

mod common;

use std::fs::{self, File};
use std::io::Write;

use common::{
    gzip, idx, small_dataset, write, write_dataset, Split, TempDir, TEST_IMAGES, TRAIN_IMAGES,
};
use gradlab_data::{load, read_idx, Dataset, Idx, Targets};
use gradlab_tensor::Tensor;

fn assert_matches(dataset: &Dataset, split: &Split) {
    assert_eq!(dataset.len(), split.n as usize);
    assert_eq!(dataset.rows(), split.rows as usize);
    assert_eq!(dataset.cols(), split.cols as usize);
    assert_eq!(dataset.num_features(), (split.rows * split.cols) as usize);
    assert_eq!(dataset.images(), Some(&split.images[..]));
    assert_eq!(dataset.labels().unwrap(), as_classes(&split.labels));
}

#[test]
fn raw_and_gzip_load_identically() {
    let (raw_dir, gz_dir) = (TempDir::new("raw"), TempDir::new("gz"));
    let (train, test) = small_dataset(raw_dir.path(), "");
    small_dataset(gz_dir.path(), ".gz");
    let raw = load(raw_dir.path()).unwrap();
    let gz = load(gz_dir.path()).unwrap();
    assert_eq!(raw, gz);
    assert_matches(&raw.train, &train);
    assert_matches(&raw.test, &test);
}

#[test]
fn raw_and_gzip_files_mix() {
    let dir = TempDir::new("mixed");
    let (train, test) = small_dataset(dir.path(), "");
    let raw = dir.join(TEST_IMAGES);
    fs::write(
        dir.join(format!("{TEST_IMAGES}.gz")),
        gzip(&test.image_file()),
    )
    .unwrap();
    fs::remove_file(raw).unwrap();
    let mnist = load(dir.path()).unwrap();
    assert_matches(&mnist.train, &train);
    assert_matches(&mnist.test, &test);
}

#[test]
fn raw_file_is_preferred_over_gzip() {
    let dir = TempDir::new("prefer-raw");
    let (train, _) = small_dataset(dir.path(), "");
    write(dir.path(), &format!("{TRAIN_IMAGES}.gz"), b"never read");
    assert_matches(&load(dir.path()).unwrap().train, &train);
}

#[test]
fn any_image_size_and_count_loads() {
    let dir = TempDir::new("sizes");
    let (train, test) = (Split::new(13, 5, 7, 1), Split::new(0, 5, 7, 2));
    write_dataset(dir.path(), &train, &test, ".gz");
    let mnist = load(dir.path()).unwrap();
    assert_matches(&mnist.train, &train);
    assert_eq!(mnist.train.num_features(), 35);
    assert!(mnist.test.is_empty());
    assert_matches(&mnist.test, &test);
}

#[test]
fn concatenated_gzip_members_are_one_stream() {
    let dir = TempDir::new("multi-member");
    let bytes = Split::new(7, 4, 3, 0).image_file();
    let path = dir.join("images.gz");
    let mut file = File::create(&path).unwrap();
    let (head, tail) = bytes.split_at(30);
    file.write_all(&gzip(head)).unwrap();
    file.write_all(&gzip(tail)).unwrap();
    drop(file);
    let plain = write(dir.path(), "images", &bytes);
    assert_eq!(read_idx(&path).unwrap(), read_idx(&plain).unwrap());
}

#[test]
fn read_idx_reads_any_number_of_dimensions() {
    let dir = TempDir::new("ndim");
    let data: Vec<u8> = (0..24).collect();
    let path = write(dir.path(), "four-d.gz", &idx(&[2, 3, 2, 2], &data));
    assert_eq!(
        read_idx(&path).unwrap(),
        Idx {
            dims: vec![2, 3, 2, 2],
            data: data.clone(),
        }
    );
    // Zero dimensions: a single element, the empty product.
    let path = write(dir.path(), "scalar", &idx(&[], &[42]));
    assert_eq!(
        read_idx(&path).unwrap(),
        Idx {
            dims: vec![],
            data: vec![42],
        }
    );
}

#[test]
fn loaded_data_gathers_and_limits() {
    let dir = TempDir::new("gather");
    let (train, _) = small_dataset(dir.path(), ".gz");
    let train_set = load(dir.path()).unwrap().train;
    let (mut x, mut y) = (Tensor::default(), Targets::default());
    train_set.gather(&[6, 0, 6], &mut x, &mut y);
    assert_eq!(x.shape(), [3, 12]);
    assert_eq!(y.classes().unwrap(), [6, 0, 6]);
    for (row, &i) in x.data().chunks(12).zip(&[6usize, 0, 6]) {
        let expected: Vec<f32> = train.images[i * 12..(i + 1) * 12]
            .iter()
            .map(|&p| f32::from(p) / 255.0)
            .collect();
        assert_eq!(row, &expected[..]);
    }

    let first = train_set.clone().limit(2);
    assert_eq!(first.len(), 2);
    assert_eq!(first.images(), Some(&train.images[..24]));
    assert_eq!(first.labels().unwrap(), as_classes(&train.labels[..2]));
    assert_eq!(train_set.clone().limit(100), train_set);
}

/// Labels as bytes on disk, as the class indices a dataset holds.
fn as_classes(labels: &[u8]) -> Vec<usize> {
    labels.iter().map(|&l| usize::from(l)).collect()
}
