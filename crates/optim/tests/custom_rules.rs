//! Rules written outside the crate, with only its public items: registered,
//! parsed, printed, checked and stepped like the built-in ones.

mod common;

use common::Noisy;
use gradlab_optim::{
    hyperparameters, register, registry, Gradient, Hyperparameter, Hyperparameters, Kernel,
    Optimizer, Options, Param, Range, RegistryError, Rule, SpecError, TensorRule, TensorStep,
    Tensors, Whole,
};
use gradlab_tensor::Tensor;

hyperparameters! {
    /// AMSGrad (Reddi et al. 2018), as `torch.optim.Adam(amsgrad=True)`:
    /// Adam dividing by the running maximum of v instead of v.
    struct Amsgrad {
        /// η.
        lr: f64 = 1e-3, Positive;
        /// β₁.
        b1: f64 = 0.9, Fraction;
        /// β₂.
        b2: f64 = 0.999, Fraction;
        /// ε.
        eps: f64 = 1e-8, NonNegative;
    }
}

/// β₁, β₂, η/(1 − β₁ᵗ), 1/√(1 − β₂ᵗ), ε.
#[derive(Clone, Copy)]
struct AmsgradScalars {
    b1: f32,
    b2: f32,
    step: f32,
    root: f32,
    eps: f32,
}

impl Rule for Amsgrad {
    const NAME: &'static str = "test_amsgrad";
    const STATE: &'static [&'static str] = &["m", "v", "v_max"];
    type State = [f32; 3];
    type Scalars = AmsgradScalars;

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn scalars(&self, t: u64, eta: f64) -> AmsgradScalars {
        let t = t as f64;
        AmsgradScalars {
            b1: self.b1 as f32,
            b2: self.b2 as f32,
            step: (eta / (1.0 - self.b1.powf(t))) as f32,
            root: (1.0 / (1.0 - self.b2.powf(t)).sqrt()) as f32,
            eps: self.eps as f32,
        }
    }

    fn update(c: &AmsgradScalars, phi: &mut f32, g: Gradient, [m, v, v_max]: &mut [f32; 3]) {
        *m = c.b1 * *m + (1.0 - c.b1) * g.mean; // m ← β₁m + (1 − β₁)ĝ
        *v = c.b2 * *v + (1.0 - c.b2) * g.mean * g.mean; // v ← β₂v + (1 − β₂)ĝ²
        *v_max = v_max.max(*v); // v_max ← max(v_max, v)
        *phi -= c.step * *m / (c.root * v_max.sqrt() + c.eps); // Φ ← Φ − η m̂/(√v̂_max + ε)
    }
}

/// Steps `opt` on one parameter `[2]` (id 0) through the given gradients.
fn run(opt: &mut Optimizer, phi: &mut Tensor, grads: &[[f32; 2]]) -> Vec<[f32; 2]> {
    grads
        .iter()
        .map(|g| {
            let g = Tensor::from_vec(g.to_vec(), &[2]);
            opt.step(&mut [Param::new(0, phi, &g)], 4);
            [phi.data()[0], phi.data()[1]]
        })
        .collect()
}

