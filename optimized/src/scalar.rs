//! The portable kernel: the generic algorithm on one `f32` lane, with no instruction-set
//! requirement and no `std`. Its `mul_add` is unfused, since a fused multiply-add would call a
//! slow software routine on CPUs without FMA.

use crate::vector::{entry_points, Vector};

impl Vector for f32 {
    const LANES: usize = 1;

    #[inline(always)]
    unsafe fn splat(value: f32) -> Self {
        value
    }
    #[inline(always)]
    unsafe fn load(src: &[f32]) -> Self {
        src[0]
    }
    #[inline(always)]
    unsafe fn store(self, dst: &mut [f32]) {
        dst[0] = self;
    }
    #[inline(always)]
    unsafe fn add(self, rhs: Self) -> Self {
        self + rhs
    }
    #[inline(always)]
    unsafe fn sub(self, rhs: Self) -> Self {
        self - rhs
    }
    #[inline(always)]
    unsafe fn mul(self, rhs: Self) -> Self {
        self * rhs
    }
    #[inline(always)]
    unsafe fn mul_add(self, factor: Self, addend: Self) -> Self {
        self * factor + addend
    }
}

entry_points!(f32,);
