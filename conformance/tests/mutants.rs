//! Mutation tests: the suite has teeth. [`group_norm`] is a plausible correct GroupNorm (two
//! passes in f64, PyTorch's order for the affine) and passes every bundled vector; each
//! [`Mutation`] changes it in one place, as a real bug would, and must fail, with a failure
//! that points at the fault. The table of what caught each mutant is the snapshot "mutants";
//! update it with `INSTA_UPDATE=always cargo test -p groupnorm-conformance --test mutants`.

use groupnorm_conformance::variant::{Feature, Layout};
use groupnorm_conformance::{
    check_subject, load_dir, vectors_dir, Case, CaseInputs, CaseReport, Outputs, Subject,
    SubjectReport, VectorFile, Verdict,
};
use std::sync::OnceLock;

/// One fault planted in [`group_norm`], or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mutation {
    None,
    /// The variance divided by `L - 1`.
    UnbiasedVariance,
    /// `1 / (sqrt(var) + eps)`.
    EpsOutsideSqrt,
    /// Group `g` takes the channels `c` with `c % G == g`.
    InterleavedGroups,
    /// `weight[g]` and `bias[g]` instead of `weight[c]` and `bias[c]`.
    AffineByGroup,
    /// `E[x^2] - E[x]^2`, accumulated in f32.
    OnePassF32,
    /// The last `L % 8` values left out of the statistics (a SIMD loop without its remainder).
    TailDropped,
    /// The statistics over `L` rounded up to a multiple of 8, the padding zeros.
    TailPadded,
    /// `mean` and `rstd` returned one group off (rotated), `y` right.
    StatsRotated,
    /// NaN inputs counted as 0 in the statistics.
    NanAsZero,
    /// `((x - mean) * rstd + beta) * gamma`.
    BiasBeforeScale,
}

// Every variant but `None`, which would hide `Option::None`.
use Mutation::{
    AffineByGroup, BiasBeforeScale, EpsOutsideSqrt, InterleavedGroups, NanAsZero, OnePassF32,
    StatsRotated, TailDropped, TailPadded, UnbiasedVariance,
};

const MUTANTS: [Mutation; 10] = [
    UnbiasedVariance,
    EpsOutsideSqrt,
    InterleavedGroups,
    AffineByGroup,
    OnePassF32,
    TailDropped,
    TailPadded,
    StatsRotated,
    NanAsZero,
    BiasBeforeScale,
];

/// GroupNorm of a case (either layout), with the fault `m`: each test of `m` below is one mutant.
fn group_norm(m: Mutation, case: &CaseInputs<'_>) -> Outputs {
    let (n, c, groups) = (case.shape[0], case.shape[1], case.num_groups);
    let (hw, cpg) = (case.shape[2..].iter().product::<usize>(), c / groups);
    let x = |i: usize| f64::from(case.input[i]);
    let mut y = vec![0.0; case.input.len()];
    let (mut mean, mut rstd) = (Vec::new(), Vec::new());
    for (b, g) in (0..n).flat_map(|b| (0..groups).map(move |g| (b, g))) {
        let channel = |k: usize| match m {
            InterleavedGroups => g + k * groups,
            _ => g * cpg + k,
        };
        // The group's elements as (index into input, channel), channel by channel.
        let at = |ch: usize, pos: usize| match case.variant.layout {
            Layout::ChannelsLast => (b * hw + pos) * c + ch,
            _ => (b * c + ch) * hw + pos,
        };
        let elems: Vec<(usize, usize)> = (0..cpg * hw)
            .map(|i| (at(channel(i / hw), i % hw), channel(i / hw)))
            .collect();
        // The values the statistics see.
        let mut xs: Vec<f64> = elems.iter().map(|&(i, _)| x(i)).collect();
        match m {
            TailDropped => xs.truncate(xs.len() - xs.len() % 8),
            TailPadded => xs.resize(xs.len().div_ceil(8) * 8, 0.0),
            NanAsZero => xs.iter_mut().filter(|v| v.is_nan()).for_each(|v| *v = 0.0),
            _ => {}
        }
        let len = xs.len() as f64;
        let (mu, var) = if m == OnePassF32 {
            let (s, s2) = xs.iter().fold((0f32, 0f32), |(s, s2), &v| {
                (s + v as f32, s2 + v as f32 * v as f32)
            });
            let mu = s / len as f32;
            (f64::from(mu), f64::from(s2 / len as f32 - mu * mu))
        } else {
            let mu = xs.iter().sum::<f64>() / len;
            let ss: f64 = xs.iter().map(|&v| (v - mu) * (v - mu)).sum();
            let divisor = if m == UnbiasedVariance {
                len - 1.0
            } else {
                len
            };
            (mu, ss / divisor)
        };
        let r = match m {
            EpsOutsideSqrt => 1.0 / (var.sqrt() + case.eps),
            _ => 1.0 / (var + case.eps).sqrt(),
        };
        for &(i, ch) in &elems {
            let ch = if m == AffineByGroup { g } else { ch };
            let gamma = case.weight.map_or(1.0, |w| f64::from(w[ch]));
            let beta = case.bias.map_or(0.0, |b| f64::from(b[ch]));
            let scale = r * gamma;
            let plain = case.weight.is_none() && case.bias.is_none();
            y[i] = match m {
                BiasBeforeScale => ((x(i) - mu) * r + beta) * gamma,
                // PyTorch's order without weight and bias.
                _ if plain => (x(i) - mu) * r,
                _ => x(i) * scale + (beta - mu * scale),
            };
        }
        mean.push(mu);
        rstd.push(r);
    }
    if m == StatsRotated && !mean.is_empty() {
        mean.rotate_left(1);
        rstd.rotate_left(1);
    }
    Outputs::new(y).with_stats(mean, rstd)
}

