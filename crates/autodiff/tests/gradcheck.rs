//! Finite-difference checks of every op's backward, with
//! [`gradient_check`] (see its module for the method and the error bound).
//!
//! Tolerance: with h = 1e-2 (1e-3 for the sharply curved ops) a correct
//! backward stays below 2e-3, so we require |analytic − numeric| ≤ 5e-3 +
//! 5e-3·|numeric| for every element. A wrong derivative (a sign, a missing
//! factor, a transposed index) is off by O(1) and fails.

use gradlab_autodiff::{
    gradient_check, Activation, GradRequest, Graph, ParamId, ParamStore, Tape, Var,
};
use gradlab_tensor::{rng, Tensor, Transpose};

const TOL: f32 = 5e-3;

/// Checks ∂L/∂θ for every parameter of `store`, where L = Σ c ⊙ build(θ):
/// |analytic − numeric| ≤ TOL·(1 + |numeric|) for the worst element.
fn check(name: &str, store: &mut ParamStore, h: f32, build: &dyn Fn(&mut Graph, &[Var]) -> Var) {
    let worst = gradient_check(store, h, build);
    assert!(
        worst.error() <= TOL,
        "{name}: ∂L/∂{}[{}] analytic {} vs numeric {}",
        worst.param,
        worst.index,
        worst.analytic,
        worst.numeric
    );
}

fn store(params: &[(&str, Tensor)]) -> ParamStore {
    let mut s = ParamStore::new();
    for (n, t) in params {
        s.add(*n, t.clone());
    }
    s
}

fn rand(shape: &[usize], seed: u64) -> Tensor {
    Tensor::uniform(shape, -1.0, 1.0, &mut rng(seed))
}

/// Values bounded away from zero, for ops with a kink or a pole at 0.
fn away_from_zero(shape: &[usize], seed: u64) -> Tensor {
    rand(shape, seed).map(|x| if x >= 0.0 { x + 0.1 } else { x - 0.1 })
}

const SHAPES: [(usize, usize, usize); 3] = [(1, 1, 1), (3, 4, 2), (5, 7, 6)];

#[test]
fn matmul_all_transposes() {
    use Transpose::{No, Yes};
    for (seed, &(m, k, n)) in SHAPES.iter().enumerate() {
        for (ta, tb) in [(No, No), (Yes, No), (No, Yes), (Yes, Yes)] {
            let sa = if ta == No { [m, k] } else { [k, m] };
            let sb = if tb == No { [k, n] } else { [n, k] };
            let mut s = store(&[
                ("a", rand(&sa, seed as u64)),
                ("b", rand(&sb, 10 + seed as u64)),
            ]);
            check(
                &format!("matmul {ta:?} {tb:?} {m}x{k}x{n}"),
                &mut s,
                1e-2,
                &|g, v| g.matmul_t(v[0], ta, v[1], tb),
            );
        }
    }
}

#[test]
fn arithmetic_same_shape_and_row_broadcast() {
    for (seed, &(r, c, _)) in SHAPES.iter().enumerate() {
        let seed = seed as u64;
        for (op, name) in [(0, "add"), (1, "sub"), (2, "mul"), (3, "div")] {
            let f = move |g: &mut Graph, a: Var, b: Var| match op {
                0 => g.add(a, b),
                1 => g.sub(a, b),
                2 => g.mul(a, b),
                _ => g.div(a, b),
            };
            let mut s = store(&[
                ("a", rand(&[r, c], seed)),
                ("b", away_from_zero(&[r, c], seed + 1)),
            ]);
            check(&format!("{name} [{r},{c}]"), &mut s, 1e-3, &|g, v| {
                f(g, v[0], v[1])
            });
            let mut s = store(&[
                ("a", rand(&[r, c], seed)),
                ("row", away_from_zero(&[c], seed + 2)),
            ]);
            check(
                &format!("{name} [{r},{c}] by row"),
                &mut s,
                1e-3,
                &|g, v| f(g, v[0], v[1]),
            );
        }
        let mut s = store(&[("a", rand(&[r, c], seed))]);
        check("scale", &mut s, 1e-2, &|g, v| g.scale(v[0], -2.5));
        let mut s = store(&[("a", rand(&[r, c], seed))]);
        check("affine", &mut s, 1e-2, &|g, v| g.affine(v[0], 3.2, -0.4));
    }
}

