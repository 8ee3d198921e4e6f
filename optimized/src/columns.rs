//! The statistics of many channels at once, one channel per lane: for channels-last data, where
//! a row (one spatial position) holds consecutive channels and a channel's values are a column
//! across the rows. One pass over the rows, with no estimate of the mean needed beforehand.
//!
//! Rows are taken in chunks of [`CHUNK_ROWS`]. In each chunk every lane runs Welford's update
//! in `f32` on `d = x - K`, with `K` the lane's value in the chunk's first row:
//!
//! ```text
//! delta = d - m        m += delta / k        M2 += delta * (d - m)        (k = 1, 2, .., 16)
//! ```
//!
//! with `m = sum / k` kept as the running sum of `d` (each difference with `m` one FMA), which
//! shortens the dependency from row to row.
//!
//! `1 / k` is the same for every lane (every lane sees the same rows), so it is a splat from a
//! table, not a division. The shift keeps `d` small where the mean is large against the spread
//! (`x - K` is exact for `x` near `K`, Sterbenz), and Welford's update, unlike sums of `d` and
//! `d^2`, does not multiply its rounding errors by `1 + (mean - K)^2 / variance`: the first row
//! of a chunk may sit anywhere in the channel's spread (it is not checked, and no value is read
//! twice). After each chunk the lanes' `(K + m, M2)` are merged in `f64` into the channels'
//! moments with Chan's formula, with weights common to every lane (the counts are), so no `f32`
//! quantity runs longer than 16 values.
//!
//! Why Welford here when the contiguous pass (`statistics`) uses shifted sums: there a block's
//! shift is the mean of its first 32 values, checked against the block's mean and re-summed
//! (from cache) when far. A channels-last column has no such run of its own values to sample
//! before the pass, and a check per channel would re-read the rows for every far lane. Shifted
//! sums about each chunk's first row instead (`S1 += d`, `S2 += d^2`, `m2 = S2 - S1^2 / n` in
//! `f64`, everything else as here) were measured against this update on 2026-12-01 (AMD EPYC
//! Zen 4, one thread, each build's call timed against the sample-sized roofline in alternating
//! 10 ms rounds, three runs of each build, alternating): on `(1, 320, 64, 64)`,
//! `(1, 640, 32, 32)` and `(1, 1280, 16, 16)` the calls ran at 40-56% of the roofline with
//! shifted sums against 32-44% with this update, about 1.25 times faster; but their worst error
//! over the 53 channels-last vectors was 2.33 eps32 against 1.16 (every kernel), and two cases
//! (`cl_model_1x320x4x4_g32`, `cl_pytorch_nwc_4x20x20_g4`) then came out more than an ulp less
//! accurate than PyTorch, which the suite fails. The first row of a chunk can sit anywhere in
//! the column's spread, and shifted sums multiply their rounding by `1 + n (mean - K)^2 / m2`,
//! up to `n`; this update does not.

use crate::element::Element;
use crate::moments::Moments;
use crate::vector::{Io, Vector, MAX_LANES, UNROLL};

/// Rows per chunk: the longest run of `f32` Welford updates before the lanes are merged into
/// `f64`. `M2` is a sum of at most 16 non-negative terms, within `16 u` of exact, as the
/// contiguous pass's 16-row chunks are.
pub(crate) const CHUNK_ROWS: usize = 16;

/// `1 / k` for `k = 1..=CHUNK_ROWS`, in `f32`.
const INVERSES: [f32; CHUNK_ROWS] = {
    let mut inv = [0.0; CHUNK_ROWS];
    let mut k = 0;
    while k < CHUNK_ROWS {
        inv[k] = 1.0 / (k + 1) as f32;
        k += 1;
    }
    inv
};

/// The moments of up to `N` columns, accumulated chunk by chunk: a common count, and a mean and
/// `m2` per column, in `f64`.
pub(crate) struct ColumnMoments<const N: usize> {
    count: f64,
    mean: [f64; N],
    m2: [f64; N],
}

