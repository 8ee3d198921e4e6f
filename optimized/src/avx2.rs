//! x86_64 AVX2 + FMA (and F16C, for float16): eight `f32` lanes.

use crate::element::{Bf16, F16};
use crate::primitives::entry_points;
use crate::vector::{Io, Vector, MAX_LANES};
use core::arch::x86_64::*;

#[derive(Clone, Copy)]
pub(crate) struct Avx2(__m256);

// SAFETY: eight lanes. Every `unsafe` block below relies on the trait's contract, that the
// CPU supports AVX2, FMA and F16C, and says which memory it accesses.
unsafe impl Vector for Avx2 {
    const LANES: usize = 8;

    #[inline(always)]
    unsafe fn splat(value: f32) -> Self {
        // SAFETY: registers only.
        unsafe { Avx2(_mm256_set1_ps(value)) }
    }
    #[inline(always)]
    unsafe fn sub(self, rhs: Self) -> Self {
        // SAFETY: registers only.
        unsafe { Avx2(_mm256_sub_ps(self.0, rhs.0)) }
    }
    #[inline(always)]
    unsafe fn add(self, rhs: Self) -> Self {
        // SAFETY: registers only.
        unsafe { Avx2(_mm256_add_ps(self.0, rhs.0)) }
    }
    #[inline(always)]
    unsafe fn mul(self, rhs: Self) -> Self {
        // SAFETY: registers only.
        unsafe { Avx2(_mm256_mul_ps(self.0, rhs.0)) }
    }
    #[inline(always)]
    unsafe fn div(self, rhs: Self) -> Self {
        // SAFETY: registers only.
        unsafe { Avx2(_mm256_div_ps(self.0, rhs.0)) }
    }
    #[inline(always)]
    unsafe fn max(self, rhs: Self) -> Self {
        // SAFETY: registers only.
        unsafe { Avx2(_mm256_max_ps(self.0, rhs.0)) }
    }
    #[inline(always)]
    unsafe fn min(self, rhs: Self) -> Self {
        // SAFETY: registers only.
        unsafe { Avx2(_mm256_min_ps(self.0, rhs.0)) }
    }
    #[inline(always)]
    unsafe fn pow2(n: Self) -> Self {
        // SAFETY: registers only.
        unsafe {
            let biased = _mm256_add_epi32(_mm256_cvtps_epi32(n.0), _mm256_set1_epi32(127));
            Avx2(_mm256_castsi256_ps(_mm256_slli_epi32::<23>(biased)))
        }
    }
    #[inline(always)]
    unsafe fn mul_add(self, factor: Self, addend: Self) -> Self {
        // SAFETY: registers only.
        unsafe { Avx2(_mm256_fmadd_ps(self.0, factor.0, addend.0)) }
    }
    #[inline(always)]
    unsafe fn add_to_f64(self, totals: &mut [f64; MAX_LANES]) {
        // SAFETY: each load and store reads and writes the 4 values of `four`.
        unsafe {
            let halves = [
                _mm256_castps256_ps128(self.0),
                _mm256_extractf128_ps::<1>(self.0),
            ];
            for (four, half) in totals.chunks_exact_mut(4).zip(halves) {
                let sum = _mm256_add_pd(_mm256_loadu_pd(four.as_ptr()), _mm256_cvtps_pd(half));
                _mm256_storeu_pd(four.as_mut_ptr(), sum);
            }
        }
    }
    #[inline(always)]
    unsafe fn end_streaming() {
        // Under Miri streaming stores are plain stores, which need no fence (it has no `sfence`).
        #[cfg(not(miri))]
        // SAFETY: no memory access of its own.
        unsafe {
            _mm_sfence()
        }
    }
}

// SAFETY: loads and stores take slices cut to `LANES` by bounds-checked ranges, or masks of
// the slice's own length.
unsafe impl Io<f32> for Avx2 {
    type Rows = ();
    #[inline(always)]
    unsafe fn start_rows(_body: &[f32]) {}

