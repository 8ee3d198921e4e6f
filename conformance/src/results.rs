//! GroupNorm in any language, through files (formats in `vectors/README.md`): the inputs of
//! the cases, written for another program ([`inputs_json`]), and the results file it writes
//! back, read as a [`Subject`] ([`ResultsFile`]) so that it is checked like every other.

use crate::subject::{refused_features, CaseInputs, Outputs, Subject};
use crate::variant::{Feature, SchemaName};
use crate::vectors::{parse_json, Case, Fields, LoadError, Problem};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The `format` of an inputs file.
pub const INPUTS_FORMAT: &str = "groupnorm-inputs";
/// The `format` of a results file.
pub const RESULTS_FORMAT: &str = "groupnorm-results";
/// The results schema version this crate reads.
pub const RESULTS_VERSION: u64 = 1;

/// A float32 value as the vectors write it: the shorter of Rust's positional and scientific
/// forms (each the shortest that parses back to the same `f32`), which parsed as `f64` and cast
/// to `f32` must give back the same bits, or else the exact `f64` value; always with a `.` or
/// an exponent, so that `-0.0` keeps its sign in every JSON reader; non-finite values as
/// strings.
pub fn f32_json(v: f32) -> String {
    if !v.is_finite() {
        return non_finite_json(f64::from(v));
    }
    let candidates = [format!("{v}"), format!("{v:e}")];
    let s = shortest(&candidates);
    if (s.parse::<f64>().ok().map(|p| p as f32)).map(f32::to_bits) == Some(v.to_bits()) {
        s
    } else {
        f64_json(f64::from(v))
    }
}

/// A float64 value: the shorter of the shortest positional and scientific forms that parse
/// back to it, with a `.` or an exponent; non-finite values as strings.
pub fn f64_json(v: f64) -> String {
    if !v.is_finite() {
        return non_finite_json(v);
    }
    shortest(&[format!("{v}"), format!("{v:e}")])
}

fn non_finite_json(v: f64) -> String {
    if v.is_nan() {
        "\"NaN\"".into()
    } else if v > 0.0 {
        "\"Infinity\"".into()
    } else {
        "\"-Infinity\"".into()
    }
}

fn shortest(candidates: &[String]) -> String {
    let mut best = candidates
        .iter()
        .min_by_key(|s| s.len())
        .expect("candidates")
        .clone();
    if !best.contains(['.', 'e']) {
        best.push_str(".0");
    }
    best
}

fn array(values: &[f32]) -> String {
    let items: Vec<String> = values.iter().map(|&v| f32_json(v)).collect();
    format!("[{}]", items.join(", "))
}

/// The inputs file of `cases`: each case's name, shape, groups, `eps`, variant, flags, input,
/// weight and bias, as its vector file holds them, and nothing PyTorch computed.
pub fn inputs_json<'a>(cases: impl IntoIterator<Item = &'a Case>) -> String {
    let optional = |v: &Option<Vec<f32>>| v.as_deref().map_or("null".into(), array);
    let cases: Vec<String> = cases
        .into_iter()
        .map(|case| {
            let shape: Vec<String> = case.shape.iter().map(usize::to_string).collect();
            let v = case.variant;
            let mut lines = vec![
                format!("\"name\": {}", serde_json::Value::from(case.name.as_str())),
                format!("\"shape\": [{}]", shape.join(", ")),
                format!("\"num_groups\": {}", case.num_groups),
                format!("\"eps\": {}", f64_json(case.eps)),
                format!("\"layout\": \"{}\"", v.layout.schema_name()),
                format!("\"dtype\": \"{}\"", v.dtype.schema_name()),
                format!("\"param_dtype\": \"{}\"", v.param_dtype.schema_name()),
                format!("\"activation\": \"{}\"", v.activation.schema_name()),
                format!("\"has_weight\": {}", case.weight.is_some()),
                format!("\"has_bias\": {}", case.bias.is_some()),
                format!("\"input\": {}", array(&case.input)),
                format!("\"weight\": {}", optional(&case.weight)),
                format!("\"bias\": {}", optional(&case.bias)),
            ];
            if let Some(backward) = &case.backward {
                lines.push(format!("\"grad_output\": {}", array(&backward.grad_output)));
            }
            format!("    {{\n      {}\n    }}", lines.join(",\n      "))
        })
        .collect();
    format!(
        "{{\n  \"format\": \"{INPUTS_FORMAT}\",\n  \"version\": {},\n  \"cases\": [\n{}\n  ]\n}}\n",
        crate::vectors::VERSION,
        cases.join(",\n")
    )
}

/// What a results file says about one case.
#[derive(Clone, Debug, PartialEq)]
enum Entry {
    Outputs(Outputs),
    NotSupported(String),
}

/// A results file that another implementation wrote, as a [`Subject`]: its outputs for each
/// case it names.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultsFile {
    pub path: PathBuf,
    /// The `subject` field: the name in the report.
    pub subject: String,
    entries: HashMap<String, Entry>,
}

