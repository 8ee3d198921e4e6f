//! Running one kernel on one problem: [`Inputs`], [`run`] and [`run_at`], [`KernelOutput`].
//! The test kit (`kit`) re-exports all of it, and `check` runs the vectors' cases with it.

use crate::variant::{Activation, DType, Layout, Variant};
use crate::vectors::{stats_dtype, Case};
use groupnorm_optimized::{Bf16, Element, GroupNorm, GroupNormError, Kernel, StatsBuffers, F16};
use groupnorm_reference::GroupNormOutput;
use std::fmt;

/// What every output value holds before a run: a quiet NaN with a payload that arithmetic never
/// creates. An input NaN with these very bits can carry it into an output, so where an output
/// holds it after the call, [`run`] and [`run_at`] run the kernel again with every output
/// holding [`SECOND_SENTINEL`]: a value that holds the sentinel of each run was not written.
pub const SENTINEL: f32 = f32::from_bits(0x7fc0_1234);

/// The sentinel of the second run (see [`SENTINEL`]).
pub const SECOND_SENTINEL: f32 = f32::from_bits(0x7fc0_4321);

/// Floats of padding after each slice that [`run_at`] hands to the kernel: sentinels after the
/// outputs, [`INPUT_PADDING`] after the input.
pub const PAD: usize = 16;

/// What the input buffer of [`run_at`] holds around the input slice.
pub const INPUT_PADDING: f32 = 0.5;

/// One GroupNorm problem, as `torch.nn.functional.group_norm` takes it.
#[derive(Clone, Copy, Debug)]
pub struct Inputs<'a> {
    /// `(N, C, *spatial)`.
    pub shape: &'a [usize],
    /// `G`.
    pub num_groups: usize,
    /// `gamma`, one per channel.
    pub weight: Option<&'a [f32]>,
    /// `beta`, one per channel.
    pub bias: Option<&'a [f32]>,
    pub eps: f64,
    /// `x`, in `layout`'s memory order.
    pub input: &'a [f32],
    /// The memory layout of `input` and of the output.
    pub layout: Layout,
}

impl<'a> Inputs<'a> {
    /// The optimized crate's arguments: shape, groups, `eps`, and weight and bias where given.
    pub fn params(&self) -> GroupNorm<'a> {
        let layout = match self.layout {
            Layout::Contiguous => groupnorm_optimized::Layout::Contiguous,
            Layout::ChannelsLast => groupnorm_optimized::Layout::ChannelsLast,
        };
        let mut params = GroupNorm::new(self.shape, self.num_groups)
            .with_eps(self.eps)
            .with_layout(layout);
        if let Some(weight) = self.weight {
            params = params.with_weight(weight);
        }
        if let Some(bias) = self.bias {
            params = params.with_bias(bias);
        }
        params
    }

    /// `N * G`, the length of `mean` and `rstd` (0 for a shape without `N`, or where the product
    /// overflows: the kernels reject those).
    pub fn group_count(&self) -> usize {
        self.shape
            .first()
            .and_then(|n| n.checked_mul(self.num_groups))
            .unwrap_or(0)
    }

    /// The `f64` reference on the same values: input, weight and bias upcast (exactly), `eps` as
    /// it is.
    pub fn reference(&self) -> Result<GroupNormOutput, groupnorm_reference::GroupNormError> {
        self.reference_with(Activation::None)
    }

    /// [`reference`](Self::reference) followed by `activation`, in `f64`.
    pub fn reference_with(
        &self,
        activation: Activation,
    ) -> Result<GroupNormOutput, groupnorm_reference::GroupNormError> {
        let up = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
        let weight = self.weight.map(up);
        let bias = self.bias.map(up);
        let variant = Variant {
            layout: self.layout,
            activation,
            ..Variant::default()
        };
        groupnorm_reference::group_norm_with_options(
            &up(self.input),
            self.shape,
            self.num_groups,
            weight.as_deref(),
            bias.as_deref(),
            self.eps,
            variant.reference_options(),
        )
    }
}

impl<'a> From<&'a Case> for Inputs<'a> {
    /// A vector case's input, weight, bias and `eps`, as stored.
    fn from(case: &'a Case) -> Self {
        Inputs {
            shape: &case.shape,
            num_groups: case.num_groups,
            weight: case.weight.as_deref(),
            bias: case.bias.as_deref(),
            eps: case.eps,
            input: &case.input,
            layout: case.variant.layout,
        }
    }
}

