//! A [`Report`] written out: markdown for a pull-request comment, JSON for
//! machines, a short plain table for a terminal.
//!
//! All three are functions of the report alone and round every number they
//! print, so the same inputs always give the same bytes.

use std::io::{self, Write};

use serde::Serialize;

use super::report::{Change, Counting, FunctionReport, Report};
use super::{Presence, Side};

/// The first line of every markdown summary, so a CI job can find its own
/// earlier comment and update it instead of adding another.
pub const MARKDOWN_MARKER: &str = "<!-- firebox-diff -->";

/// Rows in the folded-away part of the markdown are capped, so a profile
/// with thousands of functions still fits in one pull-request comment.
const DETAILS_ROWS: usize = 200;

/// Names longer than this are cut, keeping the tables readable.
const NAME_CHARS: usize = 120;

/// How many significant functions the headline names.
const HEADLINE_NAMES: usize = 2;

/// How many functions the markdown lists as new or gone.
const ONE_SIDED_NAMES: usize = 10;

/// What goes into a summary besides the report.
#[derive(Clone, Debug)]
pub struct SummaryOptions {
    /// Rows per table before the rest is folded away (markdown) or left out
    /// (plain text).
    pub top: usize,
    /// Where the differential flame graph can be seen, linked from the
    /// markdown.
    pub svg_url: Option<String>,
}

impl Default for SummaryOptions {
    fn default() -> Self {
        SummaryOptions { top: 10, svg_url: None }
    }
}

/// One line saying what changed.
pub fn headline(report: &Report) -> String {
    headline_with(report, &|name| name.to_string(), &|unit| unit.to_string())
}

/// The headline with names and units written by `name` and `unit`, so
/// markdown can quote them.
fn headline_with(
    report: &Report,
    name: &dyn Fn(&str) -> String,
    unit: &dyn Fn(&str) -> String,
) -> String {
    if report.counting == Counting::Untestable {
        return match report.functions.first() {
            Some(f) => format!(
                "Profile diff: largest change {} (not tested against noise: the profiles weigh {})",
                describe_change(&name(&f.name), pick_measure(f, false)),
                unit(&report.unit)
            ),
            None => "Profile diff: nothing to compare".to_string(),
        };
    }
    let significant: Vec<&FunctionReport> = report.significant().collect();
    if significant.is_empty() {
        return "Profile diff: no change beyond sampling noise".to_string();
    }
    let mut line = format!(
        "Profile diff: {} {} beyond sampling noise: ",
        significant.len(),
        if significant.len() == 1 { "function changed" } else { "functions changed" }
    );
    let listed: Vec<String> = significant
        .iter()
        .take(HEADLINE_NAMES)
        .map(|f| describe_change(&name(&f.name), pick_measure(f, true)))
        .collect();
    line.push_str(&listed.join(", "));
    if significant.len() > HEADLINE_NAMES {
        line.push_str(&format!(" and {} more", significant.len() - HEADLINE_NAMES));
    }
    line
}

/// Which of a function's two changes to name: the larger, among the
/// significant ones when asked.
fn pick_measure(f: &FunctionReport, significant_only: bool) -> (&'static str, &Change) {
    let total = ("total", &f.total);
    let exclusive = ("self", &f.exclusive);
    if significant_only && f.total.significant != f.exclusive.significant {
        return if f.total.significant { total } else { exclusive };
    }
    if f.exclusive.points().abs() > f.total.points().abs() {
        exclusive
    } else {
        total
    }
}

fn describe_change(name: &str, (measure, change): (&str, &Change)) -> String {
    format!(
        "{name} {measure} {} pts ({} → {})",
        points(change.points()),
        percent(change.base_share),
        percent(change.head_share)
    )
}

