//! The `groupnorm-conformance` runner: runs an optimized kernel on vector files and compares it
//! with PyTorch float64 (check (c) of [`crate::check`]). `src/main.rs` only calls [`run`], which
//! the tests call too, with buffers for its output (so that they also run under emulation,
//! where a test cannot start another binary).

use crate::report::{evaluate, render, CaseReport};
use crate::vectors::{json_files, load_files, vectors_dir};
use groupnorm_optimized::{Kernel, ParseKernelError, KERNEL_NAMES};
use std::io::{self, Write};
use std::path::PathBuf;

/// The runner's help text.
pub const USAGE: &str = "\
Checks an optimized GroupNorm kernel against PyTorch's outputs stored in vector files.

Usage: groupnorm-conformance [FILES...] [--kernel NAME] [--list-kernels] [--help]

Arguments:
  FILES...          vector files (schema version 1, see vectors/README.md);
                    default: every *.json in the bundled vectors/ directory, sorted by name

Options:
  --kernel NAME     the kernel to run (default: the best this CPU supports)
  --list-kernels    print the kernels this CPU supports, one per line, and exit
  -h, --help        print this help and exit

Exit status: 0 when every case passes, 1 when any fails, 2 on a usage or file error or
when the files hold no case at all.";

enum Command {
    Help,
    ListKernels,
    Run {
        files: Vec<PathBuf>,
        kernel: Option<String>,
    },
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut files = Vec::new();
    let mut kernel = None;
    let mut list = false;
    let mut options_done = false;
    while let Some(arg) = args.next() {
        if options_done {
            files.push(PathBuf::from(arg));
            continue;
        }
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--list-kernels" => list = true,
            "--kernel" => match args.next() {
                Some(name) => kernel = Some(name),
                None => return Err("--kernel needs a kernel name".into()),
            },
            "--" => options_done = true,
            _ => {
                if let Some(name) = arg.strip_prefix("--kernel=") {
                    kernel = Some(name.to_owned());
                } else if arg.starts_with('-') && arg != "-" {
                    return Err(format!("unknown option {arg}"));
                } else {
                    files.push(PathBuf::from(arg));
                }
            }
        }
    }
    if list {
        return Ok(Command::ListKernels);
    }
    Ok(Command::Run { files, kernel })
}

fn available_names() -> String {
    Kernel::available()
        .map(Kernel::name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every case passed.
pub const PASSED: u8 = 0;
/// A case failed.
pub const FAILED: u8 = 1;
/// A usage or file error, or no case to check.
pub const USAGE_ERROR: u8 = 2;

/// Runs the runner on `args` (without the program name), printing its table to `out` and its
/// errors to `err`; returns the exit status.
pub fn run(
    args: impl Iterator<Item = String>,
    out: &mut impl Write,
    err: &mut impl Write,
) -> io::Result<u8> {
    let command = match parse_args(args) {
        Ok(command) => command,
        Err(message) => {
            writeln!(err, "error: {message}\n\n{USAGE}")?;
            return Ok(USAGE_ERROR);
        }
    };
    let (files, kernel) = match command {
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
        Command::Run { files, kernel } => (files, kernel),
    };

    let kernel = match kernel {
        None => Kernel::best(),
        Some(name) => match name.parse::<Kernel>() {
            Ok(kernel) => kernel,
            Err(e) => {
                let why = match e {
                    ParseKernelError::Unsupported { .. } => "is not supported on this CPU",
                    _ => "is not a kernel name",
                };
                writeln!(
                    err,
                    "error: kernel `{name}` {why}; available here: {} (all kernels: {})",
                    available_names(),
                    KERNEL_NAMES.join(", ")
                )?;
                return Ok(USAGE_ERROR);
            }
        },
    };

    let files = if files.is_empty() {
        let dir = vectors_dir();
        let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
        match json_files(&dir) {
            Ok(files) if !files.is_empty() => files,
            Ok(_) => {
                writeln!(err, "error: no *.json files in {}", vectors_dir().display())?;
                return Ok(USAGE_ERROR);
            }
            Err(e) => {
                writeln!(err, "error: {e}")?;
                return Ok(USAGE_ERROR);
            }
        }
    } else {
        files
    };
    let vector_files = match load_files(&files) {
        Ok(v) => v,
        Err(e) => {
            writeln!(err, "error: {e}")?;
            return Ok(USAGE_ERROR);
        }
    };

    if vector_files.iter().all(|f| f.cases.is_empty()) {
        writeln!(
            err,
            "error: the vector files hold no case: nothing to check"
        )?;
        return Ok(USAGE_ERROR);
    }
    writeln!(
        out,
        "kernel: {} (available on this CPU: {})",
        kernel.name(),
        available_names()
    )?;
    for file in &vector_files {
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
    let reports: Vec<CaseReport> = vector_files
        .iter()
        .flat_map(|f| &f.cases)
        .map(|case| evaluate(case, kernel))
        .collect();
    write!(out, "{}", render(&reports))?;
    Ok(if reports.iter().all(CaseReport::passed) {
        PASSED
    } else {
        FAILED
    })
}