impl Subject for Mutation {
    fn name(&self) -> &str {
        match self {
            Mutation::None => "base (no mutation)",
            UnbiasedVariance => "unbiased variance (L - 1)",
            EpsOutsideSqrt => "eps outside the sqrt",
            InterleavedGroups => "interleaved groups (c % G)",
            AffineByGroup => "weight/bias by group",
            OnePassF32 => "one-pass E[x²] - E[x]² in f32",
            TailDropped => "tail dropped (L % 8)",
            TailPadded => "tail padded to 8 with zeros",
            StatsRotated => "mean/rstd rotated one group",
            NanAsZero => "NaN counted as 0",
            BiasBeforeScale => "bias before scale",
        }
    }

    /// Both layouts, float32, no activation, forward only.
    fn supports(&self, feature: Feature) -> bool {
        feature.is_float32_forward()
    }

    fn run(&self, case: &CaseInputs<'_>) -> Result<Outputs, String> {
        Ok(group_norm(*self, case))
    }
}

fn vectors() -> &'static [VectorFile] {
    static VECTORS: OnceLock<Vec<VectorFile>> = OnceLock::new();
    VECTORS.get_or_init(|| load_dir(&vectors_dir()).unwrap_or_else(|e| panic!("{e}")))
}

/// The float32 forward cases, which the mutants (float32 GroupNorms) run: the half-type and
/// SiLU cases would only be "not supported" rows.
fn cases() -> impl Iterator<Item = &'static Case> {
    let float32_forward = |c: &&Case| c.variant.features().iter().all(|f| f.is_float32_forward());
    vectors()
        .iter()
        .flat_map(|f| &f.cases)
        .filter(float32_forward)
}

fn case(name: &str) -> &'static Case {
    cases()
        .find(|c| c.name == name)
        .expect("a case of the report")
}

/// Every mutant's report over every bundled vector, computed once.
fn reports() -> &'static [(Mutation, SubjectReport)] {
    static REPORTS: OnceLock<Vec<(Mutation, SubjectReport)>> = OnceLock::new();
    REPORTS.get_or_init(|| {
        MUTANTS
            .iter()
            .map(|&m| (m, check_subject(&m, cases())))
            .collect()
    })
}

/// The failure messages of a case, where it failed.
fn failures(report: &CaseReport) -> &[String] {
    match &report.verdict {
        Verdict::Fail(why) => why,
        _ => &[],
    }
}

/// The checks a case failed: `y`, `mean`, `rstd`, `less accurate` (than PyTorch float32, by
/// more than the margin), `no output`.
fn failed_checks(report: &CaseReport) -> Vec<&str> {
    failures(report)
        .iter()
        .map(|f| {
            let what = f.split(':').next().unwrap_or("");
            what.split(" vs ").next().unwrap_or(what)
        })
        .map(|what| what.split(" than ").next().unwrap_or(what))
        .collect()
}

fn first_failure(report: &SubjectReport) -> &CaseReport {
    let first = report.cases.iter().find(|c| !c.passed());
    first.unwrap_or_else(|| panic!("{} passes every vector", report.subject))
}

/// The control: without a mutation, every vector passes, so each mutant's failure is its own.
#[test]
fn the_base_passes_every_vector() {
    let report = check_subject(&Mutation::None, cases());
    assert!(report.cases.len() > 50, "too few cases");
    for case in &report.cases {
        assert_eq!(case.verdict, Verdict::Pass, "{}", case.case);
    }
}

