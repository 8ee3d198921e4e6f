//! What this CPU supports, for the kernel registry. With `std`, its run-time detection. Without
//! it, on x86_64, CPUID and XGETBV read directly (so that a vendored `no_std` build still runs
//! the widest kernel); on other architectures, the target features the crate is compiled with.

/// AVX2, FMA and F16C (the float16 conversions; every CPU with AVX2 has it), with the OS saving
/// the 256-bit registers.
#[cfg(target_arch = "x86_64")]
pub(crate) fn avx2_fma_f16c() -> bool {
    #[cfg(feature = "std")]
    return std::is_x86_feature_detected!("avx2")
        && std::is_x86_feature_detected!("fma")
        && std::is_x86_feature_detected!("f16c");
    #[cfg(not(feature = "std"))]
    return x86::detect().avx2_fma_f16c;
}

/// AVX-512F, and AVX2, FMA and F16C too: the compiler takes AVX-512F to imply them and may use
/// them in that kernel, so a virtual CPU that reports AVX-512F without them must not run it.
#[cfg(target_arch = "x86_64")]
pub(crate) fn avx512f() -> bool {
    #[cfg(feature = "std")]
    return std::is_x86_feature_detected!("avx512f") && avx2_fma_f16c();
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
        pub avx2_fma_f16c: bool,
        pub avx512f: bool,
    }

    const fn bit(register: u32, bit: u32) -> bool {
        register & (1 << bit) != 0
    }

    pub fn detect() -> Features {
        // SAFETY: every x86_64 CPU has CPUID, and leaf 0 is always defined. (The CPUID
        // intrinsics are `unsafe fn`s in older Rust releases, safe in recent ones.)
        #[allow(unused_unsafe)]
        let max_leaf = unsafe { __cpuid(0) }.eax;
        if max_leaf < 7 {
            return Features::NONE;
        }
        // SAFETY: leaves 1 and 7 exist, as leaf 0 just said.
        #[allow(unused_unsafe)]
        let (leaf1, leaf7): (CpuidResult, CpuidResult) =
            unsafe { (__cpuid(1), __cpuid_count(7, 0)) };
        let xcr0 = if bit(leaf1.ecx, OSXSAVE) {
            // SAFETY: OSXSAVE says that the OS has enabled XGETBV.
            unsafe { xcr0() }
        } else {
            0
        };
        features(leaf1.ecx, leaf7.ebx, xcr0)
    }

    /// CPUID.1:ECX bits.
    const FMA: u32 = 12;
    const OSXSAVE: u32 = 27;
    const AVX: u32 = 28;
    const F16C: u32 = 29;
    /// CPUID.7.0:EBX bits.
    const AVX2: u32 = 5;
    const AVX512F: u32 = 16;
    /// XCR0: SSE and AVX state (bits 1, 2); opmask and both halves of the ZMM registers (5 to
    /// 7).
    const YMM_STATE: u64 = 0b110;
    const ZMM_STATE: u64 = 0b1110_0000;

    impl Features {
        const NONE: Features = Features {
            avx2_fma_f16c: false,
            avx512f: false,
        };
    }

    /// What the CPU has and the OS saves, from CPUID.1:ECX, CPUID.7.0:EBX and XCR0 (0 where
    /// the OS has not enabled XGETBV).
    fn features(leaf1_ecx: u32, leaf7_ebx: u32, xcr0: u64) -> Features {
        let ymm_saved = bit(leaf1_ecx, OSXSAVE) && xcr0 & YMM_STATE == YMM_STATE;
        let zmm_saved = ymm_saved && xcr0 & ZMM_STATE == ZMM_STATE;
        let avx2_fma_f16c = ymm_saved
            && bit(leaf1_ecx, AVX)
            && bit(leaf7_ebx, AVX2)
            && bit(leaf1_ecx, FMA)
            && bit(leaf1_ecx, F16C);
        Features {
            avx2_fma_f16c,
            avx512f: avx2_fma_f16c && zmm_saved && bit(leaf7_ebx, AVX512F),
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

    /// Each register bit that detection needs: with every bit, both kernels; without any one
    /// of them, not the kernels that need it.
    #[test]
    fn each_bit_counts() {
        let ecx = 1 << FMA | 1 << OSXSAVE | 1 << AVX | 1 << F16C;
        let ebx = 1 << AVX2 | 1 << AVX512F;
        let xcr0 = YMM_STATE | ZMM_STATE;
        let both = Features {
            avx2_fma_f16c: true,
            avx512f: true,
        };
        let avx2_only = Features {
            avx2_fma_f16c: true,
            avx512f: false,
        };
        assert_eq!(features(ecx, ebx, xcr0), both);
        for b in [FMA, OSXSAVE, AVX, F16C] {
            assert_eq!(
                features(ecx & !(1 << b), ebx, xcr0),
                Features::NONE,
                "ECX bit {b}"
            );
        }
        assert_eq!(features(ecx, ebx & !(1 << AVX2), xcr0), Features::NONE);
        assert_eq!(features(ecx, ebx & !(1 << AVX512F), xcr0), avx2_only);
        for b in [1, 2] {
            assert_eq!(
                features(ecx, ebx, xcr0 & !(1 << b)),
                Features::NONE,
                "XCR0 bit {b}"
            );
        }
        for b in [5, 6, 7] {
            assert_eq!(
                features(ecx, ebx, xcr0 & !(1 << b)),
                avx2_only,
                "XCR0 bit {b}"
            );
        }
    }

    /// CPUID and XGETBV find what `std`'s detection finds. Miri has neither instruction.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn agrees_with_std() {
        let std_avx2_fma_f16c = std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
            && std::is_x86_feature_detected!("f16c");
        assert_eq!(
            detect(),
            Features {
                avx2_fma_f16c: std_avx2_fma_f16c,
                avx512f: std_avx2_fma_f16c && std::is_x86_feature_detected!("avx512f"),
            }
        );
    }
}
