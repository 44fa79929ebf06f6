//! The statistics of the regression gate: how much a figure changed from a
//! base build to a head build, from windows measured in pairs.
//!
//! The gate alternates short windows A B B A, so each base window has a head
//! window beside it in time, and the machine's drift (these VMs have slow
//! phases of seconds) hits both alike. The unit is the pair: its log ratio
//! `ln(head / base)`. Over the pairs the change is the Hodges–Lehmann
//! estimate (the median of the Walsh averages) and its interval the exact
//! one that goes with the Wilcoxon signed-rank test (order statistics of the
//! Walsh averages): one method for the estimate, the interval and the test,
//! distribution free and the same run after run.

use super::statistics::median;

/// How one figure changed from base to head.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    /// head / base, estimated.
    pub ratio: f64,
    /// The interval of the ratio at the asked confidence (0 to infinity
    /// when the samples are too few to have one).
    pub low: f64,
    pub high: f64,
    /// Two-sided p-value of "no change"; `None` when no test applies (unpaired
    /// samples, whose interval is exact and carries the test).
    pub p_value: Option<f64>,
    /// The smallest change (as a fraction, 0.05 = 5%) these samples would
    /// detect four times in five at the asked confidence: a tolerance below it
    /// cannot be checked.
    pub detectable: f64,
    pub samples: usize,
}

/// `z` for a power of 80% (one-sided): the usual design power.
const Z_POWER: f64 = 0.841_621_233_572_914_2;

/// The fewest pairs whose exact interval at `confidence` can exclude
/// anything at all: with n pairs the most extreme outcome (every pair moved
/// the same way) has probability 2^-n on each side.
pub fn min_pairs(confidence: f64) -> usize {
    let tail = (1.0 - confidence) / 2.0;
    (1..=64)
        .find(|&n| 0.5f64.powi(n as i32) <= tail)
        .unwrap_or(64)
}

/// The change from paired samples: `base[i]` and `head[i]` were measured side
/// by side. Values must be positive.
pub fn paired_change(base: &[f64], head: &[f64], confidence: f64) -> Change {
    assert_eq!(base.len(), head.len(), "paired samples");
    let logs: Vec<f64> = base
        .iter()
        .zip(head)
        .map(|(b, h)| h.max(1e-12).ln() - b.max(1e-12).ln())
        .collect();
    let n = logs.len();
    let mut walsh = walsh_averages(&logs);
    walsh.sort_by(f64::total_cmp);
    let tail = (1.0 - confidence) / 2.0;
    // The k-th smallest and k-th largest Walsh averages bound the interval,
    // k - 1 being the largest signed-rank sum the test leaves in its tail.
    let (low, high) = match signed_rank_critical(n, tail) {
        Some(c) => (walsh[c].exp(), walsh[walsh.len() - 1 - c].exp()),
        None => (0.0, f64::INFINITY),
    };
    let spread = standard_deviation(&logs) / (n as f64).sqrt();
    Change {
        ratio: median(&mut walsh).exp(),
        low,
        high,
        p_value: Some(signed_rank_p(&logs)),
        detectable: ((normal_quantile(1.0 - tail) + Z_POWER) * spread).exp() - 1.0,
        samples: n,
    }
}

/// The largest signed-rank sum `c` with `P(T <= c) <= tail` for n pairs
/// without ties, or `None` when even `T = 0` is more likely than that.
fn signed_rank_critical(n: usize, tail: f64) -> Option<usize> {
    let total = n * (n + 1) / 2;
    // counts[s]: sign assignments whose positive rank sum is s.
    let mut counts = vec![0.0f64; total + 1];
    counts[0] = 1.0;
    for rank in 1..=n {
        for s in (rank..=total).rev() {
            counts[s] += counts[s - rank];
        }
    }
    let all = 2f64.powi(n as i32);
    let mut below = 0.0;
    let mut critical = None;
    for (s, count) in counts.iter().enumerate() {
        below += count / all;
        if below > tail {
            break;
        }
        critical = Some(s);
    }
    critical
}

/// The change from unpaired samples (a saved baseline against a new run):
/// the exact Mann–Whitney interval of the ratio, as `loadgen compare` uses.
pub fn unpaired_change(base: &[f64], head: &[f64], confidence: f64) -> Change {
    let interval = super::statistics::ratio_interval(head, base, confidence);
    let (low, high) = interval.bounds.unwrap_or((0.0, f64::INFINITY));
    let logs = |values: &[f64]| -> Vec<f64> { values.iter().map(|v| v.max(1e-12).ln()).collect() };
    let (a, b) = (logs(base), logs(head));
    let spread = (standard_deviation(&a).powi(2) / a.len() as f64
        + standard_deviation(&b).powi(2) / b.len() as f64)
        .sqrt();
    let tail = (1.0 - confidence) / 2.0;
    Change {
        ratio: interval.ratio,
        low,
        high,
        p_value: None,
        detectable: ((normal_quantile(1.0 - tail) + Z_POWER) * spread).exp() - 1.0,
        samples: head.len(),
    }
}

/// All averages of two values (each with itself too): their median is the
/// Hodges–Lehmann estimate of a location, their order statistics its exact
/// interval.
fn walsh_averages(values: &[f64]) -> Vec<f64> {
    let mut averages = Vec::with_capacity(values.len() * (values.len() + 1) / 2);
    for (i, a) in values.iter().enumerate() {
        for b in &values[i..] {
            averages.push((a + b) / 2.0);
        }
    }
    averages
}

