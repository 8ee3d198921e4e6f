//! The channels-last memory layout: the logical shape `(N, C, *spatial)` stored as
//! `(N, *spatial, C)`. A sample is `prod(spatial)` rows of `C` values, one row per spatial
//! position; group `g` is the columns `g * C/G .. (g + 1) * C/G` of every row of its sample.
//! This file drives the column statistics (`columns`) and the row output pass
//! (`output::write_row`) over that layout; the group's path choice, its `f64` fallback and its
//! coefficients are those of every layout (`group`).
//!
//! A sample's channels are taken in tiles of at most [`TILE`] consecutive channels, so that
//! every per-channel quantity lives in fixed arrays (no allocation). A tile holds whole groups
//! where a group has at most `TILE` channels; a wider group spans several tiles, its moments
//! merged across them. For each span of groups: the statistics of its tiles (one pass over the
//! rows), the groups' normalizations, then the output of its tiles (a second pass).

use crate::columns::{column_moments, ColumnMoments};
use crate::contiguous::GroupRun;
use crate::element::Element;
use crate::group::{Group, Normalization, OutputPath};
use crate::moments::Moments;
use crate::output::{write_row, AffineRow, Epilogue, Identity, Silu};
use crate::params::{Activation, GroupNorm, Stats};
use crate::plan::Plan;
use crate::statistics::SHORT_LEN;
use crate::vector::{Io, MAX_LANES};
use core::ops::Range;

/// Channels per tile: 32 vectors of the widest kernel. Larger tiles write longer rows: on
/// `(1, 320, 64, 64)`, whose 320 channels then fit one tile, the whole call went from 29% of the
/// sample-sized roofline at 256 to 33% (avx2) and 47% (avx512) at 512 (one thread, interleaved,
/// AMD EPYC Zen 4, 2026-12-01). The arrays of a span take about 45 KiB of stack at 512.
pub(crate) const TILE: usize = 512;

/// Normalizes the samples of `run` (whole samples) one after the other, on the calling thread.
///
/// # Safety
/// The CPU supports `V`'s instruction set.
#[inline(always)]
pub(crate) unsafe fn normalize_samples<V: Io<E> + Io<f32>, E: Element>(
    plan: &Plan,
    params: &GroupNorm<'_>,
    run: GroupRun<'_, E>,
) {
    let (x, y, first_group, mut stats) = run.into_parts();
    if x.is_empty() {
        // N = 0: no sample (and `C * prod(spatial)` need not even fit).
        return;
    }
    let groups = params.num_groups();
    let sample_len = plan.channels() * plan.channel_len();
    let spans_of = groups_per_span(plan.channels_per_group());
    // Loops, not closures: a closure would not be compiled with `V`'s instruction set.
    for (s, (xs, ys)) in x
        .chunks(sample_len)
        .zip(y.chunks_mut(sample_len))
        .enumerate()
    {
        let mut g = 0;
        while g < groups {
            let end = groups.min(g + spans_of);
            let span = Span {
                sample: Sample { x: xs, plan },
                first_group: first_group + s * groups + g,
                groups: g..end,
            };
            let slots = (s * groups + g, &mut stats);
            // SAFETY: our caller guarantees `V`'s instruction set.
            unsafe {
                match plan.activation() {
                    Activation::None => {
                        normalize_span::<V, E, _>(params, &span, ys, slots, Identity)
                    }
                    Activation::Silu => normalize_span::<V, E, _>(params, &span, ys, slots, Silu),
                }
            };
            g = end;
        }
    }
}

/// How many groups of `cpg` channels a span takes: as many as fit in a tile, in a multiple of
/// the widest vector where that leaves any (so that no row of a span ends in a partial vector,
/// unless `C` itself does), and at least one.
fn groups_per_span(cpg: usize) -> usize {
    let fit = TILE / cpg;
    (1..=fit)
        .rev()
        .find(|k| (k * cpg).is_multiple_of(MAX_LANES))
        .unwrap_or(fit)
        .max(1)
}

/// One sample's values, as rows.
#[derive(Clone, Copy)]
struct Sample<'x, 'p, E> {
    x: &'x [E],
    plan: &'p Plan,
}

impl<E: Element> Sample<'_, '_, E> {
    /// The values of channels `channels`, row after row: a group's values for the `f64`
    /// fallback.
    fn columns(&self, channels: Range<usize>) -> impl Iterator<Item = f32> + '_ {
        let c = self.plan.channels();
        let rows = self.x.chunks_exact(c);
        rows.flat_map(move |row| row[channels.clone()].iter().map(|v| v.to_f32()))
    }
}

/// Consecutive groups of one sample, taken together: `groups` (of the sample), the first of
/// them group `first_group` of the call.
struct Span<'x, 'p, E> {
    sample: Sample<'x, 'p, E>,
    first_group: usize,
    groups: Range<usize>,
}