impl<const N: usize> ColumnMoments<N> {
    pub const EMPTY: ColumnMoments<N> = ColumnMoments {
        count: 0.0,
        mean: [0.0; N],
        m2: [0.0; N],
    };

    /// The moments of column `j`.
    pub fn column(&self, j: usize) -> Moments {
        Moments {
            count: self.count,
            mean: self.mean[j],
            m2: self.m2[j],
        }
    }
}

/// The moments of `width <= N` columns: column `j` of row `r` is `x[r * stride + j]`, for
/// `r < rows`.
///
/// # Safety
/// The CPU supports `V`'s instruction set.
#[inline(always)]
pub(crate) unsafe fn column_moments<V: Io<E> + Io<f32>, E: Element, const N: usize>(
    x: &[E],
    stride: usize,
    rows: usize,
    width: usize,
    out: &mut ColumnMoments<N>,
) {
    // Every vector's lanes fit in `out`, a partial one's included (see `merge_into`).
    const { assert!(N.is_multiple_of(MAX_LANES)) };
    let lanes = <V as Vector>::LANES;
    let mut first_row = 0;
    while first_row < rows {
        let chunk = Chunk {
            first_row,
            rows: CHUNK_ROWS.min(rows - first_row),
            stride,
        };
        // The merge weights, common to every lane.
        let (n_a, n_b) = (out.count, chunk.rows as f64);
        let n = n_a + n_b;
        let weights = (n_b / n, n_a * n_b / n);
        let mut j = 0;
        // SAFETY: our caller guarantees the instruction set (and so below).
        unsafe {
            while j + UNROLL * lanes <= width {
                welford::<V, E, UNROLL, false>(x, &chunk, j, lanes).merge_into(out, j, weights);
                j += UNROLL * lanes;
            }
            while j + lanes <= width {
                welford::<V, E, 1, false>(x, &chunk, j, lanes).merge_into(out, j, weights);
                j += lanes;
            }
            if j < width {
                let partial = welford::<V, E, 1, true>(x, &chunk, j, width - j);
                partial.merge_into(out, j, weights);
            }
        }
        out.count = n;
        first_row += chunk.rows;
    }
}

/// Rows `first_row..first_row + rows` of columns `stride` values apart.
struct Chunk {
    first_row: usize,
    rows: usize,
    stride: usize,
}

impl Chunk {
    /// Row `r` of the chunk from column `j` on.
    #[inline(always)]
    fn row<'x, E>(&self, x: &'x [E], r: usize, j: usize) -> &'x [E] {
        &x[(self.first_row + r) * self.stride + j..]
    }
}

/// One chunk's Welford state for `U` vectors of consecutive columns: the shift `K` and the
/// `m`, `M2` of `d = x - K`, each lane's own.
struct ChunkState<V, const U: usize> {
    shift: [V; U],
    mean: [V; U],
    m2: [V; U],
}

