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
    /// The machine epsilon, the distance from 1 to the next value: `2^-23` (`eps32`), `2^-10`
    /// (`eps16`) and `2^-7` (`epsbf16`).
    pub fn epsilon(self) -> f64 {
        match self {
            DType::Float32 => f64::from(f32::EPSILON),
            DType::Float16 => f64::powi(2.0, -10),
            DType::BFloat16 => f64::powi(2.0, -7),
        }
    }

    /// The name of [`epsilon`](DType::epsilon) as the reports write it: `eps32`, `eps16` or
    /// `epsbf16`.
    pub fn epsilon_name(self) -> &'static str {
        match self {
            DType::Float32 => "eps32",
            DType::Float16 => "eps16",
            DType::BFloat16 => "epsbf16",
        }
    }

    /// The largest finite value: `f32::MAX`, 65504, and `(2 - 2^-7) * 2^127` (about 3.39e38).
    pub fn max_finite(self) -> f64 {
        match self {
            DType::Float32 => f64::from(f32::MAX),
            DType::Float16 => 65504.0,
            DType::BFloat16 => f64::from(f32::from_bits(0x7f7f_0000)),
        }
    }

    /// The smallest positive normal value: `2^-126` (float32 and bfloat16), `2^-14` (float16).
    pub fn min_positive(self) -> f64 {
        match self {
            DType::Float32 | DType::BFloat16 => f64::powi(2.0, -126),
            DType::Float16 => f64::powi(2.0, -14),
        }
    }

    /// The spacing of this type's values around `v`: the distance between the two values of the
    /// type that bracket `|v|`, so that rounding `v` to nearest is off by at most half of it.
    /// That is `epsilon * 2^floor(log2 |v|)` for a normal `|v|`, `epsilon * min_positive` (the
    /// subnormal spacing: `2^-149`, `2^-24`, `2^-133`) below, and the spacing at the maximum
    /// beyond it. NaN for a non-finite `v`.
    pub fn ulp(self, v: f64) -> f64 {
        if !v.is_finite() {
            return f64::NAN;
        }
        let a = v.abs().min(self.max_finite());
        if a < self.min_positive() {
            return self.epsilon() * self.min_positive();
        }
        // `a` is a normal f64 (at least 2^-126): its exponent field is floor(log2 a) + 1023.
        let exponent = ((a.to_bits() >> 52) & 0x7ff) as i32 - 1023;
        self.epsilon() * f64::powi(2.0, exponent)
    }

    /// Where rounding to nearest overflows: a finite value with `|v|` at or beyond
    /// `max_finite + ulp(max_finite) / 2` rounds to an infinity of its sign (at the midpoint
    /// itself the tie goes to the even neighbour, the infinity).
    pub fn overflow_threshold(self) -> f64 {
        self.max_finite() + 0.5 * self.ulp(self.max_finite())
    }

    /// `v` rounded to the nearest value of this type (ties to even), as an `f64`: infinite
    /// from [`overflow_threshold`](DType::overflow_threshold) on, NaN and the infinities kept.
    /// For building test subjects whose outputs are of this type.
    pub fn round(self, v: f64) -> f64 {
        if !v.is_finite() {
            return v;
        }
        if v.abs() >= self.overflow_threshold() {
            return f64::INFINITY.copysign(v);
        }
        // A power of two: the division and the product are exact.
        let ulp = self.ulp(v);
        ((v / ulp).round_ties_even() * ulp).copysign(v)
    }

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
    /// The layout and the activation as the reference crate takes them, for
    /// `groupnorm_reference::group_norm_with_options` (the element types do not enter: the
    /// reference computes in `f64` on the values upcast).
    pub fn reference_options(&self) -> groupnorm_reference::Options {
        let layout = match self.layout {
            Layout::Contiguous => groupnorm_reference::Layout::Contiguous,
            Layout::ChannelsLast => groupnorm_reference::Layout::ChannelsLast,
        };
        let activation = match self.activation {
            Activation::None => groupnorm_reference::Activation::None,
            Activation::Silu => groupnorm_reference::Activation::Silu,
        };
        groupnorm_reference::Options::default()
            .with_layout(layout)
            .with_activation(activation)
    }

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
    /// results files are graded on (and what the reference and the kernels ran before float16,
    /// bfloat16 and SiLU).
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

    #[test]
    fn epsilons_and_ranges_are_those_of_the_types() {
        let (f32_, f16, bf16) = (DType::Float32, DType::Float16, DType::BFloat16);
        assert_eq!(f32_.epsilon(), f64::from(f32::EPSILON));
        assert_eq!(f16.epsilon(), 1.0 / 1024.0);
        assert_eq!(bf16.epsilon(), 1.0 / 128.0);
        assert_eq!(
            [f32_, f16, bf16].map(DType::epsilon_name),
            ["eps32", "eps16", "epsbf16"]
        );
        for d in [f32_, f16, bf16] {
            // The largest value, and 1 + epsilon, are values of the type; what lies between
            // 1 and 1 + epsilon, and beyond the largest value, is not.
            let max = d.max_finite() as f32;
            assert!(d.holds(max) && f64::from(max) == d.max_finite(), "{d:?}");
            assert!(d.holds((1.0 + d.epsilon()) as f32));
            assert!(!d.holds((1.0 + d.epsilon() / 2.0) as f32) || d == f32_);
            assert!(d.holds(d.min_positive() as f32));
            let subnormal = d.epsilon() * d.min_positive();
            assert!(d.holds(subnormal as f32) && subnormal > 0.0);
        }
        assert_eq!(bf16.max_finite(), 3.3895313892515355e38);
        assert_eq!(f32_.max_finite(), f64::from(f32::MAX));
    }

    #[test]
    fn ulps_are_the_spacing_of_the_values() {
        let f16 = DType::Float16;
        assert_eq!(f16.ulp(1.0), 1.0 / 1024.0);
        assert_eq!(f16.ulp(-1.0), 1.0 / 1024.0);
        // Just below a power of two the spacing is that of the binade below.
        assert_eq!(f16.ulp(0.999), 1.0 / 2048.0);
        assert_eq!(f16.ulp(1.999), 1.0 / 1024.0);
        assert_eq!(f16.ulp(2.0), 1.0 / 512.0);
        assert_eq!(f16.ulp(65504.0), 32.0);
        assert_eq!(f16.ulp(1e9), 32.0);
        assert_eq!(f16.ulp(0.0), f64::powi(2.0, -24));
        assert_eq!(f16.ulp(3e-6), f64::powi(2.0, -24));
        assert_eq!(f16.ulp(f64::powi(2.0, -14)), f64::powi(2.0, -24));
        assert!(f16.ulp(f64::NAN).is_nan() && f16.ulp(f64::INFINITY).is_nan());
        let bf16 = DType::BFloat16;
        assert_eq!(bf16.ulp(1.0), 1.0 / 128.0);
        assert_eq!(bf16.ulp(300.0), 2.0);
        assert_eq!(bf16.ulp(1e-39), f64::powi(2.0, -133));
        assert_eq!(DType::Float32.ulp(1.0), f64::from(f32::EPSILON));
        assert_eq!(DType::Float32.ulp(1e-40), f64::powi(2.0, -149));
        // Rounding to the type is off by at most half an ulp, and the ulp is the gap between
        // the neighbours: checked on float32 values rounded to bfloat16 by truncation + 1.
        for bits in [
            0x3f80_1234u32,
            0x4479_ffff,
            0x0000_0123,
            0x7f7e_7fff,
            0x3c00_8000,
        ] {
            let v = f32::from_bits(bits);
            let down = f32::from_bits(bits & 0xffff_0000);
            let up = f32::from_bits((bits & 0xffff_0000) + 0x1_0000);
            assert_eq!(
                f64::from(up) - f64::from(down),
                bf16.ulp(f64::from(v)),
                "{v:e}"
            );
        }
    }

    #[test]
    fn rounding_goes_to_the_nearest_value_ties_to_even() {
        let (f32_, f16, bf16) = (DType::Float32, DType::Float16, DType::BFloat16);
        assert_eq!(f16.round(1.0 + f64::powi(2.0, -11)), 1.0); // tie: to even
        assert_eq!(
            f16.round(1.0 + 3.0 * f64::powi(2.0, -11)),
            1.0 + f64::powi(2.0, -9)
        );
        assert_eq!(f16.round(0.1), 0.0999755859375);
        assert_eq!(f16.round(65519.9), 65504.0);
        assert_eq!(f16.round(65520.0), f64::INFINITY);
        assert_eq!(f16.round(-1e6), f64::NEG_INFINITY);
        assert_eq!(f16.round(3e-8), f64::powi(2.0, -24)); // subnormal: nearest multiple of 2^-24
        assert_eq!(f16.round(2e-8).to_bits(), 0.0f64.to_bits());
        assert_eq!(f16.round(-2e-8).to_bits(), (-0.0f64).to_bits());
        assert!(f16.round(f64::NAN).is_nan());
        // As `as f32` rounds, for float32; and bfloat16 is float32 with 16 fraction bits less.
        for v in [0.1, -3.7e-39, 1e-45, 123456.789, 3.3e38, -2.5e-3] {
            assert_eq!(f32_.round(v), f64::from(v as f32), "{v:e}");
            let b = bf16.round(v);
            assert!(
                bf16.holds(b as f32) && (b - v).abs() <= 0.5 * bf16.ulp(v),
                "{v:e}"
            );
        }
        assert_eq!(bf16.round(1.0 + f64::powi(2.0, -8)), 1.0);
        assert_eq!(
            bf16.round(1.0 + 3.0 * f64::powi(2.0, -8)),
            1.0 + f64::powi(2.0, -6)
        );
    }

    #[test]
    fn overflow_thresholds_are_the_midpoints_above_the_maxima() {
        assert_eq!(DType::Float16.overflow_threshold(), 65520.0);
        assert_eq!(
            DType::BFloat16.overflow_threshold(),
            f64::from(f32::from_bits(0x7f7f_8000))
        );
        // float32: f32::MAX + 2^103, the smallest f64 that `as f32` sends to infinity.
        let t = DType::Float32.overflow_threshold();
        assert_eq!(t, f64::from(f32::MAX) + f64::powi(2.0, 103));
        assert!((t as f32).is_infinite());
        let below = f64::from_bits(t.to_bits() - 1);
        assert_eq!(below as f32, f32::MAX);
    }

    #[test]
    fn reference_options_follow_the_variant() {
        let v = Variant {
            layout: Layout::ChannelsLast,
            activation: Activation::Silu,
            ..Variant::default()
        };
        let o = v.reference_options();
        assert_eq!(o.layout, groupnorm_reference::Layout::ChannelsLast);
        assert_eq!(o.activation, groupnorm_reference::Activation::Silu);
        assert_eq!(
            Variant::default().reference_options(),
            groupnorm_reference::Options::default()
        );
    }
}
