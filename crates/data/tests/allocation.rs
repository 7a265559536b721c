//! A header claiming an enormous amount of data must be rejected without
//! allocating for the claim. A counting global allocator records the largest
//! single request made while such files are read.
//!
//! This binary holds a single test so that nothing else allocates while it
//! measures.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{header, write, TempDir};
use gradlab_data::{read_idx, DataError};

struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn huge_claims_fail_without_allocating_for_them() {
    const HUGE: u32 = 4_000_000_000;
    let dir = TempDir::new("alloc");
    // 4e9 × 1000 × 1000 = 4e15 bytes: a valid usize, and far more memory than
    // any machine has, so pre-allocating it would abort the test.
    let claims: [&[u32]; 3] = [&[HUGE, 1000, 1000], &[HUGE, HUGE], &[HUGE, HUGE, HUGE]];
    let mut paths = Vec::new();
    for (i, dims) in claims.iter().enumerate() {
        let bytes = [header(0x0800 | dims.len() as u32, dims), vec![1; 4096]].concat();
        for suffix in ["", ".gz"] {
            paths.push(write(dir.path(), &format!("claim-{i}{suffix}"), &bytes));
        }
    }

    LARGEST.store(0, Ordering::Relaxed);
    for path in &paths {
        let err = read_idx(path).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Truncated { got: 4096, .. } | DataError::Overflow { .. }
            ),
            "{}: {err:?}",
            path.display()
        );
    }
    let largest = LARGEST.load(Ordering::Relaxed);
    // The gzip decoder's own state and buffers are tens of kilobytes.
    assert!(largest < 1 << 20, "largest allocation: {largest} bytes");
}
