//! # GroupNorm, the optimized `f32` kernel
//!
//! PyTorch's [`torch.nn.GroupNorm`] for `f32` data laid out row-major as `(N, C, *spatial)`,
//! writing into buffers the caller owns. Without its default features
//! (`default-features = false`) it needs no dependency, allocates nothing and builds without
//! `std`; the `rayon` feature (on by default) adds threads, which allocate a little per call.
//!
//! For every sample `n` and group `g` of `C / G` consecutive channels, over the group's
//! `L = C/G * prod(spatial)` values:
//!
//! ```text
//! mean = (1 / L) sum x        var = (1 / L) sum (x - mean)^2        rstd = 1 / sqrt(var + eps)
//! y[c] = (x[c] - mean) * rstd * gamma[c] + beta[c]
//! ```
//!
//! How it is computed (see the `vector` module for the details):
//!
//! * **Statistics in one pass** of per-lane sums of `d = x - K` and `d^2`. Each group is split
//!   into blocks of [`BLOCK_LEN`] values whose boundaries depend on nothing else, merged with
//!   Chan's formula in a fixed order, so the result is the same bit for bit on any number of
//!   threads. A block's shift `K` is the mean of its first 32 values, so that a mean far larger
//!   than the spread costs no accuracy; short `f32` runs are added into `f64`, and a block whose
//!   mean is more than half a standard deviation from `K` is summed again about its own. Groups
//!   shorter than 64 values take their statistics in `f64` directly.
//! * **Output in one subtraction and two FMAs per value**: per channel `scale = gamma * rstd`
//!   (carried as two `f32` values) and `offset = beta - (mean - S) * scale`, and
//!   `y = (x - S) * scale + offset`, where the output shift `S` is `f32(mean)` when the mean is
//!   larger than the spread and 0 otherwise.
//! * **Calls larger than the caches** ([`CACHE_RESIDENT_BYTES`]) write their output with
//!   streaming stores on x86, so that memory is not read for lines about to be overwritten.
//! * **Groups the `f32` arithmetic cannot carry** are computed again in `f64`, as the reference
//!   computes them: a NaN or infinity in the data; squares beyond the `f32` range (values above
//!   about `1e19`); `var + eps` below 2^-100; a variance or an output coefficient above 2^100,
//!   an infinite weight included (there `y` follows PyTorch's order of operations, which decides
//!   where `inf - inf` gives NaN). PyTorch's own `f32` kernel returns NaN (or `rstd = 0`) for
//!   values above about `1e19`; its `f64` kernel and this crate return the finite result.
//!
//! Kernels: `scalar` (portable), `avx2` (x86_64 AVX2 + FMA), `avx512` (x86_64 AVX-512F) and
//! `neon` (aarch64). [`Kernel::available`] lists those this CPU supports and
//! [`Kernel::best`] picks the widest, once.
//!
//! ```
//! use groupnorm_optimized::GroupNorm;
//!
//! // The notebook case: nn.GroupNorm(2, 4) on arange(100).reshape(1, 4, 5, 5).
//! let x: Vec<f32> = (0..100).map(|v| v as f32).collect();
//! let mut y = vec![0.0; 100];
//! let (mut mean, mut rstd) = ([0.0; 2], [0.0; 2]);
//! GroupNorm::new(&[1, 4, 5, 5], 2)
//!     .forward_with_stats(&x, &mut y, &mut mean, &mut rstd)
//!     .unwrap();
//! assert_eq!(format!("{:.4} {:.4}", y[0], y[25]), "-1.6977 0.0346");
//! assert_eq!(mean, [24.5, 74.5]);
//! ```
//!
//! [`torch.nn.GroupNorm`]: https://pytorch.org/docs/stable/generated/torch.nn.GroupNorm.html

#![no_std]

#[cfg(feature = "std")]
extern crate std;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod kernel;
mod moments;
#[cfg(target_arch = "aarch64")]
mod neon;
#[cfg(feature = "rayon")]
mod parallel;
mod scalar;
mod vector;

use core::fmt;
pub use kernel::{Kernel, KERNEL_NAMES};
use moments::{sqrt, Moments};
use vector::{Affine, Vector};

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