/// Writes the markdown summary for a pull-request comment.
///
/// # Errors
///
/// Whatever writing to `out` fails with.
pub fn write_markdown<W: Write>(
    report: &Report,
    options: &SummaryOptions,
    mut out: W,
) -> io::Result<()> {
    let mut md = String::new();
    md.push_str(MARKDOWN_MARKER);
    md.push('\n');
    md.push_str(&format!("**{}**\n\n", headline_with(report, &|n| code(n), &escape_markdown)));
    md.push_str(&format!(
        "Base: {}, head: {}.",
        escape_markdown(&side_total(report, Side::Base)),
        escape_markdown(&side_total(report, Side::Head))
    ));
    if let Some(url) = &options.svg_url {
        md.push_str(&format!(" [Differential flame graph]({})", link_target(url)));
    }
    md.push_str("\n\n");

    let by_total = ranked(report, |f| &f.total);
    let by_self = ranked(report, |f| &f.exclusive);
    let top = options.top;
    for (title, rows) in [
        ("Total share (the function anywhere on the stack)", &by_total),
        ("Self share (samples that end in the function)", &by_self),
    ] {
        md.push_str(&format!("{title}, largest changes:\n\n"));
        markdown_table(&mut md, report, rows.iter().take(top));
        md.push('\n');
    }

    for (label, presence, side_share) in [
        ("New in head", Presence::New, true),
        ("Gone from head (in base only)", Presence::Gone, false),
    ] {
        let all: Vec<&FunctionReport> = report.one_sided(presence).collect();
        if all.is_empty() {
            continue;
        }
        let names: Vec<String> = all
            .iter()
            .take(ONE_SIDED_NAMES)
            .map(|f| {
                let share = if side_share { f.total.head_share } else { f.total.base_share };
                format!("{} ({})", code(&f.name), percent(share))
            })
            .collect();
        md.push_str(&format!("{label}: {}", names.join(", ")));
        if all.len() > ONE_SIDED_NAMES {
            md.push_str(&format!(" and {} more", all.len() - ONE_SIDED_NAMES));
        }
        md.push_str(".\n\n");
    }

    let rest = by_total.len().saturating_sub(top) + by_self.len().saturating_sub(top);
    if rest > 0 {
        md.push_str(&format!("<details><summary>{rest} more rows</summary>\n\n"));
        for (title, rows) in [("Total share", &by_total), ("Self share", &by_self)] {
            let more: Vec<&(&FunctionReport, &Change)> = rows.iter().skip(top).collect();
            if more.is_empty() {
                continue;
            }
            md.push_str(&format!("{title}:\n\n"));
            markdown_table(&mut md, report, more.iter().take(DETAILS_ROWS).copied());
            if more.len() > DETAILS_ROWS {
                md.push_str(&format!(
                    "\nand {} more with smaller changes.\n",
                    more.len() - DETAILS_ROWS
                ));
            }
            md.push('\n');
        }
        md.push_str("</details>\n\n");
    }

    md.push_str(&format!("<sub>{}</sub>\n", report.method()));
    out.write_all(md.as_bytes())?;
    out.flush()
}

/// The functions by the size of one measure's change; those with nothing
/// on either side of that measure are left out.
fn ranked<'a>(
    report: &'a Report,
    measure: impl Fn(&'a FunctionReport) -> &'a Change,
) -> Vec<(&'a FunctionReport, &'a Change)> {
    let mut rows: Vec<(&FunctionReport, &Change)> = report
        .functions
        .iter()
        .map(|f| (f, measure(f)))
        .filter(|(_, c)| c.base > 0 || c.head > 0)
        .collect();
    rows.sort_by(|a, b| {
        b.1.points().abs().total_cmp(&a.1.points().abs()).then_with(|| a.0.name.cmp(&b.0.name))
    });
    rows
}

fn markdown_table<'a>(
    md: &mut String,
    report: &Report,
    rows: impl Iterator<Item = &'a (&'a FunctionReport, &'a Change)>,
) {
    md.push_str("| Function | Base | Head | Change | Beyond noise |\n");
    md.push_str("| --- | ---: | ---: | ---: | --- |\n");
    for (f, c) in rows {
        let tag = match f.presence {
            Presence::Both => "",
            Presence::New => " *new*",
            Presence::Gone => " *gone*",
        };
        md.push_str(&format!(
            "| {}{tag} | {} | {} | {} pts | {} |\n",
            code(&f.name),
            percent(c.base_share),
            percent(c.head_share),
            points(c.points()),
            verdict_markdown(report, c)
        ));
    }
}

