//! What a case asks of an implementation beyond the arithmetic: the memory layout, the element
//! types and the activation (schema version 2, see `vectors/README.md`), and the [`Feature`]s a
//! subject declares it supports.

use std::fmt;

/// The memory order of `input` and `y`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Layout {
    /// `(N, C, *spatial)` in C order.
    #[default]
    Contiguous,
    /// The same logical shape stored as `(N, *spatial, C)`: PyTorch's `channels_last` and
    /// `channels_last_3d`, for any number of spatial dimensions.
    ChannelsLast,
}

/// The element type of an array.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DType {
    #[default]
    Float32,
    /// IEEE binary16.
    Float16,
    /// The upper half of a float32.
    BFloat16,
}

/// What follows the affine: `y = act(z)` with `z` the GroupNorm output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Activation {
    #[default]
    None,
    /// `z * sigmoid(z)`.
    Silu,
}

/// The schema names of each value: how the JSON writes them.
pub trait SchemaName: Sized + Copy + 'static {
    /// Every value, in declaration order.
    const ALL: &'static [Self];
    /// The JSON string.
    fn schema_name(self) -> &'static str;
    /// The value the JSON string names.
    fn from_schema_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.schema_name() == name)
    }
}

impl SchemaName for Layout {
    const ALL: &'static [Self] = &[Layout::Contiguous, Layout::ChannelsLast];
    fn schema_name(self) -> &'static str {
        match self {
            Layout::Contiguous => "contiguous",
            Layout::ChannelsLast => "channels_last",
        }
    }
}

impl SchemaName for DType {
    const ALL: &'static [Self] = &[DType::Float32, DType::Float16, DType::BFloat16];
    fn schema_name(self) -> &'static str {
        match self {
            DType::Float32 => "float32",
            DType::Float16 => "float16",
            DType::BFloat16 => "bfloat16",
        }
    }
}

impl SchemaName for Activation {
    const ALL: &'static [Self] = &[Activation::None, Activation::Silu];
    fn schema_name(self) -> &'static str {
        match self {
            Activation::None => "none",
            Activation::Silu => "silu",
        }
    }
}

impl DType {
    /// Whether the float32 value `v` is a value of this type (NaN and the infinities are).
    pub fn holds(self, v: f32) -> bool {
        if !v.is_finite() {
            return true;
        }
        match self {
            DType::Float32 => true,
            DType::BFloat16 => v.to_bits() & 0xffff == 0,
            DType::Float16 => {
                let a = v.abs();
                // Normal binary16 values keep 10 of float32's 23 fraction bits; below 2^-14
                // they are multiples of 2^-24.
                if a > 65504.0 {
                    false
                } else if a >= f32::powi(2.0, -14) {
                    v.to_bits() & 0x1fff == 0
                } else {
                    (a * f32::powi(2.0, 24)).fract() == 0.0
                }
            }
        }
    }
}

/// A case's layout, element types and activation. `Default` is what every schema version 1
/// case is: contiguous float32 without activation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Variant {
    pub layout: Layout,
    /// Of `input` and `y`.
    pub dtype: DType,
    /// Of `weight` and `bias`.
    pub param_dtype: DType,
    pub activation: Activation,
}

impl Variant {
    /// The features a subject needs to run a case of this variant.
    pub fn features(&self) -> [Feature; 4] {
        [
            Feature::Layout(self.layout),
            Feature::DType(self.dtype),
            Feature::ParamDType(self.param_dtype),
            Feature::Activation(self.activation),
        ]
    }
}

/// One thing a case can need; a subject says which it supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Feature {
    /// Input and output in this layout.
    Layout(Layout),
    /// Input and output of this type.
    DType(DType),
    /// Weight and bias of this type.
    ParamDType(DType),
    /// This activation after the affine.
    Activation(Activation),
    /// The backward pass: `grad_input`, `grad_weight` and `grad_bias` from `grad_output`.
    Backward,
}

impl Feature {
    /// Whether a schema version 1 case can need it: every feature of [`Variant::default`].
    pub fn is_v1(self) -> bool {
        Variant::default().features().contains(&self)
    }

    /// Whether it is one of a float32 forward pass in either layout, without activation: what
    /// the reference, the kernels and results files are graded on today.
    pub fn is_float32_forward(self) -> bool {
        self.is_v1() || self == Feature::Layout(Layout::ChannelsLast)
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Feature::Layout(l) => write!(f, "{} layout", l.schema_name()),
            Feature::DType(d) => write!(f, "{} input", d.schema_name()),
            Feature::ParamDType(d) => write!(f, "{} weight and bias", d.schema_name()),
            Feature::Activation(a) => write!(f, "activation {}", a.schema_name()),
            Feature::Backward => write!(f, "backward"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_round_trip() {
        for &l in Layout::ALL {
            assert_eq!(Layout::from_schema_name(l.schema_name()), Some(l));
        }
        for &d in DType::ALL {
            assert_eq!(DType::from_schema_name(d.schema_name()), Some(d));
        }
        for &a in Activation::ALL {
            assert_eq!(Activation::from_schema_name(a.schema_name()), Some(a));
        }
        assert_eq!(DType::from_schema_name("float64"), None);
    }

    #[test]
    fn half_types_hold_their_values_only() {
        let f16 = DType::Float16;
        for v in [
            0.0,
            -0.0,
            1.0,
            65504.0,
            -65504.0,
            2f32.powi(-14),
            2f32.powi(-24),
            1.0 + 2f32.powi(-10),
        ] {
            assert!(f16.holds(v), "{v:e}");
        }
        for v in [65505.0, 65520.0, 2f32.powi(-25), 1.0 + 2f32.powi(-11), 0.1] {
            assert!(!f16.holds(v), "{v:e}");
        }
        let bf16 = DType::BFloat16;
        assert!(bf16.holds(1.0) && bf16.holds(f32::from_bits(0x7f7f_0000)));
        assert!(!bf16.holds(1.0 + 2f32.powi(-8)) && !bf16.holds(0.1));
        assert!(DType::Float32.holds(0.1) && f16.holds(f32::NAN) && bf16.holds(f32::INFINITY));
    }
}