    #[inline(always)]
    unsafe fn load(src: &[f32]) -> Self {
        let src = &src[..Self::LANES];
        // SAFETY: reads the 8 values of `src`.
        unsafe { Avx2(_mm256_loadu_ps(src.as_ptr())) }
    }
    #[inline(always)]
    unsafe fn store(self, dst: &mut [f32]) {
        let dst = &mut dst[..Self::LANES];
        // SAFETY: writes the 8 values of `dst`.
        unsafe { _mm256_storeu_ps(dst.as_mut_ptr(), self.0) }
    }
    #[inline(always)]
    unsafe fn store_streaming(self, dst: &mut [f32]) {
        let dst = &mut dst[..Self::LANES];
        debug_assert_eq!(dst.as_ptr().align_offset(32), 0);
        // Miri cannot run `vmovntps` (inline assembly in `core::arch`): a plain store there.
        #[cfg(miri)]
        // SAFETY: the instruction set, our caller's.
        return unsafe { self.store(dst) };
        // SAFETY: `dst` holds 8 values, and our caller guarantees it starts on 32 bytes.
        #[cfg(not(miri))]
        unsafe {
            _mm256_stream_ps(dst.as_mut_ptr(), self.0)
        }
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
    unsafe fn deviation_sums(values: &[f32], x0: f32) -> (f64, f64) {
        // SAFETY: each row load reads the 8 values of `row`; the masked load of `rest` reads
        // only `rest` itself (masked-off lanes are not read).
        unsafe {
            let first = _mm256_set1_pd(f64::from(x0));
            let mut sums = [_mm256_setzero_pd(); 4];
            let (rows, rest) = values.as_chunks::<8>();
            for row in rows {
                add_deviations(_mm256_loadu_ps(row.as_ptr()), first, &mut sums);
            }
            if !rest.is_empty() {
                // The lanes past `rest` hold `x0`, whose `d` is exactly 0.
                let mask = lane_mask(rest.len());
                let loaded = _mm256_maskload_ps(rest.as_ptr(), mask);
                let last = _mm256_blendv_ps(_mm256_set1_ps(x0), loaded, _mm256_castsi256_ps(mask));
                add_deviations(last, first, &mut sums);
            }
            let [sum_lo, sum_hi, squares_lo, squares_hi] = sums;
            (
                horizontal_sum(_mm256_add_pd(sum_lo, sum_hi)),
                horizontal_sum(_mm256_add_pd(squares_lo, squares_hi)),
            )
        }
    }
}

/// `Io` for a 16-bit element type: eight values (16 bytes) widened to `f32` lanes by `$widen`
/// and rounded back by `$narrow`, both in registers.
macro_rules! io_16_bit {
    ($element:ty, $widen:ident, $narrow:ident) => {
        // SAFETY: loads and stores take slices cut to `LANES` by bounds-checked ranges; the
        // other methods are the trait's portable defaults.
        unsafe impl Io<$element> for Avx2 {
            type Rows = ();
            #[inline(always)]
            unsafe fn start_rows(_body: &[$element]) {}

            #[inline(always)]
            unsafe fn load(src: &[$element]) -> Self {
                let src = &src[..Self::LANES];
                // SAFETY: reads the 16 bytes of `src`.
                unsafe { Avx2($widen(_mm_loadu_si128(src.as_ptr().cast()))) }
            }
            #[inline(always)]
            unsafe fn store(self, dst: &mut [$element]) {
                let dst = &mut dst[..Self::LANES];
                // SAFETY: writes the 16 bytes of `dst`.
                unsafe { _mm_storeu_si128(dst.as_mut_ptr().cast(), $narrow(self.0)) }
            }
            #[inline(always)]
            unsafe fn store_streaming(self, dst: &mut [$element]) {
                let dst = &mut dst[..Self::LANES];
                debug_assert_eq!(dst.as_ptr().align_offset(16), 0);
                #[cfg(miri)]
                // SAFETY: the instruction set, our caller's.
                return unsafe { self.store(dst) };
                // SAFETY: `dst` holds 16 bytes, and our caller guarantees it starts on 16
                // bytes.
                #[cfg(not(miri))]
                unsafe {
                    _mm_stream_si128(dst.as_mut_ptr().cast(), $narrow(self.0))
                }
            }
        }
    };
}

io_16_bit!(F16, from_f16, to_f16);
io_16_bit!(Bf16, from_bf16, to_bf16);

/// The eight lanes rounded to float16, to nearest even (F16C's `vcvtps2ph`; under Miri, which
/// has no F16C, the portable conversion, which gives the same bits).
///
/// # Safety
/// The CPU supports F16C.
#[inline(always)]
unsafe fn to_f16(v: __m256) -> __m128i {
    #[cfg(miri)]
    // SAFETY: the stores and loads access the arrays of this block.
    return unsafe {
        let mut lanes = [0.0f32; 8];
        _mm256_storeu_ps(lanes.as_mut_ptr(), v);
        let halves = lanes.map(|x| F16::from_f32(x).to_bits());
        _mm_loadu_si128(halves.as_ptr().cast())
    };
    // SAFETY: our caller guarantees the instruction set; registers only.
    #[cfg(not(miri))]
    unsafe {
        _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v)
    }
}

