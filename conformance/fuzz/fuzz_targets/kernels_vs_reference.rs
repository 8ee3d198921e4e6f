//! Every available optimized kernel against the `f64` reference, on fuzzer-chosen problems.
//!
//! The bytes become a shape `(N, C, *spatial)` with 2..=5 dimensions (`N = 0` included; both
//! crates reject `C = 0` and zero spatial dimensions) and at most 4096 values, `G` dividing `C`,
//! `eps` from a small set (0, negative, subnormal and large included), optional weight and bias,
//! and data drawn group by group in one of several styles: raw `f32` bits (NaN, infinities and
//! subnormals included), small integers scaled and offset by powers of ten from 1e-40 to 3e36,
//! constant groups, and a mixture; stored contiguous or channels-last (`(N, *spatial, C)` in
//! memory), the fuzzer's choice. Every kernel must accept the problem without panicking,
//! write every output, and agree with the reference run on the same values upcast to `f64` in
//! the same layout, group by group (compared in the logical order: `y` of both transposed back
//! where channels-last), as follows (`e = f32::EPSILON`; `var`, the exact variance of the group's
//! `f32` values, is computed here in `f64` only to decide which case applies):
//!
//! 1. **A NaN or an infinity in the group's data**: the reference's variance is NaN, so is every
//!    `y`, and the rstd; the kernel's must be NaN too, and its mean not finite where the
//!    reference's is not.
//! 2. **Constant groups** (all values equal, `var = 0` exactly): `x - mean = 0`, so
//!    `y = beta` for `eps > 0` (compared within `16 e max(1, |beta|, |gamma|)`, see `s` below);
//!    for `eps = 0`, `rstd = +inf` and `y = 0 * inf`, NaN; for `eps < 0`, NaN. These groups are
//!    compared with exact arithmetic rather than with the reference, whose `f64` mean of equal
//!    values can be off by an ulp, which `rstd` (up to `1/sqrt(1e-45) = 2.7e22`) then amplifies
//!    to any size: the reference's own error bound there is unbounded, the exact result is not.
//! 3. **Other groups** (`var > 0`), by the sign of `D = var + eps`:
//!    * `|D| <= 2^-16 (var + |eps|)`: not compared. With `eps < 0` cancelling `var` to within
//!      2^-16, `rstd` has a condition number above 2^15 in the variance: a relative error of a
//!      few `e` in the `f32` variance moves `D` by more than its size, so neither its sign (NaN
//!      or not) nor its magnitude is determined at `f32` precision. (Only reachable with
//!      `eps < 0`.)
//!    * `D < 0`: the reference's rstd is NaN, and every `y`; the kernel's must be NaN too.
//!    * `D > 0`: with `cond = (var + |eps|) / D` (1 unless `eps < 0`), the project's accuracy
//!      target, scaled by the condition of the problem: `|y - y_ref| <= 16 e cond s`,
//!      `|rstd - rstd_ref| <= 8 e cond rstd_ref`, and
//!      `|mean - mean_ref| <= 4 e (|mean_ref| + spread) + 2^-149`, the spread as the project's
//!      target has it (`1/rstd_ref = sqrt(var + eps)` for `eps >= 0`, the standard deviation
//!      for `eps < 0`; the last term is the spacing of the `f32` subnormals: no `f32` mean can be
//!      closer). A `y_ref` beyond the `f32` range may
//!      come back as the infinity it rounds to.
//!
//! `s = max(1, |y_ref|, |beta|, |gamma z|, |gamma|)` with `z = (x - mean) rstd`: the kernels
//! compute `y = (x - S) * scale + offset` in `f32`, whose terms are `gamma (z + kappa)` and
//! `beta - gamma kappa`, `kappa = (mean - S) rstd` with `|kappa| <= 1` by their choice of the
//! output shift `S`; an `f32` result carries the rounding of its largest term. With
//! `|gamma| <= 1` and `|beta| <= 1` and no cancellation between `gamma z` and `beta`, `s` is
//! `max(1, |y_ref|)`, the project's target as stated.
//!
//! **Half types and SiLU.** Bytes past the problem choose an element type (float32, float16,
//! bfloat16), whether weight and bias take it too, and whether SiLU follows: the problem's
//! values rounded to that type are run through every kernel twice, in the type and in float32
//! (the same values, the same activation). A half-type output computes the same `f32` lanes as
//! the float32 one and rounds them once, so every `y` must be the float32 `y` rounded to the
//! type, within one ulp of it (the `f64` path rounds `f64` directly, not through `f32`), NaN
//! where it is NaN; the statistics likewise, in their type.
//!
//! Channels whose weight or bias is not finite: the reference's `y` is not finite there (an
//! infinite factor or term), and the kernel's must be the same: NaN where it is NaN, the same
//! infinity where it is infinite. Both crates take PyTorch's order of operations where
//! `rstd * gamma` is infinite, `x * scale + (beta - mean * scale)`, so which of NaN and ±inf
//! comes out follows from the signs of `x` and the mean. Where the reference's mean is within
//! the mean's tolerance of zero, its sign is not settled at the kernel's precision, and only
//! "not finite" is compared.

