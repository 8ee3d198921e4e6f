//! # GroupNorm, the readable f64 reference
//!
//! This crate is the specification of [`torch.nn.GroupNorm`] written as code, in `f64`, for people
//! who want to read or audit GroupNorm. It favours clarity over speed.
//!
//! The input has shape `(N, C, *spatial)` (any number of spatial dimensions, including none),
//! stored contiguously in row-major order for [`group_norm`], or in another [`Layout`] (such as
//! channels-last) for [`group_norm_with_layout`]: see [Memory layouts](#memory-layouts).
//! [`group_norm_with_options`] also applies an [`Activation`] (SiLU) to the output: see
//! [Options](#options-the-layout-and-an-activation). The `C`
//! channels are split into `G` groups of `C / G` consecutive channels. For every sample `n` and
//! group `g`, the statistics are taken over the `C / G` channels times all spatial positions of
//! that group:
//!
//! ```text
//! mean[n, g] = (1 / L) * sum x[n, c, s]                 over the group's L = C/G * prod(spatial) values
//! var[n, g]  = (1 / L) * sum (x[n, c, s] - mean[n, g])^2   (biased: divided by L, not L - 1)
//! rstd[n, g] = 1 / sqrt(var[n, g] + eps)
//! y[n, c, s] = (x[n, c, s] - mean[n, g]) * rstd[n, g] * gamma[c] + beta[c]
//! ```
//!
//! `gamma` (PyTorch's `weight`) defaults to 1 and `beta` (`bias`) to 0; each is optional on its
//! own. Like `torch.ops.aten.native_group_norm`, the result holds `mean` and `rstd` per `(n, g)`
//! besides `y`. Each group is viewed as a `prod(spatial) x C/G` nalgebra matrix (one row per
//! spatial position, one column per channel), and its statistics are nalgebra's [`mean`] and
//! two-pass [`variance`].
//!
//! Non-finite values propagate as IEEE arithmetic makes them: a group holding a NaN or an infinity
//! has a NaN variance, so every `y` of that group is NaN, as in PyTorch. Its mean is that of the
//! plain sum, `±inf` for an infinity, where PyTorch's running (Welford) mean is NaN or `±inf`
//! depending on where the infinity sits and on the dtype. A negative `eps` is accepted (PyTorch
//! accepts it; `rstd` is NaN where `var + eps < 0`).
//!
//! PyTorch computes `y` as `x * scale + (beta - mean * scale)` with `scale = rstd * gamma` when
//! it has a weight or a bias, and as `(x - mean) * rstd` when it has neither. Where the scale is
//! not finite (an infinite `gamma`, or an infinite `rstd`), that order decides which values are
//! infinite and which are NaN (`inf - inf` where `x` and `mean` have the same sign), so it is
//! followed there: with an infinite `rstd` (`var + eps == 0`) and no affine parameters `y` is
//! `±inf` (NaN only where `x == mean`); with either of them, `inf - inf` makes it NaN where `x`
//! and `mean` have the same sign (or are 0). Everywhere else the formula's order is kept: it
//! rounds less.
//!
//! One deliberate difference from PyTorch's Python wrapper: `F.group_norm` raises when every group
//! holds a single value (`N * C/G * prod(spatial) == 1`). That input is mathematically fine
//! (`var = 0`, so `y = beta`) and `native_group_norm` computes it, so this crate accepts it.
//!
//! ```
//! use groupnorm_reference::group_norm;
//!
//! // The notebook the project grew from: nn.GroupNorm(2, 4) on arange(100).reshape(1, 4, 5, 5).
//! let x: Vec<f64> = (0..100).map(f64::from).collect();
//! let out = group_norm(&x, &[1, 4, 5, 5], 2, None, None, 1e-5).unwrap();
//! let first: Vec<String> = out.y[..5].iter().map(|v| format!("{v:.4}")).collect();
//! assert_eq!(first, ["-1.6977", "-1.6285", "-1.5592", "-1.4899", "-1.4206"]);
//! assert_eq!(format!("{:.4}", out.y[25]), "0.0346");
//! assert_eq!(out.mean, [24.5, 74.5]);
//! ```
//!
//! ## Memory layouts
//!
//! [`Layout::Contiguous`] (what [`group_norm`] takes) stores `(N, C, *spatial)` in row-major
//! order. [`Layout::ChannelsLast`] stores the same logical tensor as `(N, *spatial, C)`: the `C`
//! channels of each position are adjacent, as in PyTorch's `channels_last` (4-D input) and
//! `channels_last_3d` (5-D), here for any number of spatial dimensions. For `(N, C)` the two
//! layouts are the same. `shape` is always the logical `(N, C, *spatial)`, `y` comes back in the
//! layout of the input, and `mean` and `rstd` are indexed `n * G + g` whatever the layout.
//!
//! The layout changes nothing but where values are read and written: the group's matrix is a
//! strided view of the sample's values (row stride 1 and column stride `prod(spatial)` when
//! contiguous; row stride `C` and column stride 1, starting at the group's first channel, in
//! channels-last), and its values are visited in the same order (channel by channel, positions in
//! order) in both. So channels-last gives, bit for bit, the contiguous result of the transposed
//! input:
//!
//! ```
//! use groupnorm_reference::{group_norm, group_norm_with_layout, Layout};
//!
//! // The notebook's input, arange(100).reshape(1, 4, 5, 5), stored channels-last: (1, 5, 5, 4).
//! let (c, s) = (4, 25);
//! let x: Vec<f64> = (0..100).map(f64::from).collect();
//! let to_channels_last = |v: &[f64]| -> Vec<f64> {
//!     (0..c * s).map(|i| v[(i % c) * s + i / c]).collect()
//! };
//! let x_cl = to_channels_last(&x);
//! assert_eq!(x_cl[..5], [0.0, 25.0, 50.0, 75.0, 1.0]);
//!
//! let layout = Layout::ChannelsLast;
//! let out = group_norm_with_layout(&x_cl, &[1, 4, 5, 5], 2, None, None, 1e-5, layout).unwrap();
//! let contiguous = group_norm(&x, &[1, 4, 5, 5], 2, None, None, 1e-5).unwrap();
//! assert_eq!(out.y, to_channels_last(&contiguous.y)); // y is channels-last, like the input
//! assert_eq!((out.mean, out.rstd), (contiguous.mean, contiguous.rstd));
//! assert_eq!(format!("{:.4}", out.y[0]), "-1.6977"); // x[0, 0, 0, 0]
//! assert_eq!(format!("{:.4}", out.y[1]), "0.0346"); // x[0, 1, 0, 0]
//! ```
//!
//! ## Options: the layout and an activation
//!
//! [`group_norm_with_options`] takes both the layout and an [`Activation`] applied to every
//! output value after the affine step, in `f64` like the rest: with [`Activation::Silu`] (GroupNorm
//! fused with SiLU, as in Stable Diffusion's blocks), `y = silu(z) = z * sigmoid(z)` where `z` is
//! the GroupNorm output above. It is computed as PyTorch's CPU kernel computes `F.silu` in
//! float64 (`aten/src/ATen/native/cpu/Activation.cpp`: `x / (1 + exp(-x))`), so
//! `silu(+inf) = +inf`, `silu(-inf) = NaN` (`-inf / inf`), `silu(NaN) = NaN`, and `z` below about
//! -709 gives `-0.0` (`exp(-z)` overflows to `inf`). `mean` and `rstd` are those of the GroupNorm
//! and do not depend on the activation. [`Options`] can grow new fields without breaking callers:
//! build it from [`Options::default`] (contiguous, no activation) with its `with_*` methods.
//!
//! ```
//! use groupnorm_reference::{group_norm, group_norm_with_options, Activation, Layout, Options};
//!
//! // The notebook's layer followed by SiLU: silu(nn.GroupNorm(2, 4)(x)).
//! let x: Vec<f64> = (0..100).map(f64::from).collect();
//! let options = Options::default().with_activation(Activation::Silu);
//! let out = group_norm_with_options(&x, &[1, 4, 5, 5], 2, None, None, 1e-5, options).unwrap();
//! let first: Vec<String> = out.y[..3].iter().map(|v| format!("{v:.4}")).collect();
//! assert_eq!(first, ["-0.2627", "-0.2671", "-0.2709"]); // as PyTorch prints F.silu(norm(x))
//!
//! // Each y is silu of the plain GroupNorm output; mean and rstd are unchanged.
//! let plain = group_norm(&x, &[1, 4, 5, 5], 2, None, None, 1e-5).unwrap();
//! for (&y, &z) in out.y.iter().zip(&plain.y) {
//!     assert_eq!(y, z / (1.0 + (-z).exp()));
//!     assert_eq!(y, Activation::Silu.apply(z));
//! }
//! assert_eq!((&out.mean, &out.rstd), (&plain.mean, &plain.rstd));
//! assert!(Activation::Silu.apply(f64::NEG_INFINITY).is_nan());
//!
//! // The default options are group_norm's: contiguous, no activation.
//! let default = group_norm_with_options(&x, &[1, 4, 5, 5], 2, None, None, 1e-5, Options::default());
//! assert_eq!(default.unwrap(), plain);
//! let options = Options::default().with_layout(Layout::ChannelsLast);
//! assert_eq!((options.layout, options.activation), (Layout::ChannelsLast, Activation::None));
//! ```
//!
//! [`torch.nn.GroupNorm`]: https://pytorch.org/docs/stable/generated/torch.nn.GroupNorm.html
//! [`mean`]: nalgebra::Matrix::mean
//! [`variance`]: nalgebra::Matrix::variance

