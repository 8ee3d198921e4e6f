#!/usr/bin/env python3
"""Our GroupNorm beside PyTorch's and beside the memory roofline, measured in one run.

    python optimized/benches/compare_pytorch.py [--quick]

1. Runs the criterion benchmarks (`cargo bench -p groupnorm-optimized --bench groupnorm`): every
   kernel on 1 thread, the best kernel on 2 threads, and the roofline (one plain sum over each
   group plus one read, FMA and write per value) on 1 and 2 threads, on the same buffers, which
   start on 64 bytes as PyTorch's tensors do.
2. Times `torch.nn.functional.group_norm` on CPU in float32 on the same shapes, with random
   weight and bias, on 1 and on 2 threads (median of repeated timed batches), each shape and
   thread count in a fresh Python process.
3. Prints a markdown table: shape, threads, ours, PyTorch, PyTorch / ours, the speed-ups of ours
   and of the roofline over 1 thread, and ours as a percentage of the roofline on as many
   threads. Then a second one: every kernel on 1 thread, and its percentage of the roofline.
4. The same for the channels-last layout on the Stable Diffusion and ResNet shapes (criterion
   groups `cl_<shape>_g<G>`), beside `F.group_norm` on
   `x.contiguous(memory_format=torch.channels_last)` and beside the channels-last roofline (the
   roofline with the sample as its group: per sample, one read for the statistics, then one
   read, FMA and write, in memory order, whole samples per thread), with the targets: at least
   90% of the roofline on 1 thread, at least 90% of the roofline's 2-thread speed on 2, and
   ahead of PyTorch's channels_last on every shape.

PyTorch is optional: without it the script says so and still reports ours and the roofline.
`F.group_norm` allocates its output on every call; ours writes into the caller's buffer.
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import time

SHAPES = [
    ((1, 4, 5, 5), 2),
    ((1, 320, 64, 64), 32),
    ((1, 640, 32, 32), 32),
    ((1, 1280, 16, 16), 32),
    ((8, 256, 56, 56), 32),
    ((16, 64, 112, 112), 32),
]
# The shapes benchmarked channels-last (the bench's `CHANNELS_LAST_SHAPES`).
CHANNELS_LAST_SHAPES = SHAPES[1:]
# The channels-last targets: ours at least this fraction of the roofline on as many threads.
ROOFLINE_TARGET = 0.90
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def group_name(shape, groups, prefix=""):
    return prefix + "x".join(map(str, shape)) + f"_g{groups}"


def estimates_path(target_dir, group, function):
    return os.path.join(target_dir, "criterion", group, function, "new", "estimates.json")


def criterion_median_ns(target_dir, group, function):
    with open(estimates_path(target_dir, group, function)) as f:
        return json.load(f)["median"]["point_estimate"]


def run_ours(quick):
    args = ["cargo", "bench", "-p", "groupnorm-optimized", "--bench", "groupnorm", "--"]
    if quick:
        args += ["--warm-up-time", "1", "--measurement-time", "2"]
    print("$ " + " ".join(args), file=sys.stderr)
    subprocess.run(args, cwd=ROOT, check=True, stdout=sys.stderr)
    meta = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )
    return json.loads(meta.stdout)["target_directory"]


def best_kernel(target_dir, group):
    for name in ("avx512", "neon", "avx2", "scalar"):
        if os.path.isdir(os.path.join(target_dir, "criterion", group, f"{name}_2t")):
            return name
    raise SystemExit(f"no benchmark results for {group}")


def print_every_kernel(target_dir, started, shapes=SHAPES, prefix="", layout=""):
    """Every kernel this run benchmarked, on 1 thread, as a percentage of the 1-thread roofline
    (results left by earlier runs, such as another machine's kernels, are skipped)."""
    def ran(group, function):
        path = estimates_path(target_dir, group, function)
        return os.path.exists(path) and os.path.getmtime(path) >= started

    kernels = [k for k in ("scalar", "avx2", "avx512", "neon")
               if any(ran(group_name(shape, groups, prefix), f"{k}_1t")
                      for shape, groups in shapes)]
    print(f"\nEvery kernel on 1 thread{layout}, and its percentage of the 1-thread "
          f"{layout and 'channels-last '}roofline:\n")
    print("| shape | G | roofline | " + " | ".join(kernels) + " |")
    print("|---|---|---|" + "---|" * len(kernels))
    for shape, groups in shapes:
        group = group_name(shape, groups, prefix)
        roofline = criterion_median_ns(target_dir, group, "roofline_1t")
        cells = []
        for kernel in kernels:
            if ran(group, f"{kernel}_1t"):
                ours = criterion_median_ns(target_dir, group, f"{kernel}_1t")
                cells.append(f"{fmt_ns(ours)} ({roofline / ours * 100:.0f}%)")
            else:
                cells.append("n/a")
        shape_s = "(" + ", ".join(map(str, shape)) + ")"
        print(f"| {shape_s} | {groups} | {fmt_ns(roofline)} | " + " | ".join(cells) + " |")


def median_ns(call, min_seconds):
    """Median time of `call`, in batches of about 20 ms, after three warm-up calls."""
    for _ in range(3):
        call()
    start = time.perf_counter()
    call()
    once = max(time.perf_counter() - start, 1e-7)
    per_batch = max(1, int(0.02 / once))
    samples = []
    deadline = time.perf_counter() + min_seconds
    while time.perf_counter() < deadline or len(samples) < 5:
        start = time.perf_counter()
        for _ in range(per_batch):
            call()
        samples.append((time.perf_counter() - start) / per_batch * 1e9)
    return statistics.median(samples)


def time_torch_here(shape, groups, threads, min_seconds, channels_last=False):
    """The time of `torch.nn.functional.group_norm` in this process; with `channels_last`, on
    `x.contiguous(memory_format=torch.channels_last)` (PyTorch's output is channels-last too)."""
    import torch
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen, dtype=torch.float32)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    weight = torch.randn(shape[1], generator=gen)
    bias = torch.randn(shape[1], generator=gen)
    with torch.inference_mode():
        return median_ns(
            lambda: torch.nn.functional.group_norm(x, groups, weight, bias, 1e-5), min_seconds)


