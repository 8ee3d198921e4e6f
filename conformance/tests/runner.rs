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
    assert!(out.contains("1 passed, 0 failed"), "{out}");
    assert!(out.contains("| notebook "), "{out}");
}

#[test]
fn a_wrong_expected_value_fails_and_exits_1() {
    let mut value = notebook();
    value["cases"][0]["expected"]["float64"]["y"][7] = Value::from(0.5);
    let path = write("runner_fail.json", &value);
    let output = runner(&[path.to_str().unwrap()]);
    assert_eq!(output.status, cli::FAILED, "{}", stdout(&output));
    assert!(stdout(&output).contains("0 passed, 1 failed"));
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
