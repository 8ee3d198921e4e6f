//! Guard pages: every buffer of a call (input `x`, output `y`, `weight`, `bias`, `mean`,
//! `rstd`) placed in memory that `mmap` maps between two inaccessible (`PROT_NONE`) pages, so
//! that the buffer ENDS exactly where the page after it begins, and in a second run STARTS
//! exactly where the page before it ends. A kernel that reads or writes even one value past
//! either end of a slice faults. A fault (`SIGSEGV`) kills the test binary, and so fails the
//! test: that is the intended way for these tests to fail; the signal names no test, so run
//! the file's tests one at a time (`--test-threads 1 --nocapture`, whose last printed context
//! is the call that faulted) to find which.
//!
//! Reads before a slice's start that stay within its 64-byte line (the AVX-512 kernel's masked
//! loads of the line that holds the start) never reach the page before it: the unit tests of the
//! optimized crate check those under Miri, with every buffer at the end of its own allocation.
//!
//! Every kernel this CPU has runs every case ([`kit::for_each_kernel`], which asserts the
//! kernels that ran against `GROUPNORM_EXPECT_KERNELS`). Beyond "no fault", each run is checked
//! against the `f64` reference by [`kit::kernel_vs_reference`] (the project's tolerances), the
//! two placements must give the same bits, and a window of sentinels beside each output slice,
//! on its side away from the guard, must be left as it was.
//!
//! Coverage (not the cross product; each test asserts what it covers where it is not plain
//! from its loops):
//!
//! * group lengths 1..=300, each in both layouts (contiguous and channels-last), with a shape
//!   that varies with the length (`C/G` and the number of groups), so that a buffer that ends at
//!   its guard starts at every one of the 16 `f32` offsets within a 64-byte line, for each of
//!   the six buffers;
//! * group lengths around the 16384-value blocks of the statistics pass and around 65536 (four
//!   blocks, and the size from which calls go to the rayon pool), plus and minus 8, which end at
//!   every offset too; calls whose total length is just below and at 65536 with several groups
//!   (serial, and groups shared among threads); on x86_64, one call large enough for the output
//!   to be written with streaming stores, after a head of single values;
//! * three kinds of data, taking turns: uniform in `[-1, 1)`; a step in each block (its first
//!   32 values 1 below the rest, about an offset of 1000), so that the shift taken from those 32
//!   values is more than half a standard deviation from the block's mean and the block is summed
//!   again; and groups that take the `f64` fallback (values near `f32::MAX`, whose squares
//!   overflow `f32`, and values about 1e20, whose variance exceeds 2^100), alternating with
//!   ordinary groups in the same call;
//! * weight and bias both present, either alone, and neither, taking turns.

#![cfg(unix)]

use groupnorm_conformance::kit::{self, Inputs, KernelOutput, SENTINEL};
use groupnorm_conformance::variant::Layout;
use groupnorm_optimized::tuning::BLOCK_LEN;
use groupnorm_optimized::{Kernel, StatsBuffers};
use groupnorm_reference::GroupNormOutput;
use std::ptr::NonNull;

/// Floats beside a slice, on its side away from the guard page, filled with sentinels before a
/// call and checked after it.
const WINDOW: usize = 16;

/// The size of a page, from `sysconf(_SC_PAGESIZE)`.
fn page_size() -> usize {
    // SAFETY: `sysconf` only reads a configuration value.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).expect("sysconf(_SC_PAGESIZE) failed")
}

/// Where a slice lies in its [`Guarded`] region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Placement {
    /// Its last value is the last before the guard page that follows the region.
    EndsAtGuard,
    /// Its first value is the first after the guard page that precedes the region.
    StartsAfterGuard,
}

const PLACEMENTS: [Placement; 2] = [Placement::EndsAtGuard, Placement::StartsAfterGuard];

impl Placement {
    /// The range of a slice of `len` floats in a region of `capacity`, and that of its window.
    fn ranges(
        self,
        len: usize,
        capacity: usize,
    ) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        assert!(len + WINDOW <= capacity);
        match self {
            Placement::EndsAtGuard => (
                capacity - len..capacity,
                capacity - len - WINDOW..capacity - len,
            ),
            Placement::StartsAfterGuard => (0..len, len..len + WINDOW),
        }
    }
}

