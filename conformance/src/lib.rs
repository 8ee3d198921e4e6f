//! # GroupNorm conformance against real PyTorch
//!
//! The vectors in `vectors/` hold inputs with the outputs PyTorch produced for them, in float32
//! and in float64 (see `vectors/README.md`). This crate checks any GroupNorm implementation
//! against them, and gives the same table and verdicts for each:
//!
//! * an implementation in Rust is a [`Subject`]: a name, what it supports, and a function from
//!   a case's inputs to its outputs; [`check_subject`] checks it on a set of cases and returns
//!   the report the runner prints ([`render`] as Markdown, [`to_json`] as JSON). The reference
//!   and every optimized kernel are subjects ([`subject`]), checked the same way;
//! * an implementation in any other language reads an inputs file and writes a results file
//!   ([`results`]), which the runner grades as a subject too;
//! * the tolerances come from an error analysis ([`check`], whose docs hold the derivation).
//!
//! Besides, it loads and validates the vector files ([`vectors`], schema versions 1 and 2),
//! prints tensors the way PyTorch does ([`torch_print`]), gives the tests and the fuzz targets
//! one way to run a kernel and judge it ([`kit`]), and runs the `groupnorm-conformance` command
//! line ([`cli`]).
//!
//! Expected values come only from the vectors: nothing here computes an expected output.
//!
//! # The crate's files
//!
//! Each file imports only from those above it in this list:
//!
//! | file | what it holds |
//! |---|---|
//! | `format.rs` | numbers as the reports write them |
//! | `variant.rs` | what a case asks beyond the arithmetic: layout, element types, activation |
//! | `vectors.rs` | the vector files: loading, validation, [`Case`] |
//! | `torch_print.rs` | tensors printed as PyTorch prints them |
//! | `run.rs` | one kernel on one problem, into sentinel-filled buffers (re-exported by [`kit`]) |
//! | `subject.rs` | the [`Subject`] trait; the reference and the kernels as subjects |
//! | `check.rs` | the tolerances and the comparisons with PyTorch |
//! | `report.rs` | a subject checked case by case, its grades, the report as Markdown or JSON |
//! | `results.rs` | inputs files written for other programs, and their results files read back |
//! | `kit.rs` | the test kit: the runner, the comparison with the reference, the kernels that ran |
//! | `cli.rs` | the runner's command line |

mod format;
mod run;

pub mod check;
pub mod cli;
pub mod kit;
pub mod report;
pub mod results;
pub mod subject;
pub mod torch_print;
pub mod variant;
pub mod vectors;

pub use check::{Accuracy, Check, OutputChecks};
pub use report::{check_subject, render, to_json, CaseReport, SubjectReport, Verdict};
pub use subject::{CaseInputs, Outputs, Precision, Reference, Subject};
pub use vectors::{
    json_files, load_dir, load_file, load_files, parse_file, vectors_dir, Case, Expected,
    LoadError, LoadErrorDetails, Problem, VectorFile,
};
