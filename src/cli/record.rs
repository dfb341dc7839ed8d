//! `firebox record`: sample a process, a command or containers and write a
//! flame graph.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use firebox_collectors::perf::{self, Recorder, Status, Target};
use firebox_symbolizer::Symbolizer;

use super::containers::{self, DebugArgs, IndexedImage};
use super::output;
use super::summary;
use super::Outcome;
use firebox::render::SvgOptions;

const EXAMPLES: &str = "\
Examples:
  firebox record -- ./my-benchmark --iterations 1000
  firebox record --pid 4242 -d 30s -o api.svg
  firebox record --container api -d 30s -o api.svg
  firebox record --label app=shop --debug-image shop-debug:1.4 --json-summary run.json -o shop.svg
  firebox record -F 199 -d 2m --per-thread -o server.folded --pid 4242";

/// `firebox record` options.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct RecordArgs {
    /// Profile every thread of this running process, and the threads and
    /// processes it starts during the recording.
    #[arg(short, long, value_name = "PID")]
    pub pid: Option<u32>,
    /// Profile every process of this running Docker container, those
    /// started in it during the recording (`docker exec`) included;
    /// repeatable. Stacks are rooted at the container's name.
    #[arg(long = "container", value_name = "NAME|ID", value_parser = super::parse_container)]
    pub containers: Vec<String>,
    /// Profile every running container with this label; repeatable.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    #[command(flatten)]
    pub debug: DebugArgs,
    /// Also write a JSON summary: samples, lost samples, processes, and per
    /// module how many frames got names and from where (`-`: stdout).
    #[arg(long, value_name = "FILE")]
    pub json_summary: Option<PathBuf>,
    /// Samples per second per thread.
    #[arg(short = 'F', long, default_value_t = 99, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub frequency: u64,
    /// How long to record, e.g. 30s, 2m, 500ms [default: 30s for --pid and
    /// containers, until the command exits].
    #[arg(short, long, value_parser = super::parse_duration)]
    pub duration: Option<Duration>,
    /// Where to write the profile; the extension picks the format (.svg,
    /// .folded or .txt, .pprof or .pb.gz, .json for speedscope).
    #[arg(short, long, default_value = "firebox.svg")]
    pub output: PathBuf,
    /// Title of the flame graph [default: the target, duration and sample
    /// count].
    #[arg(long)]
    pub title: Option<String>,
    /// Sample user space only.
    #[arg(long)]
    pub no_kernel: bool,
    /// Put each thread's name as a frame under its process.
    #[arg(long)]
    pub per_thread: bool,
    /// How user stacks are walked: fp (frame pointers only), dwarf (unwind
    /// a copy of the stack with DWARF CFI), auto (frame pointers while every
    /// module keeps them, stack copies from the first that does not).
    #[arg(long, value_enum, default_value_t = CallGraphArg::Auto)]
    pub call_graph: CallGraphArg,
    /// Bytes of user stack copied per sample for unwinding (8 to 65528,
    /// the kernel's limit; `16K` works) [default: 16K; not with fp].
    #[arg(long, value_parser = parse_stack_size, allow_negative_numbers = true)]
    pub stack_size: Option<u32>,
    /// The command to start and profile until it exits.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// `--call-graph` values.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum CallGraphArg {
    /// Frame pointers only.
    Fp,
    /// DWARF CFI unwinding of a stack copy.
    Dwarf,
    /// Full stacks at the lowest cost: frame pointers while every module
    /// keeps them, stack copies once one does not.
    Auto,
}

impl From<CallGraphArg> for perf::CallGraph {
    fn from(arg: CallGraphArg) -> Self {
        match arg {
            CallGraphArg::Fp => perf::CallGraph::Fp,
            CallGraphArg::Dwarf => perf::CallGraph::Dwarf,
            CallGraphArg::Auto => perf::CallGraph::Auto,
        }
    }
}

/// The stack copied per sample when `--stack-size` is not given.
const DEFAULT_STACK_SIZE: u32 = 16 * 1024;

