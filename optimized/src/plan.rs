//! A call's plan: its arguments checked as PyTorch's `native_group_norm` checks them (plus the
//! output buffers), the sizes that follow from them, and the decisions made from those sizes:
//! whether the output streams around the caches, and how the work is shared among threads.

use crate::element::sealed::Sealed;
use crate::element::Element;
use crate::error::GroupNormError;
use crate::params::{Activation, GroupNorm, Layout, StatsBuffers};
use core::ops::Range;

/// Values per block of a group: the unit of the statistics pass, merged in order. A multiple of
/// every kernel's row, so that only a group's last block has a tail.
pub const BLOCK_LEN: usize = 16384;

/// Input and output together up to this size are taken to stay in the caches: half of the
/// 32 MiB L3 of the machine it was tuned on; in a vendored copy, change it to half of yours.
/// Larger calls stream from memory: their output is written around the caches, and with `rayon`
/// their groups are shared out in `RUNS_PER_THREAD` runs per thread.
pub const CACHE_RESIDENT_BYTES: usize = 16 << 20;

/// Runs of groups per thread for calls that stream from memory, taken by whichever thread is
/// free: enough for the threads to even out when one is slowed down by other work.
#[cfg(feature = "rayon")]
pub const RUNS_PER_THREAD: usize = 8;

/// Below this many values a call takes a few microseconds at most, less than waking threads.
#[cfg(feature = "rayon")]
const MIN_PARALLEL_LEN: usize = 1 << 16;

/// The sizes of a checked call, and what is decided from them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    /// The layout the call takes: channels-last only where it differs from contiguous (more
    /// than one value per channel).
    layout: Layout,
    activation: Activation,
    channels: usize,
    channels_per_group: usize,
    /// `prod(spatial)`, the values per channel.
    channel_len: usize,
    group_len: usize,
    /// Whether the call streams from memory: input and output together are larger than
    /// [`CACHE_RESIDENT_BYTES`], so its output is written around the caches (it would not stay
    /// in them anyway).
    stream_output: bool,
    #[cfg(feature = "rayon")]
    threading: Threading,
}

/// How a call's groups are shared among the threads of the current rayon pool.
#[cfg(feature = "rayon")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Threading {
    /// All on the calling thread: a small call, or one thread.
    Serial,
    /// At least a group per thread: runs of `groups_per_run` whole groups, each computed as on
    /// the calling thread. With `pinned` (calls that fit in the caches), one run per thread,
    /// each thread taking first the run of its own index, so that it finds in its own cache
    /// what it read and wrote the call before; otherwise `RUNS_PER_THREAD` runs per thread,
    /// taken by whichever thread is free.
    GroupRuns { groups_per_run: usize, pinned: bool },
    /// Fewer groups than threads: the blocks of each group in parallel.
    Blocks,
    /// Channels-last: runs of `samples_per_run` whole samples, taken by whichever thread is
    /// free.
    Samples { samples_per_run: usize },
}

