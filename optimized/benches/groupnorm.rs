//! The benchmark: ratios measured side by side. On a shared machine whose speed changes from
//! one second to the next, two sides timed seconds apart (as criterion times one function
//! after another) give ratios that move by tens of percent between runs. Here every side of a
//! shape runs in turn, for `--round-ms` each (10 ms; at least one call), in every one of
//! `--rounds` rounds (41), starting each round with the next side; each ratio is taken within
//! each round and reported as the median over the rounds with its quartiles.
//!
//! The sides of a shape: every kernel this CPU supports on 1 thread, the best kernel on 2
//! threads, the roofline (see `roofline.rs`) on 1 and 2 threads (and on 1 compiled for AVX2
//! alone, for the avx2 kernel, where the best kernel is wider), and with `--torch PYTHON`
//! PyTorch's `F.group_norm` on 1 and 2 threads (`torch_worker.py`, a process per shape and
//! thread count, which answers each round with its own time). The 1-thread sides run on the
//! first CPU this process may use and the 2-thread ones on the first two (pinned, on Linux).
//! Contiguous in `(N, C, H, W)`, and channels-last (`Layout::ChannelsLast`) on the large
//! shapes, beside the channels-last roofline (the roofline with the sample as its group).
//!
//! ```text
//! cargo bench -p groupnorm-optimized --bench groupnorm -- [--quick] [--rounds N]
//!     [--round-ms MS] [--torch PYTHON] [--only SUBSTRING]
//! ```
//!
//! `optimized/benches/compare_pytorch.py` runs it with PyTorch. The buffers start on 64 bytes;
//! `GROUPNORM_BENCH_OFFSET=4` starts them 4 floats (16 bytes) past, where a large `Vec<f32>`
//! starts.

mod roofline;

use groupnorm_optimized::{GroupNorm, Kernel, Layout};
use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// The shapes of the performance issues: the notebook, Stable Diffusion UNet layers, ResNet-50
/// with GroupNorm, and one larger than the caches. All with G = 32 but the notebook's G = 2.
const SHAPES: [([usize; 4], usize); 6] = [
    ([1, 4, 5, 5], 2),
    ([1, 320, 64, 64], 32),
    ([1, 640, 32, 32], 32),
    ([1, 1280, 16, 16], 32),
    ([8, 256, 56, 56], 32),
    ([16, 64, 112, 112], 32),
];

/// From this many values calls are shared among threads; below it both the kernels and the
/// 2-thread roofline stay on one thread.
const MIN_PARALLEL_LEN: usize = 1 << 16;

/// The targets of the performance issues, as fractions of the roofline on as many threads.
const ROOFLINE_TARGET: f64 = 0.90;
const NOTEBOOK_TARGET: f64 = 0.80;

struct Options {
    rounds: usize,
    round: Duration,
    torch: Option<String>,
    only: Option<String>,
}

impl Options {
    fn parse() -> Options {
        let mut options = Options {
            rounds: 41,
            round: Duration::from_millis(10),
            torch: None,
            only: None,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .unwrap_or_else(|| panic!("{name} needs a value"))
            };
            match arg.as_str() {
                "--quick" => options.rounds = 15,
                "--rounds" => options.rounds = value("--rounds").parse().expect("a count"),
                "--round-ms" => {
                    let ms: u64 = value("--round-ms").parse().expect("milliseconds");
                    options.round = Duration::from_millis(ms);
                }
                "--torch" => options.torch = Some(value("--torch")),
                "--only" => options.only = Some(value("--only")),
                // `cargo bench` passes `--bench`.
                "--bench" => {}
                other => panic!("unknown argument {other} (see the module docs)"),
            }
        }
        assert!(options.rounds > 0, "--rounds: at least one");
        options
    }
}

