#!/usr/bin/env python3
"""Export GroupNorm conformance vectors from real PyTorch.

Run from the repository root:

    python vectors/export.py

Every expected value comes from ``torch.ops.aten.native_group_norm`` (CPU,
single-threaded), run once in float32 and once in float64 on the same inputs
upcast with ``.double()``. Nothing is computed by hand. Inputs come from
``torch.Generator().manual_seed(...)`` with a fixed seed per case, so the output
is byte-for-byte reproducible. See vectors/README.md for the file format
(schema version 2). Every case is float32 with float32 parameters and no
activation, contiguous except those of channels_last.json, except those of
half_precision.json (float16 and bfloat16 input, run also in float32 on the
values upcast) and silu.json (``F.silu`` after the GroupNorm, in float32, float16
and bfloat16).

Only torch, numpy and the Python standard library are used.
"""

import json
import math
import os
import re
import sys
import zlib

import numpy as np
import torch
import torch.nn.functional as F

PINNED_TORCH = "2.15.0"
FORMAT = "groupnorm-vectors"
VERSION = 2
GENERATOR = "vectors/export.py"

# Values of the per-case keys of schema version 2 (see vectors/README.md).
LAYOUTS = ("contiguous", "channels_last")
DTYPES = ("float32", "float16", "bfloat16")
ACTIVATIONS = ("none", "silu")

TORCH_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
SHORT = {"float32": "f32", "float16": "f16", "bfloat16": "bf16"}
# Machine epsilon of each type: the unit the exporter prints errors in.
EPS = {"float32": 2.0 ** -23, "float16": 2.0 ** -10, "bfloat16": 2.0 ** -7}
UNIT = {"float32": "eps32", "float16": "eps16", "bfloat16": "epsbf16"}

# PyTorch's channels-last memory formats, by tensor rank. Other ranks have none.
CHANNELS_LAST_FORMATS = {4: torch.channels_last, 5: torch.channels_last_3d}

HERE = os.path.dirname(os.path.abspath(__file__))

JSON_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?\Z")
NAME_RE = re.compile(r"[a-z0-9]+(_[a-z0-9]+)*\Z")


# --------------------------------------------------------------------------
# Number encoding
# --------------------------------------------------------------------------

def _nonfinite(v):
    if math.isnan(v):
        return '"NaN"'
    return '"Infinity"' if v > 0 else '"-Infinity"'


def fmt_f32(v):
    """Shortest decimal that round-trips float32 bits through a float64 parser."""
    f = np.float32(v)
    if not np.isfinite(f):
        return _nonfinite(float(f))
    pos = np.format_float_positional(f, unique=True)
    if pos.endswith("."):
        pos += "0"
    sci = np.format_float_scientific(f, unique=True, trim="-")
    s = sci if len(sci) < len(pos) else pos
    want = f.view(np.uint32)
    if np.float32(float(s)).view(np.uint32) != want:
        s = repr(float(f))  # exact float64 value of the float32: always round-trips
        assert np.float32(float(s)).view(np.uint32) == want, s
    assert JSON_NUMBER.match(s), s
    return s


def fmt_f64(v):
    v = float(v)
    if not math.isfinite(v):
        return _nonfinite(v)
    s = repr(v)
    assert JSON_NUMBER.match(s), s
    return s


def arr(values, fmt):
    return "[" + ", ".join(fmt(v) for v in values) + "]"


def flat_np(t):
    return t.detach().contiguous().reshape(-1).numpy()


def memory_order(t, layout):
    """The values of t, of logical shape (N, C, *spatial), flattened in the layout's order:
    (N, C, *spatial) for "contiguous", (N, *spatial, C) for "channels_last"."""
    if layout == "channels_last":
        t = t.movedim(1, -1)
    return flat_np(t)


def logical_order(flat, shape, layout):
    """The inverse of memory_order, in numpy: flat values in layout order -> array of shape."""
    if layout == "contiguous":
        return flat.reshape(shape)
    n, c, *spatial = shape
    return np.moveaxis(flat.reshape((n, *spatial, c)), -1, 1)


# --------------------------------------------------------------------------
# Running PyTorch
# --------------------------------------------------------------------------

def native(x, weight, bias, num_groups, eps):
    n, c = x.shape[0], x.shape[1]
    hw = 1
    for d in x.shape[2:]:
        hw *= d
    return torch.ops.aten.native_group_norm(x, weight, bias, n, c, hw, num_groups, eps)


def outputs(result, layout, dtype):
    """native_group_norm's (y, mean, rstd) as flat numpy arrays, y in the layout's order."""
    y, mean, rstd = result
    assert y.dtype == dtype
    return memory_order(y, layout), flat_np(mean), flat_np(rstd)


def channels_last_run(x, weight, bias, num_groups, eps):
    """PyTorch on the channels-last form of x (logical shape, contiguous float32).

    Returns (f32, f64_contiguous, f64_channels_last, note): each result a tuple of outputs()
    with y in channels-last order; f64_channels_last is None where PyTorch has no
    channels-last kernel for the case; note says in words where the values come from.

    The case's expected float64 block is f64_contiguous, never f64_channels_last: PyTorch's
    float64 channels-last kernel accumulates plain sums of x and x*x per group, which loses
    digits as the mean grows (report_channels_last_float64 prints how far it is from the
    contiguous kernel; on x = 1e7 + randn its rstd is 21% off). The contiguous one is what
    every other file's float64 block comes from.
    """
    dbl = lambda t: None if t is None else t.double()
    f64_contiguous = outputs(native(x.double(), dbl(weight), dbl(bias), num_groups, eps),
                             "channels_last", torch.float64)
    fmt = CHANNELS_LAST_FORMATS.get(x.dim())
    if fmt is None:
        # No channels-last memory format: the stored form is x.movedim(1, -1).contiguous(),
        # and PyTorch's only kernel for it is the contiguous one, on the tensor moved back.
        stored = x.movedim(1, -1).contiguous()
        back = stored.movedim(-1, 1).contiguous()
        assert torch.equal(back, x)
        f32 = outputs(native(back, weight, bias, num_groups, eps), "channels_last", torch.float32)
        if x.dim() == 2:
            note = ("For an (N, C) input the two orders coincide and PyTorch has no "
                    "channels-last format: float32 and float64 are its contiguous results.")
        else:
            note = (f"PyTorch has no channels-last memory format for a {x.dim()}-D input: "
                    "float32 and float64 are its contiguous results permuted to "
                    "channels-last order.")
        return f32, f64_contiguous, None, note

    xs = x.contiguous(memory_format=fmt)
    assert xs.is_contiguous(memory_format=fmt)
    y32 = native(xs, weight, bias, num_groups, eps)
    assert y32[0].is_contiguous(memory_format=fmt)
    xd = xs.double()
    assert xd.is_contiguous(memory_format=fmt)
    y64 = native(xd, dbl(weight), dbl(bias), num_groups, eps)
    assert y64[0].is_contiguous(memory_format=fmt)
    f32 = outputs(y32, "channels_last", torch.float32)
    f64_channels_last = outputs(y64, "channels_last", torch.float64)
    if xs.is_contiguous():
        # One channel (or no spatial extent): the two orders are the same memory, and PyTorch
        # computes exactly what it computes for the contiguous tensor. Check that it does.
        c32 = outputs(native(x, weight, bias, num_groups, eps), "channels_last", torch.float32)
        for a, b in zip(f32 + f64_channels_last, c32 + f64_contiguous):
            assert a.tobytes() == b.tobytes()
        note = ("Here the channels-last and contiguous orders are the same memory, and PyTorch's "
                "float32 and float64 results on it equal its contiguous ones bit for bit.")
    else:
        note = ("Expected float32 from PyTorch's channels-last kernel; expected float64 from "
                "PyTorch's contiguous float64 kernel, permuted to channels-last order (its "
                "channels-last float64 kernel, which sums x and x*x, is less accurate).")
    return f32, f64_contiguous, f64_channels_last, note


def to_type(t, dtype):
    """t (float32) rounded to dtype and back to float32, which holds it exactly; None stays None.
    No finite value may round to an infinity."""
    if t is None:
        return None
    r = t.to(TORCH_DTYPES[dtype]).float()
    assert bool((torch.isfinite(r) == torch.isfinite(t)).all()), f"a value overflows {dtype}"
    return r


def holds(t, dtype):
    """Whether every value of the float32 tensor t is a value of dtype (NaN and +-inf are)."""
    return torch.equal(torch.nan_to_num(to_type(t, dtype)), torch.nan_to_num(t)) and bool(
        (torch.isnan(to_type(t, dtype)) == torch.isnan(t)).all())


def stats_dtype(dtype, param_dtype, has_parameters):
    """The type of PyTorch's mean and rstd: float32 when the parameters are float32 (its
    mixed-type path, for half input) or the input is float32; else the input's type (half
    parameters, or none). validate() checks every case against what PyTorch returned."""
    if dtype == "float32" or (has_parameters and param_dtype == "float32"):
        return "float32"
    return dtype


def typed_run(x, weight, bias, num_groups, eps, layout, dtype, param_dtype, activation):
    """PyTorch on x (contiguous float32, logical shape, values of dtype) in the case's own types:
    the input as dtype, weight and bias as param_dtype, in the layout's memory format where
    PyTorch has one (4-D and 5-D), then F.silu in that type for a silu case. Returns
    (y, mean, rstd) as float32 numpy arrays (exact: float32 holds the half types), y in the
    layout's order."""
    tdt, pdt = TORCH_DTYPES[dtype], TORCH_DTYPES[param_dtype]
    conv = lambda t, d: None if t is None else t.to(d)
    xt = x.to(tdt)
    fmt = CHANNELS_LAST_FORMATS.get(x.dim()) if layout == "channels_last" else None
    if fmt is not None:
        xt = xt.contiguous(memory_format=fmt)
        assert xt.is_contiguous(memory_format=fmt)
    y, mean, rstd = native(xt, conv(weight, pdt), conv(bias, pdt), num_groups, eps)
    assert y.dtype == tdt
    want = TORCH_DTYPES[stats_dtype(dtype, param_dtype, weight is not None or bias is not None)]
    assert mean.dtype == want and rstd.dtype == want, (mean.dtype, want)
    if activation == "silu":
        y = F.silu(y)
        assert y.dtype == tdt
    if fmt is not None:
        assert y.is_contiguous(memory_format=fmt)
    return memory_order(y.float(), layout), flat_np(mean.float()), flat_np(rstd.float())


