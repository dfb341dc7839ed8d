//! Flags shared by the subcommands that read profile files, and reading
//! (and merging) those files.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use firebox::Profile;
use firebox_collectors::formats::{self, perf_script, pprof, Format, ReadOptions};

/// How input files are read.
#[derive(Args, Debug, Clone)]
pub struct InputArgs {
    /// Read the inputs as this format instead of detecting it: folded,
    /// perf-script, perf-data, pprof, pyspy, speedscope, async-profiler, jfr.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<Format>,
    /// The pprof sample type to use, by name or 0-based index (default: the
    /// one `go tool pprof` shows).
    #[arg(long, value_name = "NAME|INDEX")]
    pub sample_type: Option<pprof::SampleType>,
    /// Put each sample under a root frame for the value of this pprof label.
    #[arg(long, value_name = "LABEL")]
    pub group_by: Option<String>,
    /// What a perf script sample weighs: its period (event count) or one.
    #[arg(long, value_name = "MODE", default_value = "period", value_parser = ["period", "count"])]
    pub weight: String,
    /// Keep perf script samples of every event, not only the first seen.
    #[arg(long)]
    pub all_events: bool,
    /// Keep only perf script samples of this event.
    #[arg(long, value_name = "EVENT", alias = "event-filter", conflicts_with = "all_events")]
    pub event: Option<String>,
    /// Root perf samples at `comm-pid` instead of `comm`.
    #[arg(long)]
    pub pid: bool,
    /// Root perf samples at `comm-pid/tid` instead of `comm`.
    #[arg(long)]
    pub tid: bool,
    /// Keep `+0x` offsets in perf script symbols.
    #[arg(long)]
    pub addrs: bool,
}

impl InputArgs {
    /// The reader settings these flags ask for.
    pub fn into_options(self) -> ReadOptions {
        let mut options = ReadOptions { format: self.format, ..ReadOptions::default() };
        if let Some(sample_type) = self.sample_type {
            options.pprof.sample_type = sample_type;
        }
        options.pprof.group_by = self.group_by;
        options.perf_script.weight = if self.weight == "count" {
            perf_script::Weight::Count
        } else {
            perf_script::Weight::Period
        };
        options.perf_script.all_events = self.all_events;
        options.perf_script.event = self.event;
        options.perf_script.include_pid = self.pid;
        options.perf_script.include_tid = self.tid;
        options.perf_script.keep_offsets = self.addrs;
        options
    }
}

/// The name of an input in messages.
pub fn display(path: &Path) -> String {
    if path == Path::new("-") {
        "stdin".to_string()
    } else {
        path.display().to_string()
    }
}

/// Reads every input and merges them into one profile. Profiles whose
/// weights mean different things (sample type or unit) are not added up.
pub fn read_merged(paths: &[PathBuf], options: &ReadOptions) -> anyhow::Result<Profile> {
    let mut merged: Option<(Profile, String)> = None;
    for path in paths {
        let profile = formats::read_path(path, options)?;
        let name = display(path);
        match &mut merged {
            None => merged = Some((profile, name)),
            Some((all, _)) if profile.is_empty() => {
                tracing::info!(input = %name, "input holds no samples");
                let _ = all;
            }
            Some((all, first)) => {
                if !same_measure(&all.meta, &profile.meta) && !all.is_empty() {
                    bail!(
                        "cannot merge {name} ({}/{}) into {first} ({}/{}): their values \
                         measure different things; pick matching ones with --sample-type or \
                         --weight",
                        profile.meta.sample_type,
                        profile.meta.unit,
                        all.meta.sample_type,
                        all.meta.unit
                    );
                }
                if all.is_empty() {
                    all.meta = profile.meta.clone();
                }
                all.merge(&profile);
            }
        }
    }
    merged.map(|(p, _)| p).context("no input given")
}

/// Whether two profiles' weights can be added: the same unit, and the same
/// sample type, where every name for CPU samples counts as one type (folded
/// text says nothing, perf says `cpu-clock`, Go says `cpu`).
fn same_measure(a: &firebox::Meta, b: &firebox::Meta) -> bool {
    let cpu = |t: &str| matches!(t, "cpu" | "cpu-clock" | "task-clock" | "samples");
    a.unit == b.unit
        && (a.sample_type == b.sample_type || cpu(&a.sample_type) && cpu(&b.sample_type))
}