/// Every mutant fails, and its first failing case fails the checks that name its fault (and
/// passes those its fault leaves alone), on a case that has what the fault needs.
#[test]
fn every_mutant_fails_where_its_fault_is() {
    type Expect = (
        &'static [&'static str],
        &'static [&'static str],
        fn(&Case) -> bool,
    );
    let any = |_: &Case| true;
    let expect = |m: Mutation| -> Expect {
        match m {
            UnbiasedVariance | EpsOutsideSqrt => (&["rstd"], &["mean"], any),
            InterleavedGroups => (&["mean", "rstd"], &[], |c| {
                c.num_groups > 1 && c.channels() > c.num_groups
            }),
            AffineByGroup => (&["y"], &["mean", "rstd"], |c| {
                c.weight.is_some() && c.channels() > c.num_groups
            }),
            OnePassF32 => (&["rstd"], &[], any),
            TailDropped | TailPadded => (&["mean"], &[], |c| c.group_len() % 8 != 0),
            StatsRotated => (&["mean"], &["y"], |c| c.group_count() > 1),
            NanAsZero => (&["mean", "rstd"], &[], |c| {
                c.input.iter().any(|v| v.is_nan())
            }),
            BiasBeforeScale => (&["y"], &["mean", "rstd"], |c| {
                c.weight.is_some() && c.bias.is_some()
            }),
            Mutation::None => unreachable!(),
        }
    };
    for (m, report) in reports() {
        let first = first_failure(report);
        let checks = failed_checks(first);
        let (fails, passes, has_the_fault) = expect(*m);
        let context = format!("{m:?} on {}: {:#?}", first.case, failures(first));
        for check in fails {
            assert!(checks.contains(check), "{check} should fail: {context}");
        }
        for check in passes {
            assert!(!checks.contains(check), "{check} should pass: {context}");
        }
        assert!(has_the_fault(case(&first.case)), "{context}");
    }
    // NaN counted as 0 gives finite statistics where PyTorch's are NaN.
    let (_, report) = reports().iter().find(|(m, _)| *m == NanAsZero).unwrap();
    let why = failures(first_failure(report));
    assert!(why.iter().any(|f| f.contains("expected NaN")), "{why:#?}");
}

/// `v` in 4 significant digits, without trailing zeros (`2.284e0`, `0e0`).
fn short(v: f64) -> String {
    let s = format!("{v:.3e}");
    let (mantissa, exponent) = s.split_once('e').expect("an exponent");
    let mantissa = match mantissa.contains('.') {
        true => mantissa.trim_end_matches('0').trim_end_matches('.'),
        false => mantissa,
    };
    format!("{mantissa}e{exponent}")
}

/// A failure message, shorter: numbers in 4 digits, the tolerance only as the ratio to it,
/// without "vs PyTorch float64" (every check is against it).
fn trimmed(message: &str) -> String {
    let (head, ratio) = match message.split_once(": |diff|") {
        Some((head, tail)) => {
            let ratio = tail
                .rsplit_once(" (")
                .map(|(_, r)| r.trim_end_matches("x)"));
            let ratio = ratio.and_then(|r| r.parse::<f64>().ok()).expect("a ratio");
            (head, format!(" ({} x the tolerance)", short(ratio)))
        }
        None => (message, String::new()),
    };
    let head = head
        .replace(" vs PyTorch float64", "")
        .replace(" out of tolerance", "");
    let words: Vec<String> = head
        .split(' ')
        .map(|word| {
            let number = word.trim_end_matches(',');
            match number.parse::<f64>() {
                Ok(v) if number.contains(['e', '.']) => word.replace(number, &short(v)),
                _ => word.to_owned(),
            }
        })
        .collect();
    words.join(" ").replace('|', "\\|") + &ratio
}

/// The mutants and what caught each, as a Markdown table.
#[test]
fn mutants_table() {
    let total = cases().count();
    let mut out = format!(
        "| mutant | cases failed (of {total}) | first failing case | checks failed there | first failure message |\n|---|---:|---|---|---|\n"
    );
    for (m, report) in reports() {
        let failed = report.cases.iter().filter(|c| !c.passed()).count();
        let first = first_failure(report);
        out.push_str(&format!(
            "| {} | {failed} | {} | {} | {} |\n",
            m.name(),
            first.case,
            failed_checks(first).join(", "),
            trimmed(&failures(first)[0])
        ));
    }
    insta::assert_snapshot!("mutants", out);
}
