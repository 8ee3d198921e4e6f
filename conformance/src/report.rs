//! Per-case results of a kernel against PyTorch, and their rendering as a table.

use crate::check::{self, Accuracy};
use crate::format::{format_abs, format_eps, format_units};
use crate::vectors::Case;
use groupnorm_optimized::Kernel;
use std::fmt::Write as _;

/// One case run through one kernel: check (c) of [`check`].
#[derive(Clone, Debug, PartialEq)]
pub struct CaseReport {
    pub case: String,
    /// As PyTorch writes it, e.g. `(1, 4, 5, 5)`.
    pub shape: String,
    pub num_groups: usize,
    pub eps: f64,
    pub kernel: &'static str,
    /// The kernel's `y` against PyTorch float64.
    pub ours: Accuracy,
    /// PyTorch float32's `y` against PyTorch float64.
    pub pytorch: Accuracy,
    /// Why the case failed; empty when it passed.
    pub failures: Vec<String>,
}

impl CaseReport {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Runs `kernel` on `case` and checks its outputs against PyTorch float64.
pub fn evaluate(case: &Case, kernel: Kernel) -> CaseReport {
    let (ours, failures) = match check::run_kernel(case, kernel) {
        Ok(out) => {
            let checks = check::kernel_vs_f64(case, &out);
            (checks.ours, checks.failures())
        }
        Err(e) => (
            Accuracy {
                max_abs: f64::INFINITY,
                eps32_units: f64::INFINITY,
            },
            vec![e.to_string()],
        ),
    };
    CaseReport {
        case: case.name.clone(),
        shape: case.shape_string(),
        num_groups: case.num_groups,
        eps: case.eps,
        kernel: kernel.name(),
        ours,
        pytorch: Accuracy::of_pytorch_f32(case),
        failures,
    }
}

/// The table, one row per report, then the failures and two summary lines:
/// `N passed, M failed` and the worst errors of ours and of PyTorch float32 over all cases.
pub fn render(reports: &[CaseReport]) -> String {
    let header = [
        "case",
        "shape",
        "G",
        "eps",
        "kernel",
        "ours max abs",
        "ours (eps32)",
        "PyTorch f32 (eps32)",
        "result",
    ];
    // Numbers are right-aligned, text left-aligned.
    let right = [false, false, true, true, false, true, true, true, false];
    let rows: Vec<[String; 9]> = reports
        .iter()
        .map(|r| {
            [
                r.case.clone(),
                r.shape.clone(),
                r.num_groups.to_string(),
                format_eps(r.eps),
                r.kernel.to_owned(),
                format_abs(r.ours.max_abs),
                format_units(r.ours.eps32_units),
                format_units(r.pytorch.eps32_units),
                if r.passed() { "PASS" } else { "FAIL" }.to_owned(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[&str]| {
        out.push('|');
        for ((cell, &w), &r) in cells.iter().zip(&widths).zip(&right) {
            if r {
                let _ = write!(out, " {cell:>w$} |");
            } else {
                let _ = write!(out, " {cell:<w$} |");
            }
        }
        out.push('\n');
    };
    line(&mut out, &header);
    out.push('|');
    for (&w, &r) in widths.iter().zip(&right) {
        let dashes = "-".repeat(w + 1);
        if r {
            let _ = write!(out, "{dashes}:|");
        } else {
            let _ = write!(out, "{dashes}-|");
        }
    }
    out.push('\n');
    for row in &rows {
        line(&mut out, &row.each_ref().map(String::as_str));
    }

    let failed: Vec<&CaseReport> = reports.iter().filter(|r| !r.passed()).collect();
    if !failed.is_empty() {
        out.push_str("\nFailures:\n");
        for r in &failed {
            for why in &r.failures {
                let _ = writeln!(out, "- {} ({}): {why}", r.case, r.kernel);
            }
        }
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "{} passed, {} failed",
        reports.len() - failed.len(),
        failed.len()
    );
    out.push_str(&summary_line(reports));
    out.push('\n');
    out
}

/// The worst error of ours and of PyTorch float32, each with its case. When PyTorch's worst is
/// infinite (NaN where float64 is finite), its worst finite error is given too.
fn summary_line(reports: &[CaseReport]) -> String {
    let worst = |units: &dyn Fn(&CaseReport) -> f64, finite_only: bool| {
        reports
            .iter()
            .filter(|r| !finite_only || units(r).is_finite())
            .max_by(|a, b| units(a).total_cmp(&units(b)))
            .map(|r| (units(r), r.case.as_str()))
    };
    let ours = |r: &CaseReport| r.ours.eps32_units;
    let pytorch = |r: &CaseReport| r.pytorch.eps32_units;
    let describe = |w: Option<(f64, &str)>| match w {
        Some((units, case)) => format!("{} eps32 ({case})", format_units(units)),
        None => "none (no cases)".into(),
    };
    let mut line = format!(
        "worst error vs PyTorch float64: ours {}, PyTorch float32 {}",
        describe(worst(&ours, false)),
        describe(worst(&pytorch, false)),
    );
    if let Some((units, _)) = worst(&pytorch, false) {
        if !units.is_finite() {
            let _ = write!(
                line,
                " (NaN where float64 is finite); PyTorch float32's worst finite error {}",
                describe(worst(&pytorch, true))
            );
        }
    }
    line
}
