//! The differential flame graph, drawn by inferno.
//!
//! The graph has the shape of one side (the head unless
//! [`DiffSvgOptions::base_shape`]) and the colour of the change: inferno's
//! differential mode reads two-column folded lines, makes frames as wide as
//! the second column and colours each by its self change, red where it grew,
//! blue where it shrank. The other side is scaled to the drawn side's total
//! first unless [`DiffSvgOptions::normalize`] is off.
//!
//! A classic differential graph cannot tell a new stack from one that grew,
//! and cannot show one that vanished at all. Here:
//!
//! - a stack the other side lacks is given to inferno as a one-column line,
//!   which inferno colours from an ordinary palette instead of the red/blue
//!   scale: green for new (head shape), yellow for gone (base shape); the
//!   topmost such frame is named `name (new)` or `name (gone)`;
//! - stacks the drawn side lacks cannot have width; the subtitle names the
//!   largest of them and says how to see them (draw the other shape).
//!
//! For that to work every frame must be started by the right kind of line
//! (inferno takes a frame's colour from the line that opens it), so the lines
//! are handed over in tree order, a frame's own line first, in inferno's
//! flame-chart mode, which keeps the given order. The lines are reversed
//! before, because flame-chart mode reverses them once more.
//!
//! inferno's `differential` module makes the same two-column lines from
//! folded text; firebox builds them from the [`ProfileDiff`] instead, to keep
//! one-sided stacks apart and to scale with rounding rather than truncation.

use std::collections::HashMap;
use std::io::Write;

use inferno::flamegraph::{self, color::BasicPalette, Palette};

use super::{DiffError, NameId, ProfileDiff, Side};

/// How the differential flame graph looks.
#[derive(Clone, Debug)]
pub struct DiffSvgOptions {
    /// The title at the top.
    pub title: Option<String>,
    /// Scale the other side to the drawn side's total, so the colours show
    /// shifts of share rather than a longer or shorter run.
    pub normalize: bool,
    /// Draw the base's shape (stacks that are gone show; new ones do not).
    pub base_shape: bool,
}

impl Default for DiffSvgOptions {
    fn default() -> Self {
        DiffSvgOptions { title: None, normalize: true, base_shape: false }
    }
}

/// Suffixes inferno reads as a frame kind and hides from the label.
const KIND_SUFFIXES: [&str; 4] = ["_[k]", "_[w]", "_[i]", "_[j]"];

/// How many one-sided stacks the subtitle names before it says "more".
const SUBTITLE_NAMES: usize = 3;

/// Writes the differential flame graph of `diff` to `out`.
///
/// # Errors
///
/// [`DiffError::Write`] when inferno or the writer fails.
pub fn write_diff_svg<W: Write>(
    diff: &ProfileDiff,
    options: &DiffSvgOptions,
    out: W,
) -> Result<(), DiffError> {
    let (shape, other) =
        if options.base_shape { (Side::Base, Side::Head) } else { (Side::Head, Side::Base) };
    let tree = Tree::new(diff, shape);
    let scale =
        if options.normalize { diff.total(shape) as f64 / diff.total(other) as f64 } else { 1.0 };

    let mut lines = Vec::new();
    tree.lines(diff, options.base_shape, scale, &mut lines);
    lines.reverse();

    let mut opts = flamegraph::Options::default();
    opts.title = options.title.clone().unwrap_or_else(|| "Differential flame graph".to_string());
    opts.subtitle = Some(subtitle(diff, &tree, options));
    opts.count_name = diff.meta(shape).unit.clone();
    opts.deterministic = true;
    opts.hash = true;
    opts.flame_chart = true;
    opts.colors =
        Palette::Basic(if options.base_shape { BasicPalette::Yellow } else { BasicPalette::Green });
    // In base shape the second column is the base, so inferno's delta is
    // base minus head; negating keeps red meaning "grew in head".
    opts.negate_differentials = options.base_shape;
    flamegraph::from_lines(&mut opts, lines.iter().map(String::as_str), out)
        .map_err(|e| DiffError::Write("differential flame graph", e))
}

/// The merged stacks as a tree, weights on the drawn side (`shape`) and
/// the other.
struct Tree {
    nodes: Vec<Node>,
}

