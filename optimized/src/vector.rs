//! The algorithm, written once, generic over a small SIMD vector trait that each instruction-set
//! file implements with `core::arch` intrinsics.
//!
//! # Statistics: shifted sums, checked
//!
//! Each block of a group is summed shifted by `K`, an estimate of the block's mean: the mean of
//! its first 32 values, which its pass reads first anyway (values sampled across the block
//! would be memory misses before every pass; on `(8, 256, 56, 56)` they cost a tenth of the
//! time). The statistics are those of `d = x - K`. Where `x` and `K` are within a factor of
//! two, `x - K` is exact (Sterbenz), so the moments of `d` carry no cancellation from a mean far
//! larger than the spread; the variance is unchanged by the shift and the mean is
//! `K + mean_d`.
//!
//! Each block is taken in rows of `UNROLL * LANES` values. Every lane keeps two `f32` sums,
//! `S1 = sum d` and `S2 = sum d^2` (one subtraction, one addition and one FMA per vector, with
//! `UNROLL` independent accumulators to cover their latency). After `chunk_rows(LANES)` rows
//! (16; see there for the error bound) the lanes' sums are added into `f64` totals, so no `f32`
//! sum runs long. Then `mean_d = S1 / n` and `m2 = S2 - S1 * mean_d`.
//!
//! Shifted sums multiply their rounding errors by `1 + mean_d^2 / variance`, so they are
//! checked: a block whose `mean_d` exceeds half its standard deviation (its first values do not
//! represent it: a trend, or channels with different means) is summed again about the mean just
//! found, which is then close to its own (a second check catches the rare case where it is
//! not). The factor is therefore at most 1.25, and the second pass reads a block still in cache.
//!
//! The tail shorter than one row (and a whole block shorter than the widest row) is summarized
//! by its own moments in `f64`, about its first value (see `tail_moments`), and merged with
//! Chan's formula. Blocks are merged the same way, in order: each block's moments carry its
//! mean itself in `f64` (`K + mean_d`), so blocks summed about different shifts merge directly.
//! The tail is never padded with values that count, so it cannot corrupt the count or the mean.
//!
//! # Output: one subtraction and two FMAs per value
//!
//! Per channel, `scale = gamma * rstd` and `offset = beta - (mean - S) * scale`, and
//! `y = (x - S) * scale + offset`. The output shift `S` is `f32(mean)` when the mean is larger
//! than the spread, so that no `f32` quantity near a large mean enters the output (`x - S` is
//! exact for `x` near `S`), and 0 otherwise. `scale` is carried as two `f32` values, so the
//! output is rounded about once. The pass is bound by memory, not arithmetic. When input and
//! output together exceed `CACHE_RESIDENT_BYTES`, the output is written with streaming stores
//! (non-temporal on x86), which do not first read each line from memory (the README's
//! performance section says what that saves). The values are the same bits either way.

use crate::moments::Moments;
use crate::{Coefficients, GroupNorm, GroupRun, Layout};

/// A SIMD vector of `LANES` `f32` values.
///
/// # Safety
///
/// Every method may use instructions of the implementing type's instruction set: callers
/// guarantee that the CPU supports it (see `Kernel`, which can only be built when it does).
///
/// Implementations guarantee in turn what the generic code relies on for memory safety: every
/// method reads and writes only within the slices it is given (`load` and `store` panic where
/// a slice is shorter than `LANES`; `load_next_row` reads within the `body` given to
/// `start_rows`), and `LANES <= MAX_LANES`.
pub(crate) unsafe trait Vector: Copy {
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
    /// # Safety
    /// The CPU supports this type's instruction set.
    unsafe fn add(self, rhs: Self) -> Self;
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

    /// `(sum d, sum d^2)` in `f64`, with `d = x - x0`, over `values` (fewer than
    /// [`SHORT_LEN`]), where `x0` is `values[0]`. Portable here, in partial sums the compiler
    /// may vectorize; an instruction set with `f64` lanes does it in those.
    ///
    /// # Safety
    /// The CPU supports this type's instruction set.
    #[inline(always)]
    unsafe fn deviation_sums(values: &[f32], x0: f32) -> (f64, f64) {
        let x0 = f64::from(x0);
        let (mut sum, mut squares) = ([0.0f64; 8], [0.0f64; 8]);
        let (rows, rest) = values.as_chunks::<8>();
        for row in rows {
            for i in 0..8 {
                let d = f64::from(row[i]) - x0;
                sum[i] += d;
                squares[i] += d * d;
            }
        }
        for (i, &v) in rest.iter().enumerate() {
            let d = f64::from(v) - x0;
            sum[i] += d;
            squares[i] += d * d;
        }
        (sum.iter().sum(), squares.iter().sum())
    }