#[test]
fn a_rule_with_three_state_tensors_follows_its_hand_worked_steps() {
    register::<Amsgrad>().unwrap();
    // β₂ = 0 makes v = ĝ² and v_max the largest ĝ² so far, and ε = 0, so
    // each step is η·m̂/max|ĝ| with m̂ = m/(1 − 2⁻ᵗ), m ← (m + ĝ)/2.
    let mut opt = Optimizer::from_spec("test_amsgrad(lr=0.1,b1=0.5,b2=0,eps=0)").unwrap();
    let a = [2.0, -1.0, 4.0, 1.0, -3.0, 0.5, 8.0, -2.0, 1.0, 4.0];
    let b = [4.0, 2.0, 1.0, 1.0, 0.5, 0.5, 0.25, 1.0, 2.0, 0.5];
    let grads: Vec<[f32; 2]> = a.iter().zip(&b).map(|(&a, &b)| [a, b]).collect();
    let mut phi = Tensor::from_vec(vec![1.0, -1.0], &[2]);
    let got = run(&mut opt, &mut phi, &grads);
    // t = 1: m = (1, 2), m̂ = 2m = (2, 4), √v_max = (2, 4): Φ = (1 − 0.1, −1 − 0.1).
    // t = 2: m = (0, 2), m̂ = m/(3/4), √v_max = (2, 4): Φ_a stays, Φ_b −= 0.1·(8/3)/4.
    // The rest as exact fractions, e.g. Φ_a at t = 3 is 59/70, at t = 10
    // 11082754517/15390323550; Φ_b at t = 10 is −232059101347/169293559050.
    let want_a: [f64; 10] = [
        0.9,
        0.9,
        0.842_857_14,
        0.802_857_14,
        0.822_211_98,
        0.825_386_58,
        0.775_780_29,
        0.763_623_42,
        0.751_294_66,
        0.720_111_86,
    ];
    let want_b: [f64; 10] = [
        -1.1,
        -1.166_666_7,
        -1.209_523_8,
        -1.242_857_1,
        -1.265_437_8,
        -1.282_898_1,
        -1.294_709_1,
        -1.313_140_5,
        -1.347_387_1,
        -1.370_749_7,
    ];
    for (t, (g, (&wa, &wb))) in got.iter().zip(want_a.iter().zip(&want_b)).enumerate() {
        assert!(
            (f64::from(g[0]) - wa).abs() < 1e-6 && (f64::from(g[1]) - wb).abs() < 1e-6,
            "t = {}: {g:?} vs [{wa}, {wb}]",
            t + 1
        );
    }
    // The three state tensors: m after ten steps, v = ĝ₁₀², v_max = max ĝ².
    let moment = |name| opt.moment(0, name).unwrap().data().to_vec();
    assert_eq!(moment("m"), [2.492_187_5, 0.933_593_75]);
    assert_eq!(moment("v"), [16.0, 0.25]);
    assert_eq!(moment("v_max"), [64.0, 16.0]);
    assert_eq!(opt.state_names(), ["m", "v", "v_max"]);
    assert_eq!(opt.to_string(), "test_amsgrad(lr=0.1,b1=0.5,b2=0,eps=0)");
}

#[test]
fn a_registered_rule_saves_and_restores_its_state() {
    register::<Amsgrad>().unwrap();
    let mut straight = Optimizer::from_spec("test_amsgrad(lr=0.01)").unwrap();
    Noisy::new().run(&mut straight, 20);

    let mut problem = Noisy::new();
    let mut first = Optimizer::from_spec("test_amsgrad(lr=0.01)").unwrap();
    problem.run(&mut first, 8);
    let json = serde_json::to_string(&first.state()).unwrap();
    let mut resumed = Optimizer::from_state(serde_json::from_str(&json).unwrap()).unwrap();
    assert_eq!(resumed, first);
    problem.run(&mut resumed, 12);
    assert_eq!(resumed, straight);
    let tensors: Vec<String> = resumed.state().tensors().map(|(n, _, _)| n).collect();
    assert_eq!(tensors, ["0.m", "0.v", "0.v_max", "1.m", "1.v", "1.v_max"]);
}

#[test]
fn bad_specs_of_a_registered_rule_name_the_key_and_what_it_takes() {
    register::<Amsgrad>().unwrap();
    let error = |spec: &str| Optimizer::from_spec(spec).unwrap_err().to_string();
    assert_eq!(
        error("test_amsgrad(lr=nan)"),
        "bad value 'nan' for lr of test_amsgrad: expected a finite number > 0"
    );
    assert_eq!(
        error("test_amsgrad(lr=inf)"),
        "bad value 'inf' for lr of test_amsgrad: expected a finite number > 0"
    );
    assert_eq!(
        error("test_amsgrad(b1=1)"),
        "bad value '1' for b1 of test_amsgrad: expected a number in [0, 1)"
    );
    assert_eq!(
        error("test_amsgrad(eps=-1)"),
        "bad value '-1' for eps of test_amsgrad: expected a finite number ≥ 0"
    );
    assert!(error("test_amsgrad(beta1=0.9)").starts_with(
        "unknown key 'beta1' for test_amsgrad; valid keys: lr, b1, b2, eps, weight_decay, \
         decoupled_weight_decay, clip_norm,"
    ));
    assert!(registry::names().contains(&"test_amsgrad"));
    assert!(error("nope").contains(", test_amsgrad"));
}

hyperparameters! {
    /// Per-tensor normalized SGD for matrices, Φ ← Φ − η·g/‖g‖ (keeping
    /// m = g/‖g‖), and plain SGD for the rest (keeping m = g).
    struct Normalized {
        /// η.
        lr: f64 = 0.1, Positive;
    }
}

