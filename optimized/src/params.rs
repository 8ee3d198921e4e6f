//! The arguments of a call: [`GroupNorm`] (shape, groups, affine parameters, `eps`, memory
//! [`Layout`], [`Activation`]) and [`StatsBuffers`] (where `mean` and `rstd` go). Options are
//! set by `with_*` methods, so that new ones can be added without breaking callers. Weight,
//! bias and the statistics buffers may be of several element types, checked when the call runs
//! (as PyTorch checks them).

use crate::element::{Element, Slice, SliceMut};

/// The arguments of a GroupNorm, as `torch.nn.functional.group_norm` takes them: built with
/// [`GroupNorm::new`] and the `with_*` methods, run with [`GroupNorm::forward`] or
/// `Kernel::run`.
///
/// ```
/// use groupnorm_optimized::GroupNorm;
///
/// let (weight, bias) = ([1.0, 2.0], [0.0, -1.0]);
/// let params = GroupNorm::new(&[1, 2, 3], 1)
///     .with_weight(&weight)
///     .with_bias(&bias)
///     .with_eps(1e-6);
/// assert_eq!(params.eps(), 1e-6);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct GroupNorm<'a> {
    shape: &'a [usize],
    num_groups: usize,
    weight: Option<Slice<'a>>,
    bias: Option<Slice<'a>>,
    eps: f64,
    layout: Layout,
    activation: Activation,
}

/// What follows the affine: `y = activation(z)`, with `z` the GroupNorm output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Activation {
    /// `y = z`.
    #[default]
    None,
    /// `y = z * sigmoid(z) = z / (1 + exp(-z))`, fused into the output pass: in `f32` lanes
    /// before the one rounding to the output type.
    Silu,
}

/// How the values of the logical shape `(N, C, *spatial)` lie in memory, for the input and the
/// output alike.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Layout {
    /// `(N, C, *spatial)` row-major: each channel's values one after the other.
    #[default]
    Contiguous,
    /// Stored as `(N, *spatial, C)`: at each spatial position, the `C` channels one after the
    /// other (PyTorch's `channels_last` and `channels_last_3d`, for any number of spatial
    /// dimensions). For an `(N, C)` shape both layouts are the same.
    ChannelsLast,
}

impl<'a> GroupNorm<'a> {
    /// GroupNorm of `shape = (N, C, *spatial)` in `num_groups` groups (`G`, which must divide
    /// `C`), without affine parameters and with PyTorch's default `eps = 1e-5`.
    pub fn new(shape: &'a [usize], num_groups: usize) -> Self {
        GroupNorm {
            shape,
            num_groups,
            weight: None,
            bias: None,
            eps: 1e-5,
            layout: Layout::Contiguous,
            activation: Activation::None,
        }
    }

    /// `gamma`, one per channel (1 without it): `f32`, or the input's type (PyTorch's rule:
    /// `f32` input takes `f32` parameters; half input takes `f32` ones, its mixed-type path, or
    /// its own type; weight and bias of the same type).
    #[must_use]
    pub fn with_weight<P: Element>(self, weight: &'a [P]) -> Self {
        GroupNorm {
            weight: Some(P::slice(weight)),
            ..self
        }
    }

    /// `beta`, one per channel (0 without it), of the types [`with_weight`](Self::with_weight)
    /// says.
    #[must_use]
    pub fn with_bias<P: Element>(self, bias: &'a [P]) -> Self {
        GroupNorm {
            bias: Some(P::slice(bias)),
            ..self
        }
    }

    /// The activation after the affine (none without it).
    #[must_use]
    pub fn with_activation(self, activation: Activation) -> Self {
        GroupNorm { activation, ..self }
    }

    /// Added to the variance inside the square root. An `f64`, as PyTorch keeps it for every
    /// dtype: its `f32` kernel computes `rstd` from `var + eps` in `f64`, so `eps = 1e-5` and
    /// its `f32` rounding give `rstd` values an ulp apart, and `eps` outside the `f32` range
    /// still counts.
    #[must_use]
    pub fn with_eps(self, eps: f64) -> Self {
        GroupNorm { eps, ..self }
    }

