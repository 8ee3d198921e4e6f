//! The output pass: one subtraction and two FMAs per value, over one span of values that share
//! their coefficients (a channel, or a whole group without affine parameters).
//!
//! Per channel, `scale = gamma * rstd` and `offset = beta - (mean - S) * scale`, and
//! `y = (x - S) * scale + offset`. The output shift `S` is `f32(mean)` when the mean is larger
//! than the spread, so that no `f32` quantity near a large mean enters the output (`x - S` is
//! exact for `x` near `S`), and 0 otherwise. `scale` is carried as two `f32` values, so the
//! output is rounded about once. The pass is bound by memory, not arithmetic. When input and
//! output together exceed `CACHE_RESIDENT_BYTES`, the output is written with streaming stores
//! (non-temporal on x86), which do not first read each line from memory (the workspace
//! README's performance section says what that saves). The values are the same bits either way.
//!
//! Each value passes through an [`Epilogue`] before it is stored: the identity, or SiLU fused
//! into the pass, before the one rounding to the output type.

use crate::element::Element;
use crate::exp;
use crate::vector::{Io, Vector, UNROLL};

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
        // SAFETY: our caller guarantees the instruction set.
        unsafe {
            Affine {
                shift: V::splat(self.shift),
                scale_hi: V::splat(self.scale_hi),
                scale_lo: V::splat(self.scale_lo),
                offset: V::splat(self.offset),
            }
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
        // SAFETY: our caller guarantees the instruction set.
        unsafe {
            let d = x.sub(self.shift);
            d.mul_add(self.scale_hi, d.mul_add(self.scale_lo, self.offset))
        }
    }
}

/// The coefficients of up to `N` consecutive channels, one [`Affine`] each, as four arrays so
/// that the coefficients of `LANES` channels load as vectors: for channels-last rows, where
/// every value of a row has a channel of its own.
pub(crate) struct AffineRow<const N: usize> {
    shift: [f32; N],
    scale_hi: [f32; N],
    scale_lo: [f32; N],
    offset: [f32; N],
}

impl<const N: usize> AffineRow<N> {
    /// Every coefficient 0 (`y = 0`).
    pub const ZERO: AffineRow<N> = AffineRow {
        shift: [0.0; N],
        scale_hi: [0.0; N],
        scale_lo: [0.0; N],
        offset: [0.0; N],
    };

    /// Sets the coefficients of the `i`-th channel.
    #[inline(always)]
    pub fn set(&mut self, i: usize, affine: Affine) {
        self.shift[i] = affine.shift;
        self.scale_hi[i] = affine.scale_hi;
        self.scale_lo[i] = affine.scale_lo;
        self.offset[i] = affine.offset;
    }

    /// The coefficients of the `lanes < LANES` channels from `i` as vectors, the other lanes 0.
    ///
    /// # Safety
    /// The CPU supports `V`'s instruction set.
    #[inline(always)]
    unsafe fn load_partial<V: Io<f32>>(&self, i: usize, lanes: usize) -> Affine<V> {
        // SAFETY: our caller guarantees the instruction set; the loads take bounds-checked
        // slices.
        unsafe {
            Affine {
                shift: V::load_partial(&self.shift[i..i + lanes]),
                scale_hi: V::load_partial(&self.scale_hi[i..i + lanes]),
                scale_lo: V::load_partial(&self.scale_lo[i..i + lanes]),
                offset: V::load_partial(&self.offset[i..i + lanes]),
            }
        }
    }
}

