//! A subject checked case by case ([`check_subject`]), its grades ([`Summary`]), and the report
//! as Markdown ([`render`]) or JSON ([`to_json`]).

use crate::check::{self, Accuracy, PYTORCH_MARGIN_EPS32};
use crate::format::{format_abs, format_eps, format_units};
use crate::subject::{CaseInputs, Precision, Subject};
use crate::variant::{Activation, DType, SchemaName, Variant};
use crate::vectors::Case;
use serde_json::{json, Value};
use std::fmt::Write as _;

/// What became of one case.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Every check within its tolerance, and at least as accurate as PyTorch float32 (with the
    /// margin of `check`).
    Pass,
    /// Why not: each failing check, in words.
    Fail(Vec<String>),
    /// The subject does not run cases like this one, and why; counted apart, never a pass.
    NotSupported(String),
}

/// One case run through one subject.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseReport {
    pub case: String,
    /// As PyTorch writes it, e.g. `(1, 4, 5, 5)`.
    pub shape: String,
    pub num_groups: usize,
    pub eps: f64,
    pub variant: Variant,
    pub verdict: Verdict,
    /// The subject's `y` against PyTorch float64, where it ran (`None` when not supported; an
    /// infinite error when it gave no output); `type_units` in the case's type.
    pub ours: Option<Accuracy>,
    /// PyTorch's `y` in the case's type (PyTorch float32 for a float32 case) against PyTorch
    /// float64, `type_units` in that type.
    pub pytorch: Accuracy,
    /// PyTorch float32's `y` on the case's values against PyTorch float64, in eps32: `pytorch`
    /// for a float32 case, the `expected.float32` block of a half-type case (`None` where it
    /// has none).
    pub pytorch_float32: Option<Accuracy>,
}

impl CaseReport {
    /// Not failed: passed, or not supported.
    pub fn passed(&self) -> bool {
        !matches!(self.verdict, Verdict::Fail(_))
    }
}

/// One subject on a set of cases.
#[derive(Clone, Debug, PartialEq)]
pub struct SubjectReport {
    pub subject: String,
    pub precision: Precision,
    /// In the order the cases were given.
    pub cases: Vec<CaseReport>,
}

/// The worst error per case of one implementation, over a set of cases, in eps32 (or, in
/// [`TypeGrades`], in the epsilon of a half type).
#[derive(Clone, Debug, PartialEq)]
pub struct Grades {
    /// Cases graded.
    pub count: usize,
    /// The largest, with its case (`None` without cases).
    pub worst: Option<(f64, String)>,
    /// The median (the lower middle for an even count; `None` without cases).
    pub median: Option<f64>,
    /// Cases within 1, 4 and 16 eps32.
    pub within: [(f64, usize); 3],
}

impl Grades {
    fn of<'a>(errors: impl Iterator<Item = (f64, &'a str)>) -> Grades {
        let mut errors: Vec<(f64, &str)> = errors.collect();
        errors.sort_by(|a, b| a.0.total_cmp(&b.0));
        let within = [1.0, 4.0, 16.0].map(|t| (t, errors.iter().filter(|e| e.0 <= t).count()));
        Grades {
            count: errors.len(),
            worst: errors.last().map(|&(e, case)| (e, case.to_owned())),
            median: (!errors.is_empty()).then(|| errors[(errors.len() - 1) / 2].0),
            within,
        }
    }
}

/// The grades of the cases of one half type, in units of its epsilon (`eps16`, `epsbf16`).
#[derive(Clone, Debug, PartialEq)]
pub struct TypeGrades {
    pub dtype: DType,
    /// The subject's worst `y` error per case, over the cases of `dtype` it ran.
    pub ours: Grades,
    /// PyTorch's in `dtype`, over the same cases.
    pub pytorch: Grades,
}

