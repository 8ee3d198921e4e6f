//! Calls from rayon pools in odd states finish, with the same bits as on one thread, for every
//! kernel and every parallel path (whole groups per thread in a call that fits in the caches,
//! groups taken by whichever thread is free, the blocks of few groups, channels-last samples):
//!
//! * inside a pool one of whose threads waits for something the caller does only after the
//!   call (a channel receive, a lock the caller holds): the call, made on a thread of the pool
//!   (inside `install`), must not need that other thread;
//! * from many threads at once, from inside `par_iter` and `broadcast`, from a pool installed
//!   inside another pool, and in pools of one thread and of more threads than cores.
//!
//! Each scenario runs under a watchdog: a call that does not return within [`WATCHDOG`] fails
//! the test instead of hanging the suite (the stuck threads are left behind; the test binary
//! still exits).

use groupnorm_conformance::kit;
use groupnorm_optimized::{GroupNorm, Kernel, Layout};
use rayon::prelude::*;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

/// Far longer than any of these calls takes, even in a debug build on a loaded machine.
const WATCHDOG: Duration = Duration::from_secs(60);

/// One call of each parallel path (all at least the 65536 values from which calls are shared
/// among threads), with a name for the messages.
const CASES: [(&str, &[usize], usize, Layout); 3] = [
    // 32 groups in 512 KiB: one run of groups per thread (fits in the caches).
    ("runs per thread", &[1, 32, 64, 64], 32, Layout::Contiguous),
    // One group of 131072 values: its blocks in parallel.
    ("blocks of a group", &[1, 4, 32_768], 1, Layout::Contiguous),
    // Four samples, channels-last: runs taken by any free thread. Contiguous calls beyond
    // 16 MiB of input and output take the same path (8 MiB of input would only slow the test,
    // most under qemu).
    (
        "channels-last samples",
        &[4, 32, 32, 32],
        8,
        Layout::ChannelsLast,
    ),
];

/// Runs `f` on a thread of its own and returns its result; panics, naming `what`, if it has
/// not returned within [`WATCHDOG`].
fn watchdog<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, finished) = mpsc::channel();
    thread::spawn(move || {
        // The receiver is gone only when the watchdog has already failed the test.
        let _ = done.send(f());
    });
    finished
        .recv_timeout(WATCHDOG)
        .unwrap_or_else(|_| panic!("{what}: no return within {WATCHDOG:?} (deadlock?)"))
}

/// A call's input: deterministic, with a mean far from zero.
fn input(len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| 100.0 + ((i * 7919) % 1000) as f32 / 1000.0)
        .collect()
}

/// `kernel` on one of [`CASES`] in the current pool: `y` as bits.
fn call(kernel: Kernel, shape: &[usize], num_groups: usize, layout: Layout) -> Vec<u32> {
    let x = input(shape.iter().product());
    let mut y = vec![0.0f32; x.len()];
    let params = GroupNorm::new(shape, num_groups).with_layout(layout);
    kernel
        .run(&params, &x, &mut y, None)
        .unwrap_or_else(|e| panic!("{kernel}: {shape:?}: {e}"));
    y.iter().map(|v| v.to_bits()).collect()
}

fn pool(threads: usize) -> Arc<rayon::ThreadPool> {
    Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a rayon pool"),
    )
}

/// `y` of each case on one thread, for `kernel`: what every scenario must reproduce. Computed
/// once per kernel for all the tests of this file.
fn serial(kernel: Kernel) -> Arc<Vec<Vec<u32>>> {
    type Serial = Mutex<Vec<(Kernel, Arc<Vec<Vec<u32>>>)>>;
    static SERIAL: OnceLock<Serial> = OnceLock::new();
    let mut known = SERIAL
        .get_or_init(Serial::default)
        .lock()
        .expect("no panic inside");
    if let Some((_, y)) = known.iter().find(|(k, _)| *k == kernel) {
        return Arc::clone(y);
    }
    let one = pool(1);
    let y: Vec<Vec<u32>> = CASES
        .iter()
        .map(|&(_, shape, groups, layout)| one.install(|| call(kernel, shape, groups, layout)))
        .collect();
    known.push((kernel, Arc::new(y)));
    Arc::clone(&known[known.len() - 1].1)
}

