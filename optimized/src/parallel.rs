//! Multi-threading with rayon. Work is split along whole groups, or along the same fixed blocks
//! as the serial path, merged in the same order, so the output does not depend on the number of
//! threads.

use crate::{GroupRun, Kernel, Layout, Moments, BLOCK_LEN, RUNS_PER_THREAD};
use rayon::prelude::*;
use std::sync::Mutex;
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
    let threads = rayon::current_num_threads();
    if group_count >= threads {
        // At least a group per thread: runs of whole groups, each computed as on the serial path.
        let runs_per_thread = if layout.streaming { RUNS_PER_THREAD } else { 1 };
        let groups_per_run = group_count.div_ceil(runs_per_thread * threads);
        let run_len = groups_per_run * layout.group_len;
        let mut means = mean.map(|m| m.chunks_mut(groups_per_run));
        let mut rstds = rstd.map(|r| r.chunks_mut(groups_per_run));
        let runs = input
            .chunks(run_len)
            .zip(y.chunks_mut(run_len))
            .enumerate()
            .map(|(run, (x, y))| GroupRun {
                x,
                y,
                first: run * groups_per_run,
                mean: means.as_mut().and_then(Iterator::next),
                rstd: rstds.as_mut().and_then(Iterator::next),
            });
        if runs_per_thread == 1 {
            // Data that fits in the caches: one run per thread, the same run on the same thread
            // at every call, so that each finds in its own cache what it read and wrote the call
            // before (work stealing would move groups between cores). Each run is taken once, by
            // its own thread.
            let runs: Vec<Mutex<Option<GroupRun<'_>>>> =
                runs.map(|run| Mutex::new(Some(run))).collect();
            rayon::broadcast(|context| {
                let run = runs
                    .get(context.index())
                    .and_then(|run| run.lock().ok()?.take());
                if let Some(run) = run {
                    // SAFETY: `kernel` exists only where the CPU supports its instruction set.
                    unsafe { (primitives.normalize_groups)(&layout, params, run) };
                }
            });
        } else {
            // Data streamed from memory: shorter runs, taken by whichever thread is free, so
            // that a thread slowed down by anything else does not hold the others up.
            let runs: Vec<GroupRun<'_>> = runs.collect();
            runs.into_par_iter().for_each(|run| {
                // SAFETY: `kernel` exists only where the CPU supports its instruction set.
                unsafe { (primitives.normalize_groups)(&layout, params, run) }
            });
        }
        return;
    }
    // Few, large groups: the blocks of each group in parallel.
    let stats: Vec<(f32, f32)> = input
        .chunks(layout.group_len)
        .zip(y.chunks_mut(layout.group_len))
        .enumerate()
        .map(|(index, (x, y))| {
            let group = layout.group(params, index);
            let blocks: Vec<Moments> = x
                .par_chunks(BLOCK_LEN)
                // SAFETY: `kernel` exists only where the CPU supports its instruction set.
                .map(|block| unsafe { (primitives.block_moments)(block) })
                .collect();
            let moments = blocks.into_iter().fold(Moments::EMPTY, Moments::merge);
            let statistics = group.statistics(moments, x);
            x.par_chunks(BLOCK_LEN)
                .zip(y.par_chunks_mut(BLOCK_LEN))
                .enumerate()
                .for_each(|(block, (x_part, y_part))| {
                    let start = block * BLOCK_LEN;
                    // SAFETY: `kernel` exists only where the CPU supports its instruction set.
                    unsafe { (primitives.write)(&group, &statistics, x_part, y_part, start) }
                });
            statistics.mean_rstd()
        })
        .collect();
    if let Some(mean) = mean {
        mean.iter_mut().zip(&stats).for_each(|(m, s)| *m = s.0);
    }
    if let Some(rstd) = rstd {
        rstd.iter_mut().zip(&stats).for_each(|(r, s)| *r = s.1);
    }
}
