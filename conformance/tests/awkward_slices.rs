//! Awkward slices and special values, through every kernel this CPU runs, against the `f64`
//! reference on the same data upcast:
//!
//! * input and output slices (and `mean` / `rstd`) starting at every offset 0..=15 floats into a
//!   larger buffer, so every alignment relative to 16, 32 and 64 bytes is hit;
//! * group lengths at every SIMD boundary (1..=33, 63..=65, 127..=129, 255..=257), with odd
//!   `C/G`, plus the block boundary (16384) and inputs large enough for the parallel path;
//! * NaN, ±inf, subnormals, ±`f32::MAX` and ±1e30 at the start, middle and end of groups;
//! * nothing outside the output slices is written: the buffers around them hold sentinels, checked
//!   bit for bit after every call;
//! * channels-last (`(N, *spatial, C)` in memory): the offsets, the parallel path, blocks far from
//!   the shift, the special values and part of the group lengths on the same tensors stored
//!   channels-last, against the reference run channels-last; and `C` at every vector width and
//!   around the tiles of 512 channels (1..=33, 63..=65, 127..=129, 255..=257, 511..=513, 1025)
//!   with few positions, at every offset 0..=15. The output around the caches is not repeated:
//!   channels-last output is not written around the caches at present.
//!
//! Outputs are compared with the reference by `kit::kernel_vs_reference`, whose tolerances are
//! the project's accuracy target (check (c) of `groupnorm_conformance::check`): `y` within
//! `16 ε max(1, |y_ref|)`, NaN and ±inf exactly where the reference has them; `mean` within
//! `4 ε (|mean_ref| + 1 / rstd_ref)` and `rstd` within `8 ε rstd_ref`, non-finite where the
//! reference's are. The data is uniform in `[-1, 1)`, plus the special values in their tests
//! and offsets in the test of blocks far from the kernels' shift; `|gamma| <= 1.5`, `|beta| <= 1`.

use groupnorm_conformance::kit::{self, Inputs, KernelOutput, Offsets};
use groupnorm_conformance::variant::Layout;
use groupnorm_optimized::Kernel;
use groupnorm_reference::GroupNormOutput;

/// xorshift64*: deterministic data without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `[-1, 1)`.
    fn uniform(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    fn vec(&mut self, len: usize) -> Vec<f32> {
        (0..len).map(|_| self.uniform()).collect()
    }
}

/// One GroupNorm problem.
#[derive(Clone)]
struct Problem {
    shape: Vec<usize>,
    num_groups: usize,
    weight: Option<Vec<f32>>,
    bias: Option<Vec<f32>>,
    eps: f64,
    /// In `layout`'s memory order.
    x: Vec<f32>,
    layout: Layout,
}

impl Problem {
    /// `(N, C, spatial)` with random data; with `affine`, weights in `[0.5, 1.5)` (sign
    /// alternating) and biases in `[-1, 1)`.
    fn new(n: usize, channels: usize, spatial: usize, num_groups: usize, affine: bool) -> Self {
        let mut rng =
            Rng(0x9e37_79b9_7f4a_7c15 ^ (n * 1_000_003 + channels * 1009 + spatial) as u64);
        let x = rng.vec(n * channels * spatial);
        let (weight, bias) = if affine {
            let w = (0..channels)
                .map(|c| (1.0 + 0.5 * rng.uniform()) * if c % 2 == 0 { 1.0 } else { -1.0 })
                .collect();
            (Some(w), Some(rng.vec(channels)))
        } else {
            (None, None)
        };
        Problem {
            shape: vec![n, channels, spatial],
            num_groups,
            weight,
            bias,
            eps: 1e-5,
            x,
            layout: Layout::Contiguous,
        }
    }

    /// The same tensor stored in `layout`: a contiguous problem's `x` transposed, sample by
    /// sample, from `(C, spatial)` to `(spatial, C)` for channels-last.
    fn in_layout(&self, layout: Layout) -> Problem {
        assert_eq!(
            self.layout,
            Layout::Contiguous,
            "converts contiguous problems"
        );
        let mut problem = self.clone();
        if layout == Layout::ChannelsLast {
            let (c, s) = (self.channels(), self.spatial());
            problem.x = (0..self.x.len())
                .map(|j| {
                    // Memory index j holds channel j % C of position j / C % S of sample j / (S C).
                    let (n, position, channel) = (j / (s * c), j / c % s, j % c);
                    self.x[(n * c + channel) * s + position]
                })
                .collect();
        }
        problem.layout = layout;
        problem
    }