struct Node {
    name: Option<NameId>,
    self_shape: u64,
    self_other: u64,
    total_shape: u64,
    total_other: u64,
    children: Vec<usize>,
}

impl Tree {
    fn new(diff: &ProfileDiff, shape: Side) -> Tree {
        let root = Node {
            name: None,
            self_shape: 0,
            self_other: 0,
            total_shape: 0,
            total_other: 0,
            children: Vec::new(),
        };
        let mut nodes = vec![root];
        let mut index: HashMap<(usize, NameId), usize> = HashMap::new();
        for stack in diff.stacks() {
            let (on_shape, on_other) = match shape {
                Side::Head => (stack.head, stack.base),
                Side::Base => (stack.base, stack.head),
            };
            let mut at = 0;
            nodes[0].total_shape += on_shape;
            nodes[0].total_other += on_other;
            for &name in &stack.frames {
                let next = nodes.len();
                at = *index.entry((at, name)).or_insert_with(|| {
                    nodes[at].children.push(next);
                    nodes.push(Node {
                        name: Some(name),
                        self_shape: 0,
                        self_other: 0,
                        total_shape: 0,
                        total_other: 0,
                        children: Vec::new(),
                    });
                    next
                });
                nodes[at].total_shape += on_shape;
                nodes[at].total_other += on_other;
            }
            nodes[at].self_shape += on_shape;
            nodes[at].self_other += on_other;
        }

        // The stacks came sorted frame by frame, so children already are in
        // name order.
        Tree { nodes }
    }

    /// Appends the folded lines of the drawn side in tree order.
    fn lines(&self, diff: &ProfileDiff, base_shape: bool, scale: f64, out: &mut Vec<String>) {
        let marker = if base_shape { " (gone)" } else { " (new)" };
        // (node, length of its parent's path in `path`, inside a one-sided
        // subtree)
        let mut todo: Vec<(usize, usize, bool)> =
            self.nodes[0].children.iter().rev().map(|&c| (c, 0, false)).collect();
        let mut path = String::new();
        while let Some((at, parent_len, inside_one_sided)) = todo.pop() {
            let node = &self.nodes[at];
            if node.total_shape == 0 {
                continue;
            }
            path.truncate(parent_len);
            if parent_len > 0 {
                path.push(';');
            }
            let name = node.name.map(|id| diff.name(id)).unwrap_or_default();
            let one_sided = node.total_other == 0;
            if one_sided && !inside_one_sided {
                push_marked(&mut path, name, marker);
            } else {
                path.push_str(name);
            }

            if one_sided {
                // One count: inferno leaves the frame out of the red/blue
                // scale and colours it from the palette.
                if node.self_shape > 0 {
                    out.push(format!("{path} {}", node.self_shape));
                }
            } else {
                // A line, even `0 0`, where a one-sided child would
                // otherwise open the frame without a delta; elsewhere the
                // children open it, and a line per level of a deep stack
                // would cost the square of its depth.
                let other = (node.self_other as f64 * scale).round() as u64;
                let opens_one_sided = node.children.iter().any(|&c| {
                    let child = &self.nodes[c];
                    child.total_other == 0 && child.total_shape > 0
                });
                if other > 0 || node.self_shape > 0 || opens_one_sided {
                    out.push(format!("{path} {other} {}", node.self_shape));
                }
            }

            let len = path.len();
            for &child in node.children.iter().rev() {
                todo.push((child, len, one_sided));
            }
        }
    }
}

/// `name` with `marker` before any kind suffix, so inferno still sees the
/// suffix where it looks for it.
fn push_marked(path: &mut String, name: &str, marker: &str) {
    match KIND_SUFFIXES.iter().find(|s| name.ends_with(*s)) {
        Some(suffix) => {
            path.push_str(&name[..name.len() - suffix.len()]);
            path.push_str(marker);
            path.push_str(suffix);
        }
        None => {
            path.push_str(name);
            path.push_str(marker);
        }
    }
}