#[test]
fn activations() {
    let fs = [
        Activation::Relu,
        Activation::LeakyRelu(0.1),
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Gelu,
    ];
    for f in fs {
        for (seed, &(r, c, _)) in SHAPES.iter().enumerate() {
            // Scaled to [-3, 3] so tanh and sigmoid saturate somewhere too.
            let x = away_from_zero(&[r, c], seed as u64).map(|x| 3.0 * x);
            let mut s = store(&[("x", x)]);
            check(&format!("{f:?} [{r},{c}]"), &mut s, 1e-2, &|g, v| {
                g.activation(v[0], f)
            });
        }
    }
}

/// The fused layer f(x·Wᵀ + b) for every activation, with and without a
/// bias, against finite differences in x, W and b, and against the same
/// function built from matmul, add and activation nodes.
#[test]
fn linear_with_every_activation() {
    let fs = [
        None,
        Some(Activation::Relu),
        Some(Activation::LeakyRelu(0.1)),
        Some(Activation::Tanh),
        Some(Activation::Sigmoid),
        Some(Activation::Gelu),
    ];
    for f in fs {
        for bias in [true, false] {
            for &(m, k, n) in &SHAPES {
                // A step of h = 1e-2 in one input moves z = x·Wᵀ + b by at
                // most 1e-2 (all entries are in [−1, 1]); seeds whose z comes
                // closer than that to the kink of ReLU at 0 are skipped.
                let (x, w, b) = (0..)
                    .map(|seed| {
                        (
                            rand(&[m, k], seed),
                            rand(&[n, k], 100 + seed),
                            rand(&[n], 200 + seed),
                        )
                    })
                    .find(|(x, w, b)| {
                        let z = x.matmul(Transpose::No, w, Transpose::Yes);
                        let z = if bias { z.add(b) } else { z };
                        z.data().iter().all(|v| v.abs() > 0.05)
                    })
                    .unwrap();
                let name = format!("linear {f:?} bias={bias} {m}x{k}x{n}");
                let mut params = vec![("x", x), ("w", w)];
                if bias {
                    params.push(("b", b));
                }
                let mut s = store(&params);
                check(&name, &mut s, 1e-2, &|g, v| {
                    g.linear(v[0], v[1], v.get(2).copied(), f)
                });
                let mut tape = Tape::new();
                let mut g = tape.record(&s);
                let v: Vec<Var> = s.ids().map(|id| g.param(id)).collect();
                let fused = g.linear(v[0], v[1], v.get(2).copied(), f);
                let mut y = g.matmul_t(v[0], Transpose::No, v[1], Transpose::Yes);
                if bias {
                    y = g.add(y, v[2]);
                }
                if let Some(f) = f {
                    y = g.activation(y, f);
                }
                for (a, b) in g.value(fused).data().iter().zip(g.value(y).data()) {
                    assert!(
                        (a - b).abs() <= 1e-6 * (1.0 + b.abs()),
                        "{name}: {a} vs {b}"
                    );
                }
            }
        }
    }
}

#[test]
fn dropout_uses_its_mask_in_both_passes() {
    for &(r, c, _) in &SHAPES {
        let mut s = store(&[("x", rand(&[r, c], 4))]);
        check(&format!("dropout [{r},{c}]"), &mut s, 1e-2, &|g, v| {
            g.dropout(v[0], 0.3, 7)
        });
    }
}

#[test]
fn reductions() {
    for (seed, &(r, c, _)) in SHAPES.iter().enumerate() {
        let mut s = store(&[("x", rand(&[r, c], seed as u64))]);
        check("sum", &mut s, 1e-2, &|g, v| g.sum(v[0]));
        check("mean", &mut s, 1e-2, &|g, v| g.mean(v[0]));
        for axis in 0..2 {
            check("sum_axis", &mut s, 1e-2, &|g, v| g.sum_axis(v[0], axis));
            check("mean_axis", &mut s, 1e-2, &|g, v| g.mean_axis(v[0], axis));
        }
    }
}

