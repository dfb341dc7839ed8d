//! `firebox flamegraph`: profile files in, one flame graph SVG out.

use std::path::PathBuf;

use clap::Args;
use firebox::render::SvgOptions;

use super::input::{self, InputArgs};
use super::output;
use super::Outcome;

/// Draw a flame graph from one or more profile files (merged).
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
    firebox flamegraph cpu.pprof -o cpu.svg\n  \
    firebox flamegraph a.folded b.folded -o both.svg\n  \
    perf script | firebox flamegraph - > perf.svg")]
pub struct FlamegraphArgs {
    /// Profile files, in any format firebox reads; `-` is standard input.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// Where to write the SVG; `-` is standard output.
    #[arg(short, long, value_name = "OUTPUT", default_value = "-")]
    output: PathBuf,
    /// The title at the top of the graph.
    #[arg(long)]
    title: Option<String>,
    /// A second line under the title.
    #[arg(long)]
    subtitle: Option<String>,
    #[command(flatten)]
    input: InputArgs,
}

/// Runs `firebox flamegraph`.
pub fn run(args: FlamegraphArgs) -> anyhow::Result<Outcome> {
    let FlamegraphArgs { inputs, output, title, subtitle, input } = args;
    let profile = input::read_merged(&inputs, &input.into_options())?;
    if profile.is_empty() {
        let names: Vec<String> = inputs.iter().map(|p| input::display(p)).collect();
        return Ok(Outcome::Nothing(format!("{} holds no samples", names.join(", "))));
    }

    let svg = SvgOptions { title, subtitle };
    output::write(&profile, firebox::formats::OutputFormat::Svg, &svg, &output)?;
    Ok(Outcome::Done)
}
