//! The statistics pass: the moments of one block of a group, from shifted sums, checked.
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
//! # Why shifted sums, and not Welford's update, inside a block
//!
//! Blocks are merged with Chan's formula, which is Welford's parallel update. Inside a block,
//! Welford's per-element update in each lane (`n += 1`, `mean += (x - mean) / n`,
//! `m2 += (x - mean_old) * (x - mean)`, the loop of commit fb4ee7e) was measured against these
//! shifted sums on 2026-12-01 on AMD EPYC Zen 4 (2 cores, AVX-512), one thread, interleaved in
//! 41 rounds of 10 ms, with only `shifted_sums` swapped for that loop and everything else as
//! here (median ratio of the Welford version's time to this one's, three runs):
//!
//! | kernel | `(1, 320, 64, 64)` statistics pass | whole call | `(8, 256, 56, 56)` whole call |
//! |---|---|---|---|
//! | avx2 | 1.49, 1.59, 1.62 | 1.15, 1.09, 1.16 | 1.07, 1.05, 1.08 |
//! | avx512 | 1.36, 1.34, 1.34 | 1.05, 1.08, 1.14 | 1.01, 1.00, 1.13 |
//! | scalar | 1.77, 1.75, 1.77 | 1.28, 1.33, 1.34 | 1.33, 1.33, 1.33 |
//!
//! Welford's update costs a division (or a reciprocal load) and a dependent chain per value;
//! where the data comes from memory (`(8, 256, 56, 56)`) the SIMD kernels hide most of it.
//! Accuracy was alike: on `x = f32(offset + randn)`, groups of 65536 and 1048576 values, offsets
//! 0, 1e2, 1e4 and 1e6, every `rstd` and `y` of both was within 0.75 eps32 of an `f64`
//! two-pass computation. The internal `f64` variance was closer with shifted sums (0.00 to
//! 0.06 eps32 against Welford's 0.06 to 0.34) at every offset but 1e4, where the SIMD kernels'
//! was 0.40 eps32 against Welford's 0.1 (`rstd` 0.67 against 0.50 eps32).

use crate::element::Element;
use crate::moments::Moments;
use crate::vector::{load_row, Io, Vector, MAX_LANES, UNROLL};

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
/// Blocks shorter than the widest row are all tail, whatever the kernel, so that every kernel
/// takes the statistics of a short group the same way: exactly, in `f64`, with no shift.
pub(crate) const SHORT_LEN: usize = UNROLL * MAX_LANES;
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
pub(crate) unsafe fn block_moments<V: Io<E>, E: Element>(x: &[E]) -> Moments {
    let row_len = UNROLL * V::LANES;
    let body_len = if x.len() < SHORT_LEN {
        0
    } else {
        x.len() / row_len * row_len
    };
    let (body, tail) = x.split_at(body_len);
    if body.is_empty() {
        // SAFETY: our caller guarantees the instruction set (and so below).
        return unsafe { tail_moments::<V, E>(tail) };
    }
    let mut shift = sample_mean(&body[..SHIFT_SAMPLE]);
    // SAFETY: as above.
    let mut moments = unsafe { shifted_sums::<V, E>(body, shift) };
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
        // SAFETY: as above.
        moments = unsafe { shifted_sums::<V, E>(body, shift) };
    }
    moments.mean += f64::from(shift);
    // SAFETY: as above.
    moments.merge(unsafe { tail_moments::<V, E>(tail) })
}

/// The mean of `sample` in `f32`, in eight partial sums. Only its closeness to the block's
/// mean matters, not its rounding.
#[inline(always)]
fn sample_mean<E: Element>(sample: &[E]) -> f32 {
    let mut partial = [0.0f32; 8];
    for row in sample.chunks_exact(8) {
        for (sum, &v) in partial.iter_mut().zip(row) {
            *sum += v.to_f32();
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
unsafe fn shifted_sums<V: Io<E>, E: Element>(body: &[E], shift: f32) -> Moments {
    let row_len = UNROLL * V::LANES;
    // SAFETY: our caller guarantees the instruction set, the one contract of every `V` method
    // called here; slices are cut by bounds-checked ranges, and `load_next_row` is given each
    // row of `body` in order but the last, which `load_row` reads.
    unsafe {
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
                    load_row::<V, E>(row)
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
        // SAFETY: our caller guarantees the instruction set.
        unsafe { a.add(b).add(c.add(d)).add_to_f64(&mut self.0) };
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
unsafe fn tail_moments<V: Io<E>, E: Element>(tail: &[E]) -> Moments {
    let Some(first) = tail.first().map(|v| v.to_f32()) else {
        return Moments::EMPTY;
    };
    // SAFETY: our caller guarantees the instruction set.
    let (sum, squares) = unsafe { V::deviation_sums(tail, first) };
    let count = tail.len() as f64;
    let mean = sum / count;
    Moments {
        count,
        mean: f64::from(first) + mean,
        m2: (squares - sum * mean).max(0.0),
    }
}