class Case:
    def __init__(self, name, description, x, num_groups, eps=1e-5, weight=None, bias=None,
                 layout="contiguous", dtype="float32", param_dtype="float32", activation="none"):
        assert layout in LAYOUTS and dtype in DTYPES and param_dtype in DTYPES, name
        assert activation in ACTIVATIONS, name
        # PyTorch takes float32 parameters with any input, and half parameters only with
        # input of the same type.
        assert param_dtype in ("float32", dtype), name
        assert x.dtype == torch.float32
        assert NAME_RE.match(name), name
        c = x.shape[1]
        assert c % num_groups == 0, name
        if weight is not None:
            assert weight.dtype == torch.float32 and tuple(weight.shape) == (c,)
            assert holds(weight, param_dtype), name
        if bias is not None:
            assert bias.dtype == torch.float32 and tuple(bias.shape) == (c,)
            assert holds(bias, param_dtype), name
        assert holds(x, dtype), name
        self.name = name
        self.description = description
        self.x = x.contiguous()  # logical (N, C, *spatial); render() writes it in layout order
        self.num_groups = num_groups
        self.eps = float(eps)
        self.layout = layout
        self.dtype = dtype
        self.param_dtype = param_dtype
        self.activation = activation
        self.weight = weight
        self.bias = bias
        # f32 and f64 are the expected blocks, (y, mean, rstd) with y in layout order.
        # f64_channels_last is PyTorch's float64 channels-last kernel, kept for comparison only.
        self.f64_channels_last = None
        self.stats_dtype = stats_dtype(dtype, param_dtype, weight is not None or bias is not None)

        if (dtype, param_dtype, activation) != ("float32", "float32", "none"):
            self._typed(description)
        elif layout == "contiguous":
            y, mean, rstd = native(self.x, weight, bias, num_groups, self.eps)
            assert y.dtype == torch.float32 and tuple(y.shape) == tuple(x.shape)
            assert tuple(mean.shape) == (x.shape[0], num_groups)
            self.f32 = (flat_np(y), flat_np(mean), flat_np(rstd))

            dbl = lambda t: None if t is None else t.double()
            y, mean, rstd = native(self.x.double(), dbl(weight), dbl(bias), num_groups, self.eps)
            assert y.dtype == torch.float64
            self.f64 = (flat_np(y), flat_np(mean), flat_np(rstd))
        else:
            self.f32, self.f64, self.f64_channels_last, note = channels_last_run(
                self.x, weight, bias, num_groups, self.eps)
            self.description = f"{description} {note}"
        if not hasattr(self, "blocks"):
            self.blocks = [("float32", self.f32), ("float64", self.f64)]
        n = int(np.prod(x.shape))
        assert all(len(v[0]) == n and len(v[1]) == x.shape[0] * num_groups
                   for _, v in self.blocks)

    def _typed(self, description):
        """The expected blocks of a case in a half type or with an activation.

        * float64: PyTorch's contiguous float64 kernel on the values upcast (then F.silu in
          float64), permuted to the layout's order, as for every channels-last case;
        * the block named by dtype: PyTorch in the case's own types (typed_run);
        * for a half type, "float32" too: PyTorch float32 on the input, weight and bias upcast,
          in the same layout (its channels-last kernel for 4-D and 5-D), then F.silu in float32.
        """
        dbl = lambda t: None if t is None else t.double()
        y, mean, rstd = native(self.x.double(), dbl(self.weight), dbl(self.bias),
                               self.num_groups, self.eps)
        assert y.dtype == torch.float64
        if self.activation == "silu":
            y = F.silu(y)
        self.f64 = (memory_order(y, self.layout), flat_np(mean), flat_np(rstd))
        args = (self.x, self.weight, self.bias, self.num_groups, self.eps, self.layout)
        self.f32 = typed_run(*args, self.dtype, self.param_dtype, self.activation)
        self.blocks = [(self.dtype, self.f32)]
        if self.dtype != "float32":
            self.f32_upcast = typed_run(*args, "float32", "float32", self.activation)
            self.blocks.append(("float32", self.f32_upcast))
        self.blocks.append(("float64", self.f64))
        for (label, (y, mean, rstd)), t in zip(self.blocks, (self.dtype, "float32")):
            if label == "float64":
                continue
            stats = self.stats_dtype if label == self.dtype else "float32"
            assert holds(torch.from_numpy(y), t) and holds(torch.from_numpy(mean), stats), label
            assert holds(torch.from_numpy(rstd), stats), label

        kind = self.dtype
        silu = " then F.silu in that type" if self.activation == "silu" else ""
        if self.layout == "contiguous":
            where = f"Expected {kind}: PyTorch in {kind}{silu}"
        elif self.x.dim() in CHANNELS_LAST_FORMATS and self.x.shape[1] > 1:
            where = f"Expected {kind}: PyTorch's channels-last kernel in {kind}{silu}"
        else:
            where = (f"PyTorch has no channels-last kernel for this input: expected {kind} is "
                     f"its contiguous result in {kind}{silu}, permuted")
        where += f" (mean and rstd {self.stats_dtype}, as PyTorch returns them)"
        if self.dtype != "float32":
            where += "; float32: the same in float32 on the values upcast"
        where += ("; float64: PyTorch's contiguous float64 kernel on the values upcast"
                  + (" then F.silu in float64" if self.activation == "silu" else "")
                  + (", permuted to channels-last order" if self.layout == "channels_last"
                     else "") + ".")
        self.description = f"{description} {where}"

    def render(self):
        i = "      "
        xs = memory_order(self.x, self.layout)
        w = "null" if self.weight is None else arr(flat_np(self.weight), fmt_f32)
        b = "null" if self.bias is None else arr(flat_np(self.bias), fmt_f32)

        def block(label, vals):
            fmt = fmt_f64 if label == "float64" else fmt_f32
            y, m, r = vals
            return (
                f'{i}  "{label}": {{\n'
                f'{i}    "y": {arr(y, fmt)},\n'
                f'{i}    "mean": {arr(m, fmt)},\n'
                f'{i}    "rstd": {arr(r, fmt)}\n'
                f"{i}  }}"
            )

        return (
            "    {\n"
            f"{i}\"name\": {json.dumps(self.name)},\n"
            f"{i}\"description\": {json.dumps(self.description)},\n"
            f"{i}\"shape\": [{', '.join(str(int(d)) for d in self.x.shape)}],\n"
            f"{i}\"num_groups\": {self.num_groups},\n"
            f"{i}\"eps\": {fmt_f64(self.eps)},\n"
            f"{i}\"layout\": {json.dumps(self.layout)},\n"
            f"{i}\"dtype\": {json.dumps(self.dtype)},\n"
            f"{i}\"param_dtype\": {json.dumps(self.param_dtype)},\n"
            f"{i}\"activation\": {json.dumps(self.activation)},\n"
            f"{i}\"has_weight\": {'true' if self.weight is not None else 'false'},\n"
            f"{i}\"has_bias\": {'true' if self.bias is not None else 'false'},\n"
            f"{i}\"input\": {arr(xs, fmt_f32)},\n"
            f"{i}\"weight\": {w},\n"
            f"{i}\"bias\": {b},\n"
            f"{i}\"expected\": {{\n"
            + ",\n".join(block(label, vals) for label, vals in self.blocks)
            + "\n"
            f"{i}}}\n"
            "    }"
        )


# --------------------------------------------------------------------------
# Input generation (fixed seed per case)
# --------------------------------------------------------------------------

def gen(name, salt=0):
    seed = (zlib.crc32(name.encode("utf-8")) + 7919 * salt) & 0x7FFFFFFF
    return torch.Generator().manual_seed(seed)


def randn(name, shape, salt=0):
    return torch.randn(shape, generator=gen(name, salt), dtype=torch.float32)


def uniform_pm1(name, shape, salt=0):
    return torch.rand(shape, generator=gen(name, salt), dtype=torch.float32) * 2.0 - 1.0


def affine(name, c):
    w = 1.0 + 0.5 * randn(name, (c,), salt=1)
    b = 0.5 * randn(name, (c,), salt=2)
    return w, b


def shape_str(shape):
    return "x".join(str(d) for d in shape)


# --------------------------------------------------------------------------
# Case sets
# --------------------------------------------------------------------------

def notebook_cases():
    x = torch.arange(100.0, dtype=torch.float32).reshape(1, 4, 5, 5)
    gn = torch.nn.GroupNorm(num_groups=2, num_channels=4)
    assert gn.eps == 1e-5
    weight = gn.weight.detach().clone()
    bias = gn.bias.detach().clone()
    assert torch.equal(weight, torch.ones(4)) and torch.equal(bias, torch.zeros(4))
    case = Case(
        "notebook",
        "nn.GroupNorm(2, 4) with default parameters on arange(100) reshaped to (1, 4, 5, 5).",
        x, 2, gn.eps, weight, bias,
    )
    with torch.no_grad():
        y_module = flat_np(gn(x))
    assert y_module.view(np.uint32).tolist() == case.f32[0].view(np.uint32).tolist(), \
        "nn.GroupNorm output differs from native_group_norm"
    first = ", ".join(f"{v:.4f}" for v in case.f32[0][:5])
    print(f"notebook: nn.GroupNorm(2,4) == native_group_norm bit for bit; "
          f"y[0,0,0,:5] = {first}; y[0,1,0,0] = {case.f32[0][25]:.4f}")
    return [case]


