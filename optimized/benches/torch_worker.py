#!/usr/bin/env python3
"""PyTorch's side of the interleaved benchmark (`groupnorm.rs` starts one per shape and thread
count, so that no call is timed after other shapes' allocations in the same process).

    torch_worker.py '{"shape": [1, 320, 64, 64], "groups": 32, "threads": 1,
                      "channels_last": false, "cpus": [0]}'

Sets up `F.group_norm(x, groups, weight, bias, 1e-5)` on CPU in float32 (`x` channels-last in
memory with `channels_last`; its output is channels-last too), pinned to `cpus`, prints
`ready`, then for every line read from stdin (a time budget in nanoseconds) runs the call
once untimed and then until the budget is spent, and prints the mean time per call in
nanoseconds. `F.group_norm` allocates its output on every call.
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
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen, dtype=torch.float32)
    if spec["channels_last"]:
        x = x.contiguous(memory_format=torch.channels_last)
    weight = torch.randn(shape[1], generator=gen)
    bias = torch.randn(shape[1], generator=gen)

    def call():
        torch.nn.functional.group_norm(x, groups, weight, bias, 1e-5)

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
