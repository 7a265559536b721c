//! The scattering transform against kymatio's (`reference/kymatio_scattering.py`,
//! run by hand; it writes `reference/kymatio_scattering.rs`): each map's sum
//! and sum of squares and the last map's values, for MNIST's shape, a
//! rectangular two-channel image and J = 3; and its properties and errors.

use gradlab_data::{DataError, Dataset, Scattering, Targets};
use gradlab_tensor::Tensor;

#[path = "reference/kymatio_scattering.rs"]
mod kymatio;

/// The image the reference script builds: x(k) = sin(0.3 + 0.37·k) +
/// 0.2·cos(1.9·k).
fn image(len: usize) -> Vec<f32> {
    (0..len)
        .map(|k| {
            let k = k as f64;
            ((0.3 + 0.37 * k).sin() + 0.2 * (1.9 * k).cos()) as f32
        })
        .collect()
}

fn transform(input: [usize; 3], j: usize, angles: usize) -> (Vec<f32>, usize) {
    let s = Scattering::new(input, j, angles).unwrap();
    let [maps, h, w] = s.output_shape();
    let mut out = vec![0.0; maps * h * w];
    s.transform(&image(input.iter().product()), &mut out);
    (out, h * w)
}

/// `got` within `tol` of `want`, relative to each value plus a tenth of the
/// largest (for the values near 0).
fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (w.abs() + 0.1 * scale),
            "{what}[{i}]: {g} against kymatio's {w} (scale {scale})"
        );
    }
}

fn check(name: &str, input: [usize; 3], j: usize, angles: usize, want: (&[f32], &[f32], &[f32])) {
    let (out, map) = transform(input, j, angles);
    let sums: Vec<f32> = out.chunks(map).map(|m| m.iter().sum()).collect();
    let squares: Vec<f32> = out
        .chunks(map)
        .map(|m| m.iter().map(|v| v * v).sum())
        .collect();
    assert_close(&format!("{name} sums"), &sums, want.0, 1e-5);
    assert_close(&format!("{name} squares"), &squares, want.1, 1e-5);
    assert_close(
        &format!("{name} last map"),
        &out[out.len() - map..],
        want.2,
        2e-5,
    );
}

#[test]
fn matches_kymatio_on_mnist_shape() {
    let want = (
        &kymatio::MNIST_SUM[..],
        &kymatio::MNIST_SQUARES[..],
        &kymatio::MNIST_LAST[..],
    );
    check("[1, 28, 28] J=2 L=8", [1, 28, 28], 2, 8, want);
}

#[test]
fn matches_kymatio_on_two_channel_rectangle() {
    let want = (
        &kymatio::RECT_SUM[..],
        &kymatio::RECT_SQUARES[..],
        &kymatio::RECT_LAST[..],
    );
    check("[2, 20, 24] J=2 L=4", [2, 20, 24], 2, 4, want);
}

#[test]
fn matches_kymatio_at_three_scales() {
    let want = (
        &kymatio::J3_SUM[..],
        &kymatio::J3_SQUARES[..],
        &kymatio::J3_LAST[..],
    );
    check("[1, 32, 32] J=3 L=6", [1, 32, 32], 3, 6, want);
}

#[test]
fn shapes_follow_kymatio() {
    for (input, j, l, out) in [
        ([1, 28, 28], 2, 8, [81, 7, 7]),
        ([3, 32, 32], 2, 8, [243, 8, 8]),
        ([1, 32, 32], 3, 6, [127, 4, 4]),
        ([2, 20, 24], 2, 4, [50, 5, 6]),
    ] {
        assert_eq!(Scattering::new(input, j, l).unwrap().output_shape(), out);
    }
}

