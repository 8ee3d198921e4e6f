//! The element types of input and output: `f32`, and the 16-bit [`F16`] (IEEE binary16) and
//! [`Bf16`] (bfloat16, the upper half of an `f32`). Whatever the element type, the arithmetic is
//! in `f32` and `f64`: an element widens exactly to `f32` on the way in, and the output rounds
//! once to the element type on the way out. The conversions here are the portable ones, bit
//! for bit what the instruction sets' conversions give (F16C, AVX-512, NEON; bf16 by shifts):
//! round to nearest even, NaN stays NaN (made quiet, its payload cut to what fits).

/// A type of input and output values: `f32`, [`F16`] or [`Bf16`]. Weight and bias are `f32` or
/// the input's type, and `mean` and `rstd` are written in the type PyTorch returns them in (see
/// `GroupNorm`).
pub trait Element: sealed::Sealed {}

impl Element for f32 {}
impl Element for F16 {}
impl Element for Bf16 {}

pub(crate) mod sealed {
    use super::{PerElement, Slice, SliceMut};

    /// What the crate needs of an element type; only its own types implement it.
    pub trait Sealed: Copy + Send + Sync + core::fmt::Debug + 'static {
        /// PyTorch's name of the type.
        const NAME: &'static str;
        /// Zero, for padding lanes past the end of a slice.
        const ZERO: Self;
        /// The value as an `f32`, exactly.
        fn to_f32(self) -> f32;
        /// `value` rounded to nearest even: the rounding of every vector store.
        fn from_f32(value: f32) -> Self;
        /// `value` rounded once to this type.
        fn from_f64(value: f64) -> Self;
        /// `values` as the slice of its type.
        fn slice(values: &[Self]) -> Slice<'_>;
        /// `values` as the slice of its type.
        fn slice_mut(values: &mut [Self]) -> SliceMut<'_>;
        /// The slice, if its values are of this type.
        fn from_slice(values: Slice<'_>) -> Option<&[Self]>;
        /// This type's value of `per_type`.
        fn pick<T: PerElement>(per_type: &T) -> &T::Of<Self>;
    }
}

/// One value per element type: a kernel's function tables.
pub trait PerElement {
    type Of<E>;
    fn f32(&self) -> &Self::Of<f32>;
    fn f16(&self) -> &Self::Of<F16>;
    fn bf16(&self) -> &Self::Of<Bf16>;
}

/// A slice of one of the element types: weight or bias.
#[derive(Clone, Copy, Debug)]
pub enum Slice<'a> {
    F32(&'a [f32]),
    F16(&'a [F16]),
    Bf16(&'a [Bf16]),
}

/// The same `match` over the three types, each arm with `$v` its slice.
macro_rules! each_type {
    ($slice:expr, $enum:ident, $v:ident => $body:expr) => {
        match $slice {
            $enum::F32($v) => $body,
            $enum::F16($v) => $body,
            $enum::Bf16($v) => $body,
        }
    };
}

impl<'a> Slice<'a> {
    pub fn len(&self) -> usize {
        each_type!(self, Slice, v => v.len())
    }

    /// PyTorch's name of the values' type.
    pub fn type_name(&self) -> &'static str {
        each_type!(self, Slice, v => name_of(v))
    }

    /// `self[i]`, exactly.
    #[inline]
    pub fn get(&self, i: usize) -> f32 {
        each_type!(self, Slice, v => v[i].to_f32())
    }

    /// The values `range`.
    pub fn slice(&self, range: core::ops::Range<usize>) -> Slice<'a> {
        match self {
            Slice::F32(v) => Slice::F32(&v[range]),
            Slice::F16(v) => Slice::F16(&v[range]),
            Slice::Bf16(v) => Slice::Bf16(&v[range]),
        }
    }

    /// The largest magnitude among the values (0 for none; NaN is passed over).
    pub fn max_abs(&self) -> f32 {
        (0..self.len()).fold(0.0f32, |m, i| m.max(self.get(i).abs()))
    }
}

