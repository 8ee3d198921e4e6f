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
    /// Weight or bias is of neither `float32` nor the input's type (PyTorch: "mixed dtype
    /// (CPU): expect parameter to have scalar type of Float").
    ParameterType {
        input: &'static str,
        found: &'static str,
    },
    /// Weight and bias are of different types.
    ParameterTypesDiffer {
        weight: &'static str,
        bias: &'static str,
    },
    /// `mean` and `rstd` are not of the type PyTorch returns them in: `float32` with `float32`
    /// parameters, else the input's type.
    StatsType {
        expected: &'static str,
        found: &'static str,
    },
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
            Self::ParameterType {
                input: "float32",
                found,
            } => write!(f, "expected weight and bias of type float32, got {found}"),
            Self::ParameterType { input, found } => write!(
                f,
                "expected weight and bias of type float32 or {input} (the input's), got {found}"
            ),
            Self::ParameterTypesDiffer { weight, bias } => write!(
                f,
                "expected weight and bias of the same type, got {weight} and {bias}"
            ),
            Self::StatsType { expected, found } => write!(
                f,
                "expected mean and rstd of type {expected} (float32 with float32 weight or bias, \
                 else the input's type), got {found}"
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

#[cfg(test)]
mod tests {
    use super::GroupNormError;
    use std::format;
    use std::vec::Vec;

    /// The variant's name. The match is exhaustive on purpose, and only this crate can write
    /// it (the enum is `#[non_exhaustive]`): a new variant fails to compile here until it has an
    /// arm, and it must also get a row in the table of `tests/errors.rs` (a call that gives it)
    /// and a line in the snapshot `error_messages` (`conformance/tests/snapshots.rs`, its
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
            E::OutputLength { .. } => "OutputLength",
            E::MeanLength { .. } => "MeanLength",
            E::RstdLength { .. } => "RstdLength",
            E::ParameterType { .. } => "ParameterType",
            E::ParameterTypesDiffer { .. } => "ParameterTypesDiffer",
            E::StatsType { .. } => "StatsType",
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
            E::OutputLength {
                expected: 4,
                len: 3,
            },
            E::MeanLength {
                expected: 1,
                len: 2,
            },
            E::RstdLength {
                expected: 1,
                len: 2,
            },
            E::ParameterType {
                input: "float16",
                found: "bfloat16",
            },
            E::ParameterTypesDiffer {
                weight: "float16",
                bias: "float32",
            },
            E::StatsType {
                expected: "float32",
                found: "float16",
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