#![no_main]

use groupnorm_conformance::check::{E32, KERNEL_MEAN_EPS32, KERNEL_RSTD_EPS32, KERNEL_Y_EPS32};
use groupnorm_conformance::kit::{self, Inputs, KernelOutput};
use groupnorm_conformance::variant::{Activation, DType, Layout, Variant};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

const MAX_VALUES: usize = 4096;
const EPS: [f32; 10] = [1e-5, 0.0, -1e-3, 0.1, 1.0, 1e-30, 1e-45, -1.0, 1e3, -1e-8];
/// Scales and offsets of the integer-valued data styles.
const POWERS: [f32; 12] = [
    0.0, 1e-40, 1e-30, 1e-20, 1e-10, 1e-3, 1.0, 1e3, 1e10, 1e19, 1e30, 3e36,
];
/// Interesting affine parameters.
const PARAMS: [f32; 14] = [
    1.0,
    -1.0,
    0.5,
    0.0,
    2.0,
    1e-3,
    1e3,
    1e30,
    -1e30,
    f32::MAX,
    1e-40,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::NAN,
];

#[derive(Debug)]
struct Case {
    shape: Vec<usize>,
    num_groups: usize,
    weight: Option<Vec<f32>>,
    bias: Option<Vec<f32>>,
    eps: f32,
    /// In the logical `(N, C, *spatial)` order, group after group.
    x: Vec<f32>,
    layout: Layout,
}

fn param_values(u: &mut Unstructured, channels: usize) -> Result<Option<Vec<f32>>> {
    if !u.arbitrary::<bool>()? {
        return Ok(None);
    }
    (0..channels)
        .map(|_| {
            Ok(match u.int_in_range(0u8..=3)? {
                0 => f32::from(u.arbitrary::<i8>()?) / 32.0,
                1 => *u.choose(&PARAMS)?,
                2 => f32::from_bits(u.arbitrary()?),
                _ => 1.0,
            })
        })
        .collect::<Result<Vec<f32>>>()
        .map(Some)
}

fn group_values(u: &mut Unstructured, len: usize, out: &mut Vec<f32>) -> Result<()> {
    let style = u.int_in_range(0u8..=3)?;
    let scale = *u.choose(&POWERS)?;
    let offset = *u.choose(&POWERS)? * if u.arbitrary()? { -1.0 } else { 1.0 };
    let constant = f32::from_bits(u.arbitrary()?);
    for _ in 0..len {
        let small = f32::from(u.arbitrary::<i8>()?);
        let v = match style {
            0 => f32::from_bits(u.arbitrary()?),
            1 => offset + scale * small,
            2 => constant,
            _ => {
                if u.ratio(1u8, 16u8)? {
                    f32::from_bits(u.arbitrary()?)
                } else {
                    offset + scale * small
                }
            }
        };
        out.push(v);
    }
    Ok(())
}

