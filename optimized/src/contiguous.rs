//! The contiguous memory layout, `(N, C, *spatial)` row-major: group `i` is the `group_len`
//! values from `i * group_len`, its channels one after the other, `channel_len` values each.
//! This file drives the statistics pass (block by block) and the output pass (channel span by
//! channel span) over that layout; everything else is the same for every layout.

use crate::element::Element;
use crate::group::{Group, Normalization, OutputPath};
use crate::moments::Moments;
use crate::output::{self, Epilogue, Identity, Silu};
use crate::params::{Activation, GroupNorm, Stats};
use crate::plan::{Plan, BLOCK_LEN};
use crate::statistics::block_moments;
use crate::vector::Io;

/// Consecutive whole groups, the first of them group `first` (counted over samples and
/// groups), and where their results go: the run's `i`-th group's `mean` and `rstd` at index
/// `i` of `stats`.
pub(crate) struct GroupRun<'a, E> {
    x: &'a [E],
    y: &'a mut [E],
    first: usize,
    stats: Stats<'a>,
}

impl<'a, E> GroupRun<'a, E> {
    pub fn new(x: &'a [E], y: &'a mut [E], first: usize, stats: Stats<'a>) -> Self {
        GroupRun { x, y, first, stats }
    }

    /// The run's input, output, first group and statistics buffers.
    pub fn into_parts(self) -> (&'a [E], &'a mut [E], usize, Stats<'a>) {
        (self.x, self.y, self.first, self.stats)
    }

    /// The run's groups, in order, and where their statistics go.
    #[inline(always)]
    pub fn groups(self, group_len: usize) -> (impl Iterator<Item = GroupSlot<'a, E>>, Stats<'a>) {
        let first = self.first;
        let slots = self
            .x
            .chunks(group_len)
            .zip(self.y.chunks_mut(group_len))
            .enumerate()
            .map(move |(i, (x, y))| GroupSlot {
                index: first + i,
                in_run: i,
                x,
                y,
            });
        (slots, self.stats)
    }

    /// The run cut into runs of `groups_per_run` groups of `group_len` values (the last one
    /// shorter where they do not divide), in order.
    #[cfg(feature = "rayon")]
    pub fn split(self, groups_per_run: usize, group_len: usize) -> impl Iterator<Item = Self> {
        let run_len = groups_per_run * group_len;
        let first = self.first;
        let mut stats = Some(self.stats);
        self.x
            .chunks(run_len)
            .zip(self.y.chunks_mut(run_len))
            .enumerate()
            .map(move |(run, (x, y))| {
                let rest = stats.take().unwrap_or_default();
                let groups = groups_per_run.min(rest.len());
                let (here, rest) = rest.split_at(groups);
                stats = Some(rest);
                GroupRun {
                    x,
                    y,
                    first: first + run * groups_per_run,
                    stats: here,
                }
            })
    }
}

/// One group of a run: its index (counted over samples and groups, and in the run), its values
/// and its output.
pub(crate) struct GroupSlot<'a, E> {
    pub index: usize,
    pub in_run: usize,
    pub x: &'a [E],
    pub y: &'a mut [E],
}

/// Normalizes the groups of `run` one after the other, on the calling thread.
///
/// # Safety
/// The CPU supports `V`'s instruction set.
#[inline(always)]
pub(crate) unsafe fn normalize_groups<V: Io<E>, E: Element>(
    plan: &Plan,
    params: &GroupNorm<'_>,
    run: GroupRun<'_, E>,
) {
    let (slots, mut stats) = run.groups(plan.group_len());
    // A loop, not a closure: a closure would not be compiled with `V`'s instruction set.
    for slot in slots {
        let group = Group::new(params, plan, slot.index);
        let mut moments = Moments::EMPTY;
        for block in slot.x.chunks(BLOCK_LEN) {
            // SAFETY: our caller guarantees `V`'s instruction set.
            moments = moments.merge(unsafe { block_moments::<V, E>(block) });
        }
        let normalization = group.normalization(moments, || slot.x.iter().map(|v| v.to_f32()));
        // SAFETY: our caller guarantees `V`'s instruction set.
        unsafe { write::<V, E>(plan, &group, &normalization, slot.x, &mut *slot.y, 0) };
        stats.set(slot.in_run, normalization.mean_rstd());
    }
}

