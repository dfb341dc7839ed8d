//! Makes a large pprof profile out of a real one, for the pprof reading
//! benchmark (`scripts/bench/pprof-large.sh`).
//!
//! Usage: `inflate_pprof INPUT OUTPUT MEGABYTES`
//!
//! Every sample of INPUT is written as many times as it takes for the
//! uncompressed profile to reach MEGABYTES, each copy with a label
//! `copy=N` of its own, and every 16th copy on its own set of locations
//! (same functions and lines, addresses moved), so the result holds many
//! distinct samples and stacks as a long-running real profile would.

use std::io::Write;

use firebox_collectors::formats::pprof::{self, proto};
use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, input, output, megabytes] = args.as_slice() else {
        return Err("usage: inflate_pprof INPUT OUTPUT MEGABYTES".into());
    };
    let target: u64 = megabytes.parse::<u64>()? << 20;
    let profile = pprof::decode(&std::fs::read(input)?)?;
    if profile.sample.is_empty() {
        return Err("the input profile holds no samples".into());
    }
    // Size a trial run, then make as many copies as the target needs.
    let trial = 256;
    let per_copy = inflate(&profile, trial).encoded_len() as u64 / trial;
    let profile = inflate(&profile, target.div_ceil(per_copy.max(1)));

    let bytes = profile.encode_to_vec();
    eprintln!(
        "{} samples, {} locations, {} bytes uncompressed",
        profile.sample.len(),
        profile.location.len(),
        bytes.len()
    );
    let mut gz =
        flate2::write::GzEncoder::new(std::fs::File::create(output)?, flate2::Compression::fast());
    gz.write_all(&bytes)?;
    gz.finish()?.flush()?;
    Ok(())
}

/// `base` with every sample written `copies` times.
fn inflate(base: &proto::Profile, copies: u64) -> proto::Profile {
    let mut profile = base.clone();
    let key = profile.string_table.len() as i64;
    profile.string_table.push(b"copy".to_vec());
    let locations = profile.location.clone();
    let samples = std::mem::take(&mut profile.sample);
    let max_id = locations.iter().map(|l| l.id).max().unwrap_or(0);
    for set in 1..copies.div_ceil(16).max(1) {
        for location in &locations {
            let mut copy = location.clone();
            copy.id = location.id + set * (max_id + 1);
            copy.address = location.address.wrapping_add(set << 32);
            profile.location.push(copy);
        }
    }
    for copy in 0..copies {
        let shift = (copy / 16) * (max_id + 1);
        for sample in &samples {
            let mut sample = sample.clone();
            for id in &mut sample.location_id {
                *id += shift;
            }
            sample.label.push(proto::Label { key, num: copy as i64, ..Default::default() });
            profile.sample.push(sample);
        }
    }
    profile
}
