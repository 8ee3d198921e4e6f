//! Comparisons against PyTorch, with tolerances fixed up front from an error analysis.
//!
//! Notation: `e32 = f32::EPSILON`, `e64 = f64::EPSILON`. For a group, `mu` and `r` are
//! PyTorch's float64 mean and rstd, `L` the group length and `kappa = |mu| * r`: how many
//! spreads the mean sits from zero, the condition number of centring. `gamma_c` is the weight
//! of channel `c` (1 without weight).
//!
//! # Where the errors come from
//!
//! `y = (x - mu) * r * gamma + beta`. Every implementation here starts from the same float32
//! inputs (exact in float64), so the differences are rounding errors only:
//!
//! 1. **The mean.** A sum of `L` terms is off by at most `gamma_L * sum |x|` (Higham, §4.2), so
//!    the mean by `c_L * e * mean|x| <= c_L * e * (|mu| + sigma)`, `sigma` the standard deviation.
//!    `c_L` grows like `log2 L` for cascade / pairwise sums (PyTorch), like `0.2 * sqrt(L)` for a
//!    sequential sum with random rounding (nalgebra's, in the reference), and like `L` in the
//!    worst case. In `y` the mean error is multiplied by `r * |gamma|`:
//!    `c_L * e * |gamma| * (kappa + sigma * r)`, and `sigma * r <= 1` when `eps >= 0`.
//! 2. **The variance.** Two-pass has relative error `~ c_L * e`; Welford's update (PyTorch) has
//!    `~ c_L * e * (1 + kappa)` (Chan, Golub & LeVeque, 1983). `rstd = 1/sqrt(var + eps)` halves
//!    it, unless `eps < 0`: then `var + eps` cancels and amplifies it by
//!    `cond_eps = (var + |eps|) / (var + eps) = 1 + 2 |eps| r^2`. In `y` a relative error of `r`
//!    is a relative error of `y - beta`, and `|y - beta| <= |y| + |beta|`.
//! 3. **PyTorch folds the mean into the offset**: `y = x * (r gamma) + (beta - mu r gamma)`. The
//!    two terms are each about `kappa * |gamma|` and cancel, leaving an error `~ e * kappa * |gamma|`.
//! 4. The final multiply and add: a few `e * max(1, |y|)`.
//!
//! Adding these up, two implementations of the same precision agree to
//! `C * c_L * e * s` with the condition-aware scale
//!
//! ```text
//! s = max(1, |y64|) + |gamma_c| * kappa
//! ```
//!
//! and `C` a small constant (a few: `|beta|` of the random affine parameters is a few at most).
//!
//! # The tolerances
//!
//! * [`summation_factor`]`(L) = 16 * (1 + log2 L)`: `c_L` with a safety factor of 16 over
//!   cascade summation, and above the `0.2 * sqrt(L)` of a sequential f64 sum for every `L` up to
//!   about `2^26` (the largest group in the vectors is `2^16`).
//! * **(a) reference vs PyTorch float64**: `|y_ref - y64| <= summation_factor(L) * e64 * s * cond_eps`;
//!   `|mean_ref - mu| <= summation_factor(L) * e64 * (|mu| + spread)` where `spread` bounds
//!   `sigma`: `1/r = sqrt(var + eps)` for `eps >= 0`, `sqrt(1/r^2 - eps) = sigma` for `eps < 0`,
//!   and `sqrt(-eps)` where `var + eps < 0` (NaN `r`: then `sigma < sqrt(-eps)`);
//!   `|rstd_ref - r| <= summation_factor(L) * e64 * (1 + kappa) * cond_eps * r`.
//!   (`cond_eps = 1` whenever `eps >= 0`, which is every case but one.)
//! * **(b) reference vs PyTorch float32**, which measures PyTorch's own float32 accuracy:
//!   `|y_ref - y32| <= summation_factor(L) * e32 * s * cond_eps` (the reference is exact at this
//!   scale, so this is PyTorch float32's error). PyTorch's channels-last kernel takes the
//!   variance as `E[x^2] - E[x]^2` from plain sums, whose error is `c_L e (var + mean^2)`:
//!   relative `c_L e (1 + kappa^2)`, passed by `rstd` to `y - beta`; channels-last cases add
//!   `(|y64| + |beta|) kappa^2` to `s` (issue 14 measured 1.2e10 eps32 at `kappa = 1e4`). Where
//!   `c_L e kappa^2 >= 1` that variance is lost altogether and no linear bound holds (`rstd`
//!   off by orders of magnitude multiplies the mean's error too): there only a finite `y` is
//!   asked of PyTorch. `s` always takes PyTorch float64's `y`, never the float32 value under
//!   test.
//! * **(c) each optimized kernel vs PyTorch float64**, the project's accuracy claim: no `kappa`
//!   term, because the kernels shift each group by an estimate of its mean before accumulating:
//!   `|y_k - y64| <= 16 * e32 * max(1, |y64|)`, `|mean_k - mu| <= 4 * e32 * (|mu| + spread)`,
//!   `|rstd_k - r| <= 8 * e32 * r`.
//! * **At least as accurate as PyTorch float32**: besides, per case, the worst `y` error in
//!   units of `e32 * max(1, |y64|)` must not exceed PyTorch float32's in the same units by more
//!   than [`PYTORCH_MARGIN_EPS32`] (1). One such unit is at least one ulp of `y` (an ulp of `y`
//!   is at most `e32 * |y|`, and below `e32` where `|y| < 1`), so two implementations that
//!   both round correctly, or both land within an ulp, never fail it by the luck of their
//!   rounding; a subject that loses digits PyTorch keeps does.
//! * **(d) SIMD kernels vs the scalar kernel**: `|y_k - y_scalar| <= 8 * e32 * max(1, |y_scalar|)`.
//!
//! # float16 and bfloat16, and SiLU
//!
//! A case in a half type `T` (`eps_T` its epsilon: `2^-10` for float16, `2^-7` for bfloat16) has
//! inputs that are values of `T`, and PyTorch float64 on them, upcast, is still exact at `T`'s
//! scale. A subject returns its `y` in `T` (upcast to `f64`), so it is rounded once more:
//!
//! * **(c) for a half-type output**: `|y - y64| <= ulp_T(y64) / 2 + 16 * e32 * max(1, |y64|)`
//!   ([`kernel_y_tolerance`]): the rounding to `T` (half the spacing of `T`'s values at `y64`,
//!   [`DType::ulp`]) plus the float32 claim for what comes before it. Where `|y64|` is at or
//!   beyond `T`'s overflow threshold ([`DType::overflow_threshold`]), the correctly rounded
//!   value is an infinity: one of `y64`'s sign is accepted there ([`rounds_to_infinity`]),
//!   besides a finite value within the tolerance. Where `mean` and `rstd` are of `T` (PyTorch
//!   returns them in the input's type when the weight and bias are of that type or absent,
//!   `Case::stats_dtype`), half an ulp of `T` is added to their tolerances of (c) likewise
//!   ([`kernel_mean_tolerance`], [`kernel_rstd_tolerance`]).
//! * **SiLU** (`y = silu(z) = z / (1 + exp(-z))`, `z` the GroupNorm output): its slope is below
//!   1.1, and `|silu'(z)| * max(1, |z|) <= 1.28 * max(1, |silu(z)|)` for every `z` (below zero,
//!   `|silu'(z) * z|` is at most 0.3; above, `silu(z) >= z / 2`; the maximum is at `z = 1.28`,
//!   where `silu(z) = 1`), so an error in `z` of
//!   `C * e * (max(1, |z|) + |gamma| kappa)` is one in `y` of at most
//!   [`SILU_CONDITION`]` * C * e * s` with the scale `s` of `y64` as above; and SiLU itself rounds
//!   by a few `e * |y|`. So SiLU changes nothing in (c) (16 eps32 of `max(1, |y64|)`, plus the
//!   rounding to `T`), and multiplies the bounds of (a) and (b) by [`SILU_CONDITION`].
//! * **(b) against PyTorch in `T`**: PyTorch computes in float32 and rounds to `T` at the end
//!   (for SiLU, `F.silu` of its GroupNorm output in `T`: twice, `z` to `T` and then `y`); check
//!   (b) adds half an ulp of `T` at `|y64|` plus the bound, and for SiLU the rounding of `z` to
//!   `T` passed through SiLU, `SILU_CONDITION * eps_T / 2 * max(1, |y64|)`. Where PyTorch's
//!   value in `T` is the infinity `y64` rounds to, there is nothing to bound.
//! * **At least as accurate as PyTorch**, in the case's own type: errors are measured in
//!   `eps_T * max(1, |y64|)` ([`Accuracy::type_units`]; `eps32` for a float32 case, so nothing
//!   changes there), and a subject's worst may exceed PyTorch's in `T` (the block named by the
//!   case's `dtype`) by at most [`PYTORCH_MARGIN_EPS32`] (1) such unit: one unit is at least one
//!   ulp of `y` in `T`, so two implementations that both round within an ulp never fail it. In
//!   eps32 the rounding to `T` (up to 4096 eps32 in float16, 65536 in bfloat16) would swamp every
//!   difference. PyTorch float32 on the values upcast (the optional `expected.float32` block of
//!   a half-type case) is reported beside, in eps32 ([`Accuracy::of_pytorch_in_float32`]), but
//!   not compared with: a result in `T` cannot be held to float32's accuracy.
//!
//! Every subject (`subject`) is checked by [`check_outputs`]: against (c)'s tolerances, or (a)'s
//! for an `f64` subject ([`Precision`]), and against PyTorch in the case's type (PyTorch float32
//! for a float32 case) with the margin. The test kit (`kit`) holds the kernels to the constants
//! of (c) against the `f64` reference on the same data as well, in the tests and the fuzz
//! targets.
//!
//! # Non-finite values
//!
//! In `y`, NaN must sit exactly where PyTorch float64 has NaN, and ±inf must match exactly.
//! For `mean` and `rstd`, where PyTorch's value is not finite ours must not be finite either, but
//! it need not be the same non-finite value: PyTorch's Welford mean of a group holding an
//! infinity depends on where the infinity sits. `m += (x - m) / n` turns `m` into `±inf` at the
//! infinity, and the next update computes `x - inf` and then `inf - inf = NaN`; so the mean is
//! NaN when the infinity is first or in the middle, and `±inf` only when no update follows it:
//! last in a short group (`posinf_last_of_group`, 32 values). In longer groups PyTorch merges
//! partial means, and the same infinity last gave NaN (float32 at 100 values, float64 at
//! 20000, torch 2.15). The reference's plain sum gives `±inf` wherever it sits.
//! Where PyTorch's value is finite, ours must be finite and within the tolerance.
//!
//! PyTorch float32 overflows on groups whose squares exceed the float32 range (`|x|` above
//! `sqrt(f32::MAX)`, about `1.8e19`: the `huge_scale_1e30` and `near_f32_max` cases) and returns
//! NaN there while float64 is finite. Check (b) accepts that, and one more case where PyTorch
//! float32 loses a group's statistics and float64 does not ([`f32_statistics_lost`]): its
//! `rstd` is NaN, infinite or 0 where float64's is finite and nonzero, in a group with a value
//! beyond `sqrt(f32::MAX)` (its variance overflows: alternating `±f32::MAX`, where its
//! contiguous kernel gives NaN and its channels-last kernel `rstd = 0`) or whose float64 `var + eps` is below
//! `f32::MIN_POSITIVE` (its squares underflow: float32 subnormal data with `eps` 0, -0.0,
//! 5e-324 or 1e-310, where it gives `rstd = inf` and `y = ±inf` or NaN). Those groups' `y` are
//! not compared with PyTorch float32; nothing else is accepted. The kernels are always compared
//! with PyTorch float64, which they must match there too.
//!
//! Check (c) takes PyTorch float64 as exact at float32's scale. It computes
//! `y = x * scale + (beta - mean * scale)`, whose rounding grows with `kappa = |mean| * rstd`:
//! about `e64 * kappa * |gamma|`, far below `e32` for every vector (kappa up to 1e7). A constant
//! group of -2.5 under `eps = 1e-50` (kappa 2.5e25) put PyTorch float64's `y` off by 5.4e8
//! (where `y` is the bias), so `eps_below_f32_range` makes its constant group 0.

