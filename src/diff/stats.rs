//! Telling a change in a function's share from sampling noise.
//!
//! A sampling profiler sees each function in a fraction of its samples. Two
//! runs of the same code give slightly different fractions, so the question
//! for each function is whether base and head fractions differ by more than
//! their sample counts allow. [`two_proportion_z_test`] answers it for one
//! function; [`holm`] corrects the p-values for asking it of many functions
//! at once.
//!
//! Why Holm and not Benjamini–Hochberg: the shares of one run are not
//! independent. They are parts of the same samples (one function's share
//! rising pushes the others down), and a caller's total share contains its
//! callees'. Benjamini–Hochberg's guarantee needs independent or positively
//! dependent tests; Holm's step-down holds under any dependence, so a flagged
//! change stays a family-wise 5 % claim whatever the call graph.
//!
//! The normal tail is written here rather than taken from a statistics crate:
//! it is one function, [`erfc`], and a series plus a continued fraction give
//! it to near machine precision, including the small tails the correction
//! needs.

use std::f64::consts::{FRAC_2_SQRT_PI, SQRT_2};

/// The complementary error function, `1 - erf(x)`, accurate to about 1e-14
/// relative over the whole real line.
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x < 2.0 {
        1.0 - erf_series(x)
    } else {
        erfc_continued_fraction(x)
    }
}

/// erf(x) = 2/√π · Σ (−1)ⁿ x²ⁿ⁺¹ / (n! (2n+1)), summed until the terms stop
/// mattering; for x < 2 the terms stay small enough not to cancel badly.
fn erf_series(x: f64) -> f64 {
    let x2 = x * x;
    let mut power = x; // (−1)ⁿ x²ⁿ⁺¹ / n!
    let mut sum = x;
    for n in 1..200 {
        power *= -x2 / n as f64;
        let term = power / (2 * n + 1) as f64;
        sum += term;
        if term.abs() < 1e-17 * sum.abs() {
            break;
        }
    }
    FRAC_2_SQRT_PI * sum
}

/// erfc(x) = e^(−x²)/√π · 1/(x + ½/(x + 1/(x + (3/2)/(x + …)))), evaluated
/// front to back with the modified Lentz method; it converges fast for x ≥ 2.
fn erfc_continued_fraction(x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let mut f = x;
    let mut c = x;
    let mut d = 0.0;
    for n in 1..500 {
        let a = n as f64 / 2.0;
        d = x + a * d;
        if d == 0.0 {
            d = TINY;
        }
        c = x + a / c;
        if c == 0.0 {
            c = TINY;
        }
        d = 1.0 / d;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (-x * x).exp() * FRAC_2_SQRT_PI / (2.0 * f)
}

/// The two-sided p-value of a standard normal statistic: P(|Z| ≥ |z|).
pub fn two_sided_p(z: f64) -> f64 {
    erfc(z.abs() / SQRT_2)
}

/// The outcome of one test.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ZTest {
    /// The statistic: the difference of the proportions over its pooled
    /// standard error, positive when the second proportion is larger.
    pub z: f64,
    /// Its two-sided p-value.
    pub p_value: f64,
}

/// Tests whether `hits1` of `n1` and `hits2` of `n2` could be the same
/// proportion (pooled two-proportion z-test, two-sided).
///
/// Each sample is taken as an independent draw that lands in the function
/// or not, so a function's count is binomial; that holds for one function
/// at a time even though the functions of one run share their samples.
///
/// Returns `None` when nothing can be tested: an empty side, or a pooled
/// proportion of 0 or 1 (the function is in no sample or in every sample on
/// both sides, so its share cannot have changed).
pub fn two_proportion_z_test(hits1: f64, n1: f64, hits2: f64, n2: f64) -> Option<ZTest> {
    if n1 <= 0.0 || n2 <= 0.0 {
        return None;
    }
    let pooled = (hits1 + hits2) / (n1 + n2);
    let variance = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2);
    if variance.is_nan() || variance <= 0.0 {
        return None;
    }
    let z = (hits2 / n2 - hits1 / n1) / variance.sqrt();
    Some(ZTest { z, p_value: two_sided_p(z) })
}