/// The arguments of a GroupNorm, as `torch.nn.functional.group_norm` takes them.
#[derive(Clone, Copy, Debug)]
pub struct GroupNorm<'a> {
    /// `(N, C, *spatial)`.
    pub shape: &'a [usize],
    /// `G`, which must divide `C`.
    pub num_groups: usize,
    /// `gamma`, one per channel; 1 when `None`.
    pub weight: Option<&'a [f32]>,
    /// `beta`, one per channel; 0 when `None`.
    pub bias: Option<&'a [f32]>,
    /// Added to the variance inside the square root. An `f64`, as PyTorch keeps it for every
    /// dtype: its `f32` kernel computes `rstd` from `var + eps` in `f64`, so `eps = 1e-5` and
    /// its `f32` rounding give `rstd` values an ulp apart, and `eps` outside the `f32` range
    /// still counts.
    pub eps: f64,
}

impl<'a> GroupNorm<'a> {
    /// GroupNorm without affine parameters and PyTorch's default `eps = 1e-5`.
    pub fn new(shape: &'a [usize], num_groups: usize) -> Self {
        GroupNorm {
            shape,
            num_groups,
            weight: None,
            bias: None,
            eps: 1e-5,
        }
    }

    /// Normalizes `input` into `y` with [`Kernel::best`].
    pub fn forward(&self, input: &[f32], y: &mut [f32]) -> Result<(), GroupNormError> {
        Kernel::best().run(self, input, y, None)
    }

    /// Like [`forward`](Self::forward), and writes `mean` and `rstd` (length `N * G`) too.
    pub fn forward_with_stats(
        &self,
        input: &[f32],
        y: &mut [f32],
        mean: &mut [f32],
        rstd: &mut [f32],
    ) -> Result<(), GroupNormError> {
        Kernel::best().run(self, input, y, Some(Stats { mean, rstd }))
    }
}

/// Where to write the per-group statistics, `mean[n * G + g]` and `rstd[n * G + g]`.
#[derive(Debug)]
pub struct Stats<'a> {
    pub mean: &'a mut [f32],
    pub rstd: &'a mut [f32],
}

impl Kernel {
    /// Runs GroupNorm with this kernel. Every argument is checked before anything is written:
    /// on error `y` and the statistics are untouched.
    ///
    /// With the `rayon` feature, large inputs are spread over the current rayon pool; the result
    /// is the same bit for bit whatever the number of threads. Calls that fit in the caches give
    /// each thread of the pool its own run (`rayon::broadcast`), so such a call waits for every
    /// thread of the pool, one busy with a long job of its own included: run the kernel in a
    /// pool of its own (`ThreadPool::install`) where the pool also carries long jobs.
    pub fn run(
        self,
        params: &GroupNorm<'_>,
        input: &[f32],
        y: &mut [f32],
        stats: Option<Stats<'_>>,
    ) -> Result<(), GroupNormError> {
        let layout = Layout::validate(params, input, y, stats.as_ref())?;
        let (mean, rstd) = match stats {
            Some(Stats { mean, rstd }) => (Some(mean), Some(rstd)),
            None => (None, None),
        };
        #[cfg(feature = "rayon")]
        if parallel::worth_it(input.len()) {
            parallel::run(self, params, layout, input, y, mean, rstd);
            return Ok(());
        }
        let run = GroupRun {
            x: input,
            y,
            first: 0,
            mean,
            rstd,
        };
        // SAFETY: `self` exists only where the CPU supports its instruction set.
        unsafe { (self.primitives().normalize_groups)(&layout, params, run) };
        Ok(())
    }
}

/// The sizes of a checked GroupNorm.
#[derive(Clone, Copy, Debug)]
struct Layout {
    channels_per_group: usize,
    /// `prod(spatial)`, the values per channel.
    channel_len: usize,
    group_len: usize,
    /// Whether the call streams from memory: input and output together are larger than
    /// [`CACHE_RESIDENT_BYTES`], so its output is written around the caches (it would not stay
    /// in them anyway).
    streaming: bool,
}