fn case(u: &mut Unstructured) -> Result<Option<Case>> {
    let dims = u.int_in_range(2usize..=5)?;
    let n = u.int_in_range(0usize..=4)?;
    let num_groups = u.int_in_range(1usize..=8)?;
    let channels = num_groups * u.int_in_range(1usize..=8)?;
    let mut shape = vec![n, channels];
    for _ in 2..dims {
        shape.push(u.int_in_range(1usize..=300)?);
    }
    let len = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let Some(len) = len.filter(|&l| l <= MAX_VALUES) else {
        return Ok(None);
    };
    let eps = *u.choose(&EPS)?;
    let weight = param_values(u, channels)?;
    let bias = param_values(u, channels)?;
    let mut x = Vec::with_capacity(len);
    let groups = n * num_groups;
    if groups > 0 {
        for _ in 0..groups {
            group_values(u, len / groups, &mut x)?;
        }
    }
    // Last, so that inputs too short for it are contiguous problems as before.
    let layout = if u.arbitrary()? {
        Layout::ChannelsLast
    } else {
        Layout::Contiguous
    };
    Ok(Some(Case {
        shape,
        num_groups,
        weight,
        bias,
        eps,
        x,
        layout,
    }))
}

impl Case {
    /// The problem with `input`, `x` stored in the case's layout.
    fn inputs<'a>(&'a self, input: &'a [f32]) -> Inputs<'a> {
        Inputs {
            shape: &self.shape,
            num_groups: self.num_groups,
            weight: self.weight.as_deref(),
            bias: self.bias.as_deref(),
            eps: f64::from(self.eps),
            input,
            layout: self.layout,
        }
    }

    /// `C` and `prod(spatial)`.
    fn sizes(&self) -> (usize, usize) {
        (self.shape[1], self.shape[2..].iter().product())
    }

    /// `values` in logical order, stored in the case's layout.
    fn stored<T: Copy>(&self, values: &[T]) -> Vec<T> {
        let (c, s) = self.sizes();
        match self.layout {
            Layout::ChannelsLast => transpose(values, c, s),
            Layout::Contiguous => values.to_vec(),
        }
    }

    /// `values` stored in the case's layout, in logical order.
    fn logical<T: Copy>(&self, values: &[T]) -> Vec<T> {
        let (c, s) = self.sizes();
        match self.layout {
            Layout::ChannelsLast => transpose(values, s, c),
            Layout::Contiguous => values.to_vec(),
        }
    }
}

/// Each `rows x cols` matrix of `values` (one after the other, row-major) transposed.
fn transpose<T: Copy>(values: &[T], rows: usize, cols: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(values.len());
    for matrix in values.chunks(rows * cols) {
        for j in 0..cols {
            out.extend((0..rows).map(|i| matrix[i * cols + j]));
        }
    }
    out
}

/// `got` within `tol` of `want`; a `want` beyond the `f32` range may come back as the infinity
/// it rounds to.
fn close(got: f32, want: f64, tol: f64) -> bool {
    let g = f64::from(got);
    (g - want).abs() <= tol || (got.is_infinite() && want as f32 == got)
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(Some(case)) = case(&mut u) else {
        return;
    };
    let stored = case.stored(&case.x);
    let inputs = case.inputs(&stored);
    let mut reference = inputs
        .reference()
        .expect("the reference rejects a valid problem");
    reference.y = case.logical(&reference.y);
    // Every kernel accepts the problem and writes every output (`kit::run`).
    kit::for_each_kernel(|kernel| {
        let mut out =
            kit::run(kernel, &inputs).unwrap_or_else(|e| panic!("{}: {e}", kernel.name()));
        out.y = case.logical(&out.y);
        check(kernel.name(), &case, &reference, &out);
    });
    let dtype = match u.int_in_range(0u8..=2).unwrap_or(0) {
        0 => DType::Float32,
        1 => DType::Float16,
        _ => DType::BFloat16,
    };
    let own_type_parameters = u.arbitrary().unwrap_or(false);
    let activation = if u.arbitrary().unwrap_or(false) {
        Activation::Silu
    } else {
        Activation::None
    };
    if dtype != DType::Float32 || activation == Activation::Silu {
        check_types(&case, dtype, own_type_parameters, activation);
    }
});

