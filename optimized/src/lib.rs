//! # GroupNorm, the optimized kernel
//!
//! PyTorch's [`torch.nn.GroupNorm`] for `f32`, float16 ([`F16`]) or bfloat16 ([`Bf16`]) data laid
//! out row-major as `(N, C, *spatial)`, or channels-last as `(N, *spatial, C)` ([`Layout`]),
//! optionally followed by SiLU in the same pass ([`Activation`]), writing into buffers the
//! caller owns. Half-type values are widened exactly to `f32` as they are loaded and the output
//! is rounded once as it is stored: everything below is the same for every element type.
//! Without its default features (`default-features = false`) it needs no dependency, allocates
//! nothing and builds without `std`; the `rayon` feature (on by default) adds threads, which
//! allocate a little per call.
//!
//! For every sample `n` and group `g` of `C / G` consecutive channels, over the group's
//! `L = C/G * prod(spatial)` values:
//!
//! ```text
//! mean = (1 / L) sum x        var = (1 / L) sum (x - mean)^2        rstd = 1 / sqrt(var + eps)
//! y[c] = (x[c] - mean) * rstd * gamma[c] + beta[c]
//! ```
//!
//! How it is computed (the `statistics` and `output` modules hold the details):
//!
//! * **Statistics in one pass** of per-lane shifted sums of `d = x - K` and `d^2`, checked, per
//!   block; blocks merged with Chan's formula (Welford's parallel update). Each group is split
//!   into blocks of 16384 values whose boundaries depend on nothing else, merged in a fixed
//!   order, so the result is the same bit for bit on any number of threads. A block's shift
//!   `K` is the mean of its first 32 values, so that a mean far larger than the spread costs no
//!   accuracy; short `f32` runs are added into `f64`, and a block whose mean is more than half
//!   a standard deviation from `K` is summed again about its own. Groups shorter than 64 values
//!   take their statistics in `f64` directly. Against Welford's per-element update inside a
//!   block, measured side by side, the shifted sums make the statistics pass 1.3 to 1.8 times
//!   faster on data in cache (less on data streamed from memory) at the same accuracy (within
//!   0.75 eps32 for both; `statistics.rs` has the figures).
//! * **Output in one subtraction and two FMAs per value**: per channel `scale = gamma * rstd`
//!   (carried as two `f32` values) and `offset = beta - (mean - S) * scale`, and
//!   `y = (x - S) * scale + offset`, where the output shift `S` is `f32(mean)` when the mean is
//!   larger than the spread and 0 otherwise.
//! * **Calls larger than the caches** (input and output over 16 MiB) write their output with
//!   streaming stores on x86, so that memory is not read for lines about to be overwritten.
//! * **Groups the `f32` arithmetic cannot carry** are computed again in `f64`, as the reference
//!   computes them: a NaN or infinity in the data; squares beyond the `f32` range (values above
//!   about `1e19`); `var + eps` below 2^-100; a variance or an output coefficient above 2^100,
//!   an infinite weight included (there `y` follows PyTorch's order of operations, which decides
//!   where `inf - inf` gives NaN). PyTorch's own `f32` kernel returns NaN (or `rstd = 0`) for
//!   values above about `1e19`; its `f64` kernel and this crate return the finite result.
//!
//! Kernels: `scalar` (portable), `avx2` (x86_64 AVX2 + FMA), `avx512` (x86_64 AVX-512F) and
//! `neon` (aarch64). [`Kernel::available`] lists those this CPU supports and
//! [`Kernel::best`] picks the widest, once.
//!
//! ```
//! use groupnorm_optimized::{GroupNorm, StatsBuffers};
//!
//! // The notebook case: nn.GroupNorm(2, 4) on arange(100).reshape(1, 4, 5, 5).
//! let x: Vec<f32> = (0..100).map(|v| v as f32).collect();
//! let mut y = vec![0.0; 100];
//! let (mut mean, mut rstd) = ([0.0; 2], [0.0; 2]);
//! GroupNorm::new(&[1, 4, 5, 5], 2)
//!     .forward_with_stats(&x, &mut y, StatsBuffers::new(&mut mean, &mut rstd))
//!     .unwrap();
//! assert_eq!(format!("{:.4} {:.4}", y[0], y[25]), "-1.6977 0.0346");
//! assert_eq!(mean, [24.5, 74.5]);
//! ```
//!
//! # The crate's files
//!
//! Each file imports only from those above it in this list:
//!
//! | file | what it holds |
//! |---|---|
//! | `error.rs` | [`GroupNormError`], [`ParseKernelError`] |
//! | `params.rs` | the arguments: [`GroupNorm`] and its `with_*` options, [`StatsBuffers`] |
//! | `moments.rs` | count, mean and `m2` of a set of values, Chan's merge; `sqrt` |
//! | `cpu.rs` | CPU feature detection, with `std` or through CPUID and XGETBV |
//! | `element.rs` | the element types of input and output (`f32`, [`F16`], [`Bf16`]) |
//! | `vector.rs` | per ISA: `Vector`, arithmetic in `f32` lanes; `Io`, loads and stores |
//! | `exp.rs` | the exponential, over `Vector` and in `f64`, and SiLU |
//! | `statistics.rs` | the statistics pass: one block's moments |
//! | `output.rs` | the output pass: one span's `y`, through an `Epilogue` |
//! | `plan.rs` | the arguments checked, the sizes, streaming and threading decided |
//! | `group.rs` | one group: the `f32` path or the `f64` fallback, its coefficients |
//! | `columns.rs` | the statistics of many channels at once, one per lane (Welford's update) |
//! | `contiguous.rs` | the contiguous layout: groups, blocks and channel spans in memory |
//! | `channels_last.rs` | the channels-last layout: samples, spans of groups, tiles of channels |
//! | `primitives.rs` | a kernel's function table, and the macro that fills it per ISA |
//! | `scalar.rs`, `avx2.rs`, `avx512.rs`, `neon.rs` | `Vector` and `Io<E>` for each element type, one ISA each |
//! | `parallel.rs` | threads (with `rayon`), as the plan says |
//! | `kernel.rs` | the registry of kernels, [`Kernel::run`], [`GroupNorm::forward`] |
//!
//! The passes and the driver are generic over the vector type and the element type.
//!
//! # Adding to this crate
//!
//! * **An instruction set**: a file that implements `Vector` and `Io<E>` (every element type)
//!   for its register
//!   type and ends with `entry_points!(Type, "features")`, and its `cfg`'d `mod` line here; a
//!   detection function in `cpu.rs`; one row in `REGISTRY` (`kernel.rs`, whose array length
//!   grows by one). More than 16 lanes raises `MAX_LANES`, and with it `SHORT_LEN` of
//!   `statistics.rs`, which changes every kernel's bits on short groups; the lane count must
//!   divide `MAX_LANES` (channels-last tiles hold whole vectors). The tests iterate
//!   over `Kernel::available()`, so every test runs the new kernel; `.ci/run` must name it in
//!   `host_kernels` (from `/proc/cpuinfo`, into `GROUPNORM_EXPECT_KERNELS`) where the CPU has
//!   it, and give it a Miri pass with its target features for CPUs that do not.
//! * **A memory layout**: contiguous (`contiguous.rs`) and channels-last (`channels_last.rs`)
//!   show what a layout shares: `Moments` and Chan's merge, `Group` and `Normalization` (the path
//!   choice, the `f64` fallback, `mean` and `rstd`), `Affine`'s arithmetic (splat per channel
//!   span in `output::write_span`, per lane in `output::write_row`), the `Epilogue`, and
//!   `Vector` / `Io`; and what it brings: its own walk over memory (for channels-last, the
//!   column statistics of `columns.rs`). A layout is a `Layout` variant (`params.rs`), decided
//!   in `plan.rs`, with a function in `Primitives` and `entry_points!`, dispatched in
//!   `Kernel::run`.
//! * **An element type**: a type of `element.rs` (public, `Copy`, with `to_f32` exact and
//!   `from_f32` / `from_f64` each rounding once) with its `Sealed` and `Element` implementations
//!   and an arm in `Slice`, `SliceMut` and `PerElement` (a field of each kernel's `Tables`); and
//!   per instruction set an `Io<E>` implementation whose loads widen to `f32` lanes and whose
//!   stores round back, and one more line in `entry_points!`. Everything else (the passes, the
//!   drivers of both layouts, the threads, the public API) is generic over `E` already.
//! * **An epilogue** (an activation after SiLU): an `Epilogue` implementation in `output.rs`,
//!   with a vector form (in `Vector` arithmetic; `exp.rs` has the exponential) and an `f64`
//!   form for the exact path; an `Activation` variant (`params.rs`), matched once per call into
//!   the type parameter of the output pass in `contiguous::write` and
//!   `channels_last::normalize_samples`, so that each epilogue is its own instantiation.
//!
//! After any of these: `cargo test --workspace` (host kernels), the cross step of `.ci/run`
//! (NEON under qemu), and its Miri step (every x86 kernel, whatever this CPU has).
//!
//! [`torch.nn.GroupNorm`]: https://pytorch.org/docs/stable/generated/torch.nn.GroupNorm.html

#![no_std]

#[cfg(any(test, feature = "std"))]
extern crate std;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod channels_last;
mod columns;
mod contiguous;
mod cpu;
mod element;
mod error;
mod exp;
mod group;
mod kernel;
mod moments;
#[cfg(target_arch = "aarch64")]
mod neon;
mod output;
#[cfg(feature = "rayon")]
mod parallel;
mod params;
mod plan;
mod primitives;
mod scalar;
mod statistics;
#[cfg(test)]
mod tests;

mod vector;

pub use element::{Bf16, Element, F16};
pub use error::{GroupNormError, ParseKernelError};
pub use kernel::{Kernel, KERNEL_NAMES};
pub use params::{Activation, GroupNorm, Layout, StatsBuffers};

/// Tuning constants, reachable for benchmarks and tests; not part of the crate's stable API.
#[doc(hidden)]
pub mod tuning {
    #[cfg(feature = "rayon")]
    pub use crate::plan::RUNS_PER_THREAD;
    pub use crate::plan::{BLOCK_LEN, CACHE_RESIDENT_BYTES};
}

/// The examples of `README.md`, run as doc-tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