impl Layout {
    /// Checks every argument as PyTorch's `native_group_norm` does, plus the output buffers.
    fn validate(
        params: &GroupNorm<'_>,
        input: &[f32],
        y: &[f32],
        stats: Option<&Stats<'_>>,
    ) -> Result<Layout, GroupNormError> {
        let &[n, channels, ref spatial_dims @ ..] = params.shape else {
            return Err(GroupNormError::TooFewDimensions {
                dims: params.shape.len(),
            });
        };
        let num_groups = params.num_groups;
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
        if let Some(w) = params.weight.filter(|w| w.len() != channels) {
            return Err(GroupNormError::WeightLength {
                channels,
                len: w.len(),
            });
        }
        if let Some(b) = params.bias.filter(|b| b.len() != channels) {
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
                .shape
                .iter()
                .try_fold(1usize, |acc, &d| acc.checked_mul(d))
                .ok_or(GroupNormError::ShapeOverflow)?
        };
        // Exact whenever there are values (the whole product fits); never used otherwise.
        let channel_len = spatial_dims
            .iter()
            .fold(1usize, |acc, &d| acc.saturating_mul(d));
        if input.len() != expected {
            return Err(GroupNormError::InputLength {
                expected,
                len: input.len(),
            });
        }
        if y.len() != expected {
            return Err(GroupNormError::OutputLength {
                expected,
                len: y.len(),
            });
        }
        if let Some(stats) = stats {
            let expected = n * num_groups;
            if stats.mean.len() != expected {
                return Err(GroupNormError::MeanLength {
                    expected,
                    len: stats.mean.len(),
                });
            }
            if stats.rstd.len() != expected {
                return Err(GroupNormError::RstdLength {
                    expected,
                    len: stats.rstd.len(),
                });
            }
        }
        let channels_per_group = channels / num_groups;
        Ok(Layout {
            channels_per_group,
            channel_len,
            group_len: channels_per_group.saturating_mul(channel_len),
            streaming: 2 * size_of_val(input) > CACHE_RESIDENT_BYTES,
        })
    }

    /// Normalizes the groups of `run` one after the other, on the calling thread.
    ///
    /// # Safety
    /// The CPU supports `V`'s instruction set.
    #[inline(always)]
    unsafe fn normalize_groups<V: Vector>(&self, params: &GroupNorm<'_>, run: GroupRun<'_>) {
        let GroupRun {
            x,
            y,
            first,
            mut mean,
            mut rstd,
        } = run;
        let groups = x.chunks(self.group_len).zip(y.chunks_mut(self.group_len));
        for (i, (x, y)) in groups.enumerate() {
            let group = self.group(params, first + i);
            let mut moments = Moments::EMPTY;
            for block in x.chunks(BLOCK_LEN) {
                // SAFETY: our caller guarantees `V`'s instruction set.
                moments = moments.merge(unsafe { vector::block_moments::<V>(block) });
            }
            let statistics = group.statistics(moments, x);
            // SAFETY: our caller guarantees `V`'s instruction set.
            unsafe { group.write::<V>(&statistics, x, y, 0) };
            let (group_mean, group_rstd) = statistics.mean_rstd();
            if let Some(mean) = mean.as_deref_mut() {
                mean[i] = group_mean;
            }
            if let Some(rstd) = rstd.as_deref_mut() {
                rstd[i] = group_rstd;
            }
        }
    }

    /// The parameters of group `index` (counted over samples and groups).
    fn group<'a>(&self, params: &GroupNorm<'a>, index: usize) -> Group<'a> {
        let first = (index % params.num_groups) * self.channels_per_group;
        let channels = first..first + self.channels_per_group;
        Group {
            weight: params.weight.map(|w| &w[channels.clone()]),
            bias: params.bias.map(|b| &b[channels]),
            channel_len: self.channel_len,
            eps: params.eps,
            stream_output: self.streaming,
        }
    }
}

/// Consecutive whole groups, the first of them group `first` (counted over samples and
/// groups), and where their results go: `mean[i]` and `rstd[i]` for the run's `i`-th group.
pub(crate) struct GroupRun<'a> {
    x: &'a [f32],
    y: &'a mut [f32],
    first: usize,
    mean: Option<&'a mut [f32]>,
    rstd: Option<&'a mut [f32]>,
}

/// One `(n, g)` group's share of the parameters.
#[derive(Clone, Copy, Debug)]
struct Group<'a> {
    weight: Option<&'a [f32]>,
    bias: Option<&'a [f32]>,
    channel_len: usize,
    eps: f64,
    stream_output: bool,
}

