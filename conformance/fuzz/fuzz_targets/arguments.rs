//! Argument checking of both crates on fuzzer-chosen, mostly invalid arguments.
//!
//! The bytes become a shape of 0..=6 dimensions (small sizes, zero, and huge ones: `usize::MAX`,
//! powers of two whose products overflow, arbitrary values), `G` (zero, small, huge), optional
//! weight and bias, and input, output, `mean` and `rstd` buffers whose lengths are right, off by
//! one, or arbitrary, in either layout (contiguous or channels-last). The expected outcome comes
//! from an independent model of the documented checks ([`expected`]), in the documented order,
//! which is the same in every layout. Then:
//!
//! * nothing panics;
//! * the reference returns the model's error (every one it knows), or `Ok` with `y`, `mean` and
//!   `rstd` of the right lengths;
//! * every kernel in `Kernel::available()`, and `GroupNorm::forward` / `forward_with_stats`,
//!   return the model's result exactly, so the two crates agree (the same variant, fields
//!   included, for the errors they share);
//! * on an error no buffer is written (sentinels compared bit for bit); on success every value
//!   of every buffer is.
//!
//! Then the same arguments once more with element types the fuzzer chooses: the input and `y`
//! of `f32`, `F16` or `Bf16`, weight and bias of any of the three (bias of the weight's type or
//! another), `mean` and `rstd` of `f32` or the input's type. Every kernel must return the model's
//! error where the arguments are wrong otherwise (the type checks come last), else the model of
//! PyTorch's type rules (parameters `f32` or the input's type and of one type; statistics `f32`
//! with `f32` parameters, else the input's type), and write nothing on an error.
//!
//! With `C >= 1` and every spatial dimension `>= 1`, the number of statistics `N * G` is at most
//! the element count, so it fits in `usize` and the reference's allocations are bounded by the
//! input's length: the model asserts that.
//!
//! `ShapeOverflow` means what its message says, an element count beyond `usize`: a zero spatial
//! dimension is reported as `ZeroSpatial` whatever the other dimensions, and `N = 0` makes the
//! count 0, never an overflow.

#![no_main]

use groupnorm_conformance::kit::{self, Inputs, SENTINEL};
use groupnorm_conformance::variant::Layout;
use groupnorm_optimized::{
    Bf16, Element, GroupNorm, GroupNormError as OptError, Kernel, StatsBuffers, F16,
};
use groupnorm_reference::GroupNormError as RefError;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Most values a buffer gets.
const MAX_LEN: usize = 4100;

const HUGE: [usize; 12] = [
    usize::MAX,
    usize::MAX - 1,
    usize::MAX / 2,
    usize::MAX / 2 + 1,
    usize::MAX / 3,
    1 << (usize::BITS / 2),
    1 << (usize::BITS / 3 + 1),
    1 << (usize::BITS - 2),
    1 << 40,
    1 << 20,
    4097,
    65536,
];

fn size(u: &mut Unstructured) -> Result<usize> {
    Ok(match u.int_in_range(0u8..=7)? {
        0..=4 => u.int_in_range(0usize..=9)?,
        5 => u.int_in_range(0usize..=300)?,
        6 => *u.choose(&HUGE)?,
        _ => u.arbitrary()?,
    })
}

/// A buffer length: `right` (when it is a length a buffer can have here), next to it, or any.
fn length(u: &mut Unstructured, right: Option<usize>) -> Result<usize> {
    let right = right.filter(|&r| r <= MAX_LEN);
    Ok(match (u.int_in_range(0u8..=3)?, right) {
        (0 | 1, Some(r)) => r,
        (2, Some(r)) => {
            if u.arbitrary()? {
                r + 1
            } else {
                r.saturating_sub(1)
            }
        }
        _ => u.int_in_range(0..=MAX_LEN)?,
    })
}

