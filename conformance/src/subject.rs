//! The interface every implementation is checked through: a [`Subject`] takes a case's inputs
//! ([`CaseInputs`]) and returns its [`Outputs`]. The reference ([`Reference`]) and every
//! optimized [`Kernel`] are subjects, and so is a results file that another program wrote
//! (`results`); `report::check_subject` checks any of them the same way.
//!
//! ```
//! use groupnorm_conformance::subject::{CaseInputs, Outputs, Subject};
//! use groupnorm_conformance::{check_subject, load_dir, vectors_dir};
//!
//! /// GroupNorm in a few lines: two passes in f64, PyTorch's order of operations. Contiguous
//! /// data only (the default of `Subject::supports`): channels-last cases are not supported.
//! struct Naive;
//!
//! impl Subject for Naive {
//!     fn name(&self) -> &str {
//!         "naive"
//!     }
//!
//!     fn run(&self, case: &CaseInputs<'_>) -> Result<Outputs, String> {
//!         let (c, groups) = (case.shape[1], case.num_groups);
//!         let group_len = case.input.len() / (case.shape[0] * groups).max(1);
//!         let channel_len = group_len / (c / groups);
//!         let (mut y, mut mean, mut rstd) = (vec![], vec![], vec![]);
//!         for (g, x) in case.input.chunks(group_len.max(1)).enumerate() {
//!             let m = x.iter().map(|&v| f64::from(v)).sum::<f64>() / x.len() as f64;
//!             let var = x.iter().map(|&v| (f64::from(v) - m).powi(2)).sum::<f64>() / x.len() as f64;
//!             let r = 1.0 / (var + case.eps).sqrt();
//!             for (i, &v) in x.iter().enumerate() {
//!                 let ch = g % groups * (c / groups) + i / channel_len;
//!                 let scale = r * case.weight.map_or(1.0, |w| f64::from(w[ch]));
//!                 let beta = case.bias.map_or(0.0, |b| f64::from(b[ch]));
//!                 y.push(match (case.weight, case.bias) {
//!                     (None, None) => (f64::from(v) - m) * r,
//!                     _ => f64::from(v) * scale + (beta - m * scale),
//!                 });
//!             }
//!             mean.push(m);
//!             rstd.push(r);
//!         }
//!         Ok(Outputs::new(y).with_stats(mean, rstd))
//!     }
//! }
//!
//! let files = load_dir(&vectors_dir()).unwrap();
//! let report = check_subject(&Naive, files.iter().flat_map(|f| &f.cases));
//! assert!(report.passed(), "{}", groupnorm_conformance::render(&[report]));
//! ```

use crate::run::{self, Inputs};
use crate::variant::{Feature, Variant};
use crate::vectors::Case;
use groupnorm_optimized::Kernel;
use groupnorm_reference::GroupNormOutput;

/// What a subject is given for one case: the case's name and inputs, as the vector file holds
/// them. New schema fields become new fields here, so a subject reads the ones it knows.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct CaseInputs<'a> {
    /// The case's name, unique across the vector files.
    pub name: &'a str,
    /// `(N, C, *spatial)`, the logical shape, whatever the layout.
    pub shape: &'a [usize],
    /// `G`, which divides `C`.
    pub num_groups: usize,
    /// PyTorch's `eps`, a float64; it may be 0 or negative.
    pub eps: f64,
    /// The layout of `input` and of the `y` to return, the element types, the activation.
    pub variant: Variant,
    /// `gamma`, one per channel, values of `variant.param_dtype`.
    pub weight: Option<&'a [f32]>,
    /// `beta`, one per channel, values of `variant.param_dtype`.
    pub bias: Option<&'a [f32]>,
    /// `x` in `variant.layout`'s memory order, values of `variant.dtype`.
    pub input: &'a [f32],
    /// For a backward case, `grad_output`, like `input`.
    pub grad_output: Option<&'a [f32]>,
}

impl<'a> CaseInputs<'a> {
    /// The inputs of `case`.
    pub fn of(case: &'a Case) -> CaseInputs<'a> {
        CaseInputs {
            name: &case.name,
            shape: &case.shape,
            num_groups: case.num_groups,
            eps: case.eps,
            variant: case.variant,
            weight: case.weight.as_deref(),
            bias: case.bias.as_deref(),
            input: &case.input,
            grad_output: case.backward.as_ref().map(|b| &b.grad_output[..]),
        }
    }

    /// Every feature the case needs.
    pub fn features(&self) -> Vec<Feature> {
        let mut features = self.variant.features().to_vec();
        if self.grad_output.is_some() {
            features.push(Feature::Backward);
        }
        features
    }

    /// The problem in the kit's terms (see `kit::run`): its values, shape, parameters and
    /// layout; [`run_variant`](crate::run::run_variant) takes the element types and the
    /// activation from `variant`.
    pub fn problem(&self) -> Inputs<'a> {
        Inputs {
            shape: self.shape,
            num_groups: self.num_groups,
            weight: self.weight,
            bias: self.bias,
            eps: self.eps,
            input: self.input,
            layout: self.variant.layout,
        }
    }
}

/// What a subject returns for one case.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Outputs {
    /// Like `input`: same length and memory order, values of the output type.
    pub y: Vec<f64>,
    /// `mean[n * G + g]`, where the subject returns it.
    pub mean: Option<Vec<f64>>,
    /// `rstd[n * G + g]`, where the subject returns it.
    pub rstd: Option<Vec<f64>>,
}