/// A group's statistics, and how its output is computed from them.
#[derive(Clone, Copy, Debug)]
struct Statistics {
    mean: f64,
    rstd: f64,
    output: Output,
}

#[derive(Clone, Copy, Debug)]
enum Output {
    /// The usual case: `y = (x - shift) * scale + offset` in `f32`, one FMA per value.
    Fma { shift: f32 },
    /// Every other group: mean, variance and output in `f64`, as the reference computes them.
    /// That is a group whose `f32` moments are not finite (non-finite values, or squares beyond
    /// the `f32` range), whose `var + eps` is below 2^-100 or variance above 2^100, or whose
    /// output coefficients (`gamma * rstd`, `beta`) go beyond 2^100, an infinite `gamma`
    /// included.
    Exact,
}

impl Statistics {
    /// `mean` and `rstd` as `native_group_norm` returns them, each rounded once to `f32`.
    fn mean_rstd(self) -> (f32, f32) {
        (self.mean as f32, self.rstd as f32)
    }
}

/// The range (2^-100 to 2^100) of variances (plus eps, at the low end) and of output
/// coefficients for which the `f32` path keeps full precision with a wide margin.
const F32_PATH_MIN: f64 = 7.888609052210118e-31;
const F32_PATH_MAX: f64 = 1.2676506002282294e30;

impl Group<'_> {
    fn rstd(&self, variance: f64) -> f64 {
        1.0 / sqrt(variance + self.eps)
    }

    /// The group's statistics from the moments of its blocks (`x` is the whole group).
    fn statistics(&self, moments: Moments, x: &[f32]) -> Statistics {
        let variance = moments.variance();
        // The f32 path where its intermediate values sit well inside the f32 range: squares of
        // deviations that neither underflow (with no eps to dominate them) nor overflow, and
        // output coefficients that fit. Anywhere else (non-finite values included), f64.
        if moments.mean.is_finite()
            && variance + self.eps >= F32_PATH_MIN
            && variance <= F32_PATH_MAX
        {
            let mean = moments.mean;
            let rstd = self.rstd(variance);
            let max_gamma = self
                .weight
                .map_or(1.0, |w| w.iter().fold(0.0f32, |m, g| m.max(g.abs())));
            let max_beta = self
                .bias
                .map_or(0.0, |b| b.iter().fold(0.0f32, |m, b| m.max(b.abs())));
            if f64::from(max_gamma) * rstd <= F32_PATH_MAX
                && f64::from(max_beta) + f64::from(max_gamma) <= F32_PATH_MAX
            {
                // The output is shifted too when the mean is large against the spread, so that
                // no f32 value near the mean enters it: `x - f32(mean)` is exact for `x` near
                // the mean (Sterbenz). Near zero, `x` itself is the better-conditioned input.
                let shift = if mean.abs() * rstd > 1.0 {
                    mean as f32
                } else {
                    0.0
                };
                return Statistics {
                    mean,
                    rstd,
                    output: Output::Fma { shift },
                };
            }
        }
        let count = x.len() as f64;
        let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / count;
        let m2: f64 = x
            .iter()
            .map(|&v| (f64::from(v) - mean) * (f64::from(v) - mean))
            .sum();
        Statistics {
            mean,
            rstd: self.rstd(m2 / count),
            output: Output::Exact,
        }
    }

    /// Writes `y` for `x`, the part of the group that starts `start` values into it.
    ///
    /// # Safety
    /// The CPU supports `V`'s instruction set.
    #[inline(always)]
    unsafe fn write<V: Vector>(
        &self,
        statistics: &Statistics,
        x: &[f32],
        y: &mut [f32],
        start: usize,
    ) {
        let Statistics { mean, rstd, output } = *statistics;
        let mut coefficients = Coefficients {
            weight: self.weight,
            bias: self.bias,
            channel_len: self.channel_len,
            mean,
            rstd,
            shift: 0.0,
            stream_output: self.stream_output,
        };
        match output {
            Output::Fma { shift } => {
                coefficients.shift = shift;
                // SAFETY: our caller guarantees `V`'s instruction set.
                unsafe { vector::normalize::<V>(x, y, &coefficients, start) };
            }
            Output::Exact => {
                for (x, y, gamma, beta) in coefficients.channels(x, y, start) {
                    // As the reference computes it: where the scale is not finite, PyTorch's
                    // `x * scale + (beta - mean * scale)` decides which values are NaN.
                    let scale = rstd * gamma;
                    for (xv, yv) in x.iter().zip(y) {
                        let x = f64::from(*xv);
                        *yv = if scale.is_finite() {
                            (x - mean) * rstd * gamma + beta
                        } else {
                            x * scale + (beta - mean * scale)
                        } as f32;
                    }
                }
            }
        }
    }
}

