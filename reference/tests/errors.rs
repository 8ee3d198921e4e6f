//! Every input `group_norm` rejects, as one table (`rejected_inputs`): one row per input, with
//! the exact `GroupNormError` (with its fields) it must come back as, and that it comes back as
//! an error, neither accepted nor a panic, in every layout (`group_norm_with_layout` checks the
//! same things in the same order whatever the layout). The messages are pinned once, by the
//! snapshot `error_messages` (`conformance/tests/snapshots.rs`).
//!
//! The checks run in the order the variants of `GroupNormError` are declared (the order of
//! `validate` in `src/lib.rs`): dimensions, `num_groups == 0`, `C == 0`, divisibility, weight
//! length, bias length, a zero spatial dimension, shape overflow, input length. When an input is
//! wrong in several ways, the first of these is reported: see
//! `precedence_follows_the_declaration_order`, and the rows of the table where a zero spatial
//! dimension wins over an overflowing product (the product is then zero).
//!
//! Huge shapes are rejected without allocating: every shape here that fits in `usize` describes
//! far more values than any machine holds, and must come back as `InputLength` (the slice is
//! small), not as an allocation failure or a panic.

use groupnorm_reference::{group_norm, group_norm_with_layout, GroupNormError, Layout};
use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// `len` values, all different (so that no accidental equality hides anything).
fn data(len: usize) -> Vec<f64> {
    (0..len).map(|i| i as f64 * 0.25 - 3.0).collect()
}

/// One rejected input: the arguments of `group_norm` (with `eps = 1e-5`) and the error they
/// must give.
struct Row {
    name: &'static str,
    shape: Vec<usize>,
    num_groups: usize,
    /// The input holds `data(input)`.
    input: usize,
    /// A weight of this many ones, if any.
    weight: Option<usize>,
    /// A bias of this many zeros, if any.
    bias: Option<usize>,
    expected: GroupNormError,
}

/// A row without weight and bias.
fn row(
    name: &'static str,
    shape: &[usize],
    num_groups: usize,
    input: usize,
    expected: GroupNormError,
) -> Row {
    Row {
        name,
        shape: shape.to_vec(),
        num_groups,
        input,
        weight: None,
        bias: None,
        expected,
    }
}

impl Row {
    fn weight(self, len: usize) -> Row {
        Row {
            weight: Some(len),
            ..self
        }
    }

    fn bias(self, len: usize) -> Row {
        Row {
            bias: Some(len),
            ..self
        }
    }

    /// What is wrong with this row's call, if anything: in every layout it must return
    /// `expected`, an error without a source, and not panic.
    fn failure(&self) -> Option<String> {
        let failures: Vec<String> = [Layout::Contiguous, Layout::ChannelsLast]
            .into_iter()
            .filter_map(|layout| self.failure_in(layout))
            .collect();
        (!failures.is_empty()).then(|| failures.join("\n"))
    }

    fn failure_in(&self, layout: Layout) -> Option<String> {
        let input = data(self.input);
        let weight = self.weight.map(|len| vec![1.0; len]);
        let bias = self.bias.map(|len| vec![0.0; len]);
        let result = catch_unwind(AssertUnwindSafe(|| {
            group_norm_with_layout(
                &input,
                &self.shape,
                self.num_groups,
                weight.as_deref(),
                bias.as_deref(),
                1e-5,
                layout,
            )
        }));
        let what = format!(
            "{} ({layout:?}): shape {:?}, G = {}, input {} values, weight {:?}, bias {:?}",
            self.name, self.shape, self.num_groups, self.input, self.weight, self.bias
        );
        let expected = &self.expected;
        match result {
            Ok(Err(e)) if e != *expected => Some(format!("{what}: {e:?}, expected {expected:?}")),
            Ok(Err(e)) => std::error::Error::source(&e)
                .map(|source| format!("{what}: {e:?} has a source, {source}")),
            Ok(Ok(out)) => Some(format!(
                "{what}: accepted ({} outputs), expected {expected:?}",
                out.y.len()
            )),
            Err(_) => Some(format!("{what}: panicked, expected {expected:?}")),
        }
    }
}