fn main() {
    let options = Options::parse();
    let cpus = pinning::usable_cpus();
    if cpus.len() < 2 {
        eprintln!("warning: fewer than 2 usable CPUs: the 2-thread sides share one");
    }
    let pools = Pools {
        one: pool(1, &cpus),
        two: pool(2, &cpus),
    };
    println!(
        "CPU: {}, {} usable CPUs; {} rounds of {:?} per side{}\n",
        cpu_name(),
        cpus.len(),
        options.rounds,
        options.round,
        if options.torch.is_some() {
            ", PyTorch through torch_worker.py"
        } else {
            " (no PyTorch: --torch PYTHON adds it)"
        }
    );
    let mut contiguous = Vec::new();
    let mut channels_last = Vec::new();
    for (shape, num_groups) in SHAPES {
        for layout in [Layout::Contiguous, Layout::ChannelsLast] {
            // The notebook's shape is too small to tell the layouts apart.
            if layout == Layout::ChannelsLast && shape[2] * shape[3] < 64 {
                continue;
            }
            let case = Case::new(&shape, num_groups, layout);
            if options
                .only
                .as_ref()
                .is_some_and(|only| !case.name.contains(only))
            {
                continue;
            }
            eprintln!("measuring {}", case.name);
            let measured = measure(case, &pools, &cpus, &options);
            match layout {
                Layout::ChannelsLast => channels_last.push(measured),
                _ => contiguous.push(measured),
            }
        }
    }
    report::print(&contiguous, "contiguous", "roofline");
    report::print(&channels_last, "channels-last", "channels-last roofline");
    report::targets(&contiguous, &channels_last);
}

/// A shape in a layout, and the roofline's group for it.
struct Case {
    name: String,
    shape: [usize; 4],
    num_groups: usize,
    layout: Layout,
    roofline_group_len: usize,
}

impl Case {
    fn new(shape: &[usize; 4], num_groups: usize, layout: Layout) -> Case {
        let len: usize = shape.iter().product();
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        let prefix = if layout == Layout::ChannelsLast {
            "cl_"
        } else {
            ""
        };
        Case {
            name: format!("{prefix}{}_g{num_groups}", dims.join("x")),
            shape: *shape,
            num_groups,
            layout,
            roofline_group_len: match layout {
                // A channels-last group is spread over its sample, so the roofline's group is
                // the whole sample, in memory order; on 2 threads it takes whole samples per
                // thread, as the kernels do (a single sample stays on one thread, for both).
                Layout::ChannelsLast => len / shape[0],
                // The kernels' group: `C / G` channels, one after the other.
                _ => len / shape[0] / num_groups,
            },
        }
    }

    fn len(&self) -> usize {
        self.shape.iter().product()
    }
}

/// The median time per call of every side, and the per-round times they come from.
struct Measured {
    case: Case,
    best: &'static str,
    sides: Vec<(String, Vec<f64>)>,
}

impl Measured {
    /// The per-round times of `side`, if it was measured.
    fn times(&self, side: &str) -> Option<&[f64]> {
        self.sides
            .iter()
            .find(|(name, _)| name == side)
            .map(|(_, times)| times.as_slice())
    }

    /// How many times faster `fast` is than `slow` in each round: the median and quartiles.
    fn speedup(&self, fast: &str, slow: &str) -> Option<Spread> {
        let (fast, slow) = (self.times(fast)?, self.times(slow)?);
        Some(Spread::of(
            fast.iter().zip(slow).map(|(f, s)| s / f).collect(),
        ))
    }

    fn median_ns(&self, side: &str) -> Option<f64> {
        Some(Spread::of(self.times(side)?.to_vec()).median)
    }

    /// The roofline on `threads` threads: below `MIN_PARALLEL_LEN` values the 1-thread one.
    fn roofline(&self, threads: usize) -> &'static str {
        if threads == 2 && self.case.len() >= MIN_PARALLEL_LEN {
            "roofline_2t"
        } else {
            "roofline_1t"
        }
    }
}

/// A median with its quartiles.
#[derive(Clone, Copy)]
struct Spread {
    median: f64,
    low: f64,
    high: f64,
}

impl Spread {
    fn of(mut values: Vec<f64>) -> Spread {
        values.sort_by(f64::total_cmp);
        let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
        Spread {
            median: at(0.5),
            low: at(0.25),
            high: at(0.75),
        }
    }
}

struct Pools {
    one: rayon::ThreadPool,
    two: rayon::ThreadPool,
}

/// A pool of `threads` threads, each pinned to one of `cpus` in turn.
fn pool(threads: usize, cpus: &[usize]) -> rayon::ThreadPool {
    let cpus = cpus.to_vec();
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .start_handler(move |index| pinning::pin(&[cpus[index % cpus.len()]]))
        .build()
        .expect("a rayon pool")
}

