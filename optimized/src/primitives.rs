//! A kernel's tables of functions, one per element type, and the macro with which each
//! instruction-set file fills them: the generic algorithm, compiled for that instruction set
//! behind thin `#[target_feature]` entry points.

use crate::contiguous::GroupRun;
use crate::element::{Bf16, PerElement, F16};
#[cfg(feature = "rayon")]
use crate::group::{Group, Normalization};
#[cfg(feature = "rayon")]
use crate::moments::Moments;
use crate::params::GroupNorm;
use crate::plan::Plan;

/// A kernel's functions for one element type: whole runs of groups for one thread, and (with
/// `rayon`) the statistics and the output of one block of a group, for threads that share a
/// group.
pub(crate) struct Primitives<E> {
    /// # Safety
    /// The CPU supports the kernel's instruction set.
    pub normalize_groups: unsafe fn(&Plan, &GroupNorm<'_>, GroupRun<'_, E>),
    /// Whole samples of a channels-last call, for one thread.
    ///
    /// # Safety
    /// The CPU supports the kernel's instruction set.
    pub normalize_samples: unsafe fn(&Plan, &GroupNorm<'_>, GroupRun<'_, E>),
    /// # Safety
    /// The CPU supports the kernel's instruction set.
    #[cfg(feature = "rayon")]
    pub block_moments: unsafe fn(&[E]) -> Moments,
    /// # Safety
    /// The CPU supports the kernel's instruction set.
    #[cfg(feature = "rayon")]
    pub write: unsafe fn(&Plan, &Group<'_>, &Normalization, &[E], &mut [E], usize),
}

// Function pointers are `Copy` whatever `E` is (a derive would ask `E: Copy`).
impl<E> Clone for Primitives<E> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E> Copy for Primitives<E> {}

/// A kernel's [`Primitives`] for each element type.
#[derive(Clone, Copy)]
pub(crate) struct Tables {
    pub f32: Primitives<f32>,
    pub f16: Primitives<F16>,
    pub bf16: Primitives<Bf16>,
}

impl PerElement for Tables {
    type Of<E> = Primitives<E>;
    fn f32(&self) -> &Primitives<f32> {
        &self.f32
    }
    fn f16(&self) -> &Primitives<F16> {
        &self.f16
    }
    fn bf16(&self) -> &Primitives<Bf16> {
        &self.bf16
    }
}

/// Writes the `#[target_feature]` entry points of one instruction set (for the vector type
/// `$vector`, with the target features `$feature`) and its `TABLES`: thin wrappers, generic
/// over the element type, in which the generic algorithm is inlined and compiled for that set.
macro_rules! entry_points {
    ($vector:ty, $($feature:literal)?) => {
        /// # Safety
        /// The CPU supports this file's instruction set.
        $(#[target_feature(enable = $feature)])?
        unsafe fn normalize_groups<E: $crate::element::Element>(
            plan: &$crate::plan::Plan,
            params: &$crate::params::GroupNorm<'_>,
            run: $crate::contiguous::GroupRun<'_, E>,
        ) where
            $vector: $crate::vector::Io<E>,
        {
            // SAFETY: our caller guarantees the instruction set, the contract of the callee.
            unsafe { $crate::contiguous::normalize_groups::<$vector, E>(plan, params, run) }
        }

        /// # Safety
        /// The CPU supports this file's instruction set.
        $(#[target_feature(enable = $feature)])?
        unsafe fn normalize_samples<E: $crate::element::Element>(
            plan: &$crate::plan::Plan,
            params: &$crate::params::GroupNorm<'_>,
            run: $crate::contiguous::GroupRun<'_, E>,
        ) where
            $vector: $crate::vector::Io<E>,
        {
            // SAFETY: our caller guarantees the instruction set, the contract of the callee.
            unsafe { $crate::channels_last::normalize_samples::<$vector, E>(plan, params, run) }
        }

        /// # Safety
        /// The CPU supports this file's instruction set.
        #[cfg(feature = "rayon")]
        $(#[target_feature(enable = $feature)])?
        unsafe fn block_moments<E: $crate::element::Element>(x: &[E]) -> $crate::moments::Moments
        where
            $vector: $crate::vector::Io<E>,
        {
            // SAFETY: our caller guarantees the instruction set, the contract of the callee.
            unsafe { $crate::statistics::block_moments::<$vector, E>(x) }
        }

        /// # Safety
        /// The CPU supports this file's instruction set.
        #[cfg(feature = "rayon")]
        $(#[target_feature(enable = $feature)])?
        unsafe fn write<E: $crate::element::Element>(
            plan: &$crate::plan::Plan,
            group: &$crate::group::Group<'_>,
            normalization: &$crate::group::Normalization,
            x: &[E],
            y: &mut [E],
            start: usize,
        ) where
            $vector: $crate::vector::Io<E>,
        {
            // SAFETY: our caller guarantees the instruction set, the contract of the callee.
            unsafe {
                $crate::contiguous::write::<$vector, E>(plan, group, normalization, x, y, start)
            }
        }

        /// The entry points for element type `E`.
        const fn primitives<E: $crate::element::Element>() -> $crate::primitives::Primitives<E>
        where
            $vector: $crate::vector::Io<E>,
        {
            $crate::primitives::Primitives {
                normalize_groups: normalize_groups::<E>,
                normalize_samples: normalize_samples::<E>,
                #[cfg(feature = "rayon")]
                block_moments: block_moments::<E>,
                #[cfg(feature = "rayon")]
                write: write::<E>,
            }
        }

        pub(crate) const TABLES: $crate::primitives::Tables = $crate::primitives::Tables {
            f32: primitives::<f32>(),
            f16: primitives::<$crate::element::F16>(),
            bf16: primitives::<$crate::element::Bf16>(),
        };
    };
}
pub(crate) use entry_points;
