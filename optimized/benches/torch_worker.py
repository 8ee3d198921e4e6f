#!/usr/bin/env python3
"""PyTorch's side of the interleaved benchmark (`groupnorm.rs` starts one per case and thread
count, so that no call is timed after other shapes' allocations in the same process).

    torch_worker.py '{"shape": [1, 320, 64, 64], "groups": 32, "threads": 1,
                      "channels_last": false, "cpus": [0], "dtype": "float16",
                      "activation": "silu"}'

Sets up `F.group_norm(x, groups, weight, bias, 1e-5)` on CPU, with `x`, `weight` and `bias` in
`dtype` (`float32`, `float16` or `bfloat16`; float32 without it: drawn in float32 and rounded
to it), followed by `F.silu` on its output with `"activation": "silu"` (`"none"` without it),
`x` channels-last in memory with `channels_last` (its output is channels-last too), pinned to
`cpus`, prints `ready`, then for every line read from stdin (a time budget in nanoseconds) runs
the call once untimed and then until the budget is spent, and prints the mean time per call in
nanoseconds. `F.group_norm` allocates its output on every call, and `F.silu` its own.
"""

import json
import os
import sys
import time


def main():
    spec = json.loads(sys.argv[1])
    if spec.get("cpus") and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, spec["cpus"])
    import torch

    torch.set_num_threads(spec["threads"])
    shape, groups = spec["shape"], spec["groups"]
    dtype = {"float32": torch.float32, "float16": torch.float16,
             "bfloat16": torch.bfloat16}[spec.get("dtype", "float32")]
    activation = spec.get("activation", "none")
    if activation not in ("none", "silu"):
        sys.exit(f"torch_worker.py: unknown activation {activation!r}")
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen, dtype=torch.float32).to(dtype)
    if spec["channels_last"]:
        x = x.contiguous(memory_format=torch.channels_last)
    weight = torch.randn(shape[1], generator=gen).to(dtype)
    bias = torch.randn(shape[1], generator=gen).to(dtype)
    F = torch.nn.functional

    if activation == "silu":
        def call():
            F.silu(F.group_norm(x, groups, weight, bias, 1e-5))
    else:
        def call():
            F.group_norm(x, groups, weight, bias, 1e-5)

    with torch.inference_mode():
        call()
        print("ready", flush=True)
        for line in sys.stdin:
            budget = int(line)
            call()
            # The clock is read after batches of calls that double until one takes a hundredth
            # of the budget, as the Rust side does.
            calls, batch = 0, 1
            start = batch_start = time.perf_counter_ns()
            while True:
                for _ in range(batch):
                    call()
                calls += batch
                now = time.perf_counter_ns()
                if now - start >= budget:
                    break
                if now - batch_start < budget // 100:
                    batch *= 2
                batch_start = now
            print((now - start) / calls, flush=True)


if __name__ == "__main__":
    main()
