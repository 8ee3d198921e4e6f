//! The roofline: the least work any GroupNorm must do on the same buffers. Per group, one read
//! of every value for the statistics (a plain vectorized sum), then one read, one FMA and one
//! write per value for the output. No real GroupNorm can be faster; a kernel's time against this
//! one says how close it comes to the machine's limit. Like the kernels, it writes its output
//! around the caches when input and output together exceed `CACHE_RESIDENT_BYTES`.
//!
//! For the channels-last layout, whose groups are spread over their sample, the group given to
//! it is the whole sample (`C * prod(spatial)` values): one read of the sample for the
//! statistics, then one read, FMA and write, in memory order, with whole samples per thread.
//!
//! The **16-bit roofline** ([`F16`] and [`Bf16`] buffers) is the same work on 16-bit values:
//! one read of each group for the statistics, each vector widened to `f32` lanes and summed,
//! then one read, widen, FMA, round back and write per value, in the same memory order, with the
//! kernels' conversions (`elements.rs`: `vcvtph2ps` / `vcvtps2ph` for float16, shifts and the
//! round-to-nearest-even add for bfloat16). Compiled for AVX-512F, or for AVX2 + FMA + F16C;
//! where the output streams, 32-byte (AVX-512) or 16-byte (AVX2) streaming stores after a head
//! of single values, as the kernels store 16-bit vectors. Elsewhere (no F16C, or not x86_64) a
//! portable loop that converts one value at a time (for float16, the crate's software
//! conversion: no bound there).

use crate::elements::{Elem, Half};
use groupnorm_optimized::tuning::{CACHE_RESIDENT_BYTES, RUNS_PER_THREAD};
use groupnorm_optimized::{Bf16, F16};
use rayon::prelude::*;
use std::sync::{Mutex, PoisonError};

/// An element type the roofline runs on.
pub trait Roofline: Elem {
    /// The roofline over groups of `group_len`, compiled for the widest instruction set the CPU
    /// has, like the kernels it is compared with; with `stream`, the output goes around the
    /// caches.
    fn run(x: &[Self], y: &mut [Self], group_len: usize, stream: bool);

    /// The roofline compiled for AVX2 alone, as [`roofline_without_avx512`] (`f32` only: the
    /// other types answer `false`, nothing run).
    fn without_avx512(x: &[Self], y: &mut [Self], group_len: usize) -> bool {
        let _ = (x, y, group_len);
        false
    }
}

impl Roofline for f32 {
    fn run(x: &[f32], y: &mut [f32], group_len: usize, stream: bool) {
        run_f32(x, y, group_len, stream)
    }

    fn without_avx512(x: &[f32], y: &mut [f32], group_len: usize) -> bool {
        roofline_without_avx512(x, y, group_len)
    }
}

impl Roofline for F16 {
    fn run(x: &[F16], y: &mut [F16], group_len: usize, stream: bool) {
        run_half(x, y, group_len, stream)
    }
}

impl Roofline for Bf16 {
    fn run(x: &[Bf16], y: &mut [Bf16], group_len: usize, stream: bool) {
        run_half(x, y, group_len, stream)
    }
}

/// A run of groups, input and output, taken once.
type Run<'a, T> = Mutex<Option<(&'a [T], &'a mut [T])>>;

/// The roofline on the current rayon pool, with the kernels' placement: while input and output
/// fit in `CACHE_RESIDENT_BYTES`, one contiguous run of whole groups per thread, each thread
/// taking first the run of its own index; beyond, `RUNS_PER_THREAD` runs per thread, taken by
/// whichever thread is free. On shapes bound by memory, its speed-up over one thread is about the most any
/// kernel can get from more threads here.
pub fn roofline_parallel<T: Roofline>(x: &[T], y: &mut [T], group_len: usize) {
    let threads = rayon::current_num_threads();
    let stream = streams(x);
    let runs_per_thread = if stream { RUNS_PER_THREAD } else { 1 };
    let run_len = (x.len() / group_len)
        .div_ceil(runs_per_thread * threads)
        .max(1)
        * group_len;
    if stream {
        x.par_chunks(run_len)
            .zip(y.par_chunks_mut(run_len))
            .for_each(|(x, y)| T::run(x, y, group_len, stream));
        return;
    }
    let runs: Vec<Run<'_, T>> = x
        .chunks(run_len)
        .zip(y.chunks_mut(run_len))
        .map(|run| Mutex::new(Some(run)))
        .collect();
    // As the kernels share them: as many jobs as runs, each thread taking first the run of its
    // own index.
    (0..runs.len())
        .into_par_iter()
        .with_max_len(1)
        .for_each(|_| {
            if let Some((x, y)) = take_run(&runs, rayon::current_thread_index()) {
                T::run(x, y, group_len, stream);
            }
        });
}