/// What the output of one group is computed from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Coefficients<'a> {
    weight: Option<&'a [f32]>,
    bias: Option<&'a [f32]>,
    channel_len: usize,
    mean: f64,
    rstd: f64,
    /// The output shift `S` of `y = (x - S) * scale + offset`.
    shift: f32,
    /// Whether `y` is written around the caches.
    stream_output: bool,
}

impl Coefficients<'_> {
    /// Each channel's part of `x` and `y`, which start `start` values into the group, with its
    /// `gamma` and `beta`. Without affine parameters the whole group is one part.
    #[inline(always)]
    fn channels<'x, 'y>(
        &self,
        x: &'x [f32],
        y: &'y mut [f32],
        start: usize,
    ) -> ChannelSpans<'_, 'x, 'y> {
        let affine = self.weight.is_some() || self.bias.is_some();
        let (channel, into_channel) = if affine && start > 0 {
            (start / self.channel_len, start % self.channel_len)
        } else {
            (0, 0)
        };
        ChannelSpans {
            coefficients: self,
            affine,
            x,
            y,
            channel,
            into_channel,
        }
    }

    /// `(shift, scale, offset)` for a channel: `scale = gamma * rstd` and
    /// `offset = beta - (mean - shift) * scale`.
    #[inline(always)]
    fn affine(&self, gamma: f64, beta: f64) -> Affine {
        let scale = gamma * self.rstd;
        Affine::new(
            self.shift,
            scale,
            beta - (self.mean - f64::from(self.shift)) * scale,
        )
    }
}

/// The iterator of [`Coefficients::channels`].
struct ChannelSpans<'c, 'x, 'y> {
    coefficients: &'c Coefficients<'c>,
    affine: bool,
    x: &'x [f32],
    y: &'y mut [f32],
    channel: usize,
    into_channel: usize,
}

impl<'x, 'y> Iterator for ChannelSpans<'_, 'x, 'y> {
    type Item = (&'x [f32], &'y mut [f32], f64, f64);

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        if self.x.is_empty() {
            return None;
        }
        if !self.affine {
            let y = core::mem::take(&mut self.y);
            return Some((core::mem::take(&mut self.x), y, 1.0, 0.0));
        }
        let c = self.coefficients;
        let len = self.x.len().min(c.channel_len - self.into_channel);
        let gamma = c.weight.map_or(1.0, |w| f64::from(w[self.channel]));
        let beta = c.bias.map_or(0.0, |b| f64::from(b[self.channel]));
        let (x, rest_x) = self.x.split_at(len);
        let (y, rest_y) = core::mem::take(&mut self.y).split_at_mut(len);
        (self.x, self.y) = (rest_x, rest_y);
        (self.channel, self.into_channel) = (self.channel + 1, 0);
        Some((x, y, gamma, beta))
    }
}

/// An argument that GroupNorm rejects. Nothing is written when one is returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupNormError {
    /// The shape has fewer than two dimensions (GroupNorm needs `N` and `C`).
    TooFewDimensions { dims: usize },
    /// `num_groups` is zero.
    ZeroGroups,
    /// `C` is zero: there is nothing to split into groups.
    ZeroChannels,
    /// `C` is not a multiple of `num_groups`.
    ChannelsNotDivisible { channels: usize, num_groups: usize },
    /// `weight` does not hold one value per channel.
    WeightLength { channels: usize, len: usize },
    /// `bias` does not hold one value per channel.
    BiasLength { channels: usize, len: usize },
    /// A spatial dimension is zero, so the groups would hold no values.
    ZeroSpatial,
    /// The product of the shape overflows `usize`.
    ShapeOverflow,
    /// The input does not hold the product of the shape's dimensions.
    InputLength { expected: usize, len: usize },
    /// The output is not as long as the input.
    OutputLength { expected: usize, len: usize },
    /// The `mean` output does not hold `N * G` values.
    MeanLength { expected: usize, len: usize },
    /// The `rstd` output does not hold `N * G` values.
    RstdLength { expected: usize, len: usize },
}

