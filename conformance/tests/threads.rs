//! The multi-threaded path gives the same bits as one thread, on 1, 2 and 3 threads, for every
//! kernel: each group is split into blocks whose boundaries do not depend on the thread count,
//! and their moments are merged in a fixed order. Channels-last calls (of at least 65536
//! values) share whole samples among the threads, each sample computed as on one thread; a
//! single sample stays on one thread.

use groupnorm_conformance::kit::{self, Inputs, KernelOutput};
use groupnorm_conformance::variant::Layout;
use groupnorm_optimized::tuning::BLOCK_LEN;
use groupnorm_optimized::Kernel;

/// Deterministic data with a mean far from zero, so the merges of the blocks matter.
fn data(len: usize, seed: u32) -> Vec<f32> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            100.0 + (state >> 8) as f32 / (1u32 << 24) as f32
        })
        .collect()
}

/// `kernel` on `shape` in `layout`, plain and with affine parameters: the same bits on 1, 2 and
/// 3 threads.
fn check_threads(kernel: Kernel, shape: &[usize], num_groups: usize, layout: Layout) {
    let len: usize = shape.iter().product();
    let x = data(len, 7);
    let weight = data(shape[1], 8);
    let bias = data(shape[1], 9);
    let plain = Inputs {
        shape,
        num_groups,
        weight: None,
        bias: None,
        eps: 1e-5,
        input: &x,
        layout,
    };
    let affine = Inputs {
        weight: Some(&weight),
        bias: Some(&bias),
        ..plain
    };
    for inputs in [plain, affine] {
        let one = run(kernel, 1, &inputs);
        for threads in [2, 3] {
            let many = run(kernel, threads, &inputs);
            if let Some(diff) = many.bit_difference(&one) {
                panic!(
                    "{}: {shape:?} G{num_groups} {layout:?} differs between 1 and {threads} \
                     threads: {diff}",
                    kernel.name()
                );
            }
        }
    }
}

/// `kernel` on `inputs` in a pool of `threads` threads.
fn run(kernel: Kernel, threads: usize, inputs: &Inputs<'_>) -> KernelOutput {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool");
    pool.install(|| kit::run(kernel, inputs))
        .unwrap_or_else(|e| panic!("{}: {e}", kernel.name()))
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    // Few groups of several blocks each (the blocks of a group run in parallel), many groups
    // (one fixed run of groups per thread), and many groups in more than 16 MiB of input and
    // output (runs taken by whichever thread is free), with and without affine parameters.
    let shapes: [(&[usize], usize); 4] = [
        (&[1, 2, 3 * BLOCK_LEN + 123], 1),
        (&[2, 4, 40_001], 2),
        (&[4, 64, 33, 33], 16),
        (&[2, 8, 132_000], 8),
    ];
    let ran = kit::for_each_kernel(|kernel| {
        for (shape, num_groups) in shapes {
            check_threads(kernel, shape, num_groups, Layout::Contiguous);
        }
    });
    println!("kernels run on 1, 2 and 3 threads: {}", ran.join(", "));
}

#[test]
fn channels_last_results_do_not_depend_on_the_thread_count() {
    // Just past the 65536 values from which channels-last calls share samples: two samples
    // (one per thread on two threads, one thread idle on three), five samples (runs of three
    // and two, or two, two and one), three samples of more channels than a tile (512: groups
    // across tiles, and one group of 520 channels), and single samples, which stay on one
    // thread. (Beyond 16 MiB of input and output only the number of samples per run changes.)
    let shapes: [(&[usize], usize); 6] = [
        (&[2, 40, 33, 25], 8),
        (&[5, 16, 41, 20], 2),
        (&[3, 520, 7, 7], 4),
        (&[3, 520, 7, 7], 1),
        (&[1, 32, 2049], 4),
        (&[1, 300, 15, 15], 3),
    ];
    let ran = kit::for_each_kernel(|kernel| {
        for (shape, num_groups) in shapes {
            check_threads(kernel, shape, num_groups, Layout::ChannelsLast);
        }
    });
    println!(
        "kernels run channels-last on 1, 2 and 3 threads: {}",
        ran.join(", ")
    );
}