use nalgebra::{DMatrixView, DMatrixViewMut};
use std::fmt;

/// The normalized output and the per-group statistics, as `native_group_norm` returns them.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupNormOutput {
    /// The normalized values, same shape and layout as the input.
    pub y: Vec<f64>,
    /// `mean[n * G + g]`, one per sample and group.
    pub mean: Vec<f64>,
    /// `rstd[n * G + g] = 1 / sqrt(var + eps)`, one per sample and group.
    pub rstd: Vec<f64>,
}

/// An input that PyTorch's `native_group_norm` rejects.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
        }
    }
}

impl std::error::Error for GroupNormError {}

/// The memory order of `input` and `y`, for the logical shape `(N, C, *spatial)`.
///
/// Both layouts describe the same tensor; only where each value sits in the slice differs.
/// With `S = prod(spatial)` and `s` the row-major index of a spatial position:
///
/// | layout | stored as | index of `x[n, c, s]` |
/// |---|---|---|
/// | [`Contiguous`](Layout::Contiguous) | `(N, C, *spatial)` | `(n * C + c) * S + s` |
/// | [`ChannelsLast`](Layout::ChannelsLast) | `(N, *spatial, C)` | `(n * S + s) * C + c` |
///
/// For `(N, C)` (no spatial dimension) the two coincide. New layouts may be added, so a `match`
/// on a `Layout` outside this crate needs a `_` arm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Layout {
    /// `(N, C, *spatial)` in row-major (C) order: PyTorch's default `contiguous_format`.
    #[default]
    Contiguous,
    /// The same logical shape stored as `(N, *spatial, C)`: the `C` channels of a position are
    /// adjacent. PyTorch's `channels_last` (4-D) and `channels_last_3d` (5-D), for any number of
    /// spatial dimensions.
    ChannelsLast,
}

