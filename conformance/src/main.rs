//! `groupnorm-conformance`: runs an optimized kernel on vector files and compares it with
//! PyTorch float64 (check (c) of `groupnorm_conformance::check`).

use groupnorm_conformance::{evaluate, json_files, load_files, render, vectors_dir, CaseReport};
use groupnorm_optimized::{Kernel, KERNEL_NAMES};
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
Checks an optimized GroupNorm kernel against PyTorch's outputs stored in vector files.

Usage: groupnorm-conformance [FILES...] [--kernel NAME] [--list-kernels] [--help]

Arguments:
  FILES...          vector files (schema version 1, see vectors/README.md);
                    default: every *.json in the bundled vectors/ directory, sorted by name

Options:
  --kernel NAME     the kernel to run (default: the best this CPU supports)
  --list-kernels    print the kernels this CPU supports, one per line, and exit
  -h, --help        print this help and exit

Exit status: 0 when every case passes, 1 when any fails, 2 on a usage or file error.";

enum Command {
    Help,
    ListKernels,
    Run {
        files: Vec<PathBuf>,
        kernel: Option<String>,
    },
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Command, String> {
    let mut files = Vec::new();
    let mut kernel = None;
    let mut list = false;
    let mut args = args.peekable();
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

fn main() -> ExitCode {
    let command = match parse_args(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let (files, kernel) = match command {
        Command::Help => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Command::ListKernels => {
            for kernel in Kernel::available() {
                println!("{}", kernel.name());
            }
            return ExitCode::SUCCESS;
        }
        Command::Run { files, kernel } => (files, kernel),
    };

    let kernel = match kernel {
        None => Kernel::best(),
        Some(name) => match Kernel::by_name(&name) {
            Some(kernel) => kernel,
            None => {
                let why = if KERNEL_NAMES.contains(&name.as_str()) {
                    "is not supported on this CPU"
                } else {
                    "is not a kernel name"
                };
                eprintln!(
                    "error: kernel `{name}` {why}; available here: {} (all kernels: {})",
                    available_names(),
                    KERNEL_NAMES.join(", ")
                );
                return ExitCode::from(2);
            }
        },
    };

    let files = if files.is_empty() {
        let dir = vectors_dir();
        let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
        match json_files(&dir) {
            Ok(files) if !files.is_empty() => files,
            Ok(_) => {
                eprintln!("error: no *.json files in {}", vectors_dir().display());
                return ExitCode::from(2);
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        files
    };
    let vector_files = match load_files(&files) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };

    println!(
        "kernel: {} (available on this CPU: {})",
        kernel.name(),
        available_names()
    );
    for file in &vector_files {
        let count = file.cases.len();
        println!(
            "file: {} ({count} case{}, PyTorch {})",
            file.path.display(),
            if count == 1 { "" } else { "s" },
            file.torch_version
        );
    }
    println!();
    let reports: Vec<CaseReport> = vector_files
        .iter()
        .flat_map(|f| &f.cases)
        .map(|case| evaluate(case, kernel))
        .collect();
    print!("{}", render(&reports));
    if reports.iter().all(CaseReport::passed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
