//! After the first step, a step allocates nothing: the state is created on
//! first sight of each parameter and reused. This binary counts every
//! allocation of the process, so it holds this one test only.
//!
//! The steps run inside a rayon pool. Called from outside one, each parallel
//! loop hands rayon's global queue a job, and that queue allocates one block
//! per 63 jobs: rayon's bookkeeping, not the optimizer's.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use gradlab_optim::{Optimizer, Param};
use gradlab_tensor::{rng, Tensor};
use rayon::ThreadPoolBuilder;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Whether this thread's allocations count: set on the workers of the
    /// pool that runs the steps. Other threads allocate at moments of their
    /// own (the test harness's main thread keeps books of running tests).
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTED.get() {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn steps_after_the_first_do_not_allocate() {
    let mut r = rng(2);
    // A parameter split over threads, a small one, and a matrix (for the
    // rules that take matrices as a whole).
    let shapes: [&[usize]; 3] = [&[200_000], &[10], &[64, 48]];
    let mut values: Vec<Tensor> = shapes
        .iter()
        .map(|s| Tensor::normal(s, 0.0, 1.0, &mut r))
        .collect();
    let grads: Vec<Tensor> = shapes
        .iter()
        .map(|s| Tensor::normal(s, 0.0, 1.0, &mut r))
        .collect();
    let squares: Vec<Tensor> = grads.iter().map(|g| g.map(|x| x * x)).collect();
    let names = common::ALL;
    let pool = ThreadPoolBuilder::new()
        .num_threads(2)
        .start_handler(|_| COUNTED.set(true))
        .build()
        .unwrap();
    // Workers start asynchronously, allocating as they do: wait until both run.
    pool.broadcast(|_| ());
    for name in names {
        let mut spec = common::with_keys(name, "clip_norm=1,schedule=cosine,total_steps=10");
        if name == "shampoo" {
            // Its roots at steps 100, 200, … on blocks of 8: the long
            // vector's 25 000 eigendecompositions then take a moment, not
            // minutes, and the first one still comes after step 1.
            spec = common::with_keys(&spec, "max_preconditioner_dim=8");
        }
        let mut opt = Optimizer::from_spec(&spec).unwrap();
        let mut params: Vec<Param<'_>> = values
            .iter_mut()
            .zip(grads.iter().zip(&squares))
            .enumerate()
            .map(|(id, (v, (g, q)))| Param::new(id, v, g).with_grad_sq(q))
            .collect();
        // Allocations per step: the first creates the state, the others
        // reuse it.
        let counts: Vec<usize> = pool.install(|| {
            (0..500)
                .map(|_| {
                    let before = ALLOCATIONS.load(Ordering::Relaxed);
                    opt.step(&mut params, 8);
                    ALLOCATIONS.load(Ordering::Relaxed) - before
                })
                .collect()
        });
        assert!(counts[0] >= 2, "{name}: the first step creates the state");
        let later: Vec<(usize, usize)> = counts
            .iter()
            .enumerate()
            .skip(1)
            .filter(|&(_, &n)| n > 0)
            .map(|(i, &n)| (i + 1, n))
            .collect();
        assert!(
            later.is_empty(),
            "{name}: (step, allocations) after the first step: {later:?}"
        );
    }
}