impl ResultsFile {
    /// Reads a results file for `cases`: every entry must name one of them, and hold as many
    /// values as it needs.
    pub fn load(path: &Path, cases: &[&Case]) -> Result<ResultsFile, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            LoadError::new(path.to_path_buf(), None, None, Problem::Io(e.to_string()))
        })?;
        ResultsFile::parse(path, &text, cases)
    }

    /// Parses the text of a results file; `path` only names it in errors.
    pub fn parse(path: &Path, text: &str, cases: &[&Case]) -> Result<ResultsFile, LoadError> {
        let fail = |entry: Option<(usize, Option<String>)>, field: Option<String>, problem| {
            let case = entry.map(|(index, name)| crate::vectors::CaseRef { index, name });
            LoadError::new(path.to_path_buf(), case, field, problem)
        };
        let value = parse_json(text).map_err(|p| fail(None, None, p))?;
        let top = Fields::new(&value, "", RESULTS_VERSION).map_err(|(f, p)| fail(None, f, p))?;
        let by_name: HashMap<&str, &Case> = cases.iter().map(|c| (c.name.as_str(), *c)).collect();
        let header = || {
            // The format first: a vector file given as results says so, not "unknown field".
            top.format(RESULTS_FORMAT)?;
            top.only(&["format", "version", "subject", "dtype", "results"])?;
            top.version(&[RESULTS_VERSION])?;
            let subject = top.string("subject")?;
            let float64 = match top.map.get("dtype").map(|v| (v, v.as_str())) {
                None | Some((_, Some("float32"))) => false,
                Some((_, Some("float64"))) => true,
                Some((v, _)) => {
                    return Err((
                        Some("dtype".into()),
                        Problem::NotOneOf {
                            expected: vec!["float32", "float64"],
                            found: crate::vectors::describe(v),
                        },
                    ))
                }
            };
            Ok((subject, float64, top.array("results")?))
        };
        let (subject, float64, raw) = header().map_err(|(f, p)| fail(None, f, p))?;
        let mut entries = HashMap::new();
        for (index, raw) in raw.iter().enumerate() {
            let name = raw.get("case").and_then(|v| v.as_str()).map(str::to_owned);
            let at = Some((index, name.clone()));
            let entry = || {
                let fields = Fields::new(raw, "", RESULTS_VERSION)?;
                let name = fields.string("case")?;
                let Some(case) = by_name.get(name.as_str()) else {
                    return Err((Some("case".into()), Problem::UnknownCase));
                };
                if fields.map.contains_key("not_supported") {
                    fields.only(&["case", "not_supported"])?;
                    return Ok((name, Entry::NotSupported(fields.string("not_supported")?)));
                }
                fields.only(&["case", "y", "mean", "rstd"])?;
                let read = |key: &str| -> Result<Vec<f64>, _> {
                    if float64 {
                        fields.float64s(key)
                    } else {
                        let values = fields.values(key, crate::variant::DType::Float32)?;
                        Ok(values.into_iter().map(f64::from).collect())
                    }
                };
                let y = read("y")?;
                fields.length(
                    "y",
                    y.len(),
                    case.input.len(),
                    "the length of the case's input",
                )?;
                let mut outputs = Outputs::new(y);
                let groups = case.group_count();
                let present = |key: &str| fields.map.get(key).is_some_and(|v| !v.is_null());
                match (present("mean"), present("rstd")) {
                    (false, false) => {}
                    (true, true) => {
                        let (mean, rstd) = (read("mean")?, read("rstd")?);
                        for (key, len) in [("mean", mean.len()), ("rstd", rstd.len())] {
                            fields.length(key, len, groups, "N * G")?;
                        }
                        outputs = outputs.with_stats(mean, rstd);
                    }
                    (mean, _) => {
                        let missing = if mean { "rstd" } else { "mean" };
                        return Err((Some(missing.into()), Problem::MissingField));
                    }
                }
                Ok((name, Entry::Outputs(outputs)))
            };
            let (name, entry) = entry().map_err(|(f, p)| fail(at.clone(), f, p))?;
            if entries.insert(name, entry).is_some() {
                let first = "this file".into();
                return Err(fail(
                    at,
                    Some("case".into()),
                    Problem::DuplicateName { first },
                ));
            }
        }
        Ok(ResultsFile {
            path: path.to_path_buf(),
            subject,
            entries,
        })
    }
}

impl Subject for ResultsFile {
    fn name(&self) -> &str {
        &self.subject
    }

    /// What the results format and the tolerances can grade today: both layouts, float32
    /// data, no activation, forward only (a results file has no gradients, and half-precision
    /// tolerances are not defined yet).
    fn supports(&self, feature: Feature) -> bool {
        feature.is_float32_forward()
    }

    /// A case needing what [`supports`](Subject::supports) refuses, or one the file marks
    /// `not_supported`. A case the file does not mention is not "not supported": it fails
    /// (see [`run`](Subject::run)), so that a file cut short cannot pass.
    fn unsupported(&self, case: &CaseInputs<'_>) -> Option<String> {
        if let Some(refused) = refused_features(self, case) {
            return Some(format!("{refused} (not graded from results files)"));
        }
        match self.entries.get(case.name) {
            Some(Entry::NotSupported(why)) => Some(why.clone()),
            _ => None,
        }
    }

    fn run(&self, case: &CaseInputs<'_>) -> Result<Outputs, String> {
        match self.entries.get(case.name) {
            Some(Entry::Outputs(out)) => Ok(out.clone()),
            _ => Err(format!("no result in {}", self.path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_through_an_f64_parser() {
        let values = [
            0.0,
            -0.0,
            1.0,
            -1.5,
            0.1,
            1e30,
            3.4028235e38,
            1e-45,
            f32::MIN_POSITIVE,
            -1.6977494,
            16777217.0,
        ];
        for v in values {
            let s = f32_json(v);
            assert!(s.contains(['.', 'e']), "{s}");
            let back: serde_json::Value = serde_json::from_str(&s).unwrap();
            let back = back.as_f64().unwrap() as f32;
            assert_eq!(back.to_bits(), v.to_bits(), "{v:e} written as {s}");
        }
        assert_eq!(f32_json(0.1), "0.1");
        assert_eq!(f32_json(1e30), "1e30");
        assert_eq!(f32_json(-0.0), "-0.0");
        assert_eq!(f32_json(f32::NEG_INFINITY), "\"-Infinity\"");
        assert_eq!(f64_json(1e-5), "1e-5");
    }
}
