//! Snapshots for review (`conformance/tests/snapshots/`): the notebook case printed as PyTorch
//! prints it, every error message of the reference and optimized crates, and the runner's table
//! for the scalar kernel. Update with `INSTA_UPDATE=always cargo test -p groupnorm-conformance`
//! (or `cargo insta review`) and read the diff.

use groupnorm_conformance::kit;
use groupnorm_conformance::torch_print::tensor_repr;
use groupnorm_conformance::{
    check_subject, load_dir, render, vectors_dir, Case, CaseInputs, Reference, VectorFile,
};
use groupnorm_optimized::{GroupNorm, Kernel, ParseKernelError, StatsBuffers, F16};
use std::sync::OnceLock;

fn vectors() -> &'static [VectorFile] {
    static VECTORS: OnceLock<Vec<VectorFile>> = OnceLock::new();
    VECTORS.get_or_init(|| load_dir(&vectors_dir()).unwrap_or_else(|e| panic!("{e}")))
}

fn case(name: &str) -> &'static Case {
    vectors()
        .iter()
        .flat_map(|f| &f.cases)
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case {name} in the vectors"))
}

/// `norm(x)` of the notebook (`nn.GroupNorm(2, 4)` on `arange(100).reshape(1, 4, 5, 5)`), through
/// the reference, as PyTorch prints it; the best kernel prints the same text.
#[test]
fn notebook_prints_like_pytorch() {
    let case = case("notebook");
    let reference = CaseInputs::of(case).problem().reference().unwrap();
    let text = tensor_repr(&reference.y, &case.shape);
    // PyTorch's own float32 output of the vectors prints the same: the layout and the rounding
    // to 4 decimals are PyTorch's.
    let pytorch: Vec<f64> = case
        .expected_native
        .y
        .iter()
        .map(|&v| f64::from(v))
        .collect();
    assert_eq!(text, tensor_repr(&pytorch, &case.shape));
    let kernel = Kernel::best();
    let ours = kit::run(kernel, &CaseInputs::of(case).problem()).unwrap();
    let ours: Vec<f64> = ours.y.iter().map(|&v| f64::from(v)).collect();
    assert_eq!(
        text,
        tensor_repr(&ours, &case.shape),
        "the {} kernel prints differently",
        kernel.name()
    );
    insta::assert_snapshot!("notebook_reference", text);
}

/// The notebook the project grew from, and where it was read. The repository holds a copy
/// (`conformance/tests/notebook/`), so that every checkout compares with it; where the original
/// is there too (`GROUPNORM_NOTEBOOK`, which CI sets, or else
/// `../shared/notebook/groupnorm-notebook.txt` beside the repository), the copy must equal it
/// byte for byte, and the original is what the test reads. `GROUPNORM_NOTEBOOK` naming a file
/// that cannot be read fails.
fn notebook_text() -> (std::path::PathBuf, String) {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let copy_path = here.join("tests/notebook/groupnorm-notebook.txt");
    let copy = std::fs::read_to_string(&copy_path)
        .unwrap_or_else(|e| panic!("the notebook's copy {}: {e}", copy_path.display()));
    let original = match std::env::var_os("GROUPNORM_NOTEBOOK") {
        Some(path) => {
            let path = std::path::PathBuf::from(path);
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("GROUPNORM_NOTEBOOK={}: {e}", path.display()));
            Some((path, text))
        }
        None => {
            let path = here.join("../../shared/notebook/groupnorm-notebook.txt");
            std::fs::read_to_string(&path).ok().map(|text| (path, text))
        }
    };
    match original {
        Some((path, text)) => {
            assert!(
                text == copy,
                "{} differs from the notebook {}",
                copy_path.display(),
                path.display()
            );
            (path, text)
        }
        None => {
            println!("the original notebook is not beside the repository: compared with its copy");
            (copy_path, copy)
        }
    }
}

