//! `firebox convert`: one profile file in, the same profile in another
//! format out.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use firebox::formats::OutputFormat;
use firebox::render::SvgOptions;

use super::input::{self, InputArgs};
use super::output;
use super::Outcome;

/// Convert a profile file to another format.
#[derive(Args, Debug)]
#[command(after_help = "The output format follows the extension (.svg, .folded or .txt, \
    .pprof or .pb.gz, .json for speedscope) unless --output-format names it.\n\n\
    Examples:\n  \
    firebox convert perf.txt -o perf.pb.gz\n  \
    firebox convert cpu.pprof -o cpu.json\n  \
    firebox convert profile.jfr -o - --output-format folded")]
pub struct ConvertArgs {
    /// The profile file; `-` is standard input.
    #[arg(value_name = "INPUT")]
    input: PathBuf,
    /// Where to write; `-` is standard output.
    #[arg(short, long, value_name = "OUTPUT")]
    output: PathBuf,
    /// The output format: svg, folded, pprof or speedscope.
    #[arg(long, value_name = "FORMAT")]
    output_format: Option<OutputFormat>,
    #[command(flatten)]
    read: InputArgs,
}

/// Runs `firebox convert`.
pub fn run(args: ConvertArgs) -> anyhow::Result<Outcome> {
    let ConvertArgs { input, output, output_format, read } = args;
    let format = match output_format {
        Some(format) => format,
        None if output.as_os_str() == "-" => OutputFormat::Folded,
        None => OutputFormat::from_path(&output).with_context(|| {
            format!(
                "cannot tell the output format from the name {}; give it with --output-format",
                output.display()
            )
        })?,
    };
    let profile = input::read_merged(std::slice::from_ref(&input), &read.into_options())?;
    if profile.is_empty() {
        return Ok(Outcome::Nothing(format!("{} holds no samples", input::display(&input))));
    }

    output::write(&profile, format, &SvgOptions::default(), &output)?;
    Ok(Outcome::Done)
}