/// The run of index `home` if it is still there, or else the first run left.
fn take_run<'a, T>(runs: &[Run<'a, T>], home: Option<usize>) -> Option<(&'a [T], &'a mut [T])> {
    let take = |slot: &Run<'a, T>| slot.lock().unwrap_or_else(PoisonError::into_inner).take();
    home.and_then(|home| runs.get(home))
        .and_then(take)
        .or_else(|| runs.iter().find_map(take))
}

/// Runs the roofline over `x` in groups of `group_len`, writing `y`.
pub fn roofline<T: Roofline>(x: &[T], y: &mut [T], group_len: usize) {
    T::run(x, y, group_len, streams(x))
}

/// The roofline compiled for AVX2 and FMA, as a machine without AVX-512 runs it: the measure
/// for the `avx2` kernel on a machine that has AVX-512 too. `false` (nothing run) where the CPU
/// lacks AVX2 or FMA, or this is not x86_64.
pub fn roofline_without_avx512(x: &[f32], y: &mut [f32], group_len: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA, checked just above.
        unsafe { roofline_avx2(x, y, group_len, streams(x)) };
        return true;
    }
    let _ = (x, y, group_len);
    false
}

/// Whether the kernels would write this call's output around the caches.
fn streams<T>(x: &[T]) -> bool {
    2 * size_of_val(x) > CACHE_RESIDENT_BYTES
}

/// The `f32` roofline over groups of `group_len` (see [`Roofline::run`]).
fn run_f32(x: &[f32], y: &mut [f32], group_len: usize, stream: bool) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F, checked just above.
            return unsafe { roofline_avx512(x, y, group_len, stream) };
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            return unsafe { roofline_avx2(x, y, group_len, stream) };
        }
    }
    // Like the scalar and NEON kernels, plain stores whether the call streams or not.
    let _ = stream;
    for (xg, yg) in x.chunks(group_len).zip(y.chunks_mut(group_len)) {
        let (scale, offset) = coefficients(xg);
        affine(xg, yg, scale, offset);
    }
}

