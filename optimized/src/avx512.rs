//! x86_64 AVX-512F: sixteen `f32` lanes.

use crate::vector::{entry_points, Vector};
use core::arch::x86_64::*;

#[derive(Clone, Copy)]
pub(crate) struct Avx512(__m512);

impl Vector for Avx512 {
    const LANES: usize = 16;

    #[inline(always)]
    unsafe fn splat(value: f32) -> Self {
        Avx512(_mm512_set1_ps(value))
    }
    #[inline(always)]
    unsafe fn load(src: &[f32]) -> Self {
        let src = &src[..Self::LANES];
        Avx512(_mm512_loadu_ps(src.as_ptr()))
    }
    #[inline(always)]
    unsafe fn store(self, dst: &mut [f32]) {
        let dst = &mut dst[..Self::LANES];
        _mm512_storeu_ps(dst.as_mut_ptr(), self.0)
    }
    #[inline(always)]
    unsafe fn load_partial(src: &[f32]) -> Self {
        // SAFETY: masked-off lanes are not read, so only `src` itself is accessed.
        unsafe { Avx512(_mm512_maskz_loadu_ps(lane_mask(src.len()), src.as_ptr())) }
    }
    #[inline(always)]
    unsafe fn store_partial(self, dst: &mut [f32]) {
        // SAFETY: masked-off lanes are not written, so only `dst` itself is accessed.
        unsafe { _mm512_mask_storeu_ps(dst.as_mut_ptr(), lane_mask(dst.len()), self.0) }
    }
    #[inline(always)]
    unsafe fn sub(self, rhs: Self) -> Self {
        Avx512(_mm512_sub_ps(self.0, rhs.0))
    }
    #[inline(always)]
    unsafe fn add(self, rhs: Self) -> Self {
        Avx512(_mm512_add_ps(self.0, rhs.0))
    }
    #[inline(always)]
    unsafe fn mul_add(self, factor: Self, addend: Self) -> Self {
        Avx512(_mm512_fmadd_ps(self.0, factor.0, addend.0))
    }
}

/// A mask of the first `len` lanes (`len < 16`).
#[inline(always)]
fn lane_mask(len: usize) -> __mmask16 {
    debug_assert!(len < 16);
    ((1u32 << len) - 1) as __mmask16
}

entry_points!(Avx512, "avx512f");
