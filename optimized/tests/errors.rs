//! Every argument GroupNorm rejects, as one table (`rejected_inputs`): one row per rejected
//! call, run through every kernel this CPU runs and through `GroupNorm::forward` /
//! `forward_with_stats`, each checked for the exact `GroupNormError` (with its fields) and for
//! nothing written: `y`, `mean` and `rstd` keep the sentinels they were filled with, bit for
//! bit. The messages are pinned once, by the snapshot `error_messages`
//! (`conformance/tests/snapshots.rs`).
//!
//! The checks run in the order the variants of `GroupNormError` are declared: dimensions,
//! `num_groups == 0`, `C == 0`, divisibility, weight length, bias length, a zero spatial
//! dimension, shape overflow, input length, output length, mean length, rstd length, then the
//! types of weight and bias and of the statistics (`wrong_types_are_rejected_and_right_ones_run`,
//! whose calls take other element types than the table's `f32`). When the
//! arguments are wrong in several ways, the first of these is reported: see
//! `precedence_follows_the_declaration_order`, and the rows of the table where a zero spatial
//! dimension wins over an overflowing product (the product is then zero).
//!
//! This file uses this crate only (no dev-dependency on the reference), so a copy of the
//! crate's folder tests on its own.

use groupnorm_optimized::{GroupNorm, GroupNormError, Kernel, StatsBuffers};
use std::collections::HashSet;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A NaN with a payload no computation produces: a written `y` cannot keep these bits.
const Y_SENTINEL: u32 = 0x7fc0_1234;
/// What `mean` and `rstd` are filled with.
const STAT_SENTINEL: f32 = 12345.0;

fn data(len: usize) -> Vec<f32> {
    (0..len).map(|i| i as f32 * 0.25 - 3.0).collect()
}

/// A way of running GroupNorm: a kernel this CPU runs, or the `GroupNorm` methods.
#[derive(Clone, Copy, Debug)]
enum Runner {
    Kernel(Kernel),
    /// `GroupNorm::forward` without statistics, `forward_with_stats` with them.
    Forward,
}

impl fmt::Display for Runner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Runner::Kernel(kernel) => f.write_str(kernel.name()),
            Runner::Forward => f.write_str("GroupNorm::forward*"),
        }
    }
}

/// Every way of running GroupNorm: each available kernel, and the `GroupNorm` methods.
fn runners() -> Vec<Runner> {
    let mut runners: Vec<Runner> = Kernel::available().map(Runner::Kernel).collect();
    runners.push(Runner::Forward);
    runners
}

fn call(
    runner: Runner,
    params: &GroupNorm<'_>,
    input: &[f32],
    y: &mut [f32],
    stats: Option<(&mut [f32], &mut [f32])>,
) -> Result<(), GroupNormError> {
    match (runner, stats) {
        (Runner::Kernel(kernel), stats) => kernel.run(
            params,
            input,
            y,
            stats.map(|(mean, rstd)| StatsBuffers::new(mean, rstd)),
        ),
        (Runner::Forward, None) => params.forward(input, y),
        (Runner::Forward, Some((mean, rstd))) => {
            params.forward_with_stats(input, y, StatsBuffers::new(mean, rstd))
        }
    }
}

/// The statistics a row's call is made with.
#[derive(Clone, Copy, Debug)]
enum Stats {
    /// Without statistics, then with `mean` and `rstd` of the right length, `N * G` (or of
    /// length 1 where `N * G` overflows or is over 2^16): errors about the other arguments do
    /// not depend on them.
    WithoutAndRight,
    /// Without statistics, then with `mean` and `rstd` of these lengths.
    WithoutAnd(usize, usize),
    /// With `mean` and `rstd` of these lengths only.
    Only(usize, usize),
}