    /// The memory layout of the input and the output (contiguous without it).
    #[must_use]
    pub fn with_layout(self, layout: Layout) -> Self {
        GroupNorm { layout, ..self }
    }

    /// `(N, C, *spatial)`.
    pub fn shape(&self) -> &'a [usize] {
        self.shape
    }

    /// `G`.
    pub fn num_groups(&self) -> usize {
        self.num_groups
    }

    /// `gamma`, if set and of type `P`.
    pub fn weight<P: Element>(&self) -> Option<&'a [P]> {
        self.weight.and_then(P::from_slice)
    }

    /// `beta`, if set and of type `P`.
    pub fn bias<P: Element>(&self) -> Option<&'a [P]> {
        self.bias.and_then(P::from_slice)
    }

    /// `gamma`, whatever its type.
    pub(crate) fn weight_values(&self) -> Option<Slice<'a>> {
        self.weight
    }

    /// `beta`, whatever its type.
    pub(crate) fn bias_values(&self) -> Option<Slice<'a>> {
        self.bias
    }

    /// The activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// `eps`.
    pub fn eps(&self) -> f64 {
        self.eps
    }

    /// The memory layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }
}

/// Where a call writes the per-group statistics: `mean[n * G + g]` and `rstd[n * G + g]`, each
/// `N * G` long, as `native_group_norm` returns them, and of the type it returns them in: `f32`
/// where the weight or the bias is `f32` (for `f32` input, and half input on PyTorch's
/// mixed-type path), else the input's type (half input with half or no parameters).
#[derive(Debug)]
pub struct StatsBuffers<'a> {
    mean: SliceMut<'a>,
    rstd: SliceMut<'a>,
}

impl<'a> StatsBuffers<'a> {
    /// The buffers for `mean` and `rstd`.
    pub fn new<S: Element>(mean: &'a mut [S], rstd: &'a mut [S]) -> Self {
        StatsBuffers {
            mean: S::slice_mut(mean),
            rstd: S::slice_mut(rstd),
        }
    }

    /// The lengths of `mean` and `rstd`.
    pub(crate) fn lens(&self) -> (usize, usize) {
        (self.mean.len(), self.rstd.len())
    }

    /// PyTorch's name of their type.
    pub(crate) fn type_name(&self) -> &'static str {
        self.mean.type_name()
    }

    /// Where the statistics go.
    pub(crate) fn into_stats(self) -> Stats<'a> {
        Stats {
            mean: Some(self.mean),
            rstd: Some(self.rstd),
        }
    }
}

/// Where a run of groups writes its `mean` and `rstd`, if anywhere: the `i`-th group of the run
/// at index `i`.
#[derive(Debug, Default)]
pub(crate) struct Stats<'a> {
    mean: Option<SliceMut<'a>>,
    rstd: Option<SliceMut<'a>>,
}

impl<'a> Stats<'a> {
    /// Stores group `i`'s `mean` and `rstd`, each rounded once to the buffers' type.
    #[inline]
    pub fn set(&mut self, i: usize, (mean, rstd): (f64, f64)) {
        if let Some(out) = &mut self.mean {
            out.set(i, mean);
        }
        if let Some(out) = &mut self.rstd {
            out.set(i, rstd);
        }
    }

    /// The first `groups` groups' buffers, and the rest's (`groups` at most the buffers'
    /// length).
    #[cfg(feature = "rayon")]
    pub fn split_at(self, groups: usize) -> (Stats<'a>, Stats<'a>) {
        let (mean, mean_rest) = self.mean.map(|m| m.split_at_mut(groups)).unzip();
        let (rstd, rstd_rest) = self.rstd.map(|r| r.split_at_mut(groups)).unzip();
        (
            Stats { mean, rstd },
            Stats {
                mean: mean_rest,
                rstd: rstd_rest,
            },
        )
    }

    /// The number of groups the buffers hold (0 without buffers).
    #[cfg(feature = "rayon")]
    pub fn len(&self) -> usize {
        self.mean.as_ref().map_or(0, SliceMut::len)
    }
}
