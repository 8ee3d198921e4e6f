//! Unit tests that run every kernel through the crate's internals: small enough for Miri,
//! which runs them with each kernel's target features enabled.

use crate::contiguous::GroupRun;
use crate::plan::Plan;
use crate::{GroupNorm, Kernel, Layout, ParseKernelError, StatsBuffers, KERNEL_NAMES};

/// The output written around the caches, as calls over 16 MiB write it, on data small
/// enough for Miri: the same bits as plain stores, for every kernel. The output starts at
/// several offsets from a 64-byte boundary, and channels of odd lengths put each of the 8
/// channels at another alignment.
#[test]
fn streaming_stores_write_the_same_bits() {
    for kernel in Kernel::available() {
        for channel_len in [1, 7, 37] {
            let shape = [2, 4, channel_len];
            let len = 8 * channel_len;
            let x: [f32; 296] = core::array::from_fn(|i| ((i * 37 % 101) as f32) * 0.25 - 3.0);
            let x = &x[..len];
            let (weight, bias) = ([1.5, -0.5, 0.75, 2.0], [0.25, 2.0, -1.0, 0.5]);
            let params = GroupNorm::new(&shape, 2)
                .with_weight(&weight)
                .with_bias(&bias);
            let plan = Plan::new(&params, x, x, None).unwrap();
            for offset in [0, 3, 8, 13] {
                let [plain, streamed] = [false, true].map(|streaming| {
                    let mut output = [0.0f32; 296 + 32];
                    let start = output.as_ptr().align_offset(64) + offset;
                    let run = GroupRun::new(x, &mut output[start..start + len], 0, None, None);
                    let plan = plan.with_stream_output(streaming);
                    let normalize_groups = kernel.primitives().normalize_groups;
                    // SAFETY: `kernel` exists only where the CPU supports its instruction set.
                    unsafe { normalize_groups(&plan, &params, run) };
                    let mut bits = [0u32; 296];
                    for (bits, v) in bits.iter_mut().zip(&output[start..start + len]) {
                        *bits = v.to_bits();
                    }
                    bits
                });
                assert!(
                    plain == streamed,
                    "{}: streaming stores differ, channels of {channel_len}, offset {offset}",
                    kernel.name()
                );
            }
        }
    }
}

/// A group of several rows of the widest kernel and a tail, starting at every offset from a
/// 64-byte boundary: the same bits at each, for every kernel. Under Miri (which checks every
/// load of the AVX-512 kernel's line-by-line reads, at every skew) and natively (where the
/// lines are rotated into place).
#[test]
fn rows_read_the_same_wherever_the_group_starts() {
    #[repr(align(64))]
    struct Lines([f32; 224]);
    const LEN: usize = 3 * 64 + 5;
    for kernel in Kernel::available() {
        let shape = [1, 1, LEN];
        let params = GroupNorm::new(&shape, 1);
        let mut first = None;
        for offset in 0..16 {
            let mut x = Lines([0.0; 224]);
            for (i, v) in x.0[offset..offset + LEN].iter_mut().enumerate() {
                *v = ((i * 37 % 101) as f32) * 0.25 + 100.0;
            }
            let (mut y, mut mean, mut rstd) = ([0.0f32; LEN], [0.0f32], [0.0f32]);
            let stats = StatsBuffers::new(&mut mean, &mut rstd);
            let x = &x.0[offset..offset + LEN];
            kernel.run(&params, x, &mut y, Some(stats)).unwrap();
            let bits: std::vec::Vec<u32> = y
                .iter()
                .chain(&mean)
                .chain(&rstd)
                .map(|v| v.to_bits())
                .collect();
            let first = first.get_or_insert(bits.clone());
            assert!(*first == bits, "{}: offset {offset} differs", kernel.name());
        }
    }
}

/// Small enough for Miri, which runs these with each kernel's features enabled: every
/// kernel against the scalar one over lengths that cover every row and tail of every
/// vector width, with and without affine parameters.
#[test]
fn every_kernel_agrees_with_scalar_on_short_groups() {
    for kernel in Kernel::available() {
        for len in (1..=70).chain([127, 128, 129]) {
            let shape = [1, 2, len];
            let x: [f32; 258] = core::array::from_fn(|i| ((i * 37 % 101) as f32) * 0.25 - 3.0);
            let x = &x[..2 * len];
            let (weight, bias) = ([1.5, -0.5], [0.25, 2.0]);
            for params in [
                GroupNorm::new(&shape, 1),
                GroupNorm::new(&shape, 2)
                    .with_weight(&weight)
                    .with_bias(&bias),
            ] {
                let (mut ours, mut scalar) = ([0.0; 258], [0.0; 258]);
                kernel.run(&params, x, &mut ours[..2 * len], None).unwrap();
                Kernel::scalar()
                    .run(&params, x, &mut scalar[..2 * len], None)
                    .unwrap();
                for (a, b) in ours.iter().zip(&scalar) {
                    let tolerance = 8.0 * f32::EPSILON * b.abs().max(1.0);
                    assert!(
                        (a - b).abs() <= tolerance,
                        "{}: {a} vs scalar {b} at length {len}",
                        kernel.name()
                    );
                }
            }
        }
    }
}

