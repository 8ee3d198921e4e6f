//! The algorithm, written once, generic over a small SIMD vector trait that each instruction-set
//! file implements with `core::arch` intrinsics.
//!
//! # Statistics: shifted, per-lane Welford
//!
//! A group's values are shifted by `K`, an estimate of the group's mean (the mean of 64 values
//! sampled across it), and the statistics are those of `d = x - K`. Where `x` and `K` are within
//! a factor of two, `x - K` is exact (Sterbenz), so the moments of `d` carry no cancellation even
//! when the mean is far larger than the spread; the variance is unchanged by the shift and the
//! mean is `K + mean_d`.
//!
//! Each SIMD lane runs Welford's update on its own stream of values:
//!
//! ```text
//! n += 1;  delta = d - mean;  mean += delta / n;  m2 += delta * (d - mean)
//! ```
//!
//! All lanes advance together, so `1 / n` is the same for every lane: it comes from a table of
//! reciprocals, and the hot loop has no division. The values are taken in chunks of
//! `chunk_rows(LANES)` rows of `UNROLL * LANES` values; `UNROLL` independent accumulators hide
//! the latency of the dependent update. At the end of a chunk the lanes, which all hold the same
//! count, are merged in `f64` with Chan's formula, and chunks are merged in order. The tail
//! shorter than one row (and a whole block shorter than the widest row) is summarized exactly by
//! its own moments, in `f64`, and merged the same way: it is never padded, so it cannot corrupt
//! the count or the mean.
//!
//! # Output: one subtraction and two FMAs per value
//!
//! Per channel, `scale = gamma * rstd` and `offset = beta - (mean - S) * scale`, and
//! `y = (x - S) * scale + offset`. The output shift `S` is `f32(mean)` when the mean is larger
//! than the spread, so that no `f32` quantity near a large mean enters the output (`x - S` is
//! exact for `x` near `S`), and 0 otherwise. `scale` is carried as two `f32` values, so the
//! output is rounded about once. The pass is bound by memory, not arithmetic.

use crate::moments::{sum_f64, Moments};
use crate::Coefficients;

/// A SIMD vector of `LANES` `f32` values.
///
/// # Safety
///
/// Every method may use instructions of the implementing type's instruction set: callers
/// guarantee that the CPU supports it (see `Kernel`, which can only be built when it does).
pub(crate) trait Vector: Copy {
    const LANES: usize;
    /// # Safety
    /// The CPU supports this type's instruction set.
    unsafe fn splat(value: f32) -> Self;
    /// Loads `src[..LANES]`; panics if `src` is shorter.
    ///
    /// # Safety
    /// The CPU supports this type's instruction set.
    unsafe fn load(src: &[f32]) -> Self;
    /// Stores into `dst[..LANES]`; panics if `dst` is shorter.
    ///
    /// # Safety
    /// The CPU supports this type's instruction set.
    unsafe fn store(self, dst: &mut [f32]);
    /// # Safety
    /// The CPU supports this type's instruction set.
    unsafe fn sub(self, rhs: Self) -> Self;
    /// `self * factor + addend`, fused where the instruction set has FMA.
    ///
    /// # Safety
    /// The CPU supports this type's instruction set.
    unsafe fn mul_add(self, factor: Self, addend: Self) -> Self;

    /// Loads the `src.len() < LANES` values of `src` into the first lanes; the other lanes are
    /// zero. Only for element-wise work: a reduction must not see the padding.
    ///
    /// # Safety
    /// The CPU supports this type's instruction set.
    #[inline(always)]
    unsafe fn load_partial(src: &[f32]) -> Self {
        let mut lanes = [0.0; MAX_LANES];
        lanes[..src.len()].copy_from_slice(src);
        Self::load(&lanes)
    }

    /// Stores the first `dst.len() < LANES` lanes into `dst`.
    ///
    /// # Safety
    /// The CPU supports this type's instruction set.
    #[inline(always)]
    unsafe fn store_partial(self, dst: &mut [f32]) {
        let mut lanes = [0.0; MAX_LANES];
        self.store(&mut lanes);
        dst.copy_from_slice(&lanes[..dst.len()]);
    }
}

