#!/usr/bin/env python3
"""Grade PyTorch's own float32 GroupNorm kernel through files: inputs in, results out.

Usage, from the repository root:

    python conformance/examples/pytorch/pytorch_results.py INPUTS.json OUT_DIR

reads an inputs file (format "groupnorm-inputs", version 2) and writes two results files
(format "groupnorm-results", version 1):

* OUT_DIR/pytorch_contiguous.json: ``torch.ops.aten.native_group_norm`` on the input as a
  contiguous tensor;
* OUT_DIR/pytorch_channels_last.json: the same call on the input converted to
  ``torch.channels_last`` (4-D) or ``torch.channels_last_3d`` (5-D), which takes PyTorch's
  channels-last kernel. Other ranks have no channels-last memory format in PyTorch and are
  written as not supported.

Everything runs on the CPU with one thread. Only float32 cases (contiguous or channels-last)
with float32 parameters and no activation are run; any other case is written as not supported,
with the reason. ``y`` is written in the case's layout order, with ``mean`` and ``rstd``;
numbers are encoded as vectors/export.py encodes them (its ``fmt_f32``).

Only torch, numpy and the Python standard library are used.
"""

import json
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ next to vectors/export.py
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "vectors"))
from export import arr, fmt_f32  # noqa: E402  (export.py's top level only defines things)

INPUTS_FORMAT = "groupnorm-inputs"
INPUTS_VERSION = 2
RESULTS_FORMAT = "groupnorm-results"
RESULTS_VERSION = 1

# The v2 case keys that say what kind of case it is, with their defaults.
VARIANT_DEFAULTS = {"layout": "contiguous", "dtype": "float32", "param_dtype": "float32",
                    "activation": "none"}

MEMORY_FORMATS = {4: torch.channels_last, 5: torch.channels_last_3d}


class InputError(Exception):
    pass


def _no_constants(tok):
    raise InputError(f"bare {tok} is not valid JSON")


def _decode_f32(values, where):
    """JSON numbers (or "NaN"/"Infinity"/"-Infinity") parsed as float64, rounded to float32."""
    if not isinstance(values, list):
        raise InputError(f"{where}: not an array")
    out = []
    for v in values:
        if isinstance(v, str):
            try:
                v = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[v]
            except KeyError:
                raise InputError(f"{where}: unknown string {v!r}") from None
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            raise InputError(f"{where}: {v!r} is not a number")
        out.append(float(v))
    return np.array(out, dtype=np.float64).astype(np.float32)


def load_inputs(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f, parse_constant=_no_constants)
    if doc.get("format") != INPUTS_FORMAT:
        raise InputError(f"format is {doc.get('format')!r}, not {INPUTS_FORMAT!r}")
    if doc.get("version") != INPUTS_VERSION:
        raise InputError(f"version is {doc.get('version')!r}, not {INPUTS_VERSION}")
    cases = doc.get("cases")
    if not isinstance(cases, list):
        raise InputError("cases is not an array")
    seen = set()
    for case in cases:
        name = case.get("name")
        if not isinstance(name, str) or name in seen:
            raise InputError(f"case name {name!r} is missing or repeated")
        seen.add(name)
    return cases


LAYOUTS = ("contiguous", "channels_last")


def unsupported_variant(case):
    """Why this example does not run the case, or None when it does."""
    got = {k: case.get(k, d) for k, d in VARIANT_DEFAULTS.items()}
    got_layout = got.pop("layout")
    defaults = {k: v for k, v in VARIANT_DEFAULTS.items() if k != "layout"}
    if got == defaults and got_layout in LAYOUTS:
        return None
    other = ", ".join(f"{k} {v}" for k, v in got.items() if v != defaults[k])
    if got_layout not in LAYOUTS:
        other = ", ".join(filter(None, [f"layout {got_layout}", other]))
    return (f"{other}: this example runs PyTorch's float32 kernel on float32 cases with float32 "
            f"parameters and no activation only")


