//! The test kit: what the integration tests and the fuzz targets share to run the kernels and
//! judge them.
//!
//! * [`Inputs`] describes a problem; [`run`] runs a kernel on it into sentinel-filled buffers
//!   (an output value left unwritten is an error), [`run_at`] with the slices at offsets into
//!   larger buffers (a write outside a slice is an error too); both give a [`KernelOutput`].
//! * [`kernel_vs_reference`] compares a kernel's output with the `f64` reference on the same
//!   data, with the constants of check (c) of [`crate::check`] ([`KERNEL_Y_EPS32`] and the
//!   others). The mean's spread is the reference's `1 / rstd`: check (c)'s spread wherever
//!   `eps >= 0`; for `eps < 0` check (c) bounds it by `sqrt(1 / rstd^2 - eps)`, which the
//!   vectors need and the generated inputs of the tests do not.
//! * [`for_each_kernel`] runs a closure for every kernel this CPU supports, then asserts that
//!   those were the expected ones where CI sets `GROUPNORM_EXPECT_KERNELS`
//!   ([`expected_kernels`]): exactly that list, in its order.
//!
//! ```
//! use groupnorm_conformance::kit::{self, Inputs};
//!
//! let x: Vec<f32> = (0..24).map(|v| v as f32).collect();
//! let inputs = Inputs {
//!     shape: &[2, 4, 3],
//!     num_groups: 2,
//!     weight: None,
//!     bias: None,
//!     eps: 1e-5,
//!     input: &x,
//!     layout: Default::default(),
//! };
//! let reference = inputs.reference().unwrap();
//! let ran = kit::for_each_kernel(|kernel| {
//!     let out = kit::run(kernel, &inputs).unwrap();
//!     kit::kernel_vs_reference(&out, &reference).result().unwrap();
//! });
//! assert_eq!(ran[0], "scalar");
//! ```

use crate::check::{Check, NonFinite, E32, KERNEL_MEAN_EPS32, KERNEL_RSTD_EPS32, KERNEL_Y_EPS32};
use groupnorm_optimized::Kernel;
use groupnorm_reference::GroupNormOutput;
use std::convert::Infallible;

pub use crate::run::{
    run, run_at, run_variant, Inputs, KernelOutput, Offsets, RunError, INPUT_PADDING, PAD,
    SECOND_SENTINEL, SENTINEL,
};

/// The environment variable naming the kernels this machine must run, comma-separated in the
/// optimized crate's order (`scalar,avx2,avx512`); CI sets it from `/proc/cpuinfo`.
pub const EXPECT_KERNELS_VAR: &str = "GROUPNORM_EXPECT_KERNELS";

/// A kernel's output against the `f64` reference's on the same data, each of `y`, `mean` and
/// `rstd` a [`Check`].
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub y: Check,
    pub mean: Check,
    pub rstd: Check,
}

impl Comparison {
    pub fn passed(&self) -> bool {
        self.checks().iter().all(|c| c.passed())
    }

    /// `y`, `mean` and `rstd`.
    pub fn checks(&self) -> [&Check; 3] {
        [&self.y, &self.mean, &self.rstd]
    }

    /// `Ok` when every check passed, otherwise each failing check's
    /// [`result`](Check::result), one per line.
    pub fn result(&self) -> Result<(), String> {
        let failures: Vec<String> = self
            .checks()
            .into_iter()
            .filter_map(|c| c.result().err())
            .collect();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("\n"))
        }
    }
}

