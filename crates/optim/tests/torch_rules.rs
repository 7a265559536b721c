//! The rules PyTorch also has follow `torch.optim`'s documented algorithms:
//! each reference below transcribes the pseudo-code of the PyTorch
//! documentation (SGD, RMSprop, Adam, AdamW, Adagrad) in `f64`, line by line, and the
//! optimizer's `f32` trajectory must match it over 50 steps. The defaults
//! are PyTorch's, except where PyTorch's default momentum 0 would turn the
//! momentum variants into the plain rules.

mod common;

use gradlab_optim::{
    Adam, Correction, Flag, Optimizer, RmsProp, RmsPropMomentum, Sgd, SgdMomentum,
};
use gradlab_tensor::{rng, Tensor};

const STEPS: usize = 50;
const DIM: usize = 6;

/// θ₀ and a gradient stream g_1..g_50 that does not depend on θ (so both
/// implementations see the same numbers).
fn problem() -> (Vec<f32>, Vec<Vec<f32>>) {
    let mut r = rng(5);
    let theta = Tensor::normal(&[DIM], 0.0, 1.0, &mut r).into_vec();
    let grads = (0..STEPS)
        .map(|_| Tensor::normal(&[DIM], 0.2, 1.0, &mut r).into_vec())
        .collect();
    (theta, grads)
}

/// θ after each step of the optimizer built from `spec`.
fn ours(spec: &str) -> Vec<Vec<f64>> {
    let (theta, grads) = problem();
    let mut opt = Optimizer::from_spec(spec).unwrap();
    let mut values = vec![Tensor::from_vec(theta, &[DIM])];
    grads
        .iter()
        .map(|g| {
            common::step(
                &mut opt,
                &mut values,
                &[Tensor::from_vec(g.clone(), &[DIM])],
                None,
                32,
            );
            values[0].data().iter().map(|&x| f64::from(x)).collect()
        })
        .collect()
}

/// Runs a reference `update(t, θ, g)` (t from 1) over the same problem.
fn reference(mut update: impl FnMut(usize, &mut [f64], &[f64])) -> Vec<Vec<f64>> {
    let (theta, grads) = problem();
    let mut theta: Vec<f64> = theta.iter().map(|&x| f64::from(x)).collect();
    grads
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let g: Vec<f64> = g.iter().map(|&x| f64::from(x)).collect();
            update(i + 1, &mut theta, &g);
            theta.clone()
        })
        .collect()
}

fn assert_same(spec: &str, reference: Vec<Vec<f64>>) {
    for (t, (a, b)) in ours(spec).iter().zip(&reference).enumerate() {
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= 2e-5 * (1.0 + y.abs()),
                "{spec}: step {}, θ[{i}] = {x}, the documented rule gives {y}",
                t + 1
            );
        }
    }
}

/// torch.optim.SGD: g ← g + λθ; b ← μb + g (b₁ = g); g ← g + μb (Nesterov) or
/// b; θ ← θ − γg. Dampening 0.
fn torch_sgd(lr: f64, momentum: f64, weight_decay: f64, nesterov: bool) -> Vec<Vec<f64>> {
    let mut b = [0.0; DIM];
    reference(move |t, theta, grad| {
        for i in 0..DIM {
            let mut g = grad[i];
            if weight_decay != 0.0 {
                g += weight_decay * theta[i];
            }
            if momentum != 0.0 {
                b[i] = if t > 1 { momentum * b[i] + g } else { g };
                g = if nesterov { g + momentum * b[i] } else { b[i] };
            }
            theta[i] -= lr * g;
        }
    })
}

/// torch.optim.RMSprop (not centered): g ← g + λθ; v ← αv + (1 − α)g²;
/// with μ > 0: b ← μb + g/(√v + ε), θ ← θ − γb; else θ ← θ − γg/(√v + ε).
fn torch_rmsprop(lr: f64, alpha: f64, eps: f64, weight_decay: f64, momentum: f64) -> Vec<Vec<f64>> {
    let (mut v, mut b) = ([0.0; DIM], [0.0; DIM]);
    reference(move |_, theta, grad| {
        for i in 0..DIM {
            let mut g = grad[i];
            if weight_decay != 0.0 {
                g += weight_decay * theta[i];
            }
            v[i] = alpha * v[i] + (1.0 - alpha) * g * g;
            if momentum > 0.0 {
                b[i] = momentum * b[i] + g / (v[i].sqrt() + eps);
                theta[i] -= lr * b[i];
            } else {
                theta[i] -= lr * g / (v[i].sqrt() + eps);
            }
        }
    })
}

