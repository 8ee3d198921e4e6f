//! # GroupNorm conformance against real PyTorch
//!
//! The vectors in `vectors/` hold inputs with the outputs PyTorch produced for them, in float32
//! and in float64 (see `vectors/README.md`). This crate
//!
//! * loads and validates them ([`vectors`]);
//! * compares the reference and the optimized kernels with them, with tolerances derived from an
//!   error analysis ([`check`], whose docs hold the derivation);
//! * reports a kernel case by case as a table ([`report`]), which the `groupnorm-conformance`
//!   runner prints;
//! * prints tensors the way PyTorch does ([`torch_print`]), for comparing with a notebook by eye;
//! * gives the tests and the fuzz targets one way to run a kernel and judge it ([`kit`]);
//! * runs the `groupnorm-conformance` command line ([`cli`]).
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
//! | `vectors.rs` | the vector files: loading, validation, [`Case`] |
//! | `torch_print.rs` | tensors printed as PyTorch prints them |
//! | `run.rs` | one kernel on one problem, into sentinel-filled buffers (re-exported by [`kit`]) |
//! | `check.rs` | the tolerances and the comparisons with PyTorch |
//! | `report.rs` | a kernel's results case by case, and their table |
//! | `kit.rs` | the test kit: the runner, the comparison with the reference, the kernels that ran |
//! | `cli.rs` | the runner's command line |

mod format;
mod run;

pub mod check;
pub mod cli;
pub mod kit;
pub mod report;
pub mod torch_print;
pub mod vectors;

pub use check::{Accuracy, Check, KernelChecks};
pub use report::{evaluate, render, CaseReport};
pub use vectors::{
    json_files, load_dir, load_file, load_files, parse_file, vectors_dir, Case, Expected,
    LoadError, LoadErrorDetails, Problem, VectorFile,
};