/// Writes a per-ISA roofline: plain stores through [`affine`], or streaming stores after a head
/// of single values up to the first `lanes`-aligned value of each group's output.
#[cfg(target_arch = "x86_64")]
macro_rules! streaming_roofline {
    ($name:ident, $feature:literal, $lanes:literal, $set1:ident, $load:ident, $fmadd:ident, $stream:ident) => {
        /// # Safety
        /// The CPU supports the instruction set named in the `target_feature` attribute.
        #[target_feature(enable = $feature)]
        unsafe fn $name(x: &[f32], y: &mut [f32], group_len: usize, stream: bool) {
            use std::arch::x86_64::*;
            for (xg, yg) in x.chunks(group_len).zip(y.chunks_mut(group_len)) {
                let (scale, offset) = coefficients(xg);
                if !stream {
                    affine(xg, yg, scale, offset);
                    continue;
                }
                let (head, x_body, y_body) = split_aligned(xg, yg, $lanes * 4);
                affine(head.0, head.1, scale, offset);
                let (scale_v, offset_v) = ($set1(scale), $set1(offset));
                let mut x_vectors = x_body.chunks_exact($lanes);
                let mut y_vectors = y_body.chunks_exact_mut($lanes);
                for (xv, yv) in (&mut x_vectors).zip(&mut y_vectors) {
                    // SAFETY: `xv` and `yv` hold a vector's values, and `yv` starts on the
                    // vector's width in bytes (`y_body` does).
                    unsafe {
                        $stream(
                            yv.as_mut_ptr(),
                            $fmadd($load(xv.as_ptr()), scale_v, offset_v),
                        )
                    };
                }
                affine(
                    x_vectors.remainder(),
                    y_vectors.into_remainder(),
                    scale,
                    offset,
                );
            }
            if stream {
                _mm_sfence();
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
streaming_roofline!(
    roofline_avx512,
    "avx512f",
    16,
    _mm512_set1_ps,
    _mm512_loadu_ps,
    _mm512_fmadd_ps,
    _mm512_stream_ps
);
#[cfg(target_arch = "x86_64")]
streaming_roofline!(
    roofline_avx2,
    "avx2,fma",
    8,
    _mm256_set1_ps,
    _mm256_loadu_ps,
    _mm256_fmadd_ps,
    _mm256_stream_ps
);

/// Splits a group where `y` reaches a multiple of `align` bytes: the head before, then the rest
/// of `x` and of `y`.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::type_complexity)]
#[inline(always)]
fn split_aligned<'x, 'y, T>(
    x: &'x [T],
    y: &'y mut [T],
    align: usize,
) -> ((&'x [T], &'y mut [T]), &'x [T], &'y mut [T]) {
    let head = y.as_ptr().align_offset(align).min(y.len());
    let (x_head, x_body) = x.split_at(head);
    let (y_head, y_body) = y.split_at_mut(head);
    ((x_head, y_head), x_body, y_body)
}

/// The statistics pass, written so the compiler vectorizes it: 64 independent partial sums
/// (lane-wise adds need no reassociation). Returns output coefficients that depend on the sum.
#[inline(always)]
fn coefficients(x: &[f32]) -> (f32, f32) {
    let mut partial = [0.0f32; 64];
    let mut rows = x.chunks_exact(64);
    for row in &mut rows {
        for (p, v) in partial.iter_mut().zip(row) {
            *p += v;
        }
    }
    let sum: f32 = partial.iter().sum::<f32>() + rows.remainder().iter().sum::<f32>();
    coefficients_of(sum)
}

/// Output coefficients that depend on a group's sum, so that its statistics pass cannot be
/// left out.
#[inline(always)]
fn coefficients_of(sum: f32) -> (f32, f32) {
    (1.0 / (1.0 + sum.abs()), sum * 1e-9)
}

/// The output pass with plain stores: an element-wise `mul_add` the compiler vectorizes.
#[inline(always)]
fn affine(x: &[f32], y: &mut [f32], scale: f32, offset: f32) {
    for (xv, yv) in x.iter().zip(y.iter_mut()) {
        *yv = xv.mul_add(scale, offset);
    }
}

/// The 16-bit roofline over groups of `group_len` (see [`Roofline::run`] and the module docs).
fn run_half<H: Half>(x: &[H], y: &mut [H], group_len: usize, stream: bool) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F, checked just above.
            return unsafe { half_avx512(x, y, group_len, stream) };
        }
        if std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
            && std::is_x86_feature_detected!("f16c")
        {
            // SAFETY: the CPU supports AVX2, FMA and F16C, checked just above.
            return unsafe { half_avx2(x, y, group_len, stream) };
        }
    }
    // Like the scalar and NEON kernels, plain stores whether the call streams or not.
    let _ = stream;
    for (xg, yg) in x.chunks(group_len).zip(y.chunks_mut(group_len)) {
        let sum: f32 = xg.iter().map(|v| v.as_f32()).sum();
        let (scale, offset) = coefficients_of(sum);
        affine_half(xg, yg, scale, offset);
    }
}

/// Writes a per-ISA 16-bit roofline (`$lanes` `f32` lanes): per group, four sums of widened
/// vectors, then widen, FMA, round and store, streaming (`$lanes * 2`-byte stores, as the
/// kernels' 16-bit stores) after a head of single values up to the first such boundary of the
/// output.
#[cfg(target_arch = "x86_64")]
macro_rules! half_roofline {
    (
        $name:ident, $feature:literal, $lanes:literal, $zero:ident, $add:ident, $sum:ident,
        $set1:ident, $fmadd:ident, $widen:ident, $narrow:ident, $stream:ident, $store:ident
    ) => {
        /// # Safety
        /// The CPU supports the instruction set named in the `target_feature` attribute.
        #[target_feature(enable = $feature)]
        unsafe fn $name<H: Half>(x: &[H], y: &mut [H], group_len: usize, stream: bool) {
            use std::arch::x86_64::*;
            for (xg, yg) in x.chunks(group_len).zip(y.chunks_mut(group_len)) {
                let mut sums = [$zero(); 4];
                let mut rows = xg.chunks_exact(4 * $lanes);
                for row in &mut rows {
                    for (sum, vector) in sums.iter_mut().zip(row.chunks_exact($lanes)) {
                        // SAFETY: the CPU supports the instruction set (our caller's
                        // guarantee); `vector` holds a vector's values.
                        *sum = $add(*sum, unsafe { H::$widen(vector) });
                    }
                }
                let total = $add($add(sums[0], sums[1]), $add(sums[2], sums[3]));
                let rest: f32 = rows.remainder().iter().map(|v| v.as_f32()).sum();
                let (scale, offset) = coefficients_of($sum(total) + rest);
                let bytes = if stream { 2 * $lanes } else { 1 };
                let (head, x_body, y_body) = split_aligned(xg, yg, bytes);
                affine_half(head.0, head.1, scale, offset);
                let (scale_v, offset_v) = ($set1(scale), $set1(offset));
                let mut x_vectors = x_body.chunks_exact($lanes);
                let mut y_vectors = y_body.chunks_exact_mut($lanes);
                for (xv, yv) in (&mut x_vectors).zip(&mut y_vectors) {
                    // SAFETY: the CPU supports the instruction set; `xv` holds a vector's
                    // values.
                    let value = $fmadd(unsafe { H::$widen(xv) }, scale_v, offset_v);
                    // SAFETY: as above.
                    let halves = unsafe { H::$narrow(value) };
                    if stream {
                        // SAFETY: `yv` holds a vector's values and starts on their width in
                        // bytes (`y_body` does, and holds whole vectors from there).
                        unsafe { $stream(yv.as_mut_ptr().cast(), halves) };
                    } else {
                        // SAFETY: `yv` holds a vector's values.
                        unsafe { $store(yv.as_mut_ptr().cast(), halves) };
                    }
                }
                affine_half(
                    x_vectors.remainder(),
                    y_vectors.into_remainder(),
                    scale,
                    offset,
                );
            }
            if stream {
                _mm_sfence();
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
half_roofline!(
    half_avx512,
    "avx512f",
    16,
    _mm512_setzero_ps,
    _mm512_add_ps,
    _mm512_reduce_add_ps,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    widen16,
    narrow16,
    _mm256_stream_si256,
    _mm256_storeu_si256
);
#[cfg(target_arch = "x86_64")]
half_roofline!(
    half_avx2,
    "avx2,fma,f16c",
    8,
    _mm256_setzero_ps,
    _mm256_add_ps,
    sum_lanes_avx2,
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    widen8,
    narrow8,
    _mm_stream_si128,
    _mm_storeu_si128
);

/// The sum of the eight lanes of `v`, in order.
///
/// # Safety
/// The CPU supports AVX: a caller without that target feature of its own must check it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn sum_lanes_avx2(v: std::arch::x86_64::__m256) -> f32 {
    let mut lanes = [0.0f32; 8];
    // SAFETY: writes the 8 values of `lanes`.
    unsafe { std::arch::x86_64::_mm256_storeu_ps(lanes.as_mut_ptr(), v) };
    lanes.iter().sum()
}

/// The output pass over 16-bit values, one at a time: heads and tails of the vector loops, and
/// the portable roofline.
#[inline(always)]
fn affine_half<H: Half>(x: &[H], y: &mut [H], scale: f32, offset: f32) {
    for (xv, yv) in x.iter().zip(y.iter_mut()) {
        *yv = H::round_from(xv.as_f32().mul_add(scale, offset));
    }
}
