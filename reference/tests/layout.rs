//! Channels-last is the contiguous GroupNorm read and written in another order, nothing more:
//! `group_norm_with_layout(x_cl, .., ChannelsLast)` must equal, bit for bit, the contiguous
//! output of the same tensor transposed back (`y` in channels-last order, `mean` and `rstd`
//! unchanged), over 1-D, 2-D, 3-D and 4-D spatial shapes, `(N, C)`, `C/G` of 1, 3, 5 and 40,
//! `N > 1`, with and without weight and bias, and with NaN and infinite inputs and parameters.
//!
//! Bit for bit holds because the arithmetic is one loop body and nalgebra's `mean` and
//! `variance` fold `iter()`, which visits a view column by column (channel by channel), rows
//! (positions) in order, whatever its strides: the sums run in the same order in both layouts.
//! `strided_views_are_summed_in_logical_order` checks that order directly, on data where the
//! storage order would round differently.

use groupnorm_reference::{group_norm, group_norm_with_layout, GroupNormOutput, Layout};
use nalgebra::DMatrixView;

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

    /// Values of mixed magnitudes around an offset, so that the order of a sum changes its
    /// rounding.
    fn values(&mut self, len: usize, offset: f64) -> Vec<f64> {
        (0..len)
            .map(|_| {
                let exponent = (self.next_u64() % 13) as i32 - 6;
                offset + self.unit() * 10f64.powi(exponent)
            })
            .collect()
    }
}

/// `(N, C, prod(spatial))` of a shape.
fn dims(shape: &[usize]) -> (usize, usize, usize) {
    (shape[0], shape[1], shape[2..].iter().product())
}

/// A contiguous `(N, C, *spatial)` buffer stored as `(N, *spatial, C)`.
fn to_channels_last(v: &[f64], shape: &[usize]) -> Vec<f64> {
    let (n, c, s) = dims(shape);
    let mut out = vec![f64::NAN; v.len()];
    for ni in 0..n {
        for ci in 0..c {
            for si in 0..s {
                out[(ni * s + si) * c + ci] = v[(ni * c + ci) * s + si];
            }
        }
    }
    out
}

/// Where two outputs differ in their bits, if anywhere (NaNs included: they come from the same
/// operations on the same operands, so even their payloads must agree).
fn bit_difference(a: &GroupNormOutput, b: &GroupNormOutput) -> Option<String> {
    for (name, x, y) in [
        ("y", &a.y, &b.y),
        ("mean", &a.mean, &b.mean),
        ("rstd", &a.rstd, &b.rstd),
    ] {
        if x.len() != y.len() {
            return Some(format!("{name}: {} values against {}", x.len(), y.len()));
        }
        if let Some(i) = (0..x.len()).find(|&i| x[i].to_bits() != y[i].to_bits()) {
            return Some(format!("{name}[{i}]: {:e} against {:e}", x[i], y[i]));
        }
    }
    None
}

/// One input: a shape, `G`, the data and the optional parameters, contiguous.
struct Case {
    name: String,
    shape: Vec<usize>,
    num_groups: usize,
    eps: f64,
    x: Vec<f64>,
    weight: Option<Vec<f64>>,
    bias: Option<Vec<f64>>,
}

impl Case {
    /// What is wrong with channels-last on this case, if anything.
    fn failure(&self) -> Option<String> {
        let (weight, bias) = (self.weight.as_deref(), self.bias.as_deref());
        let what = format!(
            "{}: shape {:?}, G = {}, weight {}, bias {}",
            self.name,
            self.shape,
            self.num_groups,
            weight.is_some(),
            bias.is_some()
        );
        let contiguous = group_norm(
            &self.x,
            &self.shape,
            self.num_groups,
            weight,
            bias,
            self.eps,
        )
        .unwrap_or_else(|e| panic!("{what}: contiguous: {e}"));
        let x_cl = to_channels_last(&self.x, &self.shape);
        let channels_last = group_norm_with_layout(
            &x_cl,
            &self.shape,
            self.num_groups,
            weight,
            bias,
            self.eps,
            Layout::ChannelsLast,
        )
        .unwrap_or_else(|e| panic!("{what}: channels-last: {e}"));
        let expected = GroupNormOutput {
            y: to_channels_last(&contiguous.y, &self.shape),
            ..contiguous
        };
        bit_difference(&channels_last, &expected).map(|d| format!("{what}: {d}"))
    }
}

