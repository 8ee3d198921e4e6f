//! Running one kernel on one problem: [`Inputs`], [`run`] and [`run_at`], [`KernelOutput`].
//! The test kit (`kit`) re-exports all of it, and `check` runs the vectors' cases with it.

use crate::variant::Layout;
use crate::vectors::Case;
use groupnorm_optimized::{GroupNorm, GroupNormError, Kernel, StatsBuffers};
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
        let up = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
        let weight = self.weight.map(up);
        let bias = self.bias.map(up);
        let layout = match self.layout {
            Layout::Contiguous => groupnorm_reference::Layout::Contiguous,
            Layout::ChannelsLast => groupnorm_reference::Layout::ChannelsLast,
        };
        groupnorm_reference::group_norm_with_layout(
            &up(self.input),
            self.shape,
            self.num_groups,
            weight.as_deref(),
            bias.as_deref(),
            self.eps,
            layout,
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

    /// The first value that holds `sentinel` here and `again` in `other`.
    fn first_unwritten(
        &self,
        sentinel: f32,
        other: &KernelOutput,
        again: f32,
    ) -> Option<(&'static str, usize)> {
        let fields = [
            ("y", &self.y, &other.y),
            ("mean", &self.mean, &other.mean),
            ("rstd", &self.rstd, &other.rstd),
        ];
        fields.into_iter().find_map(|(output, a, b)| {
            let index = a
                .iter()
                .zip(b)
                .position(|(&x, &y)| same_bits(x, sentinel) && same_bits(y, again))?;
            Some((output, index))
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

fn same_bits(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits()
}

/// Runs `kernel` on `inputs` with `mean` and `rstd`, into buffers of exactly the right lengths
/// filled with [`SENTINEL`]; an output value left unwritten is an error.
pub fn run(kernel: Kernel, inputs: &Inputs<'_>) -> Result<KernelOutput, RunError> {
    run_checked(kernel, inputs, None)
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
    run_checked(kernel, inputs, Some(offsets))
}

/// [`run`] (`offsets` `None`) or [`run_at`], with the second run where an output holds the
/// sentinel.
fn run_checked(
    kernel: Kernel,
    inputs: &Inputs<'_>,
    offsets: Option<Offsets>,
) -> Result<KernelOutput, RunError> {
    let out = run_once(kernel, inputs, offsets, SENTINEL)?;
    let holds_sentinel = |v: &Vec<f32>| v.iter().any(|&x| same_bits(x, SENTINEL));
    if [&out.y, &out.mean, &out.rstd]
        .into_iter()
        .any(holds_sentinel)
    {
        let again = run_once(kernel, inputs, offsets, SECOND_SENTINEL)?;
        if let Some((output, index)) = out.first_unwritten(SENTINEL, &again, SECOND_SENTINEL) {
            return Err(RunError::Unwritten { output, index });
        }
    }
    Ok(out)
}

/// One call of `kernel`, every output value `sentinel` before it: into buffers of exactly the
/// right lengths (`offsets` `None`), or at `offsets` into buffers with [`PAD`] floats after each
/// slice, whose sentinels around the slices must not change.
fn run_once(
    kernel: Kernel,
    inputs: &Inputs<'_>,
    offsets: Option<Offsets>,
    sentinel: f32,
) -> Result<KernelOutput, RunError> {
    let (len, groups) = (inputs.input.len(), inputs.group_count());
    let (offsets, pad) = offsets.map_or((Offsets::default(), 0), |offsets| (offsets, PAD));
    let mut input = vec![INPUT_PADDING; offsets.input + len + pad];
    input[offsets.input..][..len].copy_from_slice(inputs.input);
    let buffer = |len: usize| vec![sentinel; offsets.output + len + pad];
    let (mut y, mut mean, mut rstd) = (buffer(len), buffer(groups), buffer(groups));
    let at = |len: usize| offsets.output..offsets.output + len;
    kernel
        .run(
            &inputs.params(),
            &input[offsets.input..][..len],
            &mut y[at(len)],
            Some(StatsBuffers::new(
                &mut mean[at(groups)],
                &mut rstd[at(groups)],
            )),
        )
        .map_err(RunError::Rejected)?;
    for (output, buffer, len) in [
        ("y", &y, len),
        ("mean", &mean, groups),
        ("rstd", &rstd, groups),
    ] {
        let changed = buffer
            .iter()
            .enumerate()
            .filter(|&(i, _)| !at(len).contains(&i))
            .find(|&(_, &v)| !same_bits(v, sentinel));
        if let Some((i, _)) = changed {
            let offset = i as isize - offsets.output as isize;
            return Err(RunError::WrittenOutside { output, offset });
        }
    }
    let slice = |buffer: &[f32], len: usize| buffer[at(len)].to_vec();
    Ok(KernelOutput {
        y: slice(&y, len),
        mean: slice(&mean, groups),
        rstd: slice(&rstd, groups),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwritten_values_hold_the_sentinel_of_each_run() {
        let output = |y2: f32| KernelOutput {
            y: vec![1.0, SENTINEL, y2],
            mean: vec![SENTINEL],
            rstd: vec![2.0],
        };
        // y[1] and mean[0] hold SENTINEL in both runs (carried from the input): written.
        let first = output(SENTINEL);
        assert_eq!(
            first.first_unwritten(SENTINEL, &output(SECOND_SENTINEL), SECOND_SENTINEL),
            Some(("y", 2))
        );
        assert_eq!(
            first.first_unwritten(SENTINEL, &output(SENTINEL), SECOND_SENTINEL),
            None
        );
        let mut again = output(SENTINEL);
        again.mean[0] = SECOND_SENTINEL;
        assert_eq!(
            first.first_unwritten(SENTINEL, &again, SECOND_SENTINEL),
            Some(("mean", 0))
        );
    }
}
