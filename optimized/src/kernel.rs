//! The kernels: one registry row per instruction set (name, detection, functions), the choice
//! of the best one (made once and cached), and the entry points that run a call:
//! [`Kernel::run`], and [`GroupNorm::forward`] / [`GroupNorm::forward_with_stats`], which run
//! [`Kernel::best`].

use crate::contiguous::GroupRun;
use crate::element::Element;
use crate::error::{GroupNormError, ParseKernelError};
#[cfg(feature = "rayon")]
use crate::parallel;
use crate::params::{GroupNorm, Layout, Stats, StatsBuffers};
use crate::plan::Plan;
#[cfg(feature = "rayon")]
use crate::plan::Threading;
use crate::primitives::{Primitives, Tables};
use core::fmt;
use core::str::FromStr;
use core::sync::atomic::{AtomicU8, Ordering};

/// One registry row: a kernel's name on every architecture, and where it is compiled, how to
/// tell that this CPU runs it and its functions.
struct Row {
    name: &'static str,
    compiled: Option<Compiled>,
}

#[derive(Clone, Copy)]
struct Compiled {
    supported: fn() -> bool,
    tables: Tables,
}

/// `Some(Compiled { .. })` on `$arch` (a `target_arch`), `None` elsewhere.
macro_rules! on_arch {
    ($arch:tt, $supported:expr, $primitives:expr) => {{
        #[cfg(target_arch = $arch)]
        let compiled = Some(Compiled {
            supported: $supported,
            tables: $primitives,
        });
        #[cfg(not(target_arch = $arch))]
        let compiled = None;
        compiled
    }};
}

/// Every kernel, portable first and widest last on each architecture: [`Kernel::best`] is the
/// last one this CPU supports. A new instruction set is one more row.
const REGISTRY: [Row; 4] = [
    Row {
        name: "scalar",
        compiled: Some(Compiled {
            supported: || true,
            tables: crate::scalar::TABLES,
        }),
    },
    Row {
        name: "avx2",
        compiled: on_arch!("x86_64", crate::cpu::avx2_fma_f16c, crate::avx2::TABLES),
    },
    Row {
        name: "avx512",
        compiled: on_arch!("x86_64", crate::cpu::avx512f, crate::avx512::TABLES),
    },
    Row {
        name: "neon",
        compiled: on_arch!("aarch64", crate::cpu::neon, crate::neon::TABLES),
    },
];

/// Every kernel name this crate knows, on any architecture, in the registry's order.
pub const KERNEL_NAMES: &[&str] = &kernel_names();

const fn kernel_names() -> [&'static str; REGISTRY.len()] {
    let mut names = [""; REGISTRY.len()];
    let mut i = 0;
    while i < REGISTRY.len() {
        names[i] = REGISTRY[i].name;
        i += 1;
    }
    names
}

/// One implementation of GroupNorm: `scalar` (portable), `avx2` (x86_64 AVX2 + FMA + F16C), `avx512`
/// (x86_64 AVX-512F) or `neon` (aarch64).
///
/// A `Kernel` can only be obtained for an instruction set the CPU supports, so running one is
/// always sound: from [`Kernel::available`], [`Kernel::best`], [`Kernel::scalar`], or by name
/// (`"avx2".parse::<Kernel>()`, whose error tells an unknown name from a kernel this CPU does
/// not run).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Kernel {
    /// Its row in `REGISTRY`, compiled and supported by this CPU.
    row: u8,
}

impl Kernel {
    /// The portable kernel, available everywhere.
    pub const fn scalar() -> Kernel {
        Kernel { row: 0 }
    }

    /// Every kernel this CPU supports, portable first, widest last.
    pub fn available() -> impl Iterator<Item = Kernel> {
        (0..REGISTRY.len())
            .filter(|&row| REGISTRY[row].compiled.is_some_and(|c| (c.supported)()))
            .map(|row| Kernel { row: row as u8 })
    }

    /// The widest kernel this CPU supports, detected on the first call and cached.
    pub fn best() -> Kernel {
        // 0 means "not detected yet"; any other value is one more than the row of the kernel
        // detected before.
        static BEST: AtomicU8 = AtomicU8::new(0);
        match BEST.load(Ordering::Relaxed) {
            0 => {
                let best = Kernel::available().last().unwrap_or(Kernel::scalar());
                BEST.store(best.row + 1, Ordering::Relaxed);
                best
            }
            row_plus_one => Kernel {
                row: row_plus_one - 1,
            },
        }
    }