/// Shapes and `G`: 1-D, 2-D, 3-D (channels_last_3d) and 4-D spatial, `(N, C)`, with `C/G` of
/// 1, 2, 3, 5 and 40, `N` of 1 to 3, one spatial position among them.
const SHAPES: &[(&[usize], usize)] = &[
    // 2-D spatial (channels_last).
    (&[1, 4, 5, 5], 2),
    (&[2, 6, 3, 4], 2),
    (&[3, 10, 2, 3], 2),
    (&[2, 5, 3, 2], 5),
    (&[2, 80, 3, 3], 2),
    (&[2, 6, 1, 1], 3),
    // 3-D spatial (channels_last_3d).
    (&[2, 6, 2, 3, 4], 2),
    (&[2, 5, 2, 2, 3], 5),
    (&[1, 15, 3, 1, 2], 3),
    (&[2, 40, 2, 2, 2], 1),
    // 1-D spatial.
    (&[2, 15, 7], 5),
    (&[3, 80, 4], 2),
    (&[2, 4, 9], 4),
    // 4-D spatial.
    (&[2, 6, 2, 2, 1, 3], 2),
    // (N, C).
    (&[4, 40], 1),
    (&[3, 6], 6),
    (&[2, 15], 3),
    (&[3, 10], 2),
];

/// Every shape with random data, with and without weight and bias.
fn finite_cases() -> Vec<Case> {
    let mut rng = Rng(0x5eed);
    let mut cases = Vec::new();
    for &(shape, num_groups) in SHAPES {
        let len = shape.iter().product();
        let channels = shape[1];
        for (weight, bias) in [(false, false), (true, false), (false, true), (true, true)] {
            cases.push(Case {
                name: "random".into(),
                shape: shape.to_vec(),
                num_groups,
                eps: 1e-5,
                x: rng.values(len, 3.0),
                weight: weight.then(|| rng.values(channels, 1.0)),
                bias: bias.then(|| rng.values(channels, 0.0)),
            });
        }
    }
    cases
}

fn assert_all_pass(cases: &[Case]) {
    let failures: Vec<String> = cases.iter().filter_map(Case::failure).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn channels_last_is_the_transposed_contiguous_result() {
    assert_all_pass(&finite_cases());
}

/// NaN and infinities in the input (one kind per group, the others finite), infinite and NaN
/// weights and biases, and `eps = 0` on a constant group (`rstd = inf`): the non-finite paths
/// of `y` (`x * scale + (beta - mean * scale)`) included.
#[test]
fn non_finite_values_are_placed_alike() {
    let mut rng = Rng(0xbad);
    let specials = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY];
    let mut cases = Vec::new();
    for &(shape, num_groups) in SHAPES {
        let (n, channels, spatial) = dims(shape);
        let group_len = channels / num_groups * spatial;
        let mut x = rng.values(n * channels * spatial, -2.0);
        // Group i holds specials[i % 4] (none for i % 4 == 3), somewhere inside it; the
        // group after a +inf one also holds a -inf (inf - inf in its sum).
        for i in 0..n * num_groups {
            let at = i * group_len + (rng.next_u64() as usize) % group_len;
            match i % 4 {
                3 => {}
                k => x[at] = specials[k],
            }
            if i % 4 == 2 {
                x[i * group_len + (rng.next_u64() as usize) % group_len] = f64::INFINITY;
            }
        }
        let mut weight = rng.values(channels, 1.0);
        let mut bias = rng.values(channels, 0.0);
        weight[0] = f64::INFINITY;
        bias[channels - 1] = f64::NEG_INFINITY;
        if channels > 2 {
            weight[channels / 2] = f64::NAN;
            bias[1] = f64::NAN;
        }
        for (w, b) in [(false, false), (true, false), (false, true), (true, true)] {
            cases.push(Case {
                name: "non-finite input".into(),
                shape: shape.to_vec(),
                num_groups,
                eps: 1e-5,
                x: x.clone(),
                weight: w.then(|| weight.clone()),
                bias: b.then(|| bias.clone()),
            });
        }
        // A constant first group with eps = 0: var = 0, rstd = inf.
        let mut x = rng.values(n * channels * spatial, 1.0);
        x[..group_len].fill(0.75);
        cases.push(Case {
            name: "constant group, eps = 0".into(),
            shape: shape.to_vec(),
            num_groups,
            eps: 0.0,
            x,
            weight: None,
            bias: Some(rng.values(channels, 0.0)),
        });
    }
    assert_all_pass(&cases);
}

/// `(N, C)`: both layouts are the same memory order, so the same buffer gives the same bits.
#[test]
fn n_c_is_the_same_in_both_layouts() {
    let mut rng = Rng(7);
    for &(shape, num_groups) in SHAPES.iter().filter(|(shape, _)| shape.len() == 2) {
        let len = shape.iter().product();
        let x = rng.values(len, 5.0);
        let weight = rng.values(shape[1], 1.0);
        let bias = rng.values(shape[1], 0.0);
        for (w, b) in [(None, None), (Some(&weight[..]), Some(&bias[..]))] {
            let run =
                |layout| group_norm_with_layout(&x, shape, num_groups, w, b, 1e-5, layout).unwrap();
            let (contiguous, channels_last) = (run(Layout::Contiguous), run(Layout::ChannelsLast));
            if let Some(d) = bit_difference(&channels_last, &contiguous) {
                panic!("shape {shape:?}, G = {num_groups}: {d}");
            }
        }
    }
}

