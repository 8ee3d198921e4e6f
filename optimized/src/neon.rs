//! aarch64 NEON: four `f32` lanes.

use crate::element::{Bf16, F16};
use crate::primitives::entry_points;
use crate::vector::{Io, Vector, MAX_LANES};
use core::arch::aarch64::*;
use core::arch::asm;

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
    unsafe fn mul(self, rhs: Self) -> Self {
        // SAFETY: registers only.
        unsafe { Neon(vmulq_f32(self.0, rhs.0)) }
    }
    #[inline(always)]
    unsafe fn div(self, rhs: Self) -> Self {
        // SAFETY: registers only.
        unsafe { Neon(vdivq_f32(self.0, rhs.0)) }
    }
    #[inline(always)]
    unsafe fn max(self, rhs: Self) -> Self {
        // SAFETY: registers only.
        unsafe { Neon(vmaxq_f32(self.0, rhs.0)) }
    }
    #[inline(always)]
    unsafe fn min(self, rhs: Self) -> Self {
        // SAFETY: registers only.
        unsafe { Neon(vminq_f32(self.0, rhs.0)) }
    }
    #[inline(always)]
    unsafe fn pow2(n: Self) -> Self {
        // SAFETY: registers only.
        unsafe {
            let biased = vaddq_s32(vcvtnq_s32_f32(n.0), vdupq_n_s32(127));
            Neon(vreinterpretq_f32_s32(vshlq_n_s32::<23>(biased)))
        }
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

// SAFETY: loads and stores take slices cut to `LANES` by bounds-checked ranges; the other
// methods are the trait's portable defaults.
unsafe impl Io<F16> for Neon {
    type Rows = ();
    #[inline(always)]
    unsafe fn start_rows(_body: &[F16]) {}

    #[inline(always)]
    unsafe fn load(src: &[F16]) -> Self {
        let src = &src[..Self::LANES];
        // SAFETY: reads the 8 bytes of `src`; then registers only (`fcvtl`, exact).
        unsafe {
            let halves = vld1_u16(src.as_ptr().cast());
            let widened: float32x4_t;
            // `vcvt_f32_f16` is this instruction, but only from Rust 1.94 (past this crate's
            // minimum version).
            asm!(
                "fcvtl {widened:v}.4s, {halves:v}.4h",
                halves = in(vreg) halves,
                widened = lateout(vreg) widened,
                options(pure, nomem, nostack, preserves_flags)
            );
            Neon(widened)
        }
    }
    #[inline(always)]
    unsafe fn store(self, dst: &mut [F16]) {
        let dst = &mut dst[..Self::LANES];
        // SAFETY: registers only (`fcvtn` rounds as FPCR says: to nearest even unless a caller
        // changed it), then writes the 8 bytes of `dst`.
        unsafe {
            let halves: uint16x4_t;
            asm!(
                "fcvtn {halves:v}.4h, {lanes:v}.4s",
                lanes = in(vreg) self.0,
                halves = lateout(vreg) halves,
                options(pure, nomem, nostack, preserves_flags)
            );
            vst1_u16(dst.as_mut_ptr().cast(), halves)
        }
    }
}

// SAFETY: loads and stores take slices cut to `LANES` by bounds-checked ranges; the other
// methods are the trait's portable defaults.
unsafe impl Io<Bf16> for Neon {
    type Rows = ();
    #[inline(always)]
    unsafe fn start_rows(_body: &[Bf16]) {}

    #[inline(always)]
    unsafe fn load(src: &[Bf16]) -> Self {
        let src = &src[..Self::LANES];
        // SAFETY: reads the 8 bytes of `src`.
        unsafe {
            Neon(vreinterpretq_f32_u32(vshll_n_u16::<16>(vld1_u16(
                src.as_ptr().cast(),
            ))))
        }
    }
    #[inline(always)]
    unsafe fn store(self, dst: &mut [Bf16]) {
        let dst = &mut dst[..Self::LANES];
        // SAFETY: writes the 8 bytes of `dst`; registers otherwise. Rounded to nearest even,
        // NaN made quiet, as `Bf16::from_f32`.
        unsafe {
            let bits = vreinterpretq_u32_f32(self.0);
            let odd = vandq_u32(vshrq_n_u32::<16>(bits), vdupq_n_u32(1));
            let rounded = vaddq_u32(bits, vaddq_u32(vdupq_n_u32(0x7fff), odd));
            let quiet_nan = vorrq_u32(bits, vdupq_n_u32(0x0040_0000));
            let number = vceqq_f32(self.0, self.0);
            let halves = vshrn_n_u32::<16>(vbslq_u32(number, rounded, quiet_nan));
            vst1_u16(dst.as_mut_ptr().cast(), halves)
        }
    }
}

entry_points!(Neon, "neon");