/// The half-type and SiLU property of the module docs: the problem's values rounded to `dtype`
/// (and weight and bias too with `own_type_parameters`), through every kernel in `dtype` and in
/// float32.
fn check_types(case: &Case, dtype: DType, own_type_parameters: bool, activation: Activation) {
    let round = |v: &[f32]| -> Vec<f32> {
        v.iter()
            .map(|&x| dtype.round(f64::from(x)) as f32)
            .collect()
    };
    let x = round(&case.stored(&case.x));
    let param_dtype = if own_type_parameters {
        dtype
    } else {
        DType::Float32
    };
    let params = |p: &Option<Vec<f32>>| {
        p.as_deref().map(|p| {
            if own_type_parameters {
                round(p)
            } else {
                p.to_vec()
            }
        })
    };
    let (weight, bias) = (params(&case.weight), params(&case.bias));
    let inputs = Inputs {
        weight: weight.as_deref(),
        bias: bias.as_deref(),
        ..case.inputs(&x)
    };
    let in_type = Variant {
        layout: case.layout,
        dtype,
        param_dtype,
        activation,
    };
    let in_float32 = Variant {
        dtype: DType::Float32,
        param_dtype: DType::Float32,
        ..in_type
    };
    let stats_dtype = if (weight.is_some() || bias.is_some()) && !own_type_parameters {
        DType::Float32
    } else {
        dtype
    };
    kit::for_each_kernel(|kernel| {
        let run = |variant: &Variant| {
            kit::run_variant(kernel, &inputs, variant)
                .unwrap_or_else(|e| panic!("{} {variant:?}: {e}", kernel.name()))
        };
        let (typed, float32) = (run(&in_type), run(&in_float32));
        let ctx = format!(
            "{} {in_type:?}: shape {:?}, G = {}, eps = {:e}",
            kernel.name(),
            case.shape,
            case.num_groups,
            case.eps
        );
        for (field, got, want, t) in [
            ("y", &typed.y, &float32.y, dtype),
            ("mean", &typed.mean, &float32.mean, stats_dtype),
            ("rstd", &typed.rstd, &float32.rstd, stats_dtype),
        ] {
            for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
                let (g, w) = (f64::from(g), t.round(f64::from(w)));
                let agree = g == w
                    || g.is_nan() && w.is_nan()
                    || (g.is_finite() || w.is_finite()) && (g - w).abs() <= t.ulp(w);
                assert!(
                    agree,
                    "{ctx}: {field}[{i}] {g:e} in the type, {w:e} from float32"
                );
            }
        }
    });
}

