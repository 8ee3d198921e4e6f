//! Unit tests that run every kernel through the crate's internals: small enough for Miri,
//! which runs them with each kernel's target features enabled.

use crate::contiguous::GroupRun;
use crate::element::{Bf16, Element, F16};
use crate::params::Stats;
use crate::plan::Plan;
use crate::{Activation, GroupNorm, Kernel, Layout, ParseKernelError, StatsBuffers, KERNEL_NAMES};

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
                    let run =
                        GroupRun::new(x, &mut output[start..start + len], 0, Stats::default());
                    let plan = plan.with_stream_output(streaming);
                    let normalize_groups = kernel.primitives::<f32>().normalize_groups;
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
            let none: [f32; 0] = [];
            assert_eq!(
                kernel.run(&params, &none, &mut [], None),
                Ok(()),
                "{kernel}"
            );
        }
    }
}

/// `values` at the very end of an allocation of their own, `front` floats (under 16) after
/// its 64-byte aligned start: it holds `front` floats before them and nothing after, so that
/// Miri reports any access past their end as out of bounds (and one before their start
/// through the slice's borrow). A `Vec` is only aligned for `f32`, which leaves the offset from
/// a 64-byte line to chance.
/// `T` is `f32`, `F16` or `Bf16`, for which zero bits are a value.
struct AtAllocationEnd<T = f32> {
    ptr: core::ptr::NonNull<T>,
    front: usize,
    len: usize,
}

impl<T: Element> AtAllocationEnd<T> {
    fn layout(front: usize, len: usize) -> std::alloc::Layout {
        std::alloc::Layout::from_size_align((front + len) * size_of::<T>(), 64).unwrap()
    }

    fn new(front: usize, values: &[T]) -> Self {
        assert!(front * size_of::<T>() < 64 && !values.is_empty());
        let layout = Self::layout(front, values.len());
        // SAFETY: `layout` is not zero-sized (`values` is not empty).
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<T>();
        let ptr =
            core::ptr::NonNull::new(ptr).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        let mut buffer = AtAllocationEnd {
            ptr,
            front,
            len: values.len(),
        };
        buffer.slice_mut().copy_from_slice(values);
        buffer
    }

    fn slice(&self) -> &[T] {
        // SAFETY: the allocation holds `front + len` values, zeroed when made (a valid `T`)
        // or written since, 64-byte aligned; it lives as long as `self`, borrowed here.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr().add(self.front), self.len) }
    }

    fn slice_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `slice`, under an exclusive borrow of `self`.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr().add(self.front), self.len) }
    }
}

impl<T> Drop for AtAllocationEnd<T> {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout, and no longer borrowed.
        unsafe {
            let layout =
                std::alloc::Layout::from_size_align((self.front + self.len) * size_of::<T>(), 64);
            std::alloc::dealloc(self.ptr.as_ptr().cast(), layout.unwrap())
        }
    }
}

/// GroupNorm in `f64` by its definition, for the test below, on one group of `channels`
/// channels in `layout` (one sample): `(y, mean, rstd)`.
fn naive_one_group(
    channels: usize,
    weight: Option<&[f32]>,
    bias: Option<&[f32]>,
    x: &[f32],
    layout: Layout,
) -> (std::vec::Vec<f64>, f64, f64) {
    let count = x.len() as f64;
    let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / count;
    let var = x
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / count;
    let rstd = 1.0 / (var + 1e-5).sqrt();
    let positions = x.len() / channels;
    let y = x
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let channel = match layout {
                Layout::ChannelsLast => i % channels,
                _ => i / positions,
            };
            let gamma = weight.map_or(1.0, |w| f64::from(w[channel]));
            let beta = bias.map_or(0.0, |b| f64::from(b[channel]));
            (f64::from(v) - mean) * rstd * gamma + beta
        })
        .collect();
    (y, mean, rstd)
}