/// What the notebook printed for `norm(x)`, as far as it goes (the saved notebook may be cut
/// short), without the `grad_fn` that PyTorch adds for a module with parameters.
fn notebook_norm_output(notebook: &str) -> &str {
    let start = notebook
        .rfind("\nnorm(x)\n")
        .expect("the notebook has a `norm(x)` cell")
        + "\nnorm(x)\n".len();
    let output = notebook[start..].trim_start();
    let end = output.find("\nIn [").unwrap_or(output.len());
    let output = output[..end].trim_end();
    output.split(", grad_fn=").next().unwrap_or(output)
}

/// The notebook snapshot's text begins with what the notebook itself printed for `norm(x)`:
/// the vectors, the reference and the tensor printer reproduce the notebook.
#[test]
fn the_notebook_snapshot_reproduces_the_notebook() {
    let (path, notebook) = notebook_text();
    let printed = notebook_norm_output(&notebook);
    assert!(
        printed.starts_with("tensor([[[[-1.6977,") && printed.len() > 500,
        "{}: unexpected norm(x) output {printed:?}",
        path.display()
    );
    let case = case("notebook");
    let reference = CaseInputs::of(case).problem().reference().unwrap();
    let ours = tensor_repr(&reference.y, &case.shape);
    assert!(
        ours.starts_with(printed),
        "{} printed\n{printed}\n\nours:\n{ours}",
        path.display()
    );
    println!(
        "compared {} characters of {}",
        printed.len(),
        path.display()
    );
}

/// The name of an error's variant, from its `Debug` form (`InputLength { expected: 4, len: 3 }`
/// gives `InputLength`). Both `GroupNormError`s are `#[non_exhaustive]`, so no match here can
/// be exhaustive: each crate has its own exhaustive match, in a unit test (`reference/src/lib.rs`,
/// `optimized/src/error.rs`), which asks for a line here for a new variant.
fn variant(e: &impl std::fmt::Debug) -> String {
    format!("{e:?}")
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect()
}

