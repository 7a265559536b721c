//! The rules added beside the lecture's, against transcriptions of their
//! reference implementations' documented updates, in `f64`, line by line:
//! 50 steps of a matrix-shaped `[3, 4]` and a vector-shaped `[5]` parameter
//! on a gradient stream whose elements span five orders of magnitude
//! (scales 10⁻³ … 10², cycled over the elements), so that both the tiny and
//! the large gradients of a real network are exercised. Every θ must stay
//! within a relative error of 10⁻⁵ of the reference's, relative to
//! max(|θ|, 0.1): the f32 rounding of 50 steps stays below 2·10⁻⁶ (a rule
//! that computed 1 − β in f32 from a rounded β would be off by 10⁻⁵, as
//! 1 − f32(0.999) is).

mod common;

use gradlab_optim::Optimizer;
use gradlab_tensor::{rng, Tensor};

const STEPS: usize = 50;
const SHAPES: [&[usize]; 2] = [&[3, 4], &[5]];
const SCALES: [f64; 6] = [1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0];

/// θ₀ of each parameter and the gradient stream g_1..g_50 (independent of
/// θ, so both implementations see the same numbers): element i of a
/// parameter has scale `SCALES[i % 6]`.
fn problem() -> Problem {
    problem_at(&SCALES)
}

/// θ₀ and gradients g_1..g_50, θ₀ for each parameter and each step's
/// gradient of each.
type Problem = (Vec<Vec<f32>>, Vec<Vec<Vec<f32>>>);

/// [`problem`] with the elements' gradient scales cycled from `scales`.
fn problem_at(scales: &[f64]) -> Problem {
    let mut r = rng(21);
    let theta = SHAPES
        .iter()
        .map(|s| Tensor::normal(s, 0.0, 1.0, &mut r).into_vec())
        .collect();
    let grads = (0..STEPS)
        .map(|_| {
            SHAPES
                .iter()
                .map(|s| {
                    let z = Tensor::normal(s, 0.3, 1.0, &mut r).into_vec();
                    z.iter()
                        .enumerate()
                        .map(|(i, &z)| (f64::from(z) * scales[i % scales.len()]) as f32)
                        .collect()
                })
                .collect()
        })
        .collect();
    (theta, grads)
}

/// θ of both parameters after each step of the optimizer built from `spec`.
fn ours(spec: &str, (theta, grads): Problem) -> Vec<Vec<Vec<f64>>> {
    let mut opt = Optimizer::from_spec(spec).unwrap();
    let mut values: Vec<Tensor> = theta
        .into_iter()
        .zip(SHAPES)
        .map(|(t, s)| Tensor::from_vec(t, s))
        .collect();
    grads
        .iter()
        .map(|g| {
            let g: Vec<Tensor> = g
                .iter()
                .zip(SHAPES)
                .map(|(g, s)| Tensor::from_vec(g.clone(), s))
                .collect();
            common::step(&mut opt, &mut values, &g, None, 32);
            values
                .iter()
                .map(|v| v.data().iter().map(|&x| f64::from(x)).collect())
                .collect()
        })
        .collect()
}

/// An elementwise reference: `update(t, θ_i, g_i, state_i)` for one
/// element, its state `K` numbers starting at `init`.
fn reference<const K: usize>(
    init: [f64; K],
    update: impl Fn(usize, &mut f64, f64, &mut [f64; K]),
) -> Vec<Vec<Vec<f64>>> {
    let (theta, grads) = problem();
    let mut theta: Vec<Vec<f64>> = theta
        .iter()
        .map(|t| t.iter().map(|&x| f64::from(x)).collect())
        .collect();
    let mut state: Vec<Vec<[f64; K]>> = theta.iter().map(|t| vec![init; t.len()]).collect();
    grads
        .iter()
        .enumerate()
        .map(|(step, g)| {
            for ((theta, state), g) in theta.iter_mut().zip(&mut state).zip(g) {
                for ((x, s), &g) in theta.iter_mut().zip(state.iter_mut()).zip(g) {
                    update(step + 1, x, f64::from(g), s);
                }
            }
            theta.clone()
        })
        .collect()
}

/// A per-tensor reference: `update(t, θ, g, state)` for a whole
/// parameter, its state `K` tensors of zeros.
fn reference_tensor<const K: usize>(
    mut update: impl FnMut(usize, &mut [f64], &[f64], &mut [Vec<f64>; K]),
) -> Vec<Vec<Vec<f64>>> {
    let (theta, grads) = problem();
    let mut theta: Vec<Vec<f64>> = theta
        .iter()
        .map(|t| t.iter().map(|&x| f64::from(x)).collect())
        .collect();
    let mut state: Vec<[Vec<f64>; K]> = theta
        .iter()
        .map(|t| std::array::from_fn(|_| vec![0.0; t.len()]))
        .collect();
    grads
        .iter()
        .enumerate()
        .map(|(step, g)| {
            for ((theta, state), g) in theta.iter_mut().zip(&mut state).zip(g) {
                let g: Vec<f64> = g.iter().map(|&x| f64::from(x)).collect();
                update(step + 1, theta, &g, state);
            }
            theta.clone()
        })
        .collect()
}

fn assert_same(spec: &str, reference: Vec<Vec<Vec<f64>>>) {
    assert_within(spec, reference, 1e-5);
}

/// [`assert_same`] with a tolerance of `tol`; also prints the largest
/// error seen.
fn assert_within(spec: &str, reference: Vec<Vec<Vec<f64>>>, tol: f64) {
    assert_within_on(spec, problem(), reference, tol);
}

/// [`assert_within`] on the problem `on`.
fn assert_within_on(spec: &str, on: Problem, reference: Vec<Vec<Vec<f64>>>, tol: f64) {
    let mut worst = 0.0f64;
    for (t, (a, b)) in ours(spec, on).iter().zip(&reference).enumerate() {
        for (p, (a, b)) in a.iter().zip(b).enumerate() {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                let err = (x - y).abs() / y.abs().max(0.1);
                worst = worst.max(err);
                assert!(
                    err <= tol,
                    "{spec}: step {}, parameter {p} {:?}, θ[{i}] = {x}, the reference gives {y} \
                     (relative error {err:e})",
                    t + 1,
                    SHAPES[p]
                );
            }
        }
    }
    println!("{spec}: largest relative error {worst:.2e}");
}

/// torch.optim.Adamax (PyTorch 2.x documentation): g ← g + λθ;
/// m ← β₁m + (1 − β₁)g; u ← max(β₂u, |g| + ε); θ ← θ − γ·m/((1 − β₁ᵗ)u).
#[test]
fn adamax_follows_torch() {
    let (lr, b1, b2, eps, wd) = (0.01, 0.9, 0.999, 1e-8, 0.05);
    let want = reference([0.0; 2], |t, theta, g, [m, u]| {
        let g = g + wd * *theta;
        *m = b1 * *m + (1.0 - b1) * g;
        *u = (b2 * *u).max(g.abs() + eps);
        *theta -= lr * *m / ((1.0 - b1.powi(t as i32)) * *u);
    });
    assert_same("adamax(lr=0.01,weight_decay=0.05)", want);
}

/// torch.optim.Adam(amsgrad=True) and AdamW(amsgrad=True) (PyTorch 2.x
/// documentation): m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²;
/// v_max ← max(v_max, v); θ ← θ − γ·(m/(1 − β₁ᵗ))/(√v_max/√(1 − β₂ᵗ) + ε),
/// with g ← g + λθ (Adam) or θ ← θ(1 − γλ) first (AdamW).
fn torch_amsgrad(lr: f64, wd: f64, decoupled: bool) -> Vec<Vec<Vec<f64>>> {
    let (b1, b2, eps) = (0.9, 0.99, 1e-8);
    reference([0.0; 3], |t, theta, g, [m, v, v_max]| {
        let g = if decoupled { g } else { g + wd * *theta };
        if decoupled {
            *theta *= 1.0 - lr * wd;
        }
        *m = b1 * *m + (1.0 - b1) * g;
        *v = b2 * *v + (1.0 - b2) * g * g;
        *v_max = v_max.max(*v);
        let t = t as i32;
        let denom = v_max.sqrt() / (1.0 - b2.powi(t)).sqrt() + eps;
        *theta -= lr * (*m / (1.0 - b1.powi(t))) / denom;
    })
}