/// Writes `y` for `x`, the part of a group that starts `start` values into it, with the plan's
/// activation.
///
/// # Safety
/// The CPU supports `V`'s instruction set.
#[inline(always)]
pub(crate) unsafe fn write<V: Io<E>, E: Element>(
    plan: &Plan,
    group: &Group<'_>,
    normalization: &Normalization,
    x: &[E],
    y: &mut [E],
    start: usize,
) {
    // SAFETY: our caller guarantees `V`'s instruction set.
    unsafe {
        match plan.activation() {
            Activation::None => {
                write_with::<V, E, _>(plan, group, normalization, x, y, start, Identity)
            }
            Activation::Silu => {
                write_with::<V, E, _>(plan, group, normalization, x, y, start, Silu)
            }
        }
    }
}

/// [`write`] with `epilogue`.
///
/// # Safety
/// The CPU supports `V`'s instruction set.
#[inline(always)]
unsafe fn write_with<V: Io<E>, E: Element, P: Epilogue>(
    plan: &Plan,
    group: &Group<'_>,
    normalization: &Normalization,
    x: &[E],
    y: &mut [E],
    start: usize,
    epilogue: P,
) {
    let spans = ChannelSpans::new(group, plan.channel_len(), x, y, start);
    match normalization.path() {
        OutputPath::Fma { shift } => {
            let stream = plan.stream_output();
            for (x, y, channel) in spans {
                let affine = normalization.affine(shift, channel);
                // SAFETY: our caller guarantees `V`'s instruction set.
                unsafe { output::write_span::<V, E, _>(affine, epilogue, x, y, stream) };
            }
            // SAFETY: our caller guarantees `V`'s instruction set.
            unsafe { output::end_streaming::<V>(stream) };
        }
        OutputPath::Exact => {
            for (x, y, channel) in spans {
                for (xv, yv) in x.iter().zip(y) {
                    *yv = normalization.exact(*xv, channel, epilogue);
                }
            }
        }
    }
}

/// The channels' parts of a group's `x` and `y` (which start `start` values into the group),
/// each with its `(gamma, beta)`. Without affine parameters the whole group is one part.
struct ChannelSpans<'g, 'x, 'y, E> {
    group: &'g Group<'g>,
    channel_len: usize,
    x: &'x [E],
    y: &'y mut [E],
    channel: usize,
    into_channel: usize,
}

impl<'g, 'x, 'y, E> ChannelSpans<'g, 'x, 'y, E> {
    #[inline(always)]
    fn new(
        group: &'g Group<'g>,
        channel_len: usize,
        x: &'x [E],
        y: &'y mut [E],
        start: usize,
    ) -> Self {
        let (channel, into_channel) = if group.affine() && start > 0 {
            (start / channel_len, start % channel_len)
        } else {
            (0, 0)
        };
        ChannelSpans {
            group,
            channel_len,
            x,
            y,
            channel,
            into_channel,
        }
    }
}

impl<'x, 'y, E> Iterator for ChannelSpans<'_, 'x, 'y, E> {
    type Item = (&'x [E], &'y mut [E], (f64, f64));

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        if self.x.is_empty() {
            return None;
        }
        if !self.group.affine() {
            let y = core::mem::take(&mut self.y);
            return Some((core::mem::take(&mut self.x), y, (1.0, 0.0)));
        }
        let len = self.x.len().min(self.channel_len - self.into_channel);
        let channel = self.group.channel(self.channel);
        let (x, rest_x) = self.x.split_at(len);
        let (y, rest_y) = core::mem::take(&mut self.y).split_at_mut(len);
        (self.x, self.y) = (rest_x, rest_y);
        (self.channel, self.into_channel) = (self.channel + 1, 0);
        Some((x, y, channel))
    }
}