/// One kernel's outputs on one problem.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelOutput {
    pub y: Vec<f32>,
    /// `mean[n * G + g]`.
    pub mean: Vec<f32>,
    /// `rstd[n * G + g]`.
    pub rstd: Vec<f32>,
}

impl KernelOutput {
    /// The outputs upcast to `f64` (exactly), in the reference's type.
    pub fn to_f64(&self) -> GroupNormOutput {
        let up = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect();
        GroupNormOutput {
            y: up(&self.y),
            mean: up(&self.mean),
            rstd: up(&self.rstd),
        }
    }

    /// Where `self` and `other` differ bit for bit, in words (`None` when they are identical:
    /// same lengths, same bits, NaN payloads included).
    pub fn bit_difference(&self, other: &KernelOutput) -> Option<String> {
        let fields = [
            ("y", &self.y, &other.y),
            ("mean", &self.mean, &other.mean),
            ("rstd", &self.rstd, &other.rstd),
        ];
        fields.into_iter().find_map(|(name, a, b)| {
            if a.len() != b.len() {
                return Some(format!("{name}: {} values against {}", a.len(), b.len()));
            }
            let i = a
                .iter()
                .zip(b)
                .position(|(x, y)| x.to_bits() != y.to_bits())?;
            Some(format!("{name}[{i}]: {:e} against {:e}", a[i], b[i]))
        })
    }
}

/// Why [`run`] or [`run_at`] gave no output.
#[derive(Clone, Debug, PartialEq)]
pub enum RunError {
    /// The kernel returned an error.
    Rejected(GroupNormError),
    /// `output[index]` still holds the sentinel after the call, in two runs with different ones.
    Unwritten { output: &'static str, index: usize },
    /// A sentinel around the slice of `output` changed: `offset` values from the slice's start,
    /// negative before it.
    WrittenOutside { output: &'static str, offset: isize },
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Rejected(e) => write!(f, "the kernel rejected the arguments: {e}"),
            RunError::Unwritten { output, index } => {
                write!(f, "the kernel left {output}[{index}] unwritten")
            }
            RunError::WrittenOutside { output, offset } => write!(
                f,
                "the kernel wrote outside the slice of {output}, {offset} values from its start"
            ),
        }
    }
}

impl std::error::Error for RunError {}

/// Runs `kernel` on `inputs` with `mean` and `rstd`, into buffers of exactly the right lengths
/// filled with [`SENTINEL`]; an output value left unwritten is an error.
pub fn run(kernel: Kernel, inputs: &Inputs<'_>) -> Result<KernelOutput, RunError> {
    run_checked(kernel, inputs, &float32(inputs), None)
}

/// Like [`run`], for a case of `variant`: input and output of `variant.dtype`, weight and bias
/// of `variant.param_dtype` (`inputs` holds their values, each exactly a value of its type),
/// `mean` and `rstd` of the type PyTorch gives them (`vectors::stats_dtype`), and
/// `variant.activation`.
/// `variant.layout` is the layout of `inputs`. The outputs come back widened to `f32`, exactly.
pub fn run_variant(
    kernel: Kernel,
    inputs: &Inputs<'_>,
    variant: &Variant,
) -> Result<KernelOutput, RunError> {
    assert_eq!(
        inputs.layout, variant.layout,
        "the inputs' layout is the variant's"
    );
    run_checked(kernel, inputs, variant, None)
}

/// A float32 case without activation, in the layout of `inputs`.
fn float32(inputs: &Inputs<'_>) -> Variant {
    Variant {
        layout: inputs.layout,
        ..Variant::default()
    }
}

/// Where [`run_at`] places the slices in their buffers, in floats from the buffer's start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Offsets {
    /// Of the input, in a buffer of [`INPUT_PADDING`].
    pub input: usize,
    /// Of `y`, `mean` and `rstd`, each in a buffer of [`SENTINEL`]s.
    pub output: usize,
}

/// Like [`run`], with every slice at an offset into a larger buffer, and [`PAD`] floats after
/// it: the input at `offsets.input`, the outputs at `offsets.output` among sentinels. Besides an
/// unwritten value, a changed sentinel outside an output slice is an error.
pub fn run_at(
    kernel: Kernel,
    inputs: &Inputs<'_>,
    offsets: Offsets,
) -> Result<KernelOutput, RunError> {
    run_checked(kernel, inputs, &float32(inputs), Some(offsets))
}