/// One side of a ratio: each call runs it for a round and returns its time per call in ns.
type Side<'a> = (String, Box<dyn FnMut(Duration) -> f64 + 'a>);

/// Every side of `case`, interleaved in rounds.
fn measure(case: Case, pools: &Pools, cpus: &[usize], options: &Options) -> Measured {
    let len = case.len();
    let input = Aligned::new(&data(len, 1));
    let input = input.get();
    let weight = data(case.shape[1], 2);
    let bias = data(case.shape[1], 3);
    let params = GroupNorm::new(&case.shape, case.num_groups)
        .with_weight(&weight)
        .with_bias(&bias)
        .with_layout(case.layout);
    let params = &params;
    let best = Kernel::best();
    let group_len = case.roofline_group_len;
    let mut sides: Vec<Side<'_>> = Vec::new();
    for kernel in Kernel::available() {
        sides.push(local_side(
            format!("{kernel}_1t"),
            &pools.one,
            input,
            move |x, y| kernel.run(params, x, y, None).expect("valid arguments"),
        ));
    }
    sides.push(local_side(
        format!("{best}_2t"),
        &pools.two,
        input,
        move |x, y| best.run(params, x, y, None).expect("valid arguments"),
    ));
    sides.push(local_side(
        "roofline_1t".into(),
        &pools.one,
        input,
        move |x, y| roofline::roofline(x, y, group_len),
    ));
    // Where the best kernel is wider than avx2, the roofline as a machine with AVX2 alone runs
    // it, for the avx2 kernel.
    if best.name() != "avx2" && Kernel::available().any(|k| k.name() == "avx2") {
        sides.push(local_side(
            "roofline_avx2_1t".into(),
            &pools.one,
            input,
            move |x, y| {
                let ran = roofline::roofline_without_avx512(x, y, group_len);
                assert!(ran, "the avx2 kernel runs, so AVX2 and FMA are there");
            },
        ));
    }
    if len >= MIN_PARALLEL_LEN {
        sides.push(local_side(
            "roofline_2t".into(),
            &pools.two,
            input,
            move |x, y| roofline::roofline_parallel(x, y, group_len),
        ));
    }
    if let Some(python) = &options.torch {
        for threads in [1, 2] {
            let cpus = &cpus[..threads.min(cpus.len())];
            let mut worker = TorchWorker::start(python, &case, threads, cpus);
            sides.push((
                format!("torch_{threads}t"),
                Box::new(move |round| worker.round(round)),
            ));
        }
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(options.rounds); sides.len()];
    for round in 0..options.rounds {
        for turn in 0..sides.len() {
            let side = (round + turn) % sides.len();
            times[side].push((sides[side].1)(options.round));
        }
    }
    let sides = sides.into_iter().map(|(name, _)| name).zip(times).collect();
    Measured {
        case,
        best: best.name(),
        sides,
    }
}

/// A side that runs `call(input, y)` on `pool`, into an output `y` of its own, both through
/// `black_box`.
fn local_side<'a>(
    name: String,
    pool: &'a rayon::ThreadPool,
    input: &'a [f32],
    mut call: impl FnMut(&[f32], &mut [f32]) + Send + 'a,
) -> Side<'a> {
    let mut y = Aligned::new(&vec![0.0; input.len()]);
    let round = move |round| {
        pool.install(|| time_calls(round, || call(black_box(input), black_box(y.get_mut()))))
    };
    (name, Box::new(round))
}

/// Runs `call` once, then again until `round` has passed (at least once): ns per timed call.
/// The clock is read after batches of calls, each twice as long as the one before until a batch
/// takes a hundredth of the round, so that reading it (tens of ns) does not count in calls of
/// a few hundred ns.
fn time_calls(round: Duration, mut call: impl FnMut()) -> f64 {
    call();
    let start = Instant::now();
    let (mut calls, mut batch, mut batch_start) = (0u64, 1u64, start);
    loop {
        for _ in 0..batch {
            call();
        }
        calls += batch;
        let now = Instant::now();
        if now - start >= round {
            return (now - start).as_nanos() as f64 / calls as f64;
        }
        if now - batch_start < round / 100 {
            batch *= 2;
        }
        batch_start = now;
    }
}

