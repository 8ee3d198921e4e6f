//! The element types the benchmark runs: `f32`, and the 16-bit [`F16`] and [`Bf16`], with their
//! names (ours and PyTorch's) and their conversions ([`Elem`]). For the 16-bit types, [`Half`]
//! adds the vector conversions between 16-bit values in memory and `f32` lanes on x86_64, with
//! the instructions the kernels use: F16C's and AVX-512F's `vcvtph2ps` / `vcvtps2ph` for
//! float16, and for bfloat16 a shift on the way in and, on the way out, round to nearest even by
//! an integer add and a shift, NaN made quiet (`Bf16::from_f32`'s bits). The 16-bit roofline
//! (`roofline.rs`) and the separate SiLU pass (`silu.rs`) are built on them.

use groupnorm_optimized::{Bf16, Element, F16};
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// An element type of the benchmark's input and output. (Its names differ from those of the
/// crate's sealed supertrait of `Element`, `NAME`, `from_f32` and `to_f32`, which would be
/// ambiguous.)
pub trait Elem: Element + Copy + Default + Send + Sync + 'static {
    /// Our name for it, in case names and tables: `f32`, `f16`, `bf16`.
    const LABEL: &'static str;
    /// PyTorch's name of the same dtype, for `torch_worker.py`.
    const TORCH: &'static str;
    /// `value` rounded to nearest even.
    fn round_from(value: f32) -> Self;
    /// The value, exactly.
    fn as_f32(self) -> f32;
}

impl Elem for f32 {
    const LABEL: &'static str = "f32";
    const TORCH: &'static str = "float32";
    fn round_from(value: f32) -> f32 {
        value
    }
    fn as_f32(self) -> f32 {
        self
    }
}

impl Elem for F16 {
    const LABEL: &'static str = "f16";
    const TORCH: &'static str = "float16";
    fn round_from(value: f32) -> F16 {
        F16::from_f32(value)
    }
    fn as_f32(self) -> f32 {
        F16::to_f32(self)
    }
}

impl Elem for Bf16 {
    const LABEL: &'static str = "bf16";
    const TORCH: &'static str = "bfloat16";
    fn round_from(value: f32) -> Bf16 {
        Bf16::from_f32(value)
    }
    fn as_f32(self) -> f32 {
        Bf16::to_f32(self)
    }
}

/// A 16-bit element type, with its vector conversions on x86_64 (none elsewhere, where the
/// benchmark's 16-bit loops convert one value at a time through [`Elem`]).
pub trait Half: Elem {
    /// The first 16 values of `src` (which must hold 16) in sixteen `f32` lanes.
    ///
    /// # Safety
    /// The CPU supports AVX-512F.
    #[cfg(target_arch = "x86_64")]
    unsafe fn widen16(src: &[Self]) -> __m512;

    /// Sixteen `f32` lanes rounded to nearest even, as sixteen 16-bit values.
    ///
    /// # Safety
    /// The CPU supports AVX-512F.
    #[cfg(target_arch = "x86_64")]
    unsafe fn narrow16(v: __m512) -> __m256i;

    /// The first 8 values of `src` (which must hold 8) in eight `f32` lanes.
    ///
    /// # Safety
    /// The CPU supports AVX2 and F16C.
    #[cfg(target_arch = "x86_64")]
    unsafe fn widen8(src: &[Self]) -> __m256;

    /// Eight `f32` lanes rounded to nearest even, as eight 16-bit values.
    ///
    /// # Safety
    /// The CPU supports AVX2 and F16C.
    #[cfg(target_arch = "x86_64")]
    unsafe fn narrow8(v: __m256) -> __m128i;
}

impl Half for F16 {
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn widen16(src: &[F16]) -> __m512 {
        let src = &src[..16];
        // SAFETY: our caller guarantees AVX-512F; reads the 32 bytes of `src`.
        unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(src.as_ptr().cast())) }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn narrow16(v: __m512) -> __m256i {
        // SAFETY: our caller guarantees AVX-512F; registers only.
        unsafe { _mm512_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v) }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn widen8(src: &[F16]) -> __m256 {
        let src = &src[..8];
        // SAFETY: our caller guarantees AVX2 and F16C; reads the 16 bytes of `src`.
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(src.as_ptr().cast())) }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn narrow8(v: __m256) -> __m128i {
        // SAFETY: our caller guarantees F16C; registers only.
        unsafe { _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v) }
    }
}

impl Half for Bf16 {
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn widen16(src: &[Bf16]) -> __m512 {
        let src = &src[..16];
        // SAFETY: our caller guarantees AVX-512F; reads the 32 bytes of `src`.
        unsafe {
            let halves = _mm512_cvtepu16_epi32(_mm256_loadu_si256(src.as_ptr().cast()));
            _mm512_castsi512_ps(_mm512_slli_epi32::<16>(halves))
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn narrow16(v: __m512) -> __m256i {
        // SAFETY: our caller guarantees AVX-512F; registers only.
        unsafe {
            let bits = _mm512_castps_si512(v);
            let upper = _mm512_srli_epi32::<16>(bits);
            let to_even = _mm512_add_epi32(
                _mm512_set1_epi32(0x7fff),
                _mm512_and_si512(upper, _mm512_set1_epi32(1)),
            );
            let rounded = _mm512_srli_epi32::<16>(_mm512_add_epi32(bits, to_even));
            let quiet_nan = _mm512_or_si512(upper, _mm512_set1_epi32(0x40));
            let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
            _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(nan, rounded, quiet_nan))
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn widen8(src: &[Bf16]) -> __m256 {
        let src = &src[..8];
        // SAFETY: our caller guarantees AVX2; reads the 16 bytes of `src`.
        unsafe {
            let halves = _mm256_cvtepu16_epi32(_mm_loadu_si128(src.as_ptr().cast()));
            _mm256_castsi256_ps(_mm256_slli_epi32::<16>(halves))
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn narrow8(v: __m256) -> __m128i {
        // SAFETY: our caller guarantees AVX2; registers only.
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
}