/// torch.optim.Adam (no amsgrad) and AdamW: AdamW first θ ← θ − γλθ, Adam
/// adds λθ to g instead; m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²;
/// m̂ = m/(1 − β₁ᵗ); v̂ = v/(1 − β₂ᵗ); θ ← θ − γm̂/(√v̂ + ε).
fn torch_adam(
    lr: f64,
    b1: f64,
    b2: f64,
    eps: f64,
    weight_decay: f64,
    decoupled: bool,
) -> Vec<Vec<f64>> {
    let (mut m, mut v) = ([0.0; DIM], [0.0; DIM]);
    reference(move |t, theta, grad| {
        for i in 0..DIM {
            let mut g = grad[i];
            if decoupled {
                theta[i] -= lr * weight_decay * theta[i];
            } else if weight_decay != 0.0 {
                g += weight_decay * theta[i];
            }
            m[i] = b1 * m[i] + (1.0 - b1) * g;
            v[i] = b2 * v[i] + (1.0 - b2) * g * g;
            let m_hat = m[i] / (1.0 - b1.powi(t as i32));
            let v_hat = v[i] / (1.0 - b2.powi(t as i32));
            theta[i] -= lr * m_hat / (v_hat.sqrt() + eps);
        }
    })
}

#[test]
fn sgd_is_torch_sgd() {
    assert_same("sgd(lr=0.05)", torch_sgd(0.05, 0.0, 0.0, false));
    assert_same(
        "sgd(lr=0.05,weight_decay=0.1)",
        torch_sgd(0.05, 0.0, 0.1, false),
    );
}

#[test]
fn sgd_momentum_is_torch_sgd_with_momentum() {
    assert_same(
        "sgd_momentum(lr=0.05,momentum=0.9)",
        torch_sgd(0.05, 0.9, 0.0, false),
    );
    assert_same(
        "sgd_momentum(lr=0.05,momentum=0.8,weight_decay=0.01)",
        torch_sgd(0.05, 0.8, 0.01, false),
    );
}

#[test]
fn nesterov_is_torch_nesterov() {
    assert_same(
        "sgd_momentum(lr=0.05,momentum=0.9,nesterov=true)",
        torch_sgd(0.05, 0.9, 0.0, true),
    );
    assert_same(
        "sgd_momentum(lr=0.02,momentum=0.5,nesterov=true,weight_decay=0.1)",
        torch_sgd(0.02, 0.5, 0.1, true),
    );
}

#[test]
fn rmsprop_is_torch_rmsprop() {
    // PyTorch's alpha is 1 − 1/N_s.
    assert_same("rmsprop", torch_rmsprop(0.01, 0.99, 1e-8, 0.0, 0.0));
    assert_same(
        "rmsprop(lr=0.001,n_s=1000,eps=1e-6,weight_decay=0.01)",
        torch_rmsprop(0.001, 0.999, 1e-6, 0.01, 0.0),
    );
}

#[test]
fn rmsprop_momentum_is_torch_rmsprop_with_momentum() {
    assert_same(
        "rmsprop_momentum",
        torch_rmsprop(1e-3, 0.99, 1e-8, 0.0, 0.9),
    );
    assert_same(
        "rmsprop_momentum(lr=0.001,n_s=10,momentum=0.5,weight_decay=0.1)",
        torch_rmsprop(0.001, 0.9, 1e-8, 0.1, 0.5),
    );
}

#[test]
fn adam_is_torch_adam() {
    assert_same("adam", torch_adam(1e-3, 0.9, 0.999, 1e-8, 0.0, false));
    assert_same(
        "adam(lr=0.01,b1=0.8,b2=0.99,eps=1e-6,weight_decay=0.01)",
        torch_adam(0.01, 0.8, 0.99, 1e-6, 0.01, false),
    );
    // ε is added after the square root of the corrected v̂: with a large ε
    // the placement shows.
    assert_same(
        "adam(lr=0.01,eps=0.5)",
        torch_adam(0.01, 0.9, 0.999, 0.5, 0.0, false),
    );
}

#[test]
fn adamw_is_torch_adamw() {
    assert_same("adamw", torch_adam(1e-3, 0.9, 0.999, 1e-8, 0.01, true));
    assert_same(
        "adamw(lr=0.01,weight_decay=0.5,eps=0.1)",
        torch_adam(0.01, 0.9, 0.999, 0.1, 0.5, true),
    );
}