def time_torch(shape, groups, threads, min_seconds, channels_last=False):
    """`time_torch_here` in a fresh Python process. glibc's allocator adapts its thresholds to
    what was freed before, so in one process the time of an allocating call depends on the
    shapes timed before it (in one run, (16, 64, 112, 112) took 3.9 ms on 1 thread and 15.1 ms
    on 2, depending on whether its 51 MB output faulted in fresh pages)."""
    spec = [list(shape), groups, threads, min_seconds] + ([True] if channels_last else [])
    args = [sys.executable, os.path.abspath(__file__), "--time-torch", json.dumps(spec)]
    out = subprocess.run(args, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def fmt_ns(ns):
    if ns < 1e3:
        return f"{ns:.0f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns / 1e6:.2f} ms"


def main():
    if sys.argv[1:2] == ["--time-torch"]:
        shape, groups, threads, min_seconds, *channels_last = json.loads(sys.argv[2])
        print(json.dumps(time_torch_here(tuple(shape), groups, threads, min_seconds,
                                         *channels_last)))
        return
    quick = "--quick" in sys.argv[1:]
    started = time.time()
    target_dir = run_ours(quick)
    try:
        import torch
    except ImportError:
        torch = None
        print("PyTorch is not installed: reporting ours and the roofline only "
              "(pip install -r vectors/requirements.txt to compare).")
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    torch_note = f", PyTorch {torch.__version__}" if torch else ""
    print(f"\nCPU: {cpu}, {os.cpu_count()} logical CPUs{torch_note}\n")
    print("| shape | G | threads | kernel | ours | PyTorch | PyTorch / ours "
          "| ours: speed-up over 1 thread | roofline: speed-up over 1 thread "
          "| ours: % of the roofline on as many threads |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for shape, groups in SHAPES:
        group = group_name(shape, groups)
        kernel = best_kernel(target_dir, group)
        roofline_1t = criterion_median_ns(target_dir, group, "roofline_1t")
        ours_1t = criterion_median_ns(target_dir, group, f"{kernel}_1t")
        for threads in (1, 2):
            ours = criterion_median_ns(target_dir, group, f"{kernel}_{threads}t")
            # Below the kernels' parallel threshold there is no 2-thread roofline: the kernels
            # stay on one thread there.
            try:
                roofline = criterion_median_ns(target_dir, group, f"roofline_{threads}t")
            except FileNotFoundError:
                roofline = roofline_1t
            if torch is not None:
                theirs = time_torch(shape, groups, threads, 0.5 if quick else 2.0)
                theirs_s, ratio = fmt_ns(theirs), f"{theirs / ours:.2f}x"
            else:
                theirs_s, ratio = "n/a", "n/a"
            speedup = f"{ours_1t / ours:.2f}x"
            roofline_speedup = f"{roofline_1t / roofline:.2f}x"
            percent = f"{roofline / ours * 100:.0f}%"
            shape_s = "(" + ", ".join(map(str, shape)) + ")"
            print(f"| {shape_s} | {groups} | {threads} | {kernel} | {fmt_ns(ours)} | "
                  f"{theirs_s} | {ratio} | {speedup} | {roofline_speedup} | {percent} |")
    print_every_kernel(target_dir, started)
    print("\nours: criterion median, writing into a preallocated buffer that starts on 64 bytes, "
          "as PyTorch's tensors do. PyTorch: median of timed "
          "batches of `F.group_norm`, which allocates its output on each call, each shape and "
          "thread count in a fresh process. Roofline: one plain sum over each group plus one read, FMA and write "
          "per value, written around the caches above 16 MiB as ours is; on 2 threads with the kernels' placement of work (on 1 thread below 65536 "
          "values, where the kernels stay on one thread).")
    print_channels_last(target_dir, started, torch, quick)


def met(ok):
    return "met" if ok else "**missed**"


def print_channels_last(target_dir, started, torch, quick):
    """The channels-last tables: ours (the best kernel) beside PyTorch's channels_last and the
    channels-last roofline on 1 and 2 threads, with the targets; then every kernel on 1 thread."""
    target = f"{ROOFLINE_TARGET * 100:.0f}%"
    print("\nChannels-last (`Layout::ChannelsLast`; PyTorch: "
          "`x.contiguous(memory_format=torch.channels_last)`):\n")
    torch_head = "PyTorch channels_last | PyTorch / ours | " if torch else ""
    torch_target = " | target: ahead of PyTorch" if torch else ""
    print(f"| shape | G | threads | kernel | ours | {torch_head}"
          "ours: speed-up over 1 thread | roofline: speed-up over 1 thread "
          "| ours: % of the channels-last roofline on as many threads "
          f"| target: >= {target} of the roofline{torch_target} |")
    print("|---|---|---|---|---|" + ("---|---|" if torch else "") + "---|---|---|---|"
          + ("---|" if torch else ""))
    checked = missed = 0
    for shape, groups in CHANNELS_LAST_SHAPES:
        group = group_name(shape, groups, "cl_")
        kernel = best_kernel(target_dir, group)
        roofline_1t = criterion_median_ns(target_dir, group, "roofline_1t")
        ours_1t = criterion_median_ns(target_dir, group, f"{kernel}_1t")
        for threads in (1, 2):
            ours = criterion_median_ns(target_dir, group, f"{kernel}_{threads}t")
            roofline = criterion_median_ns(target_dir, group, f"roofline_{threads}t")
            fraction = roofline / ours
            cells = [fmt_ns(ours)]
            targets = [met(fraction >= ROOFLINE_TARGET)]
            checked += 1
            missed += fraction < ROOFLINE_TARGET
            if torch is not None:
                theirs = time_torch(shape, groups, threads, 0.5 if quick else 2.0,
                                    channels_last=True)
                cells += [fmt_ns(theirs), f"{theirs / ours:.2f}x"]
                targets.append(met(theirs > ours))
                checked += 1
                missed += theirs <= ours
            cells += [f"{ours_1t / ours:.2f}x", f"{roofline_1t / roofline:.2f}x",
                      f"{fraction * 100:.0f}%"]
            shape_s = "(" + ", ".join(map(str, shape)) + ")"
            print(f"| {shape_s} | {groups} | {threads} | {kernel} | " + " | ".join(cells)
                  + " | " + " | ".join(targets) + " |")
    torch_note = "" if torch else " (PyTorch is not installed: its columns are left out)"
    print(f"\nChannels-last targets met: {checked - missed} of {checked}{torch_note}.")
    print_every_kernel(target_dir, started, CHANNELS_LAST_SHAPES, "cl_", " (channels-last)")
    print("\nChannels-last roofline: the roofline with the sample as its group: per sample, one "
          "plain sum over its values, then one read, FMA and write per value, in memory order, "
          "written around the caches above 16 MiB as ours is; on 2 threads whole samples per "
          "thread, as ours. A single sample (N = 1) stays on one thread, for ours and the "
          "roofline alike, so there the 2-thread rows measure one thread. Targets: ours at "
          f"least {target} of the roofline on 1 thread, at least {target} of the roofline's "
          "2-thread speed on 2, and ahead of PyTorch's channels_last.")


if __name__ == "__main__":
    main()