fn parse_stack_size(text: &str) -> Result<u32, String> {
    let (digits, scale) = if let Some(digits) = text.strip_suffix(['k', 'K']) {
        (digits, 1024)
    } else if let Some(digits) = text.strip_suffix(['m', 'M']) {
        (digits, 1024 * 1024)
    } else {
        (text, 1)
    };
    let bytes = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("{text:?} is not a size in bytes (like 16384 or 16K)"))?;
    if !(8..=u64::from(perf::MAX_STACK_SIZE)).contains(&bytes) {
        return Err(format!(
            "{bytes} bytes is out of range: 8 to {}, the most the kernel copies",
            perf::MAX_STACK_SIZE
        ));
    }
    let bytes = bytes as u32;
    if bytes % 8 != 0 {
        return Err(format!("{bytes} bytes is not a multiple of 8, as the kernel needs"));
    }
    Ok(bytes)
}

/// What a recording was of, for titles and messages.
pub struct Described {
    pub target: Target,
    pub label: String,
}

/// What a recording adds to the profile beyond its samples.
#[derive(Default)]
pub struct Extras {
    /// The containers sampled.
    pub containers: Vec<firebox_collectors::containers::Container>,
    /// The images whose debug files were indexed.
    pub images: Vec<IndexedImage>,
    /// Extra directories of debug files.
    pub debug_dirs: Vec<PathBuf>,
    /// Where to write the JSON summary.
    pub json_summary: Option<PathBuf>,
}

pub fn run(args: RecordArgs) -> anyhow::Result<Outcome> {
    if matches!(args.call_graph, CallGraphArg::Fp) && args.stack_size.is_some() {
        bail!(
            "--stack-size sets the stack copied by --call-graph dwarf and auto; \
             --call-graph fp copies none: leave one of them out"
        );
    }
    let config = perf::Config {
        frequency: args.frequency,
        kernel: !args.no_kernel,
        per_thread: args.per_thread,
        call_graph: args.call_graph.into(),
        stack_size: args.stack_size.unwrap_or(DEFAULT_STACK_SIZE),
    };
    if !args.containers.is_empty() || !args.labels.is_empty() {
        if args.pid.is_some() || !args.command.is_empty() {
            bail!("give either containers (--container, --label), --pid or a command, not several");
        }
        let docker = firebox_collectors::containers::Docker::connect()?;
        let selected = containers::select(&docker, &args.containers, &args.labels)?;
        let images = containers::index_images(Some(&docker), &selected, &args.debug)?;
        let described = Described {
            target: containers::target(&selected),
            label: containers::label(&selected),
        };
        let extras = Extras {
            containers: selected,
            images,
            debug_dirs: args.debug.debug_dirs.clone(),
            json_summary: args.json_summary,
        };
        let duration = args.duration.or(Some(Duration::from_secs(30)));
        return record_to(
            &described,
            &config,
            duration,
            &args.output,
            args.title.as_deref(),
            extras,
        );
    }

    let described = match (args.pid, args.command.is_empty()) {
        (Some(_), false) => bail!("give either --pid or a command after --, not both"),
        (Some(pid), true) => Described { target: Target::Pid(pid), label: format!("pid {pid}") },
        (None, false) => Described {
            label: args.command.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" "),
            target: Target::Command(args.command.clone()),
        },
        (None, true) => {
            bail!("nothing to record: give --pid PID, --container NAME or a command after --")
        }
    };
    let duration = args.duration.or(match described.target {
        Target::Command(_) => None,
        _ => Some(Duration::from_secs(30)),
    });
    let images = containers::index_images(None, &[], &args.debug)?;
    let extras = Extras {
        images,
        debug_dirs: args.debug.debug_dirs.clone(),
        json_summary: args.json_summary,
        ..Extras::default()
    };
    record_to(&described, &config, duration, &args.output, args.title.as_deref(), extras)
}

