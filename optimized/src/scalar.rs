//! The portable kernel: the generic algorithm on one `f32` lane, with no instruction-set
//! requirement and no `std`.

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

// SAFETY: every access is a bounds-checked index.
unsafe impl Io<f32> for f32 {
    type Rows = ();
    #[inline(always)]
    unsafe fn start_rows(_body: &[f32]) {}

    #[inline(always)]
    unsafe fn load(src: &[f32]) -> Self {
        src[0]
    }
    #[inline(always)]
    unsafe fn store(self, dst: &mut [f32]) {
        dst[0] = self;
    }
}

entry_points!(f32,);
