//! Pointwise activations `y = f(x)`.
//!
//! **Derivative.** `∂L/∂x = dY ⊙ f′(x)`, with f′ written in terms of x and y:
//!
//! | f | f(x) | f′ |
//! |---|---|---|
//! | ReLU | max(x, 0) | 1 if x > 0, else 0 |
//! | leaky ReLU (slope a) | x if x > 0, else a·x | 1 if x > 0, else a |
//! | tanh | tanh x | 1 − y² |
//! | sigmoid | σ(x) = 1/(1 + e^(−x)) | y·(1 − y) |
//! | GELU (tanh form) | ½x(1 + tanh u) = x·σ(2u), u = √(2/π)(x + 0.044715x³) | ½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 + 3·0.044715x²) |
//!
//! An activation acts on each element alone, so it keeps examples apart.

use gradlab_tensor::Tensor;

use crate::kernels::{self, Pointwise, Specialize};
use crate::op::{Backward, Examples, Op};
use crate::tape::{Graph, Var};

/// A pointwise nonlinearity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// max(x, 0).
    Relu,
    /// x for x > 0, else slope·x.
    LeakyRelu(f32),
    /// tanh x.
    Tanh,
    /// 1/(1 + e^(−x)).
    Sigmoid,
    /// GELU in its tanh form (PyTorch's `approximate="tanh"`).
    Gelu,
}

const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const GELU_C: f32 = 0.044_715;

impl Activation {
    /// f(x).
    #[inline]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            // Not `x.max(0.0)`, which turns NaN into 0: a NaN weight would
            // then vanish from the forward pass instead of reaching the
            // loss, where the training loop sees it (PyTorch's ReLU also
            // keeps NaN).
            Activation::Relu => {
                if x <= 0.0 {
                    0.0
                } else {
                    x
                }
            }
            Activation::LeakyRelu(a) => {
                if x > 0.0 {
                    x
                } else {
                    a * x
                }
            }
            // libm's `tanhf` is a call per element; this one vectorizes.
            Activation::Tanh => kernels::tanh(x),
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            // ½x(1 + tanh u) = x·σ(2u), without tanh's cancellation near
            // −1 and on an exponential that vectorizes.
            Activation::Gelu => x * gelu_gate(x),
        }
    }

    /// f′(x), given x and y = f(x).
    #[inline]
    pub fn derivative(self, x: f32, y: f32) -> f32 {
        match self {
            Activation::Relu => {
                if x > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::LeakyRelu(a) => {
                if x > 0.0 {
                    1.0
                } else {
                    a
                }
            }
            Activation::Tanh => 1.0 - y * y,
            Activation::Sigmoid => y * (1.0 - y),
            // With s = σ(2u) = ½(1 + tanh u): ½(1 − tanh²u) = 2s(1 − s).
            Activation::Gelu => {
                let s = gelu_gate(x);
                s + 2.0 * x * s * (1.0 - s) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_C * x * x)
            }
        }
    }
}

/// σ(2u) = 1/(1 + e^(−2u)), u = √(2/π)(x + 0.044715x³): GELU(x)/x.
#[inline(always)]
fn gelu_gate(x: f32) -> f32 {
    let u = SQRT_2_OVER_PI * (x + GELU_C * x * x * x);
    1.0 / (1.0 + kernels::exp(-2.0 * u))
}

/// An activation is an op of its own: `y = f(x)`.
/// The kernels' view of an activation (`kernels.rs` runs it fast).
impl Pointwise for Activation {
    // Inlined into the kernels' loops, so that they vectorize.
    #[inline(always)]
    fn apply(self, x: f32) -> f32 {
        Activation::apply(self, x)
    }

    #[inline(always)]
    fn derivative(self, x: f32, y: f32) -> f32 {
        Activation::derivative(self, x, y)
    }