    /// Adds each lane, widened to `f64`, into `totals[lane]`. Portable here; an instruction set
    /// converts whole vectors, which the compiler does not reliably do from the loop.
    ///
    /// # Safety
    /// The CPU supports this type's instruction set.
    #[inline(always)]
    unsafe fn add_to_f64(self, totals: &mut [f64; MAX_LANES]) {
        let mut lanes = [0.0; MAX_LANES];
        self.store(&mut lanes);
        for (total, &lane) in totals[..Self::LANES].iter_mut().zip(&lanes) {
            *total += f64::from(lane);
        }
    }

    /// Stores into `dst[..LANES]` around the caches, where the instruction set can (x86
    /// non-temporal stores): for outputs too large to stay in cache, whose lines a plain store
    /// would first read from memory. A plain store here. [`Vector::end_streaming`] must follow
    /// before the values are read.
    ///
    /// # Safety
    /// The CPU supports this type's instruction set, and `dst` starts on a multiple of
    /// `LANES * 4` bytes.
    #[inline(always)]
    unsafe fn store_streaming(self, dst: &mut [f32]) {
        self.store(dst)
    }

    /// Orders the streaming stores made so far before every later store, so that the thread
    /// that next reads the output (after a synchronization) sees it. Nothing to do here.
    ///
    /// # Safety
    /// The CPU supports this type's instruction set.
    #[inline(always)]
    unsafe fn end_streaming() {}

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

    /// What [`Vector::load_next_row`] carries from one row to the next.
    type Rows;

    /// Starts reading `body` (whole rows of `UNROLL` vectors) row by row.
    ///
    /// # Safety
    /// The CPU supports this type's instruction set.
    unsafe fn start_rows(body: &[f32]) -> Self::Rows;

    /// The `UNROLL` vectors of `row`: the row of the `body` given to `start_rows` after those
    /// already read, and not its last row (which [`load_row`] reads). The same values as
    /// `load_row`; an instruction set may read them differently, from what it carries in
    /// `rows` (AVX-512 reads whole 64-byte lines).
    ///
    /// # Safety
    /// The CPU supports this type's instruction set, and `row` is as said.
    #[inline(always)]
    unsafe fn load_next_row(rows: &mut Self::Rows, row: &[f32]) -> [Self; UNROLL] {
        let _ = rows;
        load_row(row)
    }
}

/// The `UNROLL` vectors of `row`, each loaded where it lies.
///
/// # Safety
/// The CPU supports `V`'s instruction set.
#[inline(always)]
pub(crate) unsafe fn load_row<V: Vector>(row: &[f32]) -> [V; UNROLL] {
    let mut vectors = [V::splat(0.0); UNROLL];
    for (j, v) in vectors.iter_mut().enumerate() {
        *v = V::load(&row[j * V::LANES..]);
    }
    vectors
}

/// Independent accumulators per row: enough to cover the latency of the dependent additions.
pub(crate) const UNROLL: usize = 4;
/// Rows summed in `f32` before the lanes' sums are added into `f64`. A sum of `n` positive
/// `f32` terms is within `(n - 1) u` of exact (`u = 2^-24`), and rounding errors need not
/// average out (equal terms round alike in every lane): with 16 rows, `S2` is within `17 u`
/// (two more roundings add the `UNROLL` accumulators), the variance within `21.25 u` after the
/// factor `1 + offset^2 / variance <= 1.25` the shift may cost (see [`block_moments`]), and
/// `rstd`, with its rounding to `f32`, within `11.2 u = 5.6 ε`, inside the project's 8 ε. The
/// portable kernel's single lane averages nothing with other lanes, so it adds into `f64` every
/// 4 rows, which keeps it at least as accurate as PyTorch on every vector.
const fn chunk_rows(lanes: usize) -> usize {
    if lanes == 1 {
        4
    } else {
        16
    }
}
/// The widest vector has 16 lanes.
pub(crate) const MAX_LANES: usize = 16;
/// Blocks shorter than the widest row are all tail, whatever the kernel, so that every kernel
/// takes the statistics of a short group the same way: exactly, in `f64`, with no shift.
const SHORT_LEN: usize = UNROLL * MAX_LANES;
/// Passes over a block whose shift is off its mean by more than half a standard deviation: each
/// sums again about the mean the pass before found (see [`block_moments`]).
const MAX_RESHIFTS: usize = 2;