impl fmt::Display for GroupNormError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TooFewDimensions { dims } => write!(
                f,
                "expected an input shape with at least 2 dimensions (N, C, *), got {dims}"
            ),
            Self::ZeroGroups => write!(f, "expected num_groups to be positive, got 0"),
            Self::ZeroChannels => write!(f, "expected the number of channels to be positive, got 0"),
            Self::ChannelsNotDivisible {
                channels,
                num_groups,
            } => write!(
                f,
                "expected number of channels ({channels}) to be divisible by num_groups ({num_groups})"
            ),
            Self::WeightLength { channels, len } => write!(
                f,
                "expected weight of length {channels} (one per channel), got {len}"
            ),
            Self::BiasLength { channels, len } => write!(
                f,
                "expected bias of length {channels} (one per channel), got {len}"
            ),
            Self::ShapeOverflow => write!(
                f,
                "expected a shape whose element count fits in usize, got one whose product overflows"
            ),
            Self::ZeroSpatial => write!(
                f,
                "expected every spatial dimension to be positive, got a shape with a zero one"
            ),
            Self::InputLength { expected, len } => write!(
                f,
                "expected input of length {expected} (the product of the shape), got {len}"
            ),
            Self::OutputLength { expected, len } => write!(
                f,
                "expected output of length {expected} (the product of the shape), got {len}"
            ),
            Self::MeanLength { expected, len } => write!(
                f,
                "expected mean of length {expected} (N * num_groups), got {len}"
            ),
            Self::RstdLength { expected, len } => write!(
                f,
                "expected rstd of length {expected} (N * num_groups), got {len}"
            ),
        }
    }
}