/// Whole pages of `f32` values, readable and writable, between two `PROT_NONE` pages.
struct Guarded {
    /// The start of the mapping: the first guard page.
    mapping: NonNull<libc::c_void>,
    mapping_len: usize,
    /// The first float after the first guard page.
    data: NonNull<f32>,
    /// Floats between the guard pages.
    capacity: usize,
}

impl Guarded {
    /// A region for a slice of `len` floats and its window.
    fn new(len: usize) -> Guarded {
        let page = page_size();
        let data_len = ((len + WINDOW) * size_of::<f32>()).div_ceil(page) * page;
        let mapping_len = data_len + 2 * page;
        // SAFETY: a new anonymous private mapping, at an address the system chooses: no memory
        // that exists already is involved.
        let mapping = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                mapping_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert!(
            mapping != libc::MAP_FAILED,
            "mmap of {mapping_len} bytes failed"
        );
        let mapping = NonNull::new(mapping).expect("mmap returned null");
        // SAFETY: `page` bytes from the start and from `page + data_len` are whole pages of the
        // mapping just made, which nothing else uses.
        let (before, after) = unsafe {
            let first = mapping.as_ptr();
            let last = first.cast::<u8>().add(page + data_len).cast();
            (
                libc::mprotect(first, page, libc::PROT_NONE),
                libc::mprotect(last, page, libc::PROT_NONE),
            )
        };
        assert_eq!(
            (before, after),
            (0, 0),
            "mprotect of the guard pages failed"
        );
        // SAFETY: `page` bytes into the mapping, which is `mapping_len > page` bytes long.
        let data = unsafe { mapping.cast::<u8>().add(page) }.cast::<f32>();
        Guarded {
            mapping,
            mapping_len,
            data,
            capacity: data_len / size_of::<f32>(),
        }
    }

    /// Every float between the guard pages.
    fn region(&mut self) -> &mut [f32] {
        // SAFETY: `data` is page-aligned (so aligned for `f32`) and starts `capacity` floats of
        // readable, writable memory, zero-filled by `mmap` (a valid `f32` value) or written
        // since; the mapping lives as long as `self`, whose exclusive borrow this one is.
        unsafe { std::slice::from_raw_parts_mut(self.data.as_ptr(), self.capacity) }
    }

    /// `values` copied into the slice at `placement`, sentinels in its window.
    fn place(&mut self, values: &[f32], placement: Placement) -> &mut [f32] {
        let (slice, window) = placement.ranges(values.len(), self.capacity);
        let region = self.region();
        region[window].fill(SENTINEL);
        let slice = &mut region[slice];
        slice.copy_from_slice(values);
        // The slice touches its guard page, exactly.
        let guard_side = match placement {
            Placement::EndsAtGuard => slice.as_ptr_range().end.addr(),
            Placement::StartsAfterGuard => slice.as_ptr().addr(),
        };
        assert!(guard_side.is_multiple_of(page_size()));
        slice
    }

    /// The slice of `len` floats at `placement`, after a call; panics (naming `what`) where its
    /// window no longer holds the sentinels.
    fn read(&mut self, len: usize, placement: Placement, what: &str) -> Vec<f32> {
        let (slice, window) = placement.ranges(len, self.capacity);
        let region = self.region();
        if let Some(i) = region[window]
            .iter()
            .position(|v| v.to_bits() != SENTINEL.to_bits())
        {
            panic!("{what}: written outside its slice, in its window ({placement:?}, {i})");
        }
        region[slice].to_vec()
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        // SAFETY: the whole mapping made in `new`, which nothing borrows any more (`region`
        // borrows `self`).
        let status = unsafe { libc::munmap(self.mapping.as_ptr(), self.mapping_len) };
        assert_eq!(status, 0, "munmap failed");
    }
}

/// The kinds of data (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Data {
    Uniform,
    /// Each block's first 32 values 1 below the rest, about 1000: the block is summed again.
    Step,
    /// Groups `4k` near `f32::MAX` and `4k + 2` about 1e20 (both the `f64` fallback); the odd
    /// groups uniform.
    Huge,
}

const DATA: [Data; 3] = [Data::Uniform, Data::Step, Data::Huge];

/// Which affine parameters a problem has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Affine {
    Both,
    WeightOnly,
    BiasOnly,
    Neither,
}

