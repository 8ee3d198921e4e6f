#!/usr/bin/env bash
# Smoke run of the GroupNorm fuzz targets (see README.md): installs cargo-fuzz if it is missing,
# then runs each target for FUZZ_SECONDS (default 60) seconds, one after the other. Every target
# runs even if one fails; the script exits non-zero if any found a crash.
#
#   bash conformance/fuzz/smoke.sh                 every target, 60 s each
#   FUZZ_SECONDS=600 bash conformance/fuzz/smoke.sh
#   bash conformance/fuzz/smoke.sh arguments       only these targets
#
# Needs rustup with a nightly toolchain (FUZZ_TOOLCHAIN, default nightly; installed if missing)
# and a C++ compiler for libFuzzer.
set -euo pipefail

cd "$(dirname "$(realpath "${BASH_SOURCE[0]}")")"
if [[ -d $HOME/.cargo/bin ]]; then PATH=$HOME/.cargo/bin:$PATH; fi

SECONDS_PER_TARGET=${FUZZ_SECONDS:-60}
TOOLCHAIN=${FUZZ_TOOLCHAIN:-nightly}
TARGETS=("$@")
if ((${#TARGETS[@]} == 0)); then TARGETS=(kernels_vs_reference arguments); fi

if ! rustup run "$TOOLCHAIN" rustc --version >/dev/null 2>&1; then
    rustup toolchain install "$TOOLCHAIN" --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
cargo fuzz --version

failed=()
for target in "${TARGETS[@]}"; do
    printf '\n--- %s for %ss\n' "$target" "$SECONDS_PER_TARGET"
    # New inputs go to corpus/ (ignored by git); the committed seeds/ start the run from the
    # coverage of earlier long runs.
    mkdir -p "corpus/$target"
    if ! cargo +"$TOOLCHAIN" fuzz run "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1; then
        failed+=("$target")
    fi
done

if ((${#failed[@]})); then
    printf '\nfuzz targets that found a crash: %s (inputs under artifacts/)\n' "${failed[*]}" >&2
    exit 1
fi
printf '\nno crash in %s\n' "${TARGETS[*]}"