/// A subject's counts and grades.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub not_supported: usize,
    /// The subject's worst `y` error per case, in eps32, over the float32 cases it ran.
    pub ours: Grades,
    /// PyTorch float32's, over the same cases.
    pub pytorch: Grades,
    /// The same for the cases of each half type it ran (float16, then bfloat16), in units of
    /// that type's epsilon, beside PyTorch's in that type; empty where it ran none.
    pub half_types: Vec<TypeGrades>,
}

impl SubjectReport {
    /// No case failed (cases not supported do not fail).
    pub fn passed(&self) -> bool {
        self.cases.iter().all(CaseReport::passed)
    }

    pub fn summary(&self) -> Summary {
        let count = |f: fn(&Verdict) -> bool| self.cases.iter().filter(|c| f(&c.verdict)).count();
        let ran = |dtype: DType| {
            self.cases
                .iter()
                .filter(move |c| c.variant.dtype == dtype)
                .filter_map(|c| Some((c.ours?, c)))
        };
        let grades = |dtype: DType| {
            (
                Grades::of(ran(dtype).map(|(ours, c)| (ours.type_units, c.case.as_str()))),
                Grades::of(ran(dtype).map(|(_, c)| (c.pytorch.type_units, c.case.as_str()))),
            )
        };
        let (ours, pytorch) = grades(DType::Float32);
        let half_types = [DType::Float16, DType::BFloat16]
            .into_iter()
            .filter(|&d| ran(d).next().is_some())
            .map(|dtype| {
                let (ours, pytorch) = grades(dtype);
                TypeGrades {
                    dtype,
                    ours,
                    pytorch,
                }
            })
            .collect();
        Summary {
            passed: count(|v| matches!(v, Verdict::Pass)),
            failed: count(|v| matches!(v, Verdict::Fail(_))),
            not_supported: count(|v| matches!(v, Verdict::NotSupported(_))),
            ours,
            pytorch,
            half_types,
        }
    }
}

/// Runs `subject` on every case it supports and checks its outputs against PyTorch float64
/// (`check::check_outputs`, with the subject's [`Precision`]); the others are reported as not
/// supported.
pub fn check_subject<'a>(
    subject: &dyn Subject,
    cases: impl IntoIterator<Item = &'a Case>,
) -> SubjectReport {
    let precision = subject.precision();
    let cases = cases
        .into_iter()
        .map(|case| {
            let inputs = CaseInputs::of(case);
            let (verdict, ours) = match subject.unsupported(&inputs) {
                Some(why) => (Verdict::NotSupported(why), None),
                None => match subject.run(&inputs) {
                    Ok(out) => {
                        let checks = check::check_outputs(case, &out, precision);
                        let failures = checks.failures();
                        let verdict = if failures.is_empty() {
                            Verdict::Pass
                        } else {
                            Verdict::Fail(failures)
                        };
                        (verdict, Some(checks.ours))
                    }
                    Err(why) => {
                        let none = Accuracy::none(case.variant.dtype);
                        (Verdict::Fail(vec![format!("no output: {why}")]), Some(none))
                    }
                },
            };
            CaseReport {
                case: case.name.clone(),
                shape: case.shape_string(),
                num_groups: case.num_groups,
                eps: case.eps,
                variant: case.variant,
                verdict,
                ours,
                pytorch: Accuracy::of_pytorch(case),
                pytorch_float32: Accuracy::of_pytorch_in_float32(case),
            }
        })
        .collect();
    SubjectReport {
        subject: subject.name().to_owned(),
        precision,
        cases,
    }
}

/// What each precision's tolerances are, in words, for the report.
fn tolerance_words(precision: Precision) -> &'static str {
    match precision {
        Precision::Float32 => {
            "y within 16 eps32 of max(1, |y64|), mean within 4 eps32 of |mean| + spread, \
             rstd within 8 eps32 relative, each plus half an ulp of its type where that is \
             float16 or bfloat16 (check (c))"
        }
        Precision::Float64 => {
            "f64 rounding scaled by the group's condition, by 1.5 more with SiLU (check (a))"
        }
    }
}

