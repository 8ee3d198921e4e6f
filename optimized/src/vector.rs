//! The two traits each instruction-set file implements with `core::arch` intrinsics, and on
//! which the statistics pass (`statistics`) and the output pass (`output`) are written once:
//!
//! * [`Vector`], the arithmetic: `LANES` values in `f32` lanes, whatever the element type;
//! * [`Io`], memory: loads and stores of one element type (`f32`, `F16`, `Bf16`), converted to
//!   and from the `f32` lanes on the way, with the accumulation unchanged.

use crate::element::Element;

/// A SIMD vector of `LANES` `f32` values, and its arithmetic.
///
/// # Safety
///
/// Every method may use instructions of the implementing type's instruction set: callers
/// guarantee that the CPU supports it (see `Kernel`, which can only be built when it does).
/// Implementations guarantee in turn that `LANES <= MAX_LANES`.
pub(crate) unsafe trait Vector: Copy {
    const LANES: usize;
    /// # Safety
    /// The CPU supports this type's instruction set.
    unsafe fn splat(value: f32) -> Self;
    /// # Safety
    /// The CPU supports this type's instruction set.
    unsafe fn sub(self, rhs: Self) -> Self;
    /// # Safety
    /// The CPU supports this type's instruction set.
    unsafe fn add(self, rhs: Self) -> Self;
    /// # Safety
    /// The CPU supports this type's instruction set.
    unsafe fn mul(self, rhs: Self) -> Self;
    /// # Safety
    /// The CPU supports this type's instruction set.
    unsafe fn div(self, rhs: Self) -> Self;
    /// The larger of each pair of lanes (either where one is NaN: only finite lanes take it).
    ///
    /// # Safety
    /// The CPU supports this type's instruction set.
    unsafe fn max(self, rhs: Self) -> Self;
    /// The smaller of each pair of lanes (as [`max`](Vector::max)).
    ///
    /// # Safety
    /// The CPU supports this type's instruction set.
    unsafe fn min(self, rhs: Self) -> Self;
    /// `2^n` for lanes holding integers `n` in `[-126, 127]`: the exponent field set directly.
    ///
    /// # Safety
    /// The CPU supports this type's instruction set.
    unsafe fn pow2(n: Self) -> Self;
    /// `self * factor + addend`, fused where the instruction set has FMA.
    ///
    /// # Safety
    /// The CPU supports this type's instruction set.
    unsafe fn mul_add(self, factor: Self, addend: Self) -> Self;
    /// Adds each lane, widened to `f64`, into `totals[lane]`.
    ///
    /// # Safety
    /// The CPU supports this type's instruction set.
    unsafe fn add_to_f64(self, totals: &mut [f64; MAX_LANES]);

    /// Orders the streaming stores made so far (see [`Io::store_streaming`]) before every
    /// later store, so that the thread that next reads the output (after a synchronization)
    /// sees it. Nothing to do where streaming stores are plain stores.
    ///
    /// # Safety
    /// The CPU supports this type's instruction set.
    #[inline(always)]
    unsafe fn end_streaming() {}
}

/// Loads and stores of `E` values into and out of the `f32` lanes of a [`Vector`].
///
/// # Safety
///
/// Every method may use instructions of the implementing type's instruction set: callers
/// guarantee that the CPU supports it. Implementations guarantee in turn what the generic code
/// relies on for memory safety: every method reads and writes only within the slices it is
/// given (`load` and `store` panic where a slice is shorter than `LANES`; `load_next_row` reads
/// within the `body` given to `start_rows`).
pub(crate) unsafe trait Io<E: Element>: Vector {
    /// Loads `src[..LANES]`; panics if `src` is shorter.
    ///
    /// # Safety
    /// The CPU supports this type's instruction set.
    unsafe fn load(src: &[E]) -> Self;
    /// Stores into `dst[..LANES]`, rounded to `E`; panics if `dst` is shorter.
    ///
    /// # Safety
    /// The CPU supports this type's instruction set.
    unsafe fn store(self, dst: &mut [E]);

    /// Loads the `src.len() < LANES` values of `src` into the first lanes; the other lanes are
    /// zero. Only for element-wise work: a reduction must not see the padding.
    ///
    /// # Safety
    /// The CPU supports this type's instruction set.
    #[inline(always)]
    unsafe fn load_partial(src: &[E]) -> Self {
        let mut lanes = [E::ZERO; MAX_LANES];
        lanes[..src.len()].copy_from_slice(src);
        // SAFETY: our caller guarantees the instruction set; `lanes` holds `MAX_LANES` values.
        unsafe { Self::load(&lanes) }
    }