#[test]
fn adam_amsgrad_follows_torch() {
    assert_same(
        "adam(lr=0.01,b2=0.99,weight_decay=0.05,amsgrad=true)",
        torch_amsgrad(0.01, 0.05, false),
    );
    assert_same(
        "adamw(lr=0.01,b2=0.99,weight_decay=0.1,amsgrad=true)",
        torch_amsgrad(0.01, 0.1, true),
    );
}

/// optax.contrib.schedule_free_adamw (optax 0.2.x source, no warm-up):
/// z₀ = θ₀; per step, lr_max ← max(lr_max, γ), w = lr_max², W ← W + w,
/// c = w/W; v ← β₂v + (1 − β₂)g²; u = g/(√(v/(1 − β₂ᵗ)) + ε) + λθ;
/// z' = z − γu; x = (θ − (1 − β₁)z)/β₁ (recomputed, as optax does);
/// x' = (1 − c)x + cz'; θ ← β₁x' + (1 − β₁)z'. Also returns x' of each step,
/// the evaluation point.
fn optax_schedule_free(lr: f64, b1: f64, wd: f64) -> [Vec<Vec<Vec<f64>>>; 2] {
    schedule_free(lr, b1, wd, (0, 0))
}

/// [`optax_schedule_free`] with a linear warm-up over `warmup.0` steps
/// (factor min(1, t/W) at step t), z's step at the factor of step
/// t − `warmup.1`: 0 as the reference `AdamWScheduleFree` takes it, 1 as
/// optax 0.2.8 does (its schedule read at the count before the step).
fn schedule_free(lr: f64, b1: f64, wd: f64, (warmup, lag): (u64, u64)) -> [Vec<Vec<Vec<f64>>>; 2] {
    let (b2, eps) = (0.999, 1e-8);
    let factor = |t: u64| match warmup {
        0 => 1.0,
        w => (t as f64 / w as f64).min(1.0),
    };
    let mut eval = Vec::new();
    let (mut weight_sum, mut max_lr) = (0.0, 0.0f64);
    let (theta0, _) = problem();
    let mut z: Vec<Vec<f64>> = theta0
        .iter()
        .map(|t| t.iter().map(|&x| f64::from(x)).collect())
        .collect();
    let train = reference_tensor(|t, theta, g, [v]| {
        let p = if theta.len() == SHAPES[0].iter().product::<usize>() {
            0
        } else {
            1
        };
        let t = t as u64;
        if p == 0 {
            max_lr = max_lr.max(lr * factor(t));
            weight_sum += max_lr * max_lr;
        }
        let c = max_lr * max_lr / weight_sum;
        let lr_z = lr * factor(t - lag);
        let mut x_next = vec![0.0; theta.len()];
        for i in 0..theta.len() {
            v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
            let v_hat = v[i] / (1.0 - b2.powi(t as i32));
            let u = g[i] / (v_hat.sqrt() + eps) + wd * theta[i];
            let z_next = z[p][i] - lr_z * u;
            let x = (theta[i] - (1.0 - b1) * z[p][i]) / b1;
            x_next[i] = (1.0 - c) * x + c * z_next;
            theta[i] = b1 * x_next[i] + (1.0 - b1) * z_next;
            z[p][i] = z_next;
        }
        if p == 0 {
            eval.push(vec![x_next]);
        } else {
            eval.last_mut().unwrap().push(x_next);
        }
    });
    [train, eval]
}

/// AlgoPerf's "Schedule Free AdamW v2" (mlcommons/submissions_algorithms
/// at 12c8e4e, `AdamWScheduleFreeV2`, which keeps x in the parameter): at
/// step t with γ = lr·min(1, t/W): y = lerp(x, z, 1 − β₁) (the gradient's
/// point); w = γ², W ← W + w, c = w/W; s = γ·√(1 − β₂ᵗ); z ← z − sλy;
/// v ← β₂v + (1 − β₂)g²; z ← z − s·g/(√v + ε); x ← lerp(x, z, c).
fn schedule_free_v2(lr: f64, b1: f64, b2: f64, wd: f64, warmup: u64) -> Vec<Vec<Vec<f64>>> {
    let eps = 1e-8;
    let (theta0, _) = problem();
    let start = |t: &Vec<f32>| t.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
    let mut zx: Vec<[Vec<f64>; 2]> = theta0.iter().map(|t| [start(t), start(t)]).collect();
    let mut weight_sum = 0.0;
    reference_tensor(|t, theta, g, [v]| {
        let p = usize::from(theta.len() != SHAPES[0].iter().product::<usize>());
        let [z, x] = &mut zx[p];
        let gamma = lr * (t as f64 / warmup as f64).min(1.0);
        if p == 0 {
            weight_sum += gamma * gamma;
        }
        let c = gamma * gamma / weight_sum;
        let s = gamma * (1.0 - b2.powi(t as i32)).sqrt();
        for i in 0..theta.len() {
            let y = theta[i];
            z[i] -= s * wd * y;
            v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
            z[i] -= s * g[i] / (v[i].sqrt() + eps);
            x[i] += c * (z[i] - x[i]);
            theta[i] = x[i] + (1.0 - b1) * (z[i] - x[i]);
        }
    })
}

/// `corrected_step=true` is AlgoPerf's v2, whose trajectory is another one
/// than the reference's.
#[test]
fn schedule_free_adamw_corrected_step_follows_algoperf_v2() {
    let spec =
        "schedule_free_adamw(lr=0.01,b2=0.9955,weight_decay=0.08,warmup=5,corrected_step=true)";
    let v2 = schedule_free_v2(0.01, 0.9, 0.9955, 0.08, 5);
    assert_same(spec, v2.clone());
    let plain = ours(&spec.replace(",corrected_step=true", ""), problem());
    let gap = plain
        .iter()
        .flatten()
        .flatten()
        .zip(v2.iter().flatten().flatten())
        .map(|(a, b)| (a - b).abs() / b.abs().max(0.1))
        .fold(0.0f64, f64::max);
    assert!(gap > 1e-3, "the reference's correction is {gap:e} away");
}

/// With a warm-up, z's step and the averaging weight both take step t's
/// rate, as the reference `AdamWScheduleFree` does; optax 0.2.8 gives z the
/// rate of step t − 1, and its trajectory is another one (documented on
/// the rule).
#[test]
fn schedule_free_adamw_warms_up_as_the_reference_not_as_optax() {
    let spec = "schedule_free_adamw(lr=0.01,decoupled_weight_decay=0.05,warmup=5)";
    let [reference, _] = schedule_free(0.01, 0.9, 0.05, (5, 0));
    assert_same(spec, reference);
    let [optax, _] = schedule_free(0.01, 0.9, 0.05, (5, 1));
    let ours = ours(spec, problem());
    let gap = ours
        .iter()
        .flatten()
        .flatten()
        .zip(optax.iter().flatten().flatten())
        .map(|(a, b)| (a - b).abs() / b.abs().max(0.1))
        .fold(0.0f64, f64::max);
    assert!(gap > 1e-3, "optax's lagged warm-up is {gap:e} away");
}

#[test]
fn schedule_free_adamw_follows_optax() {
    let spec = "schedule_free_adamw(lr=0.01,decay=0.05)";
    let [train, eval] = optax_schedule_free(0.01, 0.9, 0.05);
    assert_same(spec, train);
    // The evaluation point, x, against optax's schedule_free_eval_params.
    let (theta, grads) = problem();
    let mut opt = Optimizer::from_spec(spec).unwrap();
    let mut values: Vec<Tensor> = theta
        .into_iter()
        .zip(SHAPES)
        .map(|(t, s)| Tensor::from_vec(t, s))
        .collect();
    for (g, want) in grads.iter().zip(&eval) {
        let g: Vec<Tensor> = g
            .iter()
            .zip(SHAPES)
            .map(|(g, s)| Tensor::from_vec(g.clone(), s))
            .collect();
        common::step(&mut opt, &mut values, &g, None, 32);
        for (id, want) in want.iter().enumerate() {
            let got = opt.evaluation_point(id).unwrap();
            for (&a, &b) in got.data().iter().zip(want) {
                let err = (f64::from(a) - b).abs() / b.abs().max(0.1);
                assert!(
                    err <= 1e-5,
                    "x = {a}, optax gives {b} (relative error {err:e})"
                );
            }
        }
    }
}