use crate::format::format_units;
use crate::run::KernelOutput;
use crate::subject::{CaseInputs, Outputs, Precision};
use crate::variant::{Activation, DType, Layout, SchemaName};
use crate::vectors::Case;
use groupnorm_reference::GroupNormOutput;

/// `f32::EPSILON` as `f64`.
pub const E32: f64 = f32::EPSILON as f64;
/// `f64::EPSILON`.
pub const E64: f64 = f64::EPSILON;

/// (c) A kernel's `y` against PyTorch float64, in `e32 * max(1, |y64|)`: the project's
/// accuracy claim.
pub const KERNEL_Y_EPS32: f64 = 16.0;
/// (c) A kernel's mean against PyTorch float64, in `e32 * (|mu| + spread)`.
pub const KERNEL_MEAN_EPS32: f64 = 4.0;
/// (c) A kernel's rstd against PyTorch float64, relative, in `e32`.
pub const KERNEL_RSTD_EPS32: f64 = 8.0;
/// How far, in `e32 * max(1, |y64|)`, a subject's worst `y` error may exceed PyTorch
/// float32's on the same case: at least one ulp of `y` (see the module docs). For a float16 or
/// bfloat16 case the margin is this many `eps_T * max(1, |y64|)`, over PyTorch's result in
/// that type ([`Accuracy::type_units`]).
pub const PYTORCH_MARGIN_EPS32: f64 = 1.0;
/// How much SiLU may amplify an error of its argument, in the units of the tolerances: a bound
/// on `|silu'(z)|` (at most 1.0998) and on `|silu'(z)| * max(1, |z|) / max(1, |silu(z)|)` (at
/// most 1.278, at `z = 1.28`), with a margin (see the module docs).
pub const SILU_CONDITION: f64 = 1.5;
/// (d) A SIMD kernel's `y` against the scalar kernel's, in `e32 * max(1, |y_scalar|)`.
pub const SIMD_VS_SCALAR_EPS32: f64 = 8.0;

