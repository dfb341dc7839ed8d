//! What a recording's samples carry to walk user stacks with, per group of
//! events (the target's threads, or one cgroup): `--call-graph auto` walks
//! frame pointers while every module keeps them and turns to stack copies
//! when one does not, or when a stack goes deeper than the kernel walks.

use super::{CallGraph, Recorder, Stacks};

impl Recorder {
    /// Why stacks must be copied from the start: the first file mapped
    /// executable by `pids` without frame pointers (files that cannot be
    /// read do not count against them); `None` when all keep them.
    pub(super) fn needs_copies(&mut self, pids: &[u32]) -> Option<String> {
        for &pid in pids {
            let Some(process) = self.procs.get(pid) else { continue };
            for mapping in process.mappings() {
                if self.unwinder.keeps_frame_pointers(pid, process, mapping) == Some(false) {
                    return Some(format!("{} keeps no frame pointers", mapping.module_name()));
                }
            }
        }
        None
    }

    /// Chooses what the samples of a new group of events for `target`
    /// carry: with `--call-graph auto`, the top of the stack only while
    /// every module keeps frame pointers (`copies`, asked only then, says
    /// why not), with stack copies on standby for the first one that does
    /// not. Returns the group.
    pub(super) fn plan(
        &mut self,
        target: &str,
        copies: impl FnOnce(&mut Self) -> Option<String>,
    ) -> usize {
        let (active, standby) = match self.config.call_graph {
            CallGraph::Fp => (Stacks::FramePointers, None),
            CallGraph::Dwarf => (Stacks::Copy, None),
            CallGraph::Auto => match copies(self) {
                None => {
                    tracing::info!(
                        target,
                        "every module keeps frame pointers: sampling without stack copies"
                    );
                    (Stacks::Top, Some(Stacks::Copy))
                }
                Some(why) => {
                    tracing::info!(target, %why, "no frame pointers: sampling with stack copies");
                    self.stats.copies_from_start.get_or_insert(why);
                    (Stacks::Copy, None)
                }
            },
        };
        self.events.add_group(active, standby)
    }

    /// The group of events that samples `pid`: its cgroup's, or the one
    /// of the target's threads.
    pub(super) fn group_of(&self, pid: u32) -> usize {
        self.pid_cgroup.get(&pid).and_then(|&i| self.cgroups.get(i)).map_or(0, |c| c.group)
    }

    /// Turns `--call-graph auto` to stack copies when `mapping` is of a
    /// file without frame pointers.
    pub(super) fn check_frame_pointers(&mut self, pid: u32, mapping: &firebox_symbolizer::Mapping) {
        let process = self.procs.entry(pid);
        if self.unwinder.keeps_frame_pointers(pid, process, mapping) == Some(false) {
            self.turn_to_copies(pid, mapping.module_name().to_string());
        }
    }

    /// Starts the events with stack copies on standby, for the rest of the
    /// recording; `why` is what called for them.
    pub(super) fn turn_to_copies(&mut self, pid: u32, why: String) {
        match self.events.switch_to(self.group_of(pid), Stacks::Copy) {
            Ok(()) => tracing::info!(pid, %why, "sampling with stack copies from now on"),
            Err(e) => tracing::warn!(
                pid,
                %why,
                "the events with stack copies could not be started ({e}): frame-pointer walks go on"
            ),
        }
        self.stats.switched_by.get_or_insert(why);
    }
}