fn verdict_markdown(report: &Report, c: &Change) -> String {
    match c.adjusted_p {
        None if report.counting == Counting::Untestable => "not tested".to_string(),
        // Nothing to test: in no sample or in every sample on both sides.
        None => "no".to_string(),
        Some(p) if c.significant => {
            let arrow = if c.points() > 0.0 { "▲ rise" } else { "▼ fall" };
            format!("**yes** {arrow} ({})", p_text(p))
        }
        Some(p) => format!("no ({})", p_text(p)),
    }
}

/// Writes the summary as JSON.
///
/// # Errors
///
/// Whatever writing to `out` fails with.
pub fn write_json<W: Write>(
    report: &Report,
    options: &SummaryOptions,
    mut out: W,
) -> io::Result<()> {
    let doc = JsonSummary {
        headline: headline(report),
        base: JsonSide { total: report.base_total, unit: &report.unit },
        head: JsonSide { total: report.head_total, unit: &report.unit },
        test: JsonTest {
            method: report.method(),
            tested: report.counting != Counting::Untestable,
            alpha: report.alpha,
            hypotheses: report.hypotheses,
        },
        svg_url: options.svg_url.as_deref(),
        significant: report.significant().map(|f| f.name.as_str()).collect(),
        functions: report
            .functions
            .iter()
            .map(|f| JsonFunction {
                name: &f.name,
                presence: f.presence.as_str(),
                total: JsonChange::from(&f.total),
                exclusive: JsonChange::from(&f.exclusive),
            })
            .collect(),
    };
    serde_json::to_writer_pretty(&mut out, &doc).map_err(io::Error::other)?;
    out.write_all(b"\n")?;
    out.flush()
}

#[derive(Serialize)]
struct JsonSummary<'a> {
    headline: String,
    base: JsonSide<'a>,
    head: JsonSide<'a>,
    test: JsonTest,
    svg_url: Option<&'a str>,
    significant: Vec<&'a str>,
    functions: Vec<JsonFunction<'a>>,
}

#[derive(Serialize)]
struct JsonSide<'a> {
    total: u64,
    unit: &'a str,
}

#[derive(Serialize)]
struct JsonTest {
    method: String,
    tested: bool,
    alpha: f64,
    hypotheses: usize,
}

#[derive(Serialize)]
struct JsonFunction<'a> {
    name: &'a str,
    presence: &'static str,
    total: JsonChange,
    #[serde(rename = "self")]
    exclusive: JsonChange,
}

#[derive(Serialize)]
struct JsonChange {
    base: u64,
    head: u64,
    base_share: f64,
    head_share: f64,
    change_points: f64,
    z: Option<f64>,
    p_value: Option<f64>,
    adjusted_p_value: Option<f64>,
    significant: bool,
}

impl From<&Change> for JsonChange {
    fn from(c: &Change) -> Self {
        JsonChange {
            base: c.base,
            head: c.head,
            base_share: round(c.base_share, 6),
            head_share: round(c.head_share, 6),
            change_points: round(c.points(), 4),
            z: c.test.map(|t| round(t.z, 4)),
            p_value: c.test.map(|t| significant_digits(t.p_value)),
            adjusted_p_value: c.adjusted_p.map(significant_digits),
            significant: c.significant,
        }
    }
}

