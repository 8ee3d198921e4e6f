//! `group_norm_with_options`: the options' defaults are `group_norm`'s, the layout option is
//! `group_norm_with_layout`'s, and SiLU is `z / (1 + exp(-z))` of exactly the value the plain
//! GroupNorm gives, in both layouts, with the statistics unchanged; non-finite `z` go through
//! IEEE arithmetic as in PyTorch's float64 `F.silu` (`silu(+inf) = +inf`, `silu(-inf) = NaN`,
//! `silu(NaN) = NaN`); invalid arguments give the same errors whatever the options.

use groupnorm_reference::{
    group_norm, group_norm_with_layout, group_norm_with_options, Activation, GroupNormError,
    GroupNormOutput, Layout, Options,
};

/// SplitMix64: deterministic data without a dependency.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[-1, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }

    fn values(&mut self, len: usize, scale: f64, offset: f64) -> Vec<f64> {
        (0..len).map(|_| offset + scale * self.unit()).collect()
    }
}

/// Bit-for-bit equality, NaN included (any NaN equals any NaN).
fn same(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.to_bits() == y.to_bits() || x.is_nan() && y.is_nan())
}

fn assert_same(got: &GroupNormOutput, want: &GroupNormOutput, what: &str) {
    assert!(same(&got.y, &want.y), "{what}: y differs");
    assert!(same(&got.mean, &want.mean), "{what}: mean differs");
    assert!(same(&got.rstd, &want.rstd), "{what}: rstd differs");
}

/// Shapes with `G`: 1-D to 3-D spatial, `(N, C)`, one channel per group, one group.
const SHAPES: [(&[usize], usize); 6] = [
    (&[2, 4, 3, 3], 2),
    (&[1, 6, 5], 3),
    (&[3, 8], 4),
    (&[2, 9, 2, 2, 2], 3),
    (&[1, 5, 7], 5),
    (&[2, 64, 2, 2], 32),
];

/// `(weight, bias)` for `c` channels: each of none, weight only, bias only and both.
fn parameters(rng: &mut Rng, c: usize, which: usize) -> (Option<Vec<f64>>, Option<Vec<f64>>) {
    let w = (which & 1 == 1).then(|| rng.values(c, 20.0, 1.0));
    let b = (which & 2 == 2).then(|| rng.values(c, 3.0, 0.0));
    (w, b)
}

fn silu(z: f64) -> f64 {
    z / (1.0 + (-z).exp())
}

#[test]
fn default_options_are_group_norm() {
    let options = Options::default();
    assert_eq!(options.layout, Layout::Contiguous);
    assert_eq!(options.activation, Activation::None);
    assert_eq!(Activation::default(), Activation::None);
    let mut rng = Rng(1);
    for (shape, g) in SHAPES {
        let len: usize = shape.iter().product();
        for which in 0..4 {
            let x = rng.values(len, 4.0, 2.5);
            let (w, b) = parameters(&mut rng, shape[1], which);
            let plain = group_norm(&x, shape, g, w.as_deref(), b.as_deref(), 1e-5).unwrap();
            let with =
                group_norm_with_options(&x, shape, g, w.as_deref(), b.as_deref(), 1e-5, options)
                    .unwrap();
            assert_same(&with, &plain, &format!("{shape:?}"));
        }
    }
}

#[test]
fn the_layout_option_is_group_norm_with_layout() {
    let mut rng = Rng(2);
    for (shape, g) in SHAPES {
        let len: usize = shape.iter().product();
        for layout in [Layout::Contiguous, Layout::ChannelsLast] {
            let x = rng.values(len, 1.0, -0.5);
            let (w, b) = parameters(&mut rng, shape[1], 3);
            let (w, b) = (w.as_deref(), b.as_deref());
            let want = group_norm_with_layout(&x, shape, g, w, b, 1e-5, layout).unwrap();
            let options = Options::default().with_layout(layout);
            let got = group_norm_with_options(&x, shape, g, w, b, 1e-5, options).unwrap();
            assert_same(&got, &want, &format!("{shape:?} {layout:?}"));
        }
    }
}

