//! Prints a tensor the way PyTorch's `repr` does (`torch/_tensor_str.py` with the default print
//! options: precision 4, threshold 1000, edge items 3, line width 80), so that an output can be
//! compared by eye with a notebook.
//!
//! The values are printed as a tensor of PyTorch's default dtype, float32, so no `dtype=` suffix
//! is written; give `f32` values widened to `f64` for an exact match (PyTorch formats the
//! float64 value of each float32 element). There is no `grad_fn=` suffix either: a notebook's
//! `norm(x)` shows `grad_fn=<NativeGroupNormBackward0>` after the values because the module's
//! weight requires gradients.

/// The options PyTorch uses by default.
const PRECISION: usize = 4;
const THRESHOLD: usize = 1000;
const EDGE_ITEMS: usize = 3;
const LINE_WIDTH: usize = 80;

/// `repr(tensor)` for a float tensor of `shape` holding `values` (row-major).
///
/// # Panics
///
/// If `values.len()` is not the product of `shape`.
pub fn tensor_repr(values: &[f64], shape: &[usize]) -> String {
    let numel: usize = shape.iter().product();
    assert_eq!(values.len(), numel, "values do not match the shape");
    let prefix = "tensor(";
    if numel == 0 {
        if shape == [0] {
            return "tensor([])".into();
        }
        let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
        let size = if dims.len() == 1 {
            format!("({},)", dims[0])
        } else {
            format!("({})", dims.join(", "))
        };
        return format!("tensor([], size={size})");
    }
    let summarize = numel > THRESHOLD;
    let formatter = Formatter::new(&summarized(values, shape, summarize));
    let body = tensor_str(&View { values, shape }, prefix.len(), summarize, &formatter);
    format!("{prefix}{body})")
}

/// A row-major view: the values and the shape they have.
#[derive(Clone, Copy)]
struct View<'a> {
    values: &'a [f64],
    shape: &'a [usize],
}

impl<'a> View<'a> {
    /// `self[i]`, one dimension less.
    fn index(&self, i: usize) -> View<'a> {
        let inner: usize = self.shape[1..].iter().product();
        View {
            values: &self.values[i * inner..(i + 1) * inner],
            shape: &self.shape[1..],
        }
    }
}

/// The values PyTorch's formatter looks at: all of them, or only the edge items when summarizing
/// (`get_summarized_data`).
fn summarized(values: &[f64], shape: &[usize], summarize: bool) -> Vec<f64> {
    fn collect(view: View<'_>, out: &mut Vec<f64>) {
        match view.shape.len() {
            0 => out.extend_from_slice(view.values),
            1 if view.shape[0] > 2 * EDGE_ITEMS => {
                out.extend_from_slice(&view.values[..EDGE_ITEMS]);
                out.extend_from_slice(&view.values[view.values.len() - EDGE_ITEMS..]);
            }
            1 => out.extend_from_slice(view.values),
            _ => {
                let n = view.shape[0];
                let indices: Vec<usize> = if n > 2 * EDGE_ITEMS {
                    (0..EDGE_ITEMS).chain(n - EDGE_ITEMS..n).collect()
                } else {
                    (0..n).collect()
                };
                for i in indices {
                    collect(view.index(i), out);
                }
            }
        }
    }
    if !summarize {
        return values.to_vec();
    }
    let mut out = Vec::new();
    collect(View { values, shape }, &mut out);
    out
}

/// PyTorch's `_Formatter` for floating-point tensors.
struct Formatter {
    int_mode: bool,
    sci_mode: bool,
    max_width: usize,
}

impl Formatter {
    fn new(values: &[f64]) -> Formatter {
        let mut f = Formatter {
            int_mode: true,
            sci_mode: false,
            max_width: 1,
        };
        let nonzero_finite: Vec<f64> = values
            .iter()
            .copied()
            .filter(|v| v.is_finite() && *v != 0.0)
            .collect();
        if nonzero_finite.is_empty() {
            return f;
        }
        let min = nonzero_finite
            .iter()
            .map(|v| v.abs())
            .fold(f64::INFINITY, f64::min);
        let max = nonzero_finite.iter().map(|v| v.abs()).fold(0.0, f64::max);
        f.int_mode = nonzero_finite.iter().all(|v| *v == v.ceil());
        f.sci_mode = max / min > 1000.0 || max > 1.0e8 || (!f.int_mode && min < 1.0e-4);
        for &v in &nonzero_finite {
            let len = if f.sci_mode {
                python_e(v).len()
            } else if f.int_mode {
                format!("{v:.0}").len() + 1
            } else {
                python_f(v).len()
            };
            f.max_width = f.max_width.max(len);
        }
        f
    }

    fn width(&self) -> usize {
        self.max_width
    }

    fn format(&self, v: f64) -> String {
        let text = if self.sci_mode {
            python_e(v)
        } else if self.int_mode {
            if v.is_finite() {
                format!("{v:.0}.")
            } else {
                python_nonfinite(v).to_owned()
            }
        } else {
            python_f(v)
        };
        format!("{text:>width$}", width = self.max_width)
    }
}