/// A `torch_worker.py` process for one shape and thread count.
struct TorchWorker {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl TorchWorker {
    fn start(python: &str, case: &Case, threads: usize, cpus: &[usize]) -> TorchWorker {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/torch_worker.py");
        let spec = format!(
            r#"{{"shape": {:?}, "groups": {}, "threads": {threads}, "channels_last": {}, "cpus": {cpus:?}}}"#,
            case.shape,
            case.num_groups,
            case.layout == Layout::ChannelsLast,
        );
        let mut child = Command::new(python)
            .arg(script)
            .arg(spec)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{python} {script}: {e}"));
        let stdin = child.stdin.take().expect("piped");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("the worker's first line");
        assert_eq!(line.trim(), "ready", "torch_worker.py did not start");
        TorchWorker {
            child,
            stdin,
            stdout,
        }
    }

    fn round(&mut self, round: Duration) -> f64 {
        writeln!(self.stdin, "{}", round.as_nanos()).expect("the worker reads rounds");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("the worker's time");
        line.trim()
            .parse()
            .unwrap_or_else(|_| panic!("torch_worker.py answered {line:?}"))
    }
}

impl Drop for TorchWorker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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

/// The CPU's model name, from `/proc/cpuinfo` where there is one.
fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|name| name.trim().to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned())
}

/// Pinning threads to CPUs, on Linux; elsewhere threads are left where the OS puts them.
mod pinning {
    /// The CPUs this process may run on, in order.
    #[cfg(target_os = "linux")]
    pub fn usable_cpus() -> Vec<usize> {
        // SAFETY: `set` is a plain bit set that `sched_getaffinity` fills for this process.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) != 0 {
                return vec![0];
            }
            (0..libc::CPU_SETSIZE as usize)
                .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
                .collect()
        }
    }

    /// Pins the calling thread to `cpus`.
    #[cfg(target_os = "linux")]
    pub fn pin(cpus: &[usize]) {
        // SAFETY: `set` is a plain bit set, filled with valid CPU numbers, read by
        // `sched_setaffinity` for the calling thread.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            for &cpu in cpus {
                libc::CPU_SET(cpu, &mut set);
            }
            libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub fn usable_cpus() -> Vec<usize> {
        let count = std::thread::available_parallelism().map_or(1, |n| n.get());
        (0..count).collect()
    }

    #[cfg(not(target_os = "linux"))]
    pub fn pin(_cpus: &[usize]) {}
}

/// The tables.
mod report {
    use super::{Measured, Spread, NOTEBOOK_TARGET, ROOFLINE_TARGET};

    fn shape(measured: &Measured) -> String {
        let dims: Vec<String> = measured.case.shape.iter().map(|d| d.to_string()).collect();
        format!("({})", dims.join(", "))
    }

    fn time(ns: Option<f64>) -> String {
        match ns {
            None => "n/a".into(),
            Some(ns) if ns < 1e3 => format!("{ns:.0} ns"),
            Some(ns) if ns < 1e6 => format!("{:.1} µs", ns / 1e3),
            Some(ns) => format!("{:.2} ms", ns / 1e6),
        }
    }

    fn times(spread: Option<Spread>) -> String {
        spread.map_or("n/a".into(), |s| {
            format!("{:.2}x ({:.2}-{:.2})", s.median, s.low, s.high)
        })
    }

    fn percent(spread: Option<Spread>) -> String {
        spread.map_or("n/a".into(), |s| {
            format!(
                "{:.0}% ({:.0}-{:.0})",
                s.median * 100.0,
                s.low * 100.0,
                s.high * 100.0
            )
        })
    }