/// Every error variant of both crates, each triggered through the public API, with its message.
#[test]
fn error_messages() {
    let mut lines = Vec::new();

    type RefArgs<'a> = (
        &'a [f64],
        &'a [usize],
        usize,
        Option<&'a [f64]>,
        Option<&'a [f64]>,
    );
    let reference_calls: [RefArgs<'_>; 9] = [
        (&[1.0], &[1], 1, None, None),
        (&[1.0, 2.0], &[1, 2], 0, None, None),
        (&[], &[1, 0, 2], 1, None, None),
        (&[], &[1, 2, 3, 0], 1, None, None),
        (&[1.0, 2.0, 3.0], &[1, 3], 2, None, None),
        (&[1.0, 2.0], &[1, 2], 1, Some(&[1.0]), None),
        (&[1.0, 2.0], &[1, 2], 1, None, Some(&[0.0, 0.0, 0.0])),
        (&[], &[usize::MAX, 2, 2], 1, None, None),
        (&[1.0, 2.0, 3.0], &[1, 2, 2], 1, None, None),
    ];
    let mut seen = Vec::new();
    for (input, shape, groups, weight, bias) in reference_calls {
        let e = groupnorm_reference::group_norm(input, shape, groups, weight, bias, 1e-5)
            .expect_err("the call is invalid");
        lines.push(format!("reference::{}: {e}", variant(&e)));
        seen.push(variant(&e));
    }
    assert_eq!(seen.len(), 9, "every reference variant once");
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 9, "every reference variant once");

    struct Call<'a> {
        shape: &'a [usize],
        groups: usize,
        weight: Option<&'a [f32]>,
        bias: Option<&'a [f32]>,
        input: usize,
        y: usize,
        stats: usize,
    }
    let call = |shape, groups, input, y| Call {
        shape,
        groups,
        weight: None,
        bias: None,
        input,
        y,
        stats: 1,
    };
    let optimized_calls = [
        call(&[1], 1, 1, 1),
        call(&[1, 2], 0, 2, 2),
        call(&[1, 0, 2], 1, 0, 0),
        call(&[1, 2, 3, 0], 1, 0, 0),
        call(&[1, 3], 2, 3, 3),
        Call {
            weight: Some(&[1.0]),
            ..call(&[1, 2], 1, 2, 2)
        },
        Call {
            bias: Some(&[0.0; 3]),
            ..call(&[1, 2], 1, 2, 2)
        },
        call(&[usize::MAX, 2, 2], 1, 0, 0),
        call(&[1, 2, 2], 1, 3, 4),
        call(&[1, 2, 2], 1, 4, 3),
        Call {
            stats: 2,
            ..call(&[1, 2, 2], 1, 4, 4)
        },
    ];
    let mut seen = Vec::new();
    for c in optimized_calls {
        let params = {
            let mut params = GroupNorm::new(c.shape, c.groups).with_eps(1e-5);
            if let Some(weight) = c.weight {
                params = params.with_weight(weight);
            }
            if let Some(bias) = c.bias {
                params = params.with_bias(bias);
            }
            params
        };
        let input = vec![0.0; c.input];
        let mut y = vec![0.0; c.y];
        let (mut mean, mut rstd) = (vec![0.0; c.stats], vec![0.0; 1]);
        let e = Kernel::scalar()
            .run(
                &params,
                &input,
                &mut y,
                Some(StatsBuffers::new(&mut mean, &mut rstd)),
            )
            .expect_err("the call is invalid");
        lines.push(format!("optimized::{}: {e}", variant(&e)));
        seen.push(variant(&e));
    }
    // RstdLength: mean has the right length, rstd does not.
    let params = GroupNorm::new(&[1, 2, 2], 1);
    let (mut mean, mut rstd) = ([0.0; 1], [0.0; 2]);
    let e = Kernel::scalar()
        .run(
            &params,
            &[0.0; 4],
            &mut [0.0; 4],
            Some(StatsBuffers::new(&mut mean, &mut rstd)),
        )
        .expect_err("the call is invalid");
    lines.push(format!("optimized::{}: {e}", variant(&e)));
    seen.push(variant(&e));
    // The types: a float16 weight for float32 input, for float16 input a float16 weight with
    // a float32 bias, and float32 statistics for float16 input without parameters.
    let half = [F16::from_f32(1.0); 2];
    let (x16, mut y16) = ([F16::from_f32(0.5); 4], [F16::default(); 4]);
    let (mut mean, mut rstd) = ([0.0f32; 1], [0.0f32; 1]);
    let typed_errors = [
        GroupNorm::new(&[1, 2, 2], 1)
            .with_weight(&half)
            .forward(&[0.0f32; 4], &mut [0.0; 4]),
        GroupNorm::new(&[1, 2, 2], 1)
            .with_weight(&half)
            .with_bias(&[0.0f32; 2])
            .forward(&x16, &mut y16),
        GroupNorm::new(&[1, 2, 2], 1).forward_with_stats(
            &x16,
            &mut y16,
            StatsBuffers::new(&mut mean, &mut rstd),
        ),
    ];
    for e in typed_errors {
        let e = e.expect_err("the call is invalid");
        lines.push(format!("optimized::{}: {e}", variant(&e)));
        seen.push(variant(&e));
    }
    let count = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!(
        (count, seen.len()),
        (15, 15),
        "every optimized variant once"
    );

    // Kernel names `FromStr` rejects: through parsing where the outcome does not depend on the
    // CPU, and `Unsupported` built directly (which kernels a CPU lacks varies).
    let unknown = "sse9".parse::<Kernel>().expect_err("no such kernel");
    lines.push(format!(
        "optimized::ParseKernelError::{unknown:?}: {unknown}"
    ));
    let unsupported = ParseKernelError::Unsupported { name: "neon" };
    lines.push(format!(
        "optimized::ParseKernelError::Unsupported: {unsupported}"
    ));

    insta::assert_snapshot!("error_messages", lines.join("\n"));
}

/// The runner's report over the bundled vectors for the reference and the scalar kernel
/// (portable IEEE arithmetic, so the same on every machine).
#[test]
fn runner_table_scalar() {
    let cases = || vectors().iter().flat_map(|f| &f.cases);
    let reports = [
        check_subject(&Reference, cases()),
        check_subject(&Kernel::scalar(), cases()),
    ];
    insta::assert_snapshot!("runner_table_scalar", render(&reports));
}