#[derive(Debug)]
struct Args {
    shape: Vec<usize>,
    num_groups: usize,
    weight: Option<usize>,
    bias: Option<usize>,
    input: usize,
    y: usize,
    stats: Option<(usize, usize)>,
    layout: Layout,
}

fn args(u: &mut Unstructured) -> Result<Args> {
    let dims = u.int_in_range(0usize..=6)?;
    let shape = (0..dims).map(|_| size(u)).collect::<Result<Vec<_>>>()?;
    let num_groups = match u.int_in_range(0u8..=3)? {
        0 | 1 => u.int_in_range(0usize..=9)?,
        // A power of two dividing C (any, where C = 0).
        2 => {
            let c = shape.get(1).copied().unwrap_or(0);
            1 << c
                .trailing_zeros()
                .min(u.int_in_range(0u32..=usize::BITS - 1)?)
        }
        _ => size(u)?,
    };
    let channels = shape.get(1).copied();
    let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let stats_count = shape.first().and_then(|n| n.checked_mul(num_groups));
    let weight = if u.arbitrary()? {
        Some(length(u, channels)?)
    } else {
        None
    };
    let bias = if u.arbitrary()? {
        Some(length(u, channels)?)
    } else {
        None
    };
    let input = length(u, count)?;
    let y = length(u, count)?;
    let stats = if u.arbitrary()? {
        Some((length(u, stats_count)?, length(u, stats_count)?))
    } else {
        None
    };
    // Last, so that inputs too short for it are contiguous arguments as before.
    let layout = if u.arbitrary()? {
        Layout::ChannelsLast
    } else {
        Layout::Contiguous
    };
    Ok(Args {
        shape,
        num_groups,
        weight,
        bias,
        input,
        y,
        stats,
        layout,
    })
}

/// The documented checks, in order, written independently of both crates.
fn expected(a: &Args) -> std::result::Result<(), OptError> {
    if a.shape.len() < 2 {
        return Err(OptError::TooFewDimensions {
            dims: a.shape.len(),
        });
    }
    let (n, channels) = (a.shape[0], a.shape[1]);
    if a.num_groups == 0 {
        return Err(OptError::ZeroGroups);
    }
    if channels == 0 {
        return Err(OptError::ZeroChannels);
    }
    if channels % a.num_groups != 0 {
        return Err(OptError::ChannelsNotDivisible {
            channels,
            num_groups: a.num_groups,
        });
    }
    if let Some(len) = a.weight.filter(|&l| l != channels) {
        return Err(OptError::WeightLength { channels, len });
    }
    if let Some(len) = a.bias.filter(|&l| l != channels) {
        return Err(OptError::BiasLength { channels, len });
    }
    let spatial_dims = &a.shape[2..];
    if spatial_dims.contains(&0) {
        return Err(OptError::ZeroSpatial);
    }
    // The element count itself: 0 when N = 0, whatever the other dimensions.
    let count = if n == 0 {
        Some(0)
    } else {
        a.shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
    };
    let Some(count) = count else {
        return Err(OptError::ShapeOverflow);
    };
    let stats_count = n
        .checked_mul(a.num_groups)
        .filter(|&s| s <= count)
        .expect("N * G <= N * C <= the element count");
    if a.input != count {
        return Err(OptError::InputLength {
            expected: count,
            len: a.input,
        });
    }
    if a.y != count {
        return Err(OptError::OutputLength {
            expected: count,
            len: a.y,
        });
    }
    if let Some((mean, rstd)) = a.stats {
        if mean != stats_count {
            return Err(OptError::MeanLength {
                expected: stats_count,
                len: mean,
            });
        }
        if rstd != stats_count {
            return Err(OptError::RstdLength {
                expected: stats_count,
                len: rstd,
            });
        }
    }
    Ok(())
}

