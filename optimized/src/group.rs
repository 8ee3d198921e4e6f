//! One group's normalization, whatever its memory layout: its share of the parameters, the
//! choice between the `f32` path and the `f64` fallback once its moments are known, and the
//! coefficients of its output on either path.

use crate::element::{Element, Slice};
use crate::moments::{sqrt, Moments};
use crate::output::{Affine, Epilogue};
use crate::params::GroupNorm;
use crate::plan::Plan;

/// One `(n, g)` group's share of the parameters.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Group<'a> {
    weight: Option<Slice<'a>>,
    bias: Option<Slice<'a>>,
    eps: f64,
}

/// How a group is normalized: its mean and rstd, and the path its output takes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Normalization {
    mean: f64,
    rstd: f64,
    path: OutputPath,
    /// Neither weight nor bias: PyTorch then computes `(x - mean) * rstd` (see [`Self::exact`]).
    plain: bool,
}

/// The arithmetic of a group's output.
#[derive(Clone, Copy, Debug)]
pub(crate) enum OutputPath {
    /// The usual case: `y = (x - shift) * scale + offset` in `f32`, two FMAs per value (see
    /// `output`).
    Fma { shift: f32 },
    /// Every other group: mean, variance and output in `f64`, as the reference computes them
    /// (in the same order of sums for contiguous data; channels-last visits a group row by
    /// row, the reference channel by channel, so the last bits of the sums may differ).
    /// That is a group whose `f32` moments are not finite (non-finite values, or squares beyond
    /// the `f32` range), whose `var + eps` is below 2^-100 or variance above 2^100, or whose
    /// output coefficients (`gamma * rstd`, `beta`) go beyond 2^100, an infinite `gamma`
    /// included.
    Exact,
}

/// The range (2^-100 to 2^100) of variances (plus eps, at the low end) and of output
/// coefficients for which the `f32` path keeps full precision with a wide margin.
const F32_PATH_MIN: f64 = 7.888609052210118e-31;
const F32_PATH_MAX: f64 = 1.2676506002282294e30;

impl<'a> Group<'a> {
    /// Group `index` (counted over samples and groups) of a call.
    pub fn new(params: &GroupNorm<'a>, plan: &Plan, index: usize) -> Group<'a> {
        let channels = plan.channels_of_group(params, index);
        Group {
            weight: params.weight_values().map(|w| w.slice(channels.clone())),
            bias: params.bias_values().map(|b| b.slice(channels)),
            eps: params.eps(),
        }
    }

    /// Whether the group has affine parameters, so that its channels differ in their output
    /// coefficients.
    pub fn affine(&self) -> bool {
        self.weight.is_some() || self.bias.is_some()
    }

    /// `(gamma, beta)` of the group's `channel`-th channel.
    pub fn channel(&self, channel: usize) -> (f64, f64) {
        (
            self.weight.map_or(1.0, |w| f64::from(w.get(channel))),
            self.bias.map_or(0.0, |b| f64::from(b.get(channel))),
        )
    }

    fn rstd(&self, variance: f64) -> f64 {
        1.0 / sqrt(variance + self.eps)
    }

    /// The group's normalization from the moments of its blocks. `values` yields the group's
    /// values, in any order, for the `f64` fallback.
    pub fn normalization<I>(&self, moments: Moments, values: impl Fn() -> I) -> Normalization
    where
        I: Iterator<Item = f32>,
    {
        let variance = moments.variance();
        // The f32 path where its intermediate values sit well inside the f32 range: squares of
        // deviations that neither underflow (with no eps to dominate them) nor overflow, and
        // output coefficients that fit. Anywhere else (non-finite values included), f64.
        if moments.mean.is_finite()
            && variance + self.eps >= F32_PATH_MIN
            && variance <= F32_PATH_MAX
        {
            let mean = moments.mean;
            let rstd = self.rstd(variance);
            let max_gamma = self.weight.map_or(1.0, |w| w.max_abs());
            let max_beta = self.bias.map_or(0.0, |b| b.max_abs());
            if f64::from(max_gamma) * rstd <= F32_PATH_MAX
                && f64::from(max_beta) + f64::from(max_gamma) <= F32_PATH_MAX
            {
                // The output is shifted too when the mean is large against the spread, so that
                // no f32 value near the mean enters it: `x - f32(mean)` is exact for `x` near
                // the mean (Sterbenz). Near zero, `x` itself is the better-conditioned input.
                let shift = if mean.abs() * rstd > 1.0 {
                    mean as f32
                } else {
                    0.0
                };
                return Normalization {
                    mean,
                    rstd,
                    path: OutputPath::Fma { shift },
                    plain: !self.affine(),
                };
            }
        }
        let count = moments.count;
        let mean = values().map(f64::from).sum::<f64>() / count;
        let m2: f64 = values()
            .map(|v| (f64::from(v) - mean) * (f64::from(v) - mean))
            .sum();
        Normalization {
            mean,
            rstd: self.rstd(m2 / count),
            path: OutputPath::Exact,
            plain: !self.affine(),
        }
    }
}

impl Normalization {
    /// `mean` and `rstd`, in `f64`: rounded once to the type of the buffers they go to.
    pub fn mean_rstd(&self) -> (f64, f64) {
        (self.mean, self.rstd)
    }

    pub fn path(&self) -> OutputPath {
        self.path
    }

    /// The `f32` path's coefficients for a channel of `(gamma, beta)` and the output `shift`:
    /// `scale = gamma * rstd` and `offset = beta - (mean - shift) * scale`.
    #[inline(always)]
    pub fn affine(&self, shift: f32, (gamma, beta): (f64, f64)) -> Affine {
        let scale = gamma * self.rstd;
        Affine::new(shift, scale, beta - (self.mean - f64::from(shift)) * scale)
    }

    /// The exact path's output for `x` in a channel of `(gamma, beta)`, as the reference
    /// computes it: where the scale is not finite, PyTorch's order decides which values are
    /// NaN: `(x - mean) * rstd` without weight and bias (so an infinite `rstd` gives `±inf`),
    /// `x * scale + (beta - mean * scale)` with either.
    #[inline(always)]
    pub fn exact<E: Element>(&self, x: E, (gamma, beta): (f64, f64), epilogue: impl Epilogue) -> E {
        let (mean, rstd) = (self.mean, self.rstd);
        let scale = rstd * gamma;
        let x = f64::from(x.to_f32());
        let y = if self.plain {
            (x - mean) * rstd
        } else if scale.is_finite() {
            (x - mean) * rstd * gamma + beta
        } else {
            x * scale + (beta - mean * scale)
        };
        E::from_f64(epilogue.apply_exact(y))
    }
}
