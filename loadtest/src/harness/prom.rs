//! Reading the engine's Prometheus text: a gauge summed over its labels, and a histogram's
//! quantiles (interpolated inside its buckets, as Prometheus's `histogram_quantile` does).

/// The sum of every series of `name` (a gauge or counter), 0 if there is none.
pub fn sum(text: &str, name: &str) -> f64 {
    series(text, name).map(|(_, v)| v).sum()
}

/// The sum of the series of `name` whose labels include `label`, e.g. `reason="lines"`.
pub fn sum_where(text: &str, name: &str, label: &str) -> f64 {
    series(text, name)
        .filter(|(labels, _)| labels.split(',').any(|l| l == label))
        .map(|(_, v)| v)
        .sum()
}

/// `(labels, value)` of each series named exactly `name`.
fn series<'a>(text: &'a str, name: &'a str) -> impl Iterator<Item = (&'a str, f64)> + 'a {
    text.lines().filter_map(move |line| {
        let rest = line.strip_prefix(name)?;
        let (labels, value) = if let Some(r) = rest.strip_prefix('{') {
            let (labels, value) = r.split_once('}')?;
            (labels, value)
        } else if rest.starts_with(' ') {
            ("", rest)
        } else {
            return None;
        };
        Some((labels, value.trim().parse().ok()?))
    })
}

/// A histogram's cumulative buckets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// `(upper bound, observations at or below it)`, in increasing order; the last is `+Inf`.
    pub buckets: Vec<(f64, f64)>,
}

impl Histogram {
    /// The buckets of histogram `name` (its series summed over any labels but `le`).
    pub fn parse(text: &str, name: &str) -> Self {
        let bucket = format!("{name}_bucket");
        let mut by_le: Vec<(f64, f64)> = Vec::new();
        for (labels, value) in series(text, &bucket) {
            let Some(le) = labels
                .split(',')
                .find_map(|l| l.strip_prefix("le=\""))
                .and_then(|l| l.strip_suffix('"'))
            else {
                continue;
            };
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                match le.parse() {
                    Ok(v) => v,
                    Err(_) => continue,
                }
            };
            match by_le.iter_mut().find(|(b, _)| *b == le) {
                Some((_, n)) => *n += value,
                None => by_le.push((le, value)),
            }
        }
        by_le.sort_by(|a, b| a.0.total_cmp(&b.0));
        Self { buckets: by_le }
    }

    pub fn count(&self) -> f64 {
        self.buckets.last().map_or(0.0, |b| b.1)
    }

    /// The `q` quantile, interpolated linearly inside its bucket; `None` when empty. A quantile
    /// in the `+Inf` bucket reads as the highest finite bound.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total <= 0.0 {
            return None;
        }
        let rank = q * total;
        let mut prev = (0.0, 0.0);
        for &(le, n) in &self.buckets {
            if n >= rank {
                if le.is_infinite() {
                    return Some(prev.0);
                }
                let inside = n - prev.1;
                let frac = if inside > 0.0 {
                    (rank - prev.1) / inside
                } else {
                    1.0
                };
                return Some(prev.0 + (le - prev.0) * frac);
            }
            prev = (le, n);
        }
        Some(prev.0)
    }

    /// The upper bound of the highest bucket with an observation: the largest is at most this.
    pub fn max_bound(&self) -> Option<f64> {
        let total = self.count();
        if total <= 0.0 {
            return None;
        }
        self.buckets
            .iter()
            .find(|(_, n)| *n >= total)
            .map(|(le, _)| *le)
    }

    /// The share of observations at or below `bound` (a bucket bound).
    pub fn share_at_or_below(&self, bound: f64) -> Option<f64> {
        let total = self.count();
        if total <= 0.0 {
            return None;
        }
        self.buckets
            .iter()
            .rev()
            .find(|(le, _)| *le <= bound)
            .map(|(_, n)| n / total)
    }

    /// Observations since `earlier` (the same histogram read before).
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            buckets: self
                .buckets
                .iter()
                .map(|&(le, n)| {
                    let before = earlier
                        .buckets
                        .iter()
                        .find(|(b, _)| *b == le)
                        .map_or(0.0, |b| b.1);
                    (le, n - before)
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# TYPE dialer_dispatch_lag_seconds histogram
dialer_dispatch_lag_seconds_bucket{le="0.001"} 50
dialer_dispatch_lag_seconds_bucket{le="0.002"} 90
dialer_dispatch_lag_seconds_bucket{le="0.005"} 99
dialer_dispatch_lag_seconds_bucket{le="0.01"} 100
dialer_dispatch_lag_seconds_bucket{le="+Inf"} 100
dialer_dispatch_lag_seconds_sum 0.2
dialer_dispatch_lag_seconds_count 100
dialer_calls_waiting{campaign="1",reason="lines"} 7
dialer_calls_waiting{campaign="2",reason="lines"} 5
dialer_calls_waiting{campaign="2",reason="calling_hours"} 4
dialer_calls_waiting_other 100
"#;

    #[test]
    fn gauges_sum_over_labels_and_names_match_exactly() {
        assert_eq!(sum(TEXT, "dialer_calls_waiting"), 16.0);
        assert_eq!(
            sum_where(TEXT, "dialer_calls_waiting", "reason=\"lines\""),
            12.0
        );
        assert_eq!(sum(TEXT, "dialer_missing"), 0.0);
    }

    #[test]
    fn quantiles_interpolate_inside_buckets() {
        let h = Histogram::parse(TEXT, "dialer_dispatch_lag_seconds");
        assert_eq!(h.count(), 100.0);
        let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-9);
        assert!(close(h.quantile(0.5), 0.001));
        assert!(close(h.quantile(0.7), 0.0015));
        assert!(close(h.quantile(0.99), 0.005));
        assert_eq!(h.max_bound(), Some(0.01));
        assert_eq!(h.share_at_or_below(0.002), Some(0.9));
        let later = Histogram::parse(
            &TEXT.replace("} 100", "} 110"),
            "dialer_dispatch_lag_seconds",
        );
        assert_eq!(later.since(&h).count(), 10.0);
        assert_eq!(Histogram::default().quantile(0.5), None);
    }
}