/// What is applied to each output value after the affine step: `y = act(z)`, `z` the GroupNorm
/// output. New activations may be added, so a `match` on an `Activation` outside this crate needs
/// a `_` arm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Activation {
    /// `y = z`: plain GroupNorm.
    #[default]
    None,
    /// `y = silu(z) = z * sigmoid(z)`, computed as PyTorch's CPU kernel computes `F.silu` in
    /// float64: `z / (1 + exp(-z))` (see the crate docs for the non-finite values).
    Silu,
}

impl Activation {
    /// The activation of `z`, in `f64`.
    ///
    /// ```
    /// use groupnorm_reference::Activation;
    ///
    /// assert_eq!(Activation::None.apply(-2.5), -2.5);
    /// assert_eq!(Activation::Silu.apply(0.0), 0.0);
    /// assert_eq!(Activation::Silu.apply(2.0), 2.0 / (1.0 + (-2.0f64).exp()));
    /// assert_eq!(Activation::Silu.apply(f64::INFINITY), f64::INFINITY);
    /// assert!(Activation::Silu.apply(f64::NEG_INFINITY).is_nan()); // -inf / (1 + inf)
    /// ```
    pub fn apply(self, z: f64) -> f64 {
        match self {
            Activation::None => z,
            // PyTorch's `x / (1 + exp(-x))`, in this order: not `z * (1 / (1 + exp(-z)))`,
            // which rounds once more, nor `z * 0.5 * (1 + tanh(z / 2))`.
            Activation::Silu => z / (1.0 + (-z).exp()),
        }
    }
}

