//! `sign`, as `jnp.sign` and `torch.sign` define it: 0 at ±0, NaN at NaN.

use gradlab_optim::sign;

#[test]
fn sign_is_zero_at_zero() {
    assert_eq!(sign(2.5), 1.0);
    assert_eq!(sign(-1e-30), -1.0);
    assert_eq!(sign(0.0), 0.0);
    assert_eq!(sign(-0.0), 0.0);
    assert!(sign(f32::NAN).is_nan());
}
