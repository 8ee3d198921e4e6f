//! The separate SiLU pass, the unfused way to get `silu(group_norm(x))` from our kernel: after a
//! plain GroupNorm has written `y`, a second pass over memory reads `y` back and writes
//! `y = y / (1 + exp(-y))` in place (for float16: widened to `f32`, computed, rounded back).
//!
//! It is as fast as a plain loop gets, so that the fused kernel is measured against a fair
//! second pass, not against a slow `exp`: `silu` below is the same arithmetic as the kernels'
//! vectorized SiLU (`exp.rs`: the argument clamped to `[-87.3, 88.3]`, `n = round(x / ln 2)` by
//! the `1.5 * 2^23` trick, Cephes' degree-6 polynomial, `2^n` from the exponent bits), written
//! as a branch-free `f32` function that the compiler vectorizes, in loops compiled for AVX-512F
//! or AVX2 + FMA on x86_64. Float16 goes through a buffer of 256 `f32` values: widened with
//! `vcvtph2ps`, the same loop, rounded back with `vcvtps2ph` (`elements.rs`). Elsewhere, the
//! portable loop.
//!
//! [`Exp::Libm`] is the pass as plain Rust code writes it, `y / (1 + (-y).exp())` with
//! `f32::exp`: a call into the C library per value, which the compiler does not vectorize (the
//! same widening and rounding for float16). It is measured for reference, without a target.

use crate::elements::{Elem, Half};
use groupnorm_optimized::{Bf16, F16};
use rayon::prelude::*;

const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// `ln 2` as `LN2_HI + LN2_LO`, with `LN2_HI` short enough that `n * LN2_HI` is exact.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Adding `1.5 * 2^23` rounds an `f32` below `2^22` in magnitude to an integer, to nearest
/// even, and leaves it in the low bits of the sum's mantissa.
const ROUNDER: f32 = 12_582_912.0;
const MIN_ARG: f32 = -87.3;
const MAX_ARG: f32 = 88.3;
/// Cephes' `expf`: `exp(r) = 1 + r + r^2 (P0 + P1 r + ... + P5 r^5)` for `|r| <= ln 2 / 2`.
const P: [f32; 6] = [
    0.5,
    0.166_666_66,
    0.041_665_796,
    0.008_333_452,
    0.001_398_199_9,
    0.000_198_756_91,
];

/// Values of float16 widened at a time, into a buffer that stays in L1.
const CHUNK: usize = 256;

/// Which exponential the pass computes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Exp {
    /// The kernels' polynomial, vectorized (see the module docs).
    Vectorized,
    /// `f32::exp`, one library call per value.
    Libm,
}

/// An element type the separate SiLU pass runs on.
pub trait SiluPass: Elem {
    /// `y = silu(y)` in place, on the calling thread, with the vectorized exponential.
    fn silu_pass(y: &mut [Self]);
    /// `y = silu(y)` in place, on the calling thread, with `f32::exp`.
    fn silu_pass_libm(y: &mut [Self]);
}

/// `y = silu(y)` in place, on the current rayon pool: from `MIN_PARALLEL_LEN` values (where the
/// kernels share their calls) one piece per thread, else on the calling thread.
pub fn silu_pass_parallel<T: SiluPass>(y: &mut [T], exp: Exp) {
    let pass = match exp {
        Exp::Vectorized => T::silu_pass,
        Exp::Libm => T::silu_pass_libm,
    };
    let threads = rayon::current_num_threads();
    if threads == 1 || y.len() < crate::MIN_PARALLEL_LEN {
        return pass(y);
    }
    let piece = y.len().div_ceil(threads).next_multiple_of(CHUNK);
    y.par_chunks_mut(piece).for_each(pass);
}

impl SiluPass for f32 {
    fn silu_pass_libm(y: &mut [f32]) {
        silu_lanes::<true>(y)
    }

    fn silu_pass(y: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU supports AVX-512F, checked just above.
                return unsafe { silu_f32_avx512(y) };
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU supports AVX2 and FMA, checked just above.
                return unsafe { silu_f32_avx2(y) };
            }
        }
        silu_slice(y)
    }
}

impl SiluPass for F16 {
    fn silu_pass(y: &mut [F16]) {
        silu_half::<F16, false>(y)
    }
    fn silu_pass_libm(y: &mut [F16]) {
        silu_half::<F16, true>(y)
    }
}

impl SiluPass for Bf16 {
    fn silu_pass(y: &mut [Bf16]) {
        silu_half::<Bf16, false>(y)
    }
    fn silu_pass_libm(y: &mut [Bf16]) {
        silu_half::<Bf16, true>(y)
    }
}

/// `z / (1 + exp(-z))`, branch-free so that loops of it vectorize (see the module docs).
#[inline(always)]
fn silu(z: f32) -> f32 {
    let x = -z;
    // Comparisons and selects (not `f32::max`, whose NaN rule costs more): a NaN stays NaN.
    let x = if x < MIN_ARG { MIN_ARG } else { x };
    let x = if x > MAX_ARG { MAX_ARG } else { x };
    let t = x.mul_add(LOG2_E, ROUNDER);
    let n = t - ROUNDER;
    let r = n.mul_add(-LN2_HI, x);
    let r = n.mul_add(-LN2_LO, r);
    let mut p = P[5];
    for &c in P[..5].iter().rev() {
        p = p.mul_add(r, c);
    }
    let e = p.mul_add(r * r, r) + 1.0;
    // `t`'s low mantissa bits hold `2^22 + n`, `n` in [-126, 127]: adding the bias and shifting
    // by 23 leaves `(n + 127) << 23`, the bits of `2^n`.
    let pow2 = f32::from_bits(t.to_bits().wrapping_add(127) << 23);
    z / (1.0 + e * pow2)
}

