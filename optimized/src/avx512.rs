//! x86_64 AVX-512F: sixteen `f32` lanes.

use crate::element::{Bf16, F16};
use crate::primitives::entry_points;
use crate::vector::{load_row, Io, Vector, MAX_LANES, UNROLL};
use core::arch::x86_64::*;

#[derive(Clone, Copy)]
pub(crate) struct Avx512(__m512);

// SAFETY: sixteen lanes. Every `unsafe` block below relies on the trait's contract, that the
// CPU supports AVX-512F (and AVX2 and FMA), and says which memory it accesses.
unsafe impl Vector for Avx512 {
    const LANES: usize = 16;

    #[inline(always)]
    unsafe fn splat(value: f32) -> Self {
        // SAFETY: registers only.
        unsafe { Avx512(_mm512_set1_ps(value)) }
    }
    #[inline(always)]
    unsafe fn sub(self, rhs: Self) -> Self {
        // SAFETY: registers only.
        unsafe { Avx512(_mm512_sub_ps(self.0, rhs.0)) }
    }
    #[inline(always)]
    unsafe fn add(self, rhs: Self) -> Self {
        // SAFETY: registers only.
        unsafe { Avx512(_mm512_add_ps(self.0, rhs.0)) }
    }
    #[inline(always)]
    unsafe fn mul(self, rhs: Self) -> Self {
        // SAFETY: registers only.
        unsafe { Avx512(_mm512_mul_ps(self.0, rhs.0)) }
    }
    #[inline(always)]
    unsafe fn div(self, rhs: Self) -> Self {
        // SAFETY: registers only.
        unsafe { Avx512(_mm512_div_ps(self.0, rhs.0)) }
    }
    #[inline(always)]
    unsafe fn max(self, rhs: Self) -> Self {
        #[cfg(miri)]
        // SAFETY: the instruction set, our caller's.
        return unsafe { lane_by_lane(self, rhs, |a, b| if a > b { a } else { b }) };
        // SAFETY: registers only.
        #[cfg(not(miri))]
        unsafe {
            Avx512(_mm512_max_ps(self.0, rhs.0))
        }
    }
    #[inline(always)]
    unsafe fn min(self, rhs: Self) -> Self {
        #[cfg(miri)]
        // SAFETY: the instruction set, our caller's.
        return unsafe { lane_by_lane(self, rhs, |a, b| if a < b { a } else { b }) };
        // SAFETY: registers only.
        #[cfg(not(miri))]
        unsafe {
            Avx512(_mm512_min_ps(self.0, rhs.0))
        }
    }
    #[inline(always)]
    unsafe fn pow2(n: Self) -> Self {
        #[cfg(miri)]
        // SAFETY: the instruction set, our caller's.
        return unsafe {
            lane_by_lane(n, n, |n, _| f32::from_bits(((n as i32 + 127) as u32) << 23))
        };
        // SAFETY: registers only.
        #[cfg(not(miri))]
        unsafe {
            let biased = _mm512_add_epi32(_mm512_cvtps_epi32(n.0), _mm512_set1_epi32(127));
            Avx512(_mm512_castsi512_ps(_mm512_slli_epi32::<23>(biased)))
        }
    }
    #[inline(always)]
    unsafe fn mul_add(self, factor: Self, addend: Self) -> Self {
        // SAFETY: registers only.
        unsafe { Avx512(_mm512_fmadd_ps(self.0, factor.0, addend.0)) }
    }
    #[inline(always)]
    unsafe fn add_to_f64(self, totals: &mut [f64; MAX_LANES]) {
        // SAFETY: each load and store reads and writes the 4 values of `four`.
        unsafe {
            let quarters = [
                _mm512_extractf32x4_ps::<0>(self.0),
                _mm512_extractf32x4_ps::<1>(self.0),
                _mm512_extractf32x4_ps::<2>(self.0),
                _mm512_extractf32x4_ps::<3>(self.0),
            ];
            for (four, quarter) in totals.chunks_exact_mut(4).zip(quarters) {
                let sum = _mm256_add_pd(_mm256_loadu_pd(four.as_ptr()), _mm256_cvtps_pd(quarter));
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
// the slice's own length; the lines `load_next_row` reads lie within `body` (see there).
unsafe impl Io<f32> for Avx512 {
    type Rows = AlignedRows;

    #[inline(always)]
    unsafe fn start_rows(body: &[f32]) -> AlignedRows {
        // `body` starts `skew` values past a 64-byte boundary (f32 values are 4-byte aligned).
        let skew = (body.as_ptr().addr() / 4) % 16;
        let line = body.as_ptr().wrapping_sub(skew);
        // SAFETY: only the lanes from `skew` on are read, `body[..16 - skew]`; `body` holds
        // whole rows, at least 64 values.
        unsafe {
            let first = _mm512_maskz_loadu_ps(!lane_mask(skew), line);
            AlignedRows {
                on_lines: skew == 0,
                line,
                current: first,
                rotate: _mm512_add_epi32(
                    _mm512_set1_epi32(skew as i32),
                    _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                ),
            }
        }
    }
    #[inline(always)]
    unsafe fn load_next_row(rows: &mut AlignedRows, row: &[f32]) -> [Self; UNROLL] {
        if rows.on_lines {
            // Every vector is a whole line already.
            // SAFETY: the instruction set, our caller's; `load_row` reads `row`.
            return unsafe { load_row(row) };
        }
        debug_assert!(row.as_ptr().addr().wrapping_sub(rows.line.addr()) < 64);
        // Each load reads the line after the one that holds the start of a vector of `row`: it
        // begins inside that vector and ends no later than the vector after it, inside `row` or
        // the row after it, which exists (this is not the last row of the `body` given to
        // `start_rows`, which is read in order).
        // SAFETY: the lines read lie within `body`, as just said.
        unsafe {
            let mut vectors = [Avx512(_mm512_setzero_ps()); UNROLL];
            for (v, values) in vectors.iter_mut().zip(row.chunks_exact(Self::LANES)) {
                rows.line = rows.line.wrapping_add(16);
                let next = _mm512_loadu_ps(rows.line);
                *v = rows.vector_before(next, values);
                rows.current = next;
            }
            vectors
        }
    }
    #[inline(always)]
    unsafe fn load(src: &[f32]) -> Self {
        let src = &src[..Self::LANES];
        // SAFETY: reads the 16 values of `src`.
        unsafe { Avx512(_mm512_loadu_ps(src.as_ptr())) }
    }
    #[inline(always)]
    unsafe fn store(self, dst: &mut [f32]) {
        let dst = &mut dst[..Self::LANES];
        // SAFETY: writes the 16 values of `dst`.
        unsafe { _mm512_storeu_ps(dst.as_mut_ptr(), self.0) }
    }
    #[inline(always)]
    unsafe fn store_streaming(self, dst: &mut [f32]) {
        let dst = &mut dst[..Self::LANES];
        debug_assert_eq!(dst.as_ptr().align_offset(64), 0);
        // Miri cannot run `vmovntps` (inline assembly in `core::arch`): a plain store there.
        #[cfg(miri)]
        // SAFETY: the instruction set, our caller's.
        return unsafe { self.store(dst) };
        // SAFETY: `dst` holds 16 values, and our caller guarantees it starts on 64 bytes.
        #[cfg(not(miri))]
        unsafe {
            _mm512_stream_ps(dst.as_mut_ptr(), self.0)
        }
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
        // SAFETY: each row load reads the 8 values of `row`; the masked load of `rest` reads
        // only `rest` itself (masked-off lanes are not read).
        unsafe {
            let first = _mm512_set1_pd(f64::from(x0));
            let mut sums = (_mm512_setzero_pd(), _mm512_setzero_pd());
            let (rows, rest) = values.as_chunks::<8>();
            for row in rows {
                add_deviations(_mm256_loadu_ps(row.as_ptr()), first, &mut sums);
            }
            if !rest.is_empty() {
                // The lanes past `rest` hold `x0`, whose `d` is exactly 0.
                let mask = lane_mask(rest.len());
                let last = _mm512_mask_loadu_ps(_mm512_set1_ps(x0), mask, rest.as_ptr());
                add_deviations(_mm512_castps512_ps256(last), first, &mut sums);
            }
            (_mm512_reduce_add_pd(sums.0), _mm512_reduce_add_pd(sums.1))
        }
    }
}

/// `Io` for a 16-bit element type: sixteen values (32 bytes) widened to `f32` lanes by
/// `$widen` and rounded back by `$narrow`, both in registers.
macro_rules! io_16_bit {
    ($element:ty, $widen:ident, $narrow:ident) => {
        // SAFETY: loads and stores take slices cut to `LANES` by bounds-checked ranges; the
        // other methods are the trait's portable defaults.
        unsafe impl Io<$element> for Avx512 {
            type Rows = ();
            #[inline(always)]
            unsafe fn start_rows(_body: &[$element]) {}

            #[inline(always)]
            unsafe fn load(src: &[$element]) -> Self {
                let src = &src[..Self::LANES];
                // SAFETY: reads the 32 bytes of `src`.
                unsafe { Avx512($widen(_mm256_loadu_si256(src.as_ptr().cast()))) }
            }
            #[inline(always)]
            unsafe fn store(self, dst: &mut [$element]) {
                let dst = &mut dst[..Self::LANES];
                // SAFETY: writes the 32 bytes of `dst`.
                unsafe { _mm256_storeu_si256(dst.as_mut_ptr().cast(), $narrow(self.0)) }
            }
            #[inline(always)]
            unsafe fn store_streaming(self, dst: &mut [$element]) {
                let dst = &mut dst[..Self::LANES];
                debug_assert_eq!(dst.as_ptr().align_offset(32), 0);
                #[cfg(miri)]
                // SAFETY: the instruction set, our caller's.
                return unsafe { self.store(dst) };
                // SAFETY: `dst` holds 32 bytes, and our caller guarantees it starts on 32
                // bytes.
                #[cfg(not(miri))]
                unsafe {
                    _mm256_stream_si256(dst.as_mut_ptr().cast(), $narrow(self.0))
                }
            }
        }
    };
}

io_16_bit!(F16, from_f16, to_f16);
io_16_bit!(Bf16, from_bf16, to_bf16);

/// The sixteen lanes rounded to float16, to nearest even (`vcvtps2ph`; under Miri, which does
/// not have it, the portable conversion, which gives the same bits).
///
/// # Safety
/// The CPU supports AVX-512F.
#[inline(always)]
unsafe fn to_f16(v: __m512) -> __m256i {
    #[cfg(miri)]
    // SAFETY: the stores and loads access the arrays of this block.
    return unsafe {
        let mut lanes = [0.0f32; 16];
        _mm512_storeu_ps(lanes.as_mut_ptr(), v);
        let halves = lanes.map(|x| F16::from_f32(x).to_bits());
        _mm256_loadu_si256(halves.as_ptr().cast())
    };
    // SAFETY: our caller guarantees the instruction set; registers only.
    #[cfg(not(miri))]
    unsafe {
        _mm512_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v)
    }
}

/// Sixteen float16 values widened to `f32`, exactly (`vcvtph2ps`; under Miri, the portable
/// conversion).
///
/// # Safety
/// The CPU supports AVX-512F.
#[inline(always)]
unsafe fn from_f16(halves: __m256i) -> __m512 {
    #[cfg(miri)]
    // SAFETY: the stores and loads access the arrays of this block.
    return unsafe {
        let mut bits = [0u16; 16];
        _mm256_storeu_si256(bits.as_mut_ptr().cast(), halves);
        let lanes = bits.map(|b| F16::from_bits(b).to_f32());
        _mm512_loadu_ps(lanes.as_ptr())
    };
    // SAFETY: our caller guarantees the instruction set; registers only.
    #[cfg(not(miri))]
    unsafe {
        _mm512_cvtph_ps(halves)
    }
}

/// Sixteen bfloat16 values widened to `f32`, exactly: each the upper half of its `f32`.
///
/// # Safety
/// The CPU supports AVX-512F.
#[inline(always)]
unsafe fn from_bf16(halves: __m256i) -> __m512 {
    // SAFETY: our caller guarantees the instruction set; registers only.
    unsafe { _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(halves))) }
}

/// The sixteen lanes rounded to bfloat16, to nearest even, NaN made quiet (as
/// `Bf16::from_f32`), narrowed to sixteen 16-bit values.
///
/// # Safety
/// The CPU supports AVX-512F.
#[inline(always)]
unsafe fn to_bf16(v: __m512) -> __m256i {
    // SAFETY: our caller guarantees the instruction set; registers only.
    unsafe {
        let bits = _mm512_castps_si512(v);
        let upper = _mm512_srli_epi32::<16>(bits);
        let to_even = _mm512_add_epi32(
            _mm512_set1_epi32(0x7fff),
            _mm512_and_si512(upper, _mm512_set1_epi32(1)),
        );
        let rounded = _mm512_srli_epi32::<16>(_mm512_add_epi32(bits, to_even));
        let quiet_nan = _mm512_or_si512(upper, _mm512_set1_epi32(0x40));
        // NaN: a magnitude above infinity's bits (an integer compare, which Miri also runs).
        let magnitude = _mm512_and_si512(bits, _mm512_set1_epi32(0x7fff_ffff));
        let nan = _mm512_cmpgt_epi32_mask(magnitude, _mm512_set1_epi32(0x7f80_0000));
        _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(nan, rounded, quiet_nan))
    }
}