/// `16 * (1 + log2 L)`: how many `e` two summation orders of `L` terms may differ by, in units
/// of the condition-aware scale (see the module docs).
pub fn summation_factor(group_len: usize) -> f64 {
    16.0 * (1.0 + (group_len.max(1) as f64).log2())
}

/// What rounding `v` to `dtype` may add: half an ulp of `dtype` at `v` for float16 and
/// bfloat16, 0 for float32 (whose rounding the float32 tolerances already hold).
pub fn rounding_allowance(dtype: DType, v: f64) -> f64 {
    match dtype {
        DType::Float32 => 0.0,
        _ => 0.5 * dtype.ulp(v),
    }
}

/// (c) The tolerance of an output `y` of type `dtype` against PyTorch float64's `y64`:
/// [`KERNEL_Y_EPS32`] eps32 of `max(1, |y64|)`, plus half an ulp of a half type at `y64`
/// ([`rounding_allowance`]). The same with and without SiLU (see the module docs).
pub fn kernel_y_tolerance(dtype: DType, y64: f64) -> f64 {
    rounding_allowance(dtype, y64) + KERNEL_Y_EPS32 * E32 * y64.abs().max(1.0)
}

/// (c) The tolerance of a mean of type `stats` (see `Case::stats_dtype`):
/// [`KERNEL_MEAN_EPS32`] eps32 of `|mu| + spread`, plus half an ulp of a half type at `mu`.
pub fn kernel_mean_tolerance(stats: DType, cond: &Condition) -> f64 {
    rounding_allowance(stats, cond.mean) + KERNEL_MEAN_EPS32 * E32 * (cond.mean.abs() + cond.spread)
}

/// (c) The tolerance of an rstd of type `stats`: [`KERNEL_RSTD_EPS32`] eps32 relative, plus half
/// an ulp of a half type at `r`.
pub fn kernel_rstd_tolerance(stats: DType, cond: &Condition) -> f64 {
    rounding_allowance(stats, cond.rstd) + KERNEL_RSTD_EPS32 * E32 * cond.rstd
}

/// Whether `got` is the infinity that the finite `want` rounds to in `dtype`: `|want|` at or
/// beyond [`DType::overflow_threshold`] and `got` infinite with `want`'s sign. A subject whose
/// output is of `dtype` is right to give it there.
pub fn rounds_to_infinity(dtype: DType, want: f64, got: f64) -> bool {
    want.is_finite()
        && want.abs() >= dtype.overflow_threshold()
        && got.is_infinite()
        && got.signum() == want.signum()
}

/// `|x|` above this squares beyond the float32 range: where PyTorch's float32 kernel overflows.
pub fn f32_square_overflow() -> f64 {
    f64::from(f32::MAX).sqrt()
}

/// The condition of one group, from PyTorch's float64 statistics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Condition {
    /// PyTorch's float64 mean.
    pub mean: f64,
    /// PyTorch's float64 rstd.
    pub rstd: f64,
    /// `|mean| * rstd`.
    pub kappa: f64,
    /// A bound on the group's standard deviation: `1/r` for `eps >= 0`, `sqrt(1/r^2 - eps)`
    /// (the standard deviation itself) for `eps < 0`, and `sqrt(-eps)` where `var + eps < 0`
    /// (`r` is NaN: the variance is below `-eps`).
    pub spread: f64,
    /// `1 + 2 |eps| r^2` for `eps < 0` (how much `var + eps` amplifies errors), else 1.
    pub cond_eps: f64,
}

impl Condition {
    /// The condition of every group of `case` (`n * G + g`).
    pub fn of_case(case: &Case) -> Vec<Condition> {
        let eps = case.eps;
        case.expected_f64
            .mean
            .iter()
            .zip(&case.expected_f64.rstd)
            .map(|(&mean, &rstd)| {
                let inv = 1.0 / rstd;
                let (spread, cond_eps) = if eps >= 0.0 {
                    (inv, 1.0)
                } else if rstd.is_nan() {
                    // var + eps < 0: the standard deviation is below sqrt(-eps).
                    ((-eps).sqrt(), 1.0)
                } else {
                    ((inv * inv - eps).sqrt(), 1.0 + 2.0 * -eps * rstd * rstd)
                };
                Condition {
                    mean,
                    rstd,
                    kappa: mean.abs() * rstd,
                    spread,
                    cond_eps,
                }
            })
            .collect()
    }

    /// `s = max(1, |y64|) + |gamma| * kappa`.
    pub fn scale(&self, y64: f64, gamma: f32) -> f64 {
        y64.abs().max(1.0) + f64::from(gamma).abs() * self.kappa
    }

    /// The scale of an implementation whose variance is `E[x^2] - E[x]^2` from plain sums
    /// (PyTorch's channels-last kernel): `s + (|y64| + |beta|) * kappa^2`, since that variance
    /// is off by `~ c_L e (variance + mean^2)`, a relative error of `c_L e (1 + kappa^2)` that
    /// `rstd` passes on to `y - beta`.
    pub fn plain_sums_scale(&self, y64: f64, gamma: f32, beta: f32) -> f64 {
        let kappa2 = self.kappa * self.kappa;
        self.scale(y64, gamma) + (y64.abs() + f64::from(beta).abs()) * kappa2
    }
}

/// How non-finite expected values are matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonFinite {
    /// NaN where the expectation is NaN, the same infinity where it is infinite (for `y`).
    Exact,
    /// Any non-finite value where the expectation is not finite (for `mean` and `rstd`).
    AnyNonFinite,
}