/// Independent accumulators per row: enough to cover the latency of the Welford update.
const UNROLL: usize = 4;
/// Rows per chunk for a vector of `lanes` lanes. A lane's Welford run lasts one chunk, and its
/// rounding error grows with the run; the lanes' merge at the end of a chunk averages their
/// errors and costs in proportion to the lane count. So chunks are short where lanes are few.
const fn chunk_rows(lanes: usize) -> usize {
    16 * lanes
}
/// The longest chunk, the length of the reciprocal table.
const CHUNK_ROWS: usize = chunk_rows(MAX_LANES);
/// The widest vector has 16 lanes.
const MAX_LANES: usize = 16;

/// `RECIPROCALS[i] = 1 / (i + 1)`, the Welford weight of the `(i + 1)`-th row of a chunk.
static RECIPROCALS: [f32; CHUNK_ROWS] = {
    let mut table = [0.0; CHUNK_ROWS];
    let mut i = 0;
    while i < CHUNK_ROWS {
        table[i] = 1.0 / (i + 1) as f32;
        i += 1;
    }
    table
};

/// Moments of `x - shift` over `x` (one block of a group).
///
/// # Safety
/// The CPU supports `V`'s instruction set.
#[inline(always)]
pub(crate) unsafe fn block_moments<V: Vector>(x: &[f32], shift: f32) -> Moments {
    let row_len = UNROLL * V::LANES;
    // Fewer values than the widest row are all tail, whatever the kernel, so every kernel
    // takes the statistics of a short group the same way.
    let body_len = if x.len() < UNROLL * MAX_LANES {
        0
    } else {
        x.len() / row_len * row_len
    };
    let (body, tail) = x.split_at(body_len);
    let shift_v = V::splat(shift);
    let mut total = Moments::EMPTY;
    for chunk in body.chunks(chunk_rows(V::LANES) * row_len) {
        let mut mean = [V::splat(0.0); UNROLL];
        let mut m2 = [V::splat(0.0); UNROLL];
        for (row, &recip) in chunk.chunks_exact(row_len).zip(RECIPROCALS.iter()) {
            let recip = V::splat(recip);
            for j in 0..UNROLL {
                let d = V::load(&row[j * V::LANES..]).sub(shift_v);
                let delta = d.sub(mean[j]);
                mean[j] = delta.mul_add(recip, mean[j]);
                m2[j] = delta.mul_add(d.sub(mean[j]), m2[j]);
            }
        }
        total = total.merge(merge_lanes(mean, m2, chunk.len() / row_len));
    }
    total.merge(tail_moments(tail, shift))
}

/// Moments of `tail - shift` for a tail shorter than one row, in two passes over values that
/// are already in L1: its mean, then the squared deviations from it, both in `f64` (in 8
/// independent partial sums, which the compiler vectorizes). Never padded, so the count and
/// mean are those of the values themselves.
#[inline(always)]
fn tail_moments(tail: &[f32], shift: f32) -> Moments {
    if tail.is_empty() {
        return Moments::EMPTY;
    }
    let shift = f64::from(shift);
    let count = tail.len() as f64;
    let mean = sum_f64(tail, |v| v - shift) / count;
    let m2 = sum_f64(tail, |v| (v - shift - mean) * (v - shift - mean));
    Moments { count, mean, m2 }
}

/// Merges the lanes of the `UNROLL` accumulators, which each hold `rows` values, in `f64`.
///
/// # Safety
/// The CPU supports `V`'s instruction set.
#[inline(always)]
unsafe fn merge_lanes<V: Vector>(mean: [V; UNROLL], m2: [V; UNROLL], rows: usize) -> Moments {
    let mut lane_means = [0.0; UNROLL * MAX_LANES];
    let mut lane_m2s = [0.0; UNROLL * MAX_LANES];
    for j in 0..UNROLL {
        mean[j].store(&mut lane_means[j * V::LANES..]);
        m2[j].store(&mut lane_m2s[j * V::LANES..]);
    }
    let lanes = UNROLL * V::LANES;
    Moments::from_equal_lanes(&lane_means[..lanes], &lane_m2s[..lanes], rows as f64)
}