/// Values at the start of a block whose mean is its shift: contiguous, because they are the
/// first values the block's pass reads anyway. Values sampled across the block would make every
/// call pay memory misses before its pass, and disturb the streaming of blocks from memory.
const SHIFT_SAMPLE: usize = 32;

/// Moments of `x` (one block of a group): shifted sums over whole rows (the body), exact `f64`
/// moments of the rest (the tail), merged with Chan's formula. The tail is never padded with
/// values that count, so it cannot corrupt the count or the mean.
///
/// # Safety
/// The CPU supports `V`'s instruction set.
#[inline(always)]
pub(crate) unsafe fn block_moments<V: Vector>(x: &[f32]) -> Moments {
    let row_len = UNROLL * V::LANES;
    let body_len = if x.len() < SHORT_LEN {
        0
    } else {
        x.len() / row_len * row_len
    };
    let (body, tail) = x.split_at(body_len);
    if body.is_empty() {
        return tail_moments::<V>(tail);
    }
    let mut shift = sample_mean(&body[..SHIFT_SAMPLE]);
    let mut moments = shifted_sums::<V>(body, shift);
    // Shifted sums multiply their rounding errors by `1 + (mean - shift)^2 / variance`. Where
    // the block's first values put its shift more than half a standard deviation off its mean
    // (a factor above 1.25), it is summed again about the mean just found, which is then close
    // to its own.
    for _ in 0..MAX_RESHIFTS {
        let offset = moments.mean;
        let far = 4.0 * offset * offset > moments.variance();
        if !far {
            break;
        }
        shift = (f64::from(shift) + offset) as f32;
        moments = shifted_sums::<V>(body, shift);
    }
    moments.mean += f64::from(shift);
    moments.merge(tail_moments::<V>(tail))
}

/// The mean of `sample` in `f32`, in eight partial sums. Only its closeness to the block's
/// mean matters, not its rounding.
#[inline(always)]
fn sample_mean(sample: &[f32]) -> f32 {
    let mut partial = [0.0f32; 8];
    for row in sample.chunks_exact(8) {
        for (sum, &v) in partial.iter_mut().zip(row) {
            *sum += v;
        }
    }
    partial.iter().sum::<f32>() / sample.len() as f32
}

/// Moments of `body - shift` (whole rows) from shifted sums: `S1 = sum d` and `S2 = sum d^2`
/// with `d = x - shift`, `mean = S1 / n` and `m2 = S2 - S1 * mean`. Each lane sums
/// `chunk_rows(LANES)` rows in `f32`, then adds its sums into `f64` totals.
///
/// # Safety
/// The CPU supports `V`'s instruction set.
#[inline(always)]
unsafe fn shifted_sums<V: Vector>(body: &[f32], shift: f32) -> Moments {
    let row_len = UNROLL * V::LANES;
    let shift_v = V::splat(shift);
    let (mut sum, mut squares) = (LaneTotals::ZERO, LaneTotals::ZERO);
    let mut rows = V::start_rows(body);
    // Read where it lies: a reader that carries lines from row to row would take the last row's
    // end from the line after `body`.
    let last_row = body[body.len() - row_len..].as_ptr();
    for chunk in body.chunks(chunk_rows(V::LANES) * row_len) {
        let mut s1 = [V::splat(0.0); UNROLL];
        let mut s2 = [V::splat(0.0); UNROLL];
        for row in chunk.chunks_exact(row_len) {
            let vectors = if row.as_ptr() == last_row {
                load_row::<V>(row)
            } else {
                V::load_next_row(&mut rows, row)
            };
            for j in 0..UNROLL {
                let d = vectors[j].sub(shift_v);
                s1[j] = s1[j].add(d);
                s2[j] = d.mul_add(d, s2[j]);
            }
        }
        sum.add(s1);
        squares.add(s2);
    }
    let count = body.len() as f64;
    let (sum, squares) = (sum.total(), squares.total());
    let mean = sum / count;
    Moments {
        count,
        mean,
        // Rounding can take the difference of two nearly equal sums below zero.
        m2: (squares - sum * mean).max(0.0),
    }
}

/// `f64` totals, lane by lane, of `f32` vector sums.
struct LaneTotals([f64; MAX_LANES]);

impl LaneTotals {
    const ZERO: LaneTotals = LaneTotals([0.0; MAX_LANES]);