/// The outcome of comparing one array with its expectation.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// What was compared, e.g. `y vs PyTorch float64`.
    pub what: String,
    /// Values compared.
    pub compared: usize,
    /// Of those, with a finite expectation.
    pub finite: usize,
    /// The largest `|got - want| / tolerance` over finite expectations (0 when none). A value
    /// above 1 is a failure; so is a non-finite mismatch, which does not enter this ratio.
    pub worst_ratio: f64,
    /// Where `worst_ratio` was found.
    pub worst_index: Option<usize>,
    /// Values that failed.
    pub failures: usize,
    /// The first failure, in words.
    pub first_failure: Option<String>,
    /// The index of the first failure.
    pub first_failure_index: Option<usize>,
}

impl Check {
    pub fn new(what: impl Into<String>) -> Check {
        Check {
            what: what.into(),
            compared: 0,
            finite: 0,
            worst_ratio: 0.0,
            worst_index: None,
            failures: 0,
            first_failure: None,
            first_failure_index: None,
        }
    }

    pub fn passed(&self) -> bool {
        self.failures == 0
    }

    fn fail(&mut self, index: usize, message: impl FnOnce() -> String) {
        self.failures += 1;
        if self.first_failure.is_none() {
            self.first_failure = Some(message());
            self.first_failure_index = Some(index);
        }
    }

    /// A failure unless `field` holds as many values as its expectation (`got` and `want`).
    pub fn compare_len(&mut self, field: &str, got: usize, want: usize) {
        if got != want {
            self.fail(got.min(want), || {
                format!("{field} holds {got} values, expected {want}")
            });
        }
    }

    /// Compares `got` with `want` at `field[index]`, within `tolerance` where `want` is finite.
    pub fn compare(
        &mut self,
        field: &str,
        index: usize,
        got: f64,
        want: f64,
        tolerance: f64,
        mode: NonFinite,
    ) {
        self.compared += 1;
        if !want.is_finite() {
            let ok = match mode {
                NonFinite::Exact if want.is_nan() => got.is_nan(),
                NonFinite::Exact => got == want,
                NonFinite::AnyNonFinite => !got.is_finite(),
            };
            if !ok {
                self.fail(index, || {
                    format!("{field}[{index}] is {got:e}, expected {want}")
                });
            }
            return;
        }
        self.finite += 1;
        if !got.is_finite() {
            self.fail(index, || {
                format!("{field}[{index}] is {got}, expected the finite {want:e}")
            });
            return;
        }
        let error = (got - want).abs();
        let ratio = if error == 0.0 { 0.0 } else { error / tolerance };
        // A NaN ratio (an undefined tolerance) sticks, so that it shows.
        if (ratio.is_nan() || ratio > self.worst_ratio) && !self.worst_ratio.is_nan() {
            self.worst_ratio = ratio;
            self.worst_index = Some(index);
        }
        let within = error <= tolerance; // false for a NaN tolerance
        if !within {
            self.fail(index, || {
                format!(
                    "{field}[{index}] = {got:e}, expected {want:e}: |diff| {error:.3e} > tolerance {tolerance:.3e} ({ratio:.2}x)"
                )
            });
        }
    }

    /// [`compare`](Check::compare) for a value of type `dtype`: besides, an infinity where the
    /// finite `want` rounds to it in `dtype` ([`rounds_to_infinity`]) passes.
    #[allow(clippy::too_many_arguments)]
    pub fn compare_in(
        &mut self,
        dtype: DType,
        field: &str,
        index: usize,
        got: f64,
        want: f64,
        tolerance: f64,
        mode: NonFinite,
    ) {
        if rounds_to_infinity(dtype, want, got) {
            self.compared += 1;
            self.finite += 1;
            return;
        }
        self.compare(field, index, got, want, tolerance, mode);
    }

    /// `Ok` when passed, otherwise the first failure and the count.
    pub fn result(&self) -> Result<(), String> {
        if self.passed() {
            Ok(())
        } else {
            Err(format!(
                "{}: {} of {} values out of tolerance; first: {}",
                self.what,
                self.failures,
                self.compared,
                self.first_failure.as_deref().unwrap_or("?")
            ))
        }
    }
}

/// (b) The reference's `y` against PyTorch float32: PyTorch float32's own error. Its
/// channels-last kernel sums `x` and `x^2` where the contiguous one runs Welford's update, so
/// channels-last cases take [`Condition::plain_sums_scale`].
///
/// Where PyTorch float32 is NaN and float64 is finite, the group must hold a value beyond
/// [`f32_square_overflow`] (PyTorch float32 overflows there). A group's `y` is not bounded
/// either where PyTorch float32 lost the group's statistics ([`f32_statistics_lost`]): its
/// `rstd` is NaN, infinite or 0 where float64's is a finite nonzero value, and the group holds
/// a value beyond [`f32_square_overflow`] or its float64 `var + eps` is below
/// `f32::MIN_POSITIVE` (its float32 squares underflow). Anything else is a failure.
///
/// For a case in float16 or bfloat16, PyTorch's `y` in that type is compared with (the block
/// named by `dtype`): the bound gains half an ulp of the type (and, with SiLU, the rounding of
/// `z` to it, see the module docs), and where that `y` is the infinity that `y64` rounds to in
/// the type ([`rounds_to_infinity`]) there is nothing to bound. With SiLU (`out` is the
/// reference's `y` with SiLU), the bound is multiplied by [`SILU_CONDITION`].
pub fn reference_vs_f32(case: &Case, out: &GroupNormOutput) -> Check {
    let conditions = Condition::of_case(case);
    let factor = summation_factor(case.group_len()) * E32;
    let dtype = case.variant.dtype;
    let silu = case.variant.activation == Activation::Silu;
    let what = format!("reference y vs PyTorch {}", dtype.schema_name());
    let mut check = Check::new(if dtype == DType::Float32 {
        "reference y vs PyTorch float32".to_owned()
    } else {
        what
    });
    let overflows = |group: usize| {
        case.group_indices(group)
            .any(|i| f64::from(case.input[i].abs()) > f32_square_overflow())
    };
    let lost: Vec<bool> = (0..case.group_count())
        .map(|g| f32_statistics_lost(case, g))
        .collect();
    for (i, (&got, &want)) in out.y.iter().zip(&case.expected_native.y).enumerate() {
        let group = case.group_of(i);
        if (want.is_nan() && got.is_finite() && overflows(group)) || lost[group] {
            check.compared += 1;
            continue;
        }
        let want = f64::from(want);
        if rounds_to_infinity(dtype, case.expected_f64.y[i], want) {
            // PyTorch's value in the type is the correctly rounded y64.
            check.compared += 1;
            continue;
        }
        let cond = &conditions[group];
        let plain_sums = case.variant.layout == Layout::ChannelsLast;
        if plain_sums && factor * cond.kappa * cond.kappa >= 1.0 && want.is_finite() {
            // The plain sums' variance is lost altogether (a relative error of 1 or more):
            // PyTorch's channels-last `y` is not bounded by anything but its finiteness.
            check.compared += 1;
            continue;
        }
        let channel = case.channel_of(i);
        // The scale from PyTorch float64's `y`, not from the float32 value under test, so that
        // a wrong value cannot widen its own tolerance.
        let y64 = case.expected_f64.y[i];
        let y64 = if y64.is_finite() { y64 } else { want };
        let scale = if plain_sums {
            cond.plain_sums_scale(y64, case.gamma(channel), case.beta(channel))
        } else {
            cond.scale(y64, case.gamma(channel))
        };
        let mut bound = factor * scale * cond.cond_eps;
        if silu {
            bound *= SILU_CONDITION;
        }
        if dtype != DType::Float32 {
            // z rounded to the type before SiLU, through SiLU's slope.
            let z_rounding = if silu {
                0.5 * SILU_CONDITION * dtype.epsilon() * y64.abs().max(1.0)
            } else {
                0.0
            };
            // y rounded to the type: half an ulp at the float32 value, at most |y64| + bound.
            bound += z_rounding;
            bound += rounding_allowance(dtype, y64.abs() + bound);
        }
        check.compare("y", i, got, want, bound, NonFinite::Exact);
    }
    check
}