    #[inline(always)]
    fn specialized(self, body: impl Specialize) {
        match self {
            Activation::Relu => body.run(Kind::<RELU>(0.0)),
            Activation::LeakyRelu(a) => body.run(Kind::<LEAKY_RELU>(a)),
            Activation::Tanh => body.run(Kind::<TANH>(0.0)),
            Activation::Sigmoid => body.run(Kind::<SIGMOID>(0.0)),
            Activation::Gelu => body.run(Kind::<GELU>(0.0)),
        }
    }
}

/// An [`Activation`] whose kind is a constant of its type (the kernels'
/// copy of a loop for that kind); the `f32` is leaky ReLU's slope.
#[derive(Clone, Copy)]
struct Kind<const K: u8>(f32);

const RELU: u8 = 0;
const LEAKY_RELU: u8 = 1;
const TANH: u8 = 2;
const SIGMOID: u8 = 3;
const GELU: u8 = 4;

impl<const K: u8> Kind<K> {
    #[inline(always)]
    fn activation(self) -> Activation {
        match K {
            RELU => Activation::Relu,
            LEAKY_RELU => Activation::LeakyRelu(self.0),
            TANH => Activation::Tanh,
            SIGMOID => Activation::Sigmoid,
            _ => Activation::Gelu,
        }
    }
}

impl<const K: u8> Pointwise for Kind<K> {
    #[inline(always)]
    fn apply(self, x: f32) -> f32 {
        self.activation().apply(x)
    }

    #[inline(always)]
    fn derivative(self, x: f32, y: f32) -> f32 {
        self.activation().derivative(x, y)
    }

    fn specialized(self, body: impl Specialize) {
        body.run(self);
    }
}

impl Op for Activation {
    type Saved = ();

    fn name(&self) -> String {
        format!("{self:?}").to_lowercase()
    }

    fn examples(&self, batched: &[bool]) -> Examples {
        Examples::rowwise(batched)
    }

    fn forward(&self, x: &[&Tensor], y: &mut Tensor, _: &mut ()) {
        y.resize_for(x[0].shape());
        kernels::activate_from(*self, x[0].data(), y.data_mut());
    }

    /// `∂L/∂x = dY ⊙ f′(x)`.
    fn backward(&self, cx: &mut Backward, _: &mut ()) {
        let (x, y, dy) = (cx.x[0].data(), cx.y.data(), cx.dy.data());
        let f = *self;
        cx.accumulate(0, |g, first| {
            if first {
                kernels::activation_derivative(f, dy, x, y, g.data_mut());
            } else {
                g.data_mut()
                    .iter_mut()
                    .enumerate()
                    .for_each(|(i, g)| *g += dy[i] * f.derivative(x[i], y[i]));
            }
        });
    }
}

impl Graph<'_, '_> {
    /// `f(x)` elementwise.
    pub fn activation(&mut self, x: Var, f: Activation) -> Var {
        self.apply(f, &[x])
    }

    /// max(x, 0).
    pub fn relu(&mut self, x: Var) -> Var {
        self.activation(x, Activation::Relu)
    }

    /// x for x > 0, else slope·x.
    pub fn leaky_relu(&mut self, x: Var, slope: f32) -> Var {
        self.activation(x, Activation::LeakyRelu(slope))
    }

    /// tanh x.
    pub fn tanh(&mut self, x: Var) -> Var {
        self.activation(x, Activation::Tanh)
    }

    /// σ(x) = 1/(1 + e^(−x)).
    pub fn sigmoid(&mut self, x: Var) -> Var {
        self.activation(x, Activation::Sigmoid)
    }

    /// GELU, tanh form.
    pub fn gelu(&mut self, x: Var) -> Var {
        self.activation(x, Activation::Gelu)
    }
}

#[cfg(test)]
mod tests {
    use super::Activation;

    /// A NaN input stays NaN through every activation, so a NaN weight
    /// shows in the loss.
    #[test]
    fn nan_propagates() {
        for f in [
            Activation::Relu,
            Activation::LeakyRelu(0.01),
            Activation::Tanh,
            Activation::Sigmoid,
            Activation::Gelu,
        ] {
            assert!(f.apply(f32::NAN).is_nan(), "{f:?}");
        }
        assert_eq!(Activation::Relu.apply(-2.0), 0.0);
        assert_eq!(Activation::Relu.apply(3.0), 3.0);
    }