impl Outputs {
    /// `y` alone.
    pub fn new(y: Vec<f64>) -> Outputs {
        Outputs {
            y,
            mean: None,
            rstd: None,
        }
    }

    /// With `mean` and `rstd`.
    pub fn with_stats(self, mean: Vec<f64>, rstd: Vec<f64>) -> Outputs {
        Outputs {
            mean: Some(mean),
            rstd: Some(rstd),
            ..self
        }
    }
}

impl From<GroupNormOutput> for Outputs {
    fn from(out: GroupNormOutput) -> Outputs {
        Outputs::new(out.y).with_stats(out.mean, out.rstd)
    }
}

impl From<run::KernelOutput> for Outputs {
    /// The outputs upcast to `f64`, exactly.
    fn from(out: run::KernelOutput) -> Outputs {
        out.to_f64().into()
    }
}

/// The tolerances a subject is held to (see `check`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// Check (c): `y` within 16 eps32 of `max(1, |y64|)`, `mean` within 4 eps32 of
    /// `|mu| + spread`, `rstd` within 8 eps32 relative: what the optimized kernels claim, and
    /// a float32 implementation that accumulates with care can meet.
    #[default]
    Float32,
    /// Check (a): `f64` rounding, scaled by the group's condition: for `f64` implementations.
    Float64,
}

/// An implementation under test.
pub trait Subject {
    /// Its name in the reports.
    fn name(&self) -> &str;

    /// Whether it can run cases that need `feature`. By default: what every schema version 1
    /// case needs (contiguous float32 input, no activation, forward only).
    fn supports(&self, feature: Feature) -> bool {
        feature.is_v1()
    }

    /// Why it does not run `case`, or `None` when it does. By default: the case's features that
    /// [`supports`](Subject::supports) refuses.
    fn unsupported(&self, case: &CaseInputs<'_>) -> Option<String> {
        refused_features(self, case)
    }

    /// The tolerances it is held to.
    fn precision(&self) -> Precision {
        Precision::Float32
    }

    /// Its outputs for `case` (only called where [`unsupported`](Subject::unsupported) is
    /// `None`), or why it has none.
    fn run(&self, case: &CaseInputs<'_>) -> Result<Outputs, String>;
}

/// The features of `case` that `subject` does not support, in words (`None` when it supports
/// them all): [`Subject::unsupported`]'s default.
pub fn refused_features(
    subject: &(impl Subject + ?Sized),
    case: &CaseInputs<'_>,
) -> Option<String> {
    let refused: Vec<String> = case
        .features()
        .into_iter()
        .filter(|&f| !subject.supports(f))
        .map(|f| f.to_string())
        .collect();
    (!refused.is_empty()).then(|| refused.join(", "))
}

/// The `f64` reference crate, held to check (a).
#[derive(Clone, Copy, Debug, Default)]
pub struct Reference;

impl Subject for Reference {
    fn name(&self) -> &str {
        "reference"
    }

    /// Every forward case: both layouts, every element type (whose values it takes in `f64`),
    /// with or without SiLU.
    fn supports(&self, feature: Feature) -> bool {
        feature != Feature::Backward
    }

    fn precision(&self) -> Precision {
        Precision::Float64
    }

    fn run(&self, case: &CaseInputs<'_>) -> Result<Outputs, String> {
        refuse_unsupported(self, case)?;
        let out = crate::check::reference_output(case).map_err(|e| e.to_string())?;
        Ok(out.into())
    }
}

impl Subject for Kernel {
    fn name(&self) -> &str {
        Kernel::name(*self)
    }

    /// Every forward case: both layouts, float32, float16 and bfloat16 data with parameters of
    /// float32 or the data's type, with or without SiLU.
    fn supports(&self, feature: Feature) -> bool {
        feature != Feature::Backward
    }

    /// Through `run::run_variant`: exact-length buffers full of sentinels, where an unwritten
    /// value is an error.
    fn run(&self, case: &CaseInputs<'_>) -> Result<Outputs, String> {
        refuse_unsupported(self, case)?;
        let out = run::run_variant(*self, &case.problem(), &case.variant);
        let out = out.map_err(|e| e.to_string())?;
        Ok(out.into())
    }
}

/// An error where `subject` does not support `case`, for subjects called directly.
fn refuse_unsupported(subject: &dyn Subject, case: &CaseInputs<'_>) -> Result<(), String> {
    match subject.unsupported(case) {
        Some(why) => Err(format!("not supported: {why}")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_refuse_what_they_do_not_support() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let mut case = CaseInputs {
            name: "four",
            shape: &[1, 4],
            num_groups: 1,
            eps: 1e-5,
            variant: Variant::default(),
            weight: None,
            bias: None,
            input: &x,
            grad_output: None,
        };
        assert_eq!(Reference.unsupported(&case), None);
        assert!(Reference.run(&case).is_ok() && Subject::run(&Kernel::scalar(), &case).is_ok());
        case.variant.layout = crate::variant::Layout::ChannelsLast;
        assert_eq!(Kernel::scalar().unsupported(&case), None);
        case.variant.activation = crate::variant::Activation::Silu;
        case.variant.dtype = crate::variant::DType::Float16;
        assert_eq!(Kernel::scalar().unsupported(&case), None);
        assert!(Reference.run(&case).is_ok() && Subject::run(&Kernel::scalar(), &case).is_ok());
        case.grad_output = Some(&x);
        let why = Kernel::scalar().unsupported(&case);
        assert_eq!(why.as_deref(), Some("backward"));
        assert_eq!(Reference.run(&case), Err("not supported: backward".into()));
    }
}