/// The type column: the case's dtype, and its activation where it has one.
fn type_words(variant: &Variant) -> String {
    match variant.activation {
        Activation::None => variant.dtype.schema_name().to_owned(),
        a => format!("{} {}", variant.dtype.schema_name(), a.schema_name()),
    }
}

/// A Markdown table: `header`, then `rows`; `right` marks the right-aligned columns.
fn table(header: &[&str], right: &[bool], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[&str]| {
        out.push('|');
        for ((cell, &w), &r) in cells.iter().zip(&widths).zip(right) {
            if r {
                let _ = write!(out, " {cell:>w$} |");
            } else {
                let _ = write!(out, " {cell:<w$} |");
            }
        }
        out.push('\n');
    };
    line(&mut out, header);
    out.push('|');
    for (&w, &r) in widths.iter().zip(right) {
        let dashes = "-".repeat(w + 1);
        let _ = write!(out, "{dashes}{}|", if r { ':' } else { '-' });
    }
    out.push('\n');
    for row in rows {
        line(
            &mut out,
            &row.iter().map(String::as_str).collect::<Vec<_>>(),
        );
    }
    out
}

/// The report as Markdown: per subject a table of its cases, its failures and the cases it
/// does not support; then one summary table of every subject, with PyTorch float32's grades on
/// the same cases beside each.
pub fn render(reports: &[SubjectReport]) -> String {
    let mut out = String::new();
    for report in reports {
        let _ = writeln!(
            out,
            "## {}\n\nTolerance: {}; and per case, the worst y error at most PyTorch's in the \
             case's type + {} eps of that type.\n\nErrors of y against PyTorch float64 in eps \
             of max(1, |y64|), eps that of the case's type (eps32 = 2^-23, eps16 = 2^-10, \
             epsbf16 = 2^-7): ours, and PyTorch's own result in the case's type; PyTorch f32 is \
             PyTorch float32 on the case's values (upcast for float16 and bfloat16), in eps32.\n",
            report.subject,
            tolerance_words(report.precision),
            format_units(PYTORCH_MARGIN_EPS32)
        );
        let header = [
            "case",
            "shape",
            "G",
            "eps",
            "type",
            "ours max abs",
            "ours (eps)",
            "PyTorch (eps)",
            "PyTorch f32 (eps32)",
            "result",
        ];
        let right = [
            false, false, true, true, false, true, true, true, true, false,
        ];
        let rows: Vec<Vec<String>> = report
            .cases
            .iter()
            .map(|r| {
                let (abs, units) = match r.ours {
                    Some(ours) => (format_abs(ours.max_abs), format_units(ours.type_units)),
                    None => ("-".into(), "-".into()),
                };
                vec![
                    r.case.clone(),
                    r.shape.clone(),
                    r.num_groups.to_string(),
                    format_eps(r.eps),
                    type_words(&r.variant),
                    abs,
                    units,
                    format_units(r.pytorch.type_units),
                    r.pytorch_float32
                        .map_or("-".into(), |a| format_units(a.eps32_units)),
                    match r.verdict {
                        Verdict::Pass => "PASS",
                        Verdict::Fail(_) => "FAIL",
                        Verdict::NotSupported(_) => "not supported",
                    }
                    .to_owned(),
                ]
            })
            .collect();
        out.push_str(&table(&header, &right, &rows));
        let mut failures = String::new();
        let mut unsupported = String::new();
        for r in &report.cases {
            match &r.verdict {
                Verdict::Pass => {}
                Verdict::Fail(why) => {
                    for why in why {
                        let _ = writeln!(failures, "- {}: {why}", r.case);
                    }
                }
                Verdict::NotSupported(why) => {
                    let _ = writeln!(unsupported, "- {}: {why}", r.case);
                }
            }
        }
        if !failures.is_empty() {
            let _ = write!(out, "\nFailures:\n{failures}");
        }
        if !unsupported.is_empty() {
            let _ = write!(out, "\nNot supported:\n{unsupported}");
        }
        out.push('\n');
    }
    out.push_str(&render_summary(reports));
    out
}

