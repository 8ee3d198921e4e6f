//! The arguments of a call: [`GroupNorm`] (shape, groups, affine parameters, `eps`, memory
//! [`Layout`]) and
//! [`StatsBuffers`] (where `mean` and `rstd` go). Options are set by `with_*` methods, so that
//! new ones can be added without breaking callers.

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
    weight: Option<&'a [f32]>,
    bias: Option<&'a [f32]>,
    eps: f64,
    layout: Layout,
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
        }
    }

    /// `gamma`, one per channel (1 without it).
    #[must_use]
    pub fn with_weight(self, weight: &'a [f32]) -> Self {
        GroupNorm {
            weight: Some(weight),
            ..self
        }
    }

    /// `beta`, one per channel (0 without it).
    #[must_use]
    pub fn with_bias(self, bias: &'a [f32]) -> Self {
        GroupNorm {
            bias: Some(bias),
            ..self
        }
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

    /// `gamma`, if set.
    pub fn weight(&self) -> Option<&'a [f32]> {
        self.weight
    }

    /// `beta`, if set.
    pub fn bias(&self) -> Option<&'a [f32]> {
        self.bias
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
/// `N * G` long, as `native_group_norm` returns them.
#[derive(Debug)]
pub struct StatsBuffers<'a> {
    mean: &'a mut [f32],
    rstd: &'a mut [f32],
}

impl<'a> StatsBuffers<'a> {
    /// The buffers for `mean` and `rstd`.
    pub fn new(mean: &'a mut [f32], rstd: &'a mut [f32]) -> Self {
        StatsBuffers { mean, rstd }
    }

    /// The lengths of `mean` and `rstd`.
    pub(crate) fn lens(&self) -> (usize, usize) {
        (self.mean.len(), self.rstd.len())
    }

    /// `mean` and `rstd`.
    pub(crate) fn into_parts(self) -> (&'a mut [f32], &'a mut [f32]) {
        (self.mean, self.rstd)
    }
}