/// Every buffer of a call (input, output, weight, bias, mean, rstd) ends exactly at the end of
/// an allocation of its own, and starts at an offset from a 64-byte line that changes from call
/// to call, so that every buffer starts at each of the 16 offsets on every kernel: Miri then
/// reports any read or write past a slice (the AVX-512 kernel's line-by-line reads included),
/// which a larger buffer around it would hide. Group lengths sparse up to 300 and across the
/// rows of every kernel (64 values, the shortest group summed in vectors), the AVX2 kernel's
/// 512-value and the AVX-512 kernel's 1024-value runs of `f32` sums, in both layouts, with and
/// without affine parameters, on data whose blocks are summed once or again (a step after the
/// first 32 values). The output is checked against GroupNorm in `f64` (`y` within 16 eps32 of
/// `max(1, |y|)`, `mean` and `rstd` within 8 eps32), so that the test can fail on values too.
#[test]
fn every_buffer_ends_at_the_end_of_its_allocation() {
    // (group length, channels): `channels` divides the length; one group of one sample.
    const CASES: [(usize, usize); 14] = [
        (1, 1),
        (6, 2),
        (15, 3),
        (17, 1),
        (33, 3),
        (63, 3),
        (64, 4),
        (65, 5),
        (100, 4),
        (129, 3),
        (255, 5),
        (300, 3),
        (1023, 3),
        (1089, 9),
    ];
    let eps32 = f64::from(f32::EPSILON);
    for (kernel_index, kernel) in Kernel::available().enumerate() {
        // Offsets from a 64-byte line: call `i` (counted from the kernel's index, so that each
        // kernel puts each length at other offsets) puts buffer `b` at `(7 i + 3 b) % 16`, and
        // weight and bias count their own calls: every 16 calls take every offset.
        let (mut calls, mut affine_calls) = (kernel_index, kernel_index);
        let offset = |i: usize, b: usize| (7 * i + 3 * b) % 16;
        let mut seen = [[false; 16]; 6];
        for (case, &(len, channels)) in CASES.iter().enumerate() {
            // Channels-last up to 300 values: its reads do not depend on the contiguous runs.
            let layouts: &[Layout] = if len <= 300 {
                &[Layout::Contiguous, Layout::ChannelsLast]
            } else {
                &[Layout::Contiguous]
            };
            for &layout in layouts {
                let shape = [1, channels, len / channels];
                let step = case % 2 == 1;
                let values: std::vec::Vec<f32> = (0..len)
                    .map(|i| {
                        let v = ((i * 37 % 101) as f32) * 0.25 - 3.0;
                        if step {
                            1000.0 + if i < 32 { 0.0 } else { 1.0 } + v * 1e-3
                        } else {
                            v
                        }
                    })
                    .collect();
                let affine = calls % 4 != 0;
                let weight_values: std::vec::Vec<f32> =
                    (0..channels).map(|c| 1.5 - (c % 3) as f32).collect();
                let bias_values: std::vec::Vec<f32> =
                    (0..channels).map(|c| (c % 5) as f32 * 0.5 - 1.0).collect();
                let at = [0, 1, 2, 3, 4, 5].map(|b| {
                    let i = if (2..4).contains(&b) {
                        affine_calls
                    } else {
                        calls
                    };
                    offset(i, b)
                });
                let x = AtAllocationEnd::new(at[0], &values);
                let mut y = AtAllocationEnd::new(at[1], &std::vec![f32::NAN; len]);
                let weight = AtAllocationEnd::new(at[2], &weight_values);
                let bias = AtAllocationEnd::new(at[3], &bias_values);
                let mut mean = AtAllocationEnd::new(at[4], &[f32::NAN]);
                let mut rstd = AtAllocationEnd::new(at[5], &[f32::NAN]);
                let mut params = GroupNorm::new(&shape, 1).with_layout(layout);
                if affine {
                    params = params.with_weight(weight.slice()).with_bias(bias.slice());
                    seen[2][at[2]] = true;
                    seen[3][at[3]] = true;
                    affine_calls += 1;
                }
                for b in [0, 1, 4, 5] {
                    seen[b][at[b]] = true;
                }
                calls += 1;
                let stats = StatsBuffers::new(mean.slice_mut(), rstd.slice_mut());
                kernel
                    .run(&params, x.slice(), y.slice_mut(), Some(stats))
                    .unwrap();
                let (w, b) = (params.weight(), params.bias());
                let (want_y, want_m, want_r) = naive_one_group(channels, w, b, x.slice(), layout);
                let what = std::format!(
                    "{kernel}: length {len}, {channels} channels, {layout:?}, affine {affine}, \
                     step {step}, offsets {at:?}"
                );
                for (i, (&got, &want)) in y.slice().iter().zip(&want_y).enumerate() {
                    let error = (f64::from(got) - want).abs();
                    assert!(
                        error <= 16.0 * eps32 * want.abs().max(1.0),
                        "{what}: y[{i}] {got} vs {want}"
                    );
                }
                let (m, r) = (f64::from(mean.slice()[0]), f64::from(rstd.slice()[0]));
                assert!(
                    (m - want_m).abs() <= 8.0 * eps32 * (want_m.abs() + 1.0 / want_r),
                    "{what}: mean {m} vs {want_m}"
                );
                assert!(
                    (r - want_r).abs() <= 8.0 * eps32 * want_r,
                    "{what}: rstd {r} vs {want_r}"
                );
            }
        }
        assert!(
            seen.iter().all(|offsets| offsets.iter().all(|&s| s)),
            "{kernel}: {seen:?}"
        );
    }
}

