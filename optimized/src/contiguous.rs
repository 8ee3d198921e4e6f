//! The contiguous memory layout, `(N, C, *spatial)` row-major: group `i` is the `group_len`
//! values from `i * group_len`, its channels one after the other, `channel_len` values each.
//! This file drives the statistics pass (block by block) and the output pass (channel span by
//! channel span) over that layout; everything else is the same for every layout.

use crate::element::Element;
use crate::group::{Group, Normalization, OutputPath};
use crate::moments::Moments;
use crate::output::{self, Identity};
use crate::params::GroupNorm;
use crate::plan::{Plan, BLOCK_LEN};
use crate::statistics::block_moments;
use crate::vector::Io;

/// Consecutive whole groups, the first of them group `first` (counted over samples and
/// groups), and where their results go: `mean[i]` and `rstd[i]` for the run's `i`-th group.
pub(crate) struct GroupRun<'a, E = f32> {
    x: &'a [E],
    y: &'a mut [E],
    first: usize,
    mean: Option<&'a mut [f32]>,
    rstd: Option<&'a mut [f32]>,
}

impl<'a, E> GroupRun<'a, E> {
    pub fn new(
        x: &'a [E],
        y: &'a mut [E],
        first: usize,
        mean: Option<&'a mut [f32]>,
        rstd: Option<&'a mut [f32]>,
    ) -> Self {
        GroupRun {
            x,
            y,
            first,
            mean,
            rstd,
        }
    }

    /// The run's input, output, first group and statistics buffers.
    #[allow(clippy::type_complexity)]
    pub fn into_parts(
        self,
    ) -> (
        &'a [E],
        &'a mut [E],
        usize,
        Option<&'a mut [f32]>,
        Option<&'a mut [f32]>,
    ) {
        (self.x, self.y, self.first, self.mean, self.rstd)
    }

    /// The run's groups, in order.
    #[inline(always)]
    pub fn groups(self, group_len: usize) -> impl Iterator<Item = GroupSlot<'a, E>> {
        let first = self.first;
        let mut means = self.mean.map(|m| m.iter_mut());
        let mut rstds = self.rstd.map(|r| r.iter_mut());
        self.x
            .chunks(group_len)
            .zip(self.y.chunks_mut(group_len))
            .enumerate()
            .map(move |(i, (x, y))| GroupSlot {
                index: first + i,
                x,
                y,
                mean: means.as_mut().and_then(Iterator::next),
                rstd: rstds.as_mut().and_then(Iterator::next),
            })
    }

    /// The run cut into runs of `groups_per_run` groups of `group_len` values (the last one
    /// shorter where they do not divide), in order.
    #[cfg(feature = "rayon")]
    pub fn split(self, groups_per_run: usize, group_len: usize) -> impl Iterator<Item = Self> {
        let run_len = groups_per_run * group_len;
        let mut means = self.mean.map(|m| m.chunks_mut(groups_per_run));
        let mut rstds = self.rstd.map(|r| r.chunks_mut(groups_per_run));
        let first = self.first;
        self.x
            .chunks(run_len)
            .zip(self.y.chunks_mut(run_len))
            .enumerate()
            .map(move |(run, (x, y))| GroupRun {
                x,
                y,
                first: first + run * groups_per_run,
                mean: means.as_mut().and_then(Iterator::next),
                rstd: rstds.as_mut().and_then(Iterator::next),
            })
    }
}

/// One group of a run: its index (counted over samples and groups), its values and its output,
/// and where its mean and rstd go.
pub(crate) struct GroupSlot<'a, E> {
    pub index: usize,
    pub x: &'a [E],
    pub y: &'a mut [E],
    mean: Option<&'a mut f32>,
    rstd: Option<&'a mut f32>,
}

impl<E> GroupSlot<'_, E> {
    /// Stores the group's mean and rstd.
    #[inline(always)]
    pub fn finish(self, normalization: &Normalization) {
        let (mean, rstd) = normalization.mean_rstd();
        if let Some(slot) = self.mean {
            *slot = mean;
        }
        if let Some(slot) = self.rstd {
            *slot = rstd;
        }
    }
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
    // A loop, not a closure: a closure would not be compiled with `V`'s instruction set.
    for slot in run.groups(plan.group_len()) {
        let group = Group::new(params, plan, slot.index);
        let mut moments = Moments::EMPTY;
        for block in slot.x.chunks(BLOCK_LEN) {
            // SAFETY: our caller guarantees `V`'s instruction set.
            moments = moments.merge(unsafe { block_moments::<V, E>(block) });
        }
        let normalization = group.normalization(moments, || slot.x.iter().map(|v| v.to_f32()));
        // SAFETY: our caller guarantees `V`'s instruction set.
        unsafe { write::<V, E>(plan, &group, &normalization, slot.x, &mut *slot.y, 0) };
        slot.finish(&normalization);
    }
}

/// Writes `y` for `x`, the part of a group that starts `start` values into it.
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
    let epilogue = Identity;
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