/// Writes `y = epilogue(affine_j(x))` over one row of `x.len() <= N` consecutive channels:
/// `x[j]` with the coefficients of channel `j` in `coefficients`; whole vectors, then a partial
/// one, with plain stores. The row, its output and the coefficients are walked in step, in
/// chunks of `LANES`, so that no index needs a bounds check of its own.
///
/// # Safety
/// The CPU supports `V`'s instruction set.
#[inline(always)]
pub(crate) unsafe fn write_row<V: Io<E> + Io<f32>, E: Element, P: Epilogue, const N: usize>(
    coefficients: &AffineRow<N>,
    epilogue: P,
    x: &[E],
    y: &mut [E],
) {
    // SAFETY: our caller guarantees the instruction set; every load and store takes a chunk of
    // exactly `LANES` values, or a partial slice.
    unsafe {
        let lanes = <V as Vector>::LANES;
        let whole = x.len() / lanes * lanes;
        let (x_body, x_tail) = x.split_at(whole);
        let (y_body, y_tail) = y.split_at_mut(whole);
        let c = coefficients;
        let shift_and_scale =
            (c.shift[..whole].chunks_exact(lanes)).zip(c.scale_hi[..whole].chunks_exact(lanes));
        let low_and_offset =
            (c.scale_lo[..whole].chunks_exact(lanes)).zip(c.offset[..whole].chunks_exact(lanes));
        let rows = x_body
            .chunks_exact(lanes)
            .zip(y_body.chunks_exact_mut(lanes));
        for ((xc, yc), ((shift, scale_hi), (scale_lo, offset))) in
            rows.zip(shift_and_scale.zip(low_and_offset))
        {
            let affine = Affine {
                shift: <V as Io<f32>>::load(shift),
                scale_hi: <V as Io<f32>>::load(scale_hi),
                scale_lo: <V as Io<f32>>::load(scale_lo),
                offset: <V as Io<f32>>::load(offset),
            };
            let v = output(&affine, epilogue, <V as Io<E>>::load(xc));
            <V as Io<E>>::store(v, yc);
        }
        if !x_tail.is_empty() {
            let affine = coefficients.load_partial::<V>(whole, x_tail.len());
            let v = output(&affine, epilogue, <V as Io<E>>::load_partial(x_tail));
            <V as Io<E>>::store_partial(v, y_tail);
        }
    }
}

/// What the output pass does to each normalized value before storing it, in vectors on the
/// `f32` path and in `f64` on the exact path.
pub(crate) trait Epilogue: Copy {
    /// # Safety
    /// The CPU supports `V`'s instruction set.
    // Inlined, as everything the passes call: a call of its own would be compiled without the
    // instruction set of the entry point, and would call every intrinsic (a tail of a SiLU
    // span took 16 times the plain call's time).
    #[inline(always)]
    unsafe fn apply<V: Vector>(self, v: V) -> V {
        // SAFETY: our caller guarantees the instruction set.
        unsafe { self.apply_row([v])[0] }
    }
    /// The epilogue of `N` vectors at once (a row of the output pass), so that their
    /// computations can run side by side.
    ///
    /// # Safety
    /// The CPU supports `V`'s instruction set.
    unsafe fn apply_row<V: Vector, const N: usize>(self, v: [V; N]) -> [V; N];
    fn apply_exact(self, v: f64) -> f64;
}

/// Stores the normalized values as they are.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Identity;

impl Epilogue for Identity {
    #[inline(always)]
    unsafe fn apply_row<V: Vector, const N: usize>(self, v: [V; N]) -> [V; N] {
        v
    }
    #[inline(always)]
    fn apply_exact(self, v: f64) -> f64 {
        v
    }
}

/// SiLU, `z * sigmoid(z) = z / (1 + exp(-z))`, in `f32` lanes on the vector path (see `exp`
/// for its accuracy) and in `f64` on the exact path.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Silu;

impl Epilogue for Silu {
    #[inline(always)]
    unsafe fn apply_row<V: Vector, const N: usize>(self, v: [V; N]) -> [V; N] {
        // SAFETY: our caller guarantees the instruction set.
        unsafe { exp::silu(v) }
    }
    #[inline(always)]
    fn apply_exact(self, v: f64) -> f64 {
        exp::silu_f64(v)
    }
}

/// Writes `y = epilogue(affine(x))` over one span: per value
/// `y = d * scale_hi + (d * scale_lo + offset)` with `d = x - shift`. The inner product is tiny
/// against the outer one, so the result carries about one rounding: that of the last FMA. With
/// `stream`, whole vectors are stored around the caches (see [`Io::store_streaming`]), and
/// [`end_streaming`] must follow the last span.
///
/// # Safety
/// The CPU supports `V`'s instruction set.
#[inline(always)]
pub(crate) unsafe fn write_span<V: Io<E>, E: Element, P: Epilogue>(
    affine: Affine,
    epilogue: P,
    x: &[E],
    y: &mut [E],
    stream: bool,
) {
    // SAFETY: our caller guarantees the instruction set; the streamed part of `y` starts on a
    // multiple of `LANES * size_of::<E>()` bytes, as `write_rows::<.., true>` requires.
    unsafe {
        let affine = affine.splat::<V>();
        if stream {
            // Values before the first vector-aligned one in `y` go one by one, as a tail does;
            // the result is the same wherever the vectors start.
            let head = y
                .as_ptr()
                .align_offset(V::LANES * size_of::<E>())
                .min(y.len());
            let (x_head, x) = x.split_at(head);
            let (y_head, y) = y.split_at_mut(head);
            write_rows::<V, E, P, false>(&affine, epilogue, x_head, y_head);
            write_rows::<V, E, P, true>(&affine, epilogue, x, y);
        } else {
            write_rows::<V, E, P, false>(&affine, epilogue, x, y);
        }
    }
}