/// Welford's update over the chunk's rows for the `U` vectors of columns from `j` (or the
/// `lanes < LANES` columns from `j`, with `PARTIAL`; the other lanes hold zeros and are not
/// read).
///
/// # Safety
/// The CPU supports `V`'s instruction set.
#[inline(always)]
unsafe fn welford<V: Io<E> + Io<f32>, E: Element, const U: usize, const PARTIAL: bool>(
    x: &[E],
    chunk: &Chunk,
    j: usize,
    lanes: usize,
) -> ChunkState<V, U> {
    // SAFETY: our caller guarantees the instruction set; loads take bounds-checked slices.
    unsafe {
        let width = <V as Vector>::LANES;
        let zero = V::splat(0.0);
        let (mut shift, mut sum, mut m2) = ([zero; U], [zero; U], [zero; U]);
        let first = chunk.row(x, 0, j);
        for u in 0..U {
            shift[u] = load::<V, E, PARTIAL>(&first[u * width..], lanes);
        }
        // The first row's `d` is 0: the sum and `M2` stay 0. Then row `k` (counted from 1):
        // `delta = d - sum / (k - 1)`, `sum += d`, `M2 += delta * (d - sum / k)`, each
        // difference one FMA with `-1 / k`: two dependent chains of one operation each (the
        // sum, `M2`) rather than Welford's `m += (d - m) / k`, whose subtraction and FMA depend
        // on each other from row to row.
        let mut neg_inverse_before = V::splat(-1.0);
        for (r, &inverse) in INVERSES.iter().enumerate().take(chunk.rows).skip(1) {
            let neg_inverse = V::splat(-inverse);
            let row = chunk.row(x, r, j);
            for u in 0..U {
                let d = load::<V, E, PARTIAL>(&row[u * width..], lanes).sub(shift[u]);
                let delta = sum[u].mul_add(neg_inverse_before, d);
                sum[u] = sum[u].add(d);
                let to_mean = sum[u].mul_add(neg_inverse, d);
                m2[u] = delta.mul_add(to_mean, m2[u]);
            }
            neg_inverse_before = neg_inverse;
        }
        let inverse_count = V::splat(INVERSES[chunk.rows - 1]);
        let mut mean = [zero; U];
        for u in 0..U {
            mean[u] = sum[u].mul_add(inverse_count, zero);
        }
        ChunkState { shift, mean, m2 }
    }
}

/// `src[..LANES]`, or its first `lanes` values with `PARTIAL`.
///
/// # Safety
/// The CPU supports `V`'s instruction set.
#[inline(always)]
unsafe fn load<V: Io<E>, E: Element, const PARTIAL: bool>(src: &[E], lanes: usize) -> V {
    // SAFETY: our caller guarantees the instruction set; the loads take bounds-checked slices.
    unsafe {
        if PARTIAL {
            V::load_partial(&src[..lanes])
        } else {
            V::load(src)
        }
    }
}

impl<V: Io<f32>, const U: usize> ChunkState<V, U> {
    /// Merges the chunk's moments into columns `j..` of `out` with Chan's formula, whose
    /// weights `(n_b / n, n_a * n_b / n)` every lane shares:
    /// `mean += delta * n_b / n`, `m2 += m2_b + delta^2 * n_a * n_b / n`.
    ///
    /// # Safety
    /// The CPU supports `V`'s instruction set.
    #[inline(always)]
    unsafe fn merge_into<const N: usize>(
        &self,
        out: &mut ColumnMoments<N>,
        j: usize,
        (mean_weight, m2_weight): (f64, f64),
    ) {
        let width = <V as Vector>::LANES;
        for u in 0..U {
            let (mut shift, mut mean, mut m2) =
                ([0.0; MAX_LANES], [0.0; MAX_LANES], [0.0; MAX_LANES]);
            // SAFETY: our caller guarantees the instruction set; the arrays hold `MAX_LANES`
            // values, at least `LANES`.
            unsafe {
                self.shift[u].store(&mut shift);
                self.mean[u].store(&mut mean);
                self.m2[u].store(&mut m2);
            }
            // Every lane, those past a partial vector's columns included (they hold zeros and
            // land in columns past the tile's, which are not read): a loop of constant length,
            // which the compiler turns into vector instructions. `j + LANES <= N` as `N` is a
            // multiple of `LANES` and `j` of `LANES`, below `N`.
            let first = j + u * width;
            let out_mean = &mut out.mean[first..first + width];
            let out_m2 = &mut out.m2[first..first + width];
            for lane in 0..width {
                let chunk_mean = f64::from(shift[lane]) + f64::from(mean[lane]);
                let delta = chunk_mean - out_mean[lane];
                out_mean[lane] += delta * mean_weight;
                out_m2[lane] += f64::from(m2[lane]) + delta * delta * m2_weight;
            }
        }
    }
}