impl TensorRule for Normalized {
    const NAME: &'static str = "test_normalized";
    const STATE: &'static [&'static str] = &["m"];
    type Scalars = f32;

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn init(&self, value: &Tensor) -> Vec<Tensor> {
        vec![Tensor::zeros(value.shape())]
    }

    fn scalars(&self, _t: u64, eta: f64, _: &mut [f64]) -> f32 {
        eta as f32
    }

    fn update(&self, &eta: &f32, tensors: &mut Tensors<'_>, _: &mut [f64]) {
        tensors.each(&mut |p: TensorStep<'_>| match p.shape().len() {
            2 => normalized(eta, p.whole()),
            _ => p.elementwise(PlainSgd(eta)),
        });
    }
}

/// A matrix: Φ ← Φ − η·g/‖g‖.
fn normalized(eta: f32, p: Whole<'_>) {
    let norm = p.grad.iter().map(|g| g * g).sum::<f32>().sqrt();
    let m = p.state[0].data_mut();
    for ((phi, g), m) in p.value.iter_mut().zip(p.grad).zip(m) {
        *m = g / norm;
        *phi -= eta * *m;
    }
}

/// Anything else: Φ ← Φ − η·g, keeping m = g.
#[derive(Clone, Copy)]
struct PlainSgd(f32);

impl Kernel<1> for PlainSgd {
    #[inline(always)]
    fn update(&self, phi: &mut f32, g: Gradient, [m]: &mut [f32; 1]) {
        *m = g.mean;
        *phi -= self.0 * g.mean;
    }
}

/// One step of `spec` on a matrix [1, 2] and a vector [2], both Φ = (1, 2)
/// and ĝ = (3, 4): Φ of each, then m of each.
fn normalized_step(spec: &str) -> [[f32; 2]; 4] {
    register::<Normalized>().unwrap();
    let mut opt = Optimizer::from_spec(spec).unwrap();
    let mut w = Tensor::from_vec(vec![1.0, 2.0], &[1, 2]);
    let mut b = Tensor::from_vec(vec![1.0, 2.0], &[2]);
    let g = Tensor::from_vec(vec![3.0, 4.0], &[2]);
    let gw = g.clone().reshape(&[1, 2]);
    opt.step(
        &mut [Param::new(0, &mut w, &gw), Param::new(1, &mut b, &g)],
        8,
    );
    let pair = |t: &Tensor| [t.data()[0], t.data()[1]];
    [
        pair(&w),
        pair(&b),
        pair(opt.moment(0, "m").unwrap()),
        pair(opt.moment(1, "m").unwrap()),
    ]
}

fn assert_near(got: [[f32; 2]; 4], want: [[f32; 2]; 4]) {
    for (g, w) in got.iter().flatten().zip(want.iter().flatten()) {
        assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?}");
    }
}

#[test]
fn the_whole_tensor_hook_sees_the_shape_and_the_transformed_gradient() {
    // ‖(3, 4)‖ = 5: the matrix moves by 0.1·(0.6, 0.8), the vector by 0.1·(3, 4).
    assert_near(
        normalized_step("test_normalized"),
        [[0.94, 1.92], [0.7, 1.6], [0.6, 0.8], [3.0, 4.0]],
    );
    // L2 λ = 0.5: g = ĝ + λΦ = (3.5, 5), ‖g‖ = √37.25.
    let n = 37.25f32.sqrt();
    assert_near(
        normalized_step("test_normalized(weight_decay=0.5)"),
        [
            [1.0 - 0.35 / n, 2.0 - 0.5 / n],
            [0.65, 1.5],
            [3.5 / n, 5.0 / n],
            [3.5, 5.0],
        ],
    );
    // Decoupled λ = 0.5: Φ first shrinks by 1 − 0.1·0.5.
    assert_near(
        normalized_step("test_normalized(decoupled_weight_decay=0.5)"),
        [[0.89, 1.82], [0.65, 1.5], [0.6, 0.8], [3.0, 4.0]],
    );
    // Clipping to 2.5 over both parameters: ‖ĝ‖ = √50, c = 2.5/(√50 + 10⁻⁶);
    // the matrix's direction does not change.
    let c = 2.5 / (50f32.sqrt() + 1e-6);
    assert_near(
        normalized_step("test_normalized(clip_norm=2.5)"),
        [
            [0.94, 1.92],
            [1.0 - 0.3 * c, 2.0 - 0.4 * c],
            [0.6, 0.8],
            [3.0 * c, 4.0 * c],
        ],
    );
}