/// The summary table alone: one row per subject and one for PyTorch float32 on its float32
/// cases; then, for each half type the subject ran, a row for its cases of that type and one
/// for PyTorch in that type, in units of the type's epsilon.
pub fn render_summary(reports: &[SubjectReport]) -> String {
    let header = [
        "subject",
        "pass",
        "fail",
        "not supported",
        "unit",
        "worst",
        "worst case",
        "median",
        "<= 1",
        "<= 4",
        "<= 16",
    ];
    let right = [
        false, true, true, true, false, true, false, true, true, true, true,
    ];
    let grade_cells = |g: &Grades| {
        let (worst, case) = match &g.worst {
            Some((e, case)) => (format_units(*e), case.clone()),
            None => ("-".into(), "-".into()),
        };
        let median = g.median.map_or("-".into(), format_units);
        let mut cells = vec![worst, case, median];
        cells.extend(g.within.iter().map(|&(_, n)| format!("{n}/{}", g.count)));
        cells
    };
    let mut rows = Vec::new();
    let blank = || -> Vec<String> { vec![String::new(); 3] };
    for report in reports {
        let s = report.summary();
        let mut row = vec![
            report.subject.clone(),
            s.passed.to_string(),
            s.failed.to_string(),
            s.not_supported.to_string(),
            "eps32".to_owned(),
        ];
        row.extend(grade_cells(&s.ours));
        rows.push(row);
        let mut row = vec!["  PyTorch float32, same cases".to_owned()];
        row.extend(blank());
        row.push("eps32".to_owned());
        row.extend(grade_cells(&s.pytorch));
        rows.push(row);
        for t in &s.half_types {
            let (name, unit) = (t.dtype.schema_name(), t.dtype.epsilon_name().to_owned());
            let mut row = vec![format!("  its {name} cases")];
            row.extend(blank());
            row.push(unit.clone());
            row.extend(grade_cells(&t.ours));
            rows.push(row);
            let mut row = vec![format!("  PyTorch {name}, same cases")];
            row.extend(blank());
            row.push(unit);
            row.extend(grade_cells(&t.pytorch));
            rows.push(row);
        }
    }
    let mut out = String::from(
        "## Summary\n\nWorst y error per case against PyTorch float64, in eps of \
         max(1, |y64|): eps32 over the float32 cases (the subject's row and PyTorch float32's), \
         and, for each half type, eps16 or epsbf16 over its cases, beside PyTorch's own \
         result in that type.\n\n",
    );
    out.push_str(&table(&header, &right, &rows));
    let (passed, failed): (Vec<_>, Vec<_>) = reports.iter().partition(|r| r.passed());
    let _ = writeln!(
        out,
        "\n{} of {} subjects passed{}",
        passed.len(),
        reports.len(),
        if failed.is_empty() {
            String::new()
        } else {
            let names: Vec<&str> = failed.iter().map(|r| r.subject.as_str()).collect();
            format!("; failed: {}", names.join(", "))
        }
    );
    out
}

