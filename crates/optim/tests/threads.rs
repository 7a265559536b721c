//! One thread or two: bitwise the same parameters and state.

mod common;

use gradlab_optim::Optimizer;
use gradlab_tensor::{rng, Tensor};
use rayon::ThreadPoolBuilder;

/// Three steps of `spec` on a parameter large enough to be split over
/// threads (3·2¹⁵ + 123 elements) and a small one, inside a pool of
/// `threads` threads.
fn run(spec: &str, threads: usize) -> (Vec<Tensor>, Optimizer) {
    let pool = ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let mut r = rng(21);
        let shapes: [&[usize]; 2] = [&[3 * 32768 + 123], &[10]];
        let mut values: Vec<Tensor> = shapes
            .iter()
            .map(|s| Tensor::normal(s, 0.0, 1.0, &mut r))
            .collect();
        let mut opt = Optimizer::from_spec(spec).unwrap();
        for _ in 0..3 {
            let grads: Vec<Tensor> = shapes
                .iter()
                .map(|s| Tensor::normal(s, 0.1, 1.0, &mut r))
                .collect();
            let squares: Vec<Tensor> = grads.iter().map(|g| g.map(|x| x * x + 0.25)).collect();
            common::step(&mut opt, &mut values, &grads, Some(&squares), 32);
        }
        (values, opt)
    })
}

#[test]
fn one_and_two_threads_agree_bitwise() {
    for name in common::ALL {
        // Clipping adds the parallel norm reduction to the parallel update.
        let mut spec = common::with_keys(name, "clip_norm=100,weight_decay=0.01");
        if name == "shampoo" {
            // Roots within the three steps, on blocks small enough that the
            // long vector's 12 000 of them take a moment.
            spec = common::with_keys(
                &spec,
                "precondition_frequency=1,start_preconditioning_step=2,max_preconditioner_dim=8",
            );
        }
        let (v1, o1) = run(&spec, 1);
        let (v2, o2) = run(&spec, 2);
        let bits = |ts: &[Tensor]| -> Vec<u32> {
            ts.iter()
                .flat_map(|t| t.data().iter().map(|x| x.to_bits()))
                .collect()
        };
        assert!(
            bits(&v1) == bits(&v2),
            "{spec}: parameters differ between 1 and 2 threads"
        );
        assert!(
            o1 == o2,
            "{spec}: optimizer states differ between 1 and 2 threads"
        );
        // The clipping really was active: ‖ĝ‖ ≈ √98427 ≈ 314 > 100.
        assert!(o1.clip_norm() == Some(100.0));
    }
}

/// Muon's matrices go through Newton–Schulz on the GEMM, SOAP's through
/// rotations into their eigenbasis and back, whose products are split
/// over threads: a matrix large enough to be split (SOAP refreshing its
/// bases at the third step).
#[test]
fn matrices_agree_bitwise_across_threads() {
    for spec in [
        "muon(lr=0.02,clip_norm=100)",
        "soap(precondition_frequency=2)",
    ] {
        matrices_agree(spec);
    }
}

fn matrices_agree(spec: &str) {
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut r = rng(8);
            let shapes: [&[usize]; 2] = [&[300, 500], &[300]];
            let mut values: Vec<Tensor> = shapes
                .iter()
                .map(|s| Tensor::normal(s, 0.0, 1.0, &mut r))
                .collect();
            let mut opt = Optimizer::from_spec(spec).unwrap();
            for _ in 0..3 {
                let grads: Vec<Tensor> = shapes
                    .iter()
                    .map(|s| Tensor::normal(s, 0.1, 1.0, &mut r))
                    .collect();
                common::step(&mut opt, &mut values, &grads, None, 32);
            }
            (values, opt)
        })
    };
    let ((v1, o1), (v2, o2)) = (run(1), run(2));
    assert!(
        v1 == v2,
        "{spec}: parameters differ between 1 and 2 threads"
    );
    assert!(o1 == o2, "{spec}: states differ between 1 and 2 threads");
}