/// Reads the rows of a block from whole 64-byte lines, so that no load spans two cache lines
/// wherever the block starts: each vector is the last `16 - skew` values of one line and the
/// first `skew` of the next, put together by one `vpermt2ps`, the same values as a load where
/// the vector lies. With input and output 16 bytes past a line (where a large `Vec` starts),
/// loads split across two lines made whole one-thread calls 6% to 19% slower on
/// `(1, 320, 64, 64)` and `(8, 256, 56, 56)`.
pub(crate) struct AlignedRows {
    /// Whether `body` starts on a line, so that its vectors are whole lines.
    on_lines: bool,
    /// The line that holds the start of the next vector.
    line: *const f32,
    /// That line's values (lanes before `body` zero).
    current: __m512,
    /// `skew + lane`: the lanes of two lines that make up a vector.
    rotate: __m512i,
}

impl AlignedRows {
    /// The vector that starts in the current line and ends in `next`, the line after it: the
    /// values `values`, which only Miri reads (it has no `vpermt2ps`, but still checks every
    /// load of the lines).
    ///
    /// # Safety
    /// The CPU supports AVX-512F.
    #[inline(always)]
    unsafe fn vector_before(&self, next: __m512, values: &[f32]) -> Avx512 {
        #[cfg(miri)]
        return {
            let _ = (next, self.rotate);
            // SAFETY: our caller guarantees the instruction set; `load` reads `values`.
            unsafe { Avx512::load(values) }
        };
        #[cfg(not(miri))]
        {
            let _ = values;
            // SAFETY: our caller guarantees the instruction set; registers only.
            unsafe { Avx512(_mm512_permutex2var_ps(self.current, self.rotate, next)) }
        }
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
    // SAFETY: our caller guarantees the instruction set; registers only.
    unsafe {
        let lo = _mm256_cvtps_pd(_mm256_castps256_ps128(eight));
        let hi = _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(eight));
        let d = _mm512_sub_pd(
            _mm512_insertf64x4::<1>(_mm512_castpd256_pd512(lo), hi),
            first,
        );
        sums.0 = _mm512_add_pd(sums.0, d);
        sums.1 = _mm512_fmadd_pd(d, d, sums.1);
    }
}

