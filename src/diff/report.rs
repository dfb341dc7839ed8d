//! Which functions' shares moved, and which moved by more than noise.
//!
//! A function's *self* share is the fraction of samples that end in it; its
//! *total* share the fraction that hold it anywhere on the stack. Shares, not
//! raw counts, are compared, so a head run that took more samples than the
//! base does not look like a slowdown of everything.
//!
//! Every function with something to test gets one two-proportion z-test per
//! measure on its sample counts, and all those p-values together get Holm's
//! correction (see [`super::stats`] for why that pair). A change is
//! *significant* when its adjusted p-value is below
//! [`ReportOptions::alpha`].
//!
//! # Limitations
//!
//! - The test takes samples as independent draws. Timer samples of a
//!   program whose phases last longer than the sampling interval are
//!   correlated in time, so the noise is larger than the counts say and
//!   some changes get flagged that a longer run would not confirm; runs
//!   of the same benchmark recorded twice are the check.
//! - The normal approximation is rough for functions with a handful of
//!   samples; with the correction over many tests, such functions are
//!   rarely flagged at all.
//! - Holm's correction grows with the number of functions: in a profile
//!   of thousands of functions a change must be larger to be flagged than
//!   in one of ten.
//! - Functions are matched by name. A rename between base and head shows
//!   as one function gone and another new.

use firebox_model::Meta;

use super::stats::{holm, two_proportion_z_test, ZTest};
use super::{DiffError, FunctionDiff, Presence, ProfileDiff, Side};

/// How the report decides.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// The family-wise error rate: the chance, when nothing changed, that
    /// any change at all gets flagged.
    pub alpha: f64,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions { alpha: 0.05 }
    }
}

/// How profile weights turn into the sample counts a test needs.
///
/// A test on shares needs the number of samples behind them, which a
/// profile weighted by time does not state. Two sources give it: the
/// profile's own period (pprof's CPU profiles), or, for folded files, the
/// greatest common divisor of all weights when it is at least
/// [`PERIOD_GCD_MIN`]: perf's collapsers weight each sample by its period
/// (10 101 010 ns for `cpu-clock` at 99 Hz), so every weight is a multiple
/// of it, while true sample counts almost always include small odd numbers.
/// Should every count of a file share a factor too, the divisor overstates
/// the weight of one sample, which only makes the tests more cautious.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Counting {
    /// The weights are sample counts.
    Samples,
    /// Each sample weighs a fixed amount on each side.
    PerSample {
        /// Weight of one base sample.
        base: u64,
        /// Weight of one head sample.
        head: u64,
    },
    /// The weights are something else (bytes, say): shares can be compared
    /// but not tested against sampling noise.
    Untestable,
}

/// The smallest common divisor of all weights that is taken for a sampling
/// period rather than chance.
pub const PERIOD_GCD_MIN: u64 = 1000;

impl Counting {
    /// What the two sides of `diff` weigh, from their metadata and weights.
    ///
    /// # Limitations
    ///
    /// A folded file weighted by a period that varied from sample to sample
    /// (perf's frequency mode on hardware events) has no common divisor, so
    /// its weights are taken as counts and every change looks significant.
    pub fn of(diff: &ProfileDiff) -> Counting {
        // Counts are divided only by a factor both sides share: one side's
        // round numbers alone (1000 and 1000 against 1500 and 500) are
        // counts, not a period, and dividing them would hide a real change.
        let joint = gcd(weights_gcd(diff, Side::Base), weights_gcd(diff, Side::Head));
        let per_sample = |side: Side| -> Option<u64> {
            let meta: &Meta = diff.meta(side);
            let gcd = weights_gcd(diff, side);
            match meta.unit.as_str() {
                "samples" | "sample" | "count" | "counts" => {
                    Some(if joint >= PERIOD_GCD_MIN { joint } else { 1 })
                }
                "nanoseconds" | "ns" => match meta.period_ns {
                    Some(period) if period > 0 => Some(period),
                    _ if gcd >= PERIOD_GCD_MIN => Some(gcd),
                    _ => None,
                },
                _ => None,
            }
        };
        match (per_sample(Side::Base), per_sample(Side::Head)) {
            (Some(1), Some(1)) => Counting::Samples,
            (Some(base), Some(head)) => Counting::PerSample { base, head },
            _ => Counting::Untestable,
        }
    }

