//! The command line: one binary, one module per subcommand.
//!
//! Exit codes: 0 when the command did its job, 1 when it ran but had nothing
//! to show (no samples; a regression found by `diff --fail-on-regression`),
//! 2 on any error.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod containers;
mod convert;
mod demo;
mod diff;
mod flamegraph;
mod input;
mod output;
mod record;
mod summary;

/// What a subcommand ended with, short of an error.
pub enum Outcome {
    /// The job is done.
    Done,
    /// The command ran but has nothing to show, or found what it was asked
    /// to fail on; the message says which.
    Nothing(String),
}

#[derive(Parser)]
#[command(
    name = "firebox",
    version,
    about = "Profile processes and Docker containers; turn samples into flame graphs"
)]
struct Cli {
    /// More log output (-v: info, -vv: debug, -vvv: trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sample a process, a command or Docker containers and write a flame
    /// graph.
    Record(Box<record::RecordArgs>),
    /// Profile a bundled CPU workload for a few seconds and write
    /// firebox-demo.svg.
    Demo(demo::DemoArgs),
    /// Compare a base and a head profile: differential flame graph and a
    /// summary of what changed beyond sampling noise.
    Diff(diff::DiffArgs),
    /// The workload `firebox demo` profiles.
    #[command(hide = true)]
    DemoWorkload(demo::WorkloadArgs),
    /// Draw a flame graph SVG from profile files of any supported format.
    Flamegraph(flamegraph::FlamegraphArgs),
    /// Convert a profile file to folded, SVG, pprof or speedscope.
    Convert(convert::ConvertArgs),
}

/// Runs the command line and maps its result to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    QUIET.store(cli.quiet, std::sync::atomic::Ordering::Relaxed);

    let result = match cli.command {
        Command::Record(args) => record::run(*args),
        Command::Demo(args) => demo::run(args),
        Command::Diff(args) => diff::run(args),
        Command::DemoWorkload(args) => demo::workload(args),
        Command::Flamegraph(args) => flamegraph::run(args),
        Command::Convert(args) => convert::run(args),
    };
    match result {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Nothing(message)) => {
            say(format_args!("firebox: {message}"));
            ExitCode::from(1)
        }
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            say(format_args!("firebox: error: {err:#}"));
            ExitCode::from(2)
        }
    }
}

/// A duration such as `30s`, `2m` or `500ms`, more than zero.
pub(crate) fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| format!("{text:?}: {e}"))?;
    if duration.is_zero() {
        return Err(format!("{text:?} is no time at all: give a duration such as 500ms or 30s"));
    }
    Ok(duration)
}

/// A Docker container's name or id as Docker allows them: a letter or
/// digit, then letters, digits, `_`, `.` or `-` (a leading `/`, as
/// `docker inspect` prints names, is dropped).
pub(crate) fn parse_container(text: &str) -> Result<String, String> {
    let name = text.strip_prefix('/').unwrap_or(text);
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    match name.chars().next() {
        None => Err("a container needs a name or an id (`docker ps` lists them)".to_string()),
        Some(first) if first.is_ascii_alphanumeric() && name.chars().all(allowed) => {
            Ok(name.to_string())
        }
        Some(_) => Err(format!(
            "{text:?} is no container name or id: those are letters, digits, `_`, `.` and `-`"
        )),
    }
}

/// `-q`: only errors reach stderr, no summary lines either.
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Writes one line to stderr. A stderr that cannot be written (a full
/// disk, a closed pipe) must not turn into a panic or cost the output.
pub(crate) fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Prints a line for the user on stderr, unless `-q` asked for errors only.
macro_rules! note {
    ($($arg:tt)*) => {
        if !$crate::cli::QUIET.load(std::sync::atomic::Ordering::Relaxed) {
            $crate::cli::say(format_args!($($arg)*));
        }
    };
}
pub(crate) use note;

/// Logs go to stderr, warnings and errors only unless asked for more.
fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .init();
}

/// A closed stdout (`firebox ... | head`) is not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