hyperparameters! {
    /// SGD with momentum, every parameter taken whole.
    struct WholeMomentum {
        /// η.
        lr: f64 = 1e-2, Positive;
        /// μ.
        momentum: f64 = 0.9, Fraction;
        /// Nesterov.
        nesterov: bool = false;
    }
}

impl TensorRule for WholeMomentum {
    const NAME: &'static str = "test_whole_momentum";
    const STATE: &'static [&'static str] = &["v"];
    type Scalars = [f32; 2];

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn init(&self, value: &Tensor) -> Vec<Tensor> {
        vec![Tensor::zeros(value.shape())]
    }

    fn scalars(&self, _t: u64, eta: f64, _: &mut [f64]) -> [f32; 2] {
        [eta as f32, self.momentum as f32]
    }

    fn update(&self, &[eta, mu]: &[f32; 2], tensors: &mut Tensors<'_>, _: &mut [f64]) {
        tensors.each(&mut |p: TensorStep<'_>| {
            let p = p.whole();
            let v = p.state[0].data_mut();
            for ((phi, &g), v) in p.value.iter_mut().zip(p.grad).zip(v) {
                *v = mu * *v + g;
                *phi -= eta * *v;
            }
        });
    }
}

#[test]
fn a_tensor_taken_whole_steps_as_the_element_wise_pass() {
    register::<WholeMomentum>().unwrap();
    for keys in [
        "",
        ",weight_decay=0.01,clip_norm=0.5",
        ",decoupled_weight_decay=0.1,schedule=cosine,total_steps=30",
    ] {
        let mut fused = Optimizer::from_spec(&format!("sgd_momentum(lr=0.05{keys})")).unwrap();
        let mut whole =
            Optimizer::from_spec(&format!("test_whole_momentum(lr=0.05{keys})")).unwrap();
        let (mut a, mut b) = (Noisy::new(), Noisy::new());
        a.run(&mut fused, 30);
        b.run(&mut whole, 30);
        assert_eq!(a.bits(), b.bits(), "{keys}");
        assert_eq!(
            fused.moment(0, "v").unwrap(),
            whole.moment(0, "v").unwrap(),
            "{keys}"
        );
    }
}

/// A rule with the given name, state and hyperparameter table, for the
/// registration errors.
macro_rules! rule {
    ($ty:ident, $name:literal, [$($state:literal),*], $k:literal, $table:expr) => {
        #[derive(Clone, Debug, Default, PartialEq)]
        struct $ty {
            lr: f64,
        }
        impl Hyperparameters for $ty {
            const TABLE: &'static [Hyperparameter<Self>] = $table;
        }
        impl Rule for $ty {
            const NAME: &'static str = $name;
            const STATE: &'static [&'static str] = &[$($state),*];
            type State = [f32; $k];
            type Scalars = ();
            fn learning_rate(&self) -> f64 {
                1.0
            }
            fn scalars(&self, _: u64, _: f64) {}
            fn update(_: &(), _: &mut f32, _: Gradient, _: &mut [f32; $k]) {}
        }
    };
}

/// A tensor rule with one state tensor `m` and the given further
/// declarations.
macro_rules! rule_with {
    ($ty:ident, $name:literal, { $($item:item)* }) => {
        #[derive(Clone, Debug, Default, PartialEq)]
        struct $ty;
        impl Hyperparameters for $ty {
            const TABLE: &'static [Hyperparameter<Self>] = &[];
        }
        impl TensorRule for $ty {
            const NAME: &'static str = $name;
            const STATE: &'static [&'static str] = &["m"];
            type Scalars = ();
            fn learning_rate(&self) -> f64 {
                1.0
            }
            fn init(&self, value: &Tensor) -> Vec<Tensor> {
                vec![value.clone()]
            }
            fn scalars(&self, _: u64, _: f64, _: &mut [f64]) {}
            fn update(&self, _: &(), _: &mut Tensors<'_>, _: &mut [f64]) {}
            $($item)*
        }
    };
}