/// One rejected call: its arguments, and the error it must give.
struct Row {
    name: &'static str,
    shape: Vec<usize>,
    num_groups: usize,
    /// The input holds `data(input)`.
    input: usize,
    /// The length of `y`.
    y: usize,
    /// A weight of this many ones, if any.
    weight: Option<usize>,
    /// A bias of this many zeros, if any.
    bias: Option<usize>,
    stats: Stats,
    expected: GroupNormError,
}

/// A row without weight and bias, run without and with statistics of the right length.
fn row(
    name: &'static str,
    shape: &[usize],
    num_groups: usize,
    input: usize,
    y: usize,
    expected: GroupNormError,
) -> Row {
    Row {
        name,
        shape: shape.to_vec(),
        num_groups,
        input,
        y,
        weight: None,
        bias: None,
        stats: Stats::WithoutAndRight,
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

    fn stats(self, stats: Stats) -> Row {
        Row { stats, ..self }
    }

    /// The `(mean, rstd)` lengths the call is made with, or no statistics.
    fn stats_lengths(&self) -> Vec<Option<(usize, usize)>> {
        match self.stats {
            Stats::WithoutAndRight => {
                let n = self.shape.first().copied().unwrap_or(1);
                let groups = n
                    .checked_mul(self.num_groups)
                    .filter(|&g| g <= 1 << 16)
                    .unwrap_or(1);
                vec![None, Some((groups, groups))]
            }
            Stats::WithoutAnd(mean, rstd) => vec![None, Some((mean, rstd))],
            Stats::Only(mean, rstd) => vec![Some((mean, rstd))],
        }
    }

    /// Makes the call through every runner, with each of `stats_lengths`, into buffers filled
    /// with sentinels, and returns what went wrong: a result other than `expected` (success, a
    /// panic, another error, an error with a source), or a buffer written.
    fn failures(&self) -> Vec<String> {
        let input = data(self.input);
        let (weight, bias) = (
            self.weight.map(|len| vec![1.0; len]),
            self.bias.map(|len| vec![0.0; len]),
        );
        let mut params = GroupNorm::new(&self.shape, self.num_groups);
        if let Some(weight) = &weight {
            params = params.with_weight(weight);
        }
        if let Some(bias) = &bias {
            params = params.with_bias(bias);
        }
        let args = format!(
            "shape {:?}, G = {}, input {}, y {}, weight {:?}, bias {:?}",
            self.shape, self.num_groups, self.input, self.y, self.weight, self.bias
        );
        let expected = &self.expected;
        let mut failures = Vec::new();
        for stats in self.stats_lengths() {
            for runner in runners() {
                let mut y = vec![f32::from_bits(Y_SENTINEL); self.y];
                let (mean_len, rstd_len) = stats.unwrap_or((0, 0));
                let mut mean = vec![STAT_SENTINEL; mean_len];
                let mut rstd = vec![STAT_SENTINEL; rstd_len];
                let result = catch_unwind(AssertUnwindSafe(|| {
                    let stats = stats.map(|_| (&mut mean[..], &mut rstd[..]));
                    call(runner, &params, &input, &mut y, stats)
                }));
                let what = format!("{} ({runner}): {args}, stats {stats:?}", self.name);
                match result {
                    Ok(Err(e)) if e != *expected => {
                        failures.push(format!("{what}: {e:?}, expected {expected:?}"));
                    }
                    Ok(Err(e)) => {
                        if let Some(source) = std::error::Error::source(&e) {
                            failures.push(format!("{what}: {e:?} has a source, {source}"));
                        }
                    }
                    Ok(Ok(())) => failures.push(format!("{what}: accepted, expected {expected:?}")),
                    Err(_) => failures.push(format!("{what}: panicked, expected {expected:?}")),
                }
                if !y.iter().all(|v| v.to_bits() == Y_SENTINEL) {
                    failures.push(format!("{what}: y written on error"));
                }
                if !mean
                    .iter()
                    .chain(&rstd)
                    .all(|v| v.to_bits() == STAT_SENTINEL.to_bits())
                {
                    failures.push(format!("{what}: statistics written on error"));
                }
            }
        }
        failures
    }
}

/// Runs every row and fails with the list of what went wrong.
fn assert_rejected(rows: &[Row]) {
    let mut names = HashSet::new();
    for row in rows {
        assert!(names.insert(row.name), "two rows are named {:?}", row.name);
    }
    let failures: Vec<String> = rows.iter().flat_map(Row::failures).collect();
    assert!(
        failures.is_empty(),
        "{} failures in {} rows:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

/// Every rejected call, one row each: name, shape, G, input length, `y` length, the error;
/// `.weight(len)` and `.bias(len)` add affine parameters of that length, and `.stats(..)` says
/// which statistics the call is made with (without and with the right ones, unless it says).
#[rustfmt::skip]
fn rows() -> Vec<Row> {
    use GroupNormError as E;
    use Stats::{Only, WithoutAnd};
    let half = 1usize << (usize::BITS / 2);
    // N, C, spatial = 2^q each: N * C = 2^(2q) and C * spatial fit in usize, N * C * spatial
    // = 2^(3q) does not (q = 22 on 64 bits).
    let d = 1usize << (usize::BITS / 3 + 1);
    assert!(d.checked_mul(d).is_some() && d.checked_mul(d * d).is_none());
    let max = usize::MAX;
    vec![
        // --- dimensions -------------------------------------------------------------------
        row("no dimensions", &[], 1, 0, 0, E::TooFewDimensions { dims: 0 }),
        row("a scalar", &[], 1, 1, 1, E::TooFewDimensions { dims: 0 }),
        row("one dimension", &[4], 1, 4, 4, E::TooFewDimensions { dims: 1 }),
        row("one zero dimension", &[0], 1, 0, 0, E::TooFewDimensions { dims: 1 }),
        // --- groups -----------------------------------------------------------------------
        row("zero groups", &[2, 4, 3], 0, 24, 24, E::ZeroGroups),
        row("zero groups of zero channels", &[2, 0], 0, 0, 0, E::ZeroGroups),
        row("zero channels", &[2, 0], 1, 0, 0, E::ZeroChannels),
        row("zero channels, affine", &[2, 0, 5], 3, 0, 0, E::ZeroChannels).weight(0).bias(0),
        // Any G divides C = 0, and N * G overflows here: ZeroChannels comes before N * G is
        // computed, with or without statistics.
        row("zero channels, G = usize::MAX", &[2, 0], max, 0, 0, E::ZeroChannels)
            .stats(WithoutAnd(2, 2)),
        row("6 channels in 4 groups", &[2, 6, 3], 4, 36, 36,
            E::ChannelsNotDivisible { channels: 6, num_groups: 4 }),
        row("more groups than channels", &[2, 2], 3, 4, 4,
            E::ChannelsNotDivisible { channels: 2, num_groups: 3 }),
        row("G = usize::MAX", &[1, 4], max, 4, 4,
            E::ChannelsNotDivisible { channels: 4, num_groups: max }),
        // --- affine parameters ------------------------------------------------------------
        row("weight of length 0", &[2, 4, 3], 2, 24, 24, E::WeightLength { channels: 4, len: 0 })
            .weight(0),
        row("weight of length 3", &[2, 4, 3], 2, 24, 24, E::WeightLength { channels: 4, len: 3 })
            .weight(3),
        row("weight of length 5", &[2, 4, 3], 2, 24, 24, E::WeightLength { channels: 4, len: 5 })
            .weight(5),
        row("weight of length 8", &[2, 4, 3], 2, 24, 24, E::WeightLength { channels: 4, len: 8 })
            .weight(8),
        // The bias being right changes nothing.
        row("weight of length 3, right bias", &[2, 4, 3], 2, 24, 24,
            E::WeightLength { channels: 4, len: 3 }).weight(3).bias(4),
        row("bias of length 0", &[2, 4, 3], 2, 24, 24, E::BiasLength { channels: 4, len: 0 })
            .bias(0),
        row("bias of length 3", &[2, 4, 3], 2, 24, 24, E::BiasLength { channels: 4, len: 3 })
            .bias(3),
        row("bias of length 5", &[2, 4, 3], 2, 24, 24, E::BiasLength { channels: 4, len: 5 })
            .bias(5),
        row("bias of length 8", &[2, 4, 3], 2, 24, 24, E::BiasLength { channels: 4, len: 8 })
            .bias(8),
        row("bias of length 5, right weight", &[2, 4, 3], 2, 24, 24,
            E::BiasLength { channels: 4, len: 5 }).weight(4).bias(5),
        // --- zero spatial dimensions ------------------------------------------------------
        row("zero height", &[2, 4, 0, 5], 1, 0, 0, E::ZeroSpatial),
        row("zero width", &[2, 4, 5, 0], 1, 0, 0, E::ZeroSpatial),
        row("zero height and width", &[1, 1, 0, 0], 1, 0, 0, E::ZeroSpatial),
        // The element count is 0, but there would be N * G = usize::MAX statistics.
        row("zero spatial, N = usize::MAX", &[max, 1, 0], 1, 0, 0, E::ZeroSpatial),
        // A zero spatial dimension makes the element count 0, so it cannot overflow: ZeroSpatial
        // wherever the zero sits, before or after a spatial product that overflows, and where
        // N * C overflows.
        row("zero before an overflow", &[2, 6, 0, max, 2], 3, 0, 0, E::ZeroSpatial),
        row("zero after an overflow", &[2, 6, max, 2, 0], 3, 0, 0, E::ZeroSpatial),
        row("zero where N * C overflows", &[max, 6, 0, 1, 1], 3, 0, 0, E::ZeroSpatial),
        // --- shapes whose element count overflows usize -----------------------------------
        row("N * C overflows, G = 1", &[max, 2], 1, 4, 4, E::ShapeOverflow),
        row("N * C overflows, G = 2", &[max, 2], 2, 4, 4, E::ShapeOverflow),
        // prod(spatial) alone overflows.
        row("spatial product overflows", &[1, 1, half, half], 1, 4, 4, E::ShapeOverflow),
        row("spatial product of three overflows", &[1, 1, max, 2, 3], 1, 4, 4, E::ShapeOverflow),
        // N * C = 4 and prod(spatial) = 2^63 (on 64 bits) both fit; their product does not.
        row("N * C times spatial overflows", &[2, 2, max / 2 + 1], 2, 4, 4, E::ShapeOverflow),
        row("only the full product overflows", &[d, d, d], 1, 8, 8, E::ShapeOverflow),
        // The same split over two spatial dimensions.
        row("only the full product of four overflows", &[d, d, d / 2, 2], 1, 8, 8,
            E::ShapeOverflow),
        // --- input length: y of the right length, then as wrong as the input, which is
        // reported first -------------------------------------------------------------------
        row("input of 0 values", &[2, 4, 3], 2, 0, 24, E::InputLength { expected: 24, len: 0 }),
        row("input of 1 value", &[2, 4, 3], 2, 1, 24, E::InputLength { expected: 24, len: 1 }),
        row("input of 23 values", &[2, 4, 3], 2, 23, 24,
            E::InputLength { expected: 24, len: 23 }),
        row("input of 25 values", &[2, 4, 3], 2, 25, 24,
            E::InputLength { expected: 24, len: 25 }),
        row("input of 48 values", &[2, 4, 3], 2, 48, 24,
            E::InputLength { expected: 24, len: 48 }),
        row("input and y of 0 values", &[2, 4, 3], 2, 0, 0,
            E::InputLength { expected: 24, len: 0 }),
        row("input and y of 1 value", &[2, 4, 3], 2, 1, 1,
            E::InputLength { expected: 24, len: 1 }),
        row("input and y of 23 values", &[2, 4, 3], 2, 23, 23,
            E::InputLength { expected: 24, len: 23 }),
        row("input and y of 25 values", &[2, 4, 3], 2, 25, 25,
            E::InputLength { expected: 24, len: 25 }),
        row("input and y of 48 values", &[2, 4, 3], 2, 48, 48,
            E::InputLength { expected: 24, len: 48 }),
        // N = 0 expects an empty input.
        row("input for N = 0", &[0, 4, 3], 2, 1, 0, E::InputLength { expected: 0, len: 1 }),
        // --- output length ----------------------------------------------------------------
        row("y of 0 values", &[2, 4, 3], 2, 24, 0, E::OutputLength { expected: 24, len: 0 }),
        row("y of 1 value", &[2, 4, 3], 2, 24, 1, E::OutputLength { expected: 24, len: 1 }),
        row("y of 23 values", &[2, 4, 3], 2, 24, 23, E::OutputLength { expected: 24, len: 23 }),
        row("y of 25 values", &[2, 4, 3], 2, 24, 25, E::OutputLength { expected: 24, len: 25 }),
        row("y of 48 values", &[2, 4, 3], 2, 24, 48, E::OutputLength { expected: 24, len: 48 }),
        row("y for N = 0", &[0, 4, 3], 2, 0, 2, E::OutputLength { expected: 0, len: 2 }),
        // --- mean and rstd lengths (N * G = 4): rstd right, then as wrong as mean ---------
        row("mean of 0 values", &[2, 4, 3], 2, 24, 24, E::MeanLength { expected: 4, len: 0 })
            .stats(Only(0, 4)),
        row("mean of 3 values", &[2, 4, 3], 2, 24, 24, E::MeanLength { expected: 4, len: 3 })
            .stats(Only(3, 4)),
        row("mean of 5 values", &[2, 4, 3], 2, 24, 24, E::MeanLength { expected: 4, len: 5 })
            .stats(Only(5, 4)),
        row("mean of 24 values", &[2, 4, 3], 2, 24, 24, E::MeanLength { expected: 4, len: 24 })
            .stats(Only(24, 4)),
        row("mean and rstd of 0 values", &[2, 4, 3], 2, 24, 24,
            E::MeanLength { expected: 4, len: 0 }).stats(Only(0, 0)),
        row("mean and rstd of 3 values", &[2, 4, 3], 2, 24, 24,
            E::MeanLength { expected: 4, len: 3 }).stats(Only(3, 3)),
        row("mean and rstd of 5 values", &[2, 4, 3], 2, 24, 24,
            E::MeanLength { expected: 4, len: 5 }).stats(Only(5, 5)),
        row("mean and rstd of 24 values", &[2, 4, 3], 2, 24, 24,
            E::MeanLength { expected: 4, len: 24 }).stats(Only(24, 24)),
        // N = 0: no statistics.
        row("mean for N = 0", &[0, 4, 3], 2, 0, 0, E::MeanLength { expected: 0, len: 1 })
            .stats(Only(1, 0)),
        row("rstd of 0 values", &[2, 4, 3], 2, 24, 24, E::RstdLength { expected: 4, len: 0 })
            .stats(Only(4, 0)),
        row("rstd of 3 values", &[2, 4, 3], 2, 24, 24, E::RstdLength { expected: 4, len: 3 })
            .stats(Only(4, 3)),
        row("rstd of 5 values", &[2, 4, 3], 2, 24, 24, E::RstdLength { expected: 4, len: 5 })
            .stats(Only(4, 5)),
        row("rstd of 24 values", &[2, 4, 3], 2, 24, 24, E::RstdLength { expected: 4, len: 24 })
            .stats(Only(4, 24)),
        row("rstd for N = 0", &[0, 4, 3], 2, 0, 0, E::RstdLength { expected: 0, len: 1 })
            .stats(Only(0, 1)),
        // --- huge shapes that fit: InputLength, without allocating ------------------------
        // More values than any machine holds: with a short input, InputLength, neither an
        // allocation nor a wrapped count.
        row("huge spatial, empty input", &[1, 1, max], 1, 0, 0,
            E::InputLength { expected: max, len: 0 }),
        row("huge spatial, 3 values", &[1, 1, max], 1, 3, 3,
            E::InputLength { expected: max, len: 3 }),
        row("huge N, empty input", &[max, 1], 1, 0, 0, E::InputLength { expected: max, len: 0 }),
        row("huge N, 3 values", &[max, 1], 1, 3, 3, E::InputLength { expected: max, len: 3 }),
        row("huge C, empty input", &[1, max], 1, 0, 0, E::InputLength { expected: max, len: 0 }),
        row("huge C, 3 values", &[1, max], 1, 3, 3, E::InputLength { expected: max, len: 3 }),
        row("2^60 values, empty input", &[1 << 20, 1 << 20, 1 << 20], 1, 0, 0,
            E::InputLength { expected: 1 << 60, len: 0 }),
        row("2^60 values, 3 values", &[1 << 20, 1 << 20, 1 << 20], 1, 3, 3,
            E::InputLength { expected: 1 << 60, len: 3 }),
        row("huge N * C * spatial, empty input", &[2, 2, max / 4], 1, 0, 0,
            E::InputLength { expected: max / 4 * 4, len: 0 }),
        row("huge N * C * spatial, 3 values", &[2, 2, max / 4], 1, 3, 3,
            E::InputLength { expected: max / 4 * 4, len: 3 }),
        // A weight of the right (huge) length cannot exist; a short one is reported as such.
        row("huge C, short weight", &[1, max, 1], 1, 3, 3,
            E::WeightLength { channels: max, len: 3 }).weight(3),
    ]
}

#[test]
fn rejected_inputs() {
    assert_rejected(&rows());
}

/// Starts from arguments wrong in every way and repairs one fault at a time: each step must
/// report the next check in the documented order, and the repaired call succeeds. Columns as in
/// `rows`; weight 5, bias 7, an input of 5 values, `y` of 7, `mean` of 5 and `rstd` of 3 are
/// wrong (C = 6).
#[rustfmt::skip]
#[test]
fn precedence_follows_the_declaration_order() {
    use GroupNormError as E;
    use Stats::Only;
    let overflowing = [usize::MAX, 6, 3];
    let good_shape = [2, 6, 3];
    let steps = [
        row("1. dimensions", &[6], 0, 5, 7, E::TooFewDimensions { dims: 1 })
            .weight(5).bias(7).stats(Only(5, 3)),
        row("2. groups", &[usize::MAX, 0, 3], 0, 5, 7, E::ZeroGroups)
            .weight(5).bias(7).stats(Only(5, 3)),
        row("3. channels", &[usize::MAX, 0, 3], 4, 5, 7, E::ZeroChannels)
            .weight(5).bias(7).stats(Only(5, 3)),
        row("4. divisibility", &overflowing, 4, 5, 7,
            E::ChannelsNotDivisible { channels: 6, num_groups: 4 })
            .weight(5).bias(7).stats(Only(5, 3)),
        row("5. weight", &overflowing, 3, 5, 7, E::WeightLength { channels: 6, len: 5 })
            .weight(5).bias(7).stats(Only(5, 3)),
        row("6. bias", &overflowing, 3, 5, 7, E::BiasLength { channels: 6, len: 7 })
            .weight(6).bias(7).stats(Only(5, 3)),
        row("7. zero spatial", &[2, 6, 0], 3, 5, 7, E::ZeroSpatial)
            .weight(6).bias(6).stats(Only(5, 3)),
        row("8. overflow", &overflowing, 3, 5, 7, E::ShapeOverflow)
            .weight(6).bias(6).stats(Only(5, 3)),
        row("9. input", &good_shape, 3, 5, 7, E::InputLength { expected: 36, len: 5 })
            .weight(6).bias(6).stats(Only(5, 3)),
        row("10. output", &good_shape, 3, 36, 7, E::OutputLength { expected: 36, len: 7 })
            .weight(6).bias(6).stats(Only(5, 3)),
        row("11. mean", &good_shape, 3, 36, 36, E::MeanLength { expected: 6, len: 5 })
            .weight(6).bias(6).stats(Only(5, 3)),
        row("12. rstd", &good_shape, 3, 36, 36, E::RstdLength { expected: 6, len: 3 })
            .weight(6).bias(6).stats(Only(6, 3)),
    ];
    assert_rejected(&steps);

    let (w, b, x) = ([1.0; 6], [0.0; 6], data(36));
    let params = GroupNorm::new(&good_shape, 3).with_weight(&w).with_bias(&b);
    for runner in runners() {
        let mut y = vec![f32::from_bits(Y_SENTINEL); 36];
        let (mut mean, mut rstd) = ([STAT_SENTINEL; 6], [STAT_SENTINEL; 6]);
        call(runner, &params, &x, &mut y, Some((&mut mean, &mut rstd)))
            .unwrap_or_else(|e| panic!("{runner}: the repaired call fails: {e}"));
        // Everything was written: no sentinel is left.
        assert!(y.iter().all(|v| v.is_finite()), "{runner}: {y:?}");
        assert!(mean.iter().chain(&rstd).all(|&v| v != STAT_SENTINEL));
    }
}

// --- what is not an error -----------------------------------------------------------------------

/// `N = 0` (a batch of nothing) is accepted: no values, no statistics, nothing written.
#[test]
fn empty_batch_is_accepted() {
    for runner in runners() {
        for shape in [[0, 4, 3], [0, usize::MAX, 1]] {
            let p = GroupNorm::new(&shape, 2 - usize::from(shape[1] == usize::MAX));
            call(runner, &p, &[], &mut [], Some((&mut [], &mut []))).unwrap();
            call(runner, &p, &[], &mut [], None).unwrap();
        }
    }
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
        for runner in runners() {
            for with_stats in [false, true] {
                let result = catch_unwind(AssertUnwindSafe(|| {
                    let stats = with_stats.then_some((&mut [][..], &mut [][..]));
                    call(runner, &GroupNorm::new(&shape, g), &[], &mut [], stats)
                }));
                let what = format!("{runner}: shape {shape:?}, G = {g}, stats {with_stats}");
                match result {
                    Ok(r) => assert_eq!(r, Ok(()), "{what}"),
                    Err(_) => panic!("{what}: panicked"),
                }
            }
        }
    }
}

/// Weight, bias and the statistics buffers of the wrong type, as PyTorch rejects them: each
/// call gives its `GroupNormError` on every runner and writes nothing; the same calls with the
/// types PyTorch takes run. The type checks come after every length check (their variants are
/// declared last).
#[test]
fn wrong_types_are_rejected_and_right_ones_run() {
    use groupnorm_optimized::{Bf16, Element, F16};
    const Y16: u16 = 0x7e12;
    let shape = [2, 4, 3];
    let x32 = data(24);
    let x16: Vec<F16> = x32.iter().map(|&v| F16::from_f32(v)).collect();
    let xb16: Vec<Bf16> = x32.iter().map(|&v| Bf16::from_f32(v)).collect();
    let (w32, w16, wb16) = (
        [1.5f32; 4],
        [F16::from_f32(1.5); 4],
        [Bf16::from_f32(1.5); 4],
    );

    /// Runs `params` on `x` with statistics of type `S` through every runner, and checks that
    /// the outcome is `expected`, with nothing written on error and everything on success (the
    /// sentinels compare with `==`: `F16` and `Bf16` compare their bits).
    fn check<
        E: Element + Copy + PartialEq + fmt::Debug,
        S: Element + Copy + PartialEq + fmt::Debug,
    >(
        what: &str,
        params: &GroupNorm<'_>,
        x: &[E],
        (y_sentinel, stat_sentinel): (E, S),
        expected: Result<(), GroupNormError>,
    ) {
        for runner in runners() {
            let mut y = vec![y_sentinel; x.len()];
            let (mut mean, mut rstd) = ([stat_sentinel; 4], [stat_sentinel; 4]);
            let stats = StatsBuffers::new(&mut mean, &mut rstd);
            let got = match runner {
                Runner::Kernel(kernel) => kernel.run(params, x, &mut y, Some(stats)),
                Runner::Forward => params.forward_with_stats(x, &mut y, stats),
            };
            assert_eq!(got, expected, "{what} [{runner}]");
            let untouched = y.iter().all(|v| *v == y_sentinel)
                && mean.iter().chain(&rstd).all(|v| *v == stat_sentinel);
            assert_eq!(
                untouched,
                expected.is_err(),
                "{what} [{runner}]: written or not"
            );
        }
    }
    let base = GroupNorm::new(&shape, 2);
    let (f32s, f16s) = (
        // Not a NaN, so that `==` sees it: no output of these calls is near it.
        (-7777.0f32, STAT_SENTINEL),
        (F16::from_bits(Y16), F16::from_bits(Y16)),
    );
    let f16_f32 = (F16::from_bits(Y16), STAT_SENTINEL);
    let bf16s = (Bf16::from_bits(Y16), Bf16::from_bits(Y16));
    use GroupNormError as E;
    let parameter = |input, found| Err(E::ParameterType { input, found });
    let stats = |expected, found| Err(E::StatsType { expected, found });
    check(
        "f32 x, f16 weight",
        &base.with_weight(&w16),
        &x32,
        f32s,
        parameter("float32", "float16"),
    );
    check(
        "f32 x, bf16 bias",
        &base.with_bias(&wb16),
        &x32,
        f32s,
        parameter("float32", "bfloat16"),
    );
    check(
        "f16 x, bf16 weight",
        &base.with_weight(&wb16),
        &x16,
        f16_f32,
        parameter("float16", "bfloat16"),
    );
    check(
        "f16 x, f16 weight, f32 bias",
        &base.with_weight(&w16).with_bias(&w32),
        &x16,
        f16_f32,
        Err(E::ParameterTypesDiffer {
            weight: "float16",
            bias: "float32",
        }),
    );
    check(
        "f16 x, f32 weight, f16 stats",
        &base.with_weight(&w32),
        &x16,
        f16s,
        stats("float32", "float16"),
    );
    check(
        "f16 x, no parameters, f32 stats",
        &base,
        &x16,
        f16_f32,
        stats("float16", "float32"),
    );
    check(
        "bf16 x, bf16 weight, f32 stats",
        &base.with_weight(&wb16),
        &xb16,
        (bf16s.0, STAT_SENTINEL),
        stats("bfloat16", "float32"),
    );
    check(
        "f32 x, f32 weight, f16 stats",
        &base.with_weight(&w32),
        &x32,
        (f32s.0, f16s.1),
        stats("float32", "float16"),
    );
    // The combinations PyTorch takes.
    check(
        "f16 x, f32 weight",
        &base.with_weight(&w32),
        &x16,
        f16_f32,
        Ok(()),
    );
    check(
        "f16 x, f16 weight and bias",
        &base.with_weight(&w16).with_bias(&w16),
        &x16,
        f16s,
        Ok(()),
    );
    check("f16 x, no parameters", &base, &x16, f16s, Ok(()));
    check(
        "bf16 x, f32 bias",
        &base.with_bias(&w32),
        &xb16,
        (bf16s.0, STAT_SENTINEL),
        Ok(()),
    );
    check(
        "bf16 x, bf16 weight",
        &base.with_weight(&wb16),
        &xb16,
        bf16s,
        Ok(()),
    );
    // A length error wins over a type error.
    check(
        "f32 x, short f16 weight",
        &base.with_weight(&w16[..3]),
        &x32,
        f32s,
        Err(E::WeightLength {
            channels: 4,
            len: 3,
        }),
    );
}
