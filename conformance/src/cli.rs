//! The `groupnorm-conformance` runner: checks subjects (the reference, the optimized kernels, or
//! a results file another program wrote) against PyTorch's outputs in vector files, and writes
//! the inputs for such a program. `src/main.rs` only calls [`run`], which the tests call too,
//! with buffers for its output (so that they also run under emulation, where a test cannot
//! start another binary).

use crate::report::{check_subject, render, to_json, SubjectReport};
use crate::results::{inputs_json, ResultsFile};
use crate::subject::{Reference, Subject};
use crate::vectors::{json_files, load_files, vectors_dir, Case, VectorFile};
use groupnorm_optimized::{Kernel, ParseKernelError, KERNEL_NAMES};
use std::io::{self, Write};
use std::path::PathBuf;

/// The runner's help text.
pub const USAGE: &str = "\
Checks GroupNorm implementations against PyTorch's outputs stored in vector files.

Usage:
  groupnorm-conformance [check] [FILES...] [--subject NAME]... [--json]
  groupnorm-conformance inputs [FILES...] [--output PATH]
  groupnorm-conformance grade RESULTS [FILES...] [--json]
  groupnorm-conformance --list-subjects | --list-kernels | --help

Commands:
  check             run subjects on the cases of FILES and grade them (the default)
  inputs            write the inputs of every case of FILES, for another implementation to run
                    (format \"groupnorm-inputs\", vectors/README.md); to stdout or PATH
  grade             grade RESULTS, a results file that another implementation wrote for the
                    cases of FILES (format \"groupnorm-results\", vectors/README.md)

Arguments:
  FILES...          vector files (schema version 1 or 2, vectors/README.md);
                    default: every *.json in the bundled vectors/ directory, sorted by name

Options:
  --subject NAME    check this subject: `reference`, a kernel name, or `all` (the reference
                    and every kernel this CPU supports); may be repeated;
                    default: the best kernel this CPU supports
  --kernel NAME     the same as --subject NAME
  --json            print the report as JSON instead of Markdown
  --output PATH     (inputs) write the file to PATH instead of stdout
  --list-subjects   print the subjects this CPU can check, one per line, and exit
  --list-kernels    print the kernels this CPU supports, one per line, and exit
  -h, --help        print this help and exit

Verdicts, per subject and case (the tolerances are derived in conformance/src/check.rs):
  PASS              every value within the subject's tolerance of PyTorch float64, NaN and
                    infinities exactly where float64 has them, and the worst y error at most
                    PyTorch's in the case's type + 1 eps of that type (at least one ulp of y;
                    for a float32 case, PyTorch float32's + 1 eps32). The tolerance of a
                    kernel or a results file: y within 16 eps32 of max(1, |y64|), mean within
                    4 eps32 of |mean| + spread, rstd within 8 eps32 relative (mean and rstd
                    where the subject gives them), each plus half an ulp of its type where that
                    is float16 or bfloat16 (an infinity passes where the value rounds to one),
                    with or without SiLU; of the f64 reference: f64 rounding scaled by the
                    group's condition (by 1.5 more with SiLU).
  FAIL              any of these not met, or no output; each failure is listed below the table.
  not supported     the subject does not run such cases (a layout, element type or activation
                    it lacks, or no entry in RESULTS); counted and listed, neither pass nor fail.
Columns: `ours (eps)` and `PyTorch (eps)` are the worst |y - y64| / (eps * max(1, |y64|)) of
the subject and of PyTorch's own result in the case's type, eps that of the case's `type`
(eps32 = 2^-23, eps16 = 2^-10, epsbf16 = 2^-7); `PyTorch f32 (eps32)` is PyTorch float32 on
the case's values (upcast for float16 and bfloat16), in eps32, shown and not compared with.
The summary grades them per case: worst, median, and how many cases are within 1, 4 and 16
eps, over the float32 cases in eps32 and over each half type's cases in its own eps.

Exit status: 0 when no case fails, 1 when any fails, 2 on a usage or file error or when the
files hold no case at all.";

enum Command {
    Help,
    ListSubjects,
    ListKernels,
    Check {
        files: Vec<PathBuf>,
        subjects: Vec<String>,
        json: bool,
    },
    Inputs {
        files: Vec<PathBuf>,
        output: Option<PathBuf>,
    },
    Grade {
        results: PathBuf,
        files: Vec<PathBuf>,
        json: bool,
    },
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut args = args.peekable();
    let command = match args.peek().map(String::as_str) {
        Some(c @ ("check" | "inputs" | "grade")) => {
            let c = c.to_owned();
            args.next();
            c
        }
        _ => "check".to_owned(),
    };
    let (mut files, mut subjects, mut json, mut output) = (Vec::new(), Vec::new(), false, None);
    let mut list = None;
    let mut options_done = false;
    while let Some(arg) = args.next() {
        if options_done {
            files.push(PathBuf::from(arg));
            continue;
        }
        let mut value = |option: &str| match arg.split_once('=') {
            Some((_, value)) => Ok(value.to_owned()),
            None => args.next().ok_or_else(|| format!("{option} needs a value")),
        };
        let option = arg.split('=').next().unwrap_or_default();
        match option {
            "-h" | "--help" => return Ok(Command::Help),
            "--list-subjects" => list = Some(Command::ListSubjects),
            "--list-kernels" => list = Some(Command::ListKernels),
            "--json" => json = true,
            "--subject" | "--kernel" => subjects.push(value(option)?),
            "--output" => output = Some(PathBuf::from(value(option)?)),
            "--" => options_done = true,
            _ if arg.starts_with('-') && arg != "-" => return Err(format!("unknown option {arg}")),
            _ => files.push(PathBuf::from(arg)),
        }
    }
    if let Some(list) = list {
        return Ok(list);
    }
    let only = |what: &str, allowed: &str| Err(format!("{what} is an option of `{allowed}`"));
    match command.as_str() {
        "inputs" => {
            if json || !subjects.is_empty() {
                return only("--json / --subject", "check` and `grade");
            }
            Ok(Command::Inputs { files, output })
        }
        "grade" => {
            if output.is_some() || !subjects.is_empty() {
                return only("--output / --subject", "inputs` and `check");
            }
            if files.is_empty() {
                return Err("grade needs a results file".into());
            }
            let results = files.remove(0);
            Ok(Command::Grade {
                results,
                files,
                json,
            })
        }
        _ => {
            if output.is_some() {
                return only("--output", "inputs");
            }
            Ok(Command::Check {
                files,
                subjects,
                json,
            })
        }
    }
}

fn available_names() -> String {
    Kernel::available()
        .map(Kernel::name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// No case failed.
pub const PASSED: u8 = 0;
/// A case failed.
pub const FAILED: u8 = 1;
/// A usage or file error, or no case to check.
pub const USAGE_ERROR: u8 = 2;

/// The subjects `names` asks for, in order (`all` expanding to the reference and every
/// available kernel); the best kernel where `names` is empty.
fn subjects(names: &[String]) -> Result<Vec<Box<dyn Subject>>, String> {
    if names.is_empty() {
        return Ok(vec![Box::new(Kernel::best())]);
    }
    let mut subjects: Vec<Box<dyn Subject>> = Vec::new();
    for name in names {
        match name.as_str() {
            "reference" => subjects.push(Box::new(Reference)),
            "all" => {
                subjects.push(Box::new(Reference));
                subjects.extend(Kernel::available().map(|k| Box::new(k) as Box<dyn Subject>));
            }
            _ => match name.parse::<Kernel>() {
                Ok(kernel) => subjects.push(Box::new(kernel)),
                Err(e) => {
                    let why = match e {
                        ParseKernelError::Unsupported { .. } => "is a kernel this CPU lacks",
                        _ => "is not a subject name",
                    };
                    return Err(format!(
                        "`{name}` {why}; subjects here: reference, all, {} (all kernels: {})",
                        available_names(),
                        KERNEL_NAMES.join(", ")
                    ));
                }
            },
        }
    }
    Ok(subjects)
}

/// The vector files: `files`, or every file of the bundled directory.
fn vector_files(files: Vec<PathBuf>) -> Result<Vec<VectorFile>, String> {
    let files = if files.is_empty() {
        let dir = vectors_dir();
        let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
        match json_files(&dir) {
            Ok(files) if !files.is_empty() => files,
            Ok(_) => return Err(format!("no *.json files in {}", dir.display())),
            Err(e) => return Err(e.to_string()),
        }
    } else {
        files
    };
    let vector_files = load_files(&files).map_err(|e| e.to_string())?;
    if vector_files.iter().all(|f| f.cases.is_empty()) {
        return Err("the vector files hold no case: nothing to check".into());
    }
    Ok(vector_files)
}

/// Runs the runner on `args` (without the program name), printing its report to `out` and its
/// errors to `err`; returns the exit status.
pub fn run(
    args: impl Iterator<Item = String>,
    out: &mut impl Write,
    err: &mut impl Write,
) -> io::Result<u8> {
    let usage_error = |err: &mut dyn Write, message: &str| {
        writeln!(err, "error: {message}")?;
        Ok(USAGE_ERROR)
    };
    let command = match parse_args(args) {
        Ok(command) => command,
        Err(message) => return usage_error(err, &format!("{message}\n\n{USAGE}")),
    };
    let (files, subjects, json) = match command {
        Command::Help => {
            writeln!(out, "{USAGE}")?;
            return Ok(PASSED);
        }
        Command::ListKernels => {
            for kernel in Kernel::available() {
                writeln!(out, "{}", kernel.name())?;
            }
            return Ok(PASSED);
        }
        Command::ListSubjects => {
            writeln!(out, "reference")?;
            for kernel in Kernel::available() {
                writeln!(out, "{}", kernel.name())?;
            }
            return Ok(PASSED);
        }
        Command::Inputs { files, output } => {
            let files = match vector_files(files) {
                Ok(files) => files,
                Err(message) => return usage_error(err, &message),
            };
            let text = inputs_json(files.iter().flat_map(|f| &f.cases));
            match output {
                None => out.write_all(text.as_bytes())?,
                Some(path) => {
                    if let Err(e) = std::fs::write(&path, text) {
                        return usage_error(err, &format!("writing {}: {e}", path.display()));
                    }
                }
            }
            return Ok(PASSED);
        }
        Command::Check {
            files,
            subjects: names,
            json,
        } => match subjects(&names) {
            Ok(subjects) => (files, subjects, json),
            Err(message) => return usage_error(err, &message),
        },
        Command::Grade {
            results,
            files,
            json,
        } => {
            let files = match vector_files(files) {
                Ok(files) => files,
                Err(message) => return usage_error(err, &message),
            };
            let cases: Vec<&Case> = files.iter().flat_map(|f| &f.cases).collect();
            let subject = match ResultsFile::load(&results, &cases) {
                Ok(subject) => subject,
                Err(e) => return usage_error(err, &e.to_string()),
            };
            let report = check_subject(&subject, cases);
            return write_report(out, &files, &[report], json);
        }
    };
    let files = match vector_files(files) {
        Ok(files) => files,
        Err(message) => return usage_error(err, &message),
    };
    let reports: Vec<SubjectReport> = subjects
        .iter()
        .map(|s| check_subject(s.as_ref(), files.iter().flat_map(|f| &f.cases)))
        .collect();
    write_report(out, &files, &reports, json)
}

/// The report, as Markdown after a header naming the files and the CPU's kernels, or as JSON;
/// returns the exit status.
fn write_report(
    out: &mut impl Write,
    files: &[VectorFile],
    reports: &[SubjectReport],
    json: bool,
) -> io::Result<u8> {
    if json {
        write!(out, "{}", to_json(reports))?;
    } else {
        writeln!(out, "kernels available on this CPU: {}", available_names())?;
        for file in files {
            let count = file.cases.len();
            writeln!(
                out,
                "file: {} ({count} case{}, PyTorch {})",
                file.path.display(),
                if count == 1 { "" } else { "s" },
                file.torch_version
            )?;
        }
        writeln!(out)?;
        write!(out, "{}", render(reports))?;
    }
    Ok(if reports.iter().all(SubjectReport::passed) {
        PASSED
    } else {
        FAILED
    })
}