fn check(
    kernel: &str,
    case: &Case,
    reference: &groupnorm_reference::GroupNormOutput,
    out: &KernelOutput,
) {
    let groups = case.shape[0] * case.num_groups;
    let channels_per_group = case.shape[1] / case.num_groups;
    let group_len = case.x.len().checked_div(groups).unwrap_or(0);
    let channel_len = group_len.checked_div(channels_per_group).unwrap_or(0);
    let eps = f64::from(case.eps);
    for gi in 0..groups {
        let group_data = if group_len <= 16 {
            format!(" {:?}", &case.x[gi * group_len..(gi + 1) * group_len])
        } else {
            String::new()
        };
        let ctx = format!(
            "{kernel}: shape {:?}, G = {}, {:?}, eps = {:e}, group {gi}{group_data}",
            case.shape, case.num_groups, case.layout, case.eps
        );
        let (r_ref, m_ref) = (reference.rstd[gi], reference.mean[gi]);
        let (r, m) = (out.rstd[gi], out.mean[gi]);

        let xs = &case.x[gi * group_len..(gi + 1) * group_len];
        let ys = &out.y[gi * group_len..(gi + 1) * group_len];
        let ys_ref = &reference.y[gi * group_len..(gi + 1) * group_len];
        let first_channel = (gi % case.num_groups) * channels_per_group;
        let gamma = |j: usize| {
            case.weight
                .as_ref()
                .map_or(1.0, |w| w[first_channel + j / channel_len])
        };
        let beta = |j: usize| {
            case.bias
                .as_ref()
                .map_or(0.0, |b| b[first_channel + j / channel_len])
        };
        let params_finite = |j: usize| gamma(j).is_finite() && beta(j).is_finite();
        // 1. Non-finite data: NaN everywhere, as in the reference.
        if xs.iter().any(|v| !v.is_finite()) {
            assert!(
                r_ref.is_nan(),
                "{ctx}: reference rstd {r_ref:e} with non-finite data"
            );
            assert!(r.is_nan(), "{ctx}: rstd {r:e} with non-finite data");
            assert!(
                m_ref.is_finite() || !m.is_finite(),
                "{ctx}: mean {m:e}, reference {m_ref:e}"
            );
            for (j, (&y, &y_ref)) in ys.iter().zip(ys_ref).enumerate() {
                assert!(y_ref.is_nan(), "{ctx}: reference y[{j}] = {y_ref:e}");
                assert!(
                    y.is_nan(),
                    "{ctx}: y[{j}] = {y:e} where the data holds NaN or inf"
                );
            }
            continue;
        }

        // 2. Constant groups: exact arithmetic.
        if xs.iter().all(|&v| v == xs[0]) {
            if case.eps > 0.0 {
                assert_eq!(m, xs[0], "{ctx}: constant group's mean");
                let r_exact = 1.0 / eps.sqrt();
                assert!(
                    close(r, r_exact, KERNEL_RSTD_EPS32 * E32 * r_exact),
                    "{ctx}: rstd {r:e} for var = 0"
                );
                for (j, &y) in ys.iter().enumerate() {
                    let b = f64::from(beta(j));
                    if params_finite(j) {
                        let s = b.abs().max(1.0).max(f64::from(gamma(j)).abs());
                        let ok = close(y, b, KERNEL_Y_EPS32 * E32 * s);
                        let g = gamma(j);
                        assert!(ok, "{ctx}: y[{j}] = {y:e} in a constant group of {:e}, gamma = {g:e}, beta = {b:e}", xs[0]);
                    }
                }
            } else {
                let want_rstd = if case.eps == 0.0 {
                    f32::INFINITY
                } else {
                    f32::NAN
                };
                assert!(
                    r.to_bits() == want_rstd.to_bits() || (r.is_nan() && want_rstd.is_nan()),
                    "{ctx}: rstd {r:e} of a constant group, expected {want_rstd:e}"
                );
                for (j, &y) in ys.iter().enumerate() {
                    assert!(
                        y.is_nan(),
                        "{ctx}: y[{j}] = {y:e}: 0 * inf or NaN rstd expected"
                    );
                }
            }
            continue;
        }

        // 3. var > 0.
        let count = xs.len() as f64;
        let mu = xs.iter().map(|&v| f64::from(v)).sum::<f64>() / count;
        let var = xs.iter().map(|&v| (f64::from(v) - mu).powi(2)).sum::<f64>() / count;
        let d = var + eps;
        let denom = var + eps.abs();
        if d.abs() <= denom * 2f64.powi(-16) {
            continue; // ill-posed: see the module docs
        }
        if d < 0.0 {
            assert!(
                r_ref.is_nan(),
                "{ctx}: reference rstd {r_ref:e} with var + eps < 0"
            );
            assert!(r.is_nan(), "{ctx}: rstd {r:e} with var + eps = {d:e} < 0");
            for (j, &y) in ys.iter().enumerate() {
                assert!(y.is_nan(), "{ctx}: y[{j}] = {y:e} with var + eps < 0");
            }
            continue;
        }
        let cond = denom / d;
        assert!(
            r_ref.is_finite(),
            "{ctx}: reference rstd {r_ref:e} with var + eps = {d:e}"
        );
        let ok = close(r, r_ref, KERNEL_RSTD_EPS32 * E32 * cond * r_ref);
        assert!(
            ok,
            "{ctx}: rstd {r:e}, reference {r_ref:e} (var {var:e}, cond {cond:e})"
        );
        // The spread as the project's mean target has it (conformance/src/check.rs): 1 / rstd,
        // i.e. sqrt(var + eps), for eps >= 0, the standard deviation for eps < 0.
        let spread = if eps >= 0.0 { 1.0 / r_ref } else { var.sqrt() };
        // Plus the spacing of the subnormals: a mean below f32::MIN_POSITIVE cannot be closer.
        let mean_tolerance = KERNEL_MEAN_EPS32 * E32 * (m_ref.abs() + spread) + SUBNORMAL_SPACING;
        let ok = close(m, m_ref, mean_tolerance);
        assert!(
            ok,
            "{ctx}: mean {m:e}, reference {m_ref:e} (spread {spread:e}, sd {:e})",
            var.sqrt()
        );
        let mean_sign_settled = m_ref.abs() > mean_tolerance;
        for (j, (&y, &y_ref)) in ys.iter().zip(ys_ref).enumerate() {
            if !params_finite(j) {
                let ok = if gamma(j).is_finite() || mean_sign_settled {
                    same_non_finite(y, y_ref)
                } else {
                    !y.is_finite() && !y_ref.is_finite()
                };
                assert!(
                    ok,
                    "{ctx}: y[{j}] = {y:e}, reference {y_ref:e} (gamma {}, beta {}, mean_ref {m_ref:e})",
                    gamma(j),
                    beta(j)
                );
                continue;
            }
            let (g, b) = (f64::from(gamma(j)), f64::from(beta(j)));
            assert!(y_ref.is_finite(), "{ctx}: reference y[{j}] = {y_ref:e}");
            // |gamma z| = |y_ref - b|; the kernels' output terms are |gamma| (|z| + kappa) with
            // kappa <= 1, how far their output shift sits from the mean in standard deviations.
            let gz = (y_ref - b).abs();
            let s = 1f64.max(y_ref.abs()).max(b.abs()).max(gz).max(g.abs());
            let tol = KERNEL_Y_EPS32 * E32 * cond * s;
            assert!(
                close(y, y_ref, tol),
                "{ctx}: y[{j}] = {y:e}, reference {y_ref:e}, error {:.2} x tol (gamma {g:e}, beta {b:e}, var {var:e}, rstd_ref {r_ref:e}, mean_ref {m_ref:e}, first {:e})",
                (f64::from(y) - y_ref).abs() / tol,
                xs[0]
            );
        }
    }
}

/// `y` is the non-finite `y_ref`: both NaN, or the same infinity.
fn same_non_finite(y: f32, y_ref: f64) -> bool {
    if y_ref.is_nan() {
        y.is_nan()
    } else {
        !y_ref.is_finite() && f64::from(y) == y_ref
    }
}

/// The distance between consecutive `f32` subnormals, 2^-149: the best absolute accuracy an `f32`
/// result near zero can have.
const SUBNORMAL_SPACING: f64 = 1.401_298_464_324_817e-45;