/// The reference's error for a model error, where it has one (it knows no output buffers).
fn shared(e: &OptError) -> Option<RefError> {
    Some(match *e {
        OptError::TooFewDimensions { dims } => RefError::TooFewDimensions { dims },
        OptError::ZeroGroups => RefError::ZeroGroups,
        OptError::ZeroChannels => RefError::ZeroChannels,
        OptError::ChannelsNotDivisible {
            channels,
            num_groups,
        } => RefError::ChannelsNotDivisible {
            channels,
            num_groups,
        },
        OptError::WeightLength { channels, len } => RefError::WeightLength { channels, len },
        OptError::BiasLength { channels, len } => RefError::BiasLength { channels, len },
        OptError::ShapeOverflow => RefError::ShapeOverflow,
        OptError::ZeroSpatial => RefError::ZeroSpatial,
        OptError::InputLength { expected, len } => RefError::InputLength { expected, len },
        OptError::OutputLength { .. }
        | OptError::MeanLength { .. }
        | OptError::RstdLength { .. } => return None,
        // `GroupNormError` is `#[non_exhaustive]`; `expected` returns none of its other variants.
        _ => unreachable!("not an error of the model: {e:?}"),
    })
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(a) = args(&mut u) else { return };
    let want = expected(&a);
    let x: Vec<f32> = (0..a.input).map(|i| (i % 17) as f32 * 0.5 - 4.0).collect();
    let weight: Option<Vec<f32>> = a
        .weight
        .map(|l| (0..l).map(|i| 1.0 + i as f32 * 0.01).collect());
    let bias: Option<Vec<f32>> = a.bias.map(|l| (0..l).map(|i| i as f32 * 0.1).collect());
    let inputs = Inputs {
        shape: &a.shape,
        num_groups: a.num_groups,
        weight: weight.as_deref(),
        bias: bias.as_deref(),
        eps: 1e-5,
        input: &x,
        layout: a.layout,
    };

    // The reference.
    let ref_want = match &want {
        Err(e) => shared(e).map(Err),
        Ok(()) => Some(Ok(())),
    };
    {
        let got = catch_unwind(AssertUnwindSafe(|| inputs.reference()));
        let got = got.unwrap_or_else(|_| panic!("reference panicked on {a:?}"));
        match (&got, &ref_want) {
            (Err(e), Some(Err(w))) => assert_eq!(e, w, "reference on {a:?}"),
            (Ok(out), _) => {
                assert!(
                    want.is_ok() || shared(want.as_ref().unwrap_err()).is_none(),
                    "reference accepts {a:?}, expected {want:?}"
                );
                let groups = a.shape[0] * a.num_groups;
                assert_eq!(
                    (out.y.len(), out.mean.len(), out.rstd.len()),
                    (a.input, groups, groups)
                );
            }
            (Err(e), _) => panic!("reference rejects {a:?} with {e:?}, expected {want:?}"),
        }
    }

    // The optimized crate: every kernel, and the methods of GroupNorm (Kernel::best).
    let params = inputs.params();
    let call = |kernel: Option<Kernel>| {
        let mut y = vec![SENTINEL; a.y];
        let (mean_len, rstd_len) = a.stats.unwrap_or((0, 0));
        let mut mean = vec![SENTINEL; mean_len];
        let mut rstd = vec![SENTINEL; rstd_len];
        let name = kernel.map_or("GroupNorm::forward*", Kernel::name);
        let got = catch_unwind(AssertUnwindSafe(|| {
            let stats = a
                .stats
                .is_some()
                .then(|| StatsBuffers::new(&mut mean, &mut rstd));
            match (kernel, stats) {
                (Some(k), stats) => k.run(&params, &x, &mut y, stats),
                (None, Some(stats)) => params.forward_with_stats(&x, &mut y, stats),
                (None, None) => params.forward(&x, &mut y),
            }
        }));
        let got = got.unwrap_or_else(|_| panic!("{name} panicked on {a:?}"));
        assert_eq!(got, want, "{name} on {a:?}");
        let is_sentinel = |v: &f32| v.to_bits() == SENTINEL.to_bits();
        let y_untouched = y.iter().all(is_sentinel);
        let stats_untouched = mean.iter().chain(&rstd).all(is_sentinel);
        if got.is_err() {
            assert!(
                y_untouched && stats_untouched,
                "{name}: wrote on error, {a:?}"
            );
        } else {
            let y_written = !y.iter().any(is_sentinel);
            let stats_written = !mean.iter().chain(&rstd).any(is_sentinel);
            assert!(
                y_written && stats_written,
                "{name}: left an output unwritten, {a:?}"
            );
        }
    };
    kit::for_each_kernel(|kernel| call(Some(kernel)));
    call(None);

    let Ok(types) = element_types(&mut u) else {
        return;
    };
    let want = want.and_then(|()| {
        type_rule(
            &types,
            a.weight.is_some(),
            a.bias.is_some(),
            a.stats.is_some(),
        )
    });
    match (types.input, types.stats) {
        (Type::F32, _) => typed::<f32, f32>(&a, &types, &want),
        (Type::F16, Type::F32) => typed::<F16, f32>(&a, &types, &want),
        (Type::F16, _) => typed::<F16, F16>(&a, &types, &want),
        (Type::Bf16, Type::F32) => typed::<Bf16, f32>(&a, &types, &want),
        (Type::Bf16, _) => typed::<Bf16, Bf16>(&a, &types, &want),
    }
});