/// An element type as the runs here handle it: two sentinels (quiet NaNs with payloads that
/// arithmetic never creates), and exact conversions from and to `f32`.
trait Value: Element + Copy {
    const SENTINELS: [Self; 2];
    /// `v`, which is a value of this type.
    fn from_value(v: f32) -> Self;
    fn widen(self) -> f32;
    /// The value whose bits are the low bits of `bits`.
    fn of_bits(bits: u32) -> Self;
    fn bits(self) -> u32;
}

impl Value for f32 {
    fn of_bits(bits: u32) -> f32 {
        f32::from_bits(bits)
    }
    const SENTINELS: [f32; 2] = [SENTINEL, SECOND_SENTINEL];
    fn from_value(v: f32) -> f32 {
        v
    }
    fn widen(self) -> f32 {
        self
    }
    fn bits(self) -> u32 {
        self.to_bits()
    }
}

impl Value for F16 {
    fn of_bits(bits: u32) -> F16 {
        F16::from_bits(bits as u16)
    }
    const SENTINELS: [F16; 2] = [F16::from_bits(0x7e12), F16::from_bits(0x7e21)];
    fn from_value(v: f32) -> F16 {
        F16::from_f32(v)
    }
    fn widen(self) -> f32 {
        self.to_f32()
    }
    fn bits(self) -> u32 {
        u32::from(self.to_bits())
    }
}

impl Value for Bf16 {
    fn of_bits(bits: u32) -> Bf16 {
        Bf16::from_bits(bits as u16)
    }
    const SENTINELS: [Bf16; 2] = [Bf16::from_bits(0x7fd2), Bf16::from_bits(0x7fe1)];
    fn from_value(v: f32) -> Bf16 {
        Bf16::from_f32(v)
    }
    fn widen(self) -> f32 {
        self.to_f32()
    }
    fn bits(self) -> u32 {
        u32::from(self.to_bits())
    }
}

/// [`run`] (`offsets` `None`) or [`run_at`], in the types `variant` says.
fn run_checked(
    kernel: Kernel,
    inputs: &Inputs<'_>,
    variant: &Variant,
    offsets: Option<Offsets>,
) -> Result<KernelOutput, RunError> {
    let has_parameters = inputs.weight.is_some() || inputs.bias.is_some();
    let call = Call {
        kernel,
        inputs,
        param_dtype: variant.param_dtype,
        activation: variant.activation,
        offsets,
    };
    use DType::{BFloat16, Float16, Float32};
    match (variant.dtype, stats_dtype(*variant, has_parameters)) {
        (Float16, Float16) => call.checked::<F16, F16>(),
        (Float16, _) => call.checked::<F16, f32>(),
        (BFloat16, BFloat16) => call.checked::<Bf16, Bf16>(),
        (BFloat16, _) => call.checked::<Bf16, f32>(),
        (Float32, _) => call.checked::<f32, f32>(),
    }
}

/// One kernel call's arguments besides the types.
struct Call<'i, 'a> {
    kernel: Kernel,
    inputs: &'i Inputs<'a>,
    param_dtype: DType,
    activation: Activation,
    offsets: Option<Offsets>,
}

impl Call<'_, '_> {
    /// With input and output of `E` and statistics of `S`: a first run, and a second one where
    /// an output holds the first run's sentinel.
    fn checked<E: Value, S: Value>(&self) -> Result<KernelOutput, RunError> {
        let [first, second] = [0, 1].map(|i| (E::SENTINELS[i], S::SENTINELS[i]));
        let out = self.once::<E, S>(first)?;
        let holds = |v: &[u32], s: u32| v.contains(&s);
        let (y_bits, stat_bits) = (first.0.bits(), first.1.bits());
        if holds(&out.y, y_bits) || holds(&out.mean, stat_bits) || holds(&out.rstd, stat_bits) {
            let again = self.once::<E, S>(second)?;
            let fields = [
                ("y", &out.y, &again.y, y_bits, second.0.bits()),
                ("mean", &out.mean, &again.mean, stat_bits, second.1.bits()),
                ("rstd", &out.rstd, &again.rstd, stat_bits, second.1.bits()),
            ];
            for (output, a, b, s, t) in fields {
                if let Some(index) = a.iter().zip(b).position(|(&x, &y)| x == s && y == t) {
                    return Err(RunError::Unwritten { output, index });
                }
            }
        }
        Ok(out.widen::<E, S>())
    }

