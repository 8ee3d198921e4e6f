//! The exponential, for SiLU: in `f32` lanes over the [`Vector`] trait (written once for every
//! instruction set), and in `f64` for the exact path.
//!
//! In lanes, `exp(x)` for `x` clamped to `[-87.3, 88.3]` (where `2^n` below stays a normal
//! `f32`): `n = round(x / ln 2)`, `r = x - n ln 2` (with `ln 2` in two parts, so `r` is exact to
//! within an ulp, `|r| <= ln 2 / 2`), `exp(r)` by a degree-6 polynomial (Cephes' `expf`
//! coefficients), then `exp(x) = exp(r) * 2^n`. The rounding to an integer is the `1.5 * 2^23`
//! trick, the same bits on every instruction set. Measured against `f64::exp` over every
//! `f32` in `[-87.3, 88.3]` (`exp_error_over_every_f32`, an ignored test, 2026-12-02, AMD EPYC
//! Zen 4): at most 1.010 ulp of the exact value, at `x = -5.8778844`, on the portable lane
//! (whose `mul_add` rounds in `f64`, then to `f32`) and on AVX2 (`f32` FMA) alike; the unit
//! test `exp_is_within_two_ulps_on_a_sweep` holds every 4099th `f32` of the range to 2 ulp.
//! Beyond the clamp the result is that of the clamp: about `1.2e-38` below, `2.1e38` above,
//! which SiLU turns into `z` and (about) 0, the values it takes there.

use crate::vector::Vector;

const LOG2_E: f32 = core::f32::consts::LOG2_E;
/// `ln 2` as `LN2_HI + LN2_LO`, with `LN2_HI` short enough that `n * LN2_HI` is exact.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Adding and subtracting `1.5 * 2^23` rounds an `f32` below `2^22` in magnitude to an integer,
/// to nearest even.
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

/// `exp(x)` in every lane of `N` vectors (see the module docs for its accuracy and range), each
/// step of the computation taken for all of them before the next: independent chains side by
/// side, which the CPU overlaps. One vector at a time, its chain of about twenty dependent
/// operations left the CPU waiting: computing the output pass's four vectors in step made
/// SiLU's share of an avx2 call 1.6 times faster (0.515 against 0.324 ns per value on
/// `(1, 1280, 16, 16)`, one thread, old and new builds alternating; avx512 0.257 against
/// 0.226; 2026-12-02, AMD EPYC Zen 4).
///
/// # Safety
/// The CPU supports `V`'s instruction set.
#[inline(always)]
pub(crate) unsafe fn exp<V: Vector, const N: usize>(x: [V; N]) -> [V; N] {
    // SAFETY: our caller guarantees the instruction set; registers only.
    unsafe {
        let (low, high) = (V::splat(MIN_ARG), V::splat(MAX_ARG));
        let (rounder, log2_e) = (V::splat(ROUNDER), V::splat(LOG2_E));
        let mut x = x;
        let mut n = x;
        let mut r = x;
        for i in 0..N {
            x[i] = x[i].max(low).min(high);
            n[i] = x[i].mul_add(log2_e, rounder).sub(rounder);
            r[i] = n[i].mul_add(V::splat(-LN2_HI), x[i]);
        }
        for i in 0..N {
            r[i] = n[i].mul_add(V::splat(-LN2_LO), r[i]);
        }
        let mut p = [V::splat(P[5]); N];
        for &c in P[..5].iter().rev() {
            for i in 0..N {
                p[i] = p[i].mul_add(r[i], V::splat(c));
            }
        }
        let mut e = p;
        for i in 0..N {
            let r2 = r[i].mul(r[i]);
            e[i] = p[i].mul_add(r2, r[i]).add(V::splat(1.0)).mul(V::pow2(n[i]));
        }
        e
    }
}

