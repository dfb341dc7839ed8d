//! Flame graph SVGs through inferno.

use std::io::Write;

use firebox_model::Profile;

/// How a flame graph looks.
#[derive(Clone, Debug, Default)]
pub struct SvgOptions {
    /// The title at the top; the profile's own title when `None`.
    pub title: Option<String>,
    /// A second line under the title.
    pub subtitle: Option<String>,
}

/// Errors from rendering.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// The profile has no samples, and inferno draws nothing from nothing.
    #[error("the profile holds no samples, so there is no flame graph to draw")]
    Empty,
    /// inferno or the writer failed.
    #[error("failed to write the flame graph")]
    Write(#[source] std::io::Error),
}

/// Writes `profile` as a flame graph SVG to `out`.
///
/// # Errors
///
/// [`RenderError::Empty`] for a profile without samples; [`RenderError::Write`]
/// when writing fails.
pub fn write_svg<W: Write>(
    profile: &Profile,
    options: &SvgOptions,
    out: W,
) -> Result<(), RenderError> {
    if profile.is_empty() {
        return Err(RenderError::Empty);
    }

    let lines = profile.folded_lines();
    let mut opts = inferno::flamegraph::Options::default();
    opts.title = options
        .title
        .clone()
        .or_else(|| profile.meta.title.clone())
        .unwrap_or_else(|| "Flame Graph".to_string());
    opts.subtitle = options.subtitle.clone();
    opts.count_name = profile.meta.unit.clone();
    opts.deterministic = true;
    opts.hash = true;
    inferno::flamegraph::from_lines(&mut opts, lines.iter().map(String::as_str), out)
        .map_err(RenderError::Write)
}