    /// One call, every output value a sentinel before it: into buffers of exactly the right
    /// lengths (`offsets` `None`), or at `offsets` into buffers with [`PAD`] values after each
    /// slice, whose sentinels around the slices must not change. The outputs as bits.
    fn once<E: Value, S: Value>(
        &self,
        (sentinel, stat_sentinel): (E, S),
    ) -> Result<Bits, RunError> {
        let inputs = self.inputs;
        let (len, groups) = (inputs.input.len(), inputs.group_count());
        let (offsets, pad) = self
            .offsets
            .map_or((Offsets::default(), 0), |offsets| (offsets, PAD));
        let mut input = vec![E::from_value(INPUT_PADDING); offsets.input + len + pad];
        for (slot, &v) in input[offsets.input..][..len].iter_mut().zip(inputs.input) {
            *slot = E::from_value(v);
        }
        let mut y = vec![sentinel; offsets.output + len + pad];
        let (mut mean, mut rstd) = (
            vec![stat_sentinel; offsets.output + groups + pad],
            vec![stat_sentinel; offsets.output + groups + pad],
        );
        let at = |len: usize| offsets.output..offsets.output + len;
        let half = |v: Option<&[f32]>, dtype: DType| -> (Option<Vec<F16>>, Option<Vec<Bf16>>) {
            match (v, dtype) {
                (Some(v), DType::Float16) => {
                    (Some(v.iter().map(|&x| F16::from_f32(x)).collect()), None)
                }
                (Some(v), DType::BFloat16) => {
                    (None, Some(v.iter().map(|&x| Bf16::from_f32(x)).collect()))
                }
                _ => (None, None),
            }
        };
        let (weight16, weight_b16) = half(inputs.weight, self.param_dtype);
        let (bias16, bias_b16) = half(inputs.bias, self.param_dtype);
        let mut params = inputs.params().with_activation(match self.activation {
            Activation::None => groupnorm_optimized::Activation::None,
            Activation::Silu => groupnorm_optimized::Activation::Silu,
        });
        if let Some(w) = &weight16 {
            params = params.with_weight(w);
        }
        if let Some(w) = &weight_b16 {
            params = params.with_weight(w);
        }
        if let Some(b) = &bias16 {
            params = params.with_bias(b);
        }
        if let Some(b) = &bias_b16 {
            params = params.with_bias(b);
        }
        self.kernel
            .run(
                &params,
                &input[offsets.input..][..len],
                &mut y[at(len)],
                Some(StatsBuffers::new(
                    &mut mean[at(groups)],
                    &mut rstd[at(groups)],
                )),
            )
            .map_err(RunError::Rejected)?;
        let y: Vec<u32> = y.iter().map(|v| v.bits()).collect();
        let mean: Vec<u32> = mean.iter().map(|v| v.bits()).collect();
        let rstd: Vec<u32> = rstd.iter().map(|v| v.bits()).collect();
        for (output, buffer, len, sentinel) in [
            ("y", &y, len, sentinel.bits()),
            ("mean", &mean, groups, stat_sentinel.bits()),
            ("rstd", &rstd, groups, stat_sentinel.bits()),
        ] {
            let changed = buffer
                .iter()
                .enumerate()
                .filter(|&(i, _)| !at(len).contains(&i))
                .find(|&(_, &v)| v != sentinel);
            if let Some((i, _)) = changed {
                let offset = i as isize - offsets.output as isize;
                return Err(RunError::WrittenOutside { output, offset });
            }
        }
        let slice = |buffer: &[u32], len: usize| buffer[at(len)].to_vec();
        Ok(Bits {
            y: slice(&y, len),
            mean: slice(&mean, groups),
            rstd: slice(&rstd, groups),
        })
    }
}

/// A call's outputs as the bits of their types.
struct Bits {
    y: Vec<u32>,
    mean: Vec<u32>,
    rstd: Vec<u32>,
}

impl Bits {
    /// The outputs widened to `f32`, exactly: `y` of type `E`, the statistics of `S`.
    fn widen<E: Value, S: Value>(self) -> KernelOutput {
        let widen = |bits: Vec<u32>, of: fn(u32) -> f32| bits.into_iter().map(of).collect();
        KernelOutput {
            y: widen(self.y, |b| E::of_bits(b).widen()),
            mean: widen(self.mean, |b| S::of_bits(b).widen()),
            rstd: widen(self.rstd, |b| S::of_bits(b).widen()),
        }
    }
}