    fn channels(&self) -> usize {
        self.shape[1]
    }

    fn spatial(&self) -> usize {
        self.shape[2..].iter().product()
    }

    /// The group (`n * G + g`) of memory index `i`, for failure messages.
    fn group_of(&self, i: usize) -> usize {
        let (c, s) = (self.channels(), self.spatial());
        let channel = match self.layout {
            Layout::Contiguous => i / s % c,
            Layout::ChannelsLast => i % c,
        };
        i / (c * s) * self.num_groups + channel / (c / self.num_groups)
    }

    fn inputs(&self) -> Inputs<'_> {
        Inputs {
            shape: &self.shape,
            num_groups: self.num_groups,
            weight: self.weight.as_deref(),
            bias: self.bias.as_deref(),
            eps: self.eps,
            input: &self.x,
            layout: self.layout,
        }
    }

    fn group_count(&self) -> usize {
        self.shape[0] * self.num_groups
    }

    fn group_len(&self) -> usize {
        self.x.len() / self.group_count().max(1)
    }

    fn reference(&self) -> GroupNormOutput {
        self.inputs().reference().expect("valid problem")
    }

    fn describe(&self) -> String {
        format!(
            "shape {:?}, G = {}, {:?}, affine = {}",
            self.shape,
            self.num_groups,
            self.layout,
            self.weight.is_some()
        )
    }
}

/// Runs `kernel` with the input at `input` floats into a larger buffer and `y`, `mean`, `rstd`
/// at `output` floats into sentinel-filled buffers: every value of the output slices must be
/// written, and nothing around them.
fn run(kernel: Kernel, problem: &Problem, input: usize, output: usize, ctx: &str) -> KernelOutput {
    kit::run_at(kernel, &problem.inputs(), Offsets { input, output })
        .unwrap_or_else(|e| panic!("{ctx}: {e}"))
}

/// Checks a kernel's output against the reference (tolerances in the module docs).
fn assert_close(out: &KernelOutput, reference: &GroupNormOutput, problem: &Problem, ctx: &str) {
    let comparison = kit::kernel_vs_reference(out, reference);
    if let Err(e) = comparison.result() {
        let group = comparison
            .y
            .first_failure_index
            .map(|i| problem.group_of(i));
        panic!("{ctx}: {e} (first y failure in group {group:?})");
    }
}

/// `a` and `b` are the same bits, or the panic says where they differ.
fn assert_same_bits(a: &KernelOutput, b: &KernelOutput, ctx: &str) {
    if let Some(diff) = a.bit_difference(b) {
        panic!("{ctx}: {diff}");
    }
}

/// Runs `problem` on every kernel at offset 0 and with the input and the outputs at each pair of
/// `offsets` (`(input, output)`), checks each run against the reference, and those at offsets
/// against the run at offset 0 bit for bit: placement in memory changes nothing.
fn check_at(problem: &Problem, offsets: &[(usize, usize)]) {
    let reference = problem.reference();
    kit::for_each_kernel(|kernel| {
        let ctx = format!("{}: {}, aligned", kernel.name(), problem.describe());
        let aligned = run(kernel, problem, 0, 0, &ctx);
        assert_close(&aligned, &reference, problem, &ctx);
        for &(in_offset, out_offset) in offsets {
            let ctx = format!(
                "{}: {}, input at +{in_offset}, output at +{out_offset}",
                kernel.name(),
                problem.describe()
            );
            let out = run(kernel, problem, in_offset, out_offset, &ctx);
            assert_close(&out, &reference, problem, &ctx);
            assert_same_bits(&out, &aligned, &format!("{ctx}: against aligned"));
        }
    });
}

/// Runs `problem` on every kernel at offset 0 and checks it, in both layouts.
fn check_problem_in_both_layouts(problem: &Problem) {
    for layout in LAYOUTS {
        check_problem(&problem.in_layout(layout));
    }
}

const LAYOUTS: [Layout; 2] = [Layout::Contiguous, Layout::ChannelsLast];