/// `group_norm` is `group_norm_with_layout` with `Layout::Contiguous`, the default layout.
#[test]
fn group_norm_is_the_contiguous_layout() {
    assert_eq!(Layout::default(), Layout::Contiguous);
    for case in finite_cases() {
        let (w, b) = (case.weight.as_deref(), case.bias.as_deref());
        let plain = group_norm(&case.x, &case.shape, case.num_groups, w, b, case.eps).unwrap();
        let with = group_norm_with_layout(
            &case.x,
            &case.shape,
            case.num_groups,
            w,
            b,
            case.eps,
            Layout::default(),
        )
        .unwrap();
        assert_eq!(
            bit_difference(&plain, &with),
            None,
            "shape {:?}",
            case.shape
        );
    }
}

/// A hand-checked channels-last case, independent of `to_channels_last`: `(1, 2, 3)` with one
/// group per channel, stored as positions `(x[0, 0, s], x[0, 1, s])`.
#[test]
fn channels_last_by_hand() {
    // Channel 0 holds 1, 2, 3; channel 1 holds 10, 20, 30.
    let x = [1.0, 10.0, 2.0, 20.0, 3.0, 30.0];
    let out = group_norm_with_layout(
        &x,
        &[1, 2, 3],
        2,
        None,
        Some(&[0.5, -0.5]),
        0.0,
        Layout::ChannelsLast,
    )
    .unwrap();
    assert_eq!(out.mean, [2.0, 20.0]);
    let (r0, r1) = (1.0 / (2.0f64 / 3.0).sqrt(), 1.0 / (200.0f64 / 3.0).sqrt());
    assert_eq!(out.rstd, [r0, r1]);
    let expected = [
        -r0 + 0.5,
        -10.0 * r1 - 0.5,
        0.5,
        -0.5,
        r0 + 0.5,
        10.0 * r1 - 0.5,
    ];
    assert_eq!(out.y, expected);
}

/// nalgebra visits a strided view in its logical, column-major order (channel by channel), not
/// in storage order, and its `mean` and `variance` are those of that order: the channels-last
/// view of a group sums exactly as the contiguous one. The data is chosen so that summing in
/// storage order would round differently, which the test asserts first.
#[test]
fn strided_views_are_summed_in_logical_order() {
    // One sample, C = 2, 2 positions, one group: contiguous x[c, s] = [[1e16, 1], [-1e16, 1]].
    let contiguous = [1e16, 1.0, -1e16, 1.0];
    let channels_last = [1e16, -1e16, 1.0, 1.0];
    let fold = |v: &[f64]| v.iter().fold(0.0, |a, &b| a + b);
    assert_ne!(
        fold(&contiguous),
        fold(&channels_last),
        "storage order must round differently"
    );

    let a = DMatrixView::from_slice_with_strides(&contiguous, 2, 2, 1, 2);
    let b = DMatrixView::from_slice_with_strides(&channels_last, 2, 2, 2, 1);
    let order = |m: &DMatrixView<f64, nalgebra::Dyn, nalgebra::Dyn>| -> Vec<f64> {
        m.iter().copied().collect()
    };
    assert_eq!(order(&a), contiguous);
    assert_eq!(order(&b), contiguous);
    assert_eq!(a.sum().to_bits(), fold(&contiguous).to_bits());
    assert_eq!(b.sum().to_bits(), fold(&contiguous).to_bits());
    assert_eq!(a.mean().to_bits(), b.mean().to_bits());
    assert_eq!(a.variance().to_bits(), b.variance().to_bits());

    // And so does the crate: the same statistics in both layouts.
    let c = group_norm(&contiguous, &[1, 2, 2], 1, None, None, 1e-5).unwrap();
    let cl = group_norm_with_layout(
        &channels_last,
        &[1, 2, 2],
        1,
        None,
        None,
        1e-5,
        Layout::ChannelsLast,
    )
    .unwrap();
    assert_eq!(
        bit_difference(
            &cl,
            &GroupNormOutput {
                y: to_channels_last(&c.y, &[1, 2, 2]),
                ..c
            }
        ),
        None
    );
}

/// `N = 0` in channels-last, even where `C * prod(spatial)` overflows: no values, no statistics.
#[test]
fn empty_batch_in_channels_last() {
    for shape in [
        vec![0, 4, 3],
        vec![0, usize::MAX, 2],
        vec![0, 6, usize::MAX, 2],
    ] {
        let g = if shape[1] == 6 { 3 } else { 1 };
        let out = group_norm_with_layout(&[], &shape, g, None, None, 1e-5, Layout::ChannelsLast)
            .unwrap_or_else(|e| panic!("shape {shape:?}: {e}"));
        assert!(out.y.is_empty() && out.mean.is_empty() && out.rstd.is_empty());
    }
}
