//! x86_64 AVX2 + FMA: eight `f32` lanes.

use crate::vector::{entry_points, Vector};
use core::arch::x86_64::*;

#[derive(Clone, Copy)]
pub(crate) struct Avx2(__m256);

impl Vector for Avx2 {
    const LANES: usize = 8;

    #[inline(always)]
    unsafe fn splat(value: f32) -> Self {
        Avx2(_mm256_set1_ps(value))
    }
    #[inline(always)]
    unsafe fn load(src: &[f32]) -> Self {
        let src = &src[..Self::LANES];
        Avx2(_mm256_loadu_ps(src.as_ptr()))
    }
    #[inline(always)]
    unsafe fn store(self, dst: &mut [f32]) {
        let dst = &mut dst[..Self::LANES];
        _mm256_storeu_ps(dst.as_mut_ptr(), self.0)
    }
    #[inline(always)]
    unsafe fn load_partial(src: &[f32]) -> Self {
        // SAFETY: masked-off lanes are not read, so only `src` itself is accessed.
        unsafe { Avx2(_mm256_maskload_ps(src.as_ptr(), lane_mask(src.len()))) }
    }
    #[inline(always)]
    unsafe fn store_partial(self, dst: &mut [f32]) {
        // SAFETY: masked-off lanes are not written, so only `dst` itself is accessed.
        unsafe { _mm256_maskstore_ps(dst.as_mut_ptr(), lane_mask(dst.len()), self.0) }
    }
    #[inline(always)]
    unsafe fn sub(self, rhs: Self) -> Self {
        Avx2(_mm256_sub_ps(self.0, rhs.0))
    }
    #[inline(always)]
    unsafe fn add(self, rhs: Self) -> Self {
        Avx2(_mm256_add_ps(self.0, rhs.0))
    }
    #[inline(always)]
    unsafe fn mul_add(self, factor: Self, addend: Self) -> Self {
        Avx2(_mm256_fmadd_ps(self.0, factor.0, addend.0))
    }
}

/// A mask of the first `len` lanes (`len < 8`): all ones where the lane index is below `len`.
///
/// # Safety
/// The CPU supports AVX2.
#[inline(always)]
unsafe fn lane_mask(len: usize) -> __m256i {
    _mm256_cmpgt_epi32(
        _mm256_set1_epi32(len as i32),
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
    )
}

entry_points!(Avx2, "avx2,fma");