/// Everything of a call besides the tensors, `G` and `eps`: the [`Layout`] of the input and
/// output, and the [`Activation`] after the affine step. Fields may be added, so build it from
/// [`Options::default`] (contiguous, no activation: what [`group_norm`] does) with the `with_*`
/// methods:
///
/// ```
/// use groupnorm_reference::{Activation, Layout, Options};
///
/// let options = Options::default()
///     .with_layout(Layout::ChannelsLast)
///     .with_activation(Activation::Silu);
/// assert_eq!(options.layout, Layout::ChannelsLast);
/// assert_eq!(options.activation, Activation::Silu);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Options {
    /// The memory order of `input` and `y`.
    pub layout: Layout,
    /// Applied to every value of `y` after the affine step.
    pub activation: Activation,
}

impl Options {
    /// The same options with `layout`.
    #[must_use]
    pub fn with_layout(self, layout: Layout) -> Options {
        Options { layout, ..self }
    }

    /// The same options with `activation`.
    #[must_use]
    pub fn with_activation(self, activation: Activation) -> Options {
        Options { activation, ..self }
    }
}

/// GroupNorm of `input`, laid out row-major with shape `(N, C, *spatial)`.
///
/// `weight` (gamma) and `bias` (beta) hold one value per channel when given. See the crate docs
/// for the formula. This is [`group_norm_with_layout`] with [`Layout::Contiguous`].
pub fn group_norm(
    input: &[f64],
    shape: &[usize],
    num_groups: usize,
    weight: Option<&[f64]>,
    bias: Option<&[f64]>,
    eps: f64,
) -> Result<GroupNormOutput, GroupNormError> {
    group_norm_with_layout(
        input,
        shape,
        num_groups,
        weight,
        bias,
        eps,
        Layout::Contiguous,
    )
}

/// GroupNorm of `input`, of logical shape `(N, C, *spatial)` stored in `layout`.
///
/// `y` is returned in the same layout as `input`; `mean` and `rstd` are indexed `n * G + g` in
/// every layout. `weight` (gamma) and `bias` (beta) hold one value per channel when given. The
/// arguments are checked as by [`group_norm`], in the same order, whatever the layout. See the
/// crate docs for the formula and an example. This is [`group_norm_with_options`] with
/// `layout` and no activation.
pub fn group_norm_with_layout(
    input: &[f64],
    shape: &[usize],
    num_groups: usize,
    weight: Option<&[f64]>,
    bias: Option<&[f64]>,
    eps: f64,
    layout: Layout,
) -> Result<GroupNormOutput, GroupNormError> {
    group_norm_with_options(
        input,
        shape,
        num_groups,
        weight,
        bias,
        eps,
        Options::default().with_layout(layout),
    )
}

/// GroupNorm of `input`, of logical shape `(N, C, *spatial)` stored in `options.layout`, followed
/// by `options.activation` on every output value.
///
/// Everything but the activation is [`group_norm_with_layout`]: the same checks in the same
/// order, the same `mean` and `rstd`, and `y = activation(z)` with `z` exactly the value
/// [`group_norm_with_layout`] returns (the activation is applied last, in `f64`). See the crate
/// docs, [Options](crate#options-the-layout-and-an-activation), for an example.
pub fn group_norm_with_options(
    input: &[f64],
    shape: &[usize],
    num_groups: usize,
    weight: Option<&[f64]>,
    bias: Option<&[f64]>,
    eps: f64,
    options: Options,
) -> Result<GroupNormOutput, GroupNormError> {
    let Options { layout, activation } = options;
    let (n, channels, spatial) = validate(input, shape, num_groups, weight, bias)?;
    let channels_per_group = channels / num_groups;
    // Exact whenever there is a sample (the whole product fits); never used otherwise.
    let sample_len = channels.saturating_mul(spatial);

    let mut out = GroupNormOutput {
        // Every value is written below: each belongs to exactly one group.
        y: vec![0.0; input.len()],
        mean: Vec::with_capacity(n * num_groups),
        rstd: Vec::with_capacity(n * num_groups),
    };
    for i in 0..n * num_groups {
        let first_channel = (i % num_groups) * channels_per_group;
        // The group as a `prod(spatial) x C/G` matrix, one row per spatial position and one
        // column per channel, over the sample's values: where it starts and its strides.
        let (offset, row_stride, column_stride) = match layout {
            // The group is one run of values, channel after channel (column-major).
            Layout::Contiguous => (first_channel * spatial, 1, spatial),
            // Position after position, each holding all C channels, of which the group's C/G
            // are adjacent.
            Layout::ChannelsLast => (first_channel, channels, 1),
        };
        let sample = (i / num_groups) * sample_len;
        let range = sample + offset..sample + sample_len;
        let group = DMatrixView::from_slice_with_strides(
            &input[range.clone()],
            spatial,
            channels_per_group,
            row_stride,
            column_stride,
        );
        // y has the layout of the input: the same view, over the output.
        let mut y_group = DMatrixViewMut::from_slice_with_strides_mut(
            &mut out.y[range],
            spatial,
            channels_per_group,
            row_stride,
            column_stride,
        );
        let mean = group.mean();
        let rstd = 1.0 / (group.variance() + eps).sqrt();
        for (j, (channel, mut y_channel)) in group
            .column_iter()
            .zip(y_group.column_iter_mut())
            .enumerate()
        {
            let c = first_channel + j;
            let gamma = weight.map_or(1.0, |w| w[c]);
            let beta = bias.map_or(0.0, |b| b[c]);
            let scale = rstd * gamma;
            for (y, &x) in y_channel.iter_mut().zip(channel.iter()) {
                let z = if weight.is_none() && bias.is_none() {
                    (x - mean) * rstd
                } else if scale.is_finite() {
                    (x - mean) * rstd * gamma + beta
                } else {
                    x * scale + (beta - mean * scale)
                };
                *y = activation.apply(z);
            }
        }
        out.mean.push(mean);
        out.rstd.push(rstd);
    }
    Ok(out)
}

