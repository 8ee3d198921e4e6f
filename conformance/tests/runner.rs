//! The `groupnorm-conformance` command line as a user runs it (`cli::run`, all that `main` calls):
//! its exit status (0 when every case passes, 1 when one fails, 2 on a usage or file error or
//! when there is nothing to check) and what it prints, on the bundled notebook vector and on
//! copies of it changed here.

use groupnorm_conformance::cli;
use groupnorm_conformance::vectors_dir;
use serde_json::Value;
use std::path::{Path, PathBuf};

struct Output {
    status: u8,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

fn runner(args: &[&str]) -> Output {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let args = args.iter().map(|&a| a.to_owned());
    let status = cli::run(args, &mut stdout, &mut stderr).expect("writing into a Vec");
    Output {
        status,
        stdout,
        stderr,
    }
}

fn notebook() -> Value {
    let text = std::fs::read_to_string(vectors_dir().join("notebook.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A file of this test's own under the target directory.
fn temp_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// Writes `value` to `temp_path(name)`.
fn write(name: &str, value: &Value) -> PathBuf {
    let path = temp_path(name);
    std::fs::write(&path, serde_json::to_string(value).unwrap()).unwrap();
    path
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_passing_file_exits_0() {
    let path = write("runner_pass.json", &notebook());
    let output = runner(&[path.to_str().unwrap()]);
    assert_eq!(output.status, cli::PASSED, "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("1 of 1 subjects passed"), "{out}");
    assert!(out.contains("| notebook "), "{out}");
}

#[test]
fn a_wrong_expected_value_fails_and_exits_1() {
    let mut value = notebook();
    value["cases"][0]["expected"]["float64"]["y"][7] = Value::from(0.5);
    let path = write("runner_fail.json", &value);
    let output = runner(&[path.to_str().unwrap()]);
    assert_eq!(output.status, cli::FAILED, "{}", stdout(&output));
    let out = stdout(&output);
    assert!(out.contains("0 of 1 subjects passed"), "{out}");
    assert!(
        out.contains(
            "- notebook: y vs PyTorch float64: 1 of 100 values out of tolerance; first: y[7]"
        ),
        "{out}"
    );
}

#[test]
fn files_without_cases_exit_2() {
    let mut value = notebook();
    value["cases"] = Value::Array(Vec::new());
    let path = write("runner_empty.json", &value);
    let output = runner(&[path.to_str().unwrap()]);
    assert_eq!(output.status, cli::USAGE_ERROR, "{}", stdout(&output));
    assert!(stderr(&output).contains("no case"), "{}", stderr(&output));
}

#[test]
fn bad_arguments_and_files_exit_2() {
    let missing = temp_path("runner_no_such_file.json");
    for args in [
        vec!["--kernel", "no_such_kernel"],
        vec!["--kernel"],
        vec!["--no-such-option"],
        vec![missing.to_str().unwrap()],
        vec!["grade"],
        vec!["inputs", "--json"],
        vec!["--output", "x.json"],
    ] {
        let output = runner(&args);
        assert_eq!(output.status, cli::USAGE_ERROR, "{args:?}");
        assert!(stderr(&output).starts_with("error: "), "{args:?}");
    }
}

#[test]
fn list_kernels_prints_each_available_kernel() {
    let output = runner(&["--list-kernels"]);
    assert_eq!(output.status, cli::PASSED);
    let listed: Vec<String> = stdout(&output).lines().map(str::to_owned).collect();
    let available: Vec<String> = groupnorm_optimized::Kernel::available()
        .map(|k| k.name().to_owned())
        .collect();
    assert_eq!(listed, available);
}

/// The example file of `vectors/README.md` ("Your own vectors") passes as it stands.
#[test]
fn the_example_file_of_the_vectors_readme_passes() {
    let readme = std::fs::read_to_string(vectors_dir().join("README.md")).unwrap();
    let start = readme.find("```json\n").expect("a json block") + "```json\n".len();
    let end = start + readme[start..].find("```").expect("the block's end");
    let path = temp_path("runner_readme_example.json");
    std::fs::write(&path, &readme[start..end]).unwrap();
    let output = runner(&[path.to_str().unwrap()]);
    assert_eq!(output.status, cli::PASSED, "{}", stderr(&output));
    assert!(stdout(&output).contains("| my_small_case "));
}

#[test]
fn json_reports_parse_and_carry_the_verdicts() {
    let path = write("runner_json.json", &notebook());
    let output = runner(&[
        path.to_str().unwrap(),
        "--subject",
        "reference",
        "--subject",
        "scalar",
        "--json",
    ]);
    assert_eq!(output.status, cli::PASSED, "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["format"], "groupnorm-report");
    assert_eq!(report["passed"], true);
    let subjects = report["subjects"].as_array().unwrap();
    assert_eq!(subjects.len(), 2);
    assert_eq!(subjects[0]["subject"], "reference");
    assert_eq!(subjects[0]["precision"], "float64");
    assert_eq!(subjects[1]["cases"][0]["case"], "notebook");
    assert_eq!(subjects[1]["cases"][0]["verdict"], "pass");
    assert_eq!(subjects[1]["summary"]["ours"]["within_16_eps32"], 1);
    assert!(subjects[1]["summary"]["pytorch_float32"]["worst_eps32"].is_number());
}

/// `inputs` writes every case's inputs and nothing PyTorch computed; the same file the
/// `--output` option writes.
#[test]
fn inputs_writes_the_cases_without_their_outputs() {
    let path = write("runner_inputs_src.json", &notebook());
    let output = runner(&["inputs", path.to_str().unwrap()]);
    assert_eq!(output.status, cli::PASSED, "{}", stderr(&output));
    let inputs: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(inputs["format"], "groupnorm-inputs");
    let case = &inputs["cases"][0];
    assert_eq!(case["name"], "notebook");
    assert_eq!(case["layout"], "contiguous");
    assert_eq!(case["input"], notebook()["cases"][0]["input"]);
    assert!(case.get("expected").is_none());
    let file = temp_path("runner_inputs.json");
    let again = runner(&[
        "inputs",
        path.to_str().unwrap(),
        "--output",
        file.to_str().unwrap(),
    ]);
    assert_eq!(again.status, cli::PASSED);
    assert_eq!(std::fs::read(&file).unwrap(), output.stdout);
}

/// A results file for the notebook case: PyTorch float32's own outputs, edited by `edit`.
fn results(edit: impl FnOnce(&mut Value)) -> PathBuf {
    let expected = &notebook()["cases"][0]["expected"]["float32"];
    let mut value = serde_json::json!({
        "format": "groupnorm-results",
        "version": 1,
        "subject": "PyTorch's own float32",
        "results": [{"case": "notebook", "y": expected["y"], "mean": expected["mean"], "rstd": expected["rstd"]}]
    });
    edit(&mut value);
    write("runner_results.json", &value)
}

#[test]
fn grade_checks_a_results_file_like_any_subject() {
    let vectors = write("runner_grade_vectors.json", &notebook());
    let grade = |results: &Path| {
        runner(&[
            "grade",
            results.to_str().unwrap(),
            vectors.to_str().unwrap(),
        ])
    };
    let output = grade(&results(|_| {}));
    assert_eq!(
        output.status,
        cli::PASSED,
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(
        stdout(&output).contains("## PyTorch's own float32"),
        "{}",
        stdout(&output)
    );

    let output = grade(&results(|r| r["results"][0]["y"][3] = Value::from(9.0)));
    assert_eq!(output.status, cli::FAILED);
    assert!(
        stdout(&output).contains("y[3] = 9e0"),
        "{}",
        stdout(&output)
    );

    // A case the file does not mention fails (a file cut short cannot pass); one it marks
    // not_supported is listed and counted as such, neither passed nor failed.
    let output = grade(&results(|r| r["results"] = serde_json::json!([])));
    assert_eq!(output.status, cli::FAILED);
    let out = stdout(&output);
    assert!(out.contains("- notebook: no output: no result in"), "{out}");
    let not_supported = serde_json::json!({"case": "notebook", "not_supported": "no 4-D input"});
    let output = grade(&results(|r| r["results"][0] = not_supported.clone()));
    assert_eq!(output.status, cli::PASSED);
    let out = stdout(&output);
    assert!(
        out.contains("Not supported:\n- notebook: no 4-D input"),
        "{out}"
    );

    // y alone is graded too; mean without rstd, an unknown case, a short y: file errors.
    let output = grade(&results(|r| {
        let entry = r["results"][0].as_object_mut().unwrap();
        entry.remove("mean");
        entry.remove("rstd");
    }));
    assert_eq!(output.status, cli::PASSED, "{}", stderr(&output));
    for edit in [
        (|r: &mut Value| {
            r["results"][0].as_object_mut().unwrap().remove("rstd");
        }) as fn(&mut Value),
        |r| r["results"][0]["case"] = Value::from("no_such_case"),
        |r| r["results"][0]["y"] = serde_json::json!([1.0]),
        |r| r["format"] = Value::from("groupnorm-vectors"),
    ] {
        let output = grade(&results(edit));
        assert_eq!(output.status, cli::USAGE_ERROR, "{}", stdout(&output));
        assert!(
            stderr(&output).contains("runner_results.json"),
            "{}",
            stderr(&output)
        );
    }
}