    /// Adds the lanes of the `UNROLL` accumulators of one chunk, first summed in pairs in `f32`
    /// (two more roundings against the chunk's rows).
    ///
    /// # Safety
    /// The CPU supports `V`'s instruction set.
    #[inline(always)]
    unsafe fn add<V: Vector>(&mut self, accumulators: [V; UNROLL]) {
        let [a, b, c, d] = accumulators;
        a.add(b).add(c.add(d)).add_to_f64(&mut self.0);
    }

    fn total(&self) -> f64 {
        self.0.iter().sum()
    }
}

/// Moments of `tail` (shorter than one row, or a whole block shorter than `SHORT_LEN`), in one
/// pass in `f64` about its first value `x0`:
/// `d = x - x0` and `d^2` are within an `f64` rounding of exact, and Samuelson's inequality,
/// `(x0 - mean)^2 <= (n - 1) m2 / n`, bounds `sum d^2` by `n m2`. So the cancellation in
/// `m2 = sum d^2 - (sum d)^2 / n` amplifies the sums' own rounding (under `n` units) at most `n`
/// times: with `n < 64`, `m2` keeps over 40 of `f64`'s 53 bits, far more than the `f32` result
/// needs. Never padded with values that count: where an instruction set fills the lanes past the
/// end, it fills them with `x0`, whose `d` is exactly 0, and the count is the tail's length.
///
/// # Safety
/// The CPU supports `V`'s instruction set.
#[inline(always)]
unsafe fn tail_moments<V: Vector>(tail: &[f32]) -> Moments {
    let Some(&first) = tail.first() else {
        return Moments::EMPTY;
    };
    let (sum, squares) = V::deviation_sums(tail, first);
    let count = tail.len() as f64;
    let mean = sum / count;
    Moments {
        count,
        mean: f64::from(first) + mean,
        m2: (squares - sum * mean).max(0.0),
    }
}

/// The coefficients of `y = (x - shift) * scale + offset`, with `scale` carried as the sum of
/// two `f32` values so that its rounding does not reach the output; as values, or splat into
/// vectors.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Affine<T = f32> {
    shift: T,
    scale_hi: T,
    scale_lo: T,
    offset: T,
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

    /// # Safety
    /// The CPU supports `V`'s instruction set.
    #[inline(always)]
    unsafe fn splat<V: Vector>(self) -> Affine<V> {
        Affine {
            shift: V::splat(self.shift),
            scale_hi: V::splat(self.scale_hi),
            scale_lo: V::splat(self.scale_lo),
            offset: V::splat(self.offset),
        }
    }
}

impl<V: Vector> Affine<V> {
    /// `d * scale_hi + (d * scale_lo + offset)` with `d = x - shift`.
    ///
    /// # Safety
    /// The CPU supports `V`'s instruction set.
    #[inline(always)]
    unsafe fn apply(&self, x: V) -> V {
        let d = x.sub(self.shift);
        d.mul_add(self.scale_hi, d.mul_add(self.scale_lo, self.offset))
    }
}

/// Writes `y` for `x`, the part of a group that starts `start` values into it: per channel,
/// `y = d * scale_hi + (d * scale_lo + offset)` with `d = x - shift`. The inner product is tiny
/// against the outer one, so the result carries about one rounding: that of the last FMA. With
/// `coefficients.stream_output`, stores go around the caches (see [`Vector::store_streaming`]).
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
    let stream = coefficients.stream_output;
    for (x, y, gamma, beta) in coefficients.channels(x, y, start) {
        let affine = coefficients.affine(gamma, beta).splat::<V>();
        if stream {
            // Values before the first vector-aligned one in `y` go one by one, as a tail does;
            // the result is the same wherever the vectors start.
            let head = y.as_ptr().align_offset(V::LANES * 4).min(y.len());
            let (x_head, x) = x.split_at(head);
            let (y_head, y) = y.split_at_mut(head);
            normalize_span::<V, false>(&affine, x_head, y_head);
            normalize_span::<V, true>(&affine, x, y);
        } else {
            normalize_span::<V, false>(&affine, x, y);
        }
    }
    if stream {
        V::end_streaming();
    }
}