/// The coefficients of `y = (x - shift) * scale + offset`, with `scale` carried as the sum of
/// two `f32` values so that its rounding does not reach the output.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Affine {
    pub shift: f32,
    pub scale_hi: f32,
    pub scale_lo: f32,
    pub offset: f32,
}

impl Affine {
    pub fn new(shift: f32, scale: f64, offset: f64) -> Affine {
        let scale_hi = scale as f32;
        Affine {
            shift,
            scale_hi,
            scale_lo: (scale - f64::from(scale_hi)) as f32,
            offset: offset as f32,
        }
    }
}

/// Writes `y` for `x`, the part of a group that starts `start` values into it: per channel,
/// `y = d * scale_hi + (d * scale_lo + offset)` with `d = x - shift`. The inner product is tiny
/// against the outer one, so the result carries about one rounding: that of the last FMA.
///
/// # Safety
/// The CPU supports `V`'s instruction set.
#[inline(always)]
pub(crate) unsafe fn normalize<V: Vector>(
    x: &[f32],
    y: &mut [f32],
    coefficients: &Coefficients<'_>,
    start: usize,
) {
    for (x, y, gamma, beta) in coefficients.channels(x, y, start) {
        let affine = coefficients.affine(gamma, beta);
        let shift = V::splat(affine.shift);
        let (scale_hi, scale_lo) = (V::splat(affine.scale_hi), V::splat(affine.scale_lo));
        let offset = V::splat(affine.offset);
        let mut x_chunks = x.chunks_exact(V::LANES);
        let mut y_chunks = y.chunks_exact_mut(V::LANES);
        for (xc, yc) in (&mut x_chunks).zip(&mut y_chunks) {
            let d = V::load(xc).sub(shift);
            d.mul_add(scale_hi, d.mul_add(scale_lo, offset)).store(yc);
        }
        let (x_tail, y_tail) = (x_chunks.remainder(), y_chunks.into_remainder());
        if !x_tail.is_empty() {
            let d = V::load_partial(x_tail).sub(shift);
            d.mul_add(scale_hi, d.mul_add(scale_lo, offset))
                .store_partial(y_tail);
        }
    }
}

/// The two functions of a kernel, instantiated for one instruction set by each ISA file.
#[derive(Clone, Copy)]
pub(crate) struct Primitives {
    /// # Safety
    /// The CPU supports the kernel's instruction set.
    pub block_moments: unsafe fn(&[f32], f32) -> Moments,
    /// # Safety
    /// The CPU supports the kernel's instruction set.
    pub normalize: unsafe fn(&[f32], &mut [f32], &Coefficients<'_>, usize),
}

/// Writes the `#[target_feature]` entry points of one instruction set and its [`Primitives`]:
/// thin wrappers in which the generic algorithm is inlined and compiled for that set.
macro_rules! entry_points {
    ($vector:ty, $($feature:literal)?) => {
        /// # Safety
        /// The CPU supports this file's instruction set.
        $(#[target_feature(enable = $feature)])?
        unsafe fn block_moments(x: &[f32], shift: f32) -> $crate::moments::Moments {
            // SAFETY: our caller guarantees the instruction set, the contract of block_moments.
            unsafe { $crate::vector::block_moments::<$vector>(x, shift) }
        }

        /// # Safety
        /// The CPU supports this file's instruction set.
        $(#[target_feature(enable = $feature)])?
        unsafe fn normalize(
            x: &[f32],
            y: &mut [f32],
            coefficients: &$crate::Coefficients<'_>,
            start: usize,
        ) {
            // SAFETY: our caller guarantees the instruction set, the contract of normalize.
            unsafe { $crate::vector::normalize::<$vector>(x, y, coefficients, start) }
        }

        pub(crate) const PRIMITIVES: $crate::vector::Primitives = $crate::vector::Primitives {
            block_moments,
            normalize,
        };
    };
}
pub(crate) use entry_points;