    /// The number of samples `weight` stands for on `side`, when the
    /// weights count samples at all.
    pub fn samples(self, weight: u64, side: Side) -> Option<f64> {
        match (self, side) {
            (Counting::Samples, _) => Some(weight as f64),
            (Counting::PerSample { base, .. }, Side::Base) => Some(weight as f64 / base as f64),
            (Counting::PerSample { head, .. }, Side::Head) => Some(weight as f64 / head as f64),
            (Counting::Untestable, _) => None,
        }
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The greatest common divisor of one side's stack weights.
fn weights_gcd(diff: &ProfileDiff, side: Side) -> u64 {
    diff.stacks()
        .iter()
        .map(|s| match side {
            Side::Base => s.base,
            Side::Head => s.head,
        })
        .fold(0, gcd)
}

/// How one measure of one function moved.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// Base weight.
    pub base: u64,
    /// Head weight.
    pub head: u64,
    /// Base weight over the base total, 0 to 1.
    pub base_share: f64,
    /// Head weight over the head total, 0 to 1.
    pub head_share: f64,
    /// The test on the sample counts, when there was one.
    pub test: Option<ZTest>,
    /// The Holm-adjusted p-value, when there was a test.
    pub adjusted_p: Option<f64>,
    /// Whether the change is larger than sampling noise explains.
    pub significant: bool,
}

impl Change {
    /// The change of share in percentage points, head minus base.
    pub fn points(&self) -> f64 {
        (self.head_share - self.base_share) * 100.0
    }
}

/// How one function moved.
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionReport {
    /// The frame name as in folded text.
    pub name: String,
    /// Whether it ran on both sides or on one.
    pub presence: Presence,
    /// Its total (inclusive) share: samples that hold it anywhere.
    pub total: Change,
    /// Its self (exclusive) share: samples that end in it.
    pub exclusive: Change,
}

impl FunctionReport {
    /// The larger of the two changes, in points, by size.
    pub fn largest_change(&self) -> f64 {
        self.total.points().abs().max(self.exclusive.points().abs())
    }

    /// Whether either measure changed by more than noise.
    pub fn is_significant(&self) -> bool {
        self.total.significant || self.exclusive.significant
    }
}

/// Every function's change, largest first.
#[derive(Clone, Debug)]
pub struct Report {
    /// Total base weight.
    pub base_total: u64,
    /// Total head weight.
    pub head_total: u64,
    /// What one unit of weight is (`samples`, `nanoseconds`).
    pub unit: String,
    /// How weights became sample counts for the tests.
    pub counting: Counting,
    /// The family-wise error rate the tests were held to.
    pub alpha: f64,
    /// How many hypotheses the correction covered.
    pub hypotheses: usize,
    /// The functions, by largest change of either share, then by name.
    pub functions: Vec<FunctionReport>,
}

impl Report {
    /// Tests every function of `diff`.
    pub fn new(diff: &ProfileDiff, options: &ReportOptions) -> Report {
        let counting = Counting::of(diff);
        let base_total = diff.total(Side::Base);
        let head_total = diff.total(Side::Head);
        let change = |base: u64, head: u64| {
            let test = match (
                counting.samples(base, Side::Base),
                counting.samples(base_total, Side::Base),
                counting.samples(head, Side::Head),
                counting.samples(head_total, Side::Head),
            ) {
                (Some(x1), Some(n1), Some(x2), Some(n2)) => two_proportion_z_test(x1, n1, x2, n2),
                _ => None,
            };
            Change {
                base,
                head,
                base_share: base as f64 / base_total as f64,
                head_share: head as f64 / head_total as f64,
                test,
                adjusted_p: None,
                significant: false,
            }
        };
        let mut functions: Vec<FunctionReport> = diff
            .functions()
            .into_iter()
            .map(|f: FunctionDiff| FunctionReport {
                presence: f.presence(),
                total: change(f.base_total, f.head_total),
                exclusive: change(f.base_self, f.head_self),
                name: f.name,
            })
            .collect();

        // One family for both measures of all functions: Holm needs no
        // independence between them.
        let p_values: Vec<f64> = functions
            .iter()
            .flat_map(|f| [&f.total, &f.exclusive])
            .filter_map(|c| c.test.map(|t| t.p_value))
            .collect();
        let adjusted = holm(&p_values);
        let mut next = adjusted.iter();
        for f in &mut functions {
            for c in [&mut f.total, &mut f.exclusive] {
                if c.test.is_some() {
                    // One adjusted value was made per test, in this order.
                    let p = *next.next().unwrap_or(&1.0);
                    c.adjusted_p = Some(p);
                    c.significant = p < options.alpha;
                }
            }
        }

        functions.sort_by(|a, b| {
            b.largest_change().total_cmp(&a.largest_change()).then_with(|| a.name.cmp(&b.name))
        });
        Report {
            base_total,
            head_total,
            unit: diff.meta(Side::Base).unit.clone(),
            counting,
            alpha: options.alpha,
            hypotheses: p_values.len(),
            functions,
        }
    }