/// `y = silu(y)` over `f32` values: the loop the compiler vectorizes.
#[inline(always)]
fn silu_slice(y: &mut [f32]) {
    for v in y {
        *v = silu(*v);
    }
}

/// `y = silu(y)` over `f32` values: with `LIBM`, `f32::exp` per value; else [`silu_slice`].
#[inline(always)]
fn silu_lanes<const LIBM: bool>(y: &mut [f32]) {
    if LIBM {
        for v in y {
            *v /= 1.0 + (-*v).exp();
        }
    } else {
        silu_slice(y)
    }
}

/// [`silu_slice`] compiled for AVX-512F.
///
/// # Safety
/// The CPU supports AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn silu_f32_avx512(y: &mut [f32]) {
    silu_slice(y)
}

/// [`silu_slice`] compiled for AVX2 and FMA.
///
/// # Safety
/// The CPU supports AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn silu_f32_avx2(y: &mut [f32]) {
    silu_slice(y)
}

/// The separate pass over 16-bit values (with `f32::exp` with `LIBM`): through `f32` vectors
/// where the CPU converts them, else one value at a time.
fn silu_half<H: Half, const LIBM: bool>(y: &mut [H]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F, checked just above.
            return unsafe { silu_half_avx512::<H, LIBM>(y) };
        }
        if std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
            && std::is_x86_feature_detected!("f16c")
        {
            // SAFETY: the CPU supports AVX2, FMA and F16C, checked just above.
            return unsafe { silu_half_avx2::<H, LIBM>(y) };
        }
    }
    for v in y {
        let mut lane = [v.as_f32()];
        silu_lanes::<LIBM>(&mut lane);
        *v = H::round_from(lane[0]);
    }
}

/// Per [`CHUNK`] values: widened into `f32` lanes by vectors of 16, [`silu_lanes`], rounded
/// back.
///
/// # Safety
/// The CPU supports AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn silu_half_avx512<H: Half, const LIBM: bool>(y: &mut [H]) {
    use std::arch::x86_64::*;
    let mut buffer = [0.0f32; CHUNK];
    for chunk in y.chunks_mut(CHUNK) {
        let lanes = &mut buffer[..chunk.len()];
        let mut wide = lanes.chunks_exact_mut(16);
        let mut halves = chunk.chunks_exact(16);
        for (w, h) in (&mut wide).zip(&mut halves) {
            // SAFETY: the CPU supports AVX-512F (our caller's guarantee); `h` and `w` hold 16
            // values each, and the store writes those of `w`.
            unsafe { _mm512_storeu_ps(w.as_mut_ptr(), H::widen16(h)) };
        }
        for (w, h) in wide.into_remainder().iter_mut().zip(halves.remainder()) {
            *w = h.as_f32();
        }
        silu_lanes::<LIBM>(lanes);
        let mut wide = lanes.chunks_exact(16);
        let mut halves = chunk.chunks_exact_mut(16);
        for (w, h) in (&mut wide).zip(&mut halves) {
            // SAFETY: the CPU supports AVX-512F; `w` and `h` hold 16 values each: the load
            // reads those of `w`, the store writes the 32 bytes of `h`.
            unsafe {
                let value = _mm512_loadu_ps(w.as_ptr());
                _mm256_storeu_si256(h.as_mut_ptr().cast(), H::narrow16(value));
            }
        }
        for (w, h) in wide.remainder().iter().zip(halves.into_remainder()) {
            *h = H::round_from(*w);
        }
    }
}

/// As [`silu_half_avx512`], by vectors of 8.
///
/// # Safety
/// The CPU supports AVX2, FMA and F16C.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn silu_half_avx2<H: Half, const LIBM: bool>(y: &mut [H]) {
    use std::arch::x86_64::*;
    let mut buffer = [0.0f32; CHUNK];
    for chunk in y.chunks_mut(CHUNK) {
        let lanes = &mut buffer[..chunk.len()];
        let mut wide = lanes.chunks_exact_mut(8);
        let mut halves = chunk.chunks_exact(8);
        for (w, h) in (&mut wide).zip(&mut halves) {
            // SAFETY: the CPU supports AVX2 and F16C (our caller's guarantee); `h` and `w`
            // hold 8 values each, and the store writes those of `w`.
            unsafe { _mm256_storeu_ps(w.as_mut_ptr(), H::widen8(h)) };
        }
        for (w, h) in wide.into_remainder().iter_mut().zip(halves.remainder()) {
            *w = h.as_f32();
        }
        silu_lanes::<LIBM>(lanes);
        let mut wide = lanes.chunks_exact(8);
        let mut halves = chunk.chunks_exact_mut(8);
        for (w, h) in (&mut wide).zip(&mut halves) {
            // SAFETY: the CPU supports AVX2 and F16C; `w` and `h` hold 8 values each: the
            // load reads those of `w`, the store writes the 16 bytes of `h`.
            unsafe {
                let value = _mm256_loadu_ps(w.as_ptr());
                _mm_storeu_si128(h.as_mut_ptr().cast(), H::narrow8(value));
            }
        }
        for (w, h) in wide.remainder().iter().zip(halves.into_remainder()) {
            *h = H::round_from(*w);
        }
    }
}