const AFFINE: [Affine; 4] = [
    Affine::Both,
    Affine::WeightOnly,
    Affine::BiasOnly,
    Affine::Neither,
];

/// xorshift64*: deterministic data without a dependency.
struct Rng(u64);

impl Rng {
    /// Uniform in `[-1, 1)`.
    fn uniform(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40;
        bits as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// One call's arguments, in owned buffers.
struct Problem {
    shape: Vec<usize>,
    num_groups: usize,
    weight: Option<Vec<f32>>,
    bias: Option<Vec<f32>>,
    /// In `layout`'s memory order.
    x: Vec<f32>,
    layout: Layout,
    data: Data,
}

impl Problem {
    /// `(n, channels, spatial)` in `num_groups` groups.
    fn new(
        [n, channels, spatial]: [usize; 3],
        num_groups: usize,
        affine: Affine,
        data: Data,
        layout: Layout,
    ) -> Problem {
        let mut rng =
            Rng(0x9e37_79b9_7f4a_7c15 ^ (n * 1_000_003 + channels * 1009 + spatial) as u64);
        let group_len = channels / num_groups * spatial;
        // Logical (contiguous) order: group `i / group_len`, `i % group_len` into it.
        let logical: Vec<f32> = (0..n * channels * spatial)
            .map(|i| {
                let (group, j) = (i / group_len, i % group_len);
                let u = rng.uniform();
                match data {
                    Data::Uniform => u,
                    Data::Step => {
                        let step = if j % BLOCK_LEN < 32 { 0.0 } else { 1.0 };
                        1000.0 + step + 0.01 * u
                    }
                    Data::Huge => match group % 4 {
                        0 => 0.9 * f32::MAX * u,
                        2 => 1e20 * (1.0 + u),
                        _ => u,
                    },
                }
            })
            .collect();
        let x = match layout {
            Layout::Contiguous => logical,
            // Memory index i holds channel i % C of position i / C % S of sample i / (S C).
            Layout::ChannelsLast => (0..logical.len())
                .map(|i| {
                    let (n, position, c) = (
                        i / (spatial * channels),
                        i / channels % spatial,
                        i % channels,
                    );
                    logical[(n * channels + c) * spatial + position]
                })
                .collect(),
        };
        let mut weight_values = || -> Vec<f32> {
            (0..channels)
                .map(|c| (1.0 + 0.5 * rng.uniform()) * if c % 2 == 0 { 1.0 } else { -1.0 })
                .collect()
        };
        let weight = matches!(affine, Affine::Both | Affine::WeightOnly).then(&mut weight_values);
        let bias = matches!(affine, Affine::Both | Affine::BiasOnly)
            .then(|| (0..channels).map(|_| rng.uniform()).collect());
        Problem {
            shape: vec![n, channels, spatial],
            num_groups,
            weight,
            bias,
            x,
            layout,
            data,
        }
    }

    fn inputs(&self) -> Inputs<'_> {
        Inputs {
            shape: &self.shape,
            num_groups: self.num_groups,
            weight: self.weight.as_deref(),
            bias: self.bias.as_deref(),
            eps: 1e-5,
            input: &self.x,
            layout: self.layout,
        }
    }

    fn group_count(&self) -> usize {
        self.shape[0] * self.num_groups
    }

    fn describe(&self) -> String {
        format!(
            "shape {:?}, G = {}, {:?}, {:?} data, weight {}, bias {}",
            self.shape,
            self.num_groups,
            self.layout,
            self.data,
            self.weight.is_some(),
            self.bias.is_some()
        )
    }
}

/// The six buffers of a call, by name, in the order of [`Buffers`]' fields.
const BUFFER_NAMES: [&str; 6] = ["x", "y", "weight", "bias", "mean", "rstd"];

/// The guarded regions of one problem's buffers (`weight` and `bias` where it has them).
struct Buffers {
    x: Guarded,
    y: Guarded,
    weight: Option<Guarded>,
    bias: Option<Guarded>,
    mean: Guarded,
    rstd: Guarded,
}

/// Offsets (in floats, within a 64-byte line) at which each buffer started while it ended at
/// its guard page: `seen[buffer][offset]`.
#[derive(Default)]
struct Coverage {
    seen: [[bool; 16]; 6],
}

impl Coverage {
    fn note(&mut self, buffer: usize, slice: &[f32]) {
        self.seen[buffer][slice.as_ptr().addr() / size_of::<f32>() % 16] = true;
    }

