//! The GEMM allocates nothing once every thread holds its packing buffers:
//! a training step that repeats the same products must not touch the
//! allocator. A counting global allocator needs a test binary of its own.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use gradlab_tensor::{gemm, Transpose};
use rayon::ThreadPoolBuilder;

use Transpose::{No, Yes};

/// The system allocator, counting allocations and reallocations.
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

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The products of one training step of an MLP 784-512-512-10 at batch
/// 128: forward, weight gradients, input gradients.
const STEP: [(usize, usize, usize, Transpose, Transpose); 8] = [
    (128, 784, 512, No, No),
    (128, 512, 512, No, No),
    (128, 512, 10, No, No),
    (512, 128, 10, Yes, No),
    (512, 128, 512, Yes, No),
    (784, 128, 512, Yes, No),
    (128, 10, 512, No, Yes),
    (128, 512, 512, No, Yes),
];

struct Operands {
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
}

fn step(ops: &mut [Operands]) {
    for (&(m, k, n, ta, tb), o) in STEP.iter().zip(ops) {
        gemm(m, k, n, 1.0, &o.a, ta, &o.b, tb, 0.0, &mut o.c);
    }
}

#[test]
fn a_repeated_step_allocates_nothing() {
    let pool = ThreadPoolBuilder::new()
        .num_threads(2)
        .start_handler(|_| COUNTED.set(true))
        .build()
        .unwrap();
    let mut ops: Vec<Operands> = STEP
        .iter()
        .map(|&(m, k, n, ..)| Operands {
            a: vec![0.5; m * k],
            b: vec![0.25; k * n],
            c: vec![0.0; m * n],
        })
        .collect();
    // Once every thread of the pool holds its packing buffers, no product
    // allocates, from the first one on, whichever thread runs which tile.
    let counts: Vec<usize> = pool.install(|| {
        gradlab_tensor::reserve_workers();
        (0..10)
            .map(|_| {
                let before = ALLOCATIONS.load(Ordering::SeqCst);
                step(&mut ops);
                ALLOCATIONS.load(Ordering::SeqCst) - before
            })
            .collect()
    });
    assert_eq!(counts, [0; 10], "allocations per step");
    assert!(ops.iter().all(|o| o.c.iter().all(|x| x.is_finite())));
}