    /// tanh and its derivative against f64's tanh over [−20, 20] in steps
    /// of 10⁻⁴ and at magnitudes down to 10⁻³⁰, where 1 − e^(−2|x|)
    /// would cancel: within 3·10⁻⁷ relative; odd, and ±1 far out.
    #[test]
    fn tanh_matches_f64() {
        let tiny = (1..=30).map(|k| 10f32.powi(-k));
        let grid = (-200_000..=200_000).map(|i| i as f32 * 1e-4);
        let (mut worst, mut worst_d) = (0.0f64, 0.0f64);
        for x in grid.chain(tiny).flat_map(|x| [x, -x]) {
            let t = Activation::Tanh;
            let y = t.apply(x);
            let want = f64::from(x).tanh();
            if want == 0.0 {
                assert_eq!(y, 0.0);
                continue;
            }
            worst = worst.max((f64::from(y) - want).abs() / want.abs());
            // 1 − y² turns y's relative error δ into 2y²δ/(1 − y²) relative
            // where y → ±1: measured against that condition number.
            let d = 1.0 - want * want;
            let condition = 1.0 + 2.0 * want * want / d;
            let err = (f64::from(t.derivative(x, y)) - d).abs() / d / condition;
            worst_d = worst_d.max(err);
            assert_eq!(y, -t.apply(-x), "odd at {x}");
        }
        assert!(worst < 3e-7, "tanh: relative error {worst:e}");
        assert!(worst_d < 3e-7, "tanh′: relative error {worst_d:e}");
        for x in [9.5f32, 20.0, 50.0, 1e30, f32::INFINITY] {
            assert_eq!(Activation::Tanh.apply(x), 1.0, "{x}");
            assert_eq!(Activation::Tanh.apply(-x), -1.0, "{x}");
        }
    }

    /// GELU and its derivative against the tanh form in f64, over
    /// [−12, 12] in steps of 10⁻³: within 10⁻⁶·(1 + 2|u|) relative (or
    /// 10⁻³⁰ absolute, where both underflow) — u itself is rounded to f32,
    /// and σ(2u) ≈ e^(2u) for u ≪ 0 turns its relative error δ into 2|u|·δ,
    /// for the old libm tanh as for this exp. The reference is written
    /// ½(1 + tanh u) = σ(2u), exact in real numbers, because in f64 too
    /// 1 + tanh u cancels to 0 for u below −19.
    #[test]
    fn gelu_matches_its_formula_in_f64() {
        let k = (2.0 / std::f64::consts::PI).sqrt();
        let (mut worst_f, mut worst_d) = (0.0f64, 0.0f64);
        for i in -12_000..=12_000 {
            let x = i as f32 * 1e-3;
            let xd = f64::from(x);
            let u = k * (xd + 0.044715 * xd * xd * xd);
            let s = 1.0 / (1.0 + (-2.0 * u).exp());
            if u.abs() < 5.0 {
                assert!((s - 0.5 * (1.0 + u.tanh())).abs() < 1e-15);
            }
            let f = xd * s;
            let slope = 2.0 * xd * s * (1.0 - s) * k * (1.0 + 3.0 * 0.044715 * xd * xd);
            let d = s + slope;
            let g = Activation::Gelu;
            let condition = 1.0 + 2.0 * u.abs();
            let err = |got: f32, want: f64| {
                (f64::from(got) - want).abs() / want.abs().max(1e-30) / condition
            };
            worst_f = worst_f.max(err(g.apply(x), f));
            // GELU′ crosses 0 (near x = −0.75) as a sum of two terms: its
            // error is relative to their size.
            let scale = (s.abs() + slope.abs()).max(1e-30) * condition;
            worst_d = worst_d.max((f64::from(g.derivative(x, g.apply(x))) - d).abs() / scale);
        }
        assert!(worst_f < 1e-6, "GELU: relative error {worst_f:e}");
        assert!(worst_d < 1e-6, "GELU′: relative error {worst_d:e}");
    }
}
