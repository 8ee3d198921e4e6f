//! `groupnorm-conformance`: runs an optimized kernel on vector files and compares it with
//! PyTorch float64. See `groupnorm_conformance::cli`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let status = groupnorm_conformance::cli::run(
        std::env::args().skip(1),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    match status {
        Ok(status) => ExitCode::from(status),
        Err(e) => {
            eprintln!("error: writing the report: {e}");
            ExitCode::from(groupnorm_conformance::cli::USAGE_ERROR)
        }
    }
}