/// Whether PyTorch float32 lost the statistics of `group` of `case` to overflow or underflow
/// in its own float32 arithmetic, where float64 did not: its `rstd` is NaN, infinite or 0 where
/// PyTorch float64's is finite and nonzero, and either the group holds a value beyond
/// [`f32_square_overflow`] (its squares overflow: a NaN or infinite variance) or PyTorch
/// float64's `var + eps = 1 / rstd^2` is below `f32::MIN_POSITIVE` (its squares underflow: a
/// variance of 0 or a few subnormals). The vectors' `eps = 0` and tiny-`eps` cases on float32
/// subnormal data, and alternating `±f32::MAX`, are such groups.
pub fn f32_statistics_lost(case: &Case, group: usize) -> bool {
    let r32 = case.expected_native.rstd[group];
    let r64 = case.expected_f64.rstd[group];
    let lost = r32 == 0.0 || !r32.is_finite();
    let float64_fine = r64.is_finite() && r64 != 0.0;
    let overflows = || {
        case.group_indices(group)
            .any(|i| f64::from(case.input[i].abs()) > f32_square_overflow())
    };
    let underflows = || 1.0 / (r64 * r64) < f64::from(f32::MIN_POSITIVE);
    lost && float64_fine && (overflows() || underflows())
}

/// The worst error of `y` against PyTorch float64, in three measures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Accuracy {
    /// `max |y - y64|` over the finite `y64` (infinite if `y` is not finite at one of them).
    pub max_abs: f64,
    /// `max |y - y64| / (e32 * max(1, |y64|))` over the finite `y64` (likewise).
    pub eps32_units: f64,
    /// `max |y - y64| / (eps_T * max(1, |y64|))`, `eps_T` the epsilon of `unit` (likewise):
    /// the error in units of the output type. Equal to `eps32_units` for a float32 `unit`.
    pub type_units: f64,
    /// The type whose epsilon `type_units` counts: the case's `dtype` for a subject's output
    /// and for PyTorch's block in the case's type, float32 for PyTorch float32.
    pub unit: DType,
}

impl Accuracy {
    /// Measures `y`, an output of the case's type (`dtype`), against PyTorch float64's `y` of
    /// `case`.
    pub fn of(case: &Case, y: impl IntoIterator<Item = f64>) -> Accuracy {
        Accuracy::in_type(case, case.variant.dtype, y)
    }

    /// Measures `y`, an output of type `unit`, against PyTorch float64's `y` of `case`, with
    /// `type_units` in `unit`'s epsilon. Where `y64` is beyond `unit`'s range and `y` is the
    /// infinity it rounds to ([`rounds_to_infinity`]), `y` counts as exact.
    pub fn in_type(case: &Case, unit: DType, y: impl IntoIterator<Item = f64>) -> Accuracy {
        let mut acc = Accuracy {
            max_abs: 0.0,
            eps32_units: 0.0,
            type_units: 0.0,
            unit,
        };
        for (got, &want) in y.into_iter().zip(&case.expected_f64.y) {
            if !want.is_finite() || rounds_to_infinity(unit, want, got) {
                continue;
            }
            let error = if got.is_finite() {
                (got - want).abs()
            } else {
                f64::INFINITY
            };
            let scale = want.abs().max(1.0);
            acc.max_abs = acc.max_abs.max(error);
            acc.eps32_units = acc.eps32_units.max(error / (E32 * scale));
            acc.type_units = acc.type_units.max(error / (unit.epsilon() * scale));
        }
        acc
    }

    /// No output: every measure infinite.
    pub fn none(unit: DType) -> Accuracy {
        Accuracy {
            max_abs: f64::INFINITY,
            eps32_units: f64::INFINITY,
            type_units: f64::INFINITY,
            unit,
        }
    }

    /// PyTorch's accuracy on `case` in the case's own type (the block named by `dtype`), with
    /// `type_units` in that type's epsilon: what "at least as accurate as PyTorch" compares with.
    pub fn of_pytorch(case: &Case) -> Accuracy {
        Accuracy::of(case, case.expected_native.y.iter().map(|&v| f64::from(v)))
    }

    /// The same as [`of_pytorch`](Accuracy::of_pytorch), from when every case was float32: for a
    /// float32 case, PyTorch float32's accuracy; for a float16 or bfloat16 case, PyTorch's in
    /// that type. PyTorch float32 on a half-type case's values is
    /// [`of_pytorch_in_float32`](Accuracy::of_pytorch_in_float32).
    pub fn of_pytorch_f32(case: &Case) -> Accuracy {
        Accuracy::of_pytorch(case)
    }

    /// PyTorch float32's accuracy on the case's values, `type_units` in eps32: the block named
    /// by `dtype` for a float32 case, the `expected.float32` block (on the values upcast) for a
    /// half-type case; `None` where a half-type case has no such block.
    pub fn of_pytorch_in_float32(case: &Case) -> Option<Accuracy> {
        let block = case.pytorch_float32()?;
        Some(Accuracy::in_type(
            case,
            DType::Float32,
            block.y.iter().map(|&v| f64::from(v)),
        ))
    }
}