    /// The table of one layout: the best kernel on 1 and 2 threads beside PyTorch and the
    /// roofline, then every kernel on 1 thread.
    pub fn print(all: &[Measured], layout: &str, roofline: &str) {
        if all.is_empty() {
            return;
        }
        println!("\n{layout}: the best kernel, PyTorch and the {roofline}\n");
        println!(
            "| shape | G | threads | kernel | ours | PyTorch | PyTorch / ours | ours: % of the \
             {roofline} on as many threads | ours: 2 threads / 1 | roofline: 2 threads / 1 |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|");
        for m in all {
            for threads in [1, 2] {
                let ours = format!("{}_{threads}t", m.best);
                let torch = format!("torch_{threads}t");
                let (own_gain, roofline_gain) = if threads == 2 {
                    let own = m.speedup(&ours, &format!("{}_1t", m.best));
                    let roofline = m.speedup("roofline_2t", "roofline_1t");
                    (times(own), times(roofline))
                } else {
                    (String::new(), String::new())
                };
                println!(
                    "| {} | {} | {threads} | {} | {} | {} | {} | {} | {own_gain} | \
                     {roofline_gain} |",
                    shape(m),
                    m.case.num_groups,
                    m.best,
                    time(m.median_ns(&ours)),
                    time(m.median_ns(&torch)),
                    times(m.speedup(&ours, &torch)),
                    percent(m.speedup(&ours, m.roofline(threads))),
                )
            }
        }
        let kernels: Vec<&str> = all[0]
            .sides
            .iter()
            .filter_map(|(name, _)| name.strip_suffix("_1t"))
            .filter(|name| !name.starts_with("roofline") && *name != "torch")
            .collect();
        println!("\n{layout}, every kernel on 1 thread: time and % of the {roofline}\n");
        println!("| shape | G | roofline | {} |", kernels.join(" | "));
        println!("|---|---|---|{}", "---|".repeat(kernels.len()));
        for m in all {
            let cells: Vec<String> = kernels
                .iter()
                .map(|k| {
                    let side = format!("{k}_1t");
                    let cell = format!(
                        "{} {}",
                        time(m.median_ns(&side)),
                        percent(m.speedup(&side, "roofline_1t"))
                    );
                    match m.speedup(&side, "roofline_avx2_1t") {
                        Some(s) if *k == "avx2" => {
                            format!("{cell}; {} of the AVX2 roofline", percent(Some(s)))
                        }
                        _ => cell,
                    }
                })
                .collect();
            println!(
                "| {} | {} | {} | {} |",
                shape(m),
                m.case.num_groups,
                time(m.median_ns("roofline_1t")),
                cells.join(" | ")
            );
        }
        println!(
            "\nMedians over the rounds, quartiles in brackets; times are this machine's. Ours \
             writes into a buffer allocated once; PyTorch's `F.group_norm` allocates its output \
             on every call."
        );
    }

    /// Each target of the performance issues, met or missed, on the medians.
    pub fn targets(contiguous: &[Measured], channels_last: &[Measured]) {
        let mut lines = Vec::new();
        for m in contiguous.iter().chain(channels_last) {
            let notebook = m.case.len() < super::MIN_PARALLEL_LEN;
            for threads in [1, 2] {
                let ours = format!("{}_{threads}t", m.best);
                // Two threads are held to the roofline only where, in this run, it gains more
                // than 10% from them (the issue's rule); every row is held to PyTorch.
                let held = threads == 1
                    || m.speedup(m.roofline(2), "roofline_1t")
                        .is_some_and(|s| s.median > 1.1);
                let target = if notebook {
                    NOTEBOOK_TARGET
                } else {
                    ROOFLINE_TARGET
                };
                if let Some(s) = m.speedup(&ours, m.roofline(threads)).filter(|_| held) {
                    lines.push((
                        s.median >= target,
                        format!(
                            "{} {threads}t: {:.0}% of the roofline (target {:.0}%)",
                            m.case.name,
                            s.median * 100.0,
                            target * 100.0
                        ),
                    ));
                }
                if let Some(s) = m.speedup(&ours, &format!("torch_{threads}t")) {
                    lines.push((
                        s.median > 1.0,
                        format!(
                            "{} {threads}t: {:.2}x PyTorch (target > 1)",
                            m.case.name, s.median
                        ),
                    ));
                }
            }
            if notebook {
                if let Some(s) = m.speedup(&format!("{}_2t", m.best), &format!("{}_1t", m.best)) {
                    // No slower: 1 within the quartiles at least (the upper quartile at 1 or
                    // more), as the same call on either pool should measure.
                    lines.push((
                        s.high >= 1.0,
                        format!(
                            "{} 2t: {:.2}x its 1t speed, quartiles {:.2}-{:.2} (target: no \
                             slower, the upper quartile at 1 or more)",
                            m.case.name, s.median, s.low, s.high
                        ),
                    ));
                }
            }
        }
        let met = lines.iter().filter(|(ok, _)| *ok).count();
        println!("\nTargets met: {met} of {}\n", lines.len());
        for (ok, line) in lines {
            println!("- {} {line}", if ok { "met" } else { "**missed**" });
        }
    }
}
