//! Multi-threading with rayon, over the contiguous layout, as the plan's [`Threading`] says.
//! Work is split along whole groups, or along the same fixed blocks as the serial path, merged
//! in the same order, so the output does not depend on the number of threads.
//!
//! [`Threading`]: crate::plan::Threading

use crate::contiguous::GroupRun;
use crate::element::Element;
use crate::group::Group;
use crate::moments::Moments;
use crate::params::GroupNorm;
use crate::plan::{Plan, BLOCK_LEN};
use crate::primitives::Primitives;
use rayon::prelude::*;
use std::sync::{Mutex, PoisonError};
use std::vec::Vec;

/// At least a group per thread: `call` in runs of `groups_per_run` whole groups, each computed
/// as on the calling thread. With `pinned`, one run per thread of the pool, and each thread
/// takes first the run of its own index, so that at every call it finds in its cache what it
/// read and wrote the call before; a thread that finds its own run taken, or has none, takes
/// any run left. Otherwise shorter runs, taken by whichever thread is free, so that a thread
/// slowed down by anything else does not hold the others up.
///
/// Both are rayon jobs that a thread of the pool runs when it is free: a call needs one free
/// thread of its pool, which is the calling thread itself when that is one of the pool's
/// (inside `ThreadPool::install`, `par_iter`, ...), so such a call finishes even when every
/// other thread of the pool is blocked, on the caller or on anything else (`rayon::broadcast`
/// would wait for each of them). A call from outside the pool waits for a free pool thread.
///
/// `normalize` is the kernel's function for one run (`Primitives::normalize_groups`, or
/// `normalize_samples` for a channels-last call, whose runs are whole samples).
///
/// # Safety
/// The CPU supports the instruction set of the kernel whose function `normalize` is.
pub(crate) unsafe fn group_runs<E: Element>(
    normalize: unsafe fn(&Plan, &GroupNorm<'_>, GroupRun<'_, E>),
    plan: &Plan,
    params: &GroupNorm<'_>,
    call: GroupRun<'_, E>,
    groups_per_run: usize,
    pinned: bool,
) {
    let runs = call.split(groups_per_run, plan.group_len());
    if pinned {
        let runs: Vec<Mutex<Option<GroupRun<'_, E>>>> =
            runs.map(|run| Mutex::new(Some(run))).collect();
        // As many jobs as runs, each taking one run: every run is taken.
        (0..runs.len())
            .into_par_iter()
            .with_max_len(1)
            .for_each(|_| {
                if let Some(run) = take_run(&runs, rayon::current_thread_index()) {
                    // SAFETY: our caller guarantees the instruction set.
                    unsafe { normalize(plan, params, run) };
                }
            });
    } else {
        let runs: Vec<GroupRun<'_, E>> = runs.collect();
        runs.into_par_iter().for_each(|run| {
            // SAFETY: our caller guarantees the instruction set.
            unsafe { normalize(plan, params, run) }
        });
    }
}

/// The run of index `home` if it is still there, or else the first run left.
fn take_run<'a, E>(
    runs: &[Mutex<Option<GroupRun<'a, E>>>],
    home: Option<usize>,
) -> Option<GroupRun<'a, E>> {
    // A slot's lock is held only to take its run, so it is never poisoned.
    let take = |slot: &Mutex<Option<GroupRun<'a, E>>>| {
        slot.lock().unwrap_or_else(PoisonError::into_inner).take()
    };
    home.and_then(|home| runs.get(home))
        .and_then(take)
        .or_else(|| runs.iter().find_map(take))
}

/// Fewer groups than threads: group after group, the statistics of its blocks in parallel,
/// merged in order, then the output of its blocks in parallel.
///
/// # Safety
/// The CPU supports the instruction set of the kernel whose `primitives` these are.
pub(crate) unsafe fn blocks<E: Element>(
    primitives: Primitives<E>,
    plan: &Plan,
    params: &GroupNorm<'_>,
    call: GroupRun<'_, E>,
) {
    let (slots, mut stats) = call.groups(plan.group_len());
    for slot in slots {
        let (x, y) = (slot.x, &mut *slot.y);
        let group = Group::new(params, plan, slot.index);
        let blocks: Vec<Moments> = x
            .par_chunks(BLOCK_LEN)
            // SAFETY: our caller guarantees the instruction set.
            .map(|block| unsafe { (primitives.block_moments)(block) })
            .collect();
        let moments = blocks.into_iter().fold(Moments::EMPTY, Moments::merge);
        let normalization = group.normalization(moments, || x.iter().map(|v| v.to_f32()));
        x.par_chunks(BLOCK_LEN)
            .zip(y.par_chunks_mut(BLOCK_LEN))
            .enumerate()
            .for_each(|(block, (x_part, y_part))| {
                let start = block * BLOCK_LEN;
                // SAFETY: our caller guarantees the instruction set.
                unsafe { (primitives.write)(plan, &group, &normalization, x_part, y_part, start) }
            });
        stats.set(slot.in_run, normalization.mean_rstd());
    }
}
