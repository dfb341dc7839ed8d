//! Flame graph SVGs through inferno.
//!
//! Frames are drawn by name: the kind suffixes of folded text are not shown
//! and do not split a node, so `Codec.encode` run by the JIT and by C1 is one
//! box. Each name is coloured by the [`FrameKind`] that carried most of its
//! weight (a hue per kind, see [`kind_color`]), so Java, Python, Go, kernel
//! and native code stand apart in one graph.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use firebox_model::{escape_frame_name, FrameKind, Profile};
use inferno::flamegraph::color::{Color, PaletteMap};

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

/// `text` without the control characters XML cannot carry (they become
/// U+FFFD); inferno escapes the rest.
fn xml_safe(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { '\u{fffd}' } else { c }).collect()
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

    let (lines, mut palette) = lines_by_name(profile);
    let mut opts = inferno::flamegraph::Options::default();
    let title = options.title.as_ref().or(profile.meta.title.as_ref());
    opts.title = title.map_or_else(|| "Flame Graph".to_string(), |t| xml_safe(t));
    opts.subtitle = options.subtitle.as_deref().map(xml_safe);
    opts.count_name = profile.meta.unit.clone();
    opts.deterministic = true;
    opts.hash = true;
    opts.palette_map = Some(&mut palette);
    inferno::flamegraph::from_lines(&mut opts, lines.iter().map(String::as_str), out)
        .map_err(RenderError::Write)
}

/// Folded lines with bare (escaped) names, merged and sorted, and a palette
/// giving every name the colour of its majority kind.
fn lines_by_name(profile: &Profile) -> (Vec<String>, PaletteMap) {
    let names: Vec<String> =
        profile.frames().iter().map(|f| escape_frame_name(&f.name).into_owned()).collect();
    let mut weight_by_kind: HashMap<&str, BTreeMap<FrameKind, u64>> = HashMap::new();
    let mut lines: BTreeMap<String, u64> = BTreeMap::new();
    for (stack, weight) in profile.stacks() {
        let mut line = String::new();
        for (i, &id) in stack.iter().enumerate() {
            if i > 0 {
                line.push(';');
            }
            let name = names[id.0 as usize].as_str();
            line.push_str(name);
            let kind = profile.frame(id).kind;
            let w = weight_by_kind.entry(name).or_default().entry(kind).or_default();
            *w = w.saturating_add(weight);
        }
        let w = lines.entry(line).or_default();
        *w = w.saturating_add(weight);
    }

    let mut palette = PaletteMap::default();
    for (name, kinds) in weight_by_kind {
        // Ties go to the first kind in `FrameKind` order, so colours are
        // stable from run to run.
        let kind = kinds.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(k, _)| *k);
        palette.insert(name, kind_color(kind.unwrap_or_default(), name));
    }
    let lines = lines.into_iter().map(|(line, w)| format!("{line} {w}")).collect();
    (lines, palette)
}

/// The colour of a frame: a hue range per kind, the shade within it picked
/// by a hash of the name so that neighbours differ and reruns agree.
///
/// Native code is red to yellow, kernel orange, JIT-compiled Java green,
/// inlined aqua, interpreted Java yellow, C1-compiled yellow-green, Python
/// blue, Go cyan, synthetic roots (container, process, thread) violet and
/// markers grey.
pub fn kind_color(kind: FrameKind, name: &str) -> Color {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let a = (hash & 0xff) as f32 / 255.0;
    let b = ((hash >> 8) & 0xff) as f32 / 255.0;
    let lerp = |lo: u8, hi: u8, t: f32| (f32::from(lo) + (f32::from(hi) - f32::from(lo)) * t) as u8;
    let (r, g, bl) = match kind {
        FrameKind::Native => (lerp(205, 250, b), lerp(60, 200, a), lerp(20, 60, b)),
        FrameKind::Kernel => (lerp(220, 245, b), lerp(130, 170, a), lerp(30, 60, b)),
        FrameKind::Jit => (lerp(40, 100, b), lerp(180, 225, a), lerp(40, 100, b)),
        FrameKind::Inlined => (lerp(40, 100, b), lerp(190, 220, a), lerp(190, 225, a)),
        FrameKind::Interpreted => (lerp(200, 230, a), lerp(195, 225, a), lerp(40, 80, b)),
        FrameKind::C1 => (lerp(150, 190, a), lerp(190, 220, b), lerp(40, 80, b)),
        FrameKind::Python => (lerp(60, 110, a), lerp(110, 160, b), lerp(200, 240, a)),
        FrameKind::Go => (lerp(30, 70, a), lerp(170, 210, b), lerp(200, 230, a)),
        FrameKind::Container | FrameKind::Process | FrameKind::Thread => {
            (lerp(160, 190, a), lerp(140, 170, b), lerp(200, 225, a))
        }
        FrameKind::Marker => (lerp(160, 190, a), lerp(160, 190, a), lerp(160, 190, a)),
    };
    Color { r, g, b: bl }
}

#[cfg(test)]
mod tests {
    use super::*;
    use firebox_model::Frame;

    #[test]
    fn one_name_is_one_node_coloured_by_majority() {
        let mut p = Profile::default();
        let run = Frame::new("Worker.run", FrameKind::Jit);
        p.add_frames([run.clone(), Frame::new("Codec.encode", FrameKind::Jit)], 4);
        p.add_frames([run, Frame::new("Codec.encode", FrameKind::C1)], 2);
        let (lines, palette) = lines_by_name(&p);
        assert_eq!(lines, ["Worker.run;Codec.encode 6"]);
        assert_eq!(palette.get("Codec.encode"), Some(kind_color(FrameKind::Jit, "Codec.encode")));
    }

    #[test]
    fn kinds_get_distinct_hues() {
        let kernel = kind_color(FrameKind::Kernel, "x");
        let python = kind_color(FrameKind::Python, "x");
        let jit = kind_color(FrameKind::Jit, "x");
        assert!(python.b > python.r && jit.g > jit.r && kernel.r > kernel.b);
    }
}