/// Holm's step-down adjustment: the smallest family-wise error level at
/// which each hypothesis would be rejected, in the order given.
///
/// Sorted ascending, the i-th of m p-values (from 0) is multiplied by m − i,
/// capped at 1, and never allowed below an earlier adjusted value.
pub fn holm(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]).then(a.cmp(&b)));

    let mut adjusted = vec![0.0; m];
    let mut running = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        let scaled = ((m - rank) as f64 * p_values[i]).min(1.0);
        running = running.max(scaled);
        adjusted[i] = running;
    }
    adjusted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64, rel: f64) {
        let err = ((actual - expected) / expected).abs();
        assert!(err < rel, "{actual} is not {expected} (relative error {err:e})");
    }

    /// Reference values of erfc, as glibc's `erfc` prints them.
    #[test]
    fn erfc_matches_known_values() {
        close(erfc(0.0), 1.0, 1e-15);
        close(erfc(0.5), 0.479_500_122_186_953_5, 1e-14);
        close(erfc(1.0), 0.157_299_207_050_285_13, 1e-14);
        close(erfc(1.999), 0.004_698_443_348_629_488, 1e-13);
        close(erfc(2.0), 0.004_677_734_981_047_266, 1e-13);
        close(erfc(3.0), 2.209_049_699_858_544e-5, 1e-13);
        close(erfc(5.0), 1.537_459_794_428_035e-12, 1e-13);
        close(erfc(10.0), 2.088_487_583_762_545e-45, 1e-13);
        close(erfc(-1.0), 1.842_700_792_949_715, 1e-14);
        assert_eq!(erfc(40.0), 0.0);
    }

    /// The series and the continued fraction agree where they hand over.
    #[test]
    fn erfc_is_continuous_at_the_switch() {
        close(erfc(2.0 - 1e-12), erfc(2.0), 1e-10);
    }

    #[test]
    fn two_sided_p_of_familiar_quantiles() {
        close(two_sided_p(1.959_963_984_540_054), 0.05, 1e-12);
        close(two_sided_p(-2.575_829_303_548_901), 0.01, 1e-12);
        close(two_sided_p(3.290_526_731_491_926), 0.001, 1e-11);
        close(two_sided_p(5.0), 5.733_031_437_583_892e-7, 1e-12);
        assert_eq!(two_sided_p(0.0), 1.0);
    }

    /// 45/100 against 60/100: the uncorrected chi-square test of the same
    /// table (R's `prop.test(c(45, 60), c(100, 100), correct = FALSE)`)
    /// reports X² = 4.5113 and p = 0.03367; z² is that X², and the p-value
    /// agrees to all digits with glibc's `erfc(z / √2)`.
    #[test]
    fn z_test_matches_the_chi_square_test() {
        let t = two_proportion_z_test(45.0, 100.0, 60.0, 100.0).unwrap();
        close(t.z * t.z, 4.511_278_195_488_722, 1e-12);
        assert!(t.z > 0.0);
        close(t.p_value, 0.033_672_068_856_345_88, 1e-12);

        let back = two_proportion_z_test(60.0, 100.0, 45.0, 100.0).unwrap();
        assert_eq!(back.z, -t.z);
        assert_eq!(back.p_value, t.p_value);
    }

    #[test]
    fn z_test_has_nothing_to_test_at_zero_or_everything() {
        assert_eq!(two_proportion_z_test(0.0, 100.0, 0.0, 80.0), None);
        assert_eq!(two_proportion_z_test(100.0, 100.0, 80.0, 80.0), None);
        assert_eq!(two_proportion_z_test(1.0, 0.0, 1.0, 10.0), None);
        // Unequal sizes, same share: no evidence of change at all.
        assert_eq!(two_proportion_z_test(20.0, 100.0, 40.0, 200.0).unwrap().p_value, 1.0);
    }

    /// R: `p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm")` is
    /// 0.03 0.06 0.06 0.02.
    #[test]
    fn holm_matches_known_adjustment() {
        let adjusted = holm(&[0.01, 0.04, 0.03, 0.005]);
        let expected = [0.03, 0.06, 0.06, 0.02];
        for (a, e) in adjusted.iter().zip(expected) {
            close(*a, e, 1e-12);
        }
    }

    #[test]
    fn holm_caps_at_one_and_keeps_order() {
        assert_eq!(holm(&[0.5, 0.9, 0.25]), [1.0, 1.0, 0.75]);
        assert_eq!(holm(&[]), Vec::<f64>::new());
        assert_eq!(holm(&[0.02]), [0.02]);
    }
}