impl Plan {
    /// Checks the arguments of a call and plans it. On error nothing has been written.
    pub fn new<E: Element>(
        params: &GroupNorm<'_>,
        input: &[E],
        y: &[E],
        stats: Option<&StatsBuffers<'_>>,
    ) -> Result<Plan, GroupNormError> {
        let sizes = check(params, input.len(), y.len(), stats.map(StatsBuffers::lens))?;
        check_types(params, E::NAME, stats.map(StatsBuffers::type_name))?;
        let stream_output = streams(size_of_val(input));
        // With one value per channel, or one channel, both layouts are the same memory order.
        let channels = params.shape()[1];
        let layout = match params.layout() {
            Layout::ChannelsLast if sizes.channel_len > 1 && channels > 1 => Layout::ChannelsLast,
            _ => Layout::Contiguous,
        };
        Ok(Plan {
            #[cfg(feature = "rayon")]
            threading: match layout {
                Layout::ChannelsLast => {
                    // Saturated where there are no values (N = 0), and then never used.
                    let sample_len = channels.saturating_mul(sizes.channel_len);
                    sample_threading(input.len(), sample_len, stream_output)
                }
                _ => threading(input.len(), sizes.group_len, stream_output),
            },
            layout,
            activation: params.activation(),
            channels,
            channels_per_group: sizes.channels_per_group,
            channel_len: sizes.channel_len,
            group_len: sizes.group_len,
            stream_output,
        })
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// `C`.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// `C / G`.
    pub fn channels_per_group(&self) -> usize {
        self.channels_per_group
    }

    pub fn channel_len(&self) -> usize {
        self.channel_len
    }

    pub fn group_len(&self) -> usize {
        self.group_len
    }

    pub fn stream_output(&self) -> bool {
        self.stream_output
    }

    #[cfg(feature = "rayon")]
    pub fn threading(&self) -> Threading {
        self.threading
    }

    /// The channels of group `index` (counted over samples and groups).
    pub fn channels_of_group(&self, params: &GroupNorm<'_>, index: usize) -> Range<usize> {
        let first = (index % params.num_groups()) * self.channels_per_group;
        first..first + self.channels_per_group
    }

    /// The same plan with streaming stores on or off: for tests that compare the two.
    #[cfg(test)]
    pub fn with_stream_output(self, stream_output: bool) -> Plan {
        Plan {
            stream_output,
            ..self
        }
    }
}

/// What [`check`] finds.
struct Sizes {
    channels_per_group: usize,
    channel_len: usize,
    group_len: usize,
}

/// Checks every argument as PyTorch's `native_group_norm` does, plus the output buffers
/// (`stats`: the lengths of `mean` and `rstd`), in the order the variants of
/// [`GroupNormError`] are declared.
fn check(
    params: &GroupNorm<'_>,
    input_len: usize,
    y_len: usize,
    stats: Option<(usize, usize)>,
) -> Result<Sizes, GroupNormError> {
    let &[n, channels, ref spatial_dims @ ..] = params.shape() else {
        return Err(GroupNormError::TooFewDimensions {
            dims: params.shape().len(),
        });
    };
    let num_groups = params.num_groups();
    if num_groups == 0 {
        return Err(GroupNormError::ZeroGroups);
    }
    if channels == 0 {
        return Err(GroupNormError::ZeroChannels);
    }
    if channels % num_groups != 0 {
        return Err(GroupNormError::ChannelsNotDivisible {
            channels,
            num_groups,
        });
    }
    if let Some(w) = params.weight_values().filter(|w| w.len() != channels) {
        return Err(GroupNormError::WeightLength {
            channels,
            len: w.len(),
        });
    }
    if let Some(b) = params.bias_values().filter(|b| b.len() != channels) {
        return Err(GroupNormError::BiasLength {
            channels,
            len: b.len(),
        });
    }
    if spatial_dims.contains(&0) {
        return Err(GroupNormError::ZeroSpatial);
    }
    // A batch of none holds no values, whatever the other dimensions.
    let expected = if n == 0 {
        0
    } else {
        params
            .shape()
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or(GroupNormError::ShapeOverflow)?
    };
    // Exact whenever there are values (the whole product fits); saturated otherwise, and then
    // never used to index.
    let channel_len = spatial_dims
        .iter()
        .fold(1usize, |acc, &d| acc.saturating_mul(d));
    if input_len != expected {
        return Err(GroupNormError::InputLength {
            expected,
            len: input_len,
        });
    }
    if y_len != expected {
        return Err(GroupNormError::OutputLength {
            expected,
            len: y_len,
        });
    }
    // At most `N * C`, which fits when there are values; with no values `n` is 0.
    let group_count = n * num_groups;
    if let Some((mean_len, rstd_len)) = stats {
        if mean_len != group_count {
            return Err(GroupNormError::MeanLength {
                expected: group_count,
                len: mean_len,
            });
        }
        if rstd_len != group_count {
            return Err(GroupNormError::RstdLength {
                expected: group_count,
                len: rstd_len,
            });
        }
    }
    let channels_per_group = channels / num_groups;
    Ok(Sizes {
        channels_per_group,
        channel_len,
        group_len: channels_per_group.saturating_mul(channel_len),
    })
}

/// Checks the types of weight, bias and the statistics buffers (`stats`, the name of their
/// type) against the input's (`input`, its name) as PyTorch does: parameters `float32` or the
/// input's type, both of one type; statistics `float32` with `float32` parameters, else the
/// input's type.
fn check_types(
    params: &GroupNorm<'_>,
    input: &'static str,
    stats: Option<&'static str>,
) -> Result<(), GroupNormError> {
    let weight = params.weight_values().map(|w| w.type_name());
    let bias = params.bias_values().map(|b| b.type_name());
    for found in weight.into_iter().chain(bias) {
        if found != <f32 as Sealed>::NAME && found != input {
            return Err(GroupNormError::ParameterType { input, found });
        }
    }
    if let (Some(weight), Some(bias)) = (weight, bias) {
        if weight != bias {
            return Err(GroupNormError::ParameterTypesDiffer { weight, bias });
        }
    }
    let expected = weight.or(bias).unwrap_or(input);
    match stats {
        Some(found) if found != expected => Err(GroupNormError::StatsType { expected, found }),
        _ => Ok(()),
    }
}

/// Whether a call whose input takes `input_bytes` streams from memory: input and output
/// together exceed [`CACHE_RESIDENT_BYTES`].
fn streams(input_bytes: usize) -> bool {
    2 * input_bytes > CACHE_RESIDENT_BYTES
}

/// How the work of a call of `len` values, in groups of `group_len`, is shared among the
/// threads of the current pool.
#[cfg(feature = "rayon")]
fn threading(len: usize, group_len: usize, stream_output: bool) -> Threading {
    // Small calls do not ask for the pool: that would start rayon's global pool.
    if len < MIN_PARALLEL_LEN {
        return Threading::Serial;
    }
    // Groups are not empty: there are values.
    share(len / group_len, rayon::current_num_threads(), stream_output)
}

/// How the samples of `sample_len` values of a channels-last call of `len` values are shared
/// among the threads of the current pool.
#[cfg(feature = "rayon")]
fn sample_threading(len: usize, sample_len: usize, stream_output: bool) -> Threading {
    if len < MIN_PARALLEL_LEN {
        return Threading::Serial;
    }
    share_samples(
        len / sample_len,
        rayon::current_num_threads(),
        stream_output,
    )
}

/// How `samples` samples of a channels-last call of at least `MIN_PARALLEL_LEN` values are
/// shared among `threads` threads. A single sample stays on one thread.
#[cfg(feature = "rayon")]
fn share_samples(samples: usize, threads: usize, stream_output: bool) -> Threading {
    if threads == 1 || samples < 2 {
        return Threading::Serial;
    }
    let runs_per_thread = if stream_output { RUNS_PER_THREAD } else { 1 };
    Threading::Samples {
        samples_per_run: samples.div_ceil(runs_per_thread * threads),
    }
}

/// How `group_count` groups of a call of at least `MIN_PARALLEL_LEN` values are shared among
/// `threads` threads.
#[cfg(feature = "rayon")]
fn share(group_count: usize, threads: usize, stream_output: bool) -> Threading {
    if threads == 1 {
        return Threading::Serial;
    }
    if group_count < threads {
        return Threading::Blocks;
    }
    let runs_per_thread = if stream_output { RUNS_PER_THREAD } else { 1 };
    Threading::GroupRuns {
        groups_per_run: group_count.div_ceil(runs_per_thread * threads),
        pinned: runs_per_thread == 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_streams_beyond_the_caches() {
        assert!(!streams(CACHE_RESIDENT_BYTES / 2));
        assert!(streams(CACHE_RESIDENT_BYTES / 2 + 1));
    }

    #[cfg(feature = "rayon")]
    #[test]
    fn threads_share_groups_or_blocks() {
        use Threading::*;
        // Small calls stay on the calling thread whatever the pool.
        assert_eq!(threading(MIN_PARALLEL_LEN - 1, 1, false), Serial);
        assert_eq!(share(64, 1, false), Serial);
        assert_eq!(share(1, 2, false), Blocks);
        assert_eq!(share(2, 3, true), Blocks);
        let pinned = |groups_per_run| GroupRuns {
            groups_per_run,
            pinned: true,
        };
        assert_eq!(share(2, 2, false), pinned(1));
        assert_eq!(share(65, 2, false), pinned(33));
        let stolen = |groups_per_run| GroupRuns {
            groups_per_run,
            pinned: false,
        };
        assert_eq!(share(64, 2, true), stolen(4));
        assert_eq!(share(3, 2, true), stolen(1));
        // Channels-last shares whole samples.
        assert_eq!(share_samples(1, 2, false), Serial);
        assert_eq!(share_samples(8, 1, false), Serial);
        let samples = |samples_per_run| Samples { samples_per_run };
        assert_eq!(share_samples(3, 2, false), samples(2));
        assert_eq!(share_samples(64, 2, true), samples(4));
    }
}