def pytorch_shape_cases():
    # (name, shape, groups, affine, eps)
    specs = [
        ("pytorch_4x6x5_g3_eps_1e_3", (4, 6, 5), 3, True, 1e-3),
        ("pytorch_4x12_g3", (4, 12), 3, True, 1e-5),
        ("pytorch_150x6_g1", (150, 6), 1, True, 1e-5),
        ("pytorch_4x5x5_g5_no_affine", (4, 5, 5), 5, False, 1e-5),
        ("pytorch_4x10_g1_no_affine", (4, 10), 1, False, 1e-5),
        ("pytorch_4x6x2x3_g3", (4, 6, 2, 3), 3, True, 1e-5),
        ("pytorch_4x3x2x3_g3_no_affine", (4, 3, 2, 3), 3, False, 1e-5),
        ("pytorch_4x3x2x3_g1_no_affine", (4, 3, 2, 3), 1, False, 1e-5),
        ("pytorch_1x2x3x4_g2", (1, 2, 3, 4), 2, True, 1e-5),
        ("pytorch_2x3x10_g3", (2, 3, 10), 3, True, 1e-5),
        ("pytorch_3x1x1x1x2_g1", (3, 1, 1, 1, 2), 1, True, 1e-5),
        ("pytorch_2x6x4x2x2_g3", (2, 6, 4, 2, 2), 3, True, 1e-5),
        ("pytorch_1x256x1x1_g32", (1, 256, 1, 1), 32, True, 1e-5),
        ("pytorch_0x4x2x2_g2_empty", (0, 4, 2, 2), 2, True, 1e-5),
        ("pytorch_1x6x3_g2_eps_0_5", (1, 6, 3), 2, True, 0.5),
        ("pytorch_2x6x3_g2_eps_neg_0_5", (2, 6, 3), 2, True, -0.5),
        ("pytorch_20x6x10x10_g1", (20, 6, 10, 10), 1, True, 1e-5),
        ("pytorch_20x6x10x10_g3", (20, 6, 10, 10), 3, True, 1e-5),
        ("pytorch_20x6x10x10_g6", (20, 6, 10, 10), 6, True, 1e-5),
    ]
    # Data seed salt per case (default 0). For the negative-eps case, salt 63 is a seed where
    # two of the four groups have variance below 0.5 (NaN rstd) and two do not.
    data_salt = {"pytorch_2x6x3_g2_eps_neg_0_5": 63}
    cases = []
    for name, shape, g, aff, eps in specs:
        x = randn(name, shape, salt=data_salt.get(name, 0))
        w, b = affine(name, shape[1]) if aff else (None, None)
        extra = ""
        if shape[0] == 0:
            extra = " Empty batch: input, y, mean and rstd are empty."
        elif eps < 0:
            extra = " Negative eps: groups with variance below 0.5 give NaN rstd."
        desc = (f"PyTorch test shape {shape_str(shape)}, {g} group(s), "
                f"{'random affine' if aff else 'no affine'}, eps {eps!r}.{extra}")
        case = Case(name, desc, x, g, eps, w, b)
        if eps < 0:
            for rstd in (case.f32[2], case.f64[2]):
                assert np.isnan(rstd).any() and np.isfinite(rstd).any(), rstd
        cases.append(case)

    name = "single_element_groups"
    x = randn(name, (1, 2))
    w, b = affine(name, 2)
    case = Case(name, "Shape (1, 2) with 2 groups of one element each: y is bias up to "
                "rounding (F.group_norm rejects this, native_group_norm computes it).", x, 2, 1e-5, w, b)
    # Mathematically y == bias. PyTorch's CPU kernel computes y = x * scale + shift with
    # shift = bias - mean * scale, so the recorded y is only close to bias, not bit-equal.
    for label, y, bb in (("float32", case.f32[0], flat_np(b).astype(np.float32)),
                         ("float64", case.f64[0], flat_np(b).astype(np.float64))):
        dev = float(np.max(np.abs(y.astype(np.float64) - bb.astype(np.float64))))
        assert dev < 1e-4, (label, dev)
        print(f"single_element_groups: {label} max |y - bias| = {dev:.3g}")
    cases.append(case)
    return cases


