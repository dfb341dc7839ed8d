//! How many addresses were symbolized, per module and per source.

use std::collections::BTreeMap;

use crate::Source;

/// Counts of symbolized addresses: one per call of
/// [`Symbolizer::user`](crate::Symbolizer::user),
/// [`Symbolizer::kernel`](crate::Symbolizer::kernel) or
/// [`Symbolizer::jit`](crate::Symbolizer::jit), whatever number of
/// (inlined) frames it gave.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    by_module: BTreeMap<String, BTreeMap<Source, u64>>,
}

impl Stats {
    /// Counts one address of `module` whose name came from `source`.
    pub fn record(&mut self, module: &str, source: Source) {
        let sources = match self.by_module.get_mut(module) {
            Some(sources) => sources,
            None => self.by_module.entry(module.to_string()).or_default(),
        };
        *sources.entry(source).or_default() += 1;
    }

    /// Counts per module (`libc.so.6`, `[kernel.kallsyms]`, `[jit]`) and
    /// source, sorted.
    pub fn by_module(&self) -> &BTreeMap<String, BTreeMap<Source, u64>> {
        &self.by_module
    }

    /// Counts per source over all modules.
    pub fn by_source(&self) -> BTreeMap<Source, u64> {
        let mut out = BTreeMap::new();
        for (source, n) in self.by_module.values().flatten() {
            *out.entry(*source).or_default() += n;
        }
        out
    }

    /// Every address counted.
    pub fn total(&self) -> u64 {
        self.by_module.values().flatten().map(|(_, n)| n).sum()
    }

    /// The addresses that got a name.
    pub fn symbolized(&self) -> u64 {
        self.by_module.values().flatten().filter(|(s, _)| s.is_resolved()).map(|(_, n)| n).sum()
    }

    /// The share of addresses that got a name, from 0 to 1; none before the
    /// first address.
    pub fn symbolized_share(&self) -> Option<f64> {
        let total = self.total();
        (total > 0).then(|| self.symbolized() as f64 / total as f64)
    }

    /// Adds the counts of `other`.
    pub fn merge(&mut self, other: &Stats) {
        for (module, sources) in &other.by_module {
            let mine = self.by_module.entry(module.clone()).or_default();
            for (source, n) in sources {
                *mine.entry(*source).or_default() += n;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Totals, per-source sums and the share add up from the records.
    #[test]
    fn counts_add_up() {
        let mut stats = Stats::default();
        assert_eq!(stats.symbolized_share(), None);
        stats.record("libc.so.6", Source::Symtab);
        stats.record("libc.so.6", Source::Symtab);
        stats.record("app", Source::Dwarf);
        stats.record("app", Source::Unresolved);
        let mut other = Stats::default();
        other.record("app", Source::Dwarf);
        stats.merge(&other);
        assert_eq!(stats.total(), 5);
        assert_eq!(stats.symbolized(), 4);
        assert_eq!(stats.symbolized_share(), Some(0.8));
        assert_eq!(stats.by_source()[&Source::Dwarf], 2);
        assert_eq!(stats.by_module()["app"][&Source::Unresolved], 1);
    }
}