/// Compares `out` with the `f64` reference's output on the same data, `e = f32::EPSILON`:
///
/// * `y`: within `KERNEL_Y_EPS32 e max(1, |y_ref|)` (16) where `y_ref` is finite; NaN exactly
///   where `y_ref` is NaN, the same infinity where it is infinite.
/// * `mean`: within `KERNEL_MEAN_EPS32 e (|mean_ref| + 1 / rstd_ref)` (4) where both are
///   finite; not finite where `mean_ref` is not; not compared where `mean_ref` is finite and
///   `rstd_ref` is not.
/// * `rstd`: within `KERNEL_RSTD_EPS32 e rstd_ref` (8) where `rstd_ref` is finite, not finite
///   where it is not.
///
/// Each array must be as long as the reference's.
pub fn kernel_vs_reference(out: &KernelOutput, reference: &GroupNormOutput) -> Comparison {
    let mut y = Check::new("kernel y vs the reference");
    y.compare_len("y", out.y.len(), reference.y.len());
    for (i, (&got, &want)) in out.y.iter().zip(&reference.y).enumerate() {
        let tolerance = KERNEL_Y_EPS32 * E32 * want.abs().max(1.0);
        y.compare("y", i, f64::from(got), want, tolerance, NonFinite::Exact);
    }
    let mut mean = Check::new("kernel mean vs the reference");
    let mut rstd = Check::new("kernel rstd vs the reference");
    mean.compare_len("mean", out.mean.len(), reference.mean.len());
    rstd.compare_len("rstd", out.rstd.len(), reference.rstd.len());
    let groups = out.mean.iter().zip(&out.rstd);
    let groups_ref = reference.mean.iter().zip(&reference.rstd);
    for (g, ((&m, &r), (&m_ref, &r_ref))) in groups.zip(groups_ref).enumerate() {
        let (m, r) = (f64::from(m), f64::from(r));
        let tolerance = KERNEL_RSTD_EPS32 * E32 * r_ref;
        rstd.compare("rstd", g, r, r_ref, tolerance, NonFinite::AnyNonFinite);
        if m_ref.is_finite() && !r_ref.is_finite() {
            continue;
        }
        let tolerance = KERNEL_MEAN_EPS32 * E32 * (m_ref.abs() + 1.0 / r_ref);
        mean.compare("mean", g, m, m_ref, tolerance, NonFinite::AnyNonFinite);
    }
    Comparison { y, mean, rstd }
}