/// What the test below needs of an element type beyond `Element`: half an ulp, relative to the
/// value (an upper bound for normal values), and the spacing of the subnormals.
trait Rounding: Element {
    const HALF_ULP: f64;
    const SUBNORMAL_STEP: f64;
}

impl Rounding for f32 {
    const HALF_ULP: f64 = 0.0;
    const SUBNORMAL_STEP: f64 = 0.0;
}

impl Rounding for F16 {
    const HALF_ULP: f64 = 1.0 / 2048.0;
    const SUBNORMAL_STEP: f64 = 5.960_464_477_539_063e-8;
}

impl Rounding for Bf16 {
    const HALF_ULP: f64 = 1.0 / 256.0;
    const SUBNORMAL_STEP: f64 = 0.0;
}

/// The half types and SiLU on every kernel, small enough for Miri: input and output at the very
/// end of their own allocations (at offsets from a 64-byte line that change from call to call),
/// group lengths around every vector width, both layouts, without and with SiLU, weight and
/// bias of `f32` or the input's type. `y` is checked against GroupNorm (and SiLU) in `f64`:
/// within half an ulp of the element type plus 16 eps32 of `max(1, |y|)`; `mean` and `rstd`,
/// of `f32` or the input's type as PyTorch returns them, within half an ulp plus 8 eps32.
#[test]
fn half_types_and_silu_end_at_the_end_of_their_allocation() {
    fn run<E: Rounding>(kernel: Kernel, calls: &mut usize) {
        // (group length, channels), one group of one sample; under Miri, which takes minutes
        // over all of them (CI's Miri step has a budget), a length past 16, 64 and 128 each.
        const ALL: [(usize, usize); 8] = [
            (1, 1),
            (8, 2),
            (9, 3),
            (17, 1),
            (33, 3),
            (64, 4),
            (65, 5),
            (129, 3),
        ];
        const UNDER_MIRI: [(usize, usize); 3] = [(17, 1), (65, 5), (129, 3)];
        let cases: &[(usize, usize)] = if cfg!(miri) { &UNDER_MIRI } else { &ALL };
        let eps32 = f64::from(f32::EPSILON);
        for &(len, channels) in cases {
            for layout in [Layout::Contiguous, Layout::ChannelsLast] {
                // f32 without activation is the test above's.
                let activations: &[Activation] = if E::NAME == "float32" {
                    &[Activation::Silu]
                } else {
                    &[Activation::None, Activation::Silu]
                };
                for &activation in activations {
                    let i = *calls;
                    *calls += 1;
                    let shape = [1, channels, len / channels];
                    let values: std::vec::Vec<E> = (0..len)
                        .map(|k| E::from_f32(((k * 37 % 101) as f32) * 0.25 - 12.0))
                        .collect();
                    let lanes_per_line = 64 / size_of::<E>();
                    let at = |b: usize| (7 * i + 3 * b) % lanes_per_line;
                    let x = AtAllocationEnd::new(at(0), &values);
                    let mut y = AtAllocationEnd::new(at(1), &std::vec![E::ZERO; len]);
                    let weight32: std::vec::Vec<f32> =
                        (0..channels).map(|c| 1.5 - (c % 3) as f32).collect();
                    let bias32: std::vec::Vec<f32> =
                        (0..channels).map(|c| (c % 5) as f32 * 0.5 - 1.0).collect();
                    let weight: std::vec::Vec<E> =
                        weight32.iter().map(|&v| E::from_f32(v)).collect();
                    let bias: std::vec::Vec<E> = bias32.iter().map(|&v| E::from_f32(v)).collect();
                    let base = GroupNorm::new(&shape, 1)
                        .with_layout(layout)
                        .with_activation(activation);
                    // Parameters of f32 (statistics f32) on even calls, of E (statistics E) on
                    // odd ones.
                    let own_type = i % 2 == 1;
                    let params = if own_type {
                        base.with_weight(&weight).with_bias(&bias)
                    } else {
                        base.with_weight(&weight32).with_bias(&bias32)
                    };
                    let x32: std::vec::Vec<f32> = x.slice().iter().map(|v| v.to_f32()).collect();
                    let (mut want_y, want_m, want_r) =
                        naive_one_group(channels, Some(&weight32), Some(&bias32), &x32, layout);
                    if activation == Activation::Silu {
                        for v in &mut want_y {
                            *v /= 1.0 + (-*v).exp();
                        }
                    }
                    let what = std::format!(
                        "{kernel} {}: length {len}, {channels} channels, {layout:?}, \
                         {activation:?}, parameters of the input's type {own_type}",
                        E::NAME
                    );
                    let (m, r) = if own_type {
                        let mut mean = AtAllocationEnd::new(at(2), &[E::ZERO]);
                        let mut rstd = AtAllocationEnd::new(at(3), &[E::ZERO]);
                        let stats = StatsBuffers::new(mean.slice_mut(), rstd.slice_mut());
                        kernel
                            .run(&params, x.slice(), y.slice_mut(), Some(stats))
                            .unwrap();
                        (mean.slice()[0].to_f32(), rstd.slice()[0].to_f32())
                    } else {
                        let mut mean = AtAllocationEnd::new(at(2) % 16, &[0.0f32]);
                        let mut rstd = AtAllocationEnd::new(at(3) % 16, &[0.0f32]);
                        let stats = StatsBuffers::new(mean.slice_mut(), rstd.slice_mut());
                        kernel
                            .run(&params, x.slice(), y.slice_mut(), Some(stats))
                            .unwrap();
                        (mean.slice()[0], rstd.slice()[0])
                    };
                    let rounding = |want: f64| E::HALF_ULP * want.abs() + E::SUBNORMAL_STEP;
                    for (k, (got, &want)) in y.slice().iter().zip(&want_y).enumerate() {
                        let got = f64::from(got.to_f32());
                        let tolerance = rounding(want) + 16.0 * eps32 * want.abs().max(1.0);
                        assert!(
                            (got - want).abs() <= tolerance,
                            "{what}: y[{k}] {got} vs {want}"
                        );
                    }
                    let stat_rounding = |want: f64| if own_type { rounding(want) } else { 0.0 };
                    let (m, r) = (f64::from(m), f64::from(r));
                    let mean_tolerance =
                        stat_rounding(want_m) + 8.0 * eps32 * (want_m.abs() + 1.0 / want_r);
                    assert!(
                        (m - want_m).abs() <= mean_tolerance,
                        "{what}: mean {m} vs {want_m}"
                    );
                    let rstd_tolerance = stat_rounding(want_r) + 8.0 * eps32 * want_r;
                    assert!(
                        (r - want_r).abs() <= rstd_tolerance,
                        "{what}: rstd {r} vs {want_r}"
                    );
                }
            }
        }
    }
    for kernel in Kernel::available() {
        let mut calls = kernel.name().len();
        run::<F16>(kernel, &mut calls);
        run::<Bf16>(kernel, &mut calls);
        run::<f32>(kernel, &mut calls);
    }
}
