//! The statistics verdicts rest on: medians, and a confidence interval for
//! the ratio of two stacks' figures from their rounds.
//!
//! The interval is the exact Mann–Whitney (Wilcoxon rank-sum) interval for a
//! shift of the logarithms, with the Hodges–Lehmann estimate: distribution
//! free, exact for any number of rounds, and honest with few of them. A run
//! is one sample (its requests are not independent of each other), so the
//! rounds are the samples; with too few rounds no interval at the asked
//! confidence exists, and the verdict says so instead of naming a winner.

/// The median of `values` (sorted in place); 0 for none.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// A ratio `a / b` estimated from samples of each, with its interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatioInterval {
    pub ratio: f64,
    /// `None` when the samples are too few for the asked confidence.
    pub bounds: Option<(f64, f64)>,
}

impl RatioInterval {
    /// The interval excludes "no difference" (a ratio of 1).
    pub fn excludes_one(&self) -> bool {
        self.bounds
            .is_some_and(|(low, high)| low > 1.0 || high < 1.0)
    }
}

/// The ratio of `a`'s figures to `b`'s with a two-sided interval at
/// `confidence` (e.g. 0.99), from the rounds of each. Figures must be
/// positive (they are clamped to a tiny positive value).
pub fn ratio_interval(a: &[f64], b: &[f64], confidence: f64) -> RatioInterval {
    let log = |v: f64| v.max(1e-12).ln();
    let mut differences: Vec<f64> = a
        .iter()
        .flat_map(|&x| b.iter().map(move |&y| log(x) - log(y)))
        .collect();
    differences.sort_by(f64::total_cmp);
    let estimate = median(&mut differences.clone()).exp();
    if differences.is_empty() {
        return RatioInterval {
            ratio: f64::NAN,
            bounds: None,
        };
    }
    // The k-th smallest and largest differences bound the shift, where
    // P(U < k) <= alpha/2 under "no difference" (U: the Mann-Whitney count).
    let tail = (1.0 - confidence) / 2.0;
    let cdf = rank_sum_cdf(a.len(), b.len());
    let k = cdf.iter().take_while(|&&p| p <= tail).count();
    let bounds = (k >= 1).then(|| {
        let n = differences.len();
        (differences[k - 1].exp(), differences[n - k].exp())
    });
    RatioInterval {
        ratio: estimate,
        bounds,
    }
}

/// The smallest number of rounds per stack at which two stacks can be told
/// apart at `confidence` at all: when every round of one beats every round
/// of the other.
pub fn rounds_needed(confidence: f64) -> usize {
    (1..=100)
        .find(|&n| rank_sum_cdf(n, n)[0] <= (1.0 - confidence) / 2.0)
        .unwrap_or(100)
}

/// `P(U <= u)` for u = 0..=n*m, where U counts the pairs (x, y) with x < y
/// among n and m exchangeable samples. The counts of U are the coefficients
/// of the Gaussian binomial [n+m choose n](q), built up one sample at a time.
fn rank_sum_cdf(n: usize, m: usize) -> Vec<f64> {
    let size = n * m + 1;
    let mut counts = vec![0.0; size];
    counts[0] = 1.0;
    // [m+i choose i] = [m+i-1 choose i-1] * (1 - q^(m+i)) / (1 - q^i)
    for i in 1..=n {
        let up = m + i;
        for u in (up..size).rev() {
            counts[u] -= counts[u - up];
        }
        for u in i..size {
            counts[u] += counts[u - i];
        }
    }
    let total: f64 = counts.iter().sum();
    let mut running = 0.0;
    counts
        .iter()
        .map(|count| {
            running += count;
            running / total
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rank_sum_distribution_is_exact() {
        // n = m = 3: 20 arrangements; U = 0 and U = 1 once each, U = 2 twice.
        let cdf = rank_sum_cdf(3, 3);
        assert_eq!(cdf.len(), 10);
        assert!((cdf[0] - 1.0 / 20.0).abs() < 1e-12);
        assert!((cdf[1] - 2.0 / 20.0).abs() < 1e-12);
        assert!((cdf[2] - 4.0 / 20.0).abs() < 1e-12);
        assert!((cdf[9] - 1.0).abs() < 1e-12);
        // Symmetric: P(U <= u) = P(U >= nm - u).
        let cdf = rank_sum_cdf(5, 7);
        for u in 0..35 {
            let upper = 1.0 - cdf[34 - u];
            assert!((cdf[u] - upper).abs() < 1e-9, "{u}");
        }
        assert!((rank_sum_cdf(5, 5)[0] - 1.0 / 252.0).abs() < 1e-15);
    }

    #[test]
    fn intervals_need_enough_rounds() {
        assert_eq!(rounds_needed(0.95), 4);
        assert_eq!(rounds_needed(0.99), 5);
        // Three rounds each, fully separated: still no 95% interval.
        let three = ratio_interval(&[200.0, 210.0, 205.0], &[100.0, 101.0, 99.0], 0.95);
        assert!(three.bounds.is_none() && !three.excludes_one());
        assert!((three.ratio - 2.05 / 1.0).abs() < 0.1);
    }

    #[test]
    fn a_clear_difference_is_found_and_noise_is_not() {
        let fast = [120.0, 118.0, 125.0, 121.0, 119.0, 123.0];
        let slow = [100.0, 103.0, 98.0, 101.0, 99.0, 102.0];
        let clear = ratio_interval(&fast, &slow, 0.99);
        let (low, high) = clear.bounds.unwrap();
        assert!(clear.excludes_one() && low > 1.1 && high < 1.3, "{clear:?}");
        let mixed = [101.0, 99.0, 103.0, 98.0, 100.0, 102.0];
        let noise = ratio_interval(&mixed, &slow, 0.99);
        assert!(noise.bounds.is_some() && !noise.excludes_one(), "{noise:?}");
    }
}
