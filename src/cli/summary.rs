//! `--json-summary`: what a recording saw and, per module, how many frames
//! got names and from where.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use firebox_collectors::perf::{Recording, Stats};
use firebox_symbolizer::{ModuleFile, Source};
use serde_json::{json, Value};

use super::containers::IndexedImage;
use super::record::Extras;

/// Where a debug file sat, as the summary names it.
fn debug_origin(file: &Path, extras: &Extras, build_id: Option<&[u8]>) -> String {
    for image in &extras.images {
        if file.starts_with(image.cache.dir()) && build_id.is_some_and(|id| image.index.holds(id)) {
            return match image.role {
                "container-image" => "image-layer",
                role => role,
            }
            .to_string();
        }
    }
    if extras.debug_dirs.iter().any(|dir| file.starts_with(dir)) {
        return "debug-dir".to_string();
    }
    let in_root = file.starts_with("/proc")
        && file.components().nth(3).is_some_and(|c| c.as_os_str() == "root");
    match (in_root, extras.containers.is_empty()) {
        (true, false) => "container-root",
        (true, true) => "process-root",
        (false, _) => "debug-file",
    }
    .to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why frames of a module stayed unnamed, in a sentence.
fn unresolved_reason(module: &str, file: Option<&ModuleFile>, extras: &Extras) -> String {
    if module == "[unknown]"
        || module == "[jit]"
        || module.starts_with("[anon")
        || module == "//anon"
    {
        return "addresses in anonymous memory that no perf map (/tmp/perf-PID.map in the \
                process's root) names"
            .to_string();
    }
    let Some(file) = file else {
        return "the binary could not be read through the process's root, /proc/PID/map_files, \
                the image layers or the host (with a matching build-id)"
            .to_string();
    };
    if file.debug_file.is_some() {
        return "addresses outside every symbol of the debug file".to_string();
    }
    let mut places = vec!["the container's root".to_string()];
    if extras.containers.is_empty() {
        places[0] = "the process's root".to_string();
    }
    for image in &extras.images {
        places.push(format!(
            "{} {} ({} debug files)",
            image.role,
            image.name,
            image.index.objects.len()
        ));
    }
    for dir in &extras.debug_dirs {
        places.push(format!("debug dir {}", dir.display()));
    }
    let id = file.build_id.as_deref().map_or_else(|| "(none)".to_string(), hex);
    format!(
        "the binary has no symbols at these addresses (stripped) and no debug file with build-id {id} \
         was found in {}",
        places.join(", ")
    )
}

/// The summary as JSON.
pub fn build(
    recording: &Recording,
    stats: &Stats,
    extras: &Extras,
    label: &str,
    warnings: &[String],
) -> Value {
    let mut modules = Vec::new();
    for (module, sources) in recording.symbols.by_module() {
        let file = recording.module_files.get(module);
        let build_id = file.and_then(|f| f.build_id.as_deref());
        let mut from: BTreeMap<String, u64> = BTreeMap::new();
        for (source, n) in sources {
            let key = match source {
                Source::DebugFile => file.and_then(|f| f.debug_file.as_deref()).map_or_else(
                    || "debug-file".to_string(),
                    |d| debug_origin(d, extras, build_id),
                ),
                other => other.as_str().to_string(),
            };
            *from.entry(key).or_default() += n;
        }
        let frames: u64 = sources.values().sum();
        let unresolved = sources.get(&Source::Unresolved).copied().unwrap_or(0);
        let debug_file = file.and_then(|f| f.debug_file.as_deref()).map(|d| {
            json!({ "path": d.display().to_string(), "origin": debug_origin(d, extras, build_id) })
        });
        modules.push(json!({
            "module": module,
            "build_id": build_id.map(hex),
            "file": file.and_then(|f| f.path.as_deref()).map(|p| p.display().to_string()),
            "frames": frames,
            "symbolized": frames - unresolved,
            "from": from,
            "debug_file": debug_file,
            "unresolved_reason": (unresolved > 0).then(|| unresolved_reason(module, file, extras)),
        }));
    }
    json!({
        "target": label,
        "samples": stats.samples,
        "lost": stats.lost,
        "processes": stats.processes,
        "threads": stats.threads,
        "stacks": {
            "with_user_frames": stats.user_stacks,
            "whole": stats.whole_stacks,
            "whole_share": stats.whole_share(),
            "unwound_from_copies": stats.copied_stacks,
            "through_code_without_rules": stats.guessed_stacks,
            "beyond_the_copy": stats.beyond_the_copy,
            "frame_pointer_walks": stats.frame_pointer_stacks,
            "switched_to_copies_by": stats.switched_by,
            "copies_from_start_because": stats.copies_from_start,
        },
        "containers": extras.containers.iter().map(|c| json!({
            "name": c.name, "id": c.id, "image": c.image, "image_id": c.image_id,
        })).collect::<Vec<_>>(),
        "images": extras.images.iter().map(image_json).collect::<Vec<_>>(),
        "modules": modules,
        "warnings": warnings,
    })
}

fn image_json(image: &IndexedImage) -> Value {
    json!({
        "role": image.role,
        "name": image.name,
        "id": image.index.key,
        "reused": image.index.reused,
        "debug_files": image.index.objects.len(),
        "warnings": image.index.warnings,
    })
}

/// Writes the summary to `path`.
pub fn write(path: &Path, summary: &Value) -> anyhow::Result<()> {
    let text =
        serde_json::to_string_pretty(summary).context("failed to format the summary")? + "\n";
    if path.as_os_str() == "-" {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        return stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
            .context("failed to write the summary to stdout");
    }
    super::output::write_atomically(path, text.as_bytes())
}