fn standard_deviation(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    if n < 2.0 {
        return f64::INFINITY;
    }
    let mean = values.iter().sum::<f64>() / n;
    (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
}

/// The exact two-sided p-value of the Wilcoxon signed-rank test that the
/// values are centred on 0. Zeros are dropped; tied magnitudes share their
/// ranks, counted in half ranks so the distribution stays exact.
pub fn signed_rank_p(values: &[f64]) -> f64 {
    let mut magnitudes: Vec<(f64, bool)> = values
        .iter()
        .filter(|v| **v != 0.0)
        .map(|v| (v.abs(), *v > 0.0))
        .collect();
    let n = magnitudes.len();
    if n == 0 {
        return 1.0;
    }
    magnitudes.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Doubled ranks (1-based), averaged over ties: integers.
    let mut ranks = vec![0usize; n];
    let mut start = 0;
    while start < n {
        let mut end = start;
        while end + 1 < n && magnitudes[end + 1].0 == magnitudes[start].0 {
            end += 1;
        }
        for rank in &mut ranks[start..=end] {
            *rank = start + end + 2;
        }
        start = end + 1;
    }
    let positive: usize = ranks
        .iter()
        .zip(&magnitudes)
        .filter(|(_, (_, up))| *up)
        .map(|(rank, _)| rank)
        .sum();
    let total: usize = ranks.iter().sum();
    // counts[s]: sign assignments whose positive doubled-rank sum is s.
    let mut counts = vec![0.0f64; total + 1];
    counts[0] = 1.0;
    for &rank in &ranks {
        for s in (rank..=total).rev() {
            counts[s] += counts[s - rank];
        }
    }
    let all: f64 = counts.iter().sum();
    let lower = positive.min(total - positive);
    let tail: f64 = counts[..=lower].iter().sum::<f64>() / all;
    (2.0 * tail).min(1.0)
}

/// The standard normal quantile (Acklam's rational approximation, relative
/// error under 1.2e-9): enough for sample-size arithmetic.
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        let q = (-2.0 * q.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail(p)
    } else if p > 1.0 - 0.02425 {
        -tail(1.0 - p)
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(
        clippy::approx_constant,
        reason = "3.14 is a measurement of the data set, not pi"
    )]
    fn signed_rank_p_matches_published_values() {
        // All 10 positive: p = 2 / 2^10.
        let up: Vec<f64> = (1..=10).map(f64::from).collect();
        assert!((signed_rank_p(&up) - 2.0 / 1024.0).abs() < 1e-12);
        // R: wilcox.test(c(1.83,0.50,1.62,2.48,1.68,1.88,1.55,3.06,1.30) -
        //   c(0.878,0.647,0.598,2.05,1.06,1.29,1.06,3.14,1.29)) gives p = 0.03906.
        let x = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30];
        let y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29];
        let d: Vec<f64> = x.iter().zip(&y).map(|(a, b)| a - b).collect();
        assert!(
            (signed_rank_p(&d) - 0.039_06).abs() < 1e-4,
            "{}",
            signed_rank_p(&d)
        );
        // Symmetric around 0: nothing to see.
        assert_eq!(signed_rank_p(&[-1.0, 1.0, -2.0, 2.0]), 1.0);
    }

    #[test]
    fn normal_quantile_matches_tables() {
        assert!((normal_quantile(0.975) - 1.959_964).abs() < 1e-6);
        assert!((normal_quantile(0.5)).abs() < 1e-12);
        assert!((normal_quantile(0.01) + 2.326_348).abs() < 1e-6);
    }

    #[test]
    fn a_clear_change_is_found_and_no_change_is_not() {
        let base: Vec<f64> = (0..12).map(|i| 1000.0 + f64::from(i % 3) * 10.0).collect();
        let slower: Vec<f64> = base
            .iter()
            .enumerate()
            .map(|(i, b)| b * (0.85 + if i % 2 == 0 { 0.01 } else { -0.01 }))
            .collect();
        let change = paired_change(&base, &slower, 0.99);
        assert!((change.ratio - 0.85).abs() < 0.011, "{change:?}");
        assert!(change.high < 1.0 && change.low > 0.8, "{change:?}");
        assert!(change.p_value.unwrap() < 0.001);

        let same: Vec<f64> = base
            .iter()
            .enumerate()
            .map(|(i, b)| b * if i % 2 == 0 { 1.01 } else { 1.0 / 1.01 })
            .collect();
        let change = paired_change(&base, &same, 0.99);
        assert!(change.low < 1.0 && change.high > 1.0, "{change:?}");
        assert!(change.p_value.unwrap() > 0.5);
        assert!(change.detectable < 0.05, "{change:?}");
    }

    #[test]
    fn the_interval_is_the_signed_rank_tests() {
        // n = 10, two-sided 95%: the critical sum is 8 (P(T <= 8) = 0.0244),
        // so the 9th smallest and 9th largest of the 55 Walsh averages.
        assert_eq!(signed_rank_critical(10, 0.025), Some(8));
        let logs: Vec<f64> = (1..=10).map(|i| f64::from(i) / 100.0).collect();
        let base = vec![1.0; 10];
        let head: Vec<f64> = logs.iter().map(|l| l.exp()).collect();
        let change = paired_change(&base, &head, 0.95);
        let mut walsh = walsh_averages(&logs);
        walsh.sort_by(f64::total_cmp);
        assert!((change.low.ln() - walsh[8]).abs() < 1e-12, "{change:?}");
        assert!((change.high.ln() - walsh[46]).abs() < 1e-12, "{change:?}");
        // The interval excludes no change exactly when the test rejects it.
        assert!(change.low > 1.0 && change.p_value.unwrap() < 0.05);
        // Too few pairs for any interval at 99%: 2^-7 > 0.005.
        assert_eq!(min_pairs(0.99), 8);
        let seven = paired_change(&base[..7], &head[..7], 0.99);
        assert_eq!((seven.low, seven.high), (0.0, f64::INFINITY));
    }
}
