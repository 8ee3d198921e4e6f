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
    unsafe fn add(self, rhs: Self) -> Self {
        Avx2(_mm256_add_ps(self.0, rhs.0))
    }
    #[inline(always)]
    unsafe fn sub(self, rhs: Self) -> Self {
        Avx2(_mm256_sub_ps(self.0, rhs.0))
    }
    #[inline(always)]
    unsafe fn mul(self, rhs: Self) -> Self {
        Avx2(_mm256_mul_ps(self.0, rhs.0))
    }
    #[inline(always)]
    unsafe fn mul_add(self, factor: Self, addend: Self) -> Self {
        Avx2(_mm256_fmadd_ps(self.0, factor.0, addend.0))
    }
}

entry_points!(Avx2, "avx2,fma");
