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
//! Every subject (`subject`) is checked by [`check_outputs`]: against (c)'s tolerances, or (a)'s
//! for an `f64` subject ([`Precision`]), and against PyTorch float32 with the margin. The test
//! kit (`kit`) holds the kernels to the constants of (c) against the `f64` reference on the same
//! data as well, in the tests and the fuzz targets.
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
use crate::subject::{Outputs, Precision};
use crate::variant::Layout;
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
/// float32's on the same case: at least one ulp of `y` (see the module docs).
pub const PYTORCH_MARGIN_EPS32: f64 = 1.0;
/// (d) A SIMD kernel's `y` against the scalar kernel's, in `e32 * max(1, |y_scalar|)`.
pub const SIMD_VS_SCALAR_EPS32: f64 = 8.0;

/// `16 * (1 + log2 L)`: how many `e` two summation orders of `L` terms may differ by, in units
/// of the condition-aware scale (see the module docs).
pub fn summation_factor(group_len: usize) -> f64 {
    16.0 * (1.0 + (group_len.max(1) as f64).log2())
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
pub fn reference_vs_f32(case: &Case, out: &GroupNormOutput) -> Check {
    let conditions = Condition::of_case(case);
    let factor = summation_factor(case.group_len()) * E32;
    let mut check = Check::new("reference y vs PyTorch float32");
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
        check.compare(
            "y",
            i,
            got,
            want,
            factor * scale * cond.cond_eps,
            NonFinite::Exact,
        );
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

/// The worst error of `y` against PyTorch float64, in two measures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Accuracy {
    /// `max |y - y64|` over the finite `y64` (infinite if `y` is not finite at one of them).
    pub max_abs: f64,
    /// `max |y - y64| / (e32 * max(1, |y64|))` over the finite `y64` (likewise).
    pub eps32_units: f64,
}

impl Accuracy {
    /// Measures `y` against PyTorch float64's `y` of `case`.
    pub fn of(case: &Case, y: impl IntoIterator<Item = f64>) -> Accuracy {
        let mut acc = Accuracy {
            max_abs: 0.0,
            eps32_units: 0.0,
        };
        for (got, &want) in y.into_iter().zip(&case.expected_f64.y) {
            if !want.is_finite() {
                continue;
            }
            let error = if got.is_finite() {
                (got - want).abs()
            } else {
                f64::INFINITY
            };
            acc.max_abs = acc.max_abs.max(error);
            acc.eps32_units = acc.eps32_units.max(error / (E32 * want.abs().max(1.0)));
        }
        acc
    }

    /// PyTorch float32's accuracy on `case`.
    pub fn of_pytorch_f32(case: &Case) -> Accuracy {
        Accuracy::of(case, case.expected_native.y.iter().map(|&v| f64::from(v)))
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
    /// The subject's accuracy.
    pub ours: Accuracy,
    /// PyTorch float32's accuracy on the same case.
    pub pytorch: Accuracy,
}

impl OutputChecks {
    /// The checks of `y`, `mean` and `rstd` that were made.
    pub fn checks(&self) -> impl Iterator<Item = &Check> {
        [Some(&self.y), self.mean.as_ref(), self.rstd.as_ref()]
            .into_iter()
            .flatten()
    }

    /// Whether `ours` is within [`PYTORCH_MARGIN_EPS32`] of PyTorch float32's accuracy.
    pub fn at_least_as_accurate_as_pytorch(&self) -> bool {
        self.ours.eps32_units <= self.pytorch.eps32_units + PYTORCH_MARGIN_EPS32
    }

    /// Every failure, in words (empty when the subject passes).
    pub fn failures(&self) -> Vec<String> {
        let mut out: Vec<String> = self.checks().filter_map(|c| c.result().err()).collect();
        if !self.at_least_as_accurate_as_pytorch() {
            out.push(format!(
                "less accurate than PyTorch float32: y off by {} eps32, PyTorch's {} + margin {}",
                format_units(self.ours.eps32_units),
                format_units(self.pytorch.eps32_units),
                format_units(PYTORCH_MARGIN_EPS32)
            ));
        }
        out
    }
}

/// Compares a subject's outputs on `case` with PyTorch float64, with the tolerances of
/// `precision`: (c) for [`Precision::Float32`], (a) for [`Precision::Float64`] (see the module
/// docs). `mean` and `rstd` are checked where the subject returned them.
pub fn check_outputs(case: &Case, out: &Outputs, precision: Precision) -> OutputChecks {
    let conditions = Condition::of_case(case);
    let want = &case.expected_f64;
    let f64_factor = summation_factor(case.group_len()) * E64;
    let y_tolerance = |i: usize, want: f64| match precision {
        Precision::Float32 => KERNEL_Y_EPS32 * E32 * want.abs().max(1.0),
        Precision::Float64 => {
            let cond = &conditions[case.group_of(i)];
            f64_factor * cond.scale(want, case.gamma(case.channel_of(i))) * cond.cond_eps
        }
    };
    let mut y = Check::new("y vs PyTorch float64");
    y.compare_len("y", out.y.len(), want.y.len());
    for (i, (&got, &want)) in out.y.iter().zip(&want.y).enumerate() {
        y.compare("y", i, got, want, y_tolerance(i, want), NonFinite::Exact);
    }
    let mean_tolerance = |c: &Condition| match precision {
        Precision::Float32 => KERNEL_MEAN_EPS32 * E32 * (c.mean.abs() + c.spread),
        Precision::Float64 => f64_factor * (c.mean.abs() + c.spread),
    };
    let rstd_tolerance = |c: &Condition| match precision {
        Precision::Float32 => KERNEL_RSTD_EPS32 * E32 * c.rstd,
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
                check.compare(
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
        pytorch: Accuracy::of_pytorch_f32(case),
    }
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
