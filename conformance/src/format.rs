//! Numbers as the reports write them.

/// `eps` compactly: `1e-5`, `0.001`, `0.5`, `-0.5`, `0`.
pub(crate) fn format_eps(eps: f64) -> String {
    if eps == 0.0 || (1e-3..1e4).contains(&eps.abs()) {
        format!("{eps}")
    } else {
        format!("{eps:e}")
    }
}

/// An error in `e32` units: two decimals, scientific below 0.01 (but 0) and from 10^4 on, `inf`
/// and `NaN` as such.
pub(crate) fn format_units(units: f64) -> String {
    if units.is_nan() {
        "NaN".into()
    } else if units.is_infinite() {
        "inf".into()
    } else if units == 0.0 || (0.01..1e4).contains(&units) {
        format!("{units:.2}")
    } else {
        format!("{units:.3e}")
    }
}

/// An absolute error: three significant decimals in scientific notation, non-finite as such.
pub(crate) fn format_abs(error: f64) -> String {
    if error.is_finite() {
        format!("{error:.3e}")
    } else {
        format!("{error}")
    }
}
