//! `firebox diff`: what changed between a base and a head profile.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use firebox::diff::report::{Report, ReportOptions};
use firebox::diff::summary::{self, SummaryOptions};
use firebox::diff::svg::{self, DiffSvgOptions};
use firebox::diff::{DiffError, DiffOptions, ProfileDiff};

use super::input::{read_merged, InputArgs};
use super::Outcome;

const EXAMPLES: &str = "\
Examples:
  firebox diff base.folded head.folded -o diff.svg
  firebox diff --base run1.pb.gz run2.pb.gz --head run3.pb.gz run4.pb.gz -o diff.svg
  firebox diff base.folded head.folded --summary diff.md --svg-url https://ci.example/diff.svg
  firebox diff base.folded head.folded --fail-on-regression 2

Exit status: 0 when done, 1 when --fail-on-regression found a regression,
2 on an error.";

/// `firebox diff` options.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct DiffArgs {
    /// The base profile, then the head profile, in any format firebox reads.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Base profiles, merged into one (instead of the first FILE).
    #[arg(long, num_args = 1.., value_name = "FILE")]
    pub base: Vec<PathBuf>,
    /// Head profiles, merged into one (instead of the second FILE).
    #[arg(long, num_args = 1.., value_name = "FILE")]
    pub head: Vec<PathBuf>,
    /// Where to write the diff: .svg for the differential flame graph,
    /// .folded or .txt for the two-column folded union (raw counts); `-` is
    /// standard output (SVG).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also write the summary here: .md for a pull-request comment, .json
    /// for machines. May be given more than once.
    #[arg(long, value_name = "FILE")]
    pub summary: Vec<PathBuf>,
    /// Rows per table in the summaries; the markdown folds the rest away.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub top: usize,
    /// A link to the flame graph, put into the markdown summary.
    #[arg(long, value_name = "URL")]
    pub svg_url: Option<String>,
    /// Exit with status 1 when any function's total share grew
    /// significantly by more than PCT percentage points.
    #[arg(long, value_name = "PCT")]
    pub fail_on_regression: Option<f64>,
    /// Colour the flame graph by raw counts instead of scaling the other
    /// side to the drawn side's total.
    #[arg(long)]
    pub no_normalize: bool,
    /// Draw the base's shape, where stacks gone from the head show.
    #[arg(long)]
    pub base_shape: bool,
    /// Match frames that differ only in hex addresses (0x...).
    #[arg(long)]
    pub strip_hex: bool,
    /// The family-wise error rate of the significance tests.
    #[arg(long, default_value_t = 0.05, value_name = "ALPHA")]
    pub alpha: f64,
    /// Title of the flame graph.
    #[arg(long)]
    pub title: Option<String>,
    #[command(flatten)]
    pub input: InputArgs,
}

/// What `-o` writes.
enum DiffOutput {
    Svg,
    Folded,
}

/// What `--summary` writes.
enum SummaryFormat {
    Markdown,
    Json,
}