impl core::error::Error for GroupNormError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The output written around the caches, as calls over 16 MiB write it, on data small
    /// enough for Miri: the same bits as plain stores, for every kernel. The output starts at
    /// several offsets from a 64-byte boundary, and channels of odd lengths put each of the 8
    /// channels at another alignment.
    #[test]
    fn streaming_stores_write_the_same_bits() {
        let mut kernels_run = std::vec::Vec::new();
        for kernel in Kernel::available() {
            kernels_run.push(kernel.name());
            for channel_len in [1, 7, 37] {
                let shape = [2, 4, channel_len];
                let len = 8 * channel_len;
                let x: [f32; 296] = core::array::from_fn(|i| ((i * 37 % 101) as f32) * 0.25 - 3.0);
                let x = &x[..len];
                let (weight, bias) = ([1.5, -0.5, 0.75, 2.0], [0.25, 2.0, -1.0, 0.5]);
                let params = GroupNorm {
                    weight: Some(&weight),
                    bias: Some(&bias),
                    ..GroupNorm::new(&shape, 2)
                };
                let layout = Layout::validate(&params, x, x, None).unwrap();
                for offset in [0, 3, 8, 13] {
                    let [plain, streamed] = [false, true].map(|streaming| {
                        let mut output = [0.0f32; 296 + 32];
                        let start = output.as_ptr().align_offset(64) + offset;
                        let run = GroupRun {
                            x,
                            y: &mut output[start..start + len],
                            first: 0,
                            mean: None,
                            rstd: None,
                        };
                        let layout = Layout {
                            streaming,
                            ..layout
                        };
                        let normalize_groups = kernel.primitives().normalize_groups;
                        // SAFETY: `kernel` exists only where the CPU supports its instruction set.
                        unsafe { normalize_groups(&layout, &params, run) };
                        let mut bits = [0u32; 296];
                        for (bits, v) in bits.iter_mut().zip(&output[start..start + len]) {
                            *bits = v.to_bits();
                        }
                        bits
                    });
                    assert!(
                        plain == streamed,
                        "{}: streaming stores differ, channels of {channel_len}, offset {offset}",
                        kernel.name()
                    );
                }
            }
        }
        assert_expected_kernels_ran(&kernels_run);
    }

    /// A group of several rows of the widest kernel and a tail, starting at every offset from a
    /// 64-byte boundary: the same bits at each, for every kernel. Under Miri (which checks every
    /// load of the AVX-512 kernel's line-by-line reads, at every skew) and natively (where the
    /// lines are rotated into place).
    #[test]
    fn rows_read_the_same_wherever_the_group_starts() {
        #[repr(align(64))]
        struct Lines([f32; 224]);
        const LEN: usize = 3 * 64 + 5;
        let mut kernels_run = std::vec::Vec::new();
        for kernel in Kernel::available() {
            kernels_run.push(kernel.name());
            let shape = [1, 1, LEN];
            let params = GroupNorm::new(&shape, 1);
            let mut first = None;
            for offset in 0..16 {
                let mut x = Lines([0.0; 224]);
                for (i, v) in x.0[offset..offset + LEN].iter_mut().enumerate() {
                    *v = ((i * 37 % 101) as f32) * 0.25 + 100.0;
                }
                let (mut y, mut mean, mut rstd) = ([0.0f32; LEN], [0.0f32], [0.0f32]);
                let stats = Stats {
                    mean: &mut mean,
                    rstd: &mut rstd,
                };
                let x = &x.0[offset..offset + LEN];
                kernel.run(&params, x, &mut y, Some(stats)).unwrap();
                let bits: std::vec::Vec<u32> = y
                    .iter()
                    .chain(&mean)
                    .chain(&rstd)
                    .map(|v| v.to_bits())
                    .collect();
                let first = first.get_or_insert(bits.clone());
                assert!(*first == bits, "{}: offset {offset} differs", kernel.name());
            }
        }
        assert_expected_kernels_ran(&kernels_run);
    }

    /// Small enough for Miri, which runs these with each kernel's features enabled: every
    /// kernel against the scalar one over lengths that cover every row and tail of every
    /// vector width, with and without affine parameters.
    #[test]
    fn every_kernel_agrees_with_scalar_on_short_groups() {
        let mut kernels_run = std::vec::Vec::new();
        for kernel in Kernel::available() {
            kernels_run.push(kernel.name());
            for len in (1..=70).chain([127, 128, 129]) {
                let shape = [1, 2, len];
                let x: [f32; 258] = core::array::from_fn(|i| ((i * 37 % 101) as f32) * 0.25 - 3.0);
                let x = &x[..2 * len];
                let (weight, bias) = ([1.5, -0.5], [0.25, 2.0]);
                for params in [
                    GroupNorm::new(&shape, 1),
                    GroupNorm {
                        weight: Some(&weight),
                        bias: Some(&bias),
                        ..GroupNorm::new(&shape, 2)
                    },
                ] {
                    let (mut ours, mut scalar) = ([0.0; 258], [0.0; 258]);
                    kernel.run(&params, x, &mut ours[..2 * len], None).unwrap();
                    Kernel::scalar()
                        .run(&params, x, &mut scalar[..2 * len], None)
                        .unwrap();
                    for (a, b) in ours.iter().zip(&scalar) {
                        let tolerance = 8.0 * f32::EPSILON * b.abs().max(1.0);
                        assert!(
                            (a - b).abs() <= tolerance,
                            "{}: {a} vs scalar {b} at length {len}",
                            kernel.name()
                        );
                    }
                }
            }
        }
        assert_expected_kernels_ran(&kernels_run);
    }

    /// `ran` holds every kernel this CPU supports, and, where CI (or its Miri passes) names the
    /// kernels this machine must have in `GROUPNORM_EXPECT_KERNELS`, exactly those.
    fn assert_expected_kernels_ran(ran: &[&str]) {
        let available: std::vec::Vec<&str> = Kernel::available().map(Kernel::name).collect();
        assert_eq!(ran, available, "kernels run against Kernel::available()");
        #[cfg(feature = "std")]
        if let Ok(expected) = std::env::var("GROUPNORM_EXPECT_KERNELS") {
            assert_eq!(
                ran.join(","),
                expected,
                "kernels run against the expected set"
            );
        }
    }
}