/// Runs `scenario(kernel, case index)` under the watchdog for every kernel and case, and checks
/// that each returned `y` (one or more) has the bits of the one-thread call.
fn check_scenario(
    name: &str,
    scenario: impl Fn(Kernel, usize) -> Vec<Vec<u32>> + Send + Sync + Clone + 'static,
) {
    kit::for_each_kernel(|kernel| {
        let expected = serial(kernel);
        for (case, &(what, shape, _, _)) in CASES.iter().enumerate() {
            let scenario = scenario.clone();
            let label = format!("{name}: {kernel} on {what} {shape:?}");
            let results = watchdog(&label, move || scenario(kernel, case));
            assert!(!results.is_empty(), "{label}: no result");
            for y in results {
                assert!(y == expected[case], "{label}: not the one-thread bits");
            }
        }
    });
}

fn run_case(kernel: Kernel, case: usize) -> Vec<u32> {
    let (_, shape, groups, layout) = CASES[case];
    call(kernel, shape, groups, layout)
}

/// The reproduction of the deadlock found by a hostile review: a 2-thread pool, one of whose
/// threads runs a job that waits for a message the caller sends only after its call.
#[test]
fn a_call_returns_while_a_pool_thread_waits_for_the_caller() {
    check_scenario("pool thread blocked on a channel", |kernel, case| {
        let pool = pool(2);
        let (started, has_started) = mpsc::channel();
        let (release, wait_for_release) = mpsc::channel::<()>();
        pool.spawn(move || {
            started.send(()).expect("the test waits for this");
            // Blocks this pool thread until the caller's call has returned.
            let _ = wait_for_release.recv();
        });
        has_started.recv().expect("the blocking job starts");
        let y = pool.install(|| run_case(kernel, case));
        release.send(()).expect("the blocking job waits for this");
        vec![y]
    });
}

/// The same with a lock: the caller holds it during the call, a pool thread waits for it.
#[test]
fn a_call_returns_while_a_pool_thread_waits_for_a_lock_the_caller_holds() {
    check_scenario("pool thread blocked on a lock", |kernel, case| {
        let pool = pool(2);
        let lock = Arc::new(Mutex::new(()));
        let held = lock.lock().expect("a fresh lock");
        let (started, has_started) = mpsc::channel();
        let waiter = Arc::clone(&lock);
        pool.spawn(move || {
            started.send(()).expect("the test waits for this");
            drop(waiter.lock());
        });
        has_started.recv().expect("the blocking job starts");
        let y = pool.install(|| run_case(kernel, case));
        drop(held);
        vec![y]
    });
}

#[test]
fn calls_from_many_threads_at_once() {
    check_scenario("4 threads at once in a 2-thread pool", |kernel, case| {
        let pool = pool(2);
        let callers: Vec<_> = (0..4)
            .map(|_| {
                let pool = Arc::clone(&pool);
                thread::spawn(move || pool.install(|| run_case(kernel, case)))
            })
            .collect();
        callers
            .into_iter()
            .map(|caller| caller.join().expect("a caller thread"))
            .collect()
    });
}

#[test]
fn calls_from_inside_par_iter_and_broadcast() {
    check_scenario("inside par_iter", |kernel, case| {
        pool(2).install(|| {
            (0..3)
                .into_par_iter()
                .map(|_| run_case(kernel, case))
                .collect()
        })
    });
    check_scenario("inside broadcast", |kernel, case| {
        pool(3).broadcast(|_| run_case(kernel, case))
    });
}

#[test]
fn calls_from_a_pool_inside_another_pool() {
    check_scenario(
        "a 3-thread pool installed in a 2-thread pool",
        |kernel, case| {
            let (outer, inner) = (pool(2), pool(3));
            vec![outer.install(|| inner.install(|| run_case(kernel, case)))]
        },
    );
}

#[test]
fn calls_in_pools_of_one_thread_and_of_more_threads_than_cores() {
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    for threads in [1, 2 * cores + 1, 64] {
        check_scenario(&format!("a {threads}-thread pool"), move |kernel, case| {
            vec![pool(threads).install(|| run_case(kernel, case))]
        });
    }
}