    /// The functions with a significant change of either share.
    pub fn significant(&self) -> impl Iterator<Item = &FunctionReport> {
        self.functions.iter().filter(|f| f.is_significant())
    }

    /// The functions seen on one side only.
    pub fn one_sided(&self, presence: Presence) -> impl Iterator<Item = &FunctionReport> {
        self.functions.iter().filter(move |f| f.presence == presence)
    }

    /// The functions whose total share grew significantly by more than
    /// `points` percentage points.
    ///
    /// # Errors
    ///
    /// [`DiffError::NotCounts`] when the weights are not sample counts, so
    /// no change can be told from noise.
    pub fn regressions(&self, points: f64) -> Result<Vec<&FunctionReport>, DiffError> {
        if self.counting == Counting::Untestable {
            return Err(DiffError::NotCounts(self.unit.clone()));
        }
        Ok(self
            .functions
            .iter()
            .filter(|f| f.total.significant && f.total.points() > points)
            .collect())
    }

    /// One sentence naming the test, for the summaries.
    pub fn method(&self) -> String {
        match self.counting {
            Counting::Untestable => format!(
                "No significance test: the profiles weigh {}, not sample counts, \
                 so shares are compared but no change is flagged.",
                self.unit
            ),
            _ => format!(
                "Significance: two-sided two-proportion z-test on each function's sample \
                 counts, Holm-corrected over all {} tests (family-wise error rate {}%). \
                 Holm rather than Benjamini-Hochberg because the shares of one run are \
                 dependent: they split the same samples, and a caller's total includes its \
                 callees'.",
                self.hypotheses,
                (self.alpha * 100_000.0).round() / 1000.0
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::DiffOptions;
    use firebox_model::{Frame, Profile};

    fn profile(lines: &[(&str, u64)]) -> Profile {
        let mut p = Profile::default();
        for (stack, weight) in lines {
            p.add_frames(stack.split(';').map(Frame::native), *weight);
        }
        p
    }

    fn report(base: &[(&str, u64)], head: &[(&str, u64)]) -> Report {
        let diff =
            ProfileDiff::new(&profile(base), &profile(head), &DiffOptions::default()).unwrap();
        Report::new(&diff, &ReportOptions::default())
    }

    fn get<'a>(r: &'a Report, name: &str) -> &'a FunctionReport {
        r.functions.iter().find(|f| f.name == name).unwrap()
    }

    /// CASES C16's pair: the new and the gone path are far beyond noise at
    /// 100 samples a side; parse's 10-point fall and io's 5-point rise are
    /// not.
    #[test]
    fn c16_flags_only_the_one_sided_paths() {
        let r = report(
            &[("app;main;parse", 50), ("app;main;legacy_path", 30), ("app;main;io", 20)],
            &[("app;main;parse", 40), ("app;main;fast_path", 35), ("app;main;io", 25)],
        );
        let flagged: Vec<&str> = r.significant().map(|f| f.name.as_str()).collect();
        assert_eq!(flagged, ["fast_path", "legacy_path"]);
        assert_eq!(get(&r, "fast_path").presence, Presence::New);
        assert_eq!(get(&r, "legacy_path").presence, Presence::Gone);
        assert!((get(&r, "parse").total.points() + 10.0).abs() < 1e-9);
        // app and main are in every sample on both sides: nothing to test.
        assert_eq!(get(&r, "main").total.test, None);
        // fast_path, legacy_path, parse, io: total and self each; main self
        // and app self are zero on both sides.
        assert_eq!(r.hypotheses, 8);
    }

    #[test]
    fn ranking_is_by_largest_change_then_name() {
        let r = report(&[("a;x", 10), ("a;y", 10), ("a;z", 80)], &[("a;x", 30), ("a;y", 30)]);
        let names: Vec<&str> = r.functions.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["z", "x", "y", "a"]);
    }