/// C = A·B for row-major A (n × k) and B (k × m), in f64.
fn matmul(a: &[f64], b: &[f64], n: usize, k: usize, m: usize) -> Vec<f64> {
    let mut c = vec![0.0; n * m];
    for i in 0..n {
        for l in 0..k {
            for j in 0..m {
                c[i * m + j] += a[i * k + l] * b[l * m + j];
            }
        }
    }
    c
}

/// The transpose of row-major X (n × m).
fn transpose(x: &[f64], n: usize, m: usize) -> Vec<f64> {
    (0..m * n).map(|k| x[(k % n) * m + k / n]).collect()
}

/// torch.optim.Muon's `_zeropower_via_newtonschulz` in f64: X = G (or Gᵀ
/// when rows > cols), X /= max(‖X‖_F, ε), five times
/// A = XXᵀ, B = bA + cA², X = aX + BX; transposed back.
fn newton_schulz(g: &[f64], rows: usize, cols: usize, eps: f64) -> Vec<f64> {
    let (a, b, c) = (3.4445, -4.7750, 2.0315);
    let tall = rows > cols;
    let (n, m) = if tall { (cols, rows) } else { (rows, cols) };
    let mut x = if tall {
        transpose(g, rows, cols)
    } else {
        g.to_vec()
    };
    let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt().max(eps);
    x.iter_mut().for_each(|v| *v /= norm);
    for _ in 0..5 {
        let gram = matmul(&x, &transpose(&x, n, m), n, m, n);
        let gram2 = matmul(&gram, &gram, n, n, n);
        let poly: Vec<f64> = gram
            .iter()
            .zip(&gram2)
            .map(|(g, g2)| b * g + c * g2)
            .collect();
        let px = matmul(&poly, &x, n, n, m);
        x = x.iter().zip(&px).map(|(x, p)| a * x + p).collect();
    }
    if tall {
        transpose(&x, n, m)
    } else {
        x
    }
}

/// torch.optim.Muon (PyTorch 2.9 documentation) for a matrix: B ← μB + g;
/// B̃ = g + μB (Nesterov); O = NS(B̃); θ ← θ − γλθ; θ ← θ − γ·√max(1, A/B)·O.
/// For a vector, the reference's AdamW half: θ ← θ − γ_a·λ_a·θ, then Adam
/// with γ_a, β = (0.9, 0.95), ε = 10⁻¹⁰.
fn torch_muon(
    (lr, wd): (f64, f64),
    (adam_lr, adam_wd): (f64, f64),
    shapes: [&[usize]; 2],
) -> Vec<Vec<Vec<f64>>> {
    let (mu, eps, b1, b2, adam_eps) = (0.95, 1e-7, 0.9, 0.95, 1e-10);
    reference_tensor(|t, theta, g, [buf, v]| {
        let shape = shapes
            .iter()
            .find(|s| s.iter().product::<usize>() == theta.len())
            .unwrap();
        let decay = if shape.len() == 2 {
            lr * wd
        } else {
            adam_lr * adam_wd
        };
        theta.iter_mut().for_each(|x| *x *= 1.0 - decay);
        if let [rows, cols] = **shape {
            for (b, &g) in buf.iter_mut().zip(g) {
                *b = mu * *b + g;
            }
            let nesterov: Vec<f64> = g.iter().zip(buf.iter()).map(|(g, b)| g + mu * b).collect();
            let o = newton_schulz(&nesterov, rows, cols, eps);
            let scale = (rows as f64 / cols as f64).max(1.0).sqrt();
            for (x, o) in theta.iter_mut().zip(o) {
                *x -= lr * scale * o;
            }
        } else {
            let t = t as i32;
            for i in 0..theta.len() {
                buf[i] = b1 * buf[i] + (1.0 - b1) * g[i];
                v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
                let v_hat = v[i] / (1.0 - b2.powi(t));
                theta[i] -= adam_lr * buf[i] / (1.0 - b1.powi(t)) / (v_hat.sqrt() + adam_eps);
            }
        }
    })
}

/// Newton–Schulz amplifies f32 rounding (its polynomial's slope reaches
/// a = 3.4 near 0), hence 10⁻⁴.
#[test]
fn muon_follows_torch() {
    assert_within(
        "muon(lr=0.02,decay=0.01,adam_lr=0.003,adam_decay=0.05)",
        torch_muon((0.02, 0.01), (0.003, 0.05), SHAPES),
        1e-4,
    );
}

/// A tall matrix is orthogonalized through its transpose and its step
/// scaled by √(rows/cols): Muon on Gᵀ is the transpose of Muon on G, times
/// √(4/3).
#[test]
fn muon_takes_a_tall_matrix_through_its_transpose() {
    let mut r = rng(5);
    let g = Tensor::normal(&[3, 4], 0.0, 1.0, &mut r);
    let gt = Tensor::from_vec(
        (0..12).map(|k| g.data()[(k % 3) * 4 + k / 3]).collect(),
        &[4, 3],
    );
    let step = |grad: &Tensor| {
        let mut opt = Optimizer::from_spec("muon(lr=0.1,decay=0)").unwrap();
        let mut values = vec![Tensor::zeros(grad.shape())];
        common::step(&mut opt, &mut values, std::slice::from_ref(grad), None, 1);
        values.remove(0).into_vec()
    };
    let (wide, tall) = (step(&g), step(&gt));
    let scale = (4.0f32 / 3.0).sqrt();
    for k in 0..12 {
        let want = wide[(k % 3) * 4 + k / 3] * scale;
        assert!((tall[k] - want).abs() <= 1e-6, "{k}: {} vs {want}", tall[k]);
    }
    let exact = newton_schulz(
        &gt.data().iter().map(|&x| f64::from(x)).collect::<Vec<_>>(),
        4,
        3,
        1e-7,
    );
    for (k, o) in exact.iter().enumerate() {
        let want = -0.1 * (4.0f64 / 3.0).sqrt() * o;
        assert!((f64::from(tall[k]) - want).abs() <= 1e-5, "{k}");
    }
}

/// torch.optim.Adafactor's `_single_tensor_adafactor` (PyTorch 2.x) in
/// f64: 1 − β̂ = t^τ, ρ = min(γ, 1/√t), α = max(ε₂, ‖θ‖/√n)·ρ, θ ← θ(1 − γλ);
/// a matrix lerps its row and column means of g², V̂ = row·col/max(mean(row),
/// ε₁), a vector lerps V̂ to g²; U = g/√max(V̂, ε₁²);
/// θ ← θ − α/max(1, ‖U‖/(√n·d))·U.
fn torch_adafactor(lr: f64, wd: f64, d: f64) -> Vec<Vec<Vec<f64>>> {
    let (tau, eps1, eps2) = (-0.8, f64::from(f32::EPSILON), 1e-3f64);
    reference_tensor(|t, theta, g, [row, col, v]| {
        let n = theta.len();
        let t = t as f64;
        let take = t.powf(tau);
        let rho = lr.min(1.0 / t.sqrt());
        let norm = theta.iter().map(|x| x * x).sum::<f64>().sqrt();
        let alpha = eps2.max(norm / (n as f64).sqrt()) * rho;
        theta.iter_mut().for_each(|x| *x *= 1.0 - lr * wd);
        let var: Vec<f64> = if n == 12 {
            let (rows, cols) = (3, 4);
            for i in 0..rows {
                let mean = (0..cols).map(|j| g[i * cols + j].powi(2)).sum::<f64>() / cols as f64;
                row[i] += take * (mean - row[i]);
            }
            for j in 0..cols {
                let mean = (0..rows).map(|i| g[i * cols + j].powi(2)).sum::<f64>() / rows as f64;
                col[j] += take * (mean - col[j]);
            }
            let mean_r = (row[..rows].iter().sum::<f64>() / rows as f64).max(eps1);
            (0..n)
                .map(|k| row[k / cols] * col[k % cols] / mean_r)
                .collect()
        } else {
            for (v, g) in v.iter_mut().zip(g) {
                *v += take * (g * g - *v);
            }
            v.clone()
        };
        let u: Vec<f64> = g
            .iter()
            .zip(&var)
            .map(|(g, v)| g / v.max(eps1 * eps1).sqrt())
            .collect();
        let u_norm = u.iter().map(|x| x * x).sum::<f64>().sqrt();
        let denom = (u_norm / ((n as f64).sqrt() * d)).max(1.0);
        for (x, u) in theta.iter_mut().zip(u) {
            *x -= alpha / denom * u;
        }
    })
}

