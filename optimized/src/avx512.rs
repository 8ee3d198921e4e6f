//! x86_64 AVX-512F: sixteen `f32` lanes.

use crate::vector::{entry_points, Vector, MAX_LANES};
use core::arch::x86_64::*;

#[derive(Clone, Copy)]
pub(crate) struct Avx512(__m512);

// SAFETY: loads and stores take slices cut to `LANES` by bounds-checked ranges, or masks of
// the slice's own length; the `f64` totals are a `MAX_LANES` array, cut into chunks.
unsafe impl Vector for Avx512 {
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
    unsafe fn store_streaming(self, dst: &mut [f32]) {
        let dst = &mut dst[..Self::LANES];
        debug_assert_eq!(dst.as_ptr().align_offset(64), 0);
        // Miri cannot run `vmovntps` (inline assembly in `core::arch`): a plain store there.
        #[cfg(miri)]
        return self.store(dst);
        // SAFETY: `dst` holds 16 values, and our caller guarantees it starts on 64 bytes.
        #[cfg(not(miri))]
        unsafe {
            _mm512_stream_ps(dst.as_mut_ptr(), self.0)
        }
    }
    #[inline(always)]
    unsafe fn end_streaming() {
        // Under Miri streaming stores are plain stores, which need no fence (it has no `sfence`).
        #[cfg(not(miri))]
        _mm_sfence()
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
    unsafe fn deviation_sums(values: &[f32], x0: f32) -> (f64, f64) {
        let first = _mm512_set1_pd(f64::from(x0));
        let mut sums = (_mm512_setzero_pd(), _mm512_setzero_pd());
        let (rows, rest) = values.as_chunks::<8>();
        for row in rows {
            // SAFETY: reads the 8 values of `row`.
            add_deviations(unsafe { _mm256_loadu_ps(row.as_ptr()) }, first, &mut sums);
        }
        if !rest.is_empty() {
            // The lanes past `rest` hold `x0`, whose `d` is exactly 0.
            // SAFETY: masked-off lanes are not read, so only `rest` itself is accessed.
            let last = unsafe {
                _mm512_mask_loadu_ps(_mm512_set1_ps(x0), lane_mask(rest.len()), rest.as_ptr())
            };
            add_deviations(_mm512_castps512_ps256(last), first, &mut sums);
        }
        (_mm512_reduce_add_pd(sums.0), _mm512_reduce_add_pd(sums.1))
    }
    #[inline(always)]
    unsafe fn add_to_f64(self, totals: &mut [f64; MAX_LANES]) {
        let quarters = [
            _mm512_extractf32x4_ps::<0>(self.0),
            _mm512_extractf32x4_ps::<1>(self.0),
            _mm512_extractf32x4_ps::<2>(self.0),
            _mm512_extractf32x4_ps::<3>(self.0),
        ];
        for (four, quarter) in totals.chunks_exact_mut(4).zip(quarters) {
            // SAFETY: reads and writes the 4 values of `four`.
            unsafe {
                let sum = _mm256_add_pd(_mm256_loadu_pd(four.as_ptr()), _mm256_cvtps_pd(quarter));
                _mm256_storeu_pd(four.as_mut_ptr(), sum);
            }
        }
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

/// Adds `d = eight - first` and `d^2` (in `f64`) to `sums`.
///
/// # Safety
/// The CPU supports AVX-512F.
#[inline(always)]
unsafe fn add_deviations(eight: __m256, first: __m512d, sums: &mut (__m512d, __m512d)) {
    // Widened in 256-bit halves, which Miri can run (it has no 512-bit `vcvtps2pd`); tails are
    // short, so the two extra instructions cost little.
    let lo = _mm256_cvtps_pd(_mm256_castps256_ps128(eight));
    let hi = _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(eight));
    let d = _mm512_sub_pd(
        _mm512_insertf64x4::<1>(_mm512_castpd256_pd512(lo), hi),
        first,
    );
    sums.0 = _mm512_add_pd(sums.0, d);
    sums.1 = _mm512_fmadd_pd(d, d, sums.1);
}

/// A mask of the first `len` lanes (`len < 16`).
#[inline(always)]
fn lane_mask(len: usize) -> __mmask16 {
    debug_assert!(len < 16);
    ((1u32 << len) - 1) as __mmask16
}

entry_points!(Avx512, "avx512f");