    #[test]
    fn regressions_need_significance_and_size() {
        let r = report(
            &[("m;grow", 200), ("m;shrink", 400), ("m;steady", 400)],
            &[("m;grow", 400), ("m;shrink", 200), ("m;steady", 400)],
        );
        let names = |pts: f64| -> Vec<String> {
            r.regressions(pts).unwrap().iter().map(|f| f.name.clone()).collect()
        };
        assert_eq!(names(2.0), ["grow"]);
        assert_eq!(names(25.0), Vec::<String>::new());
    }

    #[test]
    fn bytes_are_compared_but_not_tested() {
        let mut base = profile(&[("m;a", 1000), ("m;b", 9000)]);
        let mut head = profile(&[("m;a", 9000), ("m;b", 1000)]);
        base.meta.unit = "bytes".into();
        head.meta.unit = "bytes".into();
        let diff = ProfileDiff::new(&base, &head, &DiffOptions::default()).unwrap();
        let r = Report::new(&diff, &ReportOptions::default());
        assert_eq!(r.counting, Counting::Untestable);
        assert_eq!(r.significant().count(), 0);
        assert!((get(&r, "a").total.points() - 80.0).abs() < 1e-9);
        assert!(matches!(r.regressions(1.0), Err(DiffError::NotCounts(u)) if u == "bytes"));
    }

    /// Go CPU profiles weigh nanoseconds at 10 ms a sample: 300 ms is 30
    /// samples, not 300 million.
    #[test]
    fn nanoseconds_with_a_period_count_as_samples() {
        let ms = 1_000_000u64;
        let mut base = profile(&[("m;a", 300 * ms), ("m;b", 700 * ms)]);
        let mut head = profile(&[("m;a", 330 * ms), ("m;b", 670 * ms)]);
        for p in [&mut base, &mut head] {
            p.meta.unit = "nanoseconds".into();
            p.meta.period_ns = Some(10 * ms);
        }
        let diff = ProfileDiff::new(&base, &head, &DiffOptions::default()).unwrap();
        let r = Report::new(&diff, &ReportOptions::default());
        assert_eq!(r.counting, Counting::PerSample { base: 10 * ms, head: 10 * ms });
        // 30 of 100 against 33 of 100 is noise.
        let a = get(&r, "a");
        assert!(!a.total.significant);
        let expected = two_proportion_z_test(30.0, 100.0, 33.0, 100.0).unwrap();
        assert!((a.total.test.unwrap().z - expected.z).abs() < 1e-12);
    }

    /// perf's collapsers weight every sample by its period: 10 101 010 for
    /// cpu-clock at 99 Hz. The common divisor recovers the sample counts.
    #[test]
    fn period_weighted_folded_counts_as_samples() {
        let p = 10_101_010u64;
        let r = report(&[("m;a", 31 * p), ("m;b", 69 * p)], &[("m;a", 33 * p), ("m;b", 67 * p)]);
        assert_eq!(r.counting, Counting::PerSample { base: p, head: p });
        let a = get(&r, "a");
        let expected = two_proportion_z_test(31.0, 100.0, 33.0, 100.0).unwrap();
        assert!((a.total.test.unwrap().z - expected.z).abs() < 1e-12);

        // Small counts that happen to share a divisor stay counts.
        let r = report(&[("m;a", 50), ("m;b", 30)], &[("m;a", 40), ("m;b", 20)]);
        assert_eq!(r.counting, Counting::Samples);
    }

    /// Round counts on one side only are counts: a 25-point rise from 1000
    /// and 1000 to 1500 and 500 samples is flagged, not divided away.
    #[test]
    fn round_counts_on_one_side_stay_counts() {
        let r = report(&[("m;a", 1000), ("m;b", 1000)], &[("m;a", 1500), ("m;b", 500)]);
        assert_eq!(r.counting, Counting::Samples);
        assert!(get(&r, "a").total.significant, "a rose by 25 points over 2000 samples");
    }
}
