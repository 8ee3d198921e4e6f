//! The element types of input and output. Whatever the element type, the arithmetic is in
//! `f32` and `f64`: an element widens exactly to `f32` on the way in, and the output rounds
//! once to the element type on the way out. `f32` is the only one today; f16 and bf16 would
//! each be one more implementation here, and one `Io` implementation per instruction set.

/// A value of input or output.
pub(crate) trait Element: Copy {
    /// Zero, for padding lanes past the end of a slice.
    const ZERO: Self;
    /// The value as an `f32`, exactly.
    fn to_f32(self) -> f32;
    /// `value` rounded once to this type.
    fn from_f64(value: f64) -> Self;
}

impl Element for f32 {
    const ZERO: f32 = 0.0;
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
    #[inline(always)]
    fn from_f64(value: f64) -> f32 {
        value as f32
    }
}