#[test]
fn adafactor_follows_torch() {
    assert_same(
        "adafactor(lr=0.05,weight_decay=0.1)",
        torch_adafactor(0.05, 0.1, 1.0),
    );
    assert_same("adafactor(lr=0.01,d=2)", torch_adafactor(0.01, 0.0, 2.0));
}

/// optax.contrib.prodigy (optax 0.2.x source) in f64, over both parameters
/// at once (its sums run over the whole tree).
fn optax_prodigy(lr: f64, d0: f64, coef: f64, wd: f64) -> Vec<Vec<Vec<f64>>> {
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
    let b3 = b2.sqrt();
    let (theta, grads) = problem();
    let mut theta: Vec<Vec<f64>> = theta
        .iter()
        .map(|t| t.iter().map(|&x| f64::from(x)).collect())
        .collect();
    let x0 = theta.clone();
    let zeros = || -> Vec<Vec<f64>> { theta.iter().map(|t| vec![0.0; t.len()]).collect() };
    let (mut m, mut v, mut s) = (zeros(), zeros(), zeros());
    let (mut d, mut r) = (d0, 0.0);
    let mut out = Vec::new();
    for (step, g) in grads.iter().enumerate() {
        let t = step as i32 + 1;
        let g: Vec<Vec<f64>> = g
            .iter()
            .map(|g| g.iter().map(|&x| f64::from(x)).collect())
            .collect();
        let d_lr = d * lr * (1.0 - b2.powi(t)).sqrt() / (1.0 - b1.powi(t));
        let mut moved = 0.0;
        for p in 0..theta.len() {
            for i in 0..theta[p].len() {
                moved += g[p][i] * (x0[p][i] - theta[p][i]);
                let dg = d * g[p][i];
                m[p][i] = b1 * m[p][i] + (1.0 - b1) * dg;
                v[p][i] = b2 * v[p][i] + (1.0 - b2) * dg * dg;
                s[p][i] = b3 * s[p][i] + d_lr * dg / d0;
            }
        }
        r = b3 * r + (d / d0) * d_lr * moved;
        let total: f64 = s.iter().flatten().map(|x| x.abs()).sum();
        d = d.max(coef * r / total);
        for p in 0..theta.len() {
            for i in 0..theta[p].len() {
                theta[p][i] -=
                    wd * d_lr * theta[p][i] + d_lr * m[p][i] / (v[p][i].sqrt() + d * eps);
            }
        }
        out.push(theta.clone());
    }
    out
}

/// The estimate d multiplies every step, and its numerator sums ĝ·(Φ₀ − Φ)
/// over Φ that have moved little from Φ₀: in f32 each difference keeps only
/// a few digits (Φ₀ and Φ agree in their leading ones), so d is off by up to
/// 4·10⁻⁴ in the first steps and θ by up to 10⁻⁴ (measured: 2.5·10⁻⁵ and
/// 2.6·10⁻⁵ below; 1.2·10⁻⁴ with estim_lr_coef=2, where d grows 2 600-fold
/// in 50 steps).
#[test]
fn prodigy_follows_optax() {
    assert_within("prodigy", optax_prodigy(1.0, 1e-6, 1.0, 0.0), 1e-4);
    assert_within(
        "prodigy(lr=0.5,estim_lr0=1e-3,decay=0.01)",
        optax_prodigy(0.5, 1e-3, 1.0, 0.01),
        1e-4,
    );
}

/// μ_t and Π_t of torch.optim.NAdam.
fn nadam_mu(b1: f64, psi: f64, t: usize) -> f64 {
    b1 * (1.0 - 0.5 * 0.96f64.powf(t as f64 * psi))
}

/// torch.optim.NAdam (PyTorch 2.x documentation), with decoupled decay
/// θ ← θ(1 − γλ) first when `decoupled`, else g ← g + λθ:
/// μ_t = β₁(1 − ½·0.96^(tψ)); m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²;
/// m̂ = μ_{t+1}m/(1 − Π_{i≤t+1}μ_i) + (1 − μ_t)g/(1 − Π_{i≤t}μ_i);
/// v̂ = v/(1 − β₂ᵗ); θ ← θ − γ·m̂/(√v̂ + ε).
fn torch_nadam(lr: f64, wd: f64, decoupled: bool) -> Vec<Vec<Vec<f64>>> {
    let (b1, b2, eps, psi) = (0.9, 0.999, 1e-8, 4e-3);
    reference([0.0; 2], move |t, theta, g, [m, v]| {
        let g = if decoupled {
            *theta *= 1.0 - lr * wd;
            g
        } else {
            g + wd * *theta
        };
        let product = |n: usize| (1..=n).map(|i| nadam_mu(b1, psi, i)).product::<f64>();
        *m = b1 * *m + (1.0 - b1) * g;
        *v = b2 * *v + (1.0 - b2) * g * g;
        let m_hat = nadam_mu(b1, psi, t + 1) * *m / (1.0 - product(t + 1))
            + (1.0 - nadam_mu(b1, psi, t)) * g / (1.0 - product(t));
        let v_hat = *v / (1.0 - b2.powi(t as i32));
        *theta -= lr * m_hat / (v_hat.sqrt() + eps);
    })
}

#[test]
fn nadam_follows_torch() {
    assert_same(
        "nadam(lr=0.01,weight_decay=0.05)",
        torch_nadam(0.01, 0.05, false),
    );
}

#[test]
fn nadamw_follows_torch_with_decoupled_weight_decay() {
    assert_same(
        "nadamw(lr=0.01,weight_decay=0.1)",
        torch_nadam(0.01, 0.1, true),
    );
}

/// torch.optim.RAdam (PyTorch 2.x documentation): g ← g + λθ;
/// m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²; m̂ = m/(1 − β₁ᵗ);
/// ρ_t = ρ_∞ − 2tβ₂ᵗ/(1 − β₂ᵗ); if ρ_t > 5: l = √(1 − β₂ᵗ)/(√v + ε),
/// r = √((ρ_t − 4)(ρ_t − 2)ρ_∞/((ρ_∞ − 4)(ρ_∞ − 2)ρ_t)), θ ← θ − γm̂rl;
/// else θ ← θ − γm̂. The 50 steps cover both branches (ρ_t > 5 from t = 6).
#[test]
fn radam_follows_torch() {
    let (lr, b1, b2, eps, wd) = (0.01, 0.9, 0.999, 1e-8, 0.05);
    let want = reference([0.0; 2], |t, theta, g, [m, v]| {
        let g = g + wd * *theta;
        *m = b1 * *m + (1.0 - b1) * g;
        *v = b2 * *v + (1.0 - b2) * g * g;
        let (bias1, bias2) = (1.0 - b1.powi(t as i32), 1.0 - b2.powi(t as i32));
        let m_hat = *m / bias1;
        let rho_inf = 2.0 / (1.0 - b2) - 1.0;
        let rho = rho_inf - 2.0 * t as f64 * b2.powi(t as i32) / bias2;
        if rho > 5.0 {
            let l = bias2.sqrt() / (v.sqrt() + eps);
            let r = ((rho - 4.0) * (rho - 2.0) * rho_inf
                / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho))
                .sqrt();
            *theta -= lr * m_hat * r * l;
        } else {
            *theta -= lr * m_hat;
        }
    });
    assert_same("radam(lr=0.01,weight_decay=0.05)", want);
}

/// torch.optim.Adadelta (PyTorch 2.x documentation): g ← g + λθ;
/// v ← ρv + (1 − ρ)g²; Δ = √(u + ε)/√(v + ε)·g; u ← ρu + (1 − ρ)Δ²;
/// θ ← θ − γΔ.
#[test]
fn adadelta_follows_torch() {
    let (lr, rho, eps, wd) = (1.0, 0.9, 1e-6, 0.05);
    let want = reference([0.0; 2], |_, theta, g, [v, u]| {
        let g = g + wd * *theta;
        *v = rho * *v + (1.0 - rho) * g * g;
        let delta = (*u + eps).sqrt() / (*v + eps).sqrt() * g;
        *u = rho * *u + (1.0 - rho) * delta * delta;
        *theta -= lr * delta;
    });
    assert_same("adadelta(weight_decay=0.05)", want);
}