#[test]
fn losses_and_softmax() {
    for (seed, &(b, c, _)) in SHAPES.iter().enumerate() {
        let seed = seed as u64;
        let c = c.max(2);
        let labels: Vec<usize> = (0..b).map(|i| (i * 3 + 1) % c).collect();
        let logits = rand(&[b, c], seed).map(|x| 4.0 * x);
        let mut s = store(&[("z", logits)]);
        check("softmax_cross_entropy", &mut s, 1e-2, &|g, v| {
            g.softmax_cross_entropy(v[0], &labels)
        });
        check("log_softmax", &mut s, 1e-2, &|g, v| g.log_softmax(v[0]));
        check("softmax", &mut s, 1e-2, &|g, v| g.softmax(v[0]));
        let target = rand(&[b, c], seed + 5);
        check("mse", &mut s, 1e-2, &|g, v| g.mse(v[0], &target));
    }
}

#[test]
fn cross_entropy_is_stable_for_huge_logits() {
    let s = store(&[("z", Tensor::from_vec(vec![1000.0, -1000.0, 0.0], &[1, 3]))]);
    let mut tape = Tape::new();
    let mut g = tape.record(&s);
    let z = g.param(ParamId(0));
    let l = g.softmax_cross_entropy(z, &[1]);
    assert_eq!(g.value(l).data(), &[2000.0]);
    g.backward(l, GradRequest::Mean).unwrap();
    assert_eq!(tape.grad(ParamId(0)).unwrap().data(), &[1.0, -1.0, 0.0]);
}

#[test]
fn three_layer_mlp_with_cross_entropy() {
    let (b, sizes) = (5, [6, 8, 7, 4]);
    let mut params = vec![];
    for l in 0..3 {
        params.push((format!("w{l}"), rand(&[sizes[l], sizes[l + 1]], l as u64)));
        params.push((format!("b{l}"), rand(&[sizes[l + 1]], 10 + l as u64)));
    }
    let named: Vec<(&str, Tensor)> = params
        .iter()
        .map(|(n, t)| (n.as_str(), t.clone()))
        .collect();
    let mut s = store(&named);
    let x = rand(&[b, sizes[0]], 77).map(|x| 2.0 * x);
    let labels = [0, 3, 1, 2, 3];
    check("mlp", &mut s, 1e-2, &|g, v| {
        let mut h = g.input(&x);
        for l in 0..3 {
            h = g.matmul(h, v[2 * l]);
            h = g.add(h, v[2 * l + 1]);
            if l < 2 {
                h = g.tanh(h);
            }
        }
        g.softmax_cross_entropy(h, &labels)
    });
}

/// A value read by two ops (or twice by one) receives the sum of both
/// contributions: the second op to reach it adds to the gradient the first
/// wrote. These graphs exercise that branch of every op kind that can be
/// the second: elementwise (`x ⊙ x`, a residual `h + tanh(h)`), a row
/// vector broadcast twice (a shared bias), a matmul and a fused linear
/// layer whose weight is used twice (β = 1 in the weight-gradient matmul).
#[test]
fn fan_out_accumulates_every_contribution() {
    let (b, n) = (4, 5);
    let x = rand(&[b, n], 31);

    // x ⊙ x: one op reads the same parameter twice.
    let mut s = store(&[("x", rand(&[b, n], 1))]);
    check("x·x", &mut s, 1e-2, &|g, v| g.mul(v[0], v[0]));

    // A residual block h + tanh(h·W): h feeds the matmul and the add.
    let mut s = store(&[("w", rand(&[n, n], 2)), ("h", rand(&[b, n], 3))]);
    check("residual", &mut s, 1e-2, &|g, v| {
        let z = g.matmul(v[1], v[0]);
        let f = g.tanh(z);
        g.add(v[1], f)
    });

    // One bias added to two layers' outputs (row broadcast, twice).
    let mut s = store(&[
        ("w1", rand(&[n, n], 4)),
        ("w2", rand(&[n, n], 5)),
        ("b", rand(&[n], 6)),
    ]);
    check("shared bias", &mut s, 1e-2, &|g, v| {
        let xv = g.input(&x);
        let h = g.matmul(xv, v[0]);
        let h = g.add(h, v[2]);
        let h = g.tanh(h);
        let y = g.matmul(h, v[1]);
        g.add(y, v[2])
    });

    // A weight used by two matmuls, then by two fused linear layers (with
    // one bias shared by both), under the cross-entropy of a [B] loss.
    let labels = [0, 4, 2, 1];
    let mut s = store(&[("w", rand(&[n, n], 7))]);
    check("weight used twice (matmul)", &mut s, 1e-2, &|g, v| {
        let xv = g.input(&x);
        let h = g.matmul(xv, v[0]);
        let h = g.tanh(h);
        let y = g.matmul(h, v[0]);
        g.softmax_cross_entropy(y, &labels)
    });
    let mut s = store(&[("w", rand(&[n, n], 7)), ("b", rand(&[n], 8))]);
    for f in [None, Some(Activation::Tanh), Some(Activation::Gelu)] {
        check(
            &format!("weight used twice (linear, {f:?})"),
            &mut s,
            1e-2,
            &|g, v| {
                let xv = g.input(&x);
                let h = g.linear(xv, v[0], Some(v[1]), Some(Activation::Sigmoid));
                let y = g.linear(h, v[0], Some(v[1]), f);
                g.softmax_cross_entropy(y, &labels)
            },
        );
    }
}