/// Offset pairs `(input, output)` that put the input and the outputs at every offset 0..=15,
/// each once, in 16 runs.
fn every_offset_once() -> Vec<(usize, usize)> {
    (0..16).map(|k| (k, (5 * k + 3) % 16)).collect()
}

/// Runs `problem` on every kernel at offset 0 and checks it.
fn check_problem(problem: &Problem) {
    let reference = problem.reference();
    kit::for_each_kernel(|kernel| {
        let ctx = format!("{}: {}", kernel.name(), problem.describe());
        let out = run(kernel, problem, 0, 0, &ctx);
        assert_close(&out, &reference, problem, &ctx);
    });
}

#[test]
fn every_input_and_output_offset() {
    // Group lengths 74 (2 channels of 37) and 32, with and without affine parameters: channel
    // spans start at every offset too.
    let problems = [
        Problem::new(2, 6, 37, 3, true),
        Problem::new(1, 4, 16, 2, false),
        Problem::new(3, 5, 13, 5, true),
    ];
    let offsets: Vec<(usize, usize)> = (0..=15)
        .flat_map(|input| (0..=15).map(move |output| (input, output)))
        .collect();
    for layout in LAYOUTS {
        for problem in &problems {
            check_at(&problem.in_layout(layout), &offsets);
        }
    }
}

/// The smallest factor of `c` above 1 that is not `c` itself.
fn smallest_factor(c: usize) -> Option<usize> {
    (2..c).find(|&d| c.is_multiple_of(d))
}

/// Channels-last: `C` around every vector width (1..=33 for the lanes of 4, 8 and 16 and their
/// tails, then 63..=65, 127..=129, 255..=257) and around the tiles (512 channels: 511..=513, and
/// 1025, two whole tiles and one channel), with few positions per sample (2, 3, 17: a row of
/// `C` values is a position, and the statistics take 16 rows at a time). For each `C`, `G`
/// one (a group across every tile), `C` (a channel per group) and, where `C` has a factor `p`,
/// `C/p` and `p` groups (odd or narrow groups, and spans of several groups). The problem with
/// affine parameters and two samples of 3 positions runs with the input and the outputs at every
/// offset 0..=15 (16 runs), compared with the reference and with the aligned run bit for bit
/// (from `C = 255` on, with `G = 1` only, which keeps the test quick); the others at offset 0.
#[test]
fn channels_last_channels_at_every_simd_boundary() {
    let channels = (1..=33).chain([
        63, 64, 65, 127, 128, 129, 255, 256, 257, 511, 512, 513, 1025,
    ]);
    let mut cases = 0;
    for c in channels {
        let mut groups = vec![1, c];
        if let Some(p) = smallest_factor(c) {
            groups.extend([c / p, p]);
        }
        groups.sort_unstable();
        groups.dedup();
        for &num_groups in &groups {
            for (n, spatial, affine) in [(2, 3, true), (1, 2, false), (1, 17, true)] {
                let problem =
                    Problem::new(n, c, spatial, num_groups, affine).in_layout(Layout::ChannelsLast);
                if (n, spatial) == (2, 3) && (c < 255 || num_groups == 1) {
                    check_at(&problem, &every_offset_once());
                } else {
                    check_problem(&problem);
                }
                cases += 1;
            }
        }
    }
    assert!(cases > 300, "{cases} cases");
}

/// The group lengths around the SIMD rows (4, 8, 16, 32, 64 values), the `f32` runs added into
/// `f64` (16 rows: 256, 512 and 1024 values for 4, 8 and 16 lanes) and the lane counts, each as
/// `(C/G, spatial)` factorizations: one channel, one position per channel,
/// and an odd `C/G` where `L` has an odd factor. The problems of two samples and three groups
/// with affine parameters run channels-last too.
fn factorizations(len: usize) -> Vec<(usize, usize)> {
    let mut out = vec![(1, len), (len, 1)];
    if let Some(odd) = (3..len).step_by(2).find(|&d| len.is_multiple_of(d)) {
        out.push((odd, len / odd));
    }
    if len.is_multiple_of(2) && len > 2 {
        out.push((2, len / 2));
    }
    out.dedup();
    out
}

