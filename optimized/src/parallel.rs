//! Multi-threading with rayon, over the contiguous layout, as the plan's [`Threading`] says.
//! Work is split along whole groups, or along the same fixed blocks as the serial path, merged
//! in the same order, so the output does not depend on the number of threads.

use crate::contiguous::GroupRun;
use crate::group::Group;
use crate::moments::Moments;
use crate::params::GroupNorm;
use crate::plan::{Plan, Threading, BLOCK_LEN};
use crate::primitives::Primitives;
use rayon::prelude::*;
use std::sync::Mutex;
use std::vec::Vec;

/// Runs a call as its plan's [`Threading`] says.
///
/// # Safety
/// The CPU supports the instruction set of the kernel whose `primitives` these are.
pub(crate) unsafe fn run(
    primitives: Primitives,
    plan: &Plan,
    params: &GroupNorm<'_>,
    input: &[f32],
    y: &mut [f32],
    mean: Option<&mut [f32]>,
    rstd: Option<&mut [f32]>,
) {
    match plan.threading() {
        Threading::Serial => {
            let run = GroupRun::new(input, y, 0, mean, rstd);
            // SAFETY: our caller guarantees the instruction set.
            unsafe { (primitives.normalize_groups)(plan, params, run) }
        }
        Threading::GroupRuns {
            groups_per_run,
            pinned,
        } => {
            let run_len = groups_per_run * plan.group_len();
            let mut means = mean.map(|m| m.chunks_mut(groups_per_run));
            let mut rstds = rstd.map(|r| r.chunks_mut(groups_per_run));
            let runs = input
                .chunks(run_len)
                .zip(y.chunks_mut(run_len))
                .enumerate()
                .map(|(run, (x, y))| {
                    GroupRun::new(
                        x,
                        y,
                        run * groups_per_run,
                        means.as_mut().and_then(Iterator::next),
                        rstds.as_mut().and_then(Iterator::next),
                    )
                });
            if pinned {
                // Each run is taken once, by its own thread: work stealing would move groups
                // between cores, away from the cache that holds them since the call before.
                let runs: Vec<Mutex<Option<GroupRun<'_>>>> =
                    runs.map(|run| Mutex::new(Some(run))).collect();
                rayon::broadcast(|context| {
                    let run = runs
                        .get(context.index())
                        .and_then(|run| run.lock().ok()?.take());
                    if let Some(run) = run {
                        // SAFETY: our caller guarantees the instruction set.
                        unsafe { (primitives.normalize_groups)(plan, params, run) };
                    }
                });
            } else {
                // Shorter runs, taken by whichever thread is free, so that a thread slowed down
                // by anything else does not hold the others up.
                let runs: Vec<GroupRun<'_>> = runs.collect();
                runs.into_par_iter().for_each(|run| {
                    // SAFETY: our caller guarantees the instruction set.
                    unsafe { (primitives.normalize_groups)(plan, params, run) }
                });
            }
        }
        Threading::Blocks => {
            // SAFETY: our caller guarantees the instruction set.
            let stats = unsafe { blocks_in_parallel(primitives, plan, params, input, y) };
            if let Some(mean) = mean {
                mean.iter_mut().zip(&stats).for_each(|(m, s)| *m = s.0);
            }
            if let Some(rstd) = rstd {
                rstd.iter_mut().zip(&stats).for_each(|(r, s)| *r = s.1);
            }
        }
    }
}

/// Few, large groups: the blocks of each group in parallel, the statistics pass and then the
/// output pass. Returns each group's `(mean, rstd)`.
///
/// # Safety
/// The CPU supports the instruction set of the kernel whose `primitives` these are.
unsafe fn blocks_in_parallel(
    primitives: Primitives,
    plan: &Plan,
    params: &GroupNorm<'_>,
    input: &[f32],
    y: &mut [f32],
) -> Vec<(f32, f32)> {
    input
        .chunks(plan.group_len())
        .zip(y.chunks_mut(plan.group_len()))
        .enumerate()
        .map(|(index, (x, y))| {
            let group = Group::new(params, plan, index);
            let blocks: Vec<Moments> = x
                .par_chunks(BLOCK_LEN)
                // SAFETY: our caller guarantees the instruction set.
                .map(|block| unsafe { (primitives.block_moments)(block) })
                .collect();
            let moments = blocks.into_iter().fold(Moments::EMPTY, Moments::merge);
            let normalization = group.normalization(moments, || x.iter().copied());
            x.par_chunks(BLOCK_LEN)
                .zip(y.par_chunks_mut(BLOCK_LEN))
                .enumerate()
                .for_each(|(block, (x_part, y_part))| {
                    let start = block * BLOCK_LEN;
                    // SAFETY: our caller guarantees the instruction set.
                    unsafe {
                        (primitives.write)(plan, &group, &normalization, x_part, y_part, start)
                    }
                });
            normalization.mean_rstd()
        })
        .collect()
}