/// Each image's coefficients are its own: a batch equals its images one by
/// one, and the same on one thread as on two.
#[test]
fn batch_equals_images_one_by_one_for_any_threads() {
    let s = Scattering::new([1, 28, 28], 2, 8).unwrap();
    let row = 81 * 49;
    let n = 20; // enough images that the batch is split among threads
    let images: Vec<f32> = image(n * 784).iter().map(|v| v * 0.5 + 0.5).collect();
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let mut out = vec![0.0; n * row];
        pool.install(|| s.transform(&images, &mut out));
        out
    };
    let (one, two) = (run(1), run(2));
    assert_eq!(one, two);
    for i in 0..n {
        let mut single = vec![0.0; row];
        s.transform(&images[i * 784..][..784], &mut single);
        assert_eq!(single, one[i * row..][..row], "image {i}");
    }
}

/// The transform is linear in the constant part and its modulus ignores
/// sign: S(−x) = S(x) for every map but the low-pass one, which flips.
#[test]
fn negating_the_image_flips_only_the_low_pass_map() {
    let s = Scattering::new([1, 28, 28], 2, 8).unwrap();
    let x = image(784);
    let neg: Vec<f32> = x.iter().map(|v| -v).collect();
    let (mut a, mut b) = (vec![0.0; 81 * 49], vec![0.0; 81 * 49]);
    s.transform(&x, &mut a);
    s.transform(&neg, &mut b);
    for (i, (p, q)) in a.iter().zip(&b).enumerate() {
        let want = if i < 49 { -p } else { *p };
        assert!(
            (q - want).abs() <= 1e-5 * p.abs().max(1.0),
            "coefficient {i}: {q} vs {want}"
        );
    }
}

#[test]
fn a_dataset_keeps_its_targets_and_classes() {
    let x = Tensor::from_vec(image(3 * 784), &[3, 784]);
    let data = Dataset::from_tensors(x, Targets::Classes(vec![4, 0, 2]))
        .unwrap()
        .with_classes(10)
        .unwrap();
    let s = Scattering::new([1, 28, 28], 2, 8).unwrap();
    let scattered = s.dataset(&data).unwrap();
    assert_eq!(scattered.len(), 3);
    assert_eq!(scattered.num_features(), 81 * 49);
    assert_eq!(scattered.classes(), Some(10));
    assert_eq!(scattered.labels(), Some(&[4, 0, 2][..]));
    let mut want = vec![0.0; 81 * 49];
    s.transform(&image(3 * 784)[784..1568], &mut want);
    let (mut bx, mut by) = (Tensor::default(), Targets::default());
    scattered.gather(&[1], &mut bx, &mut by);
    assert_eq!(bx.data(), &want[..]);
}

#[test]
fn bad_settings_are_errors() {
    let cases: [([usize; 3], usize, usize, &str); 6] = [
        ([0, 28, 28], 2, 8, "the images are empty: [0, 28, 28]"),
        (
            [1, 28, 28],
            0,
            8,
            "J = 0 needs images of at least 2^J pixels",
        ),
        (
            [1, 28, 3],
            2,
            8,
            "J = 2 needs images of at least 2^J pixels on a side (and J ≥ 1); got 28×3",
        ),
        (
            [1, 28, 28],
            2,
            0,
            "the number of angles L must be in 1..=32; got 0",
        ),
        ([1, 28, 28], 2, 33, "got 33"),
        (
            [1, 4, 4],
            2,
            8,
            "a 4×4 image is too small to pad by reflection to 12×12",
        ),
    ];
    for (input, j, l, message) in cases {
        match Scattering::new(input, j, l) {
            Err(e @ DataError::Scattering(_)) => {
                assert!(e.to_string().contains(message), "{e} lacks {message:?}")
            }
            Err(e) => panic!("{input:?} J={j} L={l}: the wrong error {e}"),
            Ok(_) => panic!("{input:?} J={j} L={l} was accepted"),
        }
    }
    let s = Scattering::new([1, 28, 28], 2, 8).unwrap();
    let data =
        Dataset::from_tensors(Tensor::zeros(&[2, 10]), Targets::Classes(vec![0, 1])).unwrap();
    let e = s.dataset(&data).unwrap_err();
    assert!(e.to_string().contains("have 10 features"), "{e}");
}
