//! The algorithm, written once, generic over a small SIMD vector trait that each instruction-set
//! file implements with `core::arch` intrinsics.
//!
//! # Statistics: shifted, per-lane Welford
//!
//! A group's values are shifted by `K`, the group's first value, and the statistics are those of
//! `d = x - K`. Where `x` and `K` are within a factor of two, `x - K` is exact (Sterbenz), so the
//! moments of `d` carry no cancellation even when the mean is far larger than the spread; the
//! variance is unchanged by the shift and the mean is `K + mean_d`.
//!
//! Each SIMD lane runs Welford's update on its own stream of values:
//!
//! ```text
//! n += 1;  delta = d - mean;  mean += delta / n;  m2 += delta * (d - mean)
//! ```
//!
//! All lanes advance together, so `1 / n` is the same for every lane: it comes from a table of
//! reciprocals, and the hot loop has no division. The table is `CHUNK_ROWS` long, so the values
//! are taken in chunks of `CHUNK_ROWS` rows of `UNROLL * LANES` values; `UNROLL` independent
//! accumulators hide the latency of the dependent update. At the end of a chunk the lanes, which
//! all hold the same count, are merged with Chan's formula (pairwise in the vector, then in `f64`),
//! and chunks are merged in order. The tail shorter than one row is summarized exactly by its own
//! moments and merged the same way: it is never padded, so it cannot corrupt the count or mean.
//!
//! # Output: one subtraction and one FMA per value
//!
//! Per channel, `scale = gamma * rstd` and `offset = beta - mean_d * scale`, so
//! `y = (x - K) * scale + offset` and no `f32` quantity near a large mean enters the output.

use crate::moments::Moments;

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
    unsafe fn add(self, rhs: Self) -> Self;
    /// # Safety
    /// The CPU supports this type's instruction set.
    unsafe fn sub(self, rhs: Self) -> Self;
    /// # Safety
    /// The CPU supports this type's instruction set.
    unsafe fn mul(self, rhs: Self) -> Self;
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

    /// The sum of the lanes, added pairwise.
    ///
    /// # Safety
    /// The CPU supports this type's instruction set.
    #[inline(always)]
    unsafe fn reduce_sum(self) -> f32 {
        let mut lanes = [0.0; MAX_LANES];
        self.store(&mut lanes);
        let mut width = Self::LANES;
        while width > 1 {
            width /= 2;
            for i in 0..width {
                lanes[i] += lanes[i + width];
            }
        }
        lanes[0]
    }
}

/// Independent accumulators per row: enough to cover the latency of the Welford update.
const UNROLL: usize = 4;
/// Rows per chunk, the length of the reciprocal table.
const CHUNK_ROWS: usize = 256;
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
    let (body, tail) = x.split_at(x.len() / row_len * row_len);
    let shift_v = V::splat(shift);
    let mut total = Moments::EMPTY;
    for chunk in body.chunks(CHUNK_ROWS * row_len) {
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
    total.merge(tail_moments::<V>(tail, shift))
}

/// Moments of `tail - shift` for a tail shorter than one row, in two passes over values that
/// are already in L1: its mean, then the squared deviations from it. Never padded, so the
/// count and mean are those of the values themselves.
///
/// # Safety
/// The CPU supports `V`'s instruction set.
#[inline(always)]
unsafe fn tail_moments<V: Vector>(tail: &[f32], shift: f32) -> Moments {
    if tail.is_empty() {
        return Moments::EMPTY;
    }
    let shift_v = V::splat(shift);
    let vectors = tail.chunks_exact(V::LANES);
    let rest = vectors.remainder();
    let mut sum = V::splat(0.0);
    for chunk in vectors.clone() {
        sum = sum.add(V::load(chunk).sub(shift_v));
    }
    let sum = sum.reduce_sum() + rest.iter().map(|&v| v - shift).sum::<f32>();
    let mean = sum / tail.len() as f32;
    let mean_v = V::splat(mean);
    let mut m2 = V::splat(0.0);
    for chunk in vectors {
        let deviation = V::load(chunk).sub(shift_v).sub(mean_v);
        m2 = deviation.mul_add(deviation, m2);
    }
    let m2 = m2.reduce_sum()
        + rest
            .iter()
            .map(|&v| (v - shift - mean) * (v - shift - mean))
            .sum::<f32>();
    Moments {
        count: tail.len() as f64,
        mean: f64::from(mean),
        m2: f64::from(m2),
    }
}

/// Merges `UNROLL` accumulators whose lanes each hold `rows` values: pairwise in the vector
/// (equal counts `n`: `mean = a + (b - a) / 2`, `m2 = m2_a + m2_b + (b - a)^2 * n / 2`), then the
/// lanes of the last vector in `f64`.
///
/// # Safety
/// The CPU supports `V`'s instruction set.
#[inline(always)]
unsafe fn merge_lanes<V: Vector>(
    mut mean: [V; UNROLL],
    mut m2: [V; UNROLL],
    rows: usize,
) -> Moments {
    let half = V::splat(0.5);
    let mut count = rows as f32;
    let mut width = UNROLL;
    while width > 1 {
        width /= 2;
        let weight = V::splat(count * 0.5);
        for j in 0..width {
            let delta = mean[j + width].sub(mean[j]);
            mean[j] = delta.mul_add(half, mean[j]);
            m2[j] = delta.mul(delta).mul_add(weight, m2[j].add(m2[j + width]));
        }
        count *= 2.0;
    }
    let mut lane_means = [0.0; MAX_LANES];
    let mut lane_m2s = [0.0; MAX_LANES];
    mean[0].store(&mut lane_means);
    m2[0].store(&mut lane_m2s);
    Moments::from_equal_lanes(
        &lane_means[..V::LANES],
        &lane_m2s[..V::LANES],
        (rows * UNROLL) as f64,
    )
}

/// `y = (x - shift) * scale + offset` over one channel (or a whole group without affine).
///
/// # Safety
/// The CPU supports `V`'s instruction set.
#[inline(always)]
pub(crate) unsafe fn normalize<V: Vector>(
    x: &[f32],
    y: &mut [f32],
    shift: f32,
    scale: f32,
    offset: f32,
) {
    let (shift_v, scale_v, offset_v) = (V::splat(shift), V::splat(scale), V::splat(offset));
    let mut x_chunks = x.chunks_exact(V::LANES);
    let mut y_chunks = y.chunks_exact_mut(V::LANES);
    for (xc, yc) in (&mut x_chunks).zip(&mut y_chunks) {
        V::load(xc)
            .sub(shift_v)
            .mul_add(scale_v, offset_v)
            .store(yc);
    }
    let (x_tail, y_tail) = (x_chunks.remainder(), y_chunks.into_remainder());
    if !x_tail.is_empty() {
        V::load_partial(x_tail)
            .sub(shift_v)
            .mul_add(scale_v, offset_v)
            .store_partial(y_tail);
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
    pub normalize: unsafe fn(&[f32], &mut [f32], f32, f32, f32),
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
        unsafe fn normalize(x: &[f32], y: &mut [f32], shift: f32, scale: f32, offset: f32) {
            // SAFETY: our caller guarantees the instruction set, the contract of normalize.
            unsafe { $crate::vector::normalize::<$vector>(x, y, shift, scale, offset) }
        }

        pub(crate) const PRIMITIVES: $crate::vector::Primitives = $crate::vector::Primitives {
            block_moments,
            normalize,
        };
    };
}
pub(crate) use entry_points;
