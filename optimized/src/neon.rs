//! aarch64 NEON: four `f32` lanes.

use crate::primitives::entry_points;
use crate::vector::{Io, Vector, MAX_LANES};
use core::arch::aarch64::*;

#[derive(Clone, Copy)]
pub(crate) struct Neon(float32x4_t);

// SAFETY: four lanes. Every `unsafe` block below relies on the trait's contract, that the CPU
// supports NEON, and says which memory it accesses.
unsafe impl Vector for Neon {
    const LANES: usize = 4;

    #[inline(always)]
    unsafe fn splat(value: f32) -> Self {
        // SAFETY: registers only.
        unsafe { Neon(vdupq_n_f32(value)) }
    }
    #[inline(always)]
    unsafe fn sub(self, rhs: Self) -> Self {
        // SAFETY: registers only.
        unsafe { Neon(vsubq_f32(self.0, rhs.0)) }
    }
    #[inline(always)]
    unsafe fn add(self, rhs: Self) -> Self {
        // SAFETY: registers only.
        unsafe { Neon(vaddq_f32(self.0, rhs.0)) }
    }
    #[inline(always)]
    unsafe fn mul_add(self, factor: Self, addend: Self) -> Self {
        // SAFETY: registers only.
        unsafe { Neon(vfmaq_f32(addend.0, self.0, factor.0)) }
    }
    #[inline(always)]
    unsafe fn add_to_f64(self, totals: &mut [f64; MAX_LANES]) {
        let mut lanes = [0.0f32; 4];
        // SAFETY: writes the 4 values of `lanes`.
        unsafe { vst1q_f32(lanes.as_mut_ptr(), self.0) };
        for (total, &lane) in totals.iter_mut().zip(&lanes) {
            *total += f64::from(lane);
        }
    }
}

// SAFETY: loads and stores take slices cut to `LANES` by bounds-checked ranges; the other
// methods are the trait's portable defaults.
unsafe impl Io<f32> for Neon {
    type Rows = ();
    #[inline(always)]
    unsafe fn start_rows(_body: &[f32]) {}

    #[inline(always)]
    unsafe fn load(src: &[f32]) -> Self {
        let src = &src[..Self::LANES];
        // SAFETY: reads the 4 values of `src`.
        unsafe { Neon(vld1q_f32(src.as_ptr())) }
    }
    #[inline(always)]
    unsafe fn store(self, dst: &mut [f32]) {
        let dst = &mut dst[..Self::LANES];
        // SAFETY: writes the 4 values of `dst`.
        unsafe { vst1q_f32(dst.as_mut_ptr(), self.0) }
    }
}

entry_points!(Neon, "neon");