    /// Stores the first `dst.len() < LANES` lanes into `dst`.
    ///
    /// # Safety
    /// The CPU supports this type's instruction set.
    #[inline(always)]
    unsafe fn store_partial(self, dst: &mut [E]) {
        let mut lanes = [E::ZERO; MAX_LANES];
        // SAFETY: our caller guarantees the instruction set; `lanes` holds `MAX_LANES` values.
        unsafe { self.store(&mut lanes) };
        dst.copy_from_slice(&lanes[..dst.len()]);
    }

    /// Stores into `dst[..LANES]` around the caches, where the instruction set can (x86
    /// non-temporal stores): for outputs too large to stay in cache, whose lines a plain store
    /// would first read from memory. A plain store here. [`Vector::end_streaming`] must follow
    /// before the values are read.
    ///
    /// # Safety
    /// The CPU supports this type's instruction set, and `dst` starts on a multiple of
    /// `LANES * size_of::<E>()` bytes.
    #[inline(always)]
    unsafe fn store_streaming(self, dst: &mut [E]) {
        // SAFETY: our caller guarantees the instruction set.
        unsafe { self.store(dst) }
    }

    /// `(sum d, sum d^2)` in `f64`, with `d = x - x0`, over `values` (fewer than `SHORT_LEN` of
    /// `statistics`), where `x0` is `values[0]`. Portable here, in partial sums the compiler
    /// may vectorize; an instruction set with `f64` lanes does it in those.
    ///
    /// # Safety
    /// The CPU supports this type's instruction set.
    #[inline(always)]
    unsafe fn deviation_sums(values: &[E], x0: f32) -> (f64, f64) {
        let x0 = f64::from(x0);
        let (mut sum, mut squares) = ([0.0f64; 8], [0.0f64; 8]);
        let (rows, rest) = values.as_chunks::<8>();
        for row in rows {
            for i in 0..8 {
                let d = f64::from(row[i].to_f32()) - x0;
                sum[i] += d;
                squares[i] += d * d;
            }
        }
        for (i, &v) in rest.iter().enumerate() {
            let d = f64::from(v.to_f32()) - x0;
            sum[i] += d;
            squares[i] += d * d;
        }
        (sum.iter().sum(), squares.iter().sum())
    }

    /// What [`Io::load_next_row`] carries from one row to the next.
    type Rows;

    /// Starts reading `body` (whole rows of `UNROLL` vectors) row by row.
    ///
    /// # Safety
    /// The CPU supports this type's instruction set.
    unsafe fn start_rows(body: &[E]) -> Self::Rows;

    /// The `UNROLL` vectors of `row`: the row of the `body` given to `start_rows` after those
    /// already read, and not its last row (which [`load_row`] reads). The same values as
    /// `load_row`; an instruction set may read them differently, from what it carries in
    /// `rows` (AVX-512 reads whole 64-byte lines).
    ///
    /// # Safety
    /// The CPU supports this type's instruction set, and `row` is as said.
    #[inline(always)]
    unsafe fn load_next_row(rows: &mut Self::Rows, row: &[E]) -> [Self; UNROLL] {
        let _ = rows;
        // SAFETY: our caller guarantees the instruction set.
        unsafe { load_row(row) }
    }
}

/// The `UNROLL` vectors of `row`, each loaded where it lies.
///
/// # Safety
/// The CPU supports `V`'s instruction set.
#[inline(always)]
pub(crate) unsafe fn load_row<V: Io<E>, E: Element>(row: &[E]) -> [V; UNROLL] {
    // SAFETY: our caller guarantees the instruction set; `load` takes a bounds-checked slice.
    unsafe {
        let mut vectors = [V::splat(0.0); UNROLL];
        for (j, v) in vectors.iter_mut().enumerate() {
            *v = V::load(&row[j * V::LANES..]);
        }
        vectors
    }
}

/// Independent accumulators per row: enough to cover the latency of the dependent additions.
pub(crate) const UNROLL: usize = 4;
/// The widest vector has 16 lanes.
pub(crate) const MAX_LANES: usize = 16;
