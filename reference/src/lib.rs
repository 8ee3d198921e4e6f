//! # GroupNorm, the readable f64 reference
//!
//! This crate is the specification of [`torch.nn.GroupNorm`] written as code, in `f64`, for people
//! who want to read or audit GroupNorm. It favours clarity over speed.
//!
//! The input has shape `(N, C, *spatial)` (any number of spatial dimensions, including none) and is
//! stored contiguously in row-major order. The `C` channels are split into `G` groups of `C / G`
//! consecutive channels. For every sample `n` and group `g`, the statistics are taken over the
//! `C / G` channels times all spatial positions of that group:
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
//! besides `y`. Each group is viewed as a `prod(spatial) x C/G` nalgebra matrix (one column per
//! channel), and its statistics are nalgebra's [`mean`] and two-pass [`variance`].
//!
//! Non-finite values propagate as IEEE arithmetic makes them: a group holding a NaN or an infinity
//! has a NaN variance, so every `y` of that group is NaN, as in PyTorch. Its mean is that of the
//! plain sum, `±inf` for an infinity, where PyTorch's running (Welford) mean is NaN or `±inf`
//! depending on where the infinity sits and on the dtype. A negative `eps` is accepted (PyTorch
//! accepts it; `rstd` is NaN where `var + eps < 0`).
//!
//! PyTorch computes `y` as `x * scale + (beta - mean * scale)` with `scale = rstd * gamma`. Where
//! the scale is not finite (an infinite `gamma`, or an infinite `rstd`), that order decides which
//! values are infinite and which are NaN (`inf - inf` where `x` and `mean` have the same sign),
//! so it is followed there. Everywhere else the formula's order is kept: it rounds less.
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
//! [`torch.nn.GroupNorm`]: https://pytorch.org/docs/stable/generated/torch.nn.GroupNorm.html
//! [`mean`]: nalgebra::Matrix::mean
//! [`variance`]: nalgebra::Matrix::variance

use nalgebra::DMatrixView;
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

/// GroupNorm of `input`, laid out row-major with shape `(N, C, *spatial)`.
///
/// `weight` (gamma) and `bias` (beta) hold one value per channel when given. See the crate docs
/// for the formula.
pub fn group_norm(
    input: &[f64],
    shape: &[usize],
    num_groups: usize,
    weight: Option<&[f64]>,
    bias: Option<&[f64]>,
    eps: f64,
) -> Result<GroupNormOutput, GroupNormError> {
    let (n, channels, spatial) = validate(input, shape, num_groups, weight, bias)?;
    let channels_per_group = channels / num_groups;
    let group_len = channels_per_group.saturating_mul(spatial);

    let mut out = GroupNormOutput {
        y: Vec::with_capacity(input.len()),
        mean: Vec::with_capacity(n * num_groups),
        rstd: Vec::with_capacity(n * num_groups),
    };
    for i in 0..n * num_groups {
        let group_data = &input[i * group_len..(i + 1) * group_len];
        // One column per channel of the group, one row per spatial position.
        let group = DMatrixView::from_slice(group_data, spatial, channels_per_group);
        let mean = group.mean();
        let rstd = 1.0 / (group.variance() + eps).sqrt();
        let first_channel = (i % num_groups) * channels_per_group;
        for (j, channel) in group.column_iter().enumerate() {
            let c = first_channel + j;
            let gamma = weight.map_or(1.0, |w| w[c]);
            let beta = bias.map_or(0.0, |b| b[c]);
            let scale = rstd * gamma;
            out.y.extend(channel.iter().map(|&x| {
                if scale.is_finite() {
                    (x - mean) * rstd * gamma + beta
                } else {
                    x * scale + (beta - mean * scale)
                }
            }));
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