/// An element type, by name.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Type {
    F32,
    F16,
    Bf16,
}

impl Type {
    fn name(self) -> &'static str {
        match self {
            Type::F32 => "float32",
            Type::F16 => "float16",
            Type::Bf16 => "bfloat16",
        }
    }
}

/// The element types of one call.
#[derive(Debug)]
struct Types {
    input: Type,
    weight: Type,
    bias: Type,
    /// `F32` or `input`.
    stats: Type,
}

fn element_types(u: &mut Unstructured) -> Result<Types> {
    let any = |u: &mut Unstructured| -> Result<Type> {
        Ok(*u.choose(&[Type::F32, Type::F16, Type::Bf16])?)
    };
    let input = any(u)?;
    let weight = any(u)?;
    let bias = if u.arbitrary()? { weight } else { any(u)? };
    let stats = if u.arbitrary()? { Type::F32 } else { input };
    Ok(Types {
        input,
        weight,
        bias,
        stats,
    })
}

/// PyTorch's rules on the types, for arguments that are right otherwise.
fn type_rule(
    t: &Types,
    has_weight: bool,
    has_bias: bool,
    has_stats: bool,
) -> std::result::Result<(), OptError> {
    let input = t.input.name();
    let weight = has_weight.then(|| t.weight.name());
    let bias = has_bias.then(|| t.bias.name());
    for found in weight.into_iter().chain(bias) {
        if found != "float32" && found != input {
            return Err(OptError::ParameterType { input, found });
        }
    }
    if let (Some(weight), Some(bias)) = (weight, bias) {
        if weight != bias {
            return Err(OptError::ParameterTypesDiffer { weight, bias });
        }
    }
    let expected = weight.or(bias).unwrap_or(input);
    let found = t.stats.name();
    if has_stats && found != expected {
        return Err(OptError::StatsType { expected, found });
    }
    Ok(())
}

/// A value of an element type that no call writes, and how to tell it.
trait Sentinel: Element + Copy {
    const SENTINEL: Self;
    fn of(v: f32) -> Self;
    fn is_sentinel(&self) -> bool;
}

impl Sentinel for f32 {
    const SENTINEL: f32 = SENTINEL;
    fn of(v: f32) -> f32 {
        v
    }
    fn is_sentinel(&self) -> bool {
        self.to_bits() == SENTINEL.to_bits()
    }
}

impl Sentinel for F16 {
    const SENTINEL: F16 = F16::from_bits(0x7e12);
    fn of(v: f32) -> F16 {
        F16::from_f32(v)
    }
    fn is_sentinel(&self) -> bool {
        *self == Self::SENTINEL
    }
}