/// `z * sigmoid(z) = z / (1 + exp(-z))` in every lane of `N` vectors, as PyTorch computes SiLU.
///
/// # Safety
/// The CPU supports `V`'s instruction set.
#[inline(always)]
pub(crate) unsafe fn silu<V: Vector, const N: usize>(z: [V; N]) -> [V; N] {
    // SAFETY: our caller guarantees the instruction set; registers only.
    unsafe {
        let mut minus = z;
        for m in &mut minus {
            *m = V::splat(0.0).sub(*m);
        }
        let mut y = exp(minus);
        for i in 0..N {
            y[i] = z[i].div(y[i].add(V::splat(1.0)));
        }
        y
    }
}

/// `z / (1 + exp(-z))` in `f64`, for the exact path.
pub(crate) fn silu_f64(z: f64) -> f64 {
    z / (1.0 + exp_f64(-z))
}

/// `exp` for `f64`: the library's through `std`, else `exp_taylor`.
#[inline]
fn exp_f64(x: f64) -> f64 {
    #[cfg(feature = "std")]
    return x.exp();
    #[cfg(not(feature = "std"))]
    return exp_taylor(x);
}

/// `exp` for `f64` without `std` (core has none): `x = n ln 2 + r` with `|r| <= ln 2 / 2`, a
/// Taylor series of `exp(r)` to the 14th power (its remainder under `2^-60`), and `2^n` applied
/// in two steps so that results near the ends of the range are neither lost nor infinite too
/// early. Within a few ulps of `f64::exp`, far below the `f32` rounding that follows it.
#[cfg(any(test, not(feature = "std")))]
fn exp_taylor(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x > 709.8 {
        return f64::INFINITY;
    }
    if x < -745.2 {
        return 0.0;
    }
    const LN2_HI: f64 = 0.693_147_180_369_123_8;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    let n = (x * core::f64::consts::LOG2_E + 6_755_399_441_055_744.0) - 6_755_399_441_055_744.0;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 1..=14 {
        term *= r / f64::from(k);
        sum += term;
    }
    // `n` lies in [-1075, 1024]: two factors of 2^(n/2), each a normal f64.
    let n = n as i32;
    let half = n / 2;
    let pow2 = |e: i32| f64::from_bits(((e + 1023) as u64) << 52);
    sum * pow2(half) * pow2(n - half)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error of `exp::<f32>` (the portable kernel's lane) at `x`, in ulps of the exact
    /// value rounded to `f32`.
    fn ulps(x: f32) -> f64 {
        // SAFETY: the portable vector needs no instruction set.
        let [ours] = unsafe { exp::<f32, 1>([x]) };
        let exact = f64::from(x).exp();
        let ulp = f64::from((exact as f32).next_up()) - f64::from(exact as f32);
        (f64::from(ours) - exact).abs() / ulp
    }

    #[test]
    // Arithmetic over tens of thousands of values: minutes under Miri, which has nothing to
    // check in it (no unsafe code, no memory but arrays).
    #[cfg_attr(miri, ignore)]
    fn exp_is_within_two_ulps_on_a_sweep() {
        let (lo, hi) = (MIN_ARG, MAX_ARG);
        let mut worst: (f64, f32) = (0.0, 0.0);
        for bits in (0..u32::MAX).step_by(4099) {
            let x = f32::from_bits(bits);
            if x.is_finite() && (lo..=hi).contains(&x) {
                let e = ulps(x);
                if e > worst.0 {
                    worst = (e, x);
                }
            }
        }
        assert!(worst.0 <= 2.0, "{} ulps at {:e}", worst.0, worst.1);
    }

    /// `exp` over 8 lanes at once with AVX2 and FMA, as the avx2 kernel inlines it.
    ///
    /// # Safety
    /// The CPU supports AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn exp_avx2(x: &[f32; 8]) -> [f32; 8] {
        use crate::vector::Io;
        let mut out = [0.0f32; 8];
        // SAFETY: our caller guarantees the instruction set; the load and the store take
        // slices of 8 values.
        unsafe { exp([<crate::avx2::Avx2 as Io<f32>>::load(x)])[0].store(&mut out) };
        out
    }

    /// Every `f32` of the range, on the portable lane and (where the CPU has it) AVX2:
    /// `cargo test --release -p groupnorm-optimized exp_error -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn exp_error_over_every_f32() {
        let in_range = |bits: u32| {
            let x = f32::from_bits(bits);
            x.is_finite() && (MIN_ARG..=MAX_ARG).contains(&x)
        };
        let mut worst: (f64, f32) = (0.0, 0.0);
        for bits in (0..u32::MAX).filter(|&b| in_range(b)) {
            let e = ulps(f32::from_bits(bits));
            if e > worst.0 {
                worst = (e, f32::from_bits(bits));
            }
        }
        std::println!("portable exp: worst {} ulps at {:e}", worst.0, worst.1);
        assert!(worst.0 <= 2.0);
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            let exact_ulps = |x: f32, ours: f32| {
                let exact = f64::from(x).exp();
                let ulp = f64::from((exact as f32).next_up()) - f64::from(exact as f32);
                (f64::from(ours) - exact).abs() / ulp
            };
            let mut worst: (f64, f32) = (0.0, 0.0);
            let mut lanes = [0.0f32; 8];
            let mut filled = 0;
            // Every value of the range once: the last vector's unfilled lanes repeat 0.
            let values = (0..u32::MAX).filter(|&b| in_range(b)).map(f32::from_bits);
            for x in values.map(Some).chain([None]) {
                if let Some(x) = x {
                    lanes[filled] = x;
                    filled += 1;
                }
                if filled == 8 || (x.is_none() && filled > 0) {
                    lanes[filled..].fill(0.0);
                    // SAFETY: the CPU has AVX2 and FMA, just checked.
                    let out = unsafe { exp_avx2(&lanes) };
                    for (&x, &y) in lanes.iter().zip(&out).take(filled) {
                        let e = exact_ulps(x, y);
                        if e > worst.0 {
                            worst = (e, x);
                        }
                    }
                    filled = 0;
                }
            }
            std::println!("avx2 exp: worst {} ulps at {:e}", worst.0, worst.1);
            assert!(worst.0 <= 2.0);
        }
    }

    #[test]
    fn exp_clamps_beyond_its_range() {
        // SAFETY: the portable vector needs no instruction set.
        let [low, high] = unsafe { exp::<f32, 2>([-1e3, 1e3]) };
        assert!(low > 0.0 && low < 2e-38, "{low:e}");
        assert!(high > 1e38 && high.is_finite(), "{high:e}");
    }

    #[test]
    fn silu_is_z_times_sigmoid() {
        for z in [
            -100.0f32, -80.0, -20.0, -1.5, -1e-3, 0.0, 1e-3, 0.7, 3.0, 20.0, 1e4,
        ] {
            // SAFETY: as above.
            let [ours] = unsafe { silu::<f32, 1>([z]) };
            let exact = silu_f64(f64::from(z));
            // Relative where the exponential is in range; below it, about 0 (the clamp).
            let tolerance = if z >= MIN_ARG {
                4.0 * f64::from(f32::EPSILON) * exact.abs()
            } else {
                1e-36
            };
            assert!(
                (f64::from(ours) - exact).abs() <= tolerance,
                "silu({z}) = {ours:e}, exact {exact:e}"
            );
        }
        assert_eq!(silu_f64(f64::INFINITY), f64::INFINITY);
        assert!(silu_f64(f64::NAN).is_nan());
    }

    #[test]
    // Arithmetic over tens of thousands of values: minutes under Miri, which has nothing to
    // check in it (no unsafe code, no memory but arrays).
    #[cfg_attr(miri, ignore)]
    fn taylor_exp_matches_std() {
        let mut x = -745.0;
        while x < 709.0 {
            let (ours, std) = (exp_taylor(x), x.exp());
            // Relative for normal results, a few of the smallest subnormals below.
            let tolerance = (4.0 * f64::EPSILON * std).max(4.0 * 5e-324);
            assert!(
                (ours - std).abs() <= tolerance,
                "exp({x}) = {ours:e}, std {std:e}"
            );
            x += 0.37;
        }
        assert_eq!(exp_taylor(800.0), f64::INFINITY);
        assert_eq!(exp_taylor(-800.0), 0.0);
        assert!(exp_taylor(f64::NAN).is_nan());
    }
}
