//! The portable kernel: the generic algorithm on one `f32` lane, with no instruction-set
//! requirement and no `std`.

use crate::element::sealed::Sealed;
use crate::element::{Bf16, F16};
use crate::primitives::entry_points;
use crate::vector::{Io, Vector, MAX_LANES};

// SAFETY: one lane, and no instruction-set requirement.
unsafe impl Vector for f32 {
    const LANES: usize = 1;

    #[inline(always)]
    unsafe fn splat(value: f32) -> Self {
        value
    }
    #[inline(always)]
    unsafe fn sub(self, rhs: Self) -> Self {
        self - rhs
    }
    #[inline(always)]
    unsafe fn add(self, rhs: Self) -> Self {
        self + rhs
    }
    #[inline(always)]
    unsafe fn mul(self, rhs: Self) -> Self {
        self * rhs
    }
    #[inline(always)]
    unsafe fn div(self, rhs: Self) -> Self {
        self / rhs
    }
    #[inline(always)]
    unsafe fn max(self, rhs: Self) -> Self {
        f32::max(self, rhs)
    }
    #[inline(always)]
    unsafe fn min(self, rhs: Self) -> Self {
        f32::min(self, rhs)
    }
    #[inline(always)]
    unsafe fn pow2(n: Self) -> Self {
        f32::from_bits(((n as i32 + 127) as u32) << 23)
    }
    #[inline(always)]
    unsafe fn mul_add(self, factor: Self, addend: Self) -> Self {
        // The product of two f32 values is exact in f64, so this rounds about once, like a
        // fused multiply-add, with no FMA instruction (which `f32::mul_add` would call in
        // software on CPUs without one).
        (f64::from(self) * f64::from(factor) + f64::from(addend)) as f32
    }
    #[inline(always)]
    unsafe fn add_to_f64(self, totals: &mut [f64; MAX_LANES]) {
        totals[0] += f64::from(self);
    }
}

/// `Io<E>` for the portable lane: the element's own conversions.
macro_rules! portable_io {
    ($($element:ty),*) => {$(
        // SAFETY: every access is a bounds-checked index.
        unsafe impl Io<$element> for f32 {
            type Rows = ();
            #[inline(always)]
            unsafe fn start_rows(_body: &[$element]) {}

            #[inline(always)]
            unsafe fn load(src: &[$element]) -> Self {
                Sealed::to_f32(src[0])
            }
            #[inline(always)]
            unsafe fn store(self, dst: &mut [$element]) {
                dst[0] = <$element as Sealed>::from_f32(self);
            }
        }
    )*};
}
portable_io!(f32, F16, Bf16);

entry_points!(f32,);