/// A number for the JSON report: non-finite values as the vectors write them.
fn number(v: f64) -> Value {
    if v.is_nan() {
        json!("NaN")
    } else if v.is_infinite() {
        json!(if v > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        json!(v)
    }
}

/// `g` as JSON, its keys suffixed with the unit (`eps32`, `eps16`, `epsbf16`).
fn grades_json(g: &Grades, unit: &str) -> Value {
    let mut map = serde_json::Map::new();
    map.insert("count".into(), json!(g.count));
    map.insert(
        format!("worst_{unit}"),
        g.worst.as_ref().map_or(Value::Null, |(e, _)| number(*e)),
    );
    map.insert(
        "worst_case".into(),
        json!(g.worst.as_ref().map(|(_, c)| c.as_str())),
    );
    map.insert(
        format!("median_{unit}"),
        g.median.map_or(Value::Null, number),
    );
    for (i, n) in [1, 4, 16].iter().enumerate() {
        map.insert(format!("within_{n}_{unit}"), json!(g.within[i].1));
    }
    Value::Object(map)
}

/// The report as JSON (`"format": "groupnorm-report"`, described in `vectors/README.md`), for
/// another project's CI.
pub fn to_json(reports: &[SubjectReport]) -> String {
    let subjects: Vec<Value> = reports
        .iter()
        .map(|report| {
            let s = report.summary();
            let cases: Vec<Value> = report
                .cases
                .iter()
                .map(|r| {
                    let (verdict, failures, reason) = match &r.verdict {
                        Verdict::Pass => ("pass", vec![], None),
                        Verdict::Fail(why) => ("fail", why.clone(), None),
                        Verdict::NotSupported(why) => ("not_supported", vec![], Some(why)),
                    };
                    json!({
                        "case": r.case,
                        "shape": r.shape,
                        "num_groups": r.num_groups,
                        "eps": r.eps,
                        "layout": r.variant.layout.schema_name(),
                        "dtype": r.variant.dtype.schema_name(),
                        "activation": r.variant.activation.schema_name(),
                        "verdict": verdict,
                        "ours_eps32": r.ours.map_or(Value::Null, |a| number(a.eps32_units)),
                        "ours_max_abs": r.ours.map_or(Value::Null, |a| number(a.max_abs)),
                        "pytorch_float32_eps32": r.pytorch_float32
                            .map_or(Value::Null, |a| number(a.eps32_units)),
                        "unit": r.variant.dtype.epsilon_name(),
                        "ours_eps": r.ours.map_or(Value::Null, |a| number(a.type_units)),
                        "pytorch_eps": number(r.pytorch.type_units),
                        "failures": failures,
                        "not_supported": reason,
                    })
                })
                .collect();
            json!({
                "subject": report.subject,
                "precision": match report.precision {
                    Precision::Float32 => "float32",
                    Precision::Float64 => "float64",
                },
                "passed": report.passed(),
                "summary": {
                    "passed": s.passed,
                    "failed": s.failed,
                    "not_supported": s.not_supported,
                    "ours": grades_json(&s.ours, "eps32"),
                    "pytorch_float32": grades_json(&s.pytorch, "eps32"),
                    "half_types": s.half_types.iter().map(|t| {
                        let unit = t.dtype.epsilon_name();
                        json!({
                            "dtype": t.dtype.schema_name(),
                            "unit": unit,
                            "ours": grades_json(&t.ours, unit),
                            "pytorch": grades_json(&t.pytorch, unit),
                        })
                    }).collect::<Vec<Value>>(),
                },
                "cases": cases,
            })
        })
        .collect();
    let report = json!({
        "format": "groupnorm-report",
        "version": 1,
        "passed": reports.iter().all(SubjectReport::passed),
        "subjects": subjects,
    });
    let mut text = serde_json::to_string_pretty(&report).expect("a JSON value serializes");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grades_count_and_take_the_lower_median() {
        let g = Grades::of([(0.5, "a"), (20.0, "b"), (3.0, "c"), (f64::INFINITY, "d")].into_iter());
        assert_eq!(g.count, 4);
        assert_eq!(g.worst, Some((f64::INFINITY, "d".into())));
        assert_eq!(g.median, Some(3.0));
        assert_eq!(g.within, [(1.0, 1), (4.0, 2), (16.0, 2)]);
        let none = Grades::of(std::iter::empty());
        assert_eq!((none.count, none.worst, none.median), (0, None, None));
    }

    /// A subject of the cases' own types: the reference rounded to the output type (`y`) and
    /// to PyTorch's stats type (`mean`, `rstd`).
    struct Rounded;

    impl Subject for Rounded {
        fn name(&self) -> &str {
            "rounded"
        }

        fn supports(&self, feature: crate::variant::Feature) -> bool {
            feature != crate::variant::Feature::Backward
        }

        fn run(&self, case: &CaseInputs<'_>) -> Result<crate::Outputs, String> {
            let out = check::reference_output(case).map_err(|e| e.to_string())?;
            let has_parameters = case.weight.is_some() || case.bias.is_some();
            let stats = crate::vectors::stats_dtype(case.variant, has_parameters);
            let round = |v: &[f64], t: DType| v.iter().map(|&x| t.round(x)).collect::<Vec<_>>();
            Ok(crate::Outputs::new(round(&out.y, case.variant.dtype))
                .with_stats(round(&out.mean, stats), round(&out.rstd, stats)))
        }
    }

    #[test]
    fn half_type_cases_are_graded_in_their_own_epsilon() {
        let dir = crate::vectors::vectors_dir();
        let files = crate::vectors::load_files(&[
            dir.join("notebook.json"),
            dir.join("half_precision.json"),
        ])
        .unwrap();
        let names = [
            "notebook",
            "f16_notebook",
            "f16_offset_1e4_cl",
            "bf16_notebook",
        ];
        let cases = files
            .iter()
            .flat_map(|f| &f.cases)
            .filter(|c| names.contains(&c.name.as_str()));
        let report = check_subject(&Rounded, cases);
        assert!(report.passed(), "{}", render(std::slice::from_ref(&report)));
        let s = report.summary();
        assert_eq!((s.passed, s.ours.count, s.pytorch.count), (4, 1, 1));
        let types: Vec<DType> = s.half_types.iter().map(|t| t.dtype).collect();
        assert_eq!(types, [DType::Float16, DType::BFloat16]);
        let f16 = &s.half_types[0];
        assert_eq!((f16.ours.count, f16.pytorch.count), (2, 2));
        // PyTorch's float16 channels-last kernel is far off at offset 1e4; ours is within half
        // an ulp (0.5 eps16 of max(1, |y64|)).
        let (worst, case) = f16.pytorch.worst.clone().unwrap();
        assert!(
            worst > 100.0 && case == "f16_offset_1e4_cl",
            "{worst} {case}"
        );
        assert!(f16.ours.worst.as_ref().unwrap().0 <= 0.5);
        let r = &report.cases[1];
        assert_eq!(r.case, "f16_notebook");
        assert_eq!(r.ours.unwrap().unit, DType::Float16);
        assert_eq!(r.pytorch_float32.unwrap().unit, DType::Float32);
        let text = render(std::slice::from_ref(&report));
        assert!(text.contains("| float16 "), "{text}");
        assert!(text.contains("PyTorch bfloat16, same cases"), "{text}");
        let json: Value = serde_json::from_str(&to_json(&[report])).unwrap();
        let subject = &json["subjects"][0];
        assert_eq!(subject["summary"]["ours"]["count"], 1);
        assert_eq!(subject["summary"]["half_types"][0]["unit"], "eps16");
        assert!(subject["summary"]["half_types"][1]["ours"]["worst_epsbf16"].is_number());
        assert_eq!(
            subject["summary"]["half_types"][0]["pytorch"]["within_1_eps16"],
            1
        );
        let case = &subject["cases"][1];
        assert_eq!(
            (&case["dtype"], &case["unit"]),
            (&json!("float16"), &json!("eps16"))
        );
        assert!(case["pytorch_float32_eps32"].as_f64().unwrap() > 1.0);
        assert!(case["ours_eps"].as_f64().unwrap() <= 0.5);
        assert!(case["ours_eps32"].as_f64().unwrap() > 100.0);
    }
}