/// What the colours mean, and which stacks the drawn shape cannot show.
fn subtitle(diff: &ProfileDiff, tree: &Tree, options: &DiffSvgOptions) -> String {
    let (shape, other, colour, hidden_word, flag) = if options.base_shape {
        (Side::Base, Side::Head, "yellow: gone", "new in head", "without --base-shape")
    } else {
        (Side::Head, Side::Base, "green: new", "gone from head", "with --base-shape")
    };
    let mut text = format!("{shape} shape; red: grew, blue: shrank, {colour}");
    if options.normalize && diff.total(shape) != diff.total(other) {
        let unit = &diff.meta(shape).unit;
        text.push_str(&format!("; {other} scaled to {} {unit}", diff.total(shape)));
    }

    // The topmost frames that only the other side has, largest first.
    let mut hidden: Vec<(u64, &str)> = Vec::new();
    let mut todo = vec![0];
    while let Some(at) = todo.pop() {
        let node = &tree.nodes[at];
        if node.total_shape == 0 {
            let name = node.name.map(|id| diff.name(id)).unwrap_or_default();
            hidden.push((node.total_other, name));
            continue;
        }
        todo.extend(node.children.iter().copied());
    }
    hidden.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    if !hidden.is_empty() {
        let other_total = diff.total(other);
        let named: Vec<String> = hidden
            .iter()
            .take(SUBTITLE_NAMES)
            .map(|(w, name)| format!("{name} ({:.1}%)", *w as f64 * 100.0 / other_total as f64))
            .collect();
        text.push_str(&format!("; {hidden_word}: {}", named.join(", ")));
        if hidden.len() > SUBTITLE_NAMES {
            text.push_str(&format!(" and {} more", hidden.len() - SUBTITLE_NAMES));
        }
        text.push_str(&format!(" (draw {flag} to see)"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::DiffOptions;
    use firebox_model::{Frame, Profile};

    fn profile(lines: &[(&str, u64)]) -> Profile {
        let mut p = Profile::default();
        for (stack, weight) in lines {
            p.add_frames(stack.split(';').map(Frame::native), *weight);
        }
        p
    }

    fn lines(base: &[(&str, u64)], head: &[(&str, u64)], base_shape: bool) -> Vec<String> {
        let diff =
            ProfileDiff::new(&profile(base), &profile(head), &DiffOptions::default()).unwrap();
        let shape = if base_shape { Side::Base } else { Side::Head };
        let mut out = Vec::new();
        Tree::new(&diff, shape).lines(&diff, base_shape, 1.0, &mut out);
        out
    }

    /// A deep chain on both sides gives lines only where weight sits, not
    /// one a level: memory stays linear in the depth.
    #[test]
    fn deep_stacks_give_lines_where_weight_is() {
        let deep: String = (0..5000).map(|i| format!("f{i}")).collect::<Vec<_>>().join(";");
        let out = lines(&[(deep.as_str(), 1)], &[(deep.as_str(), 2)], false);
        assert_eq!(out.len(), 1, "one line for the one stack");
        assert!(out[0].ends_with(" 1 2"));
    }

    #[test]
    fn head_shape_marks_new_and_drops_gone() {
        let base = [("app;main;parse", 50), ("app;main;legacy_path", 30), ("app;main;io", 20)];
        let head = [("app;main;parse", 40), ("app;main;fast_path", 35), ("app;main;io", 25)];
        assert_eq!(
            lines(&base, &head, false),
            [
                "app;main 0 0",
                "app;main;fast_path (new) 35",
                "app;main;io 20 25",
                "app;main;parse 50 40",
            ]
        );
        assert_eq!(
            lines(&base, &head, true),
            [
                "app;main 0 0",
                "app;main;io 25 20",
                "app;main;legacy_path (gone) 30",
                "app;main;parse 40 50",
            ]
        );
    }

    /// Inside a new subtree only the top frame carries the marker, and every
    /// frame gets a one-count line; a frame on both sides whose first child
    /// is new still opens with a two-count line.
    #[test]
    fn new_subtree_is_marked_once() {
        let base = [("m;z", 5)];
        let head = [("m;a;b", 3), ("m;a", 1), ("m;z", 5)];
        assert_eq!(
            lines(&base, &head, false),
            ["m 0 0", "m;a (new) 1", "m;a (new);b 3", "m;z 5 5"]
        );
    }

    #[test]
    fn marker_goes_before_the_kind_suffix() {
        let mut path = String::new();
        push_marked(&mut path, "Worker.run_[j]", " (new)");
        assert_eq!(path, "Worker.run (new)_[j]");
    }
}