/// optax.yogi (optax 0.2.x, `scale_by_yogi` with eps_root = 0 and both
/// moments starting at 10⁻⁶, then the learning rate), with L2 decay
/// g ← g + λθ first: m ← β₁m + (1 − β₁)g; v ← v − (1 − β₂)·sign(v − g²)·g²;
/// θ ← θ − α·m̂/(√v̂ + ε).
#[test]
fn yogi_follows_optax() {
    let (lr, b1, b2, eps, wd) = (0.01, 0.9, 0.999, 1e-3, 0.05);
    let sign = |x: f64| x.signum() * f64::from(x != 0.0);
    let want = reference([1e-6; 2], |t, theta, g, [m, v]| {
        let g = g + wd * *theta;
        *m = b1 * *m + (1.0 - b1) * g;
        *v -= (1.0 - b2) * sign(*v - g * g) * g * g;
        let m_hat = *m / (1.0 - b1.powi(t as i32));
        let v_hat = *v / (1.0 - b2.powi(t as i32));
        *theta -= lr * m_hat / (v_hat.sqrt() + eps);
    });
    assert_same("yogi(lr=0.01,weight_decay=0.05)", want);
}

/// optax.adabelief (optax 0.2.x, `scale_by_belief` without Nesterov, then
/// `add_decayed_weights(λ)` and the learning rate):
/// m ← β₁m + (1 − β₁)g; s ← β₂s + (1 − β₂)(g − m)² + ε_root;
/// u = m̂/(√ŝ + ε) + λθ; θ ← θ − α·u. optax's λθ is this crate's decoupled
/// decay.
#[test]
fn adabelief_follows_optax() {
    let (lr, b1, b2, eps, eps_root, wd) = (0.01, 0.9, 0.999, 1e-16, 1e-16, 0.1);
    let want = reference([0.0; 2], |t, theta, g, [m, s]| {
        *m = b1 * *m + (1.0 - b1) * g;
        *s = b2 * *s + (1.0 - b2) * (g - *m) * (g - *m) + eps_root;
        let m_hat = *m / (1.0 - b1.powi(t as i32));
        let s_hat = *s / (1.0 - b2.powi(t as i32));
        *theta -= lr * (m_hat / (s_hat.sqrt() + eps) + wd * *theta);
    });
    assert_same("adabelief(lr=0.01,decoupled_weight_decay=0.1)", want);
}

/// optax.sign_sgd (optax 0.2.x): θ ← θ − α·sign(g), with L2 decay first.
#[test]
fn sign_sgd_follows_optax() {
    let (lr, wd) = (0.01, 0.05);
    let want = reference([0.0; 0], |_, theta, g, _| {
        let g = g + wd * *theta;
        *theta -= lr * g.signum() * f64::from(g != 0.0);
    });
    assert_same("sign_sgd(lr=0.01,weight_decay=0.05)", want);
}

/// optax.signum (optax 0.2.x, `ema(β, debias=False)`, the sign, then the
/// learning rate): m ← βm + (1 − β)g; θ ← θ − α·sign(m).
#[test]
fn signum_follows_optax() {
    let (lr, beta) = (0.01, 0.9);
    let want = reference([0.0; 1], |_, theta, g, [m]| {
        *m = beta * *m + (1.0 - beta) * g;
        *theta -= lr * m.signum() * f64::from(*m != 0.0);
    });
    assert_same("signum(lr=0.01)", want);
}

/// optax.lamb (optax 0.2.x: `scale_by_adam` with eps_root = 0,
/// `add_decayed_weights(λ)`, `scale_by_trust_ratio`, the learning rate):
/// u = m̂/(√v̂ + ε) + λθ; r = ‖θ‖/‖u‖ (1 if either is 0); θ ← θ − α·r·u,
/// the norms over the whole tensor.
#[test]
fn lamb_follows_optax() {
    let (lr, b1, b2, eps, wd): (f64, f64, f64, f64, f64) = (0.01, 0.9, 0.999, 1e-6, 0.01);
    let want = reference_tensor(|t, theta, g, [m, v]| {
        let (bias1, bias2) = (1.0 - b1.powi(t as i32), 1.0 - b2.powi(t as i32));
        let u: Vec<f64> = (0..theta.len())
            .map(|i| {
                m[i] = b1 * m[i] + (1.0 - b1) * g[i];
                v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
                (m[i] / bias1) / ((v[i] / bias2).sqrt() + eps) + wd * theta[i]
            })
            .collect();
        let norm = |x: &[f64]| x.iter().map(|x| x * x).sum::<f64>().sqrt();
        let (p, q) = (norm(theta), norm(&u));
        let ratio = if p == 0.0 || q == 0.0 { 1.0 } else { p / q };
        for (x, u) in theta.iter_mut().zip(&u) {
            *x -= lr * ratio * u;
        }
    });
    assert_same("lamb(lr=0.01,trust_weight_decay=0.01)", want);
}

/// NAdam's Π_t stops being multiplied once it is too small to change
/// 1 − Π_t in f64 (after about 60 steps): 400 steps still follow the
/// transcription that multiplies every μ_i.
#[test]
fn nadam_follows_torch_over_many_steps() {
    let (lr, b1, b2, eps, psi) = (0.01, 0.9, 0.999, 1e-8, 4e-3);
    let mut opt = Optimizer::from_spec("nadam(lr=0.01)").unwrap();
    let mut r = rng(8);
    let mut values = vec![Tensor::normal(&[4], 0.0, 1.0, &mut r)];
    let mut theta: Vec<f64> = values[0].data().iter().map(|&x| f64::from(x)).collect();
    let (mut m, mut v, mut product) = ([0.0f64; 4], [0.0f64; 4], 1.0f64);
    for t in 1..=400 {
        let g = Tensor::normal(&[4], 0.3, 1.0, &mut r);
        common::step(&mut opt, &mut values, std::slice::from_ref(&g), None, 32);
        product *= nadam_mu(b1, psi, t);
        let next = product * nadam_mu(b1, psi, t + 1);
        for i in 0..4 {
            let g = f64::from(g.data()[i]);
            m[i] = b1 * m[i] + (1.0 - b1) * g;
            v[i] = b2 * v[i] + (1.0 - b2) * g * g;
            let m_hat = nadam_mu(b1, psi, t + 1) * m[i] / (1.0 - next)
                + (1.0 - nadam_mu(b1, psi, t)) * g / (1.0 - product);
            let v_hat = v[i] / (1.0 - b2.powi(t as i32));
            theta[i] -= lr * m_hat / (v_hat.sqrt() + eps);
        }
        for (x, y) in values[0].data().iter().zip(&theta) {
            let err = (f64::from(*x) - y).abs() / y.abs().max(0.1);
            assert!(err <= 1e-5, "step {t}: {x} vs {y}");
        }
    }
}

