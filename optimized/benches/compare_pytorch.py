#!/usr/bin/env python3
"""Our GroupNorm beside PyTorch's and beside the memory roofline, measured side by side.

    python3 optimized/benches/compare_pytorch.py [--quick] [--rounds N] [--round-ms MS]
                                                 [--only SUBSTRING[,SUBSTRING...]]

Runs the interleaved benchmark, `cargo bench -p groupnorm-optimized --bench groupnorm`, with
this Python as PyTorch's side (`--torch`): every kernel on 1 thread, the best kernel on 2, the
roofline on 1 and 2, and `torch.nn.functional.group_norm` on CPU in float32 on 1 and 2, in
turns of 10 ms within each of 41 rounds, every ratio taken within a round; the tables give the
median ratio over the rounds with its quartiles, and the targets of the performance issues,
met or missed. On the same shapes it then measures float16 and bfloat16 (the best kernel, the
16-bit roofline and PyTorch in the same dtype; cases `half_*`) and SiLU in float32 and float16
(ours fused, ours plain, ours plain + a separate SiLU pass, PyTorch's
`F.silu(F.group_norm(x))`; cases `silu_*`): `--only half_,silu_` runs those alone. See the
module docs of `optimized/benches/groupnorm.rs`.

PyTorch is optional: without it the script says so and the benchmark reports ours and the
roofline only. Arguments are passed on to the benchmark.
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    args = ["cargo", "bench", "-p", "groupnorm-optimized", "--bench", "groupnorm", "--"]
    args += sys.argv[1:]
    try:
        import torch

        print(f"PyTorch {torch.__version__}, {sys.executable}", flush=True)
        args += ["--torch", sys.executable]
    except ImportError:
        print("PyTorch is not installed: reporting ours and the roofline only "
              "(pip install -r vectors/requirements.txt to compare).", flush=True)
    print("$ " + " ".join(args), file=sys.stderr, flush=True)
    sys.exit(subprocess.run(args, cwd=ROOT).returncode)


if __name__ == "__main__":
    main()
