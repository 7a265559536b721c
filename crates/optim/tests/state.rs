//! Saving and restoring an optimizer's state.

mod common;

use common::Noisy;
use gradlab_optim::{Optimizer, OptimizerState, Param, StateError, StateHeader};
use gradlab_tensor::Tensor;

/// Each optimizer, most with composition keys that carry state of their own
/// (the schedule's position, clipping, decay).
const SPECS: [&str; 31] = [
    "sgd(lr=0.05,weight_decay=0.01,clip_norm=1)",
    "sgd_momentum(lr=0.01,nesterov=true,schedule=cosine,total_steps=20)",
    "sgd_ema(lr=0.05,schedule=step,step_size=5,gamma=0.5)",
    "rmsprop(lr=0.001,warmup=5)",
    "rmsprop_momentum(lr=0.001,batch_rule=sqrt)",
    "adam(lr=0.01,clip_norm=0.5,weight_decay=0.001)",
    "adamw(lr=0.01)",
    "adam(lr=0.01,b2=0.9,amsgrad=true)",
    "adam_lecture(lr=0.01,schedule=cosine,total_steps=30,warmup=3)",
    "adam_eta0",
    "adam_per_example(eta0=0.001)",
    "adagrad(lr=0.05,initial_accumulator_value=0.1,lr_decay=0.01)",
    "adamax(lr=0.01,clip_norm=0.5)",
    "nadam(lr=0.01,warmup=4)",
    "nadamw(lr=0.01,weight_decay=0.1)",
    "radam(lr=0.01,weight_decay=0.01)",
    "adadelta(rho=0.8)",
    "adabelief(lr=0.01,decoupled_weight_decay=0.01)",
    "yogi(lr=0.01,warmup=3)",
    "sign_sgd(lr=0.001,weight_decay=0.01)",
    "signum(lr=0.001,schedule=cosine,total_steps=20)",
    "lamb(lr=0.01,trust_weight_decay=0.01,decoupled_weight_decay=0.01)",
    "lion(lr=0.001,weight_decay=0.01)",
    "ademamix(lr=0.001,alpha=5,alpha_warmup=8,b3_warmup=8,weight_decay=0.01)",
    "cautious_adamw(lr=0.01,weight_decay=0.1,clip_norm=1)",
    "shampoo(lr=0.01,weight_decay=0.1,precondition_frequency=3,start_preconditioning_step=2,max_preconditioner_dim=3)",
    "soap(lr=0.01,weight_decay=0.1,precondition_frequency=2)",
    "schedule_free_adamw(lr=0.01,warmup=3,decay=0.01)",
    "muon(lr=0.02,adam_lr=0.01)",
    "adafactor(lr=0.05,weight_decay=0.01)",
    "prodigy(estim_lr0=0.01,estim_lr_coef=5)",
];

#[test]
fn resuming_from_json_is_bitwise_the_same_run() {
    for spec in SPECS {
        let mut straight = Optimizer::from_spec(spec).unwrap();
        let mut run = Noisy::new();
        run.run(&mut straight, 20);

        let mut first = Optimizer::from_spec(spec).unwrap();
        let mut resumed_run = Noisy::new();
        resumed_run.run(&mut first, 10);
        let json = serde_json::to_string(&first.state()).unwrap();
        drop(first);
        let state: OptimizerState = serde_json::from_str(&json).unwrap();
        let mut second = Optimizer::from_state(state).unwrap();
        assert_eq!(second.steps(), 10);
        resumed_run.run(&mut second, 10);

        assert_eq!(resumed_run.values, run.values, "{spec}: parameters differ");
        assert_eq!(second, straight, "{spec}: optimizer states differ");
    }
}

#[test]
fn header_and_named_tensors_round_trip() {
    for spec in SPECS {
        let mut opt = Optimizer::from_spec(spec).unwrap();
        Noisy::new().run(&mut opt, 3);
        let state = opt.state();
        // The split a checkpoint makes: a small JSON header, tensors by name.
        let header = serde_json::to_string(&state.header()).unwrap();
        let tensors: Vec<(String, Vec<usize>, Vec<f32>)> = state
            .tensors()
            .map(|(name, shape, data)| (name, shape.to_vec(), data.to_vec()))
            .collect();
        let names = opt.state_names();
        assert_eq!(tensors.len(), 2 * names.len(), "{spec}");
        if let Some(first) = names.first() {
            assert_eq!(tensors[0].0, format!("0.{first}"));
            assert_eq!(tensors[0].1, opt.state_shape(0, &[3, 2]));
        }
        let header: StateHeader = serde_json::from_str(&header).unwrap();
        let back = OptimizerState::from_parts(header, tensors).unwrap();
        assert_eq!(back, state, "{spec}");
        assert_eq!(Optimizer::from_state(back).unwrap(), opt, "{spec}");
    }
}