#[test]
fn group_lengths_at_every_simd_boundary() {
    let lengths = (1..=33).chain([
        63, 64, 65, 127, 128, 129, 255, 256, 257, 511, 512, 513, 1023, 1024, 1025,
    ]);
    let mut cases = 0;
    for len in lengths {
        for (channels_per_group, spatial) in factorizations(len) {
            for (n, num_groups) in [(1, 1), (2, 3)] {
                for affine in [false, true] {
                    let problem = Problem::new(
                        n,
                        channels_per_group * num_groups,
                        spatial,
                        num_groups,
                        affine,
                    );
                    assert_eq!(problem.group_len(), len);
                    if n == 2 && affine {
                        check_problem_in_both_layouts(&problem);
                    } else {
                        check_problem(&problem);
                    }
                    cases += 1;
                }
            }
        }
    }
    assert!(cases > 200, "{cases} cases");
}

#[test]
fn block_boundaries_and_the_parallel_path() {
    // At least 65536 values: the rayon path (when the pool has more than one thread), with few
    // large groups (blocks in parallel) and many small ones (groups in parallel); channels-last,
    // whole samples in parallel (two and eight).
    let parallel = [
        Problem::new(2, 2, 16385, 1, true),
        Problem::new(8, 4, 2049, 4, true),
    ];
    let channels_last = parallel
        .each_ref()
        .map(|p| p.in_layout(Layout::ChannelsLast));
    for problem in [
        // Blocks of 16384 values: exactly one, one plus a value, one short.
        Problem::new(1, 1, 16383, 1, false),
        Problem::new(1, 1, 16384, 1, false),
        Problem::new(1, 2, 8193, 1, true),
    ]
    .into_iter()
    .chain(parallel)
    .chain(channels_last)
    {
        check_at(&problem, &[(1, 3), (7, 15)]);
    }
}

/// Input and output larger than 16 MiB together, whose output the SIMD kernels write around
/// the caches, with aligned vector stores after a head of single values: the same bits as
/// sample by sample (each sample alone fits in the caches, and is written as usual), with the
/// output at offsets across a 64-byte line. Channels of an odd length put every channel's head
/// at another alignment.
#[test]
fn outputs_written_around_the_caches() {
    let problem = Problem::new(2, 6, 180_001, 3, true);
    assert!(2 * problem.x.len() * size_of::<f32>() > 16 << 20);
    let half = problem.x.len() / 2;
    let samples: Vec<Problem> = problem
        .x
        .chunks(half)
        .map(|x| Problem {
            shape: vec![1, 6, 180_001],
            num_groups: 3,
            weight: problem.weight.clone(),
            bias: problem.bias.clone(),
            eps: problem.eps,
            x: x.to_vec(),
            layout: Layout::Contiguous,
        })
        .collect();
    let reference = problem.reference();
    kit::for_each_kernel(|kernel| {
        let mut by_sample = KernelOutput {
            y: Vec::new(),
            mean: Vec::new(),
            rstd: Vec::new(),
        };
        for sample in &samples {
            let out = run(kernel, sample, 0, 0, "one sample");
            by_sample.y.extend(out.y);
            by_sample.mean.extend(out.mean);
            by_sample.rstd.extend(out.rstd);
        }
        for out_offset in [0, 1, 6, 8, 15] {
            let ctx = format!(
                "{}: {}, output at +{out_offset}",
                kernel.name(),
                problem.describe()
            );
            let out = run(kernel, &problem, 3, out_offset, &ctx);
            if out_offset == 0 {
                assert_close(&out, &reference, &problem, &ctx);
            }
            assert_same_bits(
                &out,
                &by_sample,
                &format!("{ctx}: against sample by sample"),
            );
        }
    });
}

/// Blocks whose shift (the mean of their first 32 values) is far from their mean, which the
/// kernels then sum again about the mean first found: the first values are outliers (shifted
/// sums alone would multiply their rounding by `(mean - shift)^2 / variance`, about 500 in the
/// first case, and fail). And a group whose blocks sit far apart, each summed about its own
/// values, whose moments are merged across the gap.
#[test]
fn blocks_far_from_the_shift() {
    // One block of 16000 values: the first 32 are 1000, the others are in [-1, 1).
    let mut outliers = Problem::new(1, 1, 16_000, 1, false);
    outliers.x[..32].fill(1000.0);
    // The fuzzer's shift-outlier input (conformance/fuzz/README.md): the first 64 of 4096
    // values 3e12, the rest `(i % 3) 1e9`; one pass about the first values missed the mean.
    let mut fuzzed = Problem::new(1, 1, 4096, 1, false);
    for (i, v) in fuzzed.x.iter_mut().enumerate() {
        *v = if i < 64 { 3e12 } else { (i % 3) as f32 * 1e9 };
    }
    // Two blocks and a tail: the first block near 1e4, the second near -1e4.
    let mut apart = Problem::new(1, 2, 16_400, 1, true);
    for (i, v) in apart.x.iter_mut().enumerate() {
        *v += if i < 16384 { 1e4 } else { -1e4 };
    }
    for problem in [outliers, fuzzed, apart] {
        check_problem_in_both_layouts(&problem);
    }
}