pub fn run(args: DiffArgs) -> anyhow::Result<Outcome> {
    let (base_paths, head_paths) = inputs(&args)?;
    if !(args.alpha > 0.0 && args.alpha < 1.0) {
        bail!("--alpha must be between 0 and 1, not {}", args.alpha);
    }
    if let Some(pct) = args.fail_on_regression {
        if !(pct >= 0.0 && pct.is_finite()) {
            bail!("--fail-on-regression takes a number of percentage points, 0 or more, not {pct}");
        }
    }
    let output = match args.output.as_deref() {
        Some(path) => Some((path, output_format(path)?)),
        None => None,
    };
    let mut summaries: Vec<(&Path, SummaryFormat)> = Vec::new();
    for path in &args.summary {
        summaries.push((path, summary_format(path)?));
    }
    for path in output.iter().map(|o| o.0).chain(summaries.iter().map(|s| s.0)) {
        if path != Path::new("-") {
            super::output::check_writable(path)?;
        }
    }

    let read = args.input.clone().into_options();
    let base = read_merged(&base_paths, &read).context("cannot read the base profile")?;
    let head = read_merged(&head_paths, &read).context("cannot read the head profile")?;
    let diff = ProfileDiff::new(&base, &head, &DiffOptions { strip_hex: args.strip_hex }).map_err(
        |e| match e {
            DiffError::Empty(side) => {
                let paths =
                    if side == firebox::diff::Side::Base { &base_paths } else { &head_paths };
                anyhow::anyhow!("{e} ({}): record a run that uses some CPU", list(paths))
            }
            e => e.into(),
        },
    )?;
    let report = Report::new(&diff, &ReportOptions { alpha: args.alpha });

    if let Some((path, format)) = output {
        write_to(path, |out| match format {
            DiffOutput::Svg => {
                let options = DiffSvgOptions {
                    title: args.title.clone(),
                    normalize: !args.no_normalize,
                    base_shape: args.base_shape,
                };
                svg::write_diff_svg(&diff, &options, out).map_err(anyhow::Error::from)
            }
            DiffOutput::Folded => {
                for line in diff.two_column_lines() {
                    writeln!(out, "{line}")?;
                }
                Ok(())
            }
        })?;
    }
    let summary_options = SummaryOptions { top: args.top, svg_url: args.svg_url.clone() };
    for (path, format) in &summaries {
        write_to(path, |out| {
            match format {
                SummaryFormat::Markdown => summary::write_markdown(&report, &summary_options, out)?,
                SummaryFormat::Json => summary::write_json(&report, &summary_options, out)?,
            }
            Ok(())
        })?;
    }

    // The table is data, so it goes to stdout, unless the SVG went there.
    let svg_on_stdout = args.output.as_deref() == Some(Path::new("-"));
    if svg_on_stdout {
        summary::write_text(&report, &summary_options, io::stderr().lock())?;
    } else {
        summary::write_text(&report, &summary_options, io::stdout().lock())?;
    }

    let Some(pct) = args.fail_on_regression else {
        return Ok(Outcome::Done);
    };
    let regressions = report.regressions(pct)?;
    if regressions.is_empty() {
        return Ok(Outcome::Done);
    }
    let named: Vec<String> = regressions
        .iter()
        .map(|f| {
            format!(
                "{} {:+.1} points ({:.1}% -> {:.1}%)",
                f.name,
                f.total.points(),
                f.total.base_share * 100.0,
                f.total.head_share * 100.0
            )
        })
        .collect();
    Ok(Outcome::Nothing(format!(
        "regression: total share grew by more than {pct} points beyond sampling noise: {}",
        named.join(", ")
    )))
}

/// The base and head files, from `BASE HEAD` or `--base`/`--head`.
fn inputs(args: &DiffArgs) -> anyhow::Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    match (args.files.as_slice(), args.base.is_empty(), args.head.is_empty()) {
        ([base, head], true, true) => Ok((vec![base.clone()], vec![head.clone()])),
        ([], false, false) => Ok((args.base.clone(), args.head.clone())),
        ([head], false, true) => Ok((args.base.clone(), vec![head.clone()])),
        ([base], true, false) => Ok((vec![base.clone()], args.head.clone())),
        ([], true, true) => {
            bail!("nothing to compare: give BASE HEAD, or --base FILE... --head FILE...")
        }
        _ => bail!(
            "give the base and the head once each: BASE HEAD, or --base FILE... --head FILE..."
        ),
    }
}

fn output_format(path: &Path) -> anyhow::Result<DiffOutput> {
    if path == Path::new("-") {
        return Ok(DiffOutput::Svg);
    }
    match extension(path).as_deref() {
        Some("svg") => Ok(DiffOutput::Svg),
        Some("folded" | "txt" | "collapsed") => Ok(DiffOutput::Folded),
        _ => bail!(
            "cannot tell what to write to {}: use .svg for the flame graph or .folded for \
             the two-column stacks",
            path.display()
        ),
    }
}

fn summary_format(path: &Path) -> anyhow::Result<SummaryFormat> {
    match extension(path).as_deref() {
        Some("md" | "markdown") => Ok(SummaryFormat::Markdown),
        Some("json") => Ok(SummaryFormat::Json),
        _ => bail!(
            "cannot tell the summary format from {}: use .md for markdown or .json",
            path.display()
        ),
    }
}

fn extension(path: &Path) -> Option<String> {
    path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase)
}

fn list(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// Writes through `write` to `path`, or to stdout for `-`.
fn write_to(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    if path == Path::new("-") {
        let mut out = io::stdout().lock();
        write(&mut out)?;
        return out.flush().context("failed to write to stdout");
    }
    let file =
        File::create(path).with_context(|| format!("failed to create {}", path.display()))?;
    let mut out = BufWriter::new(file);
    write(&mut out).with_context(|| format!("failed to write {}", path.display()))?;
    out.flush().with_context(|| format!("failed to write {}", path.display()))
}