/// A mutable slice of one of the element types: `mean` or `rstd`.
#[derive(Debug)]
pub enum SliceMut<'a> {
    F32(&'a mut [f32]),
    F16(&'a mut [F16]),
    Bf16(&'a mut [Bf16]),
}

impl<'a> SliceMut<'a> {
    pub fn len(&self) -> usize {
        each_type!(self, SliceMut, v => v.len())
    }

    /// PyTorch's name of the values' type.
    pub fn type_name(&self) -> &'static str {
        each_type!(self, SliceMut, v => name_of(v))
    }

    /// Sets `self[i]` to `value`, rounded once.
    #[inline]
    pub fn set(&mut self, i: usize, value: f64) {
        each_type!(self, SliceMut, v => v[i] = Sealed::from_f64(value))
    }

    /// The first `mid` values, and the rest.
    pub fn split_at_mut(self, mid: usize) -> (SliceMut<'a>, SliceMut<'a>) {
        match self {
            SliceMut::F32(v) => {
                let (a, b) = v.split_at_mut(mid);
                (SliceMut::F32(a), SliceMut::F32(b))
            }
            SliceMut::F16(v) => {
                let (a, b) = v.split_at_mut(mid);
                (SliceMut::F16(a), SliceMut::F16(b))
            }
            SliceMut::Bf16(v) => {
                let (a, b) = v.split_at_mut(mid);
                (SliceMut::Bf16(a), SliceMut::Bf16(b))
            }
        }
    }
}

fn name_of<E: Element>(_: &[E]) -> &'static str {
    E::NAME
}

use sealed::Sealed;

/// An IEEE binary16 value, as its bits: 1 sign, 5 exponent, 10 fraction bits. The same memory
/// as `half::f16` and as C's `_Float16`, so slices of those cast to slices of this.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct F16(u16);

/// A bfloat16 value, as its bits: the upper 16 bits of an `f32`. The same memory as
/// `half::bf16`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct Bf16(u16);

impl F16 {
    /// The value of these bits.
    pub const fn from_bits(bits: u16) -> F16 {
        F16(bits)
    }
    /// The bits.
    pub const fn to_bits(self) -> u16 {
        self.0
    }
    /// `value` rounded to nearest even (beyond 65520 in magnitude, infinite).
    pub fn from_f32(value: f32) -> F16 {
        F16(f16_bits(value))
    }
    /// The value, exactly.
    pub fn to_f32(self) -> f32 {
        f16_value(self.0)
    }
}

impl Bf16 {
    /// The value of these bits.
    pub const fn from_bits(bits: u16) -> Bf16 {
        Bf16(bits)
    }
    /// The bits.
    pub const fn to_bits(self) -> u16 {
        self.0
    }
    /// `value` rounded to nearest even.
    pub fn from_f32(value: f32) -> Bf16 {
        Bf16(bf16_bits(value))
    }
    /// The value, exactly.
    pub fn to_f32(self) -> f32 {
        f32::from_bits(u32::from(self.0) << 16)
    }
}

impl sealed::Sealed for f32 {
    const NAME: &'static str = "float32";
    const ZERO: f32 = 0.0;
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
    #[inline(always)]
    fn from_f32(value: f32) -> f32 {
        value
    }
    #[inline(always)]
    fn from_f64(value: f64) -> f32 {
        value as f32
    }
    fn slice(values: &[Self]) -> Slice<'_> {
        Slice::F32(values)
    }
    fn slice_mut(values: &mut [Self]) -> SliceMut<'_> {
        SliceMut::F32(values)
    }
    fn from_slice(values: Slice<'_>) -> Option<&[Self]> {
        match values {
            Slice::F32(v) => Some(v),
            _ => None,
        }
    }
    fn pick<T: PerElement>(per_type: &T) -> &T::Of<Self> {
        per_type.f32()
    }
}

impl sealed::Sealed for F16 {
    const NAME: &'static str = "float16";
    const ZERO: F16 = F16(0);
    #[inline(always)]
    fn to_f32(self) -> f32 {
        F16::to_f32(self)
    }
    #[inline(always)]
    fn from_f32(value: f32) -> F16 {
        F16::from_f32(value)
    }
    #[inline(always)]
    fn from_f64(value: f64) -> F16 {
        F16::from_f32(round_to_odd(value))
    }
    fn slice(values: &[Self]) -> Slice<'_> {
        Slice::F16(values)
    }
    fn slice_mut(values: &mut [Self]) -> SliceMut<'_> {
        SliceMut::F16(values)
    }
    fn from_slice(values: Slice<'_>) -> Option<&[Self]> {
        match values {
            Slice::F16(v) => Some(v),
            _ => None,
        }
    }
    fn pick<T: PerElement>(per_type: &T) -> &T::Of<Self> {
        per_type.f16()
    }
}

impl sealed::Sealed for Bf16 {
    const NAME: &'static str = "bfloat16";
    const ZERO: Bf16 = Bf16(0);
    #[inline(always)]
    fn to_f32(self) -> f32 {
        Bf16::to_f32(self)
    }
    #[inline(always)]
    fn from_f32(value: f32) -> Bf16 {
        Bf16::from_f32(value)
    }
    #[inline(always)]
    fn from_f64(value: f64) -> Bf16 {
        Bf16::from_f32(round_to_odd(value))
    }
    fn slice(values: &[Self]) -> Slice<'_> {
        Slice::Bf16(values)
    }
    fn slice_mut(values: &mut [Self]) -> SliceMut<'_> {
        SliceMut::Bf16(values)
    }
    fn from_slice(values: Slice<'_>) -> Option<&[Self]> {
        match values {
            Slice::Bf16(v) => Some(v),
            _ => None,
        }
    }
    fn pick<T: PerElement>(per_type: &T) -> &T::Of<Self> {
        per_type.bf16()
    }
}