/// torch.optim.Adagrad: γ̃ ← γ/(1 + (t − 1)η); g ← g + λθ;
/// state_sum ← state_sum + g² (state_sum₀ = τ); θ ← θ − γ̃·g/(√state_sum + ε).
fn torch_adagrad(lr: f64, lr_decay: f64, weight_decay: f64, tau: f64, eps: f64) -> Vec<Vec<f64>> {
    let mut sum = [tau; DIM];
    reference(move |t, theta, grad| {
        let clr = lr / (1.0 + (t - 1) as f64 * lr_decay);
        for i in 0..DIM {
            let mut g = grad[i];
            if weight_decay != 0.0 {
                g += weight_decay * theta[i];
            }
            sum[i] += g * g;
            theta[i] -= clr * g / (sum[i].sqrt() + eps);
        }
    })
}

#[test]
fn adagrad_is_torch_adagrad() {
    assert_same("adagrad", torch_adagrad(1e-2, 0.0, 0.0, 0.0, 1e-10));
    assert_same(
        "adagrad(lr=0.1,lr_decay=0.05,initial_accumulator_value=0.5,eps=1e-3,weight_decay=0.1)",
        torch_adagrad(0.1, 0.05, 0.1, 0.5, 1e-3),
    );
}

#[test]
fn defaults_are_torch_defaults_where_torch_has_them() {
    fn rule<R: gradlab_optim::Rule + Copy>(spec: &str) -> R {
        *Optimizer::from_spec(spec).unwrap().rule::<R>().unwrap()
    }
    // torch.optim.SGD(lr=1e-3, momentum=0, dampening=0, nesterov=False).
    assert_eq!(rule::<Sgd>("sgd"), Sgd { lr: 1e-3 });
    // PyTorch's momentum 0 would be plain SGD: μ = 0.9 and η = 0.01 instead
    // (η/(1 − μ) = 0.1); no Nesterov and no dampening, as PyTorch.
    assert_eq!(
        rule::<SgdMomentum>("sgd_momentum"),
        SgdMomentum {
            lr: 1e-2,
            momentum: 0.9,
            nesterov: false,
            dampening: gradlab_optim::Quiet(0.0),
        }
    );
    // torch.optim.RMSprop(lr=1e-2, alpha=0.99, eps=1e-8), s uncorrected.
    assert_eq!(
        rule::<RmsProp>("rmsprop"),
        RmsProp {
            lr: 1e-2,
            n_s: 100.0,
            eps: 1e-8,
            correction: Correction::None,
        }
    );
    // PyTorch's alpha and eps; μ = 0.9 (PyTorch's 0 is RMSprop) with
    // η = 10⁻³, so that η/(1 − μ) is RMSprop's 10⁻².
    assert_eq!(
        rule::<RmsPropMomentum>("rmsprop_momentum"),
        RmsPropMomentum {
            lr: 1e-3,
            n_s: 100.0,
            eps: 1e-8,
            momentum: 0.9,
            correction: Correction::None,
        }
    );
    // torch.optim.Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
    // amsgrad=False).
    let adam = Adam {
        lr: 1e-3,
        b1: 0.9,
        b2: 0.999,
        eps: 1e-8,
        correction: Correction::Published,
        amsgrad: Flag(false),
    };
    assert_eq!(rule::<Adam>("adam"), adam);
    // torch.optim.AdamW(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    // Adam with decoupled decay 10⁻².
    assert_eq!(rule::<Adam>("adamw"), adam);
    let adamw = Optimizer::from_spec("adamw").unwrap();
    assert_eq!(adamw.decoupled_weight_decay(), 1e-2);
    assert_eq!(
        adamw,
        Optimizer::from_spec("adam(decoupled_weight_decay=0.01)").unwrap()
    );
    // torch.optim.Adagrad(lr=1e-2, lr_decay=0, weight_decay=0,
    // initial_accumulator_value=0, eps=1e-10).
    assert_eq!(
        Optimizer::from_spec("adagrad").unwrap().to_string(),
        "adagrad(lr=0.01,lr_decay=0,initial_accumulator_value=0,eps=1e-10)"
    );
    for spec in ["sgd", "sgd_momentum", "rmsprop", "adam", "adagrad"] {
        let opt = Optimizer::from_spec(spec).unwrap();
        assert_eq!(opt.weight_decay(), 0.0, "{spec}");
        assert_eq!(opt.decoupled_weight_decay(), 0.0, "{spec}");
    }
}