/// The kernels every test above runs, `Kernel::available()`, are those this machine must have
/// where CI (or its Miri passes) names them in `GROUPNORM_EXPECT_KERNELS`; every kernel name
/// parses to its kernel where it is available, and says why not where it is not.
#[test]
fn available_kernels_are_the_expected_ones() {
    let available: std::vec::Vec<&str> = Kernel::available().map(Kernel::name).collect();
    assert_eq!(available.first(), Some(&"scalar"));
    assert_eq!(Kernel::best().name(), *available.last().unwrap());
    if let Ok(expected) = std::env::var("GROUPNORM_EXPECT_KERNELS") {
        let expected: std::vec::Vec<&str> = expected.split(',').map(str::trim).collect();
        assert_eq!(available, expected, "Kernel::available()");
    }
    for (i, kernel) in Kernel::available().enumerate() {
        assert_eq!(std::format!("{kernel}"), kernel.name());
        assert!(!available[..i].contains(&kernel.name()), "{available:?}");
    }
    for &name in KERNEL_NAMES {
        let parsed = name.parse::<Kernel>();
        if available.contains(&name) {
            assert_eq!(parsed.map(Kernel::name), Ok(name));
        } else {
            assert_eq!(parsed, Err(ParseKernelError::Unsupported { name }));
        }
    }
    assert_eq!("AVX2".parse::<Kernel>(), Err(ParseKernelError::Unknown));
}

/// Channels-last: every kernel gives, within 8 eps32 of `max(1, |y|)`, the contiguous result of
/// the same values transposed, with the same mean and rstd within 8 eps32 relative; for
/// channel counts around every vector width (the 512-channel tile is crossed in the
/// conformance suite's `awkward_slices`, with shapes too large for Miri), groups of 1, 3, 5 and 40
/// channels, a large offset, and a group that takes the f64 path (a NaN).
#[test]
fn channels_last_gives_the_contiguous_result_of_the_transposed_input() {
    const MAX: usize = 2 * 130 * 5;
    let cases: [(usize, usize, usize); 11] = [
        // (C, G, rows)
        (1, 1, 5),
        (3, 1, 4),
        (5, 5, 3),
        (8, 4, 5),
        (15, 3, 2),
        (16, 16, 3),
        (17, 1, 3),
        (40, 1, 2),
        (33, 11, 2),
        (130, 2, 5),
        (129, 3, 2),
    ];
    for kernel in Kernel::available() {
        for (c, g, rows) in cases {
            for offset in [0.0f32, 1e4] {
                let len = 2 * c * rows;
                let value = |i: usize| ((i * 37 % 101) as f32) * 0.25 - 3.0 + offset;
                // x[n, c, r] in contiguous order; the same values channels-last.
                let mut contiguous = [0.0f32; MAX];
                let mut last = [0.0f32; MAX];
                for n in 0..2 {
                    for ch in 0..c {
                        for r in 0..rows {
                            let v = value((n * c + ch) * rows + r);
                            contiguous[(n * c + ch) * rows + r] = v;
                            last[(n * rows + r) * c + ch] = v;
                        }
                    }
                }
                if offset == 0.0 {
                    // One NaN, at (n, c, r) = (1, 0, 0): its group takes the f64 path.
                    contiguous[c * rows] = f32::NAN;
                    last[rows * c] = f32::NAN;
                }
                let (x, xl) = (&contiguous[..len], &last[..len]);
                let mut weight = [0.0f32; 130];
                let mut bias = [0.0f32; 130];
                for ch in 0..c {
                    weight[ch] = 1.0 + (ch % 7) as f32 * 0.25;
                    bias[ch] = (ch % 5) as f32 * 0.5 - 1.0;
                }
                let shape = [2, c, rows];
                let params = GroupNorm::new(&shape, g)
                    .with_weight(&weight[..c])
                    .with_bias(&bias[..c]);
                let (mut y, mut yl) = ([0.0f32; MAX], [0.0f32; MAX]);
                let (mut m, mut r, mut ml, mut rl) =
                    ([0.0f32; 80], [0.0f32; 80], [0.0f32; 80], [0.0f32; 80]);
                kernel
                    .run(
                        &params,
                        x,
                        &mut y[..len],
                        Some(StatsBuffers::new(&mut m[..2 * g], &mut r[..2 * g])),
                    )
                    .unwrap();
                kernel
                    .run(
                        &params.with_layout(Layout::ChannelsLast),
                        xl,
                        &mut yl[..len],
                        Some(StatsBuffers::new(&mut ml[..2 * g], &mut rl[..2 * g])),
                    )
                    .unwrap();
                let what = |i: usize| {
                    std::format!(
                        "{} C={c} G={g} rows={rows} offset={offset}: {i}",
                        kernel.name()
                    )
                };
                for n in 0..2 {
                    for ch in 0..c {
                        for row in 0..rows {
                            let want = y[(n * c + ch) * rows + row];
                            let got = yl[(n * rows + row) * c + ch];
                            let close =
                                (got - want).abs() <= 8.0 * f32::EPSILON * want.abs().max(1.0);
                            assert!(
                                close || (got.is_nan() && want.is_nan()),
                                "{} y {got} {want}",
                                what(ch)
                            );
                        }
                    }
                }
                for i in 0..2 * g {
                    let close = |a: f32, b: f32| {
                        (a - b).abs() <= 8.0 * f32::EPSILON * b.abs().max(1e-30)
                            || (a.is_nan() && b.is_nan())
                    };
                    assert!(close(ml[i], m[i]), "{} mean {} {}", what(i), ml[i], m[i]);
                    assert!(close(rl[i], r[i]), "{} rstd {} {}", what(i), rl[i], r[i]);
                }
            }
        }
    }
}

/// No sample (N = 0) in channels-last, with a shape whose `C * prod(spatial)` overflows: nothing
/// to compute, as in the contiguous layout (found by the `arguments` fuzz target).
#[test]
fn channels_last_without_samples_is_empty() {
    for kernel in Kernel::available() {
        for shape in [[0, 2, 1 << 63], [0, 4, 3]] {
            let params = GroupNorm::new(&shape, 1).with_layout(Layout::ChannelsLast);
            assert_eq!(kernel.run(&params, &[], &mut [], None), Ok(()), "{kernel}");
        }
    }
}