impl Sentinel for Bf16 {
    const SENTINEL: Bf16 = Bf16::from_bits(0x7fd2);
    fn of(v: f32) -> Bf16 {
        Bf16::from_f32(v)
    }
    fn is_sentinel(&self) -> bool {
        *self == Self::SENTINEL
    }
}

/// `values` as a slice of `t`, set as the weight (`weight`) or the bias of `params`.
fn with_parameter<'a>(
    params: GroupNorm<'a>,
    values: &'a (Vec<f32>, Vec<F16>, Vec<Bf16>),
    t: Type,
    weight: bool,
) -> GroupNorm<'a> {
    match (t, weight) {
        (Type::F32, true) => params.with_weight(&values.0),
        (Type::F16, true) => params.with_weight(&values.1),
        (Type::Bf16, true) => params.with_weight(&values.2),
        (Type::F32, false) => params.with_bias(&values.0),
        (Type::F16, false) => params.with_bias(&values.1),
        (Type::Bf16, false) => params.with_bias(&values.2),
    }
}

/// The arguments `a` with input and `y` of `E` and statistics of `S` (and weight and bias of the
/// types `types` says): every kernel returns `want`, writes nothing on error and everything
/// else.
fn typed<E: Sentinel, S: Sentinel>(
    a: &Args,
    types: &Types,
    want: &std::result::Result<(), OptError>,
) {
    let x: Vec<E> = (0..a.input)
        .map(|i| E::of((i % 17) as f32 * 0.5 - 4.0))
        .collect();
    let all = |values: Vec<f32>| {
        let f16 = values.iter().map(|&v| F16::from_f32(v)).collect();
        let bf16 = values.iter().map(|&v| Bf16::from_f32(v)).collect();
        (values, f16, bf16)
    };
    let weight = a
        .weight
        .map(|l| all((0..l).map(|i| 1.0 + i as f32 * 0.01).collect()));
    let bias = a
        .bias
        .map(|l| all((0..l).map(|i| i as f32 * 0.1).collect()));
    let mut params = GroupNorm::new(&a.shape, a.num_groups)
        .with_eps(1e-5)
        .with_layout(match a.layout {
            Layout::Contiguous => groupnorm_optimized::Layout::Contiguous,
            Layout::ChannelsLast => groupnorm_optimized::Layout::ChannelsLast,
        });
    if let Some(w) = &weight {
        params = with_parameter(params, w, types.weight, true);
    }
    if let Some(b) = &bias {
        params = with_parameter(params, b, types.bias, false);
    }
    kit::for_each_kernel(|kernel| {
        let mut y = vec![E::SENTINEL; a.y];
        let (mean_len, rstd_len) = a.stats.unwrap_or((0, 0));
        let mut mean = vec![S::SENTINEL; mean_len];
        let mut rstd = vec![S::SENTINEL; rstd_len];
        let got = catch_unwind(AssertUnwindSafe(|| {
            let stats = a
                .stats
                .is_some()
                .then(|| StatsBuffers::new(&mut mean, &mut rstd));
            kernel.run(&params, &x, &mut y, stats)
        }));
        let name = kernel.name();
        let got = got.unwrap_or_else(|_| panic!("{name} panicked on {a:?} {types:?}"));
        assert_eq!(&got, want, "{name} on {a:?} {types:?}");
        let untouched = y.iter().all(Sentinel::is_sentinel)
            && mean.iter().chain(&rstd).all(Sentinel::is_sentinel);
        let written = !y.iter().any(Sentinel::is_sentinel)
            && !mean.iter().chain(&rstd).any(Sentinel::is_sentinel);
        if got.is_err() {
            assert!(untouched, "{name}: wrote on error, {a:?} {types:?}");
        } else {
            assert!(written, "{name}: left an output unwritten, {a:?} {types:?}");
        }
    });
}