/// The kernels `GROUPNORM_EXPECT_KERNELS` names, in its order (spaces around the names and
/// empty names dropped); `None` where it is not set.
pub fn expected_kernels() -> Option<Vec<String>> {
    let list = std::env::var(EXPECT_KERNELS_VAR).ok()?;
    Some(
        list.split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

/// Runs `f` for every kernel of [`Kernel::available()`], in its order, and returns their names;
/// then, where `GROUPNORM_EXPECT_KERNELS` is set, asserts that they are those it names, in the
/// same order.
pub fn for_each_kernel(mut f: impl FnMut(Kernel)) -> Vec<&'static str> {
    let ran = try_for_each_kernel(|kernel| {
        f(kernel);
        Ok::<(), Infallible>(())
    });
    match ran {
        Ok(ran) => ran,
        Err(never) => match never {},
    }
}

/// [`for_each_kernel`] for a fallible `f`: the first error stops the loop and is returned (and
/// then nothing is asserted about the kernels).
pub fn try_for_each_kernel<E>(
    mut f: impl FnMut(Kernel) -> Result<(), E>,
) -> Result<Vec<&'static str>, E> {
    let mut ran = Vec::new();
    for kernel in Kernel::available() {
        f(kernel)?;
        ran.push(kernel.name());
    }
    if let Some(expected) = expected_kernels() {
        assert_eq!(ran, expected, "kernels that ran vs {EXPECT_KERNELS_VAR}");
    }
    Ok(ran)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two groups of two values, with the given first `y`, first mean and second rstd.
    fn outputs(y0: f64, mean0: f64, rstd1: f64) -> (KernelOutput, GroupNormOutput) {
        let reference = GroupNormOutput {
            y: vec![y0, -0.5, 1.0, 0.0],
            mean: vec![mean0, 3.0],
            rstd: vec![2.0, rstd1],
        };
        let down = |v: &[f64]| v.iter().map(|&x| x as f32).collect();
        let out = KernelOutput {
            y: down(&reference.y),
            mean: down(&reference.mean),
            rstd: down(&reference.rstd),
        };
        (out, reference)
    }

    /// An input NaN with the sentinel's bits reaches the outputs, which are written all the
    /// same: the second run, with the other sentinel, tells them apart.
    #[test]
    fn a_sentinel_in_the_input_is_no_unwritten_output() {
        let mut x: Vec<f32> = (0..40).map(|v| v as f32).collect();
        x[3] = SENTINEL;
        let inputs = Inputs {
            shape: &[2, 4, 5],
            num_groups: 2,
            weight: None,
            bias: None,
            eps: 1e-5,
            input: &x,
            layout: Default::default(),
        };
        for_each_kernel(|kernel| {
            for out in [
                run(kernel, &inputs).unwrap(),
                run_at(
                    kernel,
                    &inputs,
                    Offsets {
                        input: 3,
                        output: 5,
                    },
                )
                .unwrap(),
            ] {
                let carried = out
                    .y
                    .iter()
                    .chain(&out.mean)
                    .any(|v| v.to_bits() == SENTINEL.to_bits());
                println!("{kernel}: sentinel carried into the outputs: {carried}");
                assert!(out.y[..10].iter().all(|v| v.is_nan()));
                assert!(out.y[10..].iter().all(|v| v.is_finite()));
            }
        });
    }

    #[test]
    fn kernel_vs_reference_holds_to_the_tolerances() {
        let (mut out, reference) = outputs(2.0, 0.25, 4.0);
        assert_eq!(kernel_vs_reference(&out, &reference).result(), Ok(()));
        // y[0] = 2: 16 e * 2 is the tolerance.
        out.y[0] = (2.0 + 15.0 * E32 * 2.0) as f32;
        assert!(kernel_vs_reference(&out, &reference).passed());
        out.y[0] = (2.0 + 17.0 * E32 * 2.0) as f32;
        let comparison = kernel_vs_reference(&out, &reference);
        assert!(!comparison.y.passed() && comparison.mean.passed() && comparison.rstd.passed());
        assert_eq!(comparison.y.first_failure_index, Some(0));
        out.y[0] = f32::NAN;
        assert!(!kernel_vs_reference(&out, &reference).passed());
        // mean[0] = 0.25 with rstd 2: the tolerance is 4 e (0.25 + 0.5).
        let (mut out, reference) = outputs(2.0, 0.25, 4.0);
        out.mean[0] = (0.25 + 3.5 * E32 * 0.75) as f32;
        assert!(kernel_vs_reference(&out, &reference).passed());
        out.mean[0] = (0.25 + 5.0 * E32 * 0.75) as f32;
        assert!(!kernel_vs_reference(&out, &reference).mean.passed());
        // rstd[1] = 4: the tolerance is 8 e * 4.
        let (mut out, reference) = outputs(2.0, 0.25, 4.0);
        out.rstd[1] = (4.0 - 9.0 * E32 * 4.0) as f32;
        assert!(!kernel_vs_reference(&out, &reference).rstd.passed());
        // A missing value.
        let (mut out, reference) = outputs(2.0, 0.25, 4.0);
        out.y.pop();
        assert!(!kernel_vs_reference(&out, &reference).y.passed());
    }

    #[test]
    fn kernel_vs_reference_matches_non_finite_values() {
        let (out, reference) = outputs(f64::NAN, f64::NAN, f64::INFINITY);
        assert!(kernel_vs_reference(&out, &reference).passed());
        let (mut out, _) = outputs(f64::INFINITY, 0.0, 1.0);
        let (_, reference) = outputs(f64::NEG_INFINITY, 0.0, 1.0);
        assert!(!kernel_vs_reference(&out, &reference).y.passed());
        out.y[0] = f32::NAN;
        assert!(!kernel_vs_reference(&out, &reference).y.passed());
        // A non-finite mean or rstd may be any non-finite value, but not a finite one.
        let (mut out, reference) = outputs(0.0, f64::NAN, f64::NAN);
        out.mean[0] = f32::INFINITY;
        out.rstd[1] = f32::NEG_INFINITY;
        assert!(kernel_vs_reference(&out, &reference).passed());
        out.rstd[1] = 1.0;
        assert!(!kernel_vs_reference(&out, &reference).rstd.passed());
        // A finite mean of a group whose rstd is not finite is not compared.
        let (mut out, reference) = outputs(0.0, 0.25, f64::NAN);
        out.mean[1] = 1e9;
        assert!(kernel_vs_reference(&out, &reference).passed());
    }
}
