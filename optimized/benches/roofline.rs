//! The roofline: the least work any GroupNorm must do on the same buffers. Per group, one read
//! of every value for the statistics (a plain vectorized sum), then one read, one FMA and one
//! write per value for the output. No real GroupNorm can be faster; a kernel's time against this
//! one says how close it comes to the machine's limit.

use rayon::prelude::*;
use std::sync::Mutex;

/// One thread's run of groups, input and output, taken once by that thread.
type Run<'a> = Mutex<Option<(&'a [f32], &'a mut [f32])>>;

/// The roofline on the current rayon pool, with the kernels' placement: while input and output
/// fit in 16 MiB, each thread takes one contiguous run of whole groups, the same run at every
/// call; beyond, runs of about an eighth of a thread's share, taken by whichever thread is free.
/// On shapes bound by memory, its speed-up over one thread is about the most any kernel can get
/// from more threads here.
pub fn roofline_parallel(x: &[f32], y: &mut [f32], group_len: usize) {
    let threads = rayon::current_num_threads();
    let runs_per_thread = if 2 * x.len() * size_of::<f32>() <= 16 << 20 {
        1
    } else {
        8
    };
    let run_len = (x.len() / group_len)
        .div_ceil(runs_per_thread * threads)
        .max(1)
        * group_len;
    if runs_per_thread > 1 {
        x.par_chunks(run_len)
            .zip(y.par_chunks_mut(run_len))
            .for_each(|(x, y)| roofline(x, y, group_len));
        return;
    }
    let runs: Vec<Run<'_>> = x
        .chunks(run_len)
        .zip(y.chunks_mut(run_len))
        .map(|run| Mutex::new(Some(run)))
        .collect();
    rayon::broadcast(|context| {
        let run = runs
            .get(context.index())
            .and_then(|run| run.lock().ok()?.take());
        if let Some((x, y)) = run {
            roofline(x, y, group_len);
        }
    });
}

/// Runs the roofline over `x` in groups of `group_len`, writing `y`; compiled for the widest
/// instruction set the CPU has, like the kernels it is compared with.
pub fn roofline(x: &[f32], y: &mut [f32], group_len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F, checked just above.
            return unsafe { roofline_avx512(x, y, group_len) };
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports AVX2 and FMA, checked just above.
            return unsafe { roofline_avx2(x, y, group_len) };
        }
    }
    roofline_portable(x, y, group_len)
}

/// # Safety
/// The CPU supports AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn roofline_avx512(x: &[f32], y: &mut [f32], group_len: usize) {
    roofline_portable(x, y, group_len)
}

/// # Safety
/// The CPU supports AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn roofline_avx2(x: &[f32], y: &mut [f32], group_len: usize) {
    roofline_portable(x, y, group_len)
}

/// Written so the compiler vectorizes it: 64 independent partial sums (lane-wise adds need no
/// reassociation) and an element-wise `mul_add`.
#[inline(always)]
fn roofline_portable(x: &[f32], y: &mut [f32], group_len: usize) {
    for (xg, yg) in x.chunks(group_len).zip(y.chunks_mut(group_len)) {
        let mut partial = [0.0f32; 64];
        let mut rows = xg.chunks_exact(64);
        for row in &mut rows {
            for (p, v) in partial.iter_mut().zip(row) {
                *p += v;
            }
        }
        let sum: f32 = partial.iter().sum::<f32>() + rows.remainder().iter().sum::<f32>();
        let (scale, offset) = (1.0 / (1.0 + sum.abs()), sum * 1e-9);
        for (xv, yv) in xg.iter().zip(yg.iter_mut()) {
            *yv = xv.mul_add(scale, offset);
        }
    }
}
