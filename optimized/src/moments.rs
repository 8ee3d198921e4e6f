//! Count, mean and sum of squared deviations (`m2`) of a set of values, merged with Chan's
//! parallel formula. Kept in `f64`: merges happen once per block of thousands of values, so the
//! extra width costs nothing measurable and keeps the merges from adding error of their own.

/// Statistics of a set of `count` values: their mean and `m2 = sum (v - mean)^2`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Moments {
    pub count: f64,
    pub mean: f64,
    pub m2: f64,
}

impl Moments {
    pub const EMPTY: Moments = Moments {
        count: 0.0,
        mean: 0.0,
        m2: 0.0,
    };

    /// Chan et al.'s merge of two disjoint sets:
    /// `mean = mean_a + delta * n_b / n`, `m2 = m2_a + m2_b + delta^2 * n_a * n_b / n`,
    /// with `delta = mean_b - mean_a` and `n = n_a + n_b`.
    #[inline]
    pub fn merge(self, other: Moments) -> Moments {
        if other.count == 0.0 {
            return self;
        }
        if self.count == 0.0 {
            return other;
        }
        let count = self.count + other.count;
        let delta = other.mean - self.mean;
        Moments {
            count,
            mean: self.mean + delta * (other.count / count),
            m2: self.m2 + other.m2 + delta * delta * (self.count * other.count / count),
        }
    }

    /// The moments of `values` (not empty) in one pass in `f64` about the first value `x0`, as
    /// `statistics` takes a short tail: `d = x - x0` and `d^2` are within an `f64` rounding of
    /// exact, and by Samuelson's inequality the cancellation in `m2 = sum d^2 - (sum d)^2 / n`
    /// amplifies the sums' rounding at most `n` times, far below the `f32` result's precision
    /// for the short groups this is for.
    pub fn of_values(values: impl Iterator<Item = f32>) -> Moments {
        let mut values = values.map(f64::from).peekable();
        let Some(&x0) = values.peek() else {
            return Moments::EMPTY;
        };
        let (mut count, mut sum, mut squares) = (0.0, 0.0, 0.0);
        for v in values {
            let d = v - x0;
            count += 1.0;
            sum += d;
            squares += d * d;
        }
        let mean = sum / count;
        Moments {
            count,
            mean: x0 + mean,
            m2: (squares - sum * mean).max(0.0),
        }
    }

    /// The biased variance, `m2 / count`. Groups are never empty: a zero dimension is rejected.
    #[inline]
    pub fn variance(self) -> f64 {
        self.m2 / self.count
    }
}

/// `sqrt` for `f64`: the hardware instruction through `std`, else `sqrt_newton`.
#[inline]
pub(crate) fn sqrt(v: f64) -> f64 {
    #[cfg(feature = "std")]
    return v.sqrt();
    #[cfg(not(feature = "std"))]
    return sqrt_newton(v);
}

/// `sqrt` for `f64` without `std` (core has none): Newton's iteration from an estimate taken off
/// the exponent bits. It converges to within one ulp of the correctly rounded root, far below
/// the `f32` rounding that follows it.
#[cfg(any(test, not(feature = "std")))]
fn sqrt_newton(v: f64) -> f64 {
    if v.is_nan() || v < 0.0 {
        return f64::NAN;
    }
    if v == 0.0 || v == f64::INFINITY {
        return v;
    }
    if v < f64::MIN_POSITIVE {
        // Subnormal: scale into the normal range by an even power of two (2^104), then back.
        let (up, down) = (
            f64::from_bits(0x4670_0000_0000_0000),
            f64::from_bits(0x3CB0_0000_0000_0000),
        );
        return sqrt_newton(v * up) * down;
    }
    // Halving the biased exponent gives a first guess within a few percent.
    let mut root = f64::from_bits((v.to_bits() >> 1) + 0x1FF8_0000_0000_0000);
    for _ in 0..6 {
        root = 0.5 * (root + v / root);
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newton_sqrt_matches_std_within_one_ulp() {
        let mut v = 1e-320_f64;
        while v < 1e300 {
            for x in [v, v * 1.37, v * 2.9, v * 7.7] {
                let ours = sqrt_newton(x);
                let std = x.sqrt();
                let ulps = (ours.to_bits() as i64 - std.to_bits() as i64).abs();
                assert!(ulps <= 1, "sqrt({x}) = {ours}, std gives {std}");
            }
            v *= 10.0;
        }
        assert!(sqrt_newton(-1.0).is_nan());
        assert!(sqrt_newton(f64::NAN).is_nan());
        assert_eq!(sqrt_newton(0.0), 0.0);
        assert_eq!(sqrt_newton(f64::INFINITY), f64::INFINITY);
    }

    #[test]
    fn merge_equals_moments_of_the_union() {
        // {1, 2, 4}: mean 7/3, m2 = 14/3; {10, -3}: mean 3.5, m2 = 84.5; union: mean 2.8, m2 = 90.8.
        let a = Moments {
            count: 3.0,
            mean: 7.0 / 3.0,
            m2: 14.0 / 3.0,
        };
        let b = Moments {
            count: 2.0,
            mean: 3.5,
            m2: 84.5,
        };
        let merged = a.merge(b);
        assert_eq!(merged.count, 5.0);
        assert!((merged.mean - 2.8).abs() < 1e-12);
        assert!((merged.m2 - 90.8).abs() < 1e-12);
        assert_eq!(Moments::EMPTY.merge(a), a);
        assert_eq!(a.merge(Moments::EMPTY), a);
    }
}