/// `y = affine(x)` over one channel's span: rows of `UNROLL` vectors, then single vectors,
/// then a partial one. `STREAM` stores with [`Vector::store_streaming`]; `y` then starts on a
/// multiple of `LANES * 4` bytes.
///
/// # Safety
/// The CPU supports `V`'s instruction set, and with `STREAM`, `y` is aligned as said.
#[inline(always)]
unsafe fn normalize_span<V: Vector, const STREAM: bool>(
    affine: &Affine<V>,
    x: &[f32],
    y: &mut [f32],
) {
    let mut x_rows = x.chunks_exact(UNROLL * V::LANES);
    let mut y_rows = y.chunks_exact_mut(UNROLL * V::LANES);
    for (xr, yr) in (&mut x_rows).zip(&mut y_rows) {
        for j in 0..UNROLL {
            store::<V, STREAM>(
                affine.apply(V::load(&xr[j * V::LANES..])),
                &mut yr[j * V::LANES..],
            );
        }
    }
    let mut x_chunks = x_rows.remainder().chunks_exact(V::LANES);
    let mut y_chunks = y_rows.into_remainder().chunks_exact_mut(V::LANES);
    for (xc, yc) in (&mut x_chunks).zip(&mut y_chunks) {
        store::<V, STREAM>(affine.apply(V::load(xc)), yc);
    }
    let (x_tail, y_tail) = (x_chunks.remainder(), y_chunks.into_remainder());
    if !x_tail.is_empty() {
        affine.apply(V::load_partial(x_tail)).store_partial(y_tail);
    }
}

/// A whole vector's store: streaming with `STREAM`.
///
/// # Safety
/// The CPU supports `V`'s instruction set, and with `STREAM`, `dst` starts on a multiple of
/// `LANES * 4` bytes.
#[inline(always)]
unsafe fn store<V: Vector, const STREAM: bool>(v: V, dst: &mut [f32]) {
    // SAFETY: our caller guarantees the instruction set and, when streaming, the alignment.
    unsafe {
        if STREAM {
            v.store_streaming(dst)
        } else {
            v.store(dst)
        }
    }
}

/// A kernel's functions, the generic algorithm instantiated for one instruction set by each ISA
/// file: whole runs of groups for one thread, and (with `rayon`) the statistics and the output
/// of one block of a group, for threads that share a group.
#[derive(Clone, Copy)]
pub(crate) struct Primitives {
    /// # Safety
    /// The CPU supports the kernel's instruction set.
    pub normalize_groups: unsafe fn(&Layout, &GroupNorm<'_>, GroupRun<'_>),
    /// # Safety
    /// The CPU supports the kernel's instruction set.
    #[cfg(feature = "rayon")]
    pub block_moments: unsafe fn(&[f32]) -> Moments,
    /// # Safety
    /// The CPU supports the kernel's instruction set.
    #[cfg(feature = "rayon")]
    pub write: unsafe fn(&crate::Group<'_>, &crate::Statistics, &[f32], &mut [f32], usize),
}

/// Writes the `#[target_feature]` entry points of one instruction set and its [`Primitives`]:
/// thin wrappers in which the generic algorithm is inlined and compiled for that set.
macro_rules! entry_points {
    ($vector:ty, $($feature:literal)?) => {
        /// # Safety
        /// The CPU supports this file's instruction set.
        $(#[target_feature(enable = $feature)])?
        unsafe fn normalize_groups(
            layout: &$crate::Layout,
            params: &$crate::GroupNorm<'_>,
            run: $crate::GroupRun<'_>,
        ) {
            // SAFETY: our caller guarantees the instruction set, the contract of the callee.
            unsafe { layout.normalize_groups::<$vector>(params, run) }
        }

        /// # Safety
        /// The CPU supports this file's instruction set.
        #[cfg(feature = "rayon")]
        $(#[target_feature(enable = $feature)])?
        unsafe fn block_moments(x: &[f32]) -> $crate::moments::Moments {
            // SAFETY: our caller guarantees the instruction set, the contract of the callee.
            unsafe { $crate::vector::block_moments::<$vector>(x) }
        }

        /// # Safety
        /// The CPU supports this file's instruction set.
        #[cfg(feature = "rayon")]
        $(#[target_feature(enable = $feature)])?
        unsafe fn write(
            group: &$crate::Group<'_>,
            statistics: &$crate::Statistics,
            x: &[f32],
            y: &mut [f32],
            start: usize,
        ) {
            // SAFETY: our caller guarantees the instruction set, the contract of the callee.
            unsafe { group.write::<$vector>(statistics, x, y, start) }
        }

        pub(crate) const PRIMITIVES: $crate::vector::Primitives = $crate::vector::Primitives {
            normalize_groups,
            #[cfg(feature = "rayon")]
            block_moments,
            #[cfg(feature = "rayon")]
            write,
        };
    };
}
pub(crate) use entry_points;
