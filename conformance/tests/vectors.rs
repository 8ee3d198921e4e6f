//! Every bundled vector through the reference and through every kernel this CPU runs, checked
//! against PyTorch with the tolerances of `groupnorm_conformance::check` (see its docs for the
//! error analysis). Run with `--nocapture` to see the worst ratios and the kernels that ran.

use groupnorm_conformance::check::{self, Check, PYTORCH_MARGIN_EPS32};
use groupnorm_conformance::kit::{self, KernelOutput};
use groupnorm_conformance::variant::{Activation, DType, Feature, Layout, Variant};
use groupnorm_conformance::{
    load_dir, parse_file, vectors_dir, Case, CaseInputs, Outputs, Precision, Problem, Reference,
    Subject, VectorFile,
};
use groupnorm_reference::GroupNormOutput;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::OnceLock;

/// The bundled vectors, parsed once per test binary.
fn vectors() -> &'static [VectorFile] {
    static VECTORS: OnceLock<Vec<VectorFile>> = OnceLock::new();
    VECTORS.get_or_init(|| {
        let files = load_dir(&vectors_dir()).unwrap_or_else(|e| panic!("{e}"));
        assert!(!files.is_empty(), "no vector files in {:?}", vectors_dir());
        files
    })
}

fn cases() -> impl Iterator<Item = &'static Case> {
    vectors().iter().flat_map(|f| &f.cases)
}