def tensors(case):
    """x (contiguous), weight, bias and the kernel's N, C, HxW, G, eps from an inputs case."""
    name = case["name"]
    shape = case["shape"]
    if (not isinstance(shape, list) or len(shape) < 2
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        raise InputError(f"{name}.shape: {shape!r} is not a shape of at least 2 dimensions")
    n, c = shape[0], shape[1]
    g = case["num_groups"]
    if not isinstance(g, int) or isinstance(g, bool) or g < 1 or c % g:
        raise InputError(f"{name}.num_groups: {g!r} does not divide C = {c}")
    eps = case["eps"]
    if isinstance(eps, bool) or not isinstance(eps, (int, float)):
        raise InputError(f"{name}.eps: {eps!r} is not a number")
    xs = _decode_f32(case["input"], f"{name}.input")
    if xs.size != math.prod(shape):
        raise InputError(f"{name}.input: {xs.size} values for shape {shape}")
    if case.get("layout", "contiguous") == "channels_last":
        # Memory order (N, *spatial, C), viewed as the logical (N, C, *spatial).
        x = torch.from_numpy(xs).reshape([n, *shape[2:], c]).movedim(-1, 1)
    else:
        x = torch.from_numpy(xs).reshape(shape)
    params = []
    for key in ("weight", "bias"):
        has = case[f"has_{key}"]
        values = case[key]
        if has is not (values is not None):
            raise InputError(f"{name}.{key}: has_{key} is {has!r} but {key} is {values!r}")
        if values is None:
            params.append(None)
            continue
        p = _decode_f32(values, f"{name}.{key}")
        if p.size != c:
            raise InputError(f"{name}.{key}: {p.size} values for C = {c}")
        params.append(torch.from_numpy(p))
    return x, params[0], params[1], (n, c, math.prod(shape[2:]), g, float(eps))


def run(x, weight, bias, dims, layout):
    n, c, hw, g, eps = dims
    y, mean, rstd = torch.ops.aten.native_group_norm(x, weight, bias, n, c, hw, g, eps)
    assert y.dtype == torch.float32 and tuple(y.shape) == tuple(x.shape)
    assert tuple(mean.shape) == (n, g) and tuple(rstd.shape) == (n, g)
    flat = lambda t: t.contiguous().reshape(-1).numpy()
    # y in the case's layout order, whatever y's memory format
    if layout == "channels_last":
        y = y.movedim(1, -1)
    return flat(y), flat(mean), flat(rstd)


def result_entries(cases, channels_last):
    entries = []
    for case in cases:
        why = unsupported_variant(case)
        if why is None:
            x, weight, bias, dims = tensors(case)
            # A channels-last case's input is strided in memory: the contiguous file runs
            # PyTorch's contiguous kernel on it, the channels-last file its channels-last one.
            x = x.contiguous()
            if channels_last:
                fmt = MEMORY_FORMATS.get(x.dim())
                if fmt is None:
                    why = f"PyTorch has no channels-last memory format for a {x.dim()}-D tensor"
                else:
                    x = x.contiguous(memory_format=fmt)
                    assert x.is_contiguous(memory_format=fmt), case["name"]
        if why is not None:
            entries.append((case["name"], why, None))
        else:
            layout = case.get("layout", "contiguous")
            entries.append((case["name"], None, run(x, weight, bias, dims, layout)))
    return entries


def render(subject, entries):
    i = "      "
    parts = []
    for name, why, out in entries:
        if why is not None:
            body = f'{i}"case": {json.dumps(name)},\n{i}"not_supported": {json.dumps(why)}\n'
        else:
            y, mean, rstd = out
            body = (f'{i}"case": {json.dumps(name)},\n'
                    f'{i}"y": {arr(y, fmt_f32)},\n'
                    f'{i}"mean": {arr(mean, fmt_f32)},\n'
                    f'{i}"rstd": {arr(rstd, fmt_f32)}\n')
        parts.append("    {\n" + body + "    }")
    return (
        "{\n"
        f'  "format": {json.dumps(RESULTS_FORMAT)},\n'
        f'  "version": {RESULTS_VERSION},\n'
        f'  "subject": {json.dumps(subject)},\n'
        '  "dtype": "float32",\n'
        '  "results": [\n'
        + ",\n".join(parts)
        + ("\n" if parts else "")
        + "  ]\n}\n"
    )


def check(text, entries):
    """The written text parses back to exactly the bits PyTorch produced."""
    doc = json.loads(text, parse_constant=_no_constants)
    assert list(doc) == ["format", "version", "subject", "dtype", "results"]
    assert len(doc["results"]) == len(entries)
    for got, (name, why, out) in zip(doc["results"], entries):
        assert got["case"] == name
        if why is not None:
            assert got == {"case": name, "not_supported": why}
            continue
        for key, want in zip(("y", "mean", "rstd"), out):
            parsed = _decode_f32(got[key], f"{name}.{key}")
            assert parsed.shape == want.shape, (name, key)
            pn, wn = np.isnan(parsed), np.isnan(want)
            assert (pn == wn).all(), (name, key)
            assert (parsed[~pn].view(np.uint32) == want[~wn].view(np.uint32)).all(), (name, key)


def main(argv):
    if len(argv) != 3:
        print(f"usage: {argv[0]} INPUTS.json OUT_DIR", file=sys.stderr)
        return 2
    inputs, out_dir = argv[1], argv[2]
    torch.set_num_threads(1)
    version = torch.__version__.split("+")[0]
    try:
        cases = load_inputs(inputs)
        with torch.no_grad():
            runs = [("pytorch_contiguous.json", "contiguous", False),
                    ("pytorch_channels_last.json", "channels_last", True)]
            texts = []
            for fname, label, channels_last in runs:
                entries = result_entries(cases, channels_last)
                text = render(f"PyTorch {version} float32, {label}", entries)
                check(text, entries)
                supported = sum(why is None for _, why, _ in entries)
                texts.append((fname, text, supported))
    except (InputError, KeyError, OSError, ValueError, TypeError, AttributeError) as e:
        what = f"missing key {e}" if isinstance(e, KeyError) else str(e)
        print(f"{inputs}: {what}", file=sys.stderr)
        return 2
    os.makedirs(out_dir, exist_ok=True)
    for fname, text, supported in texts:
        path = os.path.join(out_dir, fname)
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        print(f"wrote {path}: {supported} of {len(cases)} cases run")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