/// Python's `nan`, `inf`, `-inf`.
fn python_nonfinite(v: f64) -> &'static str {
    if v.is_nan() {
        "nan"
    } else if v > 0.0 {
        "inf"
    } else {
        "-inf"
    }
}

/// Python's `f"{v:.4f}"`.
fn python_f(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.PRECISION$}")
    } else {
        python_nonfinite(v).to_owned()
    }
}

/// Python's `f"{v:.4e}"`: the exponent has a sign and at least two digits (`1.0000e-05`).
fn python_e(v: f64) -> String {
    if !v.is_finite() {
        return python_nonfinite(v).to_owned();
    }
    let rust = format!("{v:.PRECISION$e}");
    let (mantissa, exponent) = rust.split_once('e').unwrap_or((&rust, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs())
}

/// `_tensor_str_with_formatter`.
fn tensor_str(view: &View<'_>, indent: usize, summarize: bool, f: &Formatter) -> String {
    let dim = view.shape.len();
    if dim == 0 {
        return f.format(view.values[0]).trim_start().to_owned();
    }
    if dim == 1 {
        return vector_str(view.values, indent, summarize, f);
    }
    let n = view.shape[0];
    let slice = |i: usize| tensor_str(&view.index(i), indent + 1, summarize, f);
    let slices: Vec<String> = if summarize && n > 2 * EDGE_ITEMS {
        (0..EDGE_ITEMS)
            .map(slice)
            .chain(std::iter::once("...".to_owned()))
            .chain((n - EDGE_ITEMS..n).map(slice))
            .collect()
    } else {
        (0..n).map(slice).collect()
    };
    let separator = format!(",{}{}", "\n".repeat(dim - 1), " ".repeat(indent + 1));
    format!("[{}]", slices.join(&separator))
}

/// `_vector_str`.
fn vector_str(values: &[f64], indent: usize, summarize: bool, f: &Formatter) -> String {
    let element_length = f.width() + 2;
    let elements_per_line = (LINE_WIDTH.saturating_sub(indent) / element_length).max(1);
    let data: Vec<String> = if summarize && values.len() > 2 * EDGE_ITEMS {
        values[..EDGE_ITEMS]
            .iter()
            .map(|&v| f.format(v))
            .chain(std::iter::once(" ...".to_owned()))
            .chain(
                values[values.len() - EDGE_ITEMS..]
                    .iter()
                    .map(|&v| f.format(v)),
            )
            .collect()
    } else {
        values.iter().map(|&v| f.format(v)).collect()
    };
    let lines: Vec<String> = data
        .chunks(elements_per_line)
        .map(|line| line.join(", "))
        .collect();
    format!(
        "[{}]",
        lines.join(&format!(",\n{}", " ".repeat(indent + 1)))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // Each expectation follows the rules of torch/_tensor_str.py (the notebook snapshot test
    // compares a real PyTorch output).

    #[test]
    fn integers_print_with_a_trailing_point() {
        let x: Vec<f64> = (0..6).map(f64::from).collect();
        assert_eq!(
            tensor_repr(&x, &[2, 3]),
            "tensor([[0., 1., 2.],\n        [3., 4., 5.]])"
        );
    }

    #[test]
    fn small_values_switch_to_scientific() {
        assert_eq!(
            tensor_repr(&[1e-5, 1.0], &[2]),
            "tensor([1.0000e-05, 1.0000e+00])"
        );
    }

    #[test]
    fn nonfinite_values_are_padded() {
        assert_eq!(
            tensor_repr(&[f64::NAN, 1.5, f64::NEG_INFINITY], &[3]),
            "tensor([   nan, 1.5000,   -inf])"
        );
    }

    #[test]
    fn long_rows_wrap_at_80_columns() {
        let x: Vec<f64> = (0..12).map(|v| f64::from(v) + 0.5).collect();
        assert_eq!(
            tensor_repr(&x, &[12]),
            "tensor([ 0.5000,  1.5000,  2.5000,  3.5000,  4.5000,  5.5000,  6.5000,  7.5000,\n         8.5000,  9.5000, 10.5000, 11.5000])"
        );
    }

    #[test]
    fn large_tensors_are_summarized() {
        let x: Vec<f64> = (500..2500).map(f64::from).collect();
        assert_eq!(
            tensor_repr(&x, &[2000]),
            "tensor([ 500.,  501.,  502.,  ..., 2497., 2498., 2499.])"
        );
        // Only the edge items decide the format: 0 is left out, 1999 / 1 > 1000 is scientific.
        let x: Vec<f64> = (0..2000).map(f64::from).collect();
        assert_eq!(
            tensor_repr(&x, &[2000]),
            "tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03,\n        1.9990e+03])"
        );
    }

    #[test]
    fn empty_tensors_show_their_size() {
        assert_eq!(
            tensor_repr(&[], &[0, 4, 2, 2]),
            "tensor([], size=(0, 4, 2, 2))"
        );
    }
}
