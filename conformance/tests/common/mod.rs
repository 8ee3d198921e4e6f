//! Helpers shared by the integration tests that run every kernel.

use groupnorm_optimized::Kernel;
use std::collections::BTreeSet;

/// The kernels a test ran must be exactly `Kernel::available()` (and, where CI sets
/// `GROUPNORM_EXPECT_KERNELS` from the CPU flags, exactly those).
pub fn assert_ran_every_kernel(ran: &BTreeSet<&'static str>) {
    let available: BTreeSet<&str> = Kernel::available().map(Kernel::name).collect();
    assert_eq!(ran, &available, "kernels run vs Kernel::available()");
    assert!(available.contains("scalar"));
    if let Ok(expected) = std::env::var("GROUPNORM_EXPECT_KERNELS") {
        let expected: BTreeSet<&str> = expected.split(',').collect();
        assert_eq!(
            &available, &expected,
            "Kernel::available() vs GROUPNORM_EXPECT_KERNELS"
        );
    }
}