/// Records `described` and writes the profile to `output`; shared with
/// `firebox demo`.
pub fn record_to(
    described: &Described,
    config: &perf::Config,
    duration: Option<Duration>,
    output: &Path,
    title: Option<&str>,
    extras: Extras,
) -> anyhow::Result<Outcome> {
    let format = output::format_of(output)?;
    output::check_writable(output)?;
    if let Some(path) = &extras.json_summary {
        if output::same_file(path, output) {
            anyhow::bail!(
                "the profile and the summary would both go to {}: give --json-summary a path \
                 of its own",
                path.display()
            );
        }
        output::check_writable(path)?;
    }

    let stop = Arc::new(AtomicBool::new(false));
    for signal in
        [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP]
    {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("failed to install the Ctrl-C handler")?;
    }

    let symbolizer =
        Symbolizer::with_config(containers::symbolizer_config(&extras.images, &extras.debug_dirs));
    let mut recorder = Recorder::start_with(&described.target, config, symbolizer)?;
    // The duration counts from when sampling began: attaching to many busy
    // threads can take a while.
    let started = Instant::now();
    // What firebox costs the machine while the target runs: after the
    // events are open and kallsyms is read, before anything is written.
    let cpu_at_start = perf::own_cpu_time();
    let progress = Progress::new();
    let end = loop {
        recorder.wait(Duration::from_millis(100));
        let status = recorder.poll()?;
        progress.update(started.elapsed(), recorder.stats().samples);
        if status != Status::Running {
            break Some(status);
        }
        if stop.load(Ordering::Relaxed) || duration.is_some_and(|d| started.elapsed() >= d) {
            break None;
        }
    };
    let elapsed = started.elapsed();
    let ended = Instant::now();
    tracing::info!(
        cpu_ms = (perf::own_cpu_time().saturating_sub(cpu_at_start)).as_millis() as u64,
        recording_ms = elapsed.as_millis() as u64,
        "CPU firebox used while recording"
    );
    let emptied: Vec<(String, Instant)> =
        recorder.emptied_cgroups().map(|(name, at)| (name.to_string(), at)).collect();
    let recording = recorder.finish();
    tracing::info!(peak_kib = peak_memory_kib(), "peak memory while recording");
    // The rings, unwind tables and symbol caches are gone with the recorder;
    // from here on the peak is what turning the profile into output costs.
    perf::release_free_memory();
    reset_peak_memory();
    let stats = recording.stats.clone();
    progress.finish();

    let mut warnings = Vec::new();
    match end {
        Some(Status::ProcessExited) => warnings.push(format!(
            "{} exited after {:.1} s; writing what was collected",
            described.label,
            elapsed.as_secs_f64()
        )),
        Some(Status::CommandExited(code)) if code != 0 => {
            warnings.push(format!("the command exited with code {code}"))
        }
        _ => {}
    }
    for (name, at) in &emptied {
        warnings.push(format!(
            "container {name} stopped after {:.1} s; writing what was collected",
            at.duration_since(started).as_secs_f64()
        ));
    }
    if stats.lost > 0 {
        warnings
            .push(format!("the kernel dropped {} samples: the ring buffer was full", stats.lost));
    }
    for warning in &warnings {
        tracing::warn!("{warning}");
    }
    // The summary is made now, written after the profile: a summary that
    // cannot be written must not cost the profile.
    let summary = extras.json_summary.as_ref().map(|path| {
        let mut all = warnings.clone();
        all.extend(extras.images.iter().flat_map(|i| i.index.warnings.iter().cloned()));
        (path, summary::build(&recording, &stats, &extras, &described.label, &all))
    });
    let write_summary = || match &summary {
        Some((path, summary)) => summary::write(path, summary),
        None => Ok(()),
    };
    let mut profile = recording.profile;
    if stats.samples == 0 {
        write_summary()?;
        return Ok(Outcome::Nothing(format!(
            "no samples were collected from {} in {:.1} s (did it use any CPU?); no profile written",
            described.label,
            elapsed.as_secs_f64()
        )));
    }

    profile.meta.duration = Some(elapsed);
    profile.meta.title = Some(title.map(str::to_string).unwrap_or_else(|| {
        format!(
            "firebox record: {} ({:.1} s, {} samples)",
            described.label,
            elapsed.as_secs_f64(),
            stats.samples
        )
    }));
    if let Err(err) = output::write(&profile, format, &SvgOptions::default(), output) {
        return Err(match output::rescue(&profile) {
            Some(saved) => err.context(format!(
                "the {} samples were saved as folded stacks to {}",
                stats.samples,
                saved.display()
            )),
            None => err.context(format!(
                "saving the {} samples to {} failed too: they are lost",
                stats.samples,
                std::env::temp_dir().display()
            )),
        });
    }
    write_summary()?;
    tracing::info!(
        ms = ended.elapsed().as_millis() as u64,
        peak_kib = peak_memory_kib(),
        "from the end of the recording to the written output"
    );

    super::note!(
        "firebox: {} samples, {} lost, {} process{}, {} thread{}, {:.1}% of frames symbolized, \
         {:.1}% of stacks whole -> {}",
        stats.samples,
        stats.lost,
        stats.processes,
        if stats.processes == 1 { "" } else { "es" },
        stats.threads,
        if stats.threads == 1 { "" } else { "s" },
        stats.symbolized_share() * 100.0,
        stats.whole_share() * 100.0,
        output.display()
    );
    if let Some(hint) = short_stacks_hint(&stats, config) {
        super::note!("firebox: {hint}");
    }
    Ok(Outcome::Done)
}