    /// Each buffer of `buffers` (indices into [`BUFFER_NAMES`]) started at every offset.
    fn assert_complete(&self, buffers: &[usize]) {
        for &buffer in buffers {
            let (name, seen) = (BUFFER_NAMES[buffer], &self.seen[buffer]);
            let missing: Vec<usize> = (0..16).filter(|&k| !seen[k]).collect();
            assert!(
                missing.is_empty(),
                "{name} never started at offsets {missing:?}"
            );
        }
    }
}

/// Runs every kernel on `problem` with each buffer at each placement: no fault; the output
/// within the reference's tolerances, the same bits at both placements, nothing written in the
/// windows.
fn check(problem: &Problem, coverage: &mut Coverage) {
    let inputs = problem.inputs();
    let reference = inputs.reference().expect("valid problem");
    let groups = problem.group_count();
    let mut buffers = Buffers {
        x: Guarded::new(problem.x.len()),
        y: Guarded::new(problem.x.len()),
        weight: problem.weight.as_ref().map(|w| Guarded::new(w.len())),
        bias: problem.bias.as_ref().map(|b| Guarded::new(b.len())),
        mean: Guarded::new(groups),
        rstd: Guarded::new(groups),
    };
    kit::for_each_kernel(|kernel| {
        let [first, second] = PLACEMENTS.map(|placement| {
            let ctx = format!(
                "{}: {}, buffers {placement:?}",
                kernel.name(),
                problem.describe()
            );
            let out = run(kernel, problem, &mut buffers, placement, coverage, &ctx);
            check_against_reference(&out, &reference, &ctx);
            out
        });
        if let Some(diff) = first.bit_difference(&second) {
            panic!(
                "{}: {}: the placements differ: {diff}",
                kernel.name(),
                problem.describe()
            );
        }
    });
}

fn check_against_reference(out: &KernelOutput, reference: &GroupNormOutput, ctx: &str) {
    if let Err(e) = kit::kernel_vs_reference(out, reference).result() {
        panic!("{ctx}: {e}");
    }
}

/// One call of `kernel` on `problem`, every buffer in its guarded region at `placement`.
fn run(
    kernel: Kernel,
    problem: &Problem,
    buffers: &mut Buffers,
    placement: Placement,
    coverage: &mut Coverage,
    ctx: &str,
) -> KernelOutput {
    let (len, groups) = (problem.x.len(), problem.group_count());
    let sentinels = |n| vec![SENTINEL; n];
    let x: &[f32] = buffers.x.place(&problem.x, placement);
    let y = buffers.y.place(&sentinels(len), placement);
    let weight = (problem.weight.as_deref())
        .zip(buffers.weight.as_mut())
        .map(|(w, region)| &*region.place(w, placement));
    let bias = (problem.bias.as_deref())
        .zip(buffers.bias.as_mut())
        .map(|(b, region)| &*region.place(b, placement));
    let mean = buffers.mean.place(&sentinels(groups), placement);
    let rstd = buffers.rstd.place(&sentinels(groups), placement);
    if placement == Placement::EndsAtGuard {
        let slices = [Some(x), Some(&*y), weight, bias, Some(&*mean), Some(&*rstd)];
        for (buffer, slice) in slices.into_iter().enumerate() {
            if let Some(slice) = slice {
                coverage.note(buffer, slice);
            }
        }
    }
    let inputs = Inputs {
        weight,
        bias,
        input: x,
        ..problem.inputs()
    };
    println!("{ctx}");
    kernel
        .run(&inputs.params(), x, y, Some(StatsBuffers::new(mean, rstd)))
        .unwrap_or_else(|e| panic!("{ctx}: {e}"));
    KernelOutput {
        y: buffers.y.read(len, placement, &format!("{ctx}: y")),
        mean: buffers
            .mean
            .read(groups, placement, &format!("{ctx}: mean")),
        rstd: buffers
            .rstd
            .read(groups, placement, &format!("{ctx}: rstd")),
    }
}

/// The smallest factor of `v` above 1, `v` itself for a prime.
fn smallest_factor(v: usize) -> usize {
    (2..=v).find(|&d| v.is_multiple_of(d)).unwrap_or(v)
}

/// Group lengths 1..=300, in both layouts. For length `L`: `C/G` takes turns between 1, the
/// smallest factor of `L` and `L` (one position per channel); the number of groups `N * G`
/// between 1 and 16 (so `mean` and `rstd` end at their guard from every offset), split into
/// `N = 2` samples for every third length where it is even; data and affine parameters take
/// turns too.
#[test]
fn group_lengths_1_to_300() {
    let mut coverage = Coverage::default();
    for len in 1..=300usize {
        let factors = [1, smallest_factor(len), len];
        let channels_per_group = factors[len % 3];
        let groups_total = len / 2 % 16 + 1;
        let (n, num_groups) = if groups_total % 2 == 0 && len % 3 == 0 {
            (2, groups_total / 2)
        } else {
            (1, groups_total)
        };
        let shape = [n, channels_per_group * num_groups, len / channels_per_group];
        for layout in [Layout::Contiguous, Layout::ChannelsLast] {
            let problem = Problem::new(
                shape,
                num_groups,
                AFFINE[len % 4],
                DATA[len / 2 % 3],
                layout,
            );
            check(&problem, &mut coverage);
        }
    }
    coverage.assert_complete(&[0, 1, 2, 3, 4, 5]);
}

/// The largest factor of `v` up to 16.
fn factor_up_to_16(v: usize) -> usize {
    (1..=16).rev().find(|&d| v.is_multiple_of(d)).unwrap_or(1)
}

/// One group of each length within 8 of 16384 (a block) and of 65536 (four blocks, and calls
/// shared among threads from there): ends at every offset, one block plus or minus a few
/// values, the last block's tail at every length up to 8. `C` is the largest factor of `L` up
/// to 16; data and affine parameters take turns; every fourth length runs channels-last as well.
#[test]
fn group_lengths_around_blocks_and_threads() {
    let around = |center: usize| center - 8..=center + 8;
    let mut coverage = Coverage::default();
    for (i, len) in around(BLOCK_LEN).chain(around(4 * BLOCK_LEN)).enumerate() {
        let channels = factor_up_to_16(len);
        let shape = [1, channels, len / channels];
        let layouts: &[Layout] = if i % 4 == 0 {
            &[Layout::Contiguous, Layout::ChannelsLast]
        } else {
            &[Layout::Contiguous]
        };
        for &layout in layouts {
            let problem = Problem::new(shape, 1, AFFINE[i % 4], DATA[i % 3], layout);
            check(&problem, &mut coverage);
        }
    }
    // `x` and `y`; `weight`, `bias`, `mean` and `rstd` are short here.
    coverage.assert_complete(&[0, 1]);
}

/// Calls of several groups just below and at 65536 values, where the rayon path starts (on a
/// pool of more than one thread): serial, runs of whole groups, the blocks of few groups, and
/// whole samples channels-last.
#[test]
fn calls_around_the_threaded_path() {
    let cases: [([usize; 3], usize, Layout); 6] = [
        ([1, 3, 21845], 3, Layout::Contiguous),
        ([1, 4, 16384], 4, Layout::Contiguous),
        ([2, 2, 16385], 1, Layout::Contiguous),
        ([1, 16, 4095], 4, Layout::ChannelsLast),
        ([2, 8, 4097], 4, Layout::ChannelsLast),
        ([4, 3, 5462], 3, Layout::ChannelsLast),
    ];
    for (i, (shape, num_groups, layout)) in cases.into_iter().enumerate() {
        let problem = Problem::new(shape, num_groups, AFFINE[i % 4], DATA[i % 3], layout);
        check(&problem, &mut Coverage::default());
    }
}

/// A call of over 16 MiB of input and output, whose output the x86 kernels write with
/// streaming stores after a head of single values up to a vector boundary: channels of an odd
/// length put each head at another alignment, and the last vector and tail end at the guard.
/// (Elsewhere the stores are plain, and the other tests cover them.)
#[cfg(target_arch = "x86_64")]
#[test]
fn output_written_around_the_caches() {
    let shape = [1, 3, 699_051];
    let len: usize = shape.iter().product();
    assert!(2 * len * size_of::<f32>() > groupnorm_optimized::tuning::CACHE_RESIDENT_BYTES);
    let problem = Problem::new(shape, 3, Affine::Both, Data::Uniform, Layout::Contiguous);
    check(&problem, &mut Coverage::default());
}