/// Runs every row and fails with the list of those that do not give their error.
fn assert_rejected(rows: &[Row]) {
    let mut names = HashSet::new();
    for row in rows {
        assert!(names.insert(row.name), "two rows are named {:?}", row.name);
    }
    let failures: Vec<String> = rows.iter().filter_map(Row::failure).collect();
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

/// Every rejected input, one row each: name, shape, G, input length, the error; `.weight(len)`
/// and `.bias(len)` add affine parameters of that length.
#[rustfmt::skip]
fn rows() -> Vec<Row> {
    use GroupNormError as E;
    let half = 1usize << (usize::BITS / 2);
    // N, C, spatial = 2^q each: N * C = 2^(2q) and C * spatial fit in usize, N * C * spatial
    // = 2^(3q) does not (q = 22 on 64 bits).
    let d = 1usize << (usize::BITS / 3 + 1);
    assert!(d.checked_mul(d).is_some() && d.checked_mul(d * d).is_none());
    let max = usize::MAX;
    vec![
        // --- dimensions -------------------------------------------------------------------
        row("no dimensions", &[], 1, 0, E::TooFewDimensions { dims: 0 }),
        // A scalar holds one value; still no N and C.
        row("a scalar", &[], 1, 1, E::TooFewDimensions { dims: 0 }),
        row("one dimension", &[4], 1, 4, E::TooFewDimensions { dims: 1 }),
        row("one zero dimension", &[0], 1, 0, E::TooFewDimensions { dims: 1 }),
        // --- groups -----------------------------------------------------------------------
        row("zero groups", &[2, 4, 3], 0, 24, E::ZeroGroups),
        // Zero groups is rejected even where C = 0 (0 % 0 is undefined, not 0).
        row("zero groups of zero channels", &[2, 0], 0, 0, E::ZeroGroups),
        row("zero channels", &[2, 0], 1, 0, E::ZeroChannels),
        row("zero channels, affine", &[2, 0, 5], 3, 0, E::ZeroChannels).weight(0).bias(0),
        // Any G divides C = 0, and N * G overflows here: ZeroChannels comes before N * G.
        row("zero channels, G = usize::MAX", &[2, 0], max, 0, E::ZeroChannels),
        row("6 channels in 4 groups", &[2, 6, 3], 4, 36,
            E::ChannelsNotDivisible { channels: 6, num_groups: 4 }),
        row("more groups than channels", &[2, 2], 3, 4,
            E::ChannelsNotDivisible { channels: 2, num_groups: 3 }),
        row("G = usize::MAX", &[1, 4], max, 4,
            E::ChannelsNotDivisible { channels: 4, num_groups: max }),
        // --- affine parameters ------------------------------------------------------------
        row("weight of length 0", &[2, 4, 3], 2, 24, E::WeightLength { channels: 4, len: 0 })
            .weight(0),
        row("weight of length 3", &[2, 4, 3], 2, 24, E::WeightLength { channels: 4, len: 3 })
            .weight(3),
        row("weight of length 5", &[2, 4, 3], 2, 24, E::WeightLength { channels: 4, len: 5 })
            .weight(5),
        row("weight of length 8", &[2, 4, 3], 2, 24, E::WeightLength { channels: 4, len: 8 })
            .weight(8),
        // The bias being right changes nothing.
        row("weight of length 3, right bias", &[2, 4, 3], 2, 24,
            E::WeightLength { channels: 4, len: 3 }).weight(3).bias(4),
        row("bias of length 0", &[2, 4, 3], 2, 24, E::BiasLength { channels: 4, len: 0 }).bias(0),
        row("bias of length 3", &[2, 4, 3], 2, 24, E::BiasLength { channels: 4, len: 3 }).bias(3),
        row("bias of length 5", &[2, 4, 3], 2, 24, E::BiasLength { channels: 4, len: 5 }).bias(5),
        row("bias of length 8", &[2, 4, 3], 2, 24, E::BiasLength { channels: 4, len: 8 }).bias(8),
        row("bias of length 5, right weight", &[2, 4, 3], 2, 24,
            E::BiasLength { channels: 4, len: 5 }).weight(4).bias(5),
        // --- zero spatial dimensions ------------------------------------------------------
        row("zero height", &[2, 4, 0, 5], 1, 0, E::ZeroSpatial),
        row("zero width", &[2, 4, 5, 0], 1, 0, E::ZeroSpatial),
        row("zero height and width", &[1, 1, 0, 0], 1, 0, E::ZeroSpatial),
        // The element count is 0, but there would be N * G = usize::MAX statistics.
        row("zero spatial, N = usize::MAX", &[max, 1, 0], 1, 0, E::ZeroSpatial),
        // A zero spatial dimension makes the element count 0, so it cannot overflow: ZeroSpatial
        // wherever the zero sits, before or after a spatial product that overflows, and where
        // N * C overflows.
        row("zero before an overflow", &[2, 6, 0, max, 2], 3, 0, E::ZeroSpatial),
        row("zero after an overflow", &[2, 6, max, 2, 0], 3, 0, E::ZeroSpatial),
        row("zero where N * C overflows", &[max, 6, 0, 1, 1], 3, 0, E::ZeroSpatial),
        // --- shapes whose element count overflows usize -----------------------------------
        row("N * C overflows, G = 1", &[max, 2], 1, 4, E::ShapeOverflow),
        row("N * C overflows, G = 2", &[max, 2], 2, 4, E::ShapeOverflow),
        // prod(spatial) alone overflows.
        row("spatial product overflows", &[1, 1, half, half], 1, 4, E::ShapeOverflow),
        row("spatial product of three overflows", &[1, 1, max, 2, 3], 1, 4, E::ShapeOverflow),
        // N * C = 4 and prod(spatial) = 2^63 (on 64 bits) both fit; their product does not.
        row("N * C times spatial overflows", &[2, 2, max / 2 + 1], 2, 4, E::ShapeOverflow),
        row("only the full product overflows", &[d, d, d], 1, 8, E::ShapeOverflow),
        // The same split over two spatial dimensions.
        row("only the full product of four overflows", &[d, d, d / 2, 2], 1, 8, E::ShapeOverflow),
        // --- input length -----------------------------------------------------------------
        row("input of 0 values", &[2, 4, 3], 2, 0, E::InputLength { expected: 24, len: 0 }),
        row("input of 1 value", &[2, 4, 3], 2, 1, E::InputLength { expected: 24, len: 1 }),
        row("input of 23 values", &[2, 4, 3], 2, 23, E::InputLength { expected: 24, len: 23 }),
        row("input of 25 values", &[2, 4, 3], 2, 25, E::InputLength { expected: 24, len: 25 }),
        row("input of 48 values", &[2, 4, 3], 2, 48, E::InputLength { expected: 24, len: 48 }),
        // N = 0 expects an empty input.
        row("input for N = 0", &[0, 4], 2, 3, E::InputLength { expected: 0, len: 3 }),
        // --- huge shapes that fit: InputLength, without allocating ------------------------
        // These shapes describe more values than any machine holds; with a small input they
        // must be answered by InputLength before anything is allocated for them (an attempt
        // would abort the test process, or panic with a capacity overflow).
        row("huge spatial, empty input", &[1, 1, max], 1, 0,
            E::InputLength { expected: max, len: 0 }),
        row("huge spatial, 3 values", &[1, 1, max], 1, 3,
            E::InputLength { expected: max, len: 3 }),
        row("huge N, empty input", &[max, 1], 1, 0, E::InputLength { expected: max, len: 0 }),
        row("huge N, 3 values", &[max, 1], 1, 3, E::InputLength { expected: max, len: 3 }),
        row("huge C, empty input", &[1, max], 1, 0, E::InputLength { expected: max, len: 0 }),
        row("huge C, 3 values", &[1, max], 1, 3, E::InputLength { expected: max, len: 3 }),
        row("2^60 values, empty input", &[1 << 20, 1 << 20, 1 << 20], 1, 0,
            E::InputLength { expected: 1 << 60, len: 0 }),
        row("2^60 values, 3 values", &[1 << 20, 1 << 20, 1 << 20], 1, 3,
            E::InputLength { expected: 1 << 60, len: 3 }),
        row("huge N * C * spatial, empty input", &[2, 2, max / 4], 1, 0,
            E::InputLength { expected: max / 4 * 4, len: 0 }),
        row("huge N * C * spatial, 3 values", &[2, 2, max / 4], 1, 3,
            E::InputLength { expected: max / 4 * 4, len: 3 }),
        // A weight of the right (huge) length cannot exist; a short one is reported as such.
        row("huge C, short weight", &[1, max, 1], 1, 3, E::WeightLength { channels: max, len: 3 })
            .weight(3),
    ]
}

#[test]
fn rejected_inputs() {
    assert_rejected(&rows());
}

/// Starts from an input wrong in many ways and repairs the reported fault step by step: each
/// step must report the next check in the documented order (every later fault still present),
/// and the repaired input is accepted. Columns as in `rows`; weight 5, bias 7 and an input of 5
/// values are wrong (C = 6).
#[rustfmt::skip]
#[test]
fn precedence_follows_the_declaration_order() {
    use GroupNormError as E;
    let overflowing = [usize::MAX, 6, 3];
    let good_shape = [2, 6, 3];
    let steps = [
        // A one-dimensional shape hides every other fault.
        row("1. dimensions", &[6], 0, 5, E::TooFewDimensions { dims: 1 }).weight(5).bias(7),
        row("2. groups", &[usize::MAX, 0, 3], 0, 5, E::ZeroGroups).weight(5).bias(7),
        row("3. channels", &[usize::MAX, 0, 3], 4, 5, E::ZeroChannels).weight(5).bias(7),
        row("4. divisibility", &overflowing, 4, 5,
            E::ChannelsNotDivisible { channels: 6, num_groups: 4 }).weight(5).bias(7),
        row("5. weight", &overflowing, 3, 5, E::WeightLength { channels: 6, len: 5 })
            .weight(5).bias(7),
        row("6. bias", &overflowing, 3, 5, E::BiasLength { channels: 6, len: 7 })
            .weight(6).bias(7),
        row("7. zero spatial", &[2, 6, 0], 3, 5, E::ZeroSpatial).weight(6).bias(6),
        row("8. overflow", &overflowing, 3, 5, E::ShapeOverflow).weight(6).bias(6),
        row("9. input", &good_shape, 3, 5, E::InputLength { expected: 36, len: 5 })
            .weight(6).bias(6),
    ];
    assert_rejected(&steps);
    let out = group_norm(&data(36), &good_shape, 3, Some(&[1.0; 6]), Some(&[0.0; 6]), 1e-5)
        .expect("the repaired input is accepted");
    assert_eq!((out.y.len(), out.mean.len(), out.rstd.len()), (36, 6, 6));
}

// --- what is not an error -----------------------------------------------------------------------

/// `N = 0` (a batch of nothing) is accepted: no values, no statistics.
#[test]
fn empty_batch_is_accepted() {
    let out = group_norm(&[], &[0, 4, 3], 2, Some(&[1.0; 4]), None, 1e-5).unwrap();
    assert!(out.y.is_empty() && out.mean.is_empty() && out.rstd.is_empty());
    let out = group_norm(&[], &[0, usize::MAX], 1, None, None, 1e-5).unwrap();
    assert!(out.y.is_empty() && out.mean.is_empty());
}

/// `N = 0`: the element count is 0 whatever the other dimensions, so these are accepted, even
/// where the group length `C/G * prod(spatial)`, or `prod(spatial)` alone, overflows `usize`:
/// there is no group to use it for.
#[test]
fn empty_batch_with_huge_groups() {
    let quarter = 1usize << (usize::BITS - 2);
    for (shape, g) in [
        (vec![0, 4, quarter], 1),
        (vec![0, 6, usize::MAX, 2], 3),
        (vec![0, usize::MAX, 2], 1),
    ] {
        let result = catch_unwind(|| group_norm(&[], &shape, g, None, None, 1e-5));
        let Ok(result) = result else {
            panic!("shape {shape:?}, G = {g}: panicked");
        };
        let out = result.unwrap_or_else(|e| panic!("shape {shape:?}, G = {g}: {e:?}"));
        assert!(out.y.is_empty() && out.mean.is_empty() && out.rstd.is_empty());
    }
}
