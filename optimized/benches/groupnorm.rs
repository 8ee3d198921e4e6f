//! Criterion benchmarks: every kernel this CPU supports on one thread, the best kernel on two
//! threads, and the roofline (see `roofline.rs`) on one and two threads, on the same buffers, in
//! elements per second. Contiguous in groups `<shape>_g<G>`; channels-last
//! (`Layout::ChannelsLast`) on the large shapes in groups `cl_<shape>_g<G>`, beside the
//! channels-last roofline: the same roofline with the sample as its group (per sample, one read
//! for the statistics, then one read, FMA and write, in memory order), whole samples per thread.
//!
//! `cargo bench -p groupnorm-optimized --bench groupnorm`; `optimized/benches/compare_pytorch.py`
//! runs it and puts PyTorch beside it. The buffers start on 64 bytes; `GROUPNORM_BENCH_OFFSET=4`
//! starts them 4 floats (16 bytes) past, where a large `Vec<f32>` starts.

mod roofline;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use groupnorm_optimized::{GroupNorm, Kernel, Layout};
use std::hint::black_box;
use std::time::Duration;

/// The shapes of the performance issue: the notebook, Stable Diffusion UNet layers, ResNet-50
/// with GroupNorm, and one larger than the caches. All with G = 32 but the notebook's G = 2.
const SHAPES: [([usize; 4], usize); 6] = [
    ([1, 4, 5, 5], 2),
    ([1, 320, 64, 64], 32),
    ([1, 640, 32, 32], 32),
    ([1, 1280, 16, 16], 32),
    ([8, 256, 56, 56], 32),
    ([16, 64, 112, 112], 32),
];

/// The shapes benchmarked channels-last: the Stable Diffusion and ResNet shapes of `SHAPES`.
const CHANNELS_LAST_SHAPES: [([usize; 4], usize); 5] = [
    ([1, 320, 64, 64], 32),
    ([1, 640, 32, 32], 32),
    ([1, 1280, 16, 16], 32),
    ([8, 256, 56, 56], 32),
    ([16, 64, 112, 112], 32),
];

/// Deterministic data with a non-zero mean, without a random-number dependency.
fn data(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 1.0
        })
        .collect()
}

/// A buffer whose values start on a 64-byte boundary, as PyTorch allocates its tensors, or
/// `GROUPNORM_BENCH_OFFSET` floats past one. A large `Vec<f32>` starts 16 bytes past a page
/// boundary, and then most of its vectors straddle two cache lines (see the README's
/// performance section for what that costs).
struct Aligned {
    storage: Vec<f32>,
    start: usize,
    len: usize,
}

impl Aligned {
    fn new(values: &[f32]) -> Aligned {
        let offset = match std::env::var("GROUPNORM_BENCH_OFFSET") {
            Ok(floats) => floats
                .parse()
                .expect("GROUPNORM_BENCH_OFFSET: a number of floats"),
            Err(_) => 0,
        };
        assert!(
            offset < 16,
            "GROUPNORM_BENCH_OFFSET: 0 to 15 floats past 64 bytes"
        );
        let mut storage = vec![0.0f32; values.len() + 32];
        let start = storage.as_ptr().align_offset(64) + offset;
        assert!(start < 32, "a 64-byte boundary within 16 floats");
        storage[start..start + values.len()].copy_from_slice(values);
        Aligned {
            storage,
            start,
            len: values.len(),
        }
    }

    fn get(&self) -> &[f32] {
        &self.storage[self.start..self.start + self.len]
    }

    fn get_mut(&mut self) -> &mut [f32] {
        &mut self.storage[self.start..self.start + self.len]
    }
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool")
}

fn benches(c: &mut Criterion) {
    let pools = (pool(1), pool(2));
    for (shape, num_groups) in SHAPES {
        let len: usize = shape.iter().product();
        bench_shape(
            c,
            &pools,
            Case {
                name: format!("{}_g{num_groups}", shape_name(&shape)),
                shape: &shape,
                num_groups,
                layout: Layout::Contiguous,
                // The kernels' group: `C / G` channels, one after the other.
                roofline_group_len: len / shape[0] / num_groups,
            },
        );
    }
    for (shape, num_groups) in CHANNELS_LAST_SHAPES {
        let len: usize = shape.iter().product();
        bench_shape(
            c,
            &pools,
            Case {
                name: format!("cl_{}_g{num_groups}", shape_name(&shape)),
                shape: &shape,
                num_groups,
                layout: Layout::ChannelsLast,
                // A channels-last group is spread over its sample, so the roofline's group is
                // the whole sample, in memory order: one pass over it for the statistics, one
                // for the output. On 2 threads it takes whole samples per thread, as the
                // kernels do (a single sample stays on one thread, for both).
                roofline_group_len: len / shape[0],
            },
        );
    }
}

/// `1x320x64x64` for `[1, 320, 64, 64]`.
fn shape_name(shape: &[usize]) -> String {
    shape
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

/// One criterion group: a shape in a layout, and the roofline's group for it.
struct Case<'a> {
    name: String,
    shape: &'a [usize],
    num_groups: usize,
    layout: Layout,
    roofline_group_len: usize,
}

/// One criterion group: every available kernel on 1 thread, the best on 2, and the roofline
/// over groups of `roofline_group_len` values on 1 and 2 threads, on the same buffers.
fn bench_shape(c: &mut Criterion, (one, two): &(rayon::ThreadPool, rayon::ThreadPool), case: Case) {
    let Case {
        name,
        shape,
        num_groups,
        layout,
        roofline_group_len: group_len,
    } = case;
    let len: usize = shape.iter().product();
    let channels = shape[1];
    let input = Aligned::new(&data(len, 1));
    let input = input.get();
    let weight = data(channels, 2);
    let bias = data(channels, 3);
    let mut y = Aligned::new(&vec![0.0f32; len]);
    let y = y.get_mut();
    let params = GroupNorm::new(shape, num_groups)
        .with_weight(&weight)
        .with_bias(&bias)
        .with_layout(layout);
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(len as u64));
    if len > 1 << 20 {
        group.sample_size(20);
        group.measurement_time(Duration::from_secs(3));
    }
    let run = |kernel: Kernel, y: &mut [f32]| {
        kernel
            .run(&params, black_box(input), black_box(y), None)
            .expect("valid arguments")
    };
    for kernel in Kernel::available() {
        group.bench_function(format!("{}_1t", kernel.name()), |b| {
            one.install(|| b.iter(|| run(kernel, y)))
        });
    }
    group.bench_function(format!("{}_2t", Kernel::best().name()), |b| {
        two.install(|| b.iter(|| run(Kernel::best(), y)))
    });
    group.bench_function("roofline_1t", |b| {
        b.iter(|| roofline::roofline(black_box(input), black_box(&mut *y), group_len))
    });
    // Below 65536 values the kernels stay on one thread, and there is no 2-thread roofline.
    if len >= 1 << 16 {
        group.bench_function("roofline_2t", |b| {
            two.install(|| {
                b.iter(|| {
                    roofline::roofline_parallel(black_box(input), black_box(&mut *y), group_len)
                })
            })
        });
    }
    group.finish();
}

criterion_group!(groupnorm, benches);
criterion_main!(groupnorm);