/// `f` of each pair of lanes, one lane at a time: for Miri, which has no `vmaxps`, `vminps` or
/// `vcvtps2dq` on 512 bits; the same values as those instructions on the finite lanes the
/// exponential gives them.
///
/// # Safety
/// The CPU supports AVX-512F.
#[cfg(miri)]
#[inline(always)]
unsafe fn lane_by_lane(a: Avx512, b: Avx512, f: impl Fn(f32, f32) -> f32) -> Avx512 {
    let (mut x, mut y) = ([0.0f32; 16], [0.0f32; 16]);
    // SAFETY: our caller guarantees the instruction set; the stores and the load access the
    // arrays of this function.
    unsafe {
        _mm512_storeu_ps(x.as_mut_ptr(), a.0);
        _mm512_storeu_ps(y.as_mut_ptr(), b.0);
        for (x, y) in x.iter_mut().zip(y) {
            *x = f(*x, y);
        }
        Avx512(_mm512_loadu_ps(x.as_ptr()))
    }
}

/// A mask of the first `len` lanes (`len < 16`).
#[inline(always)]
fn lane_mask(len: usize) -> __mmask16 {
    debug_assert!(len < 16);
    ((1u32 << len) - 1) as __mmask16
}

entry_points!(Avx512, "avx512f");