    /// The kernel's name, as `FromStr` takes it.
    pub fn name(self) -> &'static str {
        REGISTRY[usize::from(self.row)].name
    }

    /// Runs GroupNorm with this kernel. Every argument is checked before anything is written:
    /// on error `y` and the statistics are untouched.
    ///
    /// With the `rayon` feature, large inputs are spread over the current rayon pool; the result
    /// is the same bit for bit whatever the number of threads. The work is shared as rayon jobs
    /// that any free thread of the pool runs, so a call needs one free thread of its pool: the
    /// caller itself when it is one of the pool's threads (inside `ThreadPool::install`), so
    /// that such a call returns even when the other threads of its pool are blocked, on the
    /// caller or on anything else. A call from outside the pool waits for a free pool thread.
    ///
    /// `E` is the type of input and output: `f32`, [`F16`](crate::F16) or
    /// [`Bf16`](crate::Bf16). Whatever it is, the statistics and the output are computed in `f32`
    /// and `f64` from the exactly widened values, and `y` is rounded once to `E`.
    pub fn run<E: Element>(
        self,
        params: &GroupNorm<'_>,
        input: &[E],
        y: &mut [E],
        stats: Option<StatsBuffers<'_>>,
    ) -> Result<(), GroupNormError> {
        let plan = Plan::new(params, input, y, stats.as_ref())?;
        let stats = stats.map_or_else(Stats::default, StatsBuffers::into_stats);
        let call = GroupRun::new(input, y, 0, stats);
        let primitives = self.primitives::<E>();
        if plan.layout() == Layout::ChannelsLast {
            #[cfg(feature = "rayon")]
            if let Threading::Samples { samples_per_run } = plan.threading() {
                let groups_per_run = samples_per_run * params.num_groups();
                let normalize = primitives.normalize_samples;
                // SAFETY: `self` exists only where the CPU supports its instruction set.
                unsafe {
                    parallel::group_runs(normalize, &plan, params, call, groups_per_run, false)
                };
                return Ok(());
            }
            // SAFETY: as below.
            unsafe { (primitives.normalize_samples)(&plan, params, call) };
            return Ok(());
        }
        #[cfg(feature = "rayon")]
        match plan.threading() {
            Threading::Serial => {}
            Threading::GroupRuns {
                groups_per_run,
                pinned,
            } => {
                let normalize = primitives.normalize_groups;
                // SAFETY: `self` exists only where the CPU supports its instruction set.
                unsafe {
                    parallel::group_runs(normalize, &plan, params, call, groups_per_run, pinned)
                };
                return Ok(());
            }
            Threading::Blocks => {
                // SAFETY: as above.
                unsafe { parallel::blocks(primitives, &plan, params, call) };
                return Ok(());
            }
            // Only channels-last calls share samples.
            Threading::Samples { .. } => {}
        }
        // SAFETY: as above.
        unsafe { (primitives.normalize_groups)(&plan, params, call) };
        Ok(())
    }

    /// The kernel's functions. Calling them is sound: `self` exists only where the CPU
    /// supports its instruction set.
    pub(crate) fn primitives<E: Element>(self) -> Primitives<E> {
        match &REGISTRY[usize::from(self.row)].compiled {
            Some(compiled) => *E::pick(&compiled.tables),
            // A `Kernel` is only made for a compiled row.
            None => unreachable!("kernel {} is not compiled here", self.name()),
        }
    }
}

impl FromStr for Kernel {
    type Err = ParseKernelError;

    /// The kernel called `name` (one of [`KERNEL_NAMES`]), if this CPU supports it.
    fn from_str(name: &str) -> Result<Kernel, ParseKernelError> {
        let row = KERNEL_NAMES
            .iter()
            .position(|&known| known == name)
            .ok_or(ParseKernelError::Unknown)?;
        Kernel::available()
            .find(|kernel| usize::from(kernel.row) == row)
            .ok_or(ParseKernelError::Unsupported {
                name: KERNEL_NAMES[row],
            })
    }
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl GroupNorm<'_> {
    /// Normalizes `input` into `y` with [`Kernel::best`].
    pub fn forward<E: Element>(&self, input: &[E], y: &mut [E]) -> Result<(), GroupNormError> {
        Kernel::best().run(self, input, y, None)
    }

    /// Like [`forward`](Self::forward), and writes `mean` and `rstd` (each `N * G` long) into
    /// `stats` too.
    pub fn forward_with_stats<E: Element>(
        &self,
        input: &[E],
        y: &mut [E],
        stats: StatsBuffers<'_>,
    ) -> Result<(), GroupNormError> {
        Kernel::best().run(self, input, y, Some(stats))
    }
}
