//! `firebox demo`: profile a bundled CPU workload and write a flame graph,
//! so a new user sees the whole pipeline with one command.
//!
//! The workload is firebox itself, started again as the hidden
//! `demo-workload` subcommand: it needs no compiler and no other program.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use firebox_collectors::perf::{self, Target};

use super::record::{record_to, Described};
use super::Outcome;

/// `firebox demo` options.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Where to write the flame graph.
    #[arg(short, long, default_value = "firebox-demo.svg")]
    pub output: PathBuf,
    /// How long the workload runs.
    #[arg(short, long, default_value = "5s", value_parser = super::parse_duration)]
    pub duration: Duration,
    /// Sample user space only (what an unprivileged user may do at
    /// kernel.perf_event_paranoid=2).
    #[arg(long)]
    pub no_kernel: bool,
}

/// `firebox demo-workload` options.
#[derive(Args, Debug)]
pub struct WorkloadArgs {
    /// Seconds of CPU work to do.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
}

pub fn run(args: DemoArgs) -> anyhow::Result<Outcome> {
    let exe = std::env::current_exe().context("cannot find the firebox binary to run the demo")?;
    let seconds = args.duration.as_secs_f64();
    super::note!(
        "firebox: profiling the demo workload (checksum three quarters, parse one quarter) \
         for {seconds:.1} s"
    );
    let described = Described {
        target: Target::Command(vec![
            exe.into_os_string(),
            "demo-workload".into(),
            "--seconds".into(),
            seconds.to_string().into(),
        ]),
        label: "firebox demo".to_string(),
    };
    let outcome = record_to(
        &described,
        &perf::Config { kernel: !args.no_kernel, ..perf::Config::default() },
        None,
        &args.output,
        None,
        Default::default(),
    )?;
    if let Outcome::Done = outcome {
        let shown = std::fs::canonicalize(&args.output).unwrap_or(args.output);
        super::note!("firebox: open {} in a browser to see the flame graph", shown.display());
    }
    Ok(outcome)
}

/// Burns CPU for `seconds`: about three quarters in [`checksum`], one quarter
/// in [`parse`], both reached through a few levels of calls.
pub fn workload(args: WorkloadArgs) -> anyhow::Result<Outcome> {
    let deadline = Instant::now() + Duration::from_secs_f64(args.seconds);
    let data: Vec<u8> = (0..64 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    let mut sink = 0u64;
    while Instant::now() < deadline {
        sink = sink.wrapping_add(handle_request(&data));
    }
    black_box(sink);
    Ok(Outcome::Done)
}

#[inline(never)]
fn handle_request(data: &[u8]) -> u64 {
    let mut acc = 0;
    for _ in 0..3 {
        acc ^= checksum(black_box(data));
    }
    acc ^ parse(black_box(data))
}

#[inline(never)]
fn checksum(data: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &b in data {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[inline(never)]
fn parse(data: &[u8]) -> u64 {
    let mut fields = 0u64;
    let mut value = 0u64;
    for &b in data {
        value = value.wrapping_mul(31).wrapping_add(u64::from(b));
        if b % 17 == 0 {
            fields = fields.wrapping_add(value);
            value = 0;
        }
    }
    fields
}