/// SiLU is applied last, to exactly the plain output, in both layouts, and leaves `mean` and
/// `rstd` alone; weights up to 20 make `z` reach about ±40.
#[test]
fn silu_is_applied_to_the_plain_output() {
    let mut rng = Rng(3);
    for (shape, g) in SHAPES {
        let len: usize = shape.iter().product();
        for layout in [Layout::Contiguous, Layout::ChannelsLast] {
            for which in 0..4 {
                let x = rng.values(len, 3.0, 10.0);
                let (w, b) = parameters(&mut rng, shape[1], which);
                let (w, b) = (w.as_deref(), b.as_deref());
                let plain = group_norm_with_layout(&x, shape, g, w, b, 1e-5, layout).unwrap();
                let options = Options::default()
                    .with_layout(layout)
                    .with_activation(Activation::Silu);
                let out = group_norm_with_options(&x, shape, g, w, b, 1e-5, options).unwrap();
                let want = GroupNormOutput {
                    y: plain.y.iter().map(|&z| silu(z)).collect(),
                    ..plain.clone()
                };
                assert_same(&out, &want, &format!("{shape:?} {layout:?} {which}"));
            }
        }
    }
}

/// `silu` itself: exact points, symmetry `silu(z) - silu(-z) = z`, the tails, and the
/// non-finite values, as PyTorch's float64 `F.silu` gives them (torch 2.15: `silu(inf) = inf`,
/// `silu(-inf) = nan`, `silu(nan) = nan`, `silu(-800) = -0.0`, `silu(1e308) = 1e308`,
/// `silu(-50) = -9.64374923981959e-21`).
#[test]
fn silu_values() {
    let s = |z: f64| Activation::Silu.apply(z);
    assert_eq!(s(0.0).to_bits(), 0.0f64.to_bits());
    assert_eq!(s(-0.0).to_bits(), (-0.0f64).to_bits());
    assert_eq!(s(f64::INFINITY), f64::INFINITY);
    assert!(s(f64::NEG_INFINITY).is_nan());
    assert!(s(f64::NAN).is_nan());
    // exp(800) overflows: -800 / inf is -0.0.
    assert_eq!(s(-800.0).to_bits(), (-0.0f64).to_bits());
    assert_eq!(s(1e308), 1e308);
    assert_eq!(s(50.0), 50.0);
    assert_eq!(s(-50.0), -9.64374923981959e-21);
    assert_eq!(s(1.0), 1.0 / (1.0 + (-1.0f64).exp()));
    let mut rng = Rng(4);
    for _ in 0..1000 {
        let z = 30.0 * rng.unit();
        // z * sigmoid(z) - (-z) * sigmoid(-z) = z (sigmoid(z) + sigmoid(-z)) = z.
        let d = s(z) - s(-z);
        assert!(
            (d - z).abs() <= 4.0 * f64::EPSILON * z.abs().max(1.0),
            "{z}"
        );
        // Below zero silu is in [-0.2785, 0] (its minimum is -0.27846, at z = -1.2785); above
        // zero in [z / 2, z] (sigmoid is in [1/2, 1)).
        if z < 0.0 {
            assert!((-0.2785..=0.0).contains(&s(z)), "{z}");
        } else {
            assert!((0.5 * z..=z).contains(&s(z)), "{z}");
        }
    }
    assert_eq!(Activation::None.apply(f64::NEG_INFINITY), f64::NEG_INFINITY);
}

/// Non-finite `z` in a group: a NaN input makes the whole group NaN; an infinite rstd
/// (`var + eps == 0`) without affine gives `z = ±inf`, so `y = +inf` where `x > mean`, NaN where
/// `x < mean` (`silu(-inf)`), and NaN where `x == mean`; an infinite weight gives infinite or
/// NaN `z` by the signs; the other groups stay finite.
#[test]
fn silu_of_non_finite_values() {
    let silu_options = Options::default().with_activation(Activation::Silu);
    // Group 0 holds a NaN, group 1 an infinity, group 2 is finite.
    let mut x: Vec<f64> = (0..12).map(|i| f64::from(i) * 0.25).collect();
    x[1] = f64::NAN;
    x[6] = f64::INFINITY;
    let out = group_norm_with_options(&x, &[1, 3, 4], 3, None, None, 1e-5, silu_options).unwrap();
    assert!(out.y[..8].iter().all(|y| y.is_nan()), "{:?}", out.y);
    assert!(out.y[8..].iter().all(|y| y.is_finite()), "{:?}", out.y);
    assert!(out.mean[0].is_nan() && out.mean[1] == f64::INFINITY && out.mean[2].is_finite());

    // x = [1, -1, 1, -1], eps -1: var + eps == 0, rstd inf, z = (x - mean) * rstd = ±inf.
    let x = [1.0, -1.0, 1.0, -1.0];
    let out = group_norm_with_options(&x, &[1, 1, 4], 1, None, None, -1.0, silu_options).unwrap();
    assert_eq!(out.rstd, [f64::INFINITY]);
    assert_eq!(out.y[0], f64::INFINITY);
    assert!(out.y[1].is_nan() && out.y[3].is_nan());
    assert_eq!(out.y[2], f64::INFINITY);
    let plain = group_norm(&x, &[1, 1, 4], 1, None, None, -1.0).unwrap();
    assert_eq!(
        plain.y,
        [
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY
        ]
    );

    // An infinite weight on channel 0 and a NaN weight on channel 1: z = x * inf + (b - mean * inf).
    let x = [3.0, -2.0, 0.5, 1.5, 2.0, -1.0];
    let w = [f64::INFINITY, f64::NAN, 1.0];
    let b = [0.0, 0.0, 0.0];
    let out =
        group_norm_with_options(&x, &[1, 3, 2], 3, Some(&w), Some(&b), 1e-5, silu_options).unwrap();
    let plain = group_norm(&x, &[1, 3, 2], 3, Some(&w), Some(&b), 1e-5).unwrap();
    assert!(plain.y[..4].iter().all(|z| !z.is_finite()), "{:?}", plain.y);
    for (y, z) in out.y.iter().zip(&plain.y) {
        assert!(y.to_bits() == silu(*z).to_bits() || y.is_nan() && silu(*z).is_nan());
    }
    assert!(out.y[4..].iter().all(|y| y.is_finite()));
    // One of channel 0's two values has z = +inf, the other z = -inf (NaN after SiLU), or
    // NaN where inf - inf cancels.
    assert!(out.y[..2].iter().all(|y| y.is_nan() || *y == f64::INFINITY));
    assert!(out.y[2..4].iter().all(|y| y.is_nan()));
}