/// Eight float16 values widened to `f32`, exactly (F16C's `vcvtph2ps`; under Miri, the
/// portable conversion).
///
/// # Safety
/// The CPU supports F16C.
#[inline(always)]
unsafe fn from_f16(halves: __m128i) -> __m256 {
    #[cfg(miri)]
    // SAFETY: the stores and loads access the arrays of this block.
    return unsafe {
        let mut bits = [0u16; 8];
        _mm_storeu_si128(bits.as_mut_ptr().cast(), halves);
        let lanes = bits.map(|b| F16::from_bits(b).to_f32());
        _mm256_loadu_ps(lanes.as_ptr())
    };
    // SAFETY: our caller guarantees the instruction set; registers only.
    #[cfg(not(miri))]
    unsafe {
        _mm256_cvtph_ps(halves)
    }
}

/// Eight bfloat16 values widened to `f32`, exactly: each the upper half of its `f32`.
///
/// # Safety
/// The CPU supports AVX2.
#[inline(always)]
unsafe fn from_bf16(halves: __m128i) -> __m256 {
    // SAFETY: our caller guarantees the instruction set; registers only.
    unsafe { _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(halves))) }
}

/// The eight lanes rounded to bfloat16, to nearest even, NaN made quiet (as `Bf16::from_f32`),
/// packed into eight 16-bit values.
///
/// # Safety
/// The CPU supports AVX2.
#[inline(always)]
unsafe fn to_bf16(v: __m256) -> __m128i {
    // SAFETY: our caller guarantees the instruction set; registers only.
    unsafe {
        let bits = _mm256_castps_si256(v);
        let upper = _mm256_srli_epi32::<16>(bits);
        let to_even = _mm256_add_epi32(
            _mm256_set1_epi32(0x7fff),
            _mm256_and_si256(upper, _mm256_set1_epi32(1)),
        );
        let rounded = _mm256_srli_epi32::<16>(_mm256_add_epi32(bits, to_even));
        let quiet_nan = _mm256_or_si256(upper, _mm256_set1_epi32(0x40));
        let nan = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_UNORD_Q>(v, v));
        let halves = _mm256_blendv_epi8(rounded, quiet_nan, nan);
        // Each 128-bit half packs its four values twice; the first copy of each, in order.
        let packed = _mm256_packus_epi32(halves, halves);
        _mm256_castsi256_si128(_mm256_permute4x64_epi64::<0b10_00>(packed))
    }
}

/// Adds `d = eight - first` and `d^2` (in `f64`, four lanes at a time) to
/// `[sum_lo, sum_hi, squares_lo, squares_hi]`.
///
/// # Safety
/// The CPU supports AVX2 and FMA.
#[inline(always)]
unsafe fn add_deviations(eight: __m256, first: __m256d, sums: &mut [__m256d; 4]) {
    // SAFETY: our caller guarantees the instruction set; registers only.
    unsafe {
        let lo = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(eight)), first);
        let hi = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps::<1>(eight)), first);
        sums[0] = _mm256_add_pd(sums[0], lo);
        sums[1] = _mm256_add_pd(sums[1], hi);
        sums[2] = _mm256_fmadd_pd(lo, lo, sums[2]);
        sums[3] = _mm256_fmadd_pd(hi, hi, sums[3]);
    }
}

/// The sum of the four lanes of `v`.
///
/// # Safety
/// The CPU supports AVX2.
#[inline(always)]
unsafe fn horizontal_sum(v: __m256d) -> f64 {
    // SAFETY: our caller guarantees the instruction set; registers only.
    unsafe {
        let pair = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd::<1>(v));
        _mm_cvtsd_f64(_mm_add_sd(pair, _mm_unpackhi_pd(pair, pair)))
    }
}

/// A mask of the first `len` lanes (`len < 8`): all ones where the lane index is below `len`.
///
/// # Safety
/// The CPU supports AVX2.
#[inline(always)]
unsafe fn lane_mask(len: usize) -> __m256i {
    debug_assert!(len < 8);
    // SAFETY: our caller guarantees the instruction set; registers only.
    unsafe {
        _mm256_cmpgt_epi32(
            _mm256_set1_epi32(len as i32),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        )
    }
}

entry_points!(Avx2, "avx2,fma,f16c");