/// Checks the arguments as `native_group_norm` does; returns `(N, C, prod(spatial))`.
fn validate(
    input: &[f64],
    shape: &[usize],
    num_groups: usize,
    weight: Option<&[f64]>,
    bias: Option<&[f64]>,
) -> Result<(usize, usize, usize), GroupNormError> {
    let &[n, channels, ref spatial_dims @ ..] = shape else {
        return Err(GroupNormError::TooFewDimensions { dims: shape.len() });
    };
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
    if let Some(w) = weight.filter(|w| w.len() != channels) {
        return Err(GroupNormError::WeightLength {
            channels,
            len: w.len(),
        });
    }
    if let Some(b) = bias.filter(|b| b.len() != channels) {
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
        shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or(GroupNormError::ShapeOverflow)?
    };
    // Exact whenever there are values (the whole product fits); never used otherwise.
    let spatial = spatial_dims
        .iter()
        .fold(1usize, |acc, &d| acc.saturating_mul(d));
    if input.len() != expected {
        return Err(GroupNormError::InputLength {
            expected,
            len: input.len(),
        });
    }
    Ok((n, channels, spatial))
}

/// The example of `README.md`, run as a doc-test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExample;

#[cfg(test)]
mod tests {
    use super::GroupNormError;

    /// The variant's name. The match is exhaustive on purpose, and only this crate can write
    /// it (the enum is `#[non_exhaustive]`): a new variant fails to compile here until it has an
    /// arm, and it must also get a row in the table of `tests/errors.rs` (the input that gives
    /// it) and a line in the snapshot `error_messages` (`conformance/tests/snapshots.rs`, its
    /// message).
    fn variant_name(e: &GroupNormError) -> &'static str {
        use GroupNormError as E;
        match e {
            E::TooFewDimensions { .. } => "TooFewDimensions",
            E::ZeroGroups => "ZeroGroups",
            E::ZeroChannels => "ZeroChannels",
            E::ChannelsNotDivisible { .. } => "ChannelsNotDivisible",
            E::WeightLength { .. } => "WeightLength",
            E::BiasLength { .. } => "BiasLength",
            E::ZeroSpatial => "ZeroSpatial",
            E::ShapeOverflow => "ShapeOverflow",
            E::InputLength { .. } => "InputLength",
        }
    }

    /// One value of each variant, each once.
    #[test]
    fn every_variant_is_listed_once() {
        use GroupNormError as E;
        let all = [
            E::TooFewDimensions { dims: 1 },
            E::ZeroGroups,
            E::ZeroChannels,
            E::ChannelsNotDivisible {
                channels: 3,
                num_groups: 2,
            },
            E::WeightLength {
                channels: 2,
                len: 1,
            },
            E::BiasLength {
                channels: 2,
                len: 3,
            },
            E::ZeroSpatial,
            E::ShapeOverflow,
            E::InputLength {
                expected: 4,
                len: 3,
            },
        ];
        let mut names: Vec<&str> = all.iter().map(variant_name).collect();
        for (e, name) in all.iter().zip(&names) {
            assert!(format!("{e:?}").starts_with(name), "{e:?} is not {name}");
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len(), "a variant is listed twice");
    }
}