def _spatial(hw, two_d):
    """A spatial shape with product hw: 2-D when asked and hw has a proper factor."""
    if hw == 1:
        return ()
    if two_d:
        a = int(math.isqrt(hw))
        while a > 1 and hw % a:
            a -= 1
        if a > 1:
            return (a, hw // a)
    return (hw,)


def boundary_cases():
    lengths = list(range(1, 34)) + [63, 64, 65, 127, 128, 129, 255, 256, 257, 1023, 1024, 1025]
    cases = []
    for i, L in enumerate(lengths):
        variant = i % 4
        if variant == 0:
            # one channel per group, all of the group is spatial
            cpg, groups, channels_only = 1, 3, False
        elif variant == 1:
            # (N, C) shape: the group is cpg channels of one element each
            cpg, groups, channels_only = L, 2, True
        else:
            # odd channels per group (3, 5, 7) where L allows it, else even (2, 4), else 1
            odd = [d for d in (5, 3, 7) if L % d == 0 and L > d]
            even = [d for d in (4, 2) if L % d == 0 and L > d]
            if variant == 2:
                cpg = (odd or even or [1])[0]
            else:
                cpg = (even or odd or [1])[0]
            groups, channels_only = 2, False
        if L >= 255:
            groups = 1  # keeps the folder under 10 MB; N = 2 still gives two groups
        hw = L // cpg
        assert cpg * hw == L
        c = cpg * groups
        shape = (2, c) if channels_only else (2, c) + _spatial(hw, two_d=(i % 3 != 1))
        name = f"group_len_{L}"
        x = randn(name, shape)
        offset = 3.0 if i % 3 == 0 else 0.0
        if offset:
            x = x + offset
        with_affine = (i + i // 4) % 2 == 1  # about half, spread over the variants
        w, b = affine(name, c) if with_affine else (None, None)
        desc = (f"Group length {L} ({cpg} channel(s) x {hw} spatial) in shape {shape_str(shape)} "
                f"with {groups} groups, {'random affine' if with_affine else 'no affine'}"
                f"{', data offset by +3' if offset else ''}.")
        cases.append(Case(name, desc, x, groups, 1e-5, w, b))
    return cases


def model_layer_cases():
    name = "model_layer_2x64x16x16_g32"
    shape = (2, 64, 16, 16)
    x = randn(name, shape)
    w, b = affine(name, 64)
    return [Case(name, "A model-sized layer: (2, 64, 16, 16) with 32 groups, random gamma and beta.",
                 x, 32, 1e-5, w, b)]


def ill_conditioned_cases():
    cases = []

    # mean much larger than the spread
    for name, offset, aff in [("offset_mean_1e2_std", 1e2, False),
                              ("offset_mean_1e4_std", 1e4, True),
                              ("offset_mean_1e6_std", 1e6, True)]:
        shape = (2, 4, 8, 8)
        x = offset + randn(name, shape)
        w, b = affine(name, 4) if aff else (None, None)
        cases.append(Case(name, f"x = {offset:g} + randn: group mean about {offset:g} times the "
                          f"standard deviation ({'random affine' if aff else 'no affine'}).",
                          x, 2, 1e-5, w, b))

    # constant groups
    shape = (2, 4, 8, 8)
    name = "constant_group_eps_1e_5"
    x = randn(name, shape)
    x[0, 0:2] = 1.5  # batch 0, group 0 is constant
    w, b = affine(name, 4)
    cases.append(Case(name, "Batch 0 group 0 is constant 1.5 (variance 0) with eps 1e-5: y equals "
                      "bias there; other groups random.", x, 2, 1e-5, w, b))
    name = "constant_group_eps_0"
    x = randn(name, shape)
    x[1, 2:4] = 1.5  # batch 1, group 1 is constant
    cases.append(Case(name, "Batch 1 group 1 is constant 1.5 with eps 0: variance 0 gives infinite "
                      "rstd and NaN y there (as PyTorch computes); other groups random.",
                      x, 2, 0.0))

    # magnitude extremes
    shape = (2, 6, 4, 4)
    name = "tiny_scale_1e_neg30"
    x = (randn(name, shape).double() * 1e-30).float()
    cases.append(Case(name, "x = 1e-30 * randn: tiny normal float32 values whose squares underflow.",
                      x, 3))
    name = "subnormal_scale_1e_neg40"
    x = (randn(name, shape).double() * 1e-40).float()
    assert bool((x.abs() < torch.finfo(torch.float32).tiny).all())
    cases.append(Case(name, "x = 1e-40 * randn: float32 subnormal inputs.", x, 3))
    name = "huge_scale_1e30"
    x = (randn(name, shape).double() * 1e30).float()
    cases.append(Case(name, "x = 1e30 * randn: squares overflow float32.", x, 3))
    name = "near_f32_max"
    x = (uniform_pm1(name, shape).double() * 3e38).float()
    assert bool(torch.isfinite(x).all())
    cases.append(Case(name, "x = 3e38 * uniform(-1, 1): values near plus or minus float32 max.",
                      x, 3))

    # non-finite elements; group length is 2 channels x 16 = 32, group k of batch n is x[n, 2k:2k+2]
    nonfinite = [
        ("nan_first_of_group", "NaN at the first element of batch 0 group 1; other groups finite.",
         [((0, 2, 0, 0), float("nan"))], False),
        ("nan_middle_of_group", "NaN in the middle of batch 1 group 0; other groups finite.",
         [((1, 1, 0, 0), float("nan"))], True),
        ("posinf_last_of_group", "+Inf at the last element of batch 0 group 2; other groups finite.",
         [((0, 5, 3, 3), float("inf"))], False),
        ("neginf_middle_of_group", "-Inf in the middle of batch 1 group 1; other groups finite.",
         [((1, 2, 2, 1), float("-inf"))], True),
        ("posinf_first_of_group", "+Inf at the first element of batch 1 group 2; other groups finite.",
         [((1, 4, 0, 0), float("inf"))], True),
        ("posinf_and_neginf_same_group",
         "Batch 0 group 0 holds both +Inf and -Inf; other groups finite.",
         [((0, 0, 1, 2), float("inf")), ((0, 1, 2, 3), float("-inf"))], False),
    ]
    for name, desc, pokes, aff in nonfinite:
        x = randn(name, shape)
        for idx, v in pokes:
            x[idx] = v
        w, b = affine(name, 6) if aff else (None, None)
        cases.append(Case(name, desc + (" Random affine." if aff else " No affine."), x, 3,
                          1e-5, w, b))

    # partial affine
    for name, hw, hb, desc in [("weight_only", True, False, "Weight without bias."),
                               ("bias_only", False, True, "Bias without weight."),
                               ("no_affine", False, False, "Neither weight nor bias.")]:
        x = randn(name, shape)
        w, b = affine(name, 6)
        cases.append(Case(name, f"{desc} Shape 2x6x4x4, 3 groups, random data.", x, 3, 1e-5,
                          w if hw else None, b if hb else None))

    # non-finite affine parameters: PyTorch computes y = x * scale + (bias - mean * scale) with
    # scale = rstd * weight, so an infinite weight gives +-Inf or NaN by the signs of x and mean
    inf, nan = float("inf"), float("nan")
    name = "nonfinite_weight"
    x = 0.5 + randn(name, shape)
    w, b = affine(name, 6)
    w[0], w[3], w[4] = inf, -inf, nan
    cases.append(Case(name, "x = 0.5 + randn, weight +Inf on channel 0, -Inf on channel 3 and NaN "
                      "on channel 4, random bias. PyTorch computes y = x * scale + (bias - mean "
                      "* scale) with scale = rstd * weight, so an infinite weight gives +-Inf or "
                      "NaN by the signs of x and the mean.", x, 3, 1e-5, w, b))
    name = "nonfinite_bias"
    x = randn(name, shape)
    w, b = affine(name, 6)
    b[1], b[2], b[5] = inf, -inf, nan
    w[2] = inf
    cases.append(Case(name, "Bias +Inf on channel 1, -Inf on channel 2 (whose weight is +Inf too) "
                      "and NaN on channel 5, random weight otherwise.", x, 3, 1e-5, w, b))

    # eps outside the float32 range: PyTorch keeps eps as a double for every dtype
    name = "eps_below_f32_range"
    x = randn(name, shape)
    # constant 0: with any other constant, PyTorch's x * scale + (bias - mean * scale) cancels
    # two values near 1e25, and even its float64 y is off by about 1e9
    x[1, 2:4] = 0.0  # batch 1, group 1 is constant
    w, b = affine(name, 6)
    cases.append(Case(name, "eps 1e-50, below the float32 range, and batch 1 group 1 constant 0: "
                      "PyTorch adds eps in double, so rstd there is 1e25 and y is the bias, not "
                      "NaN.", x, 3, 1e-50, w, b))
    name = "eps_above_f32_range"
    x = randn(name, shape)
    cases.append(Case(name, "eps 1e39, above the float32 maximum: rstd about 3.2e-20 and y about "
                      "1e-20.", x, 3, 1e39))

    # var + eps == 0, so rstd is infinite. Without weight and bias PyTorch computes
    # (x - mean) * rstd, so y is +-inf; with either, x * scale + (bias - mean * scale): NaN.
    x = torch.tensor([1.0, -1.0, 1.0, -1.0]).reshape(1, 1, 4)
    for name, w, b, what in [
        ("infinite_rstd_no_affine", None, None, "no affine, so y = (x - mean) * rstd = +-Inf"),
        ("infinite_rstd_weight_only", torch.ones(1), None, "weight 1, so y is NaN"),
        ("infinite_rstd_bias_only", None, torch.zeros(1), "bias 0, so y is NaN"),
    ]:
        cases.append(Case(name, f"x = [1, -1, 1, -1] with eps -1: var + eps == 0 and rstd is "
                          f"infinite; {what}.", x.clone(), 1, -1.0, w, b))
    return cases


def alternating(shape, magnitude):
    """magnitude * (+1, -1, +1, ...) over the flat (N, C, *spatial) order, in float32."""
    n = int(np.prod(shape))
    signs = torch.tensor([1.0, -1.0], dtype=torch.float64).repeat((n + 1) // 2)[:n]
    return (signs * magnitude).float().reshape(shape)


def random_then_subnormal(name, shape):
    """randn in batch 0, float32 subnormals (1.1e-38 * uniform(-1, 1)) in batch 1."""
    x = randn(name, shape)
    x[1] = (uniform_pm1(name, shape[1:], salt=3).double() * 1.1e-38).float()
    assert bool((x[1].abs() < torch.finfo(torch.float32).tiny).all())
    return x


def extreme_argument_cases():
    """eps, weights, biases and inputs at the ends of their ranges, each where PyTorch's float64
    result is exact at float32's scale and fits in float32 (see README.md, "What GroupNorm
    computes", for the extremes that cannot be vectors and what PyTorch and ours give there)."""
    cases = []
    f32_max = float(np.finfo(np.float32).max)
    shape = (2, 4, 3, 3)
    subnormal_note = ("batch 1 is float32 subnormals (1.1e-38 * uniform(-1, 1)), whose float32 "
                      "squares underflow: PyTorch float32 gives rstd inf and y +-inf or NaN there, "
                      "float64 the exact values")

    # eps 0 and -0.0: var + eps == 0 in a constant group (rstd inf, y NaN), subnormal data
    for name, eps, what in [("eps_0_random_subnormal_constant", 0.0, "eps 0"),
                            ("eps_neg_zero_subnormal_constant", -0.0,
                             "eps -0.0 (var + -0.0 is var, as for eps 0)")]:
        x = random_then_subnormal(name, shape)
        x[0, 2:4] = 1.5  # batch 0, group 1 is constant
        w, b = affine(name, 4) if math.copysign(1.0, eps) < 0 else (None, None)
        desc = (f"{what}: batch 0 group 0 randn, batch 0 group 1 constant 1.5 (variance 0: rstd "
                f"inf and y NaN, in float32 and float64); {subnormal_note}; "
                f"{'random affine' if w is not None else 'no affine'}.")
        cases.append(Case(name, desc, x, 2, eps, w, b))

    # the smallest positive double and a subnormal double: eps far below every variance here
    for name, eps, what, parts in [
        ("eps_5e_324_random_subnormal", 5e-324,
         "eps 5e-324, the smallest positive double", (True, True)),
        ("eps_1e_310_random_subnormal", 1e-310, "eps 1e-310, a subnormal double",
         (True, False)),
    ]:
        x = random_then_subnormal(name, shape)
        w, b = affine(name, 4)
        w = w if parts[0] else None
        b = b if parts[1] else None
        desc = (f"{what}, added in double as PyTorch does: batch 0 randn; {subnormal_note}; "
                f"{'random weight and bias' if b is not None else 'random weight, no bias'}.")
        cases.append(Case(name, desc, x, 2, eps, w, b))

    # float32 subnormal weights and biases
    name = "subnormal_weight_and_bias"
    shape = (2, 8, 2, 2)
    x = randn(name, shape)
    w, b = affine(name, 8)
    for i, v in [(0, 1e-40), (2, -1.4e-45), (5, 1e-39), (7, -3e-42)]:
        w[i] = v
    for i, v in [(1, 1e-40), (2, 1.4e-45), (4, -1e-39), (6, -3e-42)]:
        b[i] = v
    assert bool(((w.abs() < torch.finfo(torch.float32).tiny) & (w != 0)).sum() == 4)
    cases.append(Case(name, "Weights 1e-40, -1.4e-45 (the smallest float32 subnormal), 1e-39 and "
                      "-3e-42 on channels 0, 2, 5 and 7, biases 1e-40, 1.4e-45, -1e-39 and -3e-42 "
                      "on channels 1, 2, 4 and 6, the others random; x = randn, 4 groups.",
                      x, 4, 1e-5, w, b))

    # weights and biases of +-f32::MAX where y fits in float32: x = +-1 alternating, so that
    # |x - mean| * rstd = 1 / sqrt(1 + eps) < 1
    name = "f32_max_weight_and_bias"
    x = alternating((2, 4, 4, 4), 1.0)
    w = torch.tensor([f32_max, -f32_max, 1.0, 0.5])
    b = torch.tensor([0.0, 1.0, f32_max, -f32_max])
    cases.append(Case(name, "x = +1, -1, +1, ... (mean 0, |x - mean| * rstd just below 1), 2 "
                      "groups; weights f32::MAX, -f32::MAX, 1, 0.5 and biases 0, 1, f32::MAX, "
                      "-f32::MAX: y is about +-f32::MAX on every channel and fits in float32.",
                      x, 2, 1e-5, w, b))

    # x = +-f32::MAX alternating: float32 squares overflow, the float64 variance is f32::MAX^2
    name = "alternating_f32_max"
    cases.append(Case(name, "x = +f32::MAX, -f32::MAX, ... in groups of 128 (mean 0, variance "
                      "f32::MAX^2, rstd 2.9e-39, a float32 subnormal), no affine: y = +-1; "
                      "PyTorch float32's squares overflow (NaN).",
                      alternating((2, 4, 8, 8), f32_max), 2))
    name = "alternating_f32_max_odd_affine"
    w, b = affine(name, 3)
    cases.append(Case(name, "x = +f32::MAX, -f32::MAX, ... in groups of 21 (one value more of "
                      "one sign: mean +-f32::MAX / 21), random affine; PyTorch float32 NaN.",
                      alternating((2, 3, 3, 7), f32_max), 3, 1e-5, w, b))
    name = "alternating_f32_max_weight_max"
    w = torch.tensor([f32_max, -f32_max, 0.5, f32_max])
    b = torch.tensor([0.0, 1.0, f32_max, -1.0])
    cases.append(Case(name, "x = +f32::MAX, -f32::MAX, ... in groups of 32, weights f32::MAX, "
                      "-f32::MAX, 0.5, f32::MAX and biases 0, 1, f32::MAX, -1: y = +-f32::MAX "
                      "on every channel (rstd * weight is +-1 on three of them); PyTorch float32 "
                      "NaN.", alternating((1, 4, 4, 4), f32_max), 2, 1e-5, w, b))

    # single-value groups at +-f32::MAX, without affine: y = (x - mean) * rstd = 0 exactly.
    # (With a weight or a bias PyTorch float64 computes x * scale + (bias - mean * scale) and
    # cancels two values near 1e41: its y is off by about 4e23, so those are not vectors.)
    name = "single_value_groups_f32_max"
    x = torch.tensor([[f32_max, -f32_max, 3e38, 1.0]])
    cases.append(Case(name, "Shape (1, 4) with 4 groups of one value: f32::MAX, -f32::MAX, 3e38 "
                      "and 1, no affine: y = 0; PyTorch float32 squares the values and returns "
                      "NaN for the first three.", x, 4))
    return cases


def large_offset_cases():
    cases = []
    for offset, tag in [(1e5, "1e5"), (1e7, "1e7")]:
        name = f"large_offset_{tag}_group_4096"
        shape = (1, 4, 32, 32)
        x = offset + randn(name, shape)
        w, b = affine(name, 4)
        cases.append(Case(name, f"x = {offset:g} + randn in one 4096-element group spanning 4 "
                          f"channels, random affine.", x, 1, 1e-5, w, b))
    for offset, tag in [(1e5, "1e5"), (1e7, "1e7")]:
        name = f"large_offset_{tag}_group_65536"
        shape = (1, 1, 256, 256)
        x = offset + randn(name, shape)
        cases.append(Case(name, f"x = {offset:g} + randn in one 65536-element group, no affine.",
                          x, 1))
    return cases


def uniform_affine(name, c):
    """nn.GroupNorm's parameters after PyTorch's test_groupnorm_nhwc: weight.uniform_(), bias.uniform_()."""
    w = torch.rand((c,), generator=gen(name, 1), dtype=torch.float32)
    b = torch.rand((c,), generator=gen(name, 2), dtype=torch.float32)
    return w, b


def channels_last_cases():
    cases = []

    def add(name, desc, x, g, eps=1e-5, w=None, b=None):
        case = Case(name, desc, x, g, eps, w, b, layout="channels_last")
        cases.append(case)
        return case

    def aff_str(aff):
        return "random affine" if aff else "no affine"

    # the notebook's layer on the notebook's input, stored channels-last
    x = torch.arange(100.0, dtype=torch.float32).reshape(1, 4, 5, 5)
    gn = torch.nn.GroupNorm(num_groups=2, num_channels=4)
    case = add("notebook_channels_last",
               "nn.GroupNorm(2, 4) with default parameters on arange(100) reshaped to "
               "(1, 4, 5, 5), stored channels-last.",
               x, 2, gn.eps, gn.weight.detach().clone(), gn.bias.detach().clone())
    with torch.no_grad():
        y_module = gn(x.contiguous(memory_format=torch.channels_last))
    assert y_module.is_contiguous(memory_format=torch.channels_last)
    assert memory_order(y_module, "channels_last").tobytes() == case.f32[0].tobytes(), \
        "nn.GroupNorm output differs from native_group_norm on channels-last input"

    # PyTorch's own tests: test_groupnorm_nhwc (weight and bias uniform(0, 1)), test_groupnorm_nwc
    # (a transposed 3-D input, default parameters), and the module-test shapes of
    # pytorch_shapes.json, which PyTorch's module tests also run channels-last
    for shape, g in [((4, 8, 10, 10), 4), ((2, 30, 9, 9), 3)]:
        name = f"cl_pytorch_nhwc_{shape_str(shape)}_g{g}"
        w, b = uniform_affine(name, shape[1])
        add(name, f"PyTorch's test_groupnorm_nhwc shape {shape_str(shape)}, {g} groups, weight "
            f"and bias uniform(0, 1).", randn(name, shape), g, 1e-5, w, b)
    name = "cl_pytorch_nwc_4x20x20_g4"
    add(name, "PyTorch's test_groupnorm_nwc: (4, 20, 20) with 4 groups, default weight and bias.",
        randn(name, (4, 20, 20)), 4, 1e-5, torch.ones(20), torch.zeros(20))
    for shape, g, aff, eps in [((4, 6, 2, 3), 3, True, 1e-5), ((4, 3, 2, 3), 3, False, 1e-5),
                               ((4, 3, 2, 3), 1, False, 1e-5), ((1, 2, 3, 4), 2, True, 1e-5),
                               ((2, 6, 4, 2, 2), 3, True, 1e-5), ((4, 6, 5), 3, True, 1e-3),
                               ((4, 12), 3, True, 1e-5)]:
        name = f"cl_pytorch_{shape_str(shape)}_g{g}" + ("" if aff else "_no_affine")
        if eps != 1e-5:
            name += "_eps_1e_3"
        w, b = affine(name, shape[1]) if aff else (None, None)
        add(name, f"PyTorch module test shape {shape_str(shape)}, {g} group(s), {aff_str(aff)}, "
            f"eps {eps!r}.", randn(name, shape), g, eps, w, b)

    # channels per group C/G of 1, 3, 5 and 40
    for c, g in [(40, 40), (9, 3), (15, 3), (40, 1)]:
        name = f"cl_cpg_{c // g}_c{c}_g{g}"
        shape = (2, c, 3, 4)
        aff = (c // g) % 2 == 1
        w, b = affine(name, c) if aff else (None, None)
        add(name, f"{c // g} channel(s) per group: {shape_str(shape)} with {g} groups, "
            f"{aff_str(aff)}.", randn(name, shape), g, 1e-5, w, b)

    # C around the vector widths; (C, G, spatial, N), some groups not aligned to 8 or 16,
    # ranks 3 to 5
    widths = [(1, 1, (3, 3), 2), (2, 1, (3, 3), 2), (3, 3, (2, 2, 2), 2), (4, 2, (3, 3), 2),
              (5, 1, (5,), 2), (7, 7, (3, 3), 2), (8, 2, (3, 3), 2), (9, 3, (2, 2, 3), 2),
              (15, 5, (3, 3), 2), (16, 4, (3, 3), 2), (17, 1, (3, 3), 2), (31, 1, (4,), 2),
              (32, 8, (3, 3), 2), (33, 11, (2, 2, 2), 2), (63, 7, (3, 3), 1),
              (64, 32, (3, 3), 1), (65, 5, (2, 3), 1), (127, 1, (3, 3), 1),
              (128, 16, (2, 2, 2), 1), (129, 3, (3, 3), 1)]
    for i, (c, g, spatial, n) in enumerate(widths):
        shape = (n, c) + spatial
        name = f"cl_channels_{c}_g{g}"
        x = randn(name, shape)
        offset = 3.0 if i % 3 == 0 else 0.0
        if offset:
            x = x + offset
        aff = i % 2 == 1
        w, b = affine(name, c) if aff else (None, None)
        add(name, f"C = {c} around a vector width: {shape_str(shape)} with {g} group(s) of "
            f"{c // g} channel(s), {aff_str(aff)}{', data offset by +3' if offset else ''}.",
            x, g, 1e-5, w, b)

    # the spatial size where PyTorch's channels-last kernel changes strategy (H*W >= 1024:
    # per-position sums instead of per-group ones)
    for shape, g, aff in [((1, 4, 32, 32), 2, True), ((1, 3, 4, 16, 16), 1, False)]:
        name = f"cl_hw_1024_{shape_str(shape)}_g{g}"
        w, b = affine(name, shape[1]) if aff else (None, None)
        add(name, f"H*W = 1024 in {shape_str(shape)} with {g} group(s), {aff_str(aff)}.",
            randn(name, shape), g, 1e-5, w, b)

    # mean large against the spread, on the shape
    for k in range(1, 8):
        offset = 10.0 ** k
        name = f"cl_offset_1e{k}"
        shape = (1, 64, 16, 16)
        aff = k % 2 == 0
        w, b = affine(name, 64) if aff else (None, None)
        add(name, f"x = 1e{k} + randn on {shape_str(shape)} with 32 groups, {aff_str(aff)}.",
            offset + randn(name, shape), 32, 1e-5, w, b)

    # non-finite elements and a constant group, as in ill_conditioned.json; group k of batch n
    # is x[n, 2k:2k+2], which channels-last interleaves by position
    inf, nan = float("inf"), float("nan")
    shape = (2, 6, 4, 4)
    special = [
        ("cl_nan_first_of_group", "NaN at the first element of batch 0 group 1",
         [((0, 2, 0, 0), nan)], False),
        ("cl_nan_middle_of_group", "NaN in the middle of batch 1 group 0",
         [((1, 1, 0, 0), nan)], True),
        ("cl_posinf_last_of_group", "+Inf at the last element of batch 0 group 2",
         [((0, 5, 3, 3), inf)], False),
        ("cl_neginf_middle_of_group", "-Inf in the middle of batch 1 group 1",
         [((1, 2, 2, 1), -inf)], True),
        ("cl_posinf_first_of_group", "+Inf at the first element of batch 1 group 2",
         [((1, 4, 0, 0), inf)], True),
        ("cl_posinf_and_neginf_same_group", "Batch 0 group 0 holds both +Inf and -Inf",
         [((0, 0, 1, 2), inf), ((0, 1, 2, 3), -inf)], False),
    ]
    for name, desc, pokes, aff in special:
        x = randn(name, shape)
        for idx, v in pokes:
            x[idx] = v
        w, b = affine(name, 6) if aff else (None, None)
        add(name, f"{desc} (first and last in memory order too); other groups finite, "
            f"{aff_str(aff)}.", x, 3, 1e-5, w, b)
    name = "cl_constant_group_eps_1e_5"
    x = randn(name, shape)
    x[0, 0:2] = 1.5
    w, b = affine(name, 6)
    add(name, "Batch 0 group 0 is constant 1.5 (variance 0) with eps 1e-5: y equals bias there; "
        "other groups random, random affine.", x, 3, 1e-5, w, b)

    # extreme arguments, as in extreme_arguments.json: groups of 128 values (the per-channel
    # accumulators' path), and non-finite weights and biases as in ill_conditioned.json
    f32_max = float(np.finfo(np.float32).max)
    name = "cl_alternating_f32_max"
    w, b = affine(name, 64)
    add(name, "x = +f32::MAX, -f32::MAX, ... (alternating along W) on (1, 64, 4, 4) with 8 "
        "groups of 128 values, random affine: PyTorch's float32 channels-last kernel sums "
        "overflowing squares.", alternating((1, 64, 4, 4), f32_max), 8, 1e-5, w, b)
    name = "cl_f32_max_weight_and_bias"
    w = torch.tensor([f32_max, -f32_max, 1.0, 0.5] * 2)
    b = torch.tensor([0.0, 1.0, f32_max, -f32_max] * 2)
    add(name, "x = +1, -1, ... (alternating along W) on (1, 8, 4, 4) with one group, weights "
        "f32::MAX, -f32::MAX, 1, 0.5 and biases 0, 1, f32::MAX, -f32::MAX (twice): y is about "
        "+-f32::MAX and fits in float32.", alternating((1, 8, 4, 4), 1.0), 1, 1e-5, w, b)
    name = "cl_nonfinite_weight_and_bias"
    x = 0.5 + randn(name, shape)
    w, b = affine(name, 6)
    w[0], w[3], w[4] = inf, -inf, nan
    b[1], b[2], b[5] = inf, -inf, nan
    w[2] = inf
    add(name, "x = 0.5 + randn, weight +Inf on channels 0 and 2, -Inf on 3, NaN on 4; bias +Inf "
        "on 1, -Inf on 2, NaN on 5; the others random.", x, 3, 1e-5, w, b)

    # model-like layers, spatial sizes reduced to keep the file small
    for shape, g in [((1, 320, 4, 4), 32), ((1, 64, 4, 4, 4), 32)]:
        name = f"cl_model_{shape_str(shape)}_g{g}"
        w, b = affine(name, shape[1])
        add(name, f"A model-like layer: {shape_str(shape)} with {g} groups of "
            f"{shape[1] // g} channels, random affine.", randn(name, shape), g, 1e-5, w, b)

    report_channels_last_float64(cases)
    return cases


# --------------------------------------------------------------------------
# float16 and bfloat16 input, and GroupNorm fused with SiLU
# --------------------------------------------------------------------------

HALF_TYPES = ("float16", "bfloat16")
F16_MAX = 65504.0
BF16_MAX = float(torch.finfo(torch.bfloat16).max)


def typed_affine(name, c, params, dtype):
    """(weight, bias, param_dtype) for params "float32" (PyTorch's mixed-type path for half
    input), "same" (the input's type) or "none" (param_dtype is then the input's type, the type
    of PyTorch's mean and rstd there)."""
    if params == "none":
        return None, None, dtype
    w, b = affine(name, c)
    if params == "float32":
        return w, b, "float32"
    return to_type(w, dtype), to_type(b, dtype), dtype


def params_str(params, dtype):
    return {"float32": "float32 weight and bias (PyTorch's mixed-type path)",
            "same": f"{dtype} weight and bias", "none": "no affine"}[params]


def layout_str(layout):
    return "stored channels-last" if layout == "channels_last" else "contiguous"


def typed_case(name, desc, x, g, dtype, layout="contiguous", eps=1e-5, w=None, b=None,
               param_dtype=None, activation="none"):
    """A Case whose input is x rounded to dtype (and w, b to param_dtype, default dtype)."""
    param_dtype = param_dtype or dtype
    return Case(name, desc, to_type(x, dtype), g, eps, to_type(w, param_dtype),
                to_type(b, param_dtype), layout=layout, dtype=dtype, param_dtype=param_dtype,
                activation=activation)


def half_precision_cases():
    cases = []
    params_cycle = ("float32", "same", "none")

    def add(name, desc, x, g, dtype, layout, params, eps=1e-5):
        w, b, pdt = typed_affine(name, x.shape[1], params, dtype)
        cases.append(typed_case(name, f"{desc} {dtype}, {layout_str(layout)}, "
                                f"{params_str(params, dtype)}.", x, g, dtype, layout, eps, w, b,
                                pdt))

    for di, dtype in enumerate(HALF_TYPES):
        t = SHORT[dtype]
        # the notebook's layer on the notebook's input: nn.GroupNorm's float32 parameters with
        # half input take PyTorch's mixed-type path
        x = torch.arange(100.0, dtype=torch.float32).reshape(1, 4, 5, 5)
        gn = torch.nn.GroupNorm(num_groups=2, num_channels=4)
        for layout in LAYOUTS:
            suffix = "" if layout == "contiguous" else "_channels_last"
            case = typed_case(f"{t}_notebook{suffix}",
                              f"nn.GroupNorm(2, 4) with default (float32) parameters on "
                              f"arange(100) reshaped to (1, 4, 5, 5) in {dtype}, "
                              f"{layout_str(layout)}.", x, 2, dtype, layout, gn.eps,
                              gn.weight.detach().clone(), gn.bias.detach().clone(), "float32")
            xt = x.to(TORCH_DTYPES[dtype])
            if layout == "channels_last":
                xt = xt.contiguous(memory_format=torch.channels_last)
            y_module = gn(xt)
            assert y_module.dtype == TORCH_DTYPES[dtype]
            assert memory_order(y_module.float(), layout).tobytes() == case.f32[0].tobytes(), \
                f"nn.GroupNorm output differs from native_group_norm in {dtype}"
            cases.append(case)

        # small shapes: C/G of 1, 3, 5 and 40; C around the vector widths; group lengths
        # around 64; 5-D and 3-D inputs; each in both layouts, the parameters in turn float32,
        # of the input's type and none
        specs = [((2, 8, 3, 3), 8), ((2, 9, 3, 4), 3), ((2, 15, 2, 3), 3), ((1, 40, 2, 2), 1),
                 ((2, 7, 3, 3), 7), ((2, 8, 2, 3), 2), ((2, 9, 2, 2), 3), ((1, 15, 3, 3), 5),
                 ((1, 16, 3, 3), 4), ((1, 17, 3, 3), 1), ((1, 33, 2, 2), 11), ((1, 7, 9), 1),
                 ((1, 4, 4, 4), 1), ((1, 16, 2, 2), 1), ((1, 5, 13), 1), ((1, 13, 5, 1), 1),
                 ((2, 6, 2, 3, 4), 3), ((1, 8, 2, 2, 4), 2), ((2, 6, 10), 2)]
        for i, (shape, g) in enumerate(specs):
            c = shape[1]
            group_len = c // g * int(np.prod(shape[2:]))
            for li, layout in enumerate(LAYOUTS):
                params = params_cycle[(i + li + di) % 3]
                name = f"{t}_{shape_str(shape)}_g{g}" + ("_cl" if li else "")
                x = randn(name, shape)
                offset = 3.0 if i % 3 == 0 else 0.0
                add(name, f"{shape_str(shape)} with {g} group(s) of {c // g} channel(s) "
                    f"({group_len} values){', data offset by +3' if offset else ''}, in",
                    x + offset, g, dtype, layout, params)

        # longer groups, and H*W = 1024, where PyTorch's channels-last kernel changes strategy
        longer = {"float16": [((1, 4, 32, 32), 1, "contiguous", "float32"),
                              ((1, 2, 32, 32), 2, "channels_last", "none")],
                  "bfloat16": [((1, 2, 32, 32), 1, "channels_last", "same"),
                               ((1, 3, 24, 24), 1, "contiguous", "float32")]}
        for shape, g, layout, params in longer[dtype]:
            name = f"{t}_long_{shape_str(shape)}_g{g}" + ("_cl" if layout == "channels_last"
                                                          else "")
            group_len = shape[1] // g * int(np.prod(shape[2:]))
            add(name, f"{group_len} values per group: {shape_str(shape)} with {g} group(s), in",
                randn(name, shape), g, dtype, layout, params)

        # means far from zero: x = 10^k + randn (spread 1), rounded to the type, which keeps
        # only a few levels around the mean for the larger k
        for k in range(1, 5):
            for layout in LAYOUTS:
                name = f"{t}_offset_1e{k}" + ("_cl" if layout == "channels_last" else "")
                shape = (1, 32, 4, 4)
                params = ("float32", "same")[di] if k % 2 == 0 else "none"
                add(name, f"x = 1e{k} + randn on {shape_str(shape)} with 8 groups of 64, "
                    f"rounded to", 10.0 ** k + randn(name, shape), 8, dtype, layout, params)

        # NaN and infinities in groups, with the other groups finite; group k of batch n is
        # x[n, 2k:2k+2]
        inf, nan = float("inf"), float("nan")
        shape = (2, 6, 4, 4)
        for li, layout in enumerate(LAYOUTS):
            name = f"{t}_nonfinite" + ("_cl" if li else "")
            x = randn(name, shape)
            x[0, 2, 1, 1] = nan   # batch 0 group 1, in the middle
            x[1, 0, 0, 0] = inf   # batch 1 group 0, first
            x[1, 5, 3, 3] = -inf  # batch 1 group 2, last
            add(name, "NaN in the middle of batch 0 group 1, +Inf first in batch 1 group 0, "
                "-Inf last in batch 1 group 2, the other groups finite; in", x, 3, dtype,
                layout, params_cycle[(li + di) % 3])
        name = f"{t}_posinf_and_neginf_same_group"
        x = randn(name, shape)
        x[0, 0, 1, 2], x[0, 1, 2, 3] = inf, -inf
        add(name, "Batch 0 group 0 holds both +Inf and -Inf, the other groups finite; in", x, 3,
            dtype, "contiguous", ("same", "float32")[di])
        name = f"{t}_nonfinite_weight"
        x = 0.5 + randn(name, shape)
        w, b = affine(name, 6)
        w[0], w[3], w[4] = inf, -inf, nan
        pdt = ("float32", dtype)[di]
        cases.append(typed_case(name, f"x = 0.5 + randn in {dtype}, {pdt} weight +Inf on "
                                f"channel 0, -Inf on 3 and NaN on 4, random bias: y is +-Inf or "
                                f"NaN there by the signs of x and the mean.", x, 3, dtype,
                                "contiguous", 1e-5, w, b, pdt))

    # the ends of the types' ranges
    f16, bf16 = "float16", "bfloat16"
    for layout in LAYOUTS:
        cl = "_cl" if layout == "channels_last" else ""
        cases.append(typed_case(f"f16_alternating_max{cl}", "x = +65504, -65504, ... (the "
                                "float16 maximum; mean 0, variance 65504^2, beyond float16 but "
                                "not float32), no affine: y = +-1.", alternating((1, 4, 4, 4),
                                F16_MAX), 2, f16, layout))
        cases.append(typed_case(f"bf16_alternating_max{cl}", "x = +max, -max, ... (the "
                                "bfloat16 maximum, 3.39e38), no affine: PyTorch's float32 "
                                "squares overflow.", alternating((1, 4, 4, 4), BF16_MAX), 2,
                                bf16, layout))
    name = "f16_near_max"
    w, b = affine(name, 6)
    cases.append(typed_case(name, "x = 65504 * uniform(-1, 1) in float16, float32 weight and "
                            "bias.", uniform_pm1(name, (2, 6, 4, 4)) * F16_MAX, 3, f16,
                            "contiguous", 1e-5, w, b, "float32"))
    name = "f16_near_max_cl"
    cases.append(typed_case(name, "x = 65504 * uniform(-1, 1) in float16, stored "
                            "channels-last, no affine.", uniform_pm1(name, (2, 6, 4, 4)) * F16_MAX,
                            3, f16, "channels_last"))
    # float16 subnormals: multiples of 2^-24 below 2^-14
    for name, k, eps, params, what in [
            ("f16_subnormal", 1000, 1e-5, "float32", "eps 1e-5, which dominates the variance"),
            ("f16_subnormal_eps_0", 1000, 0.0, "none",
             "eps 0: rstd about 3e4, within float16"),
            ("f16_subnormal_rstd_overflows", 20, 0.0, "none",
             "eps 0: rstd about 1.4e6, beyond float16, so PyTorch's float16 rstd is inf "
             "(its y is finite)")]:
        ints = torch.randint(-k, k + 1, (2, 4, 4, 4), generator=gen(name), dtype=torch.int64)
        x = (ints.double() * 2.0 ** -24).float()
        assert bool((x.abs() < 2.0 ** -14).all())
        w, b, pdt = typed_affine(name, 4, params, f16)
        cases.append(typed_case(name, f"float16 subnormals: x = n * 2^-24 with integer n in "
                                f"[-{k}, {k}], {what}; {params_str(params, f16)}.", x, 2, f16,
                                "contiguous", eps, w, b, pdt))
    # bfloat16 subnormals (multiples of 2^-133 below 2^-126), whose float32 squares underflow
    for name, eps in [("bf16_subnormal", 1e-5), ("bf16_subnormal_eps_0", 0.0)]:
        ints = torch.randint(-100, 101, (2, 4, 4, 4), generator=gen(name), dtype=torch.int64)
        x = (ints.double() * 2.0 ** -133).float()
        cases.append(typed_case(name, f"bfloat16 subnormals: x = n * 2^-133 with integer n in "
                                f"[-100, 100], eps {eps!r}, no affine (PyTorch's float32 squares "
                                f"underflow{': rstd inf' if eps == 0 else ''}).", x, 2, bf16,
                                "contiguous", eps))
    # weights and biases at the float16 maximum, where y fits; and a y beyond it
    x = alternating((1, 4, 4, 4), 1.0)
    cases.append(typed_case("f16_max_weight_and_bias", "x = +1, -1, ... (|x - mean| * rstd just "
                            "below 1), float16 weights 65504, -65504, 1, 0.5 and biases 0, 1, "
                            "65504, -65504: y is about +-65504 and fits in float16.", x, 2, f16,
                            "contiguous", 1e-5, torch.tensor([F16_MAX, -F16_MAX, 1.0, 0.5]),
                            torch.tensor([0.0, 1.0, F16_MAX, -F16_MAX])))
    cases.append(typed_case("bf16_max_weight_and_bias_cl", "x = +1, -1, ..., bfloat16 weights "
                            "+-max, 1, 0.5 and biases 0, 1, +-max (3.39e38): y is about +-max "
                            "and fits in bfloat16.", x, 2, bf16, "channels_last", 1e-5,
                            torch.tensor([BF16_MAX, -BF16_MAX, 1.0, 0.5]),
                            torch.tensor([0.0, 1.0, BF16_MAX, -BF16_MAX])))
    x = torch.tensor([3.0, -1.0, -1.0, -1.0]).repeat(8).reshape(1, 2, 4, 4)
    cases.append(typed_case("f16_y_overflows", "x = 3, -1, -1, -1, ... (mean 0, the 3s at z = "
                            "1.73), float16 weight 65504 and -65504: y = +-1.13e5 at the 3s, "
                            "beyond float16, so PyTorch's float16 y is +-inf there.", x, 1, f16,
                            "contiguous", 1e-5, torch.tensor([F16_MAX, -F16_MAX]), None))
    report_typed(cases)
    return cases


def silu_cases():
    cases = []
    for di, dtype in enumerate(DTYPES):
        t = SHORT[dtype]
        # parameters: float32 always for float32 input; for half input float32 or its own type
        pdt_of = lambda i: "float32" if dtype == "float32" or i % 2 == 0 else dtype

        def add(name, desc, x, g, layout, w=None, b=None, pdt=None, eps=1e-5):
            pdt = pdt or (dtype if w is None and b is None else "float32")
            where = "" if dtype == "float32" else f" in {dtype}"
            if w is None and b is None:
                params = "no affine"
            elif b is None:
                params = f"{pdt} weight, no bias"
            elif w is None:
                params = f"{pdt} bias, no weight"
            else:
                params = f"{pdt} weight and bias"
            cases.append(typed_case(name, f"silu(GroupNorm(x)): {desc}{where}, "
                                    f"{layout_str(layout)}, {params}.", x, g, dtype, layout, eps,
                                    w, b, pdt, "silu"))

        # the notebook's layer followed by SiLU
        x = torch.arange(100.0, dtype=torch.float32).reshape(1, 4, 5, 5)
        add(f"silu_{t}_notebook", "nn.GroupNorm(2, 4) (weight 1, bias 0) on arange(100) "
            "reshaped to (1, 4, 5, 5)", x, 2, "contiguous", torch.ones(4), torch.zeros(4),
            "float32")
        # group lengths around 64, 5-D, both layouts, with and without affine
        specs = [((2, 7, 3, 3), 1), ((2, 8, 4, 4), 2), ((1, 5, 13), 1), ((1, 6, 2, 2, 4), 3)]
        for i, (shape, g) in enumerate(specs):
            group_len = shape[1] // g * int(np.prod(shape[2:]))
            for li, layout in enumerate(LAYOUTS):
                name = f"silu_{t}_{shape_str(shape)}_g{g}" + ("_cl" if li else "")
                aff = (i + li) % 2 == 0
                w, b = affine(name, shape[1]) if aff else (None, None)
                add(name, f"{shape_str(shape)} with {g} group(s) of {group_len} values",
                    randn(name, shape), g, layout, w, b, pdt_of(i) if aff else None)
        # a Stable-Diffusion-like layer, kept small
        layout = ("channels_last", "channels_last", "contiguous")[di]
        name = f"silu_{t}_sd_1x64x8x8_g32" + ("_cl" if layout == "channels_last" else "")
        w, b = affine(name, 64)
        add(name, "a Stable-Diffusion-like layer (1, 64, 8, 8) with 32 groups",
            randn(name, (1, 64, 8, 8)), 32, layout, w, b, pdt_of(di + 1))
        # large |z|: weights +-50, so z reaches about +-150 and sigmoid saturates
        for li, layout in enumerate(LAYOUTS):
            name = f"silu_{t}_weight_50" + ("_cl" if li else "")
            w = 50.0 * torch.tensor([1.0, -1.0] * 4)
            b = 3.0 * randn(name, (8,), salt=2)
            add(name, "weights +50 and -50 and random biases (|z| up to about 150) on "
                "(2, 8, 4, 4) with 4 groups", randn(name, (2, 8, 4, 4)), 4, layout, w, b,
                pdt_of(li))
        # means far from zero
        for k, li in [(1, 0), (3, 1)]:
            name = f"silu_{t}_offset_1e{k}" + ("_cl" if li else "")
            w, b = affine(name, 32)
            add(name, f"x = 1e{k} + randn on (1, 32, 4, 4) with 8 groups, random affine",
                10.0 ** k + randn(name, (1, 32, 4, 4)), 8, LAYOUTS[li], w, b, pdt_of(k + li))
        # non-finite z: NaN and infinities in the input, and an infinite weight, where
        # z = +-inf gives silu(+inf) = inf and silu(-inf) = NaN
        inf, nan = float("inf"), float("nan")
        name = f"silu_{t}_nonfinite"
        x = randn(name, (2, 6, 2, 2))
        x[0, 0, 1, 0] = nan   # batch 0 group 0
        x[1, 3, 0, 1] = inf   # batch 1 group 1
        x[1, 4, 0, 0] = -inf  # batch 1 group 2
        w, b = affine(name, 6)
        w[2] = inf
        add(name, "NaN in batch 0 group 0, +Inf in batch 1 group 1, -Inf in batch 1 group 2, "
            "and weight +Inf on channel 2 (z = +-inf there: silu(+inf) = +inf, silu(-inf) = "
            "NaN), on (2, 6, 2, 2) with 3 groups", x, 3, "contiguous", w, b, pdt_of(0))
        # one parameter of the two
        for name, which in [(f"silu_{t}_weight_only_cl", "w"), (f"silu_{t}_bias_only", "b")]:
            w, b = affine(name, 4)
            w, b = (w, None) if which == "w" else (None, b)
            layout = "channels_last" if which == "w" else "contiguous"
            add(name, "(2, 4, 3, 3) with 2 groups", randn(name, (2, 4, 3, 3)), 2, layout, w, b,
                pdt_of(1 if which == "w" else 0))
    check_names(cases)
    report_typed(cases)
    return cases


def check_names(cases):
    """In half_precision.json and silu.json, a channels-last case's name ends in _cl or
    _channels_last, and only such a case's name does (vectors/README.md says so)."""
    for case in cases:
        marked = case.name.endswith("_cl") or case.name.endswith("_channels_last")
        assert marked == (case.layout == "channels_last"), case.name


def report_typed(cases):
    """Print, per case and then at worst per type and layout, how far PyTorch's result in the
    case's own type is from its float64 result, in eps of that type of max(1, |y64|); and, for
    the half types, how far its float32 result on the values upcast is, in eps32."""
    worst = {}
    print("PyTorch in the case's type vs float64 (y, in eps of the type of max(1, |y64|)):")
    for case in cases:
        y64 = case.f64[0]
        fin = np.isfinite(y64)
        scale = np.maximum(1.0, np.abs(y64[fin]))

        def err(y, eps):
            y = y.astype(np.float64)[fin]
            with np.errstate(invalid="ignore"):
                d = np.where(np.isfinite(y), np.abs(y - y64[fin]), np.inf)
            return float((d / (eps * scale)).max()) if d.size else 0.0
        native_err = err(case.f32[0], EPS[case.dtype])
        line = f"  {case.name}: {native_err:.3g} {UNIT[case.dtype]}"
        if case.dtype != "float32":
            line += f"; float32 on the values upcast {err(case.f32_upcast[0], EPS['float32']):.3g} eps32"
        print(line)
        key = (case.dtype, case.layout)
        if native_err >= worst.get(key, (-1.0, ""))[0]:
            worst[key] = (native_err, case.name)
    for (dtype, layout), (e, name) in sorted(worst.items()):
        print(f"  worst {dtype} {layout}: {e:.3g} {UNIT[dtype]} ({name})")


def report_channels_last_float64(cases):
    """Print how far PyTorch's float64 channels-last kernel is from its contiguous one.

    Over the elements where both are finite: y in float64 eps of max(1, |y|), mean relative
    to |mean| + std (std = 1 / rstd; a mean near 0 has no relative digits to lose), rstd
    relative. Also counted: the elements where the two disagree on which values are finite.
    """
    e64 = np.finfo(np.float64).eps
    worst = {"y": (0.0, ""), "mean": (0.0, ""), "rstd": (0.0, "")}
    compared = equal = 0
    print("channels-last float64 kernel vs contiguous float64 (y: eps64 of max(1,|y|); "
          "mean: relative to |mean|+std; rstd: relative):")
    for case in cases:
        if case.f64_channels_last is None:
            continue
        compared += 1
        if all(a.tobytes() == b.tobytes() for a, b in zip(case.f64_channels_last, case.f64)):
            equal += 1
        row = []
        for key, a, b in zip(("y", "mean", "rstd"), case.f64_channels_last, case.f64):
            fin = np.isfinite(a) & np.isfinite(b)
            nonfinite_differ = int(np.sum(~fin & ~((a == b) | (np.isnan(a) & np.isnan(b)))))
            d = np.abs(a[fin] - b[fin])
            if key == "y":
                scale = np.maximum(1.0, np.abs(b[fin])) * e64
            elif key == "mean":
                scale = np.abs(b[fin]) + 1.0 / case.f64[2][fin]
            else:
                scale = np.abs(b[fin])
            with np.errstate(divide="ignore", invalid="ignore"):
                err = np.where(d == 0, 0.0, d / scale)
            v = float(err.max()) if err.size else 0.0
            if v > worst[key][0]:
                worst[key] = (v, case.name)
            row.append(f"{key} {v:.3g}" + (f" ({nonfinite_differ} non-finite differ)"
                                           if nonfinite_differ else ""))
        print(f"  {case.name}: " + ", ".join(row))
    print(f"  {equal} of {compared} cases with a channels-last kernel bit-equal; worst: "
          + ", ".join(f"{k} {v:.3g} ({n})" for k, (v, n) in worst.items()))


# --------------------------------------------------------------------------
# Writing and validation
# --------------------------------------------------------------------------

def render_file(torch_version, cases):
    head = (
        "{\n"
        f'  "format": {json.dumps(FORMAT)},\n'
        f'  "version": {VERSION},\n'
        f'  "torch_version": {json.dumps(torch_version)},\n'
        f'  "generator": {json.dumps(GENERATOR)},\n'
        '  "cases": [\n'
    )
    return head + ",\n".join(c.render() for c in cases) + "\n  ]\n}\n"


def _decode(values, dtype):
    def one(v):
        if isinstance(v, str):
            return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[v]
        assert isinstance(v, float), v
        return v
    return np.array([one(v) for v in values], dtype=np.float64).astype(dtype)


def _same_bits(parsed, want, label):
    assert parsed.shape == want.shape, label
    pn, wn = np.isnan(parsed), np.isnan(want)
    assert (pn == wn).all(), f"{label}: NaN positions differ"
    uint = np.uint32 if want.dtype == np.float32 else np.uint64
    assert (parsed[~pn].view(uint) == want[~wn].view(uint)).all(), f"{label}: bits differ"


def validate(text, torch_version, cases):
    def no_constants(tok):
        raise ValueError(f"bare {tok} is not valid JSON")
    doc = json.loads(text, parse_constant=no_constants)
    assert list(doc) == ["format", "version", "torch_version", "generator", "cases"]
    assert doc["format"] == FORMAT and doc["version"] == VERSION
    assert doc["torch_version"] == torch_version and doc["generator"] == GENERATOR
    assert len(doc["cases"]) == len(cases)
    keys = ["name", "description", "shape", "num_groups", "eps", "layout", "dtype",
            "param_dtype", "activation", "has_weight", "has_bias", "input", "weight", "bias",
            "expected"]
    for got, case in zip(doc["cases"], cases):
        lbl = case.name
        assert list(got) == keys, lbl
        assert got["name"] == case.name and got["shape"] == list(case.x.shape)
        assert got["num_groups"] == case.num_groups
        assert isinstance(got["eps"], float) and got["eps"] == case.eps
        assert math.copysign(1.0, got["eps"]) == math.copysign(1.0, case.eps)
        for key in ("layout", "dtype", "param_dtype", "activation"):
            assert got[key] == getattr(case, key), f"{lbl}.{key}"
        assert got["layout"] in LAYOUTS and got["activation"] in ACTIVATIONS, lbl
        assert got["dtype"] in DTYPES and got["param_dtype"] in DTYPES, lbl
        n = int(np.prod(case.x.shape))
        assert len(got["input"]) == n
        # input is x in the layout's memory order: as written, and (by numpy, not torch) as
        # the logical tensor once moved back
        xin = _decode(got["input"], np.float32)
        _same_bits(xin, memory_order(case.x, case.layout), lbl + ".input")
        _same_bits(logical_order(xin, tuple(got["shape"]), got["layout"]).reshape(-1),
                   flat_np(case.x), lbl + ".input (logical)")
        for key, t in (("weight", case.weight), ("bias", case.bias)):
            assert got["has_" + key] == (t is not None), lbl
            if t is None:
                assert got[key] is None, lbl
            else:
                _same_bits(_decode(got[key], np.float32), flat_np(t), f"{lbl}.{key}")
        exp = got["expected"]
        labels = [case.dtype] + (["float32"] if case.dtype != "float32" else []) + ["float64"]
        assert list(exp) == labels == [label for label, _ in case.blocks], lbl
        for dname, want in case.blocks:
            dtype = np.float64 if dname == "float64" else np.float32
            assert list(exp[dname]) == ["y", "mean", "rstd"], lbl
            for key, w in zip(("y", "mean", "rstd"), want):
                assert w.dtype == dtype
                parsed = _decode(exp[dname][key], dtype)
                _same_bits(parsed, w, f"{lbl}.{dname}.{key}")
                if dname == case.dtype:
                    # values of the case's type: y of dtype, mean and rstd of the stats type
                    t = case.dtype if key == "y" else case.stats_dtype
                    assert holds(torch.from_numpy(parsed), t), f"{lbl}.{dname}.{key}"
            assert len(exp[dname]["y"]) == n
            assert len(exp[dname]["mean"]) == case.x.shape[0] * case.num_groups
        assert holds(torch.from_numpy(xin), case.dtype), lbl
        for key in ("weight", "bias"):
            if got[key] is not None:
                assert holds(torch.from_numpy(_decode(got[key], np.float32)), case.param_dtype)


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    torch_version = torch.__version__.split("+")[0]
    assert torch_version == PINNED_TORCH, f"need torch {PINNED_TORCH}, have {torch.__version__}"

    files = [
        ("notebook.json", notebook_cases),
        ("pytorch_shapes.json", pytorch_shape_cases),
        ("boundaries.json", boundary_cases),
        ("model_layer.json", model_layer_cases),
        ("ill_conditioned.json", ill_conditioned_cases),
        ("large_offset.json", large_offset_cases),
        ("extreme_arguments.json", extreme_argument_cases),
        ("channels_last.json", channels_last_cases),
        ("half_precision.json", half_precision_cases),
        ("silu.json", silu_cases),
    ]
    seen = set()
    with torch.no_grad():
        for fname, make in files:
            cases = make()
            for c in cases:
                assert c.name not in seen, f"duplicate case name {c.name}"
                seen.add(c.name)
            text = render_file(torch_version, cases)
            validate(text, torch_version, cases)
            path = os.path.join(HERE, fname)
            with open(path, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
            print(f"wrote vectors/{fname}: {len(cases)} cases, {len(text.encode())} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
