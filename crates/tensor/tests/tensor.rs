//! The tensor type: construction, shape checks, reshaping and buffer reuse.

use gradlab_tensor::Tensor;

#[test]
#[should_panic(expected = "from_vec: shape [2, 3] needs 6 elements, got 5")]
fn from_vec_checks_the_shape() {
    Tensor::from_vec(vec![0.0; 5], &[2, 3]);
}

#[test]
fn constructors_and_accessors() {
    let t = Tensor::full(&[2, 3], 1.5);
    assert_eq!(t.shape(), &[2, 3]);
    assert_eq!(t.len(), 6);
    assert_eq!(t.dims2("t"), (2, 3));
    assert!(t.data().iter().all(|&x| x == 1.5));
    assert_eq!(Tensor::scalar(2.0).item(), 2.0);
    assert_eq!(Tensor::zeros(&[0, 4]).len(), 0);
    let r = Tensor::from_vec((0..6).map(|x| x as f32).collect(), &[2, 3]);
    assert_eq!(r.row(1), &[3.0, 4.0, 5.0]);
    assert_eq!(r.clone().reshape(&[3, 2]).row(2), &[4.0, 5.0]);
}

#[test]
fn resize_for_reuses_the_allocation() {
    let mut t = Tensor::zeros(&[4, 4]);
    let ptr = t.data().as_ptr();
    t.resize_for(&[2, 8]);
    assert_eq!(t.shape(), &[2, 8]);
    t.resize_for(&[3, 3]);
    assert_eq!(t.len(), 9);
    assert_eq!(t.data().as_ptr(), ptr);
}

#[test]
#[should_panic(expected = "reshape: cannot view shape [2, 3]")]
fn reshape_checks_the_size() {
    Tensor::zeros(&[2, 3]).reshape(&[4]);
}