/// A subject's outputs on one case against PyTorch float64 ([`check_outputs`]).
#[derive(Clone, Debug, PartialEq)]
pub struct OutputChecks {
    pub y: Check,
    /// Where the subject returned a mean.
    pub mean: Option<Check>,
    /// Where the subject returned an rstd.
    pub rstd: Option<Check>,
    /// The subject's accuracy, `type_units` in the case's type.
    pub ours: Accuracy,
    /// PyTorch's accuracy on the same case in the case's type ([`Accuracy::of_pytorch`]):
    /// PyTorch float32 for a float32 case.
    pub pytorch: Accuracy,
    /// PyTorch float32's on the case's values ([`Accuracy::of_pytorch_in_float32`]), in eps32:
    /// reported, not compared with.
    pub pytorch_float32: Option<Accuracy>,
}

impl OutputChecks {
    /// The checks of `y`, `mean` and `rstd` that were made.
    pub fn checks(&self) -> impl Iterator<Item = &Check> {
        [Some(&self.y), self.mean.as_ref(), self.rstd.as_ref()]
            .into_iter()
            .flatten()
    }

    /// Whether `ours` is within [`PYTORCH_MARGIN_EPS32`] of PyTorch's accuracy in the case's
    /// type, both in units of that type's epsilon (eps32 for a float32 case: PyTorch float32).
    pub fn at_least_as_accurate_as_pytorch(&self) -> bool {
        self.ours.type_units <= self.pytorch.type_units + PYTORCH_MARGIN_EPS32
    }

    /// Every failure, in words (empty when the subject passes).
    pub fn failures(&self) -> Vec<String> {
        let mut out: Vec<String> = self.checks().filter_map(|c| c.result().err()).collect();
        if !self.at_least_as_accurate_as_pytorch() {
            let unit = self.pytorch.unit;
            out.push(format!(
                "less accurate than PyTorch {}: y off by {} {}, PyTorch's {} + margin {}",
                unit.schema_name(),
                format_units(self.ours.type_units),
                unit.epsilon_name(),
                format_units(self.pytorch.type_units),
                format_units(PYTORCH_MARGIN_EPS32)
            ));
        }
        out
    }
}

/// Compares a subject's outputs on `case` with PyTorch float64, with the tolerances of
/// `precision`: (c) for [`Precision::Float32`], (a) for [`Precision::Float64`] (see the module
/// docs). `mean` and `rstd` are checked where the subject returned them.
///
/// A [`Precision::Float32`] subject's `y` is taken to be of the case's `dtype` and its `mean`
/// and `rstd` of `case.stats_dtype()`: [`kernel_y_tolerance`], [`kernel_mean_tolerance`] and
/// [`kernel_rstd_tolerance`] add half an ulp of a half type, and an infinity where the value
/// rounds to one in that type passes ([`Check::compare_in`]). A [`Precision::Float64`]
/// subject computes in `f64` whatever the case's types; with SiLU, its `y` tolerance is
/// multiplied by [`SILU_CONDITION`].
pub fn check_outputs(case: &Case, out: &Outputs, precision: Precision) -> OutputChecks {
    let conditions = Condition::of_case(case);
    let want = &case.expected_f64;
    let f64_factor = summation_factor(case.group_len()) * E64;
    let (dtype, stats) = (case.variant.dtype, case.stats_dtype());
    let activation = match case.variant.activation {
        Activation::Silu => SILU_CONDITION,
        Activation::None => 1.0,
    };
    let y_tolerance = |i: usize, want: f64| match precision {
        Precision::Float32 => kernel_y_tolerance(dtype, want),
        Precision::Float64 => {
            let cond = &conditions[case.group_of(i)];
            let scale = cond.scale(want, case.gamma(case.channel_of(i)));
            activation * f64_factor * scale * cond.cond_eps
        }
    };
    // A float32-precision subject's values are of the case's types; an f64 subject's are not
    // rounded (and must not overflow).
    let compare =
        |check: &mut Check, t: DType, field: &str, i, got, want, tolerance, mode| match precision {
            Precision::Float32 => check.compare_in(t, field, i, got, want, tolerance, mode),
            Precision::Float64 => check.compare(field, i, got, want, tolerance, mode),
        };
    let mut y = Check::new("y vs PyTorch float64");
    y.compare_len("y", out.y.len(), want.y.len());
    for (i, (&got, &want)) in out.y.iter().zip(&want.y).enumerate() {
        let tolerance = y_tolerance(i, want);
        compare(
            &mut y,
            dtype,
            "y",
            i,
            got,
            want,
            tolerance,
            NonFinite::Exact,
        );
    }
    let mean_tolerance = |c: &Condition| match precision {
        Precision::Float32 => kernel_mean_tolerance(stats, c),
        Precision::Float64 => f64_factor * (c.mean.abs() + c.spread),
    };
    let rstd_tolerance = |c: &Condition| match precision {
        Precision::Float32 => kernel_rstd_tolerance(stats, c),
        Precision::Float64 => f64_factor * (1.0 + c.kappa) * c.cond_eps * c.rstd,
    };
    let stat = |field: &str,
                got: Option<&Vec<f64>>,
                want: fn(&Condition) -> f64,
                tolerance: &dyn Fn(&Condition) -> f64| {
        got.map(|got| {
            let mut check = Check::new(format!("{field} vs PyTorch float64"));
            check.compare_len(field, got.len(), conditions.len());
            for (g, (&got, cond)) in got.iter().zip(&conditions).enumerate() {
                compare(
                    &mut check,
                    stats,
                    field,
                    g,
                    got,
                    want(cond),
                    tolerance(cond),
                    NonFinite::AnyNonFinite,
                );
            }
            check
        })
    };
    OutputChecks {
        mean: stat("mean", out.mean.as_ref(), |c| c.mean, &mean_tolerance),
        rstd: stat("rstd", out.rstd.as_ref(), |c| c.rstd, &rstd_tolerance),
        y,
        ours: Accuracy::of(case, out.y.iter().copied()),
        pytorch: Accuracy::of_pytorch(case),
        pytorch_float32: Accuracy::of_pytorch_in_float32(case),
    }
}

/// The `f64` reference on a case's inputs: input, weight and bias upcast (exactly), `eps` as
/// it is, the layout and the activation of `case.variant` (`Inputs::reference_with`). Whatever
/// the case's element types, the reference computes in `f64` and its outputs are not rounded
/// to them.
pub fn reference_output(
    case: &CaseInputs<'_>,
) -> Result<GroupNormOutput, groupnorm_reference::GroupNormError> {
    case.problem().reference_with(case.variant.activation)
}

