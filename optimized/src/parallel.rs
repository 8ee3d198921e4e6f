//! Multi-threading with rayon. Work is split along the same fixed blocks as the serial path and
//! merged in the same order, so the output does not depend on the number of threads.

use crate::{Group, Kernel, Layout, Moments, BLOCK_LEN};
use rayon::prelude::*;
use std::vec::Vec;

/// Below this many values a call takes a few microseconds at most, less than waking threads.
const MIN_PARALLEL_LEN: usize = 1 << 16;

pub(crate) fn worth_it(len: usize) -> bool {
    len >= MIN_PARALLEL_LEN && rayon::current_num_threads() > 1
}

pub(crate) fn run(
    kernel: Kernel,
    params: &crate::GroupNorm<'_>,
    layout: Layout,
    input: &[f32],
    y: &mut [f32],
    mean: Option<&mut [f32]>,
    rstd: Option<&mut [f32]>,
) {
    let primitives = kernel.primitives();
    let group_count = input.len() / layout.group_len;
    let stats: Vec<(f32, f32)> = if group_count >= 2 * rayon::current_num_threads() {
        // Enough groups to keep every thread busy: one task per group, each as the serial path.
        input
            .par_chunks(layout.group_len)
            .zip(y.par_chunks_mut(layout.group_len))
            .enumerate()
            .map(|(index, (x, y))| layout.normalize_group(params, primitives, index, x, y))
            .collect()
    } else {
        // Few, large groups: the blocks of each group in parallel.
        input
            .chunks(layout.group_len)
            .zip(y.chunks_mut(layout.group_len))
            .enumerate()
            .map(|(index, (x, y))| {
                let group = layout.group(params, index);
                let shift = Group::shift(x);
                let blocks: Vec<Moments> = x
                    .par_chunks(BLOCK_LEN)
                    .map(|block| group.block_moments(primitives, block, shift))
                    .collect();
                let moments = blocks.into_iter().fold(Moments::EMPTY, Moments::merge);
                let statistics = group.statistics(moments, shift, x);
                x.par_chunks(BLOCK_LEN)
                    .zip(y.par_chunks_mut(BLOCK_LEN))
                    .enumerate()
                    .for_each(|(block, (x_part, y_part))| {
                        group.write(primitives, &statistics, x_part, y_part, block * BLOCK_LEN)
                    });
                statistics.mean_rstd()
            })
            .collect()
    };
    if let Some(mean) = mean {
        mean.iter_mut().zip(&stats).for_each(|(m, s)| *m = s.0);
    }
    if let Some(rstd) = rstd {
        rstd.iter_mut().zip(&stats).for_each(|(r, s)| *r = s.1);
    }
}