/// `value` rounded to an `f32` with the last fraction bit set where it is inexact (rounding to
/// odd). Rounding that to a type of at most 22 fraction bits, to nearest even, gives the
/// correctly rounded value of `value`: one rounding, not two.
fn round_to_odd(value: f64) -> f32 {
    let nearest = value as f32;
    if nearest.is_nan() || f64::from(nearest) == value {
        return nearest;
    }
    // Inexact (an overflow to infinity included): the neighbour toward zero, made odd.
    let toward_zero = if f64::from(nearest).abs() > value.abs() {
        nearest.to_bits() - 1
    } else {
        nearest.to_bits()
    };
    f32::from_bits(toward_zero | 1)
}

/// The binary16 value of `bits`, exactly.
fn f16_value(bits: u16) -> f32 {
    let sign = u32::from(bits & 0x8000) << 16;
    let exponent = u32::from(bits >> 10) & 0x1f;
    let fraction = u32::from(bits & 0x3ff);
    match exponent {
        // Zero and subnormals: fraction * 2^-24, exact in f32.
        0 => {
            let magnitude = fraction as f32 * (1.0 / 16_777_216.0);
            f32::from_bits(sign | magnitude.to_bits())
        }
        // Infinities and NaN (quiet, payload kept).
        0x1f => f32::from_bits(sign | 0x7f80_0000 | fraction << 13),
        _ => f32::from_bits(sign | (exponent + 112) << 23 | fraction << 13),
    }
}

/// The binary16 bits of `value`, rounded to nearest even.
fn f16_bits(value: f32) -> u16 {
    let bits = value.to_bits();
    let sign = (bits >> 16) as u16 & 0x8000;
    let magnitude = bits & 0x7fff_ffff;
    let half = if magnitude > 0x7f80_0000 {
        // NaN: quiet, the top of its payload kept.
        0x7e00 | (magnitude >> 13) as u16 & 0x3ff
    } else if magnitude >= 0x477f_f000 {
        // 65520 and above round to infinity.
        0x7c00
    } else if magnitude < 0x3880_0000 {
        // Below 2^-14: a multiple of 2^-24. Scaled by 2^24 (exact), adding 2^23 rounds it to
        // an integer, to nearest even; 1024 is the smallest normal's bits.
        let scaled = f32::from_bits(magnitude) * 16_777_216.0;
        ((scaled + 8_388_608.0).to_bits() - 0x4b00_0000) as u16
    } else {
        // Normal: rebias the exponent and round the 13 dropped bits to nearest even; a carry
        // out of the fraction moves into the exponent, as it should.
        let rebiased = magnitude - (112 << 23);
        ((rebiased + 0xfff + ((magnitude >> 13) & 1)) >> 13) as u16
    };
    sign | half
}

