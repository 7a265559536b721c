//! A whole training step — gather, forward, backward, optimizer update —
//! allocates nothing once the first step has sized every buffer: a counting
//! global allocator proves it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use gradlab_data::Dataset;
use gradlab_train::{TrainConfig, Trainer};

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

/// `n` random 28×28 images with labels 0–9.
fn synthetic(n: usize) -> Dataset {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let images = (0..n * 784).map(|_| next() as u8).collect();
    let labels = (0..n).map(|_| (next() % 10) as u8).collect();
    Dataset::new(images, labels, 28, 28).unwrap()
}

#[test]
fn steady_state_training_step_allocates_nothing() {
    // Inside a pool, as in `gradlab-autodiff`'s test: called from outside,
    // rayon's global queue allocates a small block once per 63 jobs. The
    // first step creates the optimizer state and sizes the tape, and its
    // recording allocates every worker's packing buffers at their largest.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .start_handler(|_| COUNTED.set(true))
        .build()
        .unwrap();
    let data = synthetic(512);
    let batches: Vec<Vec<usize>> = (0..4).map(|i| (i * 128..(i + 1) * 128).collect()).collect();
    for optimizer in [
        "sgd(lr=0.1)",
        "adam(lr=1e-3,schedule=cosine)",
        "adam_per_example(eta0=1e-5)",
        "sgd_momentum(lr=0.05,momentum=0.9,clip_norm=1)",
    ] {
        let config = TrainConfig {
            optimizer: optimizer.into(),
            dropout: 0.1,
            epochs: 10,
            ..TrainConfig::default()
        };
        let mut trainer = Trainer::new(config, data.clone(), data.clone()).unwrap();
        let counts: Vec<usize> = pool.install(|| {
            (0..16)
                .map(|s| {
                    let before = ALLOCATIONS.load(Ordering::SeqCst);
                    trainer.step(&batches[s % 4]).unwrap();
                    ALLOCATIONS.load(Ordering::SeqCst) - before
                })
                .collect()
        });
        assert!(counts[0] > 0, "the first step must size its buffers");
        assert_eq!(
            &counts[1..],
            &[0; 15],
            "{optimizer}: allocations per step {counts:?}"
        );
    }
}
