//! A kernel's table of functions, and the macro with which each instruction-set file fills it:
//! the generic algorithm, compiled for that instruction set behind thin `#[target_feature]`
//! entry points.

use crate::contiguous::GroupRun;
#[cfg(feature = "rayon")]
use crate::group::{Group, Normalization};
#[cfg(feature = "rayon")]
use crate::moments::Moments;
use crate::params::GroupNorm;
use crate::plan::Plan;

/// A kernel's functions: whole runs of groups for one thread, and (with `rayon`) the
/// statistics and the output of one block of a group, for threads that share a group.
#[derive(Clone, Copy)]
pub(crate) struct Primitives {
    /// # Safety
    /// The CPU supports the kernel's instruction set.
    pub normalize_groups: unsafe fn(&Plan, &GroupNorm<'_>, GroupRun<'_>),
    /// Whole samples of a channels-last call, for one thread.
    ///
    /// # Safety
    /// The CPU supports the kernel's instruction set.
    pub normalize_samples: unsafe fn(&Plan, &GroupNorm<'_>, GroupRun<'_>),
    /// # Safety
    /// The CPU supports the kernel's instruction set.
    #[cfg(feature = "rayon")]
    pub block_moments: unsafe fn(&[f32]) -> Moments,
    /// # Safety
    /// The CPU supports the kernel's instruction set.
    #[cfg(feature = "rayon")]
    pub write: unsafe fn(&Plan, &Group<'_>, &Normalization, &[f32], &mut [f32], usize),
}

/// Writes the `#[target_feature]` entry points of one instruction set (for the vector type
/// `$vector`, with the target features `$feature`) and its `PRIMITIVES`: thin wrappers in which
/// the generic algorithm is inlined and compiled for that set.
macro_rules! entry_points {
    ($vector:ty, $($feature:literal)?) => {
        /// # Safety
        /// The CPU supports this file's instruction set.
        $(#[target_feature(enable = $feature)])?
        unsafe fn normalize_groups(
            plan: &$crate::plan::Plan,
            params: &$crate::params::GroupNorm<'_>,
            run: $crate::contiguous::GroupRun<'_>,
        ) {
            // SAFETY: our caller guarantees the instruction set, the contract of the callee.
            unsafe { $crate::contiguous::normalize_groups::<$vector, f32>(plan, params, run) }
        }

        /// # Safety
        /// The CPU supports this file's instruction set.
        $(#[target_feature(enable = $feature)])?
        unsafe fn normalize_samples(
            plan: &$crate::plan::Plan,
            params: &$crate::params::GroupNorm<'_>,
            run: $crate::contiguous::GroupRun<'_>,
        ) {
            // SAFETY: our caller guarantees the instruction set, the contract of the callee.
            unsafe {
                $crate::channels_last::normalize_samples::<$vector, f32>(plan, params, run)
            }
        }

        /// # Safety
        /// The CPU supports this file's instruction set.
        #[cfg(feature = "rayon")]
        $(#[target_feature(enable = $feature)])?
        unsafe fn block_moments(x: &[f32]) -> $crate::moments::Moments {
            // SAFETY: our caller guarantees the instruction set, the contract of the callee.
            unsafe { $crate::statistics::block_moments::<$vector, f32>(x) }
        }

        /// # Safety
        /// The CPU supports this file's instruction set.
        #[cfg(feature = "rayon")]
        $(#[target_feature(enable = $feature)])?
        unsafe fn write(
            plan: &$crate::plan::Plan,
            group: &$crate::group::Group<'_>,
            normalization: &$crate::group::Normalization,
            x: &[f32],
            y: &mut [f32],
            start: usize,
        ) {
            // SAFETY: our caller guarantees the instruction set, the contract of the callee.
            unsafe {
                $crate::contiguous::write::<$vector, f32>(plan, group, normalization, x, y, start)
            }
        }

        pub(crate) const PRIMITIVES: $crate::primitives::Primitives =
            $crate::primitives::Primitives {
                normalize_groups,
                normalize_samples,
                #[cfg(feature = "rayon")]
                block_moments,
                #[cfg(feature = "rayon")]
                write,
            };
    };
}
pub(crate) use entry_points;