/// Large `|z|` (weight 50): SiLU is `z` itself above about 37 (`exp(-z)` below half an ulp of
/// 1) and a tiny negative value below zero, never a NaN for finite `z`.
#[test]
fn silu_of_large_z() {
    let mut rng = Rng(5);
    let x = rng.values(64, 1.0, 1e3);
    let w = [50.0, -50.0];
    let options = Options::default().with_activation(Activation::Silu);
    let out = group_norm_with_options(&x, &[1, 2, 32], 1, Some(&w), None, 1e-5, options).unwrap();
    let plain = group_norm(&x, &[1, 2, 32], 1, Some(&w), None, 1e-5).unwrap();
    assert!(plain.y.iter().any(|&z| z > 40.0) && plain.y.iter().any(|&z| z < -40.0));
    for (&y, &z) in out.y.iter().zip(&plain.y) {
        assert!(y.is_finite(), "{z}");
        if z > 37.0 {
            assert_eq!(y, z);
        } else if z < 0.0 {
            assert!(y <= 0.0 && y > -0.2785, "{z} -> {y}");
        }
    }
}

/// A shape, `G`, a weight, and the error they give.
type ErrorCase<'a> = (&'a [usize], usize, Option<&'a [f64]>, GroupNormError);

/// The arguments are checked before anything is computed, whatever the options.
#[test]
fn errors_do_not_depend_on_the_options() {
    let x = [1.0; 12];
    let silu = Options::default()
        .with_activation(Activation::Silu)
        .with_layout(Layout::ChannelsLast);
    let cases: [ErrorCase<'_>; 4] = [
        (&[12], 1, None, GroupNormError::TooFewDimensions { dims: 1 }),
        (&[1, 12], 0, None, GroupNormError::ZeroGroups),
        (
            &[1, 12],
            5,
            None,
            GroupNormError::ChannelsNotDivisible {
                channels: 12,
                num_groups: 5,
            },
        ),
        (
            &[1, 12],
            3,
            Some(&[1.0; 3]),
            GroupNormError::WeightLength {
                channels: 12,
                len: 3,
            },
        ),
    ];
    for (shape, g, w, want) in cases {
        for options in [Options::default(), silu] {
            let got = group_norm_with_options(&x, shape, g, w, None, 1e-5, options);
            assert_eq!(got, Err(want.clone()), "{shape:?} {options:?}");
        }
        assert_eq!(group_norm(&x, shape, g, w, None, 1e-5), Err(want));
    }
}

/// The builder methods change one field each and keep the others.
#[test]
fn options_builders_keep_the_other_fields() {
    let a = Options::default().with_activation(Activation::Silu);
    let b = a.with_layout(Layout::ChannelsLast);
    assert_eq!(
        (b.layout, b.activation),
        (Layout::ChannelsLast, Activation::Silu)
    );
    let c = b.with_activation(Activation::None);
    assert_eq!(
        (c.layout, c.activation),
        (Layout::ChannelsLast, Activation::None)
    );
    assert_eq!(c.with_layout(Layout::Contiguous), Options::default());
    assert!(format!("{b:?}").contains("Silu"));
}
