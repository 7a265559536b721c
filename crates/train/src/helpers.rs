//! Keeping the pool's threads awake for the length of a training step, and
//! catching a model's shape panic quietly.
//!
//! A step runs a dozen short parallel loops (the matmuls, the optimizer's
//! pass). An idle rayon thread soon goes to sleep, and waking it for each
//! loop — a system call and a context switch — cost 15–20 % of a step at
//! batch size 32. So the step runs on one of the pool's threads, and the
//! pool's other threads stay awake beside it, running its parallel pieces
//! as they appear, until it ends. Nothing here changes what is computed.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use rayon::Yield;

/// Runs `step` inside the rayon pool with the pool's other threads kept
/// busy-waiting for its parallel pieces.
pub(crate) fn with_pool_awake<R: Send>(step: impl FnOnce() -> R + Send) -> R {
    // The first step allocates every worker's matmul buffers (a broadcast
    // to the pool, which `Tape::record` would otherwise do) before the
    // helpers start: a thread that waits for a broadcast runs queued jobs
    // meanwhile, and if it picked up its own helper job, that helper would
    // spin until the step it sits inside has finished.
    gradlab_tensor::reserve_workers();
    let done = AtomicBool::new(false);
    rayon::scope(|_| {
        with_helpers(rayon::current_num_threads() - 1, &done, || {
            let _stop_helpers = SetOnDrop(&done);
            step()
        })
    })
}

/// Runs `body` while `helpers` other threads of the pool run its parallel
/// pieces or spin, until `done`. (`rayon::join` keeps its jobs on the
/// stack, so this allocates nothing.)
fn with_helpers<R: Send>(helpers: usize, done: &AtomicBool, body: impl FnOnce() -> R + Send) -> R {
    if helpers == 0 {
        return body();
    }
    rayon::join(
        || with_helpers(helpers - 1, done, body),
        || help_until(done),
    )
    .0
}

/// Runs the pool's pending jobs, or spins, until `done`.
fn help_until(done: &AtomicBool) {
    let mut idle = 0u32;
    while !done.load(Ordering::Acquire) {
        if rayon::yield_now() == Some(Yield::Executed) {
            idle = 0;
            continue;
        }
        idle += 1;
        // With more threads than free cores, a helper that only spins would
        // take the core from the thread doing the step's serial work.
        if idle.is_multiple_of(256) {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Sets the flag when dropped, so that helpers stop even if the step panics.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Runs `f`, turning a panic into `Err` with its message, without the panic
/// hook printing it. (With `panic = "abort"` a panic cannot be caught, and
/// `f` panics as usual.)
pub(crate) fn catch_quietly<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    if !cfg!(panic = "unwind") {
        return Ok(f());
    }
    // The hook is global: one swap at a time, so that each restores the
    // hook it found.
    static HOOK: Mutex<()> = Mutex::new(());
    let _one_at_a_time = HOOK.lock().unwrap_or_else(|e| e.into_inner());
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    result.map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "it panicked".into())
    })
}