rule_with!(ShortGlobal, "test_short_global", {
    const GLOBAL: &'static [&'static str] = &["d"];
    fn initial_global(&self) -> Vec<f64> {
        Vec::new()
    }
});
rule_with!(UnknownEvaluation, "test_unknown_evaluation", {
    const EVALUATE_AT: Option<&'static str> = Some("x");
});
rule_with!(OwnDecay, "test_own_decay", {
    fn options(&self) -> Options {
        Options {
            decoupled_decay: false,
            ..Options::default()
        }
    }
});

trait HasLr {
    fn lr(&mut self) -> &mut f64;
}

fn lr_field<R: HasLr>(r: &mut R) -> &mut dyn gradlab_optim::HyperValue {
    r.lr()
}

/// A table entry for the field `lr`, under `name`.
const fn key<R: HasLr>(name: &'static str, range: Range) -> Hyperparameter<R> {
    Hyperparameter {
        name,
        range,
        doc: "",
        field: lr_field::<R>,
    }
}

macro_rules! has_lr {
    ($($ty:ident),*) => { $(impl HasLr for $ty { fn lr(&mut self) -> &mut f64 { &mut self.lr } })* };
}

rule!(TakesAdam, "adam", [], 0, &[]);
rule!(BadName, "Bad-Name", [], 0, &[]);
rule!(ShortState, "test_short_state", ["m"], 2, &[]);
rule!(TwiceM, "test_twice_m", ["m", "m"], 2, &[]);
rule!(
    DriverKey,
    "test_driver_key",
    [],
    0,
    &[key("clip_norm", Range::Finite)]
);
rule!(
    Twice,
    "test_twice",
    [],
    0,
    &[key("lr", Range::Finite), key("lr", Range::Finite)]
);
rule!(
    OutOfRange,
    "test_out_of_range",
    [],
    0,
    &[key("lr", Range::Positive)]
);
has_lr!(TakesAdam, BadName, ShortState, TwiceM, DriverKey, Twice, OutOfRange);

#[test]
fn registration_checks_the_declarations() {
    let error = |r: Result<(), RegistryError>| r.unwrap_err().to_string();
    assert_eq!(
        register::<TakesAdam>(),
        Err(RegistryError::Taken {
            name: "adam".into()
        })
    );
    assert_eq!(
        register::<BadName>(),
        Err(RegistryError::BadName {
            name: "Bad-Name".into()
        })
    );
    assert_eq!(
        error(register::<ShortState>()),
        "rule 'test_short_state': STATE names 1 tensors but State holds 2"
    );
    assert_eq!(
        error(register::<TwiceM>()),
        "rule 'test_twice_m': the state name 'm' repeats, is empty or contains '.'"
    );
    assert_eq!(
        error(register::<DriverKey>()),
        "rule 'test_driver_key': the hyperparameter 'clip_norm' is one of the optimizer's own keys"
    );
    assert_eq!(
        error(register::<Twice>()),
        "rule 'test_twice': the hyperparameter 'lr' is declared twice"
    );
    assert_eq!(
        error(register::<OutOfRange>()),
        "rule 'test_out_of_range': the default lr=0 is not a finite number > 0"
    );
    assert_eq!(
        error(register::<ShortGlobal>()),
        "rule 'test_short_global': GLOBAL names 1 numbers but initial_global gives 0"
    );
    assert_eq!(
        error(register::<UnknownEvaluation>()),
        "rule 'test_unknown_evaluation': EVALUATE_AT names 'x', which is not in STATE"
    );
    assert_eq!(
        error(gradlab_optim::register_decoupled::<OwnDecay>(
            "test_own_decay_w",
            0.01
        )),
        "rule 'test_own_decay_w': applies its own weight decay (Options::decoupled_decay is \
         false), so no name can give it a decoupled one"
    );
    // None of these reached the list.
    let names = registry::names();
    for name in [
        "Bad-Name",
        "test_short_state",
        "test_twice_m",
        "test_driver_key",
        "test_twice",
        "test_out_of_range",
        "test_short_global",
        "test_unknown_evaluation",
        "test_own_decay_w",
    ] {
        assert!(!names.contains(&name), "{name}");
    }
    assert!(matches!(
        Optimizer::from_spec("test_short_state"),
        Err(SpecError::UnknownOptimizer { .. })
    ));
    // Registering the same rule again is harmless.
    register::<Amsgrad>().unwrap();
    register::<Amsgrad>().unwrap();
}
