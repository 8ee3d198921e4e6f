//! The errors of this crate: arguments GroupNorm rejects, and kernel names it cannot run.

use core::fmt;

/// An argument that GroupNorm rejects. Nothing is written when one is returned.
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

/// A kernel name that `Kernel`'s `FromStr` cannot turn into a kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseKernelError {
    /// No kernel of this crate has this name, on any architecture.
    Unknown,
    /// A kernel of this crate (one of `KERNEL_NAMES`) that this CPU cannot run.
    Unsupported { name: &'static str },
}

impl fmt::Display for ParseKernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown => f.write_str("no kernel of this crate has this name"),
            Self::Unsupported { name } => {
                write!(f, "kernel {name:?} is not supported by this CPU")
            }
        }
    }
}

impl core::error::Error for ParseKernelError {}