/// Each kernel's outputs on every case, computed once: `(kernel name, outputs in case order)`,
/// for every kernel of `Kernel::available()`, which must be the expected ones
/// (`kit::for_each_kernel`): every test that takes its outputs from here fails otherwise.
fn kernel_runs() -> &'static [(&'static str, Vec<KernelOutput>)] {
    static RUNS: OnceLock<Vec<(&'static str, Vec<KernelOutput>)>> = OnceLock::new();
    RUNS.get_or_init(|| {
        let mut runs = Vec::new();
        kit::for_each_kernel(|kernel| {
            let outputs = cases()
                .map(|case| {
                    kit::run_variant(kernel, &CaseInputs::of(case).problem(), &case.variant)
                        .unwrap_or_else(|e| panic!("{} on {}: {e}", kernel.name(), case.name))
                })
                .collect();
            runs.push((kernel.name(), outputs));
        });
        runs
    })
}

/// The reference on `case`, in its own type.
fn reference(case: &Case) -> GroupNormOutput {
    let problem = CaseInputs::of(case).problem();
    problem
        .reference_with(case.variant.activation)
        .unwrap_or_else(|e| panic!("{}: {e}", case.name))
}

/// The worst ratio of each check over all cases, and every failure.
#[derive(Default)]
struct Tally {
    worst: Vec<(String, f64, String)>,
    failures: Vec<String>,
}

impl Tally {
    fn add(&mut self, label: &str, check: &Check) {
        if let Err(e) = check.result() {
            self.failures.push(format!("{label}: {e}"));
        }
        let key = check.what.clone();
        match self.worst.iter_mut().find(|(what, _, _)| *what == key) {
            Some(entry) => {
                if check.worst_ratio > entry.1 {
                    entry.1 = check.worst_ratio;
                    entry.2 = label.to_owned();
                }
            }
            None => self.worst.push((key, check.worst_ratio, label.to_owned())),
        }
    }

    /// Prints the worst ratios, then fails with every failure if there is one.
    fn finish(self, title: &str) {
        println!("{title}: worst |error| / tolerance over all vectors");
        for (what, ratio, label) in &self.worst {
            println!("  {what:<40} {ratio:.4} ({label})");
        }
        assert!(
            self.failures.is_empty(),
            "{} failures:\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
    }
}

#[test]
fn vectors_load_and_hold_cases() {
    let files = vectors();
    let names: Vec<_> = files
        .iter()
        .map(|f| f.path.file_name().unwrap().to_owned())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "files are loaded sorted by name");
    for file in files {
        assert!(!file.cases.is_empty(), "{:?} has no cases", file.path);
        assert!(!file.torch_version.is_empty());
    }
}

/// (a) The reference, as a subject, against PyTorch float64: y, mean and rstd.
#[test]
fn reference_matches_pytorch_f64() {
    let mut tally = Tally::default();
    assert_eq!(Reference.precision(), Precision::Float64);
    for case in cases() {
        let out = Reference
            .run(&CaseInputs::of(case))
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let checks = check::check_outputs(case, &out, Precision::Float64);
        assert!(checks.mean.is_some() && checks.rstd.is_some());
        for c in checks.checks() {
            tally.add(&case.name, c);
        }
        if let Err(e) = checks.failures().last().map_or(Ok(()), |f| Err(f.clone())) {
            tally.failures.push(format!("{}: {e}", case.name));
        }
    }
    tally.finish("(a) reference vs PyTorch float64");
}

/// (b) The reference against PyTorch float32 y: how accurate PyTorch's own float32 is.
#[test]
fn reference_matches_pytorch_f32_within_its_accuracy() {
    let mut tally = Tally::default();
    let mut overflow_cases = BTreeSet::new();
    for case in cases() {
        let out = reference(case);
        let c = check::reference_vs_f32(case, &out);
        tally.add(&case.name, &c);
        let nan_in_f32_only = case
            .expected_native
            .y
            .iter()
            .zip(&case.expected_f64.y)
            .any(|(y32, y64)| y32.is_nan() && y64.is_finite());
        if nan_in_f32_only {
            overflow_cases.insert(case.name.as_str());
        }
    }
    println!("PyTorch float32 gives NaN where float64 is finite in: {overflow_cases:?}");
    // The vectors exercise PyTorch float32's overflow (check (b) accepted it above only in
    // groups beyond sqrt(f32::MAX), and in groups whose float32 statistics under- or
    // overflowed: `check::f32_statistics_lost`).
    assert!(
        !overflow_cases.is_empty(),
        "expected the vectors to hold cases where PyTorch float32 overflows"
    );
    tally.finish("(b) reference vs PyTorch float32");
}

/// NaN positions in `y`: the reference's equal PyTorch float64's, and the vectors have some.
#[test]
fn reference_nan_positions_match_pytorch_f64() {
    let mut cases_with_nan = 0;
    for case in cases() {
        let out = reference(case);
        let ours: Vec<usize> = (0..out.y.len()).filter(|&i| out.y[i].is_nan()).collect();
        let theirs: Vec<usize> = (0..out.y.len())
            .filter(|&i| case.expected_f64.y[i].is_nan())
            .collect();
        assert_eq!(ours, theirs, "{}: NaN positions of y differ", case.name);
        cases_with_nan += usize::from(!theirs.is_empty());
    }
    assert!(cases_with_nan > 0, "no vector has NaN in y");
}

/// (c) Every kernel against PyTorch float64: y within 16 eps32, mean within 4, rstd within 8.
#[test]
fn every_kernel_matches_pytorch_f64() {
    let mut tally = Tally::default();
    let mut worst_units = Vec::new();
    for (name, outputs) in kernel_runs() {
        let mut worst = (0.0f64, "");
        for (case, out) in cases().zip(outputs) {
            let checks = check::check_outputs(case, &out.clone().into(), Precision::Float32);
            let label = format!("{} [{name}]", case.name);
            assert_eq!(checks.checks().count(), 3);
            for c in checks.checks() {
                tally.add(&label, c);
            }
            if checks.ours.eps32_units >= worst.0 {
                worst = (checks.ours.eps32_units, case.name.as_str());
            }
        }
        worst_units.push(format!("{name}: {:.3} eps32 ({})", worst.0, worst.1));
    }
    println!("worst kernel y error: {}", worst_units.join(", "));
    tally.finish("(c) kernels vs PyTorch float64");
}

/// (c) Per case, every kernel's worst y error (in eps32 * max(1, |y64|)) is at most PyTorch
/// float32's on the same case plus the margin of one eps32 (at least an ulp of y); and how
/// many cases need the margin, printed.
#[test]
fn every_kernel_is_at_least_as_accurate_as_pytorch_f32() {
    let mut failures = Vec::new();
    for (name, outputs) in kernel_runs() {
        let mut within_margin = 0;
        for (case, out) in cases().zip(outputs) {
            let checks = check::check_outputs(case, &out.clone().into(), Precision::Float32);
            if !checks.at_least_as_accurate_as_pytorch() {
                failures.push(format!(
                    "{} [{name}]: ours {:.3} eps32 > PyTorch float32 {:.3} eps32 + {PYTORCH_MARGIN_EPS32}",
                    case.name, checks.ours.eps32_units, checks.pytorch.eps32_units
                ));
            } else if checks.ours.eps32_units > checks.pytorch.eps32_units {
                within_margin += 1;
            }
        }
        println!(
            "{name}: less accurate than PyTorch float32, within the margin, on {within_margin} of {} cases",
            outputs.len()
        );
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The comparison with PyTorch float32 fails a subject only beyond one eps32 (at least an ulp
/// of y) more than PyTorch's own error: a sub-ulp difference in rounding passes.
#[test]
fn the_margin_over_pytorch_is_one_eps32() {
    let case = cases().find(|c| c.name == "notebook").unwrap();
    let pytorch = check::Accuracy::of_pytorch_f32(case).eps32_units;
    // y64 with one value moved by `units` eps32 (the notebook's |y| are below 2).
    let moved = |units: f64| {
        let mut y = case.expected_f64.y.clone();
        let scale = f64::from(f32::EPSILON) * y[0].abs().max(1.0);
        y[0] += units * scale;
        check::check_outputs(case, &Outputs::new(y), Precision::Float32)
    };
    let within = moved(pytorch + 0.9);
    assert!(within.failures().is_empty(), "{:?}", within.failures());
    let beyond = moved(pytorch + 1.1);
    let failures = beyond.failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        failures[0].starts_with("less accurate than PyTorch float32"),
        "{failures:?}"
    );
    // Without mean and rstd only y is checked.
    assert!(within.mean.is_none() && within.rstd.is_none());
}

/// On a constant group (variance exactly 0) PyTorch's float32 `rstd` is `f32(1 / sqrt(eps))`,
/// computed in double from its double `eps`, with no rounding of the data to differ by: every
/// kernel must give the same bits. (An `eps` rounded to `f32` first gives 316.22778 for
/// `eps = 1e-5`, an ulp above PyTorch's 316.22775.) Groups of values beyond `sqrt(f32::MAX)`
/// are left out: PyTorch float32 squares them and returns NaN (`single_value_groups_f32_max`),
/// where its float64 and ours give `f32(1 / sqrt(eps))`.
#[test]
fn constant_groups_give_pytorch_f32_rstd_bit_for_bit() {
    let mut compared = 0;
    let mut failures = Vec::new();
    for (name, outputs) in kernel_runs() {
        for (case, out) in cases().zip(outputs) {
            for g in 0..case.group_count() {
                let group: Vec<f32> = case.group_indices(g).map(|i| case.input[i]).collect();
                let overflows = f64::from(group[0].abs()) > check::f32_square_overflow();
                if !group.iter().all(|&v| v == group[0] && v.is_finite()) || overflows {
                    continue;
                }
                compared += 1;
                let (ours, pytorch) = (out.rstd[g], case.expected_native.rstd[g]);
                if !(ours.to_bits() == pytorch.to_bits() || ours.is_nan() && pytorch.is_nan()) {
                    failures.push(format!(
                        "{} [{name}] group {g}: rstd {ours:e}, PyTorch float32 {pytorch:e}",
                        case.name
                    ));
                }
            }
        }
    }
    println!("constant groups compared: {compared}");
    assert!(compared > 0, "the vectors hold no constant group");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// (d) Every SIMD kernel agrees with the scalar kernel within 8 eps32.
#[test]
fn simd_kernels_agree_with_scalar() {
    let runs = kernel_runs();
    let (_, scalar) = runs
        .iter()
        .find(|(name, _)| *name == "scalar")
        .expect("the scalar kernel always runs");
    let mut tally = Tally::default();
    for (name, outputs) in runs.iter().filter(|(name, _)| *name != "scalar") {
        for ((case, out), reference) in cases().zip(outputs).zip(scalar) {
            tally.add(
                &format!("{} [{name}]", case.name),
                &check::kernel_vs_scalar(out, reference),
            );
        }
    }
    tally.finish("(d) SIMD kernels vs scalar");
}

// ---------------------------------------------------------------------------------------------
// Malformed files give a typed error, never a panic.
// ---------------------------------------------------------------------------------------------

/// A valid file with one case of shape (1, 2, 2), 1 group, with weight and bias.
fn valid_file() -> Value {
    json!({
        "format": "groupnorm-vectors",
        "version": 1,
        "torch_version": "2.15.0",
        "generator": "test",
        "cases": [{
            "name": "tiny",
            "description": "A tiny case.",
            "shape": [1, 2, 2],
            "num_groups": 1,
            "eps": 1e-05,
            "has_weight": true,
            "has_bias": true,
            "input": [0.5, "NaN", "Infinity", "-Infinity"],
            "weight": [1.0, 2.0],
            "bias": [0.0, -0.0],
            "expected": {
                "float32": {"y": [1.0, 2.0, 3.0, 4.0], "mean": [0.25], "rstd": [3.0]},
                "float64": {"y": [1.0, 2.0, 3.0, 4.0], "mean": [0.25], "rstd": [3.0]}
            }
        }]
    })
}

fn parse(value: &Value) -> Result<VectorFile, groupnorm_conformance::LoadError> {
    parse_file(Path::new("test.json"), &value.to_string())
}

/// Parses `valid_file()` changed by `edit`, and returns the error.
fn error_after(edit: impl FnOnce(&mut Value)) -> groupnorm_conformance::LoadError {
    let mut file = valid_file();
    edit(&mut file);
    match parse(&file) {
        Ok(_) => panic!("the edited file parsed: {file}"),
        Err(e) => e,
    }
}

#[test]
fn a_valid_file_parses_with_its_special_numbers() {
    let file = parse(&valid_file()).unwrap();
    let case = &file.cases[0];
    assert_eq!(case.shape, [1, 2, 2]);
    assert_eq!(case.input[0], 0.5);
    assert!(case.input[1].is_nan());
    assert_eq!(case.input[2], f32::INFINITY);
    assert_eq!(case.input[3], f32::NEG_INFINITY);
    assert!(case.bias.as_ref().unwrap()[1].is_sign_negative());
    assert_eq!(case.eps, 1e-5);
    assert_eq!(case.expected_f64.mean, [0.25]);
}

#[test]
fn malformed_json_is_a_json_error() {
    let e = parse_file(Path::new("bad.json"), "{\"format\": ").unwrap_err();
    assert!(matches!(e.problem, Problem::Json { line: 1, .. }), "{e}");
    assert!(e.to_string().starts_with("bad.json: not valid JSON"), "{e}");
    // JSON has no NaN literal.
    let text = valid_file().to_string().replace("\"NaN\"", "NaN");
    let e = parse_file(Path::new("bad.json"), &text).unwrap_err();
    assert!(matches!(e.problem, Problem::Json { .. }), "{e}");
}

#[test]
fn wrong_format_or_version_is_rejected() {
    let e = error_after(|f| f["version"] = json!(3));
    assert_eq!(e.field.as_deref(), Some("version"));
    assert!(
        matches!(e.problem, Problem::UnsupportedVersion { .. }),
        "{e}"
    );
    let e = error_after(|f| f["format"] = json!("something-else"));
    assert!(matches!(e.problem, Problem::WrongFormat { .. }), "{e}");
    // A file of another format says so before any of its fields is unknown here.
    let e = error_after(|f| {
        f["format"] = json!("groupnorm-results");
        f["results"] = json!([]);
    });
    assert!(matches!(e.problem, Problem::WrongFormat { .. }), "{e}");
    let e = error_after(|f| {
        f.as_object_mut().unwrap().remove("version");
    });
    assert_eq!(e.problem, Problem::MissingField, "{e}");
}

#[test]
fn wrong_lengths_name_the_case_and_field() {
    let e = error_after(|f| f["cases"][0]["input"] = json!([1.0, 2.0, 3.0]));
    assert_eq!(e.case.as_ref().map(|c| c.index), Some(0));
    assert_eq!(
        e.case.as_ref().and_then(|c| c.name.as_deref()),
        Some("tiny")
    );
    assert_eq!(e.field.as_deref(), Some("input"));
    assert!(
        matches!(
            e.problem,
            Problem::Length {
                expected: 4,
                found: 3,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "test.json, case #0 (tiny), field `input`: expected 4 values (the product of the shape [1, 2, 2]), found 3"
    );
    let e = error_after(|f| f["cases"][0]["weight"] = json!([1.0]));
    assert_eq!(e.field.as_deref(), Some("weight"));
    assert!(matches!(
        e.problem,
        Problem::Length {
            expected: 2,
            found: 1,
            ..
        }
    ));
    let e = error_after(|f| f["cases"][0]["expected"]["float64"]["mean"] = json!([0.0, 1.0]));
    assert_eq!(e.field.as_deref(), Some("expected.float64.mean"));
    assert!(matches!(
        e.problem,
        Problem::Length {
            expected: 1,
            found: 2,
            ..
        }
    ));
    let e = error_after(|f| f["cases"][0]["expected"]["float32"]["y"] = json!([]));
    assert_eq!(e.field.as_deref(), Some("expected.float32.y"));
}

#[test]
fn unknown_number_strings_are_rejected() {
    let e = error_after(|f| f["cases"][0]["input"][1] = json!("nan"));
    assert_eq!(e.field.as_deref(), Some("input[1]"));
    assert_eq!(
        e.problem,
        Problem::BadNumberString {
            found: "nan".into()
        }
    );
    let e = error_after(|f| f["cases"][0]["expected"]["float64"]["rstd"][0] = json!("inf"));
    assert_eq!(e.field.as_deref(), Some("expected.float64.rstd[0]"));
    assert!(matches!(e.problem, Problem::BadNumberString { .. }));
    let e = error_after(|f| f["cases"][0]["input"][0] = json!(true));
    assert!(matches!(e.problem, Problem::WrongType { .. }), "{e}");
}

#[test]
fn values_beyond_float32_are_rejected() {
    let e = error_after(|f| f["cases"][0]["input"][0] = json!(1e39));
    assert_eq!(e.field.as_deref(), Some("input[0]"));
    assert!(matches!(e.problem, Problem::NotFloat32 { .. }), "{e}");
}

#[test]
fn flags_must_agree_with_null() {
    let e = error_after(|f| f["cases"][0]["has_weight"] = json!(false));
    assert_eq!(e.field.as_deref(), Some("weight"));
    assert_eq!(
        e.problem,
        Problem::FlagMismatch {
            flag: "has_weight",
            flag_value: false
        }
    );
    let e = error_after(|f| f["cases"][0]["bias"] = Value::Null);
    assert_eq!(e.field.as_deref(), Some("bias"));
    assert_eq!(
        e.problem,
        Problem::FlagMismatch {
            flag: "has_bias",
            flag_value: true
        }
    );
}

#[test]
fn invalid_shapes_and_fields_are_rejected() {
    let e = error_after(|f| f["cases"][0]["num_groups"] = json!(3));
    assert_eq!(e.field.as_deref(), Some("num_groups"));
    assert!(matches!(e.problem, Problem::InvalidShape(_)), "{e}");
    let e = error_after(|f| f["cases"][0]["shape"] = json!([4]));
    assert!(matches!(e.problem, Problem::InvalidShape(_)), "{e}");
    let e = error_after(|f| f["cases"][0]["shape"] = json!([1, -2, 2]));
    assert_eq!(e.field.as_deref(), Some("shape[1]"));
    assert!(matches!(e.problem, Problem::WrongType { .. }), "{e}");
    let e = error_after(|f| f["cases"][0]["typo"] = json!(1));
    assert_eq!(e.field.as_deref(), Some("typo"));
    assert_eq!(e.problem, Problem::UnknownField { version: 1 });
    let e = error_after(|f| {
        f["cases"][0].as_object_mut().unwrap().remove("expected");
    });
    assert_eq!(e.field.as_deref(), Some("expected"));
    assert_eq!(e.problem, Problem::MissingField);
    let e = error_after(|f| f["cases"] = json!({}));
    assert!(matches!(e.problem, Problem::WrongType { .. }), "{e}");
}

/// `valid_file()` in schema version 2, with the four keys it adds.
fn valid_file_v2() -> Value {
    let mut file = valid_file();
    file["version"] = json!(2);
    let case = file["cases"][0].as_object_mut().unwrap();
    case.insert("layout".into(), json!("contiguous"));
    case.insert("dtype".into(), json!("float32"));
    case.insert("param_dtype".into(), json!("float32"));
    case.insert("activation".into(), json!("none"));
    file
}

/// Parses `valid_file_v2()` changed by `edit`.
fn parse_v2(edit: impl FnOnce(&mut Value)) -> Result<VectorFile, groupnorm_conformance::LoadError> {
    let mut file = valid_file_v2();
    edit(&mut file);
    parse(&file)
}

#[test]
fn version_1_files_load_and_take_the_defaults_of_version_2() {
    let v1 = parse(&valid_file()).unwrap();
    let v2 = parse(&valid_file_v2()).unwrap();
    // (Debug forms: the input holds a NaN.)
    let debug = |f: &VectorFile| format!("{:?}", f.cases);
    assert_eq!(debug(&v1), debug(&v2));
    assert_eq!(v1.cases[0].variant, Variant::default());
    // Version 2's keys are not keys of version 1.
    let e = error_after(|f| f["cases"][0]["layout"] = json!("contiguous"));
    assert_eq!(e.problem, Problem::UnknownField { version: 1 });
    // Version 2's keys are optional.
    let v2_bare = parse_v2(|f| {
        let case = f["cases"][0].as_object_mut().unwrap();
        for key in ["layout", "dtype", "param_dtype", "activation"] {
            case.remove(key);
        }
    });
    assert_eq!(debug(&v2_bare.unwrap()), debug(&v1));
}

#[test]
fn version_2_names_its_layout_types_and_activation() {
    let case = parse_v2(|f| {
        f["cases"][0]["layout"] = json!("channels_last");
        f["cases"][0]["activation"] = json!("silu");
    })
    .unwrap()
    .cases
    .remove(0);
    assert_eq!(case.variant.layout, Layout::ChannelsLast);
    assert_eq!(case.variant.activation, Activation::Silu);
    // (1, 2, 2) channels-last: memory order (n, l, c), so index 1 is channel 1.
    assert_eq!((case.channel_of(1), case.channel_of(2)), (1, 0));
    let e = parse_v2(|f| f["cases"][0]["layout"] = json!("nhwc")).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("layout"));
    assert!(matches!(e.problem, Problem::NotOneOf { .. }), "{e}");
    assert!(e.to_string().contains("\"channels_last\""), "{e}");

    // A float16 case: its PyTorch block is named float16, and its values are float16 values.
    let to_f16 = |f: &mut Value| {
        f["cases"][0]["dtype"] = json!("float16");
        let expected = f["cases"][0]["expected"].as_object_mut().unwrap();
        let block = expected.remove("float32").unwrap();
        expected.insert("float16".into(), block);
    };
    let case = parse_v2(to_f16).unwrap().cases.remove(0);
    assert_eq!(case.variant.dtype, DType::Float16);
    // With only a float32 block, the float16 one is missing (a half case's float32 block is
    // PyTorch float32 on the upcast values, an extra).
    let e = parse_v2(|f| f["cases"][0]["dtype"] = json!("float16")).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("expected.float16"), "{e}");
    let e = parse_v2(|f| {
        to_f16(f);
        f["cases"][0]["input"][0] = json!(0.1);
    })
    .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("input[0]"));
    assert!(
        matches!(
            e.problem,
            Problem::NotOfType {
                dtype: "float16",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn version_2_has_room_for_a_backward_case() {
    let backward = json!({
        "grad_output": [1.0, 0.5, -1.0, 0.25],
        "expected": {
            "float32": {"grad_input": [0.0, 0.0, 0.0, 0.0], "grad_weight": [1.0, 2.0], "grad_bias": [1.5, -0.75]},
            "float64": {"grad_input": [0.0, 0.0, 0.0, 0.0], "grad_weight": [1.0, 2.0], "grad_bias": [1.5, -0.75]}
        }
    });
    let file = parse_v2(|f| f["cases"][0]["backward"] = backward.clone()).unwrap();
    let parsed = file.cases[0].backward.as_ref().unwrap();
    assert_eq!(parsed.grad_output, [1.0, 0.5, -1.0, 0.25]);
    assert_eq!(
        parsed.expected_f64.grad_bias.as_deref(),
        Some(&[1.5, -0.75][..])
    );
    assert!(CaseInputs::of(&file.cases[0])
        .features()
        .contains(&Feature::Backward));
    let e = parse_v2(|f| {
        f["cases"][0]["backward"] = backward.clone();
        f["cases"][0]["backward"]["grad_output"] = json!([1.0]);
    })
    .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("backward.grad_output"));
    let e = parse_v2(|f| {
        f["cases"][0]["backward"] = backward.clone();
        f["cases"][0]["backward"]["expected"]["float64"]["grad_weight"] = Value::Null;
    })
    .unwrap_err();
    assert_eq!(
        e.field.as_deref(),
        Some("backward.expected.float64.grad_weight")
    );
    assert!(
        matches!(
            e.problem,
            Problem::FlagMismatch {
                flag: "has_weight",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn duplicate_names_are_rejected() {
    let e = error_after(|f| {
        let case = f["cases"][0].clone();
        f["cases"].as_array_mut().unwrap().push(case);
    });
    assert_eq!(e.case.as_ref().map(|c| c.index), Some(1));
    assert!(matches!(e.problem, Problem::DuplicateName { .. }), "{e}");
}

#[test]
fn files_on_disk_give_the_same_typed_errors() {
    let dir =
        std::env::temp_dir().join(format!("groupnorm-conformance-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let good = write("a_good.json", &valid_file().to_string());
    assert!(groupnorm_conformance::load_file(&good).is_ok());

    let bad = write("b_bad.json", "not json");
    let e = groupnorm_conformance::load_file(&bad).unwrap_err();
    assert_eq!(e.file, bad);
    assert!(matches!(e.problem, Problem::Json { .. }), "{e}");

    let missing = dir.join("missing.json");
    let e = groupnorm_conformance::load_file(&missing).unwrap_err();
    assert!(matches!(e.problem, Problem::Io(_)), "{e}");

    // Loading the directory stops at the first bad file, in name order.
    let e = load_dir(&dir).unwrap_err();
    assert_eq!(e.file, bad);

    // The same case name in two files.
    std::fs::remove_file(&bad).unwrap();
    write("c_again.json", &valid_file().to_string());
    let e = load_dir(&dir).unwrap_err();
    assert!(matches!(e.problem, Problem::DuplicateName { .. }), "{e}");
    assert!(e.to_string().contains("a_good.json"), "{e}");

    std::fs::remove_dir_all(&dir).unwrap();
}
