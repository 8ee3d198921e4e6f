//! What this CPU supports, for the kernel registry. With `std`, its run-time detection. Without
//! it, on x86_64, CPUID and XGETBV read directly (so that a vendored `no_std` build still runs
//! the widest kernel); on other architectures, the target features the crate is compiled with.

/// AVX2 and FMA, with the OS saving the 256-bit registers.
#[cfg(target_arch = "x86_64")]
pub(crate) fn avx2_fma() -> bool {
    #[cfg(feature = "std")]
    return std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
    #[cfg(not(feature = "std"))]
    return x86::detect().avx2_fma;
}

/// AVX-512F, and AVX2 and FMA too: the compiler takes AVX-512F to imply them and may use them
/// in that kernel, so a virtual CPU that reports AVX-512F without them must not run it.
#[cfg(target_arch = "x86_64")]
pub(crate) fn avx512f() -> bool {
    #[cfg(feature = "std")]
    return std::is_x86_feature_detected!("avx512f") && avx2_fma();
    #[cfg(not(feature = "std"))]
    return x86::detect().avx512f;
}

/// NEON (every aarch64 CPU that runs Linux has it).
#[cfg(target_arch = "aarch64")]
pub(crate) fn neon() -> bool {
    #[cfg(feature = "std")]
    return std::arch::is_aarch64_feature_detected!("neon");
    #[cfg(not(feature = "std"))]
    return cfg!(target_feature = "neon");
}

/// Detection without `std`, from the CPUID leaves and the XCR0 register, as Intel's and AMD's
/// manuals give it: an instruction set counts only where the CPU has it and the OS saves its
/// registers.
#[cfg(all(target_arch = "x86_64", any(test, not(feature = "std"))))]
mod x86 {
    use core::arch::x86_64::{__cpuid, __cpuid_count, _xgetbv, CpuidResult};

    /// What [`detect`] finds.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Features {
        pub avx2_fma: bool,
        pub avx512f: bool,
    }

    const fn bit(register: u32, bit: u32) -> bool {
        register & (1 << bit) != 0
    }

    pub fn detect() -> Features {
        let none = Features {
            avx2_fma: false,
            avx512f: false,
        };
        // SAFETY: every x86_64 CPU has CPUID, and leaf 0 is always defined. (The CPUID
        // intrinsics are `unsafe` before Rust 1.94 and safe since.)
        #[allow(unused_unsafe)]
        let max_leaf = unsafe { __cpuid(0) }.eax;
        if max_leaf < 7 {
            return none;
        }
        // SAFETY: leaves 1 and 7 exist, as leaf 0 just said.
        #[allow(unused_unsafe)]
        let (leaf1, leaf7): (CpuidResult, CpuidResult) =
            unsafe { (__cpuid(1), __cpuid_count(7, 0)) };
        let (fma, osxsave, avx) = (bit(leaf1.ecx, 12), bit(leaf1.ecx, 27), bit(leaf1.ecx, 28));
        if !(osxsave && avx) {
            return none;
        }
        // SAFETY: OSXSAVE says that the OS has enabled XGETBV.
        let xcr0 = unsafe { xcr0() };
        // SSE and AVX state (bits 1, 2); opmask and both halves of the ZMM registers (5 to 7).
        let ymm_saved = xcr0 & 0b110 == 0b110;
        let zmm_saved = ymm_saved && xcr0 & 0b1110_0000 == 0b1110_0000;
        let (avx2, avx512f) = (bit(leaf7.ebx, 5), bit(leaf7.ebx, 16));
        let avx2_fma = ymm_saved && avx2 && fma;
        Features {
            avx2_fma,
            avx512f: avx2_fma && zmm_saved && avx512f,
        }
    }

    /// XCR0, the register that says which register states the OS saves.
    ///
    /// # Safety
    /// The CPU has XGETBV and the OS has enabled it (CPUID.1:ECX.OSXSAVE).
    #[target_feature(enable = "xsave")]
    unsafe fn xcr0() -> u64 {
        // SAFETY: our caller guarantees XGETBV; XCR0 is register 0.
        unsafe { _xgetbv(0) }
    }

    /// CPUID and XGETBV find what `std`'s detection finds. Miri has neither instruction.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn agrees_with_std() {
        let std_avx2_fma =
            std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
        assert_eq!(
            detect(),
            Features {
                avx2_fma: std_avx2_fma,
                avx512f: std_avx2_fma && std::is_x86_feature_detected!("avx512f"),
            }
        );
    }
}