/// (d) A SIMD kernel's `y` against the scalar kernel's.
pub fn kernel_vs_scalar(simd: &KernelOutput, scalar: &KernelOutput) -> Check {
    let mut check = Check::new("y vs the scalar kernel");
    for (i, (&got, &want)) in simd.y.iter().zip(&scalar.y).enumerate() {
        let want = f64::from(want);
        let tolerance = SIMD_VS_SCALAR_EPS32 * E32 * want.abs().max(1.0);
        check.compare("y", i, f64::from(got), want, tolerance, NonFinite::Exact);
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variant::Variant;
    use crate::vectors::{load_files, vectors_dir, Expected};

    const F16: DType = DType::Float16;
    const BF16: DType = DType::BFloat16;

    #[test]
    fn kernel_tolerances_add_half_an_ulp_of_a_half_type() {
        let e = KERNEL_Y_EPS32 * E32;
        assert_eq!(kernel_y_tolerance(DType::Float32, 0.25), e);
        assert_eq!(kernel_y_tolerance(DType::Float32, -3.0), 3.0 * e);
        assert_eq!(kernel_y_tolerance(F16, 1.5), f64::powi(2.0, -11) + 1.5 * e);
        assert_eq!(kernel_y_tolerance(F16, 0.3), f64::powi(2.0, -13) + e);
        assert_eq!(kernel_y_tolerance(F16, -65504.0), 16.0 + 65504.0 * e);
        assert_eq!(kernel_y_tolerance(F16, 1e-6), f64::powi(2.0, -25) + e);
        assert_eq!(kernel_y_tolerance(BF16, 1.5), f64::powi(2.0, -8) + 1.5 * e);
        let cond = Condition {
            mean: 3.0,
            rstd: 1000.0,
            kappa: 3000.0,
            spread: 1e-3,
            cond_eps: 1.0,
        };
        let mean32 = KERNEL_MEAN_EPS32 * E32 * (3.0 + 1e-3);
        assert_eq!(kernel_mean_tolerance(DType::Float32, &cond), mean32);
        assert_eq!(kernel_mean_tolerance(F16, &cond), 2.0 / 2048.0 + mean32);
        let rstd32 = KERNEL_RSTD_EPS32 * E32 * 1000.0;
        assert_eq!(kernel_rstd_tolerance(DType::Float32, &cond), rstd32);
        assert_eq!(kernel_rstd_tolerance(BF16, &cond), 0.5 * 4.0 + rstd32);
        assert_eq!(rounding_allowance(DType::Float32, 1.0), 0.0);
    }

    #[test]
    fn only_the_infinity_a_value_rounds_to_passes() {
        let inf = f64::INFINITY;
        assert!(rounds_to_infinity(F16, 70000.0, inf));
        assert!(rounds_to_infinity(F16, 65520.0, inf));
        assert!(rounds_to_infinity(F16, -1.2e5, -inf));
        assert!(!rounds_to_infinity(F16, 65519.0, inf)); // rounds to 65504
        assert!(!rounds_to_infinity(F16, 70000.0, -inf));
        assert!(!rounds_to_infinity(F16, 70000.0, 65504.0));
        assert!(!rounds_to_infinity(F16, 70000.0, f64::NAN));
        assert!(!rounds_to_infinity(F16, inf, inf)); // not finite: compared as it is
        assert!(!rounds_to_infinity(BF16, 70000.0, inf));
        assert!(rounds_to_infinity(DType::Float32, 3.5e38, inf));
        let mut check = Check::new("y");
        check.compare_in(F16, "y", 0, inf, 1.2e5, 1.0, NonFinite::Exact);
        check.compare_in(F16, "y", 1, 65504.0, 65510.0, 16.0, NonFinite::Exact);
        assert!(check.passed() && check.compared == 2 && check.finite == 2);
        check.compare_in(F16, "y", 2, inf, 65510.0, 16.0, NonFinite::Exact);
        check.compare_in(F16, "y", 3, 65504.0, 1.2e5, 16.0, NonFinite::Exact);
        assert_eq!(check.failures, 2);
    }

    /// The bound of [`SILU_CONDITION`]: `|silu'(z)| <= 1.1` and
    /// `|silu'(z)| * max(1, |z|) <= 1.2 * max(1, |silu(z)|)`, on a fine grid of `z`.
    #[test]
    fn silu_condition_bounds_the_slope() {
        let silu = |z: f64| z / (1.0 + (-z).exp());
        let slope = |z: f64| {
            let s = 1.0 / (1.0 + (-z).exp());
            s * (1.0 + z * (1.0 - s))
        };
        let (mut worst_slope, mut worst_ratio) = (0.0f64, 0.0f64);
        for i in -2_000_000..=2_000_000 {
            let z = f64::from(i) * 1e-4;
            worst_slope = worst_slope.max(slope(z).abs());
            let ratio = slope(z).abs() * z.abs().max(1.0) / silu(z).abs().max(1.0);
            worst_ratio = worst_ratio.max(ratio);
        }
        assert!(worst_slope < 1.1 && worst_slope > 1.099, "{worst_slope}");
        // The largest ratio is 1.278, at z = 1.28, where silu(z) = 1.
        assert!(worst_ratio < 1.28 && worst_ratio > 1.27, "{worst_ratio}");
        assert!(worst_ratio < SILU_CONDITION && worst_slope < SILU_CONDITION);
    }

    /// A float16 case of one group, `y64` as given, stats float16 (no parameters).
    fn f16_case(y64: Vec<f64>, native_y: Vec<f32>) -> Case {
        let n = y64.len();
        Case {
            name: "f16".into(),
            description: String::new(),
            shape: vec![1, 1, n],
            num_groups: 1,
            eps: 1e-5,
            variant: Variant {
                dtype: F16,
                param_dtype: F16,
                ..Variant::default()
            },
            weight: None,
            bias: None,
            input: vec![0.0; n],
            expected_native: Expected {
                y: native_y,
                mean: vec![0.5],
                rstd: vec![2.0],
            },
            expected_f32_upcast: Some(Expected {
                y: y64.iter().map(|&v| v as f32).collect(),
                mean: vec![0.5],
                rstd: vec![2.0],
            }),
            expected_f64: Expected {
                y: y64,
                mean: vec![0.5],
                rstd: vec![2.0],
            },
            backward: None,
        }
    }

    #[test]
    fn half_outputs_are_held_to_half_an_ulp_and_graded_in_their_epsilon() {
        let y64 = vec![0.3, -1.7, 5.123, 1.2e5];
        let pytorch: Vec<f32> = y64.iter().map(|&v| F16.round(v) as f32).collect();
        assert_eq!(pytorch[3], f32::INFINITY);
        let case = f16_case(y64.clone(), pytorch);
        assert_eq!(case.stats_dtype(), F16);
        // Correctly rounded values, stats within half an ulp of float16 (0.5 + 2^-12: an ulp
        // of 0.5 in float16 is 2^-11).
        let rounded: Vec<f64> = y64.iter().map(|&v| F16.round(v)).collect();
        let out = Outputs::new(rounded.clone()).with_stats(vec![0.5 + 1.0 / 4096.0], vec![2.0]);
        let checks = check_outputs(&case, &out, Precision::Float32);
        assert!(checks.failures().is_empty(), "{:?}", checks.failures());
        assert_eq!(checks.ours.unit, F16);
        assert!(checks.ours.type_units <= 0.5 && checks.ours.type_units > 0.0);
        assert_eq!(checks.ours, checks.pytorch);
        assert!(checks.ours.eps32_units > 100.0); // the rounding to float16, in eps32
                                                  // PyTorch float32 (the upcast block), in eps32.
        let f32_block = checks.pytorch_float32.unwrap();
        assert_eq!(f32_block.unit, DType::Float32);
        assert!(f32_block.eps32_units <= 0.5);
        // One ulp off fails (c), but is within the margin over PyTorch float16 (an ulp of 5.1
        // is 0.76 eps16 of max(1, |y|)); three ulps of 1.7 are beyond it.
        let mut off = rounded.clone();
        off[2] += F16.ulp(off[2]);
        let checks = check_outputs(&case, &Outputs::new(off), Precision::Float32);
        let failures = checks.failures();
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(
            failures[0].starts_with("y vs PyTorch float64"),
            "{failures:?}"
        );
        let mut off = rounded.clone();
        off[1] -= 3.0 * F16.ulp(off[1]);
        let checks = check_outputs(&case, &Outputs::new(off), Precision::Float32);
        let failures = checks.failures();
        assert_eq!(failures.len(), 2, "{failures:?}");
        assert!(failures[1].starts_with("less accurate than PyTorch float16: y off by"));
        assert!(failures[1].contains("eps16"), "{failures:?}");
        // The finite maximum where y64 rounds to infinity fails; the f64 reference must give
        // the finite value itself.
        let mut finite = rounded.clone();
        finite[3] = 65504.0;
        assert!(
            !check_outputs(&case, &Outputs::new(finite), Precision::Float32)
                .y
                .passed()
        );
        let reference = check_outputs(&case, &Outputs::new(y64.clone()), Precision::Float64);
        assert!(
            reference.failures().is_empty(),
            "{:?}",
            reference.failures()
        );
        assert!(
            !check_outputs(&case, &Outputs::new(rounded), Precision::Float64)
                .y
                .passed()
        );
        // Half-type stats are rounded too: an ulp of float16 at the mean is too much.
        let out = Outputs::new(y64.iter().map(|&v| F16.round(v)).collect())
            .with_stats(vec![0.5 + 1.0 / 2048.0], vec![2.0]);
        let checks = check_outputs(&case, &out, Precision::Float32);
        assert!(!checks.mean.unwrap().passed() && checks.rstd.unwrap().passed());
    }

    /// The bundled float16, bfloat16 and SiLU vectors, parsed once.
    fn typed_vectors() -> &'static [Case] {
        static CASES: std::sync::OnceLock<Vec<Case>> = std::sync::OnceLock::new();
        CASES.get_or_init(|| {
            let dir = vectors_dir();
            let files = load_files(&[dir.join("half_precision.json"), dir.join("silu.json")])
                .unwrap_or_else(|e| panic!("{e}"));
            files.into_iter().flat_map(|f| f.cases).collect()
        })
    }

    #[test]
    fn the_typed_vectors_hold_what_the_readme_says() {
        let cases = typed_vectors();
        let count = |f: &dyn Fn(&Case) -> bool| cases.iter().filter(|c| f(c)).count();
        assert!(count(&|c| c.variant.dtype == F16) > 40);
        assert!(count(&|c| c.variant.dtype == BF16) > 40);
        assert!(count(&|c| c.variant.activation == Activation::Silu) > 40);
        for case in cases {
            let half = case.variant.dtype != DType::Float32;
            assert_eq!(case.expected_f32_upcast.is_some(), half, "{}", case.name);
            assert!(case.pytorch_float32().is_some(), "{}", case.name);
            // In the files the exporter writes, mean and rstd are of param_dtype.
            assert_eq!(
                case.stats_dtype(),
                case.variant.param_dtype,
                "{}",
                case.name
            );
        }
        // Both stats types occur for each half type.
        for d in [F16, BF16] {
            assert!(count(&|c| c.variant.dtype == d && c.stats_dtype() == d) > 10);
            assert!(count(&|c| c.variant.dtype == d && c.stats_dtype() == DType::Float32) > 10);
        }
    }

    /// (a) and (b) on the bundled float16, bfloat16 and SiLU vectors: the reference with the
    /// case's options passes check (a), and PyTorch in the case's type is within check (b) of
    /// it.
    #[test]
    fn the_reference_passes_a_and_b_on_the_typed_vectors() {
        let mut failures = Vec::new();
        for case in typed_vectors() {
            let out = reference_output(&CaseInputs::of(case)).unwrap();
            let checks = check_outputs(case, &out.clone().into(), Precision::Float64);
            failures.extend(
                checks
                    .failures()
                    .into_iter()
                    .map(|f| format!("{}: {f}", case.name)),
            );
            if let Err(e) = reference_vs_f32(case, &out).result() {
                failures.push(format!("{} (b): {e}", case.name));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// (c) on the same vectors for an ideal subject of the case's types: the reference's
    /// outputs rounded to the output type (`y`) and to the stats type (`mean`, `rstd`). It
    /// passes every case, and is at least as accurate as PyTorch in the case's type.
    #[test]
    fn correctly_rounded_outputs_pass_c_on_the_typed_vectors() {
        let mut failures = Vec::new();
        for case in typed_vectors() {
            let out = reference_output(&CaseInputs::of(case)).unwrap();
            let (dtype, stats) = (case.variant.dtype, case.stats_dtype());
            let round = |v: &[f64], t: DType| v.iter().map(|&x| t.round(x)).collect::<Vec<_>>();
            let outputs = Outputs::new(round(&out.y, dtype))
                .with_stats(round(&out.mean, stats), round(&out.rstd, stats));
            let checks = check_outputs(case, &outputs, Precision::Float32);
            failures.extend(
                checks
                    .failures()
                    .into_iter()
                    .map(|f| format!("{}: {f}", case.name)),
            );
            assert!(checks.ours.type_units <= 0.5 + 1e-6, "{}", case.name);
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
