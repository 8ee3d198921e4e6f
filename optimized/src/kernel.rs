//! Which kernels this CPU can run, and the choice of the best one, made once and cached.

use crate::vector::Primitives;
use core::sync::atomic::{AtomicU8, Ordering};

/// One implementation of GroupNorm: `scalar`, `avx2` (AVX2 + FMA), `avx512` (AVX-512F) or `neon`.
///
/// A `Kernel` can only be obtained for an instruction set the CPU supports, so running one is
/// always sound. Detection is at run time with the `std` feature, and from the compile-time
/// target features without it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Kernel {
    isa: Isa,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
enum Isa {
    Scalar = 1,
    #[cfg(target_arch = "x86_64")]
    Avx2 = 2,
    #[cfg(target_arch = "x86_64")]
    Avx512 = 3,
    #[cfg(target_arch = "aarch64")]
    Neon = 4,
}

/// Every kernel name this crate knows, on any architecture.
pub const KERNEL_NAMES: [&str; 4] = ["scalar", "avx2", "avx512", "neon"];

impl Kernel {
    /// The portable kernel, available everywhere.
    pub const fn scalar() -> Kernel {
        Kernel { isa: Isa::Scalar }
    }

    /// The AVX2 + FMA kernel, if this CPU supports both.
    pub fn avx2() -> Option<Kernel> {
        #[cfg(target_arch = "x86_64")]
        {
            #[cfg(feature = "std")]
            let supported =
                std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
            #[cfg(not(feature = "std"))]
            let supported = cfg!(target_feature = "avx2") && cfg!(target_feature = "fma");
            if supported {
                return Some(Kernel { isa: Isa::Avx2 });
            }
        }
        None
    }

    /// The AVX-512F kernel, if this CPU supports it.
    pub fn avx512() -> Option<Kernel> {
        #[cfg(target_arch = "x86_64")]
        {
            // The compiler takes AVX-512F to imply AVX2 and FMA, and may use them in this
            // kernel: a virtual CPU that reports AVX-512F without them must not run it.
            #[cfg(feature = "std")]
            let supported = std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx2")
                && std::is_x86_feature_detected!("fma");
            #[cfg(not(feature = "std"))]
            let supported = cfg!(target_feature = "avx512f")
                && cfg!(target_feature = "avx2")
                && cfg!(target_feature = "fma");
            if supported {
                return Some(Kernel { isa: Isa::Avx512 });
            }
        }
        None
    }

    /// The NEON kernel, if this CPU supports it (every aarch64 CPU that runs Linux does).
    pub fn neon() -> Option<Kernel> {
        #[cfg(target_arch = "aarch64")]
        {
            #[cfg(feature = "std")]
            let supported = std::arch::is_aarch64_feature_detected!("neon");
            #[cfg(not(feature = "std"))]
            let supported = cfg!(target_feature = "neon");
            if supported {
                return Some(Kernel { isa: Isa::Neon });
            }
        }
        None
    }

    /// The kernel called `name` (one of [`KERNEL_NAMES`]), if this CPU supports it.
    pub fn by_name(name: &str) -> Option<Kernel> {
        match name {
            "scalar" => Some(Kernel::scalar()),
            "avx2" => Kernel::avx2(),
            "avx512" => Kernel::avx512(),
            "neon" => Kernel::neon(),
            _ => None,
        }
    }

    /// Every kernel this CPU supports, portable first, widest last.
    pub fn available() -> impl Iterator<Item = Kernel> {
        [
            Some(Kernel::scalar()),
            Kernel::avx2(),
            Kernel::avx512(),
            Kernel::neon(),
        ]
        .into_iter()
        .flatten()
    }

    /// The widest kernel this CPU supports, detected on the first call and cached.
    pub fn best() -> Kernel {
        // 0 means "not detected yet"; any other value is the `Isa` of a kernel detected before.
        static BEST: AtomicU8 = AtomicU8::new(0);
        let isa = match BEST.load(Ordering::Relaxed) {
            1 => Isa::Scalar,
            #[cfg(target_arch = "x86_64")]
            2 => Isa::Avx2,
            #[cfg(target_arch = "x86_64")]
            3 => Isa::Avx512,
            #[cfg(target_arch = "aarch64")]
            4 => Isa::Neon,
            _ => {
                let best = Kernel::available().last().unwrap_or(Kernel::scalar());
                BEST.store(best.isa as u8, Ordering::Relaxed);
                return best;
            }
        };
        Kernel { isa }
    }

    /// The kernel's name, as [`Kernel::by_name`] takes it.
    pub fn name(self) -> &'static str {
        match self.isa {
            Isa::Scalar => "scalar",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => "avx2",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => "avx512",
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => "neon",
        }
    }

    /// The kernel's functions. Calling them is sound: `self` exists only where the CPU
    /// supports its instruction set.
    pub(crate) fn primitives(self) -> Primitives {
        match self.isa {
            Isa::Scalar => crate::scalar::PRIMITIVES,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => crate::avx2::PRIMITIVES,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => crate::avx512::PRIMITIVES,
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => crate::neon::PRIMITIVES,
        }
    }
}