/// LAMB's norms over a tensor of more than one block of partial sums
/// (1 200 elements), and a tensor of zeros, whose trust ratio is 1: optax's
/// rule, step by step.
#[test]
fn lamb_follows_optax_on_a_large_and_a_zero_tensor() {
    let (lr, b1, b2, eps): (f64, f64, f64, f64) = (0.01, 0.9, 0.999, 1e-6);
    let mut opt = Optimizer::from_spec("lamb(lr=0.01)").unwrap();
    let mut r = rng(9);
    let mut values = vec![
        Tensor::normal(&[40, 30], 0.0, 1.0, &mut r),
        Tensor::zeros(&[7]),
    ];
    let mut theta: Vec<Vec<f64>> = values
        .iter()
        .map(|v| v.data().iter().map(|&x| f64::from(x)).collect())
        .collect();
    let mut moments: Vec<(Vec<f64>, Vec<f64>)> = theta
        .iter()
        .map(|t| (vec![0.0; t.len()], vec![0.0; t.len()]))
        .collect();
    for t in 1..=20 {
        let grads = vec![
            Tensor::normal(&[40, 30], 0.3, 1.0, &mut r),
            Tensor::normal(&[7], 0.3, 1.0, &mut r),
        ];
        common::step(&mut opt, &mut values, &grads, None, 32);
        let (bias1, bias2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
        for ((theta, (m, v)), g) in theta.iter_mut().zip(&mut moments).zip(&grads) {
            let u: Vec<f64> = g
                .data()
                .iter()
                .enumerate()
                .map(|(i, &g)| {
                    let g = f64::from(g);
                    m[i] = b1 * m[i] + (1.0 - b1) * g;
                    v[i] = b2 * v[i] + (1.0 - b2) * g * g;
                    (m[i] / bias1) / ((v[i] / bias2).sqrt() + eps)
                })
                .collect();
            let norm = |x: &[f64]| x.iter().map(|x| x * x).sum::<f64>().sqrt();
            let (p, q) = (norm(theta), norm(&u));
            let ratio = if p == 0.0 || q == 0.0 { 1.0 } else { p / q };
            for (x, u) in theta.iter_mut().zip(&u) {
                *x -= lr * ratio * u;
            }
        }
        for (v, want) in values.iter().zip(&theta) {
            for (x, y) in v.data().iter().zip(want) {
                let err = (f64::from(*x) - y).abs() / y.abs().max(0.1);
                assert!(err <= 1e-5, "step {t}: {x} vs {y}");
            }
        }
    }
    // The zero tensor moved at the first step (ratio 1), by η·u.
    assert!(values[1].data().iter().all(|&x| x != 0.0));
}

/// torch.optim.SGD with dampening (PyTorch 2.x documentation): g ← g + λθ;
/// b ← g at t = 1, else b ← μb + (1 − τ)g; θ ← θ − γb.
#[test]
fn sgd_momentum_with_dampening_follows_torch() {
    let (lr, mu, tau, wd) = (0.01, 0.9, 0.5, 0.01);
    let want = reference([0.0; 1], |t, theta, g, [b]| {
        let g = g + wd * *theta;
        *b = if t > 1 { mu * *b + (1.0 - tau) * g } else { g };
        *theta -= lr * *b;
    });
    assert_same(
        "sgd_momentum(lr=0.01,momentum=0.9,dampening=0.5,weight_decay=0.01)",
        want,
    );
}

/// optax.lion (optax 0.2.x: `scale_by_lion` in "hard" mode,
/// `add_decayed_weights(λ)`, the learning rate): c = (1 − β₁)g + β₁m;
/// u = sign(c) + λθ; m ← β₂m + (1 − β₂)g; θ ← θ − α·u.
#[test]
fn lion_follows_optax() {
    let (lr, b1, b2, wd) = (0.01, 0.9, 0.99, 0.1);
    let sign = |x: f64| x.signum() * f64::from(x != 0.0);
    let want = reference([0.0; 1], |_, theta, g, [m]| {
        let u = sign((1.0 - b1) * g + b1 * *m) + wd * *theta;
        *m = b2 * *m + (1.0 - b2) * g;
        *theta -= lr * u;
    });
    assert_same("lion(lr=0.01,weight_decay=0.1)", want);
}

/// AdEMAMix, its authors' PyTorch `AdEMAMix` (apple/ml-ademamix,
/// `pytorch/ademamix.py`): at step count t, α from
/// `linear_warmup_scheduler(t, α, 0, T_α)` and β₃ from
/// `linear_hl_warmup_scheduler(t, β₃, β₁, T_β)`; m₁ ← β₁m₁ + (1 − β₁)g;
/// m₂ ← β₃m₂ + (1 − β₃)g; v ← β₂v + (1 − β₂)g²;
/// u = (m₁/(1 − β₁ᵗ) + α·m₂)/(√v/√(1 − β₂ᵗ) + ε) + λθ; θ ← θ − η·u. The
/// warm-ups end inside the 50 steps, so both of their branches are crossed.
#[test]
fn ademamix_follows_its_authors_pytorch() {
    let (lr, b1, b2, eps, wd) = (0.01, 0.9, 0.999, 1e-8, 0.1);
    let run = |b3_end: f64, alpha_end: f64, alpha_warmup: Option<f64>, b3_warmup: Option<f64>| {
        let linear = |t: f64, end: f64, start: f64, warmup: f64| {
            if t < warmup {
                let a = t / warmup;
                (1.0 - a) * start + a * end
            } else {
                end
            }
        };
        let f = |beta: f64| 0.5f64.ln() / (beta + 1e-8).ln() - 1.0;
        let f_inv = |h: f64| 0.5f64.powf(1.0 / (h + 1.0));
        reference([0.0; 3], move |t, theta, g, [m1, m2, v]| {
            let t = t as f64;
            let alpha = alpha_warmup.map_or(alpha_end, |w| linear(t, alpha_end, 0.0, w));
            let b3 = match b3_warmup {
                Some(w) if t < w => {
                    let a = t / w;
                    f_inv((1.0 - a) * f(b1) + a * f(b3_end))
                }
                _ => b3_end,
            };
            *m1 = b1 * *m1 + (1.0 - b1) * g;
            *m2 = b3 * *m2 + (1.0 - b3) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            let denom = v.sqrt() / (1.0 - b2.powf(t)).sqrt() + eps;
            let u = (*m1 / (1.0 - b1.powf(t)) + alpha * *m2) / denom + wd * *theta;
            *theta -= lr * u;
        })
    };
    assert_same(
        "ademamix(lr=0.01,weight_decay=0.1)",
        run(0.9999, 2.0, None, None),
    );
    assert_same(
        "ademamix(lr=0.01,b3=0.999,alpha=5,alpha_warmup=20,b3_warmup=30,weight_decay=0.1)",
        run(0.999, 5.0, Some(20.0), Some(30.0)),
    );
}

/// Cautious AdamW, timm's `cadamw` (`AdamWLegacy(caution=True)`,
/// `_single_tensor_adamw`, timm 1.0): θ ← (1 − ηλ)θ; m, v as Adam's;
/// μ = 1[m·g > 0]/max(mean(1[m·g > 0]), 10⁻³) over the tensor;
/// θ ← θ − η/(1 − β₁ᵗ)·(m·μ)/(√v/√(1 − β₂ᵗ) + ε). The stream's gradients
/// change sign, so the mask leaves coordinates out.
#[test]
fn cautious_adamw_follows_timm() {
    let (lr, b1, b2, eps, wd) = (0.01, 0.9, 0.999, 1e-8, 0.1);
    let mut masked = 0;
    let want = reference_tensor(|t, theta, g, [m, v]| {
        let t = t as i32;
        theta.iter_mut().for_each(|x| *x *= 1.0 - lr * wd);
        for ((m, v), &g) in m.iter_mut().zip(v.iter_mut()).zip(g) {
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
        }
        let mask: Vec<f64> = m
            .iter()
            .zip(g)
            .map(|(m, g)| f64::from(m * g > 0.0))
            .collect();
        masked += mask.iter().filter(|&&a| a == 0.0).count();
        let mean = mask.iter().sum::<f64>() / mask.len() as f64;
        let step = lr / (1.0 - b1.powi(t));
        for ((x, (m, v)), a) in theta.iter_mut().zip(m.iter().zip(v.iter())).zip(&mask) {
            let denom = v.sqrt() / (1.0 - b2.powi(t)).sqrt() + eps;
            *x -= step * (m * a / mean.max(1e-3)) / denom;
        }
    });
    assert!(masked > 50, "the mask left out only {masked} coordinates");
    assert_same("cautious_adamw(lr=0.01,weight_decay=0.1)", want);
}

/// `(X + εI)^power` of the symmetric `n × n` matrix X in f64, as
/// Distributed Shampoo's `_matrix_inverse_root_eigen` computes it:
/// λ, Q = eigh(X); λ ← λ − min(min λ, 0) + ε; Q·diag(λ^power)·Qᵀ.
fn matrix_power(x: &[f64], n: usize, eps: f64, power: f64) -> Vec<f64> {
    let (lambda, q) = eigh(x, n);
    let lowest = lambda
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .min(0.0);
    let lambda: Vec<f64> = lambda
        .iter()
        .map(|l| (l - lowest + eps).powf(power))
        .collect();
    (0..n * n)
        .map(|k| {
            (0..n)
                .map(|l| q[(k / n) * n + l] * lambda[l] * q[(k % n) * n + l])
                .sum()
        })
        .collect()
}

/// The eigenvalues and eigenvectors (Q's columns, row-major) of the
/// symmetric `n × n` X, by classical Jacobi (the largest off-diagonal
/// entry rotated away each time, the angle by atan2), not the rules'
/// cyclic sweeps.
fn eigh(x: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let (mut a, mut q) = (x.to_vec(), vec![0.0; n * n]);
    (0..n).for_each(|i| q[i * n + i] = 1.0);
    for _ in 0..100 * n * n {
        let (mut p, mut r, mut largest) = (0, 1, 0.0f64);
        for i in 0..n {
            for j in i + 1..n {
                if a[i * n + j].abs() > largest {
                    (p, r, largest) = (i, j, a[i * n + j].abs());
                }
            }
        }
        if largest == 0.0 {
            break;
        }
        let phi = 0.5 * (2.0 * a[p * n + r]).atan2(a[r * n + r] - a[p * n + p]);
        let (s, c) = phi.sin_cos();
        // A ← JᵀAJ, Q ← QJ with J the rotation by φ in the plane (p, r).
        let rotate = |x: &mut [f64], i: usize, j: usize| {
            let (xi, xj) = (x[i], x[j]);
            x[i] = c * xi - s * xj;
            x[j] = s * xi + c * xj;
        };
        for k in 0..n {
            rotate(&mut a, k * n + p, k * n + r);
            rotate(&mut q, k * n + p, k * n + r);
        }
        for k in 0..n {
            rotate(&mut a, p * n + k, r * n + k);
        }
        if largest < 1e-300 || a[p * n + r].abs() >= largest {
            break;
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), q)
}

/// Distributed Shampoo (facebookresearch/optimizers at 4be04ba) with
/// `AdamGraftingConfig(beta2=β₂, epsilon=ε_g)`, bias correction and
/// decoupled weight decay: per block G, L ← β₂L + (1 − β₂)GGᵀ,
/// R ← β₂R + (1 − β₂)GᵀG (a vector: R only, of g gᵀ); V ← β₂V + (1 − β₂)G²;
/// at t = s and at t > s with t % f = 0 the roots (X/(1 − β₂ᵗ) + εI)^(−1/4)
/// (−1/2 for a vector); M ← β₁M + (1 − β₁)G, G̃ = M/(1 − β₁ᵗ);
/// D = G̃/(√(V/(1 − β₂ᵗ)) + ε_g); P = D before s, else
/// ‖D‖/(‖L̃G̃R̃‖ + 10⁻¹⁶)·L̃G̃R̃; P += λW; W ← W − ηP. `views` gives each
/// parameter as (rows, cols, matrix) after the reference's merging.
#[allow(clippy::type_complexity)]
fn distributed_shampoo(
    (lr, b1, b2, eps, graft_eps, wd): (f64, f64, f64, f64, f64, f64),
    (f, s, block): (usize, usize, usize),
    views: [(usize, usize, bool); 2],
) -> Vec<Vec<Vec<f64>>> {
    // Per block: (offset, rows, cols, L, R, L̃, R̃).
    type Blocks = Vec<(usize, usize, usize, Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>)>;
    let mut blocks: Vec<Blocks> = views
        .iter()
        .map(|&(rows, cols, _)| {
            let mut list = Blocks::new();
            for r0 in (0..rows).step_by(block) {
                for c0 in (0..cols).step_by(block) {
                    let (r, c) = (block.min(rows - r0), block.min(cols - c0));
                    let z = |n: usize| vec![0.0; n * n];
                    list.push((r0 * cols + c0, r, c, z(r), z(c), z(r), z(c)));
                }
            }
            list
        })
        .collect();
    let mut mv: Vec<(Vec<f64>, Vec<f64>)> = SHAPES
        .iter()
        .map(|s| {
            let n = s.iter().product();
            (vec![0.0; n], vec![0.0; n])
        })
        .collect();
    let (theta, grads) = problem();
    let mut theta: Vec<Vec<f64>> = theta
        .iter()
        .map(|t| t.iter().map(|&x| f64::from(x)).collect())
        .collect();
    grads
        .iter()
        .enumerate()
        .map(|(step, g)| {
            let t = step + 1;
            let (bc1, bc2) = (1.0 - b1.powi(t as i32), 1.0 - b2.powi(t as i32));
            for p in 0..2 {
                let (_, cols, matrix) = views[p];
                let g: Vec<f64> = g[p].iter().map(|&x| f64::from(x)).collect();
                let (m, v) = &mut mv[p];
                for i in 0..g.len() {
                    m[i] = b1 * m[i] + (1.0 - b1) * g[i];
                    v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
                }
                let power = if matrix { -0.25 } else { -0.5 };
                let mut step_of = vec![0.0; g.len()];
                for (off, r, c, l, rr, lt, rt) in &mut blocks[p] {
                    let (r, c, off) = (*r, *c, *off);
                    let get = |x: &[f64], i: usize, j: usize| x[off + i * cols + j];
                    let gb: Vec<f64> = (0..r * c).map(|k| get(&g, k / c, k % c)).collect();
                    let gt = transpose(&gb, r, c);
                    let (ggt, gtg) = (matmul(&gb, &gt, r, c, r), matmul(&gt, &gb, c, r, c));
                    for (x, y) in l.iter_mut().zip(&ggt) {
                        *x = b2 * *x + (1.0 - b2) * y;
                    }
                    for (x, y) in rr.iter_mut().zip(&gtg) {
                        *x = b2 * *x + (1.0 - b2) * y;
                    }
                    if t == s || (t > s && t % f == 0) {
                        let scaled = |x: &[f64]| x.iter().map(|x| x / bc2).collect::<Vec<_>>();
                        *lt = matrix_power(&scaled(l), r, eps, power);
                        *rt = matrix_power(&scaled(rr), c, eps, power);
                    }
                    let filtered: Vec<f64> =
                        (0..r * c).map(|k| get(m, k / c, k % c) / bc1).collect();
                    let d: Vec<f64> = (0..r * c)
                        .map(|k| filtered[k] / ((get(v, k / c, k % c) / bc2).sqrt() + graft_eps))
                        .collect();
                    let dir = if t < s {
                        d
                    } else {
                        let left = if matrix {
                            matmul(lt, &filtered, r, r, c)
                        } else {
                            filtered
                        };
                        let psh = matmul(&left, rt, r, c, c);
                        let norm = |x: &[f64]| x.iter().map(|x| x * x).sum::<f64>().sqrt();
                        let ratio = norm(&d) / (norm(&psh) + 1e-16);
                        psh.iter().map(|x| ratio * x).collect()
                    };
                    for k in 0..r * c {
                        step_of[off + (k / c) * cols + k % c] = dir[k];
                    }
                }
                for (x, d) in theta[p].iter_mut().zip(&step_of) {
                    *x -= lr * (d + wd * *x);
                }
            }
            theta.clone()
        })
        .collect()
}

/// Shampoo with blocks of 3 (the [3, 4] matrix as a 3 × 3 and a 3 × 1
/// block, the vector as 3 + 2), preconditioning from step 4 with roots
/// every 5 steps, so that the graft, both sides, the blocks and the
/// refreshes all act within the 50 steps.
#[test]
fn shampoo_follows_distributed_shampoo() {
    let hyper = (0.01, 0.9, 0.99, 1e-6, 1e-8, 0.1);
    assert_same(
        "shampoo(lr=0.01,b2=0.99,eps=1e-6,precondition_frequency=5,\
         start_preconditioning_step=4,max_preconditioner_dim=3,weight_decay=0.1)",
        distributed_shampoo(hyper, (5, 4, 3), [(3, 4, true), (1, 5, false)]),
    );
}

/// Shampoo at its defaults but for f and s: blocks of 128 merge the
/// [3, 4] matrix into one vector of 12 (the reference's `merge_dims`),
/// preconditioned by its 12 × 12 factor's inverse square root. It starts
/// at step 15, when the factor has full rank: before, its null space
/// holds only the f32 rounding of the factor, which ε = 10⁻⁸ amplifies (in
/// the reference too, whose factors are f32).
#[test]
fn shampoo_merges_a_small_matrix_into_a_vector() {
    let hyper = (1e-3, 0.9, 0.999, 1e-8, 1e-8, 0.0);
    assert_same(
        "shampoo(precondition_frequency=10,start_preconditioning_step=15)",
        distributed_shampoo(hyper, (10, 15, 128), [(1, 12, false), (1, 5, false)]),
    );
}

/// Axes of size 1 do not count: a [3, 1, 4] parameter steps bitwise as
/// the same numbers shaped [3, 4], and a [1, 5] one as a [5].
#[test]
fn shampoo_drops_axes_of_size_one() {
    let run = |shapes: [&[usize]; 2]| {
        let spec = "shampoo(lr=0.01,precondition_frequency=3,start_preconditioning_step=2,\
                    max_preconditioner_dim=3)";
        let mut opt = Optimizer::from_spec(spec).unwrap();
        let (theta, grads) = problem();
        let mut values: Vec<Tensor> = theta
            .into_iter()
            .zip(shapes)
            .map(|(t, s)| Tensor::from_vec(t, s))
            .collect();
        for g in &grads {
            let g: Vec<Tensor> = g
                .iter()
                .zip(shapes)
                .map(|(g, s)| Tensor::from_vec(g.clone(), s))
                .collect();
            common::step(&mut opt, &mut values, &g, None, 32);
        }
        values.into_iter().map(Tensor::into_vec).collect::<Vec<_>>()
    };
    assert_eq!(run([&[3, 1, 4], &[1, 5]]), run(SHAPES));
}

/// The `n × n` Q of X = QR (X's columns orthonormalized in order), by
/// classical Gram–Schmidt, run twice.
fn qr(x: &[f64], n: usize) -> Vec<f64> {
    let mut q = x.to_vec();
    for j in 0..n {
        for _ in 0..2 {
            let dots: Vec<f64> = (0..j)
                .map(|k| (0..n).map(|i| q[i * n + k] * q[i * n + j]).sum())
                .collect();
            for (k, d) in dots.iter().enumerate() {
                for i in 0..n {
                    q[i * n + j] -= d * q[i * n + k];
                }
            }
        }
        let norm = (0..n).map(|i| q[i * n + j].powi(2)).sum::<f64>().sqrt();
        (0..n).for_each(|i| q[i * n + j] /= norm);
    }
    q
}

/// SOAP, the authors' `soap.py` (nikhilvyas/SOAP at a1e5535), on the
/// [3, 4] matrix and, with `precondition_1d=False`, the [5] vector.
/// First call: GG = [L, R] = (1 − β_s)·[GGᵀ, GᵀG], Q = eigh(GG + 10⁻³⁰I)'s
/// eigenvectors flipped to decreasing order, no step. Then, t = 1, 2, …:
/// G' = Q_Lᵀ G Q_R; m ← β₁m + (1 − β₁)G'; v ← β₂v + (1 − β₂)G'²;
/// W ← W − η·√(1 − β₂ᵗ)/(1 − β₁ᵗ)·Q_L (m/(√v + ε)) Q_Rᵀ; W ← W − ηλW;
/// then `update_preconditioner`: m₀ = Q_L m Q_Rᵀ; GG lerped towards the
/// new products by 1 − β_s; every f-th t, for each side, the estimates
/// diag(QᵀGG Q) sorted decreasing, v's axis and Q's columns reordered,
/// Q = QR(GG·Q).Q; m = Q_Lᵀ m₀ Q_R. A vector is Adam with that placement.
fn soap_reference(
    (lr, b1, b2, bs, eps, wd): (f64, f64, f64, f64, f64, f64),
    f: usize,
    (theta, grads): Problem,
) -> Vec<Vec<Vec<f64>>> {
    let (rows, cols) = (3, 4);
    let mut theta: Vec<Vec<f64>> = theta
        .iter()
        .map(|t| t.iter().map(|&x| f64::from(x)).collect())
        .collect();
    let mut m: Vec<Vec<f64>> = theta.iter().map(|t| vec![0.0; t.len()]).collect();
    let mut v = m.clone();
    let (mut l, mut r) = (vec![0.0; rows * rows], vec![0.0; cols * cols]);
    let (mut ql, mut qr_) = (Vec::new(), Vec::new());
    // Eigenvectors (columns) by decreasing eigenvalue.
    let basis = |x: &[f64], n: usize| {
        let shifted: Vec<f64> = (0..n * n)
            .map(|k| x[k] + if k % (n + 1) == 0 { 1e-30 } else { 0.0 })
            .collect();
        let (lambda, q) = eigh(&shifted, n);
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| lambda[b].total_cmp(&lambda[a]));
        (0..n * n)
            .map(|k| q[(k / n) * n + order[k % n]])
            .collect::<Vec<f64>>()
    };
    let project = |x: &[f64], ql: &[f64], qr: &[f64]| {
        let left = matmul(&transpose(ql, rows, rows), x, rows, rows, cols);
        matmul(&left, qr, rows, cols, cols)
    };
    let back = |x: &[f64], ql: &[f64], qr: &[f64]| {
        let left = matmul(ql, x, rows, rows, cols);
        matmul(&left, &transpose(qr, cols, cols), rows, cols, cols)
    };
    let mut out = Vec::new();
    for (step, g) in grads.iter().enumerate() {
        let g: Vec<Vec<f64>> = g
            .iter()
            .map(|g| g.iter().map(|&x| f64::from(x)).collect())
            .collect();
        let gt = transpose(&g[0], rows, cols);
        let ggt = matmul(&g[0], &gt, rows, cols, rows);
        let gtg = matmul(&gt, &g[0], cols, rows, cols);
        if step == 0 {
            l = ggt.iter().map(|x| (1.0 - bs) * x).collect();
            r = gtg.iter().map(|x| (1.0 - bs) * x).collect();
            (ql, qr_) = (basis(&l, rows), basis(&r, cols));
            out.push(theta.clone());
            continue;
        }
        let t = step as i32;
        let alpha = lr * (1.0 - b2.powi(t)).sqrt() / (1.0 - b1.powi(t));
        for p in 0..2 {
            let gp = match p {
                0 => project(&g[0], &ql, &qr_),
                _ => g[1].clone(),
            };
            let mut dir = Vec::new();
            for i in 0..gp.len() {
                m[p][i] = b1 * m[p][i] + (1.0 - b1) * gp[i];
                v[p][i] = b2 * v[p][i] + (1.0 - b2) * gp[i] * gp[i];
                dir.push(m[p][i] / (v[p][i].sqrt() + eps));
            }
            let n = if p == 0 { back(&dir, &ql, &qr_) } else { dir };
            for (x, n) in theta[p].iter_mut().zip(n) {
                *x -= alpha * n;
                *x -= lr * wd * *x;
            }
        }
        let m0 = back(&m[0], &ql, &qr_);
        for (x, y) in l.iter_mut().zip(&ggt) {
            *x += (1.0 - bs) * (y - *x);
        }
        for (x, y) in r.iter_mut().zip(&gtg) {
            *x += (1.0 - bs) * (y - *x);
        }
        if step % f == 0 {
            for (side, n) in [(0, rows), (1, cols)] {
                let (gg, q) = if side == 0 {
                    (&l, &mut ql)
                } else {
                    (&r, &mut qr_)
                };
                let gq = matmul(gg, q, n, n, n);
                let est: Vec<f64> = (0..n)
                    .map(|k| (0..n).map(|i| q[i * n + k] * gq[i * n + k]).sum())
                    .collect();
                let mut order: Vec<usize> = (0..n).collect();
                order.sort_by(|&a, &b| est[b].total_cmp(&est[a]));
                let old = v[0].clone();
                for i in 0..rows {
                    for j in 0..cols {
                        let (fi, fj) = if side == 0 {
                            (order[i], j)
                        } else {
                            (i, order[j])
                        };
                        v[0][i * cols + j] = old[fi * cols + fj];
                    }
                }
                let sorted: Vec<f64> = (0..n * n).map(|k| q[(k / n) * n + order[k % n]]).collect();
                *q = qr(&matmul(gg, &sorted, n, n, n), n);
            }
        }
        m[0] = project(&m0, &ql, &qr_);
        out.push(theta.clone());
    }
    out
}

/// SOAP with a refresh every 4 steps, on gradients of scales 0.3 to 3: a
/// rotation mixes a matrix's elements, and with the five decades of the
/// other tests the small eigendirections would sit below f32's rounding
/// of the large ones, where the reference's own f32 QR is arbitrary too.
#[test]
fn soap_follows_the_authors_code() {
    let gentle = [0.3, 1.0, 3.0];
    assert_within_on(
        "soap(lr=0.01,b1=0.9,b2=0.99,shampoo_beta=0.9,precondition_frequency=4,weight_decay=0.1)",
        problem_at(&gentle),
        soap_reference((0.01, 0.9, 0.99, 0.9, 1e-8, 0.1), 4, problem_at(&gentle)),
        1e-5,
    );
}