#[test]
fn a_moment_shaped_unlike_its_parameter_is_kept_and_checked() {
    // Muon keeps no v for a matrix: an empty tensor, recorded with its shape.
    let mut opt = Optimizer::from_spec("muon(lr=0.02)").unwrap();
    Noisy::new().run(&mut opt, 2);
    let state = opt.state();
    let v = &state.params[0].moments[1];
    assert_eq!((v.name.as_str(), v.shape.as_deref()), ("v", Some(&[0][..])));
    assert!(v.data.is_empty());
    assert_eq!(state.params[1].moments[1].shape, None);

    // A state that gives the matrix a full v is refused, by either route.
    let mut full = state.clone();
    full.params[0].moments[1] = gradlab_optim::Moment {
        name: "v".into(),
        shape: None,
        data: vec![0.0; 6],
    };
    assert_eq!(
        Optimizer::from_state(full).unwrap_err().to_string(),
        "optimizer state for parameter 0: moment 'v' has shape [3, 2], the rule keeps [0]"
    );
    let tensors = state.tensors().map(|(n, s, d)| {
        let (s, d) = if n == "0.v" {
            (vec![3, 2], vec![0.0; 6])
        } else {
            (s.to_vec(), d.to_vec())
        };
        (n, s, d)
    });
    assert_eq!(
        OptimizerState::from_parts(state.header(), tensors.collect::<Vec<_>>())
            .unwrap_err()
            .to_string(),
        "optimizer state tensor '0.v' has shape [3, 2], the rule keeps [0] for its parameter"
    );
}

#[test]
fn plain_sgd_still_records_ids_and_shapes() {
    let mut opt = Optimizer::from_spec("sgd").unwrap();
    Noisy::new().run(&mut opt, 1);
    let header = opt.state().header();
    assert_eq!(header.params.len(), 2);
    assert_eq!(
        (header.params[1].id, header.params[1].shape.as_slice()),
        (1, &[2][..])
    );
    assert_eq!(opt.state().tensors().count(), 0);
}

#[test]
fn from_parts_reports_missing_extra_and_misshapen_tensors() {
    let mut opt = Optimizer::from_spec("adam").unwrap();
    Noisy::new().run(&mut opt, 2);
    let state = opt.state();
    let tensors = || -> Vec<(String, Vec<usize>, Vec<f32>)> {
        state
            .tensors()
            .map(|(n, s, d)| (n, s.to_vec(), d.to_vec()))
            .collect()
    };
    let err = |t: Vec<(String, Vec<usize>, Vec<f32>)>| {
        OptimizerState::from_parts(state.header(), t)
            .unwrap_err()
            .to_string()
    };

    let mut missing = tensors();
    missing.retain(|(n, _, _)| n != "1.v");
    assert_eq!(err(missing), "optimizer state tensor '1.v' is missing");

    let mut extra = tensors();
    extra.push(("7.m".to_string(), vec![1], vec![0.0]));
    assert_eq!(
        err(extra),
        "optimizer state tensor '7.m' belongs to no parameter and moment of the state"
    );

    let mut misshapen = tensors();
    misshapen[0].1 = vec![2, 3];
    assert_eq!(
        err(misshapen),
        "optimizer state tensor '0.m' has shape [2, 3], the rule keeps [3, 2] for its parameter"
    );

    let mut twice = tensors();
    twice.push(twice[0].clone());
    assert_eq!(err(twice), "optimizer state tensor '0.m' is given twice");
}

#[test]
fn from_state_checks_moments_and_lengths() {
    let mut opt = Optimizer::from_spec("adam").unwrap();
    Noisy::new().run(&mut opt, 2);

    let mut state = opt.state();
    state.params[1].moments[1].name = "s".to_string();
    assert_eq!(
        Optimizer::from_state(state).unwrap_err().to_string(),
        "optimizer state for parameter 1: adam keeps moments [m, v], the state has [m, s]"
    );

    let mut state = opt.state();
    state.params[0].moments[0].data.pop();
    assert_eq!(
        Optimizer::from_state(state).unwrap_err().to_string(),
        "optimizer state for parameter 0: moment 'm' has 5 values, which do not fill shape [3, 2]"
    );

    let mut state = opt.state();
    state.spec = "adam(lr=-1)".to_string();
    assert!(matches!(
        Optimizer::from_state(state),
        Err(StateError::Spec(_))
    ));
}