/// When most stacks fell short of their thread's entry point, why that may
/// be and what goes further. Stacks cut where the copy ends, or where a
/// frame-pointer walk loses its way, look whole in the graph, but not to
/// the count of those that reached their entry point.
fn short_stacks_hint(stats: &perf::Stats, config: &perf::Config) -> Option<String> {
    if stats.user_stacks == 0 || stats.whole_share() >= 0.9 {
        return None;
    }
    let not_whole = 100.0 - stats.whole_share() * 100.0;
    let short = format!("{not_whole:.0}% of stacks stopped short of their thread's entry point");
    let copied = stats.copied_stacks as f64 / stats.user_stacks as f64;
    let short_count = stats.user_stacks - stats.whole_stacks;
    Some(if stats.guessed_stacks * 2 >= short_count {
        format!(
            "{not_whole:.0}% of stacks are not known to be whole: they pass through code \
             without unwind rules (JIT code, say), where callers are found by frame pointers and \
             one may be missing"
        )
    } else if copied >= 0.5 && stats.beyond_the_copy * 2 >= short_count {
        if config.stack_size < perf::MAX_STACK_SIZE {
            format!(
                "{short}: they go on past the {}-byte stack copy; --stack-size {} goes further",
                config.stack_size,
                perf::MAX_STACK_SIZE
            )
        } else {
            format!(
                "{short}: they go on past the {}-byte stack copy, the most the kernel copies",
                config.stack_size
            )
        }
    } else if copied >= 0.5 {
        format!(
            "{short}: unwinding stopped before the end of the stack copy, where the stack \
             continues elsewhere (a signal's alternate stack, a switch of stacks such as Go's \
             into C) or where unwind rules could not be read"
        )
    } else if config.call_graph == perf::CallGraph::Fp {
        format!(
            "{short}: frame-pointer walks end in code built without frame pointers; \
             --call-graph dwarf or auto unwinds it"
        )
    } else {
        format!(
            "{short}: frame-pointer walks end in code that keeps none though its unwind rules say \
             it does, or has none; --call-graph dwarf unwinds every stack from a copy"
        )
    })
}

/// Resets the kernel's record of this process's peak resident memory
/// (`VmHWM`), so that a later [`peak_memory_kib`] covers only what follows.
fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The peak resident memory of this process in KiB, since the start or the
/// last [`reset_peak_memory`].
fn peak_memory_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A spinner with the elapsed time and the samples so far, on a terminal.
struct Progress(indicatif::ProgressBar);

impl Progress {
    fn new() -> Self {
        let bar = indicatif::ProgressBar::new_spinner();
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{spinner} recording {elapsed_precise} {msg}")
        {
            bar.set_style(style);
        }
        Progress(bar)
    }

    fn update(&self, _elapsed: Duration, samples: u64) {
        self.0.set_message(format!("{samples} samples"));
        self.0.tick();
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}