/// After the spans written with `stream`: orders their streaming stores before every later
/// store (see [`Vector::end_streaming`]).
///
/// # Safety
/// The CPU supports `V`'s instruction set.
#[inline(always)]
pub(crate) unsafe fn end_streaming<V: Vector>(stream: bool) {
    if stream {
        // SAFETY: our caller guarantees the instruction set.
        unsafe { V::end_streaming() }
    }
}

/// `y = epilogue(affine(x))` over one span: rows of `UNROLL` vectors, then single vectors,
/// then a partial one. `STREAM` stores with [`Io::store_streaming`]; `y` then starts on a
/// multiple of `LANES * size_of::<E>()` bytes.
///
/// # Safety
/// The CPU supports `V`'s instruction set, and with `STREAM`, `y` is aligned as said.
#[inline(always)]
unsafe fn write_rows<V: Io<E>, E: Element, P: Epilogue, const STREAM: bool>(
    affine: &Affine<V>,
    epilogue: P,
    x: &[E],
    y: &mut [E],
) {
    // SAFETY: our caller guarantees the instruction set, and the alignment `store` needs;
    // loads and stores take bounds-checked slices.
    unsafe {
        let mut x_rows = x.chunks_exact(UNROLL * V::LANES);
        let mut y_rows = y.chunks_exact_mut(UNROLL * V::LANES);
        for (xr, yr) in (&mut x_rows).zip(&mut y_rows) {
            let mut z = [V::splat(0.0); UNROLL];
            for (j, z) in z.iter_mut().enumerate() {
                *z = affine.apply(V::load(&xr[j * V::LANES..]));
            }
            for (j, v) in epilogue.apply_row(z).into_iter().enumerate() {
                store::<V, E, STREAM>(v, &mut yr[j * V::LANES..]);
            }
        }
        let mut x_chunks = x_rows.remainder().chunks_exact(V::LANES);
        let mut y_chunks = y_rows.into_remainder().chunks_exact_mut(V::LANES);
        for (xc, yc) in (&mut x_chunks).zip(&mut y_chunks) {
            store::<V, E, STREAM>(output(affine, epilogue, V::load(xc)), yc);
        }
        let (x_tail, y_tail) = (x_chunks.remainder(), y_chunks.into_remainder());
        if !x_tail.is_empty() {
            output(affine, epilogue, V::load_partial(x_tail)).store_partial(y_tail);
        }
    }
}

/// `epilogue(affine(x))`. A function, not a closure: a closure would not be compiled with the
/// instruction set of the entry point that inlines this pass, and would call every intrinsic.
///
/// # Safety
/// The CPU supports `V`'s instruction set.
#[inline(always)]
unsafe fn output<V: Vector, P: Epilogue>(affine: &Affine<V>, epilogue: P, x: V) -> V {
    // SAFETY: our caller guarantees the instruction set.
    unsafe { epilogue.apply(affine.apply(x)) }
}

/// A whole vector's store: streaming with `STREAM`.
///
/// # Safety
/// The CPU supports `V`'s instruction set, and with `STREAM`, `dst` starts on a multiple of
/// `LANES * size_of::<E>()` bytes.
#[inline(always)]
unsafe fn store<V: Io<E>, E: Element, const STREAM: bool>(v: V, dst: &mut [E]) {
    // SAFETY: our caller guarantees the instruction set and, when streaming, the alignment.
    unsafe {
        if STREAM {
            v.store_streaming(dst)
        } else {
            v.store(dst)
        }
    }
}