impl<E> Span<'_, '_, E> {
    /// The span's channels.
    fn channels(&self) -> Range<usize> {
        let cpg = self.sample.plan.channels_per_group();
        self.groups.start * cpg..self.groups.end * cpg
    }

    /// The span's tiles: its channels in ranges of at most `TILE`.
    fn tiles(&self) -> impl Iterator<Item = Range<usize>> {
        let channels = self.channels();
        let end = channels.end;
        channels
            .step_by(TILE)
            .map(move |start| start..end.min(start + TILE))
    }

    /// The group (counted in the span) of channel `channel` (counted in the sample), and its
    /// channel's index within the group.
    fn group_of(&self, channel: usize) -> (usize, usize) {
        let cpg = self.sample.plan.channels_per_group();
        (channel / cpg - self.groups.start, channel % cpg)
    }
}

/// Where a span's `mean` and `rstd` go: the index in the run of its first group, and the run's
/// buffers.
type StatsSlots<'a, 'b> = (usize, &'a mut Stats<'b>);

/// Normalizes one span of groups: the statistics of its tiles, its groups' normalizations, the
/// output of its tiles into `y` (the sample's output), through `epilogue`.
///
/// # Safety
/// The CPU supports `V`'s instruction set.
#[inline(always)]
unsafe fn normalize_span<V: Io<E> + Io<f32>, E: Element, P: Epilogue>(
    params: &GroupNorm<'_>,
    span: &Span<'_, '_, E>,
    y: &mut [E],
    (first_slot, stats): StatsSlots<'_, '_>,
    epilogue: P,
) {
    let plan = span.sample.plan;
    let (c, rows) = (plan.channels(), plan.channel_len());
    let x = span.sample.x;
    let cpg = plan.channels_per_group();
    let mut moments = [Moments::EMPTY; TILE];
    if plan.group_len() < SHORT_LEN {
        // Short groups take their statistics in f64 directly, as in the contiguous layout.
        for (k, g) in span.groups.clone().enumerate() {
            moments[k] = Moments::of_values(span.sample.columns(g * cpg..(g + 1) * cpg));
        }
    } else {
        for tile in span.tiles() {
            let mut columns = ColumnMoments::<TILE>::EMPTY;
            let x = &x[tile.start..];
            // SAFETY: our caller guarantees `V`'s instruction set.
            unsafe { column_moments::<V, E, TILE>(x, c, rows, tile.len(), &mut columns) };
            for (j, channel) in tile.enumerate() {
                let (group, _) = span.group_of(channel);
                moments[group] = moments[group].merge(columns.column(j));
            }
        }
    }

    let mut normalizations: [Option<Normalization>; TILE] = [None; TILE];
    for (k, g) in span.groups.clone().enumerate() {
        let group = Group::new(params, plan, span.first_group + k);
        let values = || span.sample.columns(g * cpg..(g + 1) * cpg);
        let normalization = group.normalization(moments[k], values);
        stats.set(first_slot + k, normalization.mean_rstd());
        normalizations[k] = Some(normalization);
    }

    for tile in span.tiles() {
        let mut coefficients = AffineRow::<TILE>::ZERO;
        let mut exact = false;
        for (j, channel) in tile.clone().enumerate() {
            let (k, within) = span.group_of(channel);
            let Some(normalization) = normalizations[k] else {
                continue;
            };
            let group = Group::new(params, plan, span.first_group + k);
            match normalization.path() {
                OutputPath::Fma { shift } => {
                    coefficients.set(j, normalization.affine(shift, group.channel(within)));
                }
                OutputPath::Exact => exact = true,
            }
        }
        for (xr, yr) in x.chunks_exact(c).zip(y.chunks_exact_mut(c)) {
            let (xr, yr) = (&xr[tile.clone()], &mut yr[tile.clone()]);
            // SAFETY: our caller guarantees `V`'s instruction set.
            unsafe { write_row::<V, E, _, TILE>(&coefficients, epilogue, xr, yr) };
        }
        if exact {
            // The groups the f32 path cannot carry, computed again in f64 over the values the
            // row pass wrote with zero coefficients.
            for channel in tile {
                let (k, within) = span.group_of(channel);
                let Some(normalization) = normalizations[k] else {
                    continue;
                };
                if let OutputPath::Exact = normalization.path() {
                    let group = Group::new(params, plan, span.first_group + k);
                    let coefficients = group.channel(within);
                    for (xr, yr) in x.chunks_exact(c).zip(y.chunks_exact_mut(c)) {
                        yr[channel] = normalization.exact(xr[channel], coefficients, epilogue);
                    }
                }
            }
        }
    }
}