/// Under `Mean`, a parameter used twice has the gradient of the sum of its
/// uses: the same as two separate parameters holding equal values, summed.
#[test]
fn a_parameter_used_twice_gets_the_sum_of_both_gradients() {
    let (b, n) = (3, 4);
    let x = rand(&[b, n], 41);
    let labels = [1, 0, 3];
    let w = rand(&[n, n], 42);
    let grads = |shared: bool| -> Vec<Tensor> {
        let mut s = ParamStore::new();
        let w1 = s.add("w1", w.clone());
        let w2 = if shared { w1 } else { s.add("w2", w.clone()) };
        let mut tape = Tape::new();
        let mut g = tape.record(&s);
        let xv = g.input(&x);
        let (v1, v2) = (g.param(w1), g.param(w2));
        let h = g.linear(xv, v1, None, Some(Activation::Tanh));
        let y = g.linear(h, v2, None, None);
        let loss = g.softmax_cross_entropy(y, &labels);
        g.backward(loss, GradRequest::Mean).unwrap();
        let mut out = vec![tape.grad(w1).unwrap().clone()];
        if !shared {
            out.push(tape.grad(w2).unwrap().clone());
        }
        out
    };
    let (shared, apart) = (grads(true), grads(false));
    let sum = apart[0].add(&apart[1]);
    for (a, b) in shared[0].data().iter().zip(sum.data()) {
        assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "{a} vs {b}");
    }
}

/// The checker itself: an op whose backward forgets the factor 2 of x² is
/// found, at the element and with the numbers, and a NaN gradient is the
/// worst of all.
#[test]
fn the_checker_finds_a_wrong_backward() {
    use gradlab_autodiff::{Backward, Examples, Op};

    /// y = x², with a backward of x·dY (or NaN) instead of 2x·dY.
    struct BadSquare {
        nan: bool,
    }
    impl Op for BadSquare {
        type Saved = ();
        fn name(&self) -> String {
            "bad square".into()
        }
        fn examples(&self, batched: &[bool]) -> Examples {
            Examples::rowwise(batched)
        }
        fn forward(&self, x: &[&Tensor], y: &mut Tensor, _: &mut ()) {
            y.assign(x[0]);
            y.map_inplace(|v| v * v);
        }
        fn backward(&self, cx: &mut Backward, _: &mut ()) {
            let (x, dy, nan) = (cx.x[0].data(), cx.dy.data(), self.nan);
            cx.add(0, |i| {
                if nan && i == 2 {
                    f32::NAN
                } else {
                    x[i] * dy[i]
                }
            });
        }
    }
    let mut s = store(&[("x", Tensor::from_vec(vec![1.0, -2.0, 3.0, 0.5], &[4]))]);
    let worst = gradient_check(&mut s, 1e-2, |g, v| {
        g.apply(BadSquare { nan: false }, &[v[0]])
    });
    assert_eq!((worst.param.as_str(), worst.index), ("x", 2));
    // numeric = 2·3·c₂, analytic = 3·c₂: off by half the derivative.
    assert!(
        (worst.numeric - 2.0 * worst.analytic).abs() < 1e-2,
        "{worst:?}"
    );
    assert!(worst.error() > 0.1, "{worst:?}");
    let worst = gradient_check(&mut s, 1e-2, |g, v| {
        g.apply(BadSquare { nan: true }, &[v[0]])
    });
    assert_eq!(worst.index, 2);
    assert!(worst.error().is_nan(), "{worst:?}");
    assert_eq!(
        s.get(ParamId(0)).data(),
        [1.0, -2.0, 3.0, 0.5],
        "the store is left as it was"
    );
}