#[test]
fn load_state_refuses_another_configuration() {
    let mut saved = Optimizer::from_spec("adam(lr=0.01)").unwrap();
    Noisy::new().run(&mut saved, 2);

    // The same configuration, spelled differently: accepted.
    let mut same = Optimizer::from_spec("adam(eps=1e-8,lr=1e-2)").unwrap();
    same.load_state(saved.state()).unwrap();
    assert_eq!(same, saved);

    let mut other = Optimizer::from_spec("adam(lr=0.02)").unwrap();
    assert_eq!(
        other.load_state(saved.state()).unwrap_err().to_string(),
        "the optimizer state was saved by 'adam(lr=0.01,b1=0.9,b2=0.999,eps=1e-8)', but this \
         optimizer is 'adam(lr=0.02,b1=0.9,b2=0.999,eps=1e-8)'"
    );

    // The run length set by the training loop is part of the configuration.
    let mut cosine = Optimizer::for_run("sgd(schedule=cosine)", 100).unwrap();
    Noisy::new().run(&mut cosine, 1);
    let mut again = Optimizer::for_run("sgd(schedule=cosine)", 100).unwrap();
    again.load_state(cosine.state()).unwrap();
    assert_eq!(again.steps(), 1);
}

#[test]
fn validate_names_the_mismatched_parameter() {
    let mut opt = Optimizer::from_spec("adam").unwrap();
    Noisy::new().run(&mut opt, 1);
    let opt = Optimizer::from_state(opt.state()).unwrap();

    let (mut a, mut b, mut c) = (
        Tensor::zeros(&[3, 2]),
        Tensor::zeros(&[2]),
        Tensor::zeros(&[4]),
    );
    let (ga, gb, gc) = (
        Tensor::zeros(&[3, 2]),
        Tensor::zeros(&[2]),
        Tensor::zeros(&[4]),
    );
    let (mut bt, gbt) = (Tensor::zeros(&[2, 3]), Tensor::zeros(&[2, 3]));

    assert_eq!(
        opt.validate(&[Param::new(0, &mut a, &ga), Param::new(1, &mut b, &gb)]),
        Ok(())
    );
    assert_eq!(
        opt.validate(&[Param::new(0, &mut bt, &gbt), Param::new(1, &mut b, &gb)])
            .unwrap_err()
            .to_string(),
        "parameter 0 has shape [2, 3], but the optimizer state for it has shape [3, 2]"
    );
    assert_eq!(
        opt.validate(&[Param::new(0, &mut a, &ga)]).unwrap_err().to_string(),
        "the optimizer state holds parameter 1 (shape [2]), which is not among the parameters given"
    );
    assert_eq!(
        opt.validate(&[
            Param::new(0, &mut a, &ga),
            Param::new(1, &mut b, &gb),
            Param::new(2, &mut c, &gc)
        ])
        .unwrap_err()
        .to_string(),
        "parameter 2 has no optimizer state, but the state is from step 1 and holds ids [0, 1]"
    );
    assert_eq!(
        opt.validate(&[Param::new(0, &mut a, &gc)])
            .unwrap_err()
            .to_string(),
        "parameter 0 has shape [3, 2], but its gradient has shape [4]"
    );
}

#[test]
fn json_keeps_every_f32_bit() {
    // Awkward values: subnormal, tiny, huge, and ones with 9 significant digits.
    let data = vec![
        1e-45,
        1.175_494_2e-38,
        3.402_823_5e38,
        0.1,
        1.0 / 3.0,
        -2.718_281_7,
        16_777_217.0,
    ];
    let state = OptimizerState {
        spec: "sgd_ema".to_string(),
        steps: 1,
        global: Vec::new(),
        params: vec![gradlab_optim::ParamState {
            id: 0,
            shape: vec![data.len()],
            moments: vec![gradlab_optim::Moment {
                name: "m".to_string(),
                shape: None,
                data: data.clone(),
            }],
        }],
    };
    let back: OptimizerState =
        serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&back.params[0].moments[0].data), bits(&data));
}