/// The special values, and what the reference makes of a group holding one.
const SPECIALS: [(&str, f32); 10] = [
    ("NaN", f32::NAN),
    ("+inf", f32::INFINITY),
    ("-inf", f32::NEG_INFINITY),
    ("subnormal 1e-40", 1e-40),
    ("subnormal -1e-40", -1e-40),
    ("f32::MAX", f32::MAX),
    ("-f32::MAX", -f32::MAX),
    ("1e30", 1e30),
    ("-1e30", -1e30),
    ("smallest subnormal", f32::from_bits(1)),
];

#[test]
fn special_values_at_the_start_middle_and_end_of_groups() {
    for len in [1, 2, 7, 16, 17, 33, 64, 65, 257] {
        for (name, value) in SPECIALS {
            for position in [0, len / 2, len - 1] {
                for affine in [false, true] {
                    // Three groups of two samples; the special value sits in group (1, 1) only,
                    // so the others show it does not leak.
                    // Channels-last, the three channels of a position side by side in a vector.
                    let mut contiguous = Problem::new(2, 3, len, 3, affine);
                    let group = contiguous.num_groups + 1;
                    contiguous.x[group * len + position] = value;
                    for layout in LAYOUTS {
                        let problem = contiguous.in_layout(layout);
                        let reference = problem.reference();
                        let nan_groups = reference.rstd.iter().filter(|r| r.is_nan()).count();
                        let expect_nan = value.is_nan() || value.is_infinite();
                        assert_eq!(nan_groups, usize::from(expect_nan), "{name}: reference");
                        kit::for_each_kernel(|kernel| {
                            let ctx = format!(
                                "{}: {name} at {position} of group {group}, {}",
                                kernel.name(),
                                problem.describe()
                            );
                            let out = run(kernel, &problem, 1, 5, &ctx);
                            assert_close(&out, &reference, &problem, &ctx);
                        });
                    }
                }
            }
        }
    }
}

#[test]
fn groups_made_of_special_values() {
    let constant = |v: f32| move |_: usize| v;
    let fills: [(&str, &dyn Fn(usize) -> f32); 8] = [
        ("all subnormal", &|i| (i % 5) as f32 * 1e-40 - 2e-40),
        ("all NaN", &constant(f32::NAN)),
        ("+inf and -inf", &|i| {
            if i % 2 == 0 {
                f32::INFINITY
            } else {
                f32::NEG_INFINITY
            }
        }),
        ("±f32::MAX", &|i| {
            if i % 3 == 0 {
                -f32::MAX
            } else {
                f32::MAX
            }
        }),
        ("all f32::MAX", &constant(f32::MAX)),
        ("1e30 and neighbours", &|i| {
            1e30 * (1.0 + i as f32 * f32::EPSILON)
        }),
        ("±1e30", &|i| if i % 2 == 0 { 1e30 } else { -1e30 }),
        ("constant 0.1", &constant(0.1)),
    ];
    for len in [1, 3, 16, 31, 64, 129] {
        for (name, fill) in fills {
            let mut contiguous = Problem::new(2, 2, len, 2, true);
            // Group 2 of 4 is entirely made of the special values.
            for (i, v) in contiguous.x[2 * len..3 * len].iter_mut().enumerate() {
                *v = fill(i);
            }
            for layout in LAYOUTS {
                let problem = contiguous.in_layout(layout);
                let reference = problem.reference();
                kit::for_each_kernel(|kernel| {
                    let ctx = format!(
                        "{}: group of {len} {name}, {}",
                        kernel.name(),
                        problem.describe()
                    );
                    let out = run(kernel, &problem, 3, 9, &ctx);
                    assert_close(&out, &reference, &problem, &ctx);
                });
            }
        }
    }
}
