//! The multi-threaded path gives the same bits as one thread, on 1, 2 and 3 threads, for every
//! kernel: each group is split into blocks whose boundaries do not depend on the thread count,
//! and their moments are merged in a fixed order.

mod common;

use common::assert_ran_every_kernel;
use groupnorm_optimized::tuning::BLOCK_LEN;
use groupnorm_optimized::{GroupNorm, Kernel, StatsBuffers};

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

fn run(
    kernel: Kernel,
    threads: usize,
    params: &GroupNorm<'_>,
    x: &[f32],
    groups: usize,
) -> Vec<u32> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool");
    let mut y = vec![0.0f32; x.len()];
    let (mut mean, mut rstd) = (vec![0.0f32; groups], vec![0.0f32; groups]);
    pool.install(|| {
        kernel.run(
            params,
            x,
            &mut y,
            Some(StatsBuffers::new(&mut mean, &mut rstd)),
        )
    })
    .expect("valid arguments");
    y.iter()
        .chain(&mean)
        .chain(&rstd)
        .map(|v| v.to_bits())
        .collect()
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
    let mut kernels_run = Vec::new();
    for kernel in Kernel::available() {
        kernels_run.push(kernel.name());
        for (shape, num_groups) in shapes {
            let len: usize = shape.iter().product();
            let x = data(len, 7);
            let weight = data(shape[1], 8);
            let bias = data(shape[1], 9);
            let groups = shape[0] * num_groups;
            for params in [
                GroupNorm::new(shape, num_groups),
                GroupNorm::new(shape, num_groups)
                    .with_weight(&weight)
                    .with_bias(&bias),
            ] {
                let one = run(kernel, 1, &params, &x, groups);
                for threads in [2, 3] {
                    let many = run(kernel, threads, &params, &x, groups);
                    assert!(
                        one == many,
                        "{}: {shape:?} G{num_groups} differs between 1 and {threads} threads",
                        kernel.name()
                    );
                }
            }
        }
    }
    println!(
        "kernels run on 1, 2 and 3 threads: {}",
        kernels_run.join(", ")
    );
    assert_ran_every_kernel(&kernels_run.iter().copied().collect());
}