/// Writes the short plain table printed after a diff: the top rows of
/// both measures.
///
/// # Errors
///
/// Whatever writing to `out` fails with.
pub fn write_text<W: Write>(
    report: &Report,
    options: &SummaryOptions,
    mut out: W,
) -> io::Result<()> {
    let mut text = String::new();
    text.push_str(&headline(report));
    text.push('\n');
    text.push_str(&format!(
        "base: {}, head: {}\n",
        side_total(report, Side::Base),
        side_total(report, Side::Head)
    ));

    let by_total = ranked(report, |f| &f.total);
    let by_self = ranked(report, |f| &f.exclusive);
    let shown = |rows: &[(&FunctionReport, &Change)]| -> Vec<String> {
        rows.iter().take(options.top).map(|(f, _)| short(&f.name, 48)).collect()
    };
    let width = shown(&by_total)
        .iter()
        .chain(shown(&by_self).iter())
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0)
        .max(12);
    for (title, rows) in [("total share", &by_total), ("self share", &by_self)] {
        text.push_str(&format!("\n{title:<width$}    base    head  change\n", width = width + 2));
        for (f, c) in rows.iter().take(options.top) {
            let tag = match f.presence {
                Presence::Both => "",
                Presence::New => "  new",
                Presence::Gone => "  gone",
            };
            let verdict = match c.adjusted_p {
                Some(_) if c.significant => "  beyond noise",
                _ => "",
            };
            text.push_str(&format!(
                "  {:<width$}  {:>6}  {:>6}  {:>6}{verdict}{tag}\n",
                short(&f.name, 48),
                percent(c.base_share),
                percent(c.head_share),
                points(c.points()),
            ));
        }
    }
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// A side's total weight, as samples where the weights are time.
fn side_total(report: &Report, side: Side) -> String {
    let total = match side {
        Side::Base => report.base_total,
        Side::Head => report.head_total,
    };
    match (report.counting, report.counting.samples(total, side)) {
        (Counting::PerSample { .. }, Some(samples)) => {
            format!("{samples:.0} samples (weight {total} {})", report.unit)
        }
        _ => format!("{total} {}", report.unit),
    }
}

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// Points with a sign, and without the `-0.0` that rounding leaves.
fn points(points: f64) -> String {
    let rounded = (points * 10.0).round() / 10.0;
    if rounded == 0.0 {
        "0.0".to_string()
    } else {
        format!("{rounded:+.1}")
    }
}

fn p_text(p: f64) -> String {
    if p < 1e-4 {
        "p < 0.0001".to_string()
    } else {
        format!("p = {p:.4}")
    }
}

fn round(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    let r = (x * scale).round() / scale;
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

/// Four significant digits: enough to read, few enough that the last bits
/// of a platform's `exp` never show.
fn significant_digits(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    format!("{x:.3e}").parse().unwrap_or(x)
}

/// A name cut to `max` characters, an ellipsis marking the cut.
fn short(name: &str, max: usize) -> String {
    if name.chars().count() <= max {
        return name.to_string();
    }
    let mut cut: String = name.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

/// A URL as a markdown link target: the characters that would end the
/// target or the line are percent-encoded.
fn link_target(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        match c {
            ' ' | '(' | ')' | '<' | '>' | '\n' | '\r' => {
                out.push_str(&format!("%{:02X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// A name as a markdown code span that survives table cells.
fn code(name: &str) -> String {
    let name = short(name, NAME_CHARS).replace('|', "\\|");
    if name.contains('`') {
        format!("`` {name} ``")
    } else {
        format!("`{name}`")
    }
}

/// Text outside code spans: characters markdown or HTML would act on are
/// escaped, so a frame name cannot open a tag or a link.
fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_without_negative_zero() {
        assert_eq!(points(-0.04), "0.0");
        assert_eq!(points(20.15), "+20.2");
        assert_eq!(points(-3.0), "-3.0");
        assert_eq!(percent(0.4026), "40.3%");
        assert_eq!(p_text(0.00001), "p < 0.0001");
        assert_eq!(p_text(0.03367), "p = 0.0337");
        assert_eq!(significant_digits(0.033_672_068_856), 0.03367);
        assert_eq!(round(-0.000_000_1, 6), 0.0);
    }

    #[test]
    fn names_cannot_break_tables_or_markup() {
        assert_eq!(code("a|b"), "`a\\|b`");
        assert_eq!(code("x`y"), "`` x`y ``");
        assert_eq!(escape_markdown("</sub><b>*x*"), "&lt;/sub&gt;&lt;b&gt;\\*x\\*");
        assert_eq!(link_target("https://h/a b)(c"), "https://h/a%20b%29%28c");
        let long = "n".repeat(200);
        assert_eq!(code(&long).chars().count(), NAME_CHARS + 2);
    }
}