/// The bfloat16 bits of `value`, rounded to nearest even.
fn bf16_bits(value: f32) -> u16 {
    let bits = value.to_bits();
    if bits & 0x7fff_ffff > 0x7f80_0000 {
        // NaN: quiet, the top of its payload kept.
        return (bits >> 16) as u16 | 0x0040;
    }
    ((bits + 0x7fff + ((bits >> 16) & 1)) >> 16) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The correctly rounded binary16 value of `v` (finite, in range), by brute force over the
    /// neighbours of the truncated value: for checking `f16_bits` and `from_f64`.
    fn nearest_f16(v: f64) -> u16 {
        let magnitude = v.abs();
        let mut best = 0u16;
        for bits in 0..0x7c00u16 {
            let candidate = f64::from(f16_value(bits));
            let (d_best, d) = (
                (f64::from(f16_value(best)) - magnitude).abs(),
                (candidate - magnitude).abs(),
            );
            if d < d_best || (d == d_best && bits & 1 == 0) {
                best = bits;
            }
        }
        // Beyond 65504 + half an ulp: infinity.
        if magnitude >= 65520.0 {
            best = 0x7c00;
        }
        best | if v.is_sign_negative() { 0x8000 } else { 0 }
    }

    #[test]
    // Arithmetic over tens of thousands of values: minutes under Miri, which has nothing to
    // check in it (no unsafe code, no memory but arrays).
    #[cfg_attr(miri, ignore)]
    fn every_f16_widens_exactly_and_rounds_back() {
        for bits in 0..=u16::MAX {
            let v = f16_value(bits);
            if v.is_nan() {
                assert!(f16_value(f16_bits(v)).is_nan());
                continue;
            }
            assert_eq!(f16_bits(v), bits, "{bits:#06x}");
        }
    }

    #[test]
    // Arithmetic over tens of thousands of values: minutes under Miri, which has nothing to
    // check in it (no unsafe code, no memory but arrays).
    #[cfg_attr(miri, ignore)]
    fn f32_to_f16_rounds_to_nearest_even() {
        // Every f32 between consecutive binary16 values at several scales, midpoints included.
        for start in [0u16, 1, 0x3ff, 0x400, 0x3c00, 0x7bfe] {
            let (lo, hi) = (f16_value(start), f16_value(start + 1));
            let (lo_bits, hi_bits) = (lo.to_bits(), hi.to_bits());
            let step = ((hi_bits - lo_bits) / 61).max(1) as usize;
            for bits in (lo_bits..=hi_bits)
                .step_by(step)
                .chain([(lo_bits + hi_bits) / 2])
            {
                let v = f32::from_bits(bits);
                assert_eq!(f16_bits(v), nearest_f16(f64::from(v)), "{v:e}");
                assert_eq!(f16_bits(-v), nearest_f16(-f64::from(v)), "{:e}", -v);
            }
        }
        assert_eq!(f16_bits(65519.0), 0x7bff);
        assert_eq!(f16_bits(65520.0), 0x7c00);
        assert_eq!(f16_bits(f32::INFINITY), 0x7c00);
        assert_eq!(f16_bits(1e-9), 0);
    }

    #[test]
    // Arithmetic over tens of thousands of values: minutes under Miri, which has nothing to
    // check in it (no unsafe code, no memory but arrays).
    #[cfg_attr(miri, ignore)]
    fn f64_rounds_once() {
        // Just above a midpoint of binary16 but rounding to the midpoint in f32: rounding
        // through f32 would give the even neighbour, once gives the upper one.
        let midpoint = 1.0 + 2f64.powi(-11);
        let above = midpoint + 2f64.powi(-40);
        assert_eq!(F16::from_f64(above).to_bits(), 0x3c01);
        assert_eq!(F16::from_f32(above as f32).to_bits(), 0x3c00);
        let bf_midpoint = 1.0 + 2f64.powi(-8);
        assert_eq!(
            Bf16::from_f64(bf_midpoint + 2f64.powi(-40)).to_bits(),
            0x3f81
        );
        assert_eq!(Bf16::from_f64(bf_midpoint).to_bits(), 0x3f80);
        for (i, v) in [0.1f64, -3.3e-6, 1234.5678, 6.0e-8, 65519.99, 1e300, -0.0]
            .into_iter()
            .enumerate()
        {
            let nearest = if v.abs() >= 65520.0 {
                0x7c00 | if v < 0.0 { 0x8000 } else { 0 }
            } else {
                nearest_f16(v)
            };
            assert_eq!(F16::from_f64(v).to_bits(), nearest, "case {i}: {v:e}");
        }
        assert!(F16::from_f64(f64::NAN).to_f32().is_nan());
        assert_eq!(Bf16::from_f64(1e300).to_bits(), 0x7f80);
    }

    #[test]
    // Arithmetic over tens of thousands of values: minutes under Miri, which has nothing to
    // check in it (no unsafe code, no memory but arrays).
    #[cfg_attr(miri, ignore)]
    fn bf16_rounds_to_nearest_even_and_keeps_nan() {
        assert_eq!(bf16_bits(1.0), 0x3f80);
        // 1 + 2^-8 is the midpoint of 1 and 1 + 2^-7: to even, 1.
        assert_eq!(bf16_bits(1.0 + 2f32.powi(-8)), 0x3f80);
        assert_eq!(bf16_bits(1.0 + 2f32.powi(-8) + 2f32.powi(-20)), 0x3f81);
        assert_eq!(bf16_bits(1.0 + 3.0 * 2f32.powi(-8)), 0x3f82);
        assert_eq!(bf16_bits(f32::MAX), 0x7f80);
        assert_eq!(bf16_bits(-f32::INFINITY), 0xff80);
        let nan = bf16_bits(f32::from_bits(0x7f80_0001));
        assert!(Bf16(nan).to_f32().is_nan());
        for bits in 0..=u16::MAX {
            let v = Bf16(bits).to_f32();
            if !v.is_nan() {
                assert_eq!(bf16_bits(v), bits);
            }
        }
    }

    #[test]
    fn names_are_pytorchs() {
        assert_eq!(
            [f32::NAME, F16::NAME, Bf16::NAME],
            ["float32", "float16", "bfloat16"]
        );
    }
}
