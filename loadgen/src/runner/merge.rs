//! The records of the shards of one split run (`loadgen run --shard I/N`)
//! made into the record of the whole run, as one generator would have
//! written it: what `loadgen merge` does.
//!
//! Nothing is summarised twice. Every histogram (the total's, each
//! endpoint's, the generator's lateness, and each second of the timeline)
//! is added with HdrHistogram's add, which is exact, and the percentiles
//! are read from the sums; counts are summed. The timeline's seconds line
//! up because every shard counts them from the same shared start. Records
//! that are not the shards of one run (another scenario, load, start or
//! target, a shard twice or one missing) are refused, each named.

use std::collections::BTreeMap;

use anyhow::bail;
use hdrhistogram::Histogram;

use super::{sent, summary, Summary, NEVER_SENT};
use crate::measure::record::{
    self, Generator, Merged, MergedShard, Priority, RunConfig, RunRecord, Second, ShardPlan,
    Validity,
};
use crate::measure::steps::{decode_histogram, encode_histogram, new_histogram, ThreadStats};

/// A shard's record, and where it came from: a file, or a line of a log.
pub struct Part {
    pub origin: String,
    pub record: RunRecord,
}

impl Part {
    fn plan(&self) -> &ShardPlan {
        self.record
            .config
            .shard
            .as_ref()
            .expect("checked by one_run")
    }

    /// `shard 2/4 (origin)`, for messages.
    fn name(&self) -> String {
        format!("shard {} ({})", self.plan().shard, self.origin)
    }
}

/// Merges the records of every shard of one run into the run's record; its
/// thresholds are left for the caller to judge (the shards' plan has them).
pub fn merge(mut parts: Vec<Part>) -> anyhow::Result<RunRecord> {
    one_run(&parts)?;
    parts.sort_by_key(|part| part.plan().shard.index);
    let mut stats: Option<ThreadStats> = None;
    for part in &parts {
        let shard =
            thread_stats(&part.record).map_err(|e| anyhow::anyhow!("{}: {e}", part.name()))?;
        match &mut stats {
            Some(stats) => stats.merge(&shard),
            None => stats = Some(shard),
        }
    }
    let stats = stats.expect("one_run refuses no records");
    let first = &parts[0].record;
    let labels: Vec<&str> = (first.endpoints.iter())
        .map(|endpoint| endpoint.name.as_str())
        .filter(|name| *name != NEVER_SENT)
        .collect();
    let config = RunConfig {
        threads: parts.iter().map(|part| part.record.config.threads).sum(),
        shard: None,
        ..first.config.clone()
    };
    let grace = std::time::Duration::from_secs_f64(first.grace_seconds);
    let Summary {
        total,
        endpoints,
        open_model,
        warnings,
    } = summary(&labels, &stats, &config, first.measured_seconds, grace);
    let start_at = parts[0].plan().start_at;
    Ok(RunRecord {
        header: record::Header {
            // The run's start, not the merge's.
            started_at: start_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ..record::Header::now(record::SCHEMA, &first.header.scenario)
        },
        scenario_file: first.scenario_file.clone(),
        scenario_sha256: first.scenario_sha256.clone(),
        config,
        target: first.target.clone(),
        measured_seconds: first.measured_seconds,
        total,
        endpoints,
        timeline: timeline(&parts)?,
        open_model,
        generator: generator(&parts, warnings),
        validity: Validity::of(parts.iter().flat_map(invalid_because).collect()),
        in_flight_at_end: stats.in_flight_at_end,
        grace_seconds: first.grace_seconds,
        reconnects: stats.reconnects,
        warmup_requests: stats.warmup_requests,
        server_usage: None,
        steal_percent: parts
            .iter()
            .filter_map(|p| p.record.steal_percent)
            .reduce(f64::max),
        thresholds: Vec::new(),
        merged: Some(merged(&parts)),
    })
}

/// What makes records shards of one run: everything but the shard's index
/// and its number of threads (a shard's own business).
#[derive(PartialEq)]
struct RunKey<'a> {
    scenario: (&'a str, &'a str),
    config: RunConfig,
    target: &'a str,
}

impl<'a> RunKey<'a> {
    fn of(record: &'a RunRecord) -> RunKey<'a> {
        let mut config = record.config.clone();
        config.threads = 0;
        if let Some(plan) = &mut config.shard {
            plan.shard.index = 0;
        }
        RunKey {
            scenario: (&record.header.scenario, &record.scenario_sha256),
            config,
            target: &record.target.url,
        }
    }

    /// What differs from `other`, for a message.
    fn difference(&self, other: &RunKey) -> &'static str {
        let (a, b) = (self.config.shard.as_ref(), other.config.shard.as_ref());
        if self.scenario != other.scenario {
            "another scenario (its name or content hash differs)"
        } else if self.target != other.target {
            "another target"
        } else if a.map(|p| p.shard.count) != b.map(|p| p.shard.count) {
            "another number of shards"
        } else if a.map(|p| p.start_at) != b.map(|p| p.start_at) {
            "another start time"
        } else if a.map(|p| &p.thresholds) != b.map(|p| &p.thresholds) {
            "other thresholds"
        } else {
            "another load (model, rate or connections, timing, seed or tolerance)"
        }
    }
}

/// Checks that the parts are every shard of one run, each once, and says
/// every way they are not.
fn one_run(parts: &[Part]) -> anyhow::Result<()> {
    if parts.is_empty() {
        bail!("no shard records to merge: give files, or - to read a log on standard input");
    }
    if let Some(part) = parts.iter().find(|p| p.record.config.shard.is_none()) {
        bail!(
            "{} is not a shard's record: it was not run with --shard I/N (or --shard-count N)",
            part.origin
        );
    }
    // The run is the one most records belong to; the others are foreign.
    let keys: Vec<RunKey> = parts.iter().map(|p| RunKey::of(&p.record)).collect();
    let majority = (0..parts.len())
        .max_by_key(|&i| {
            (
                keys.iter().filter(|k| **k == keys[i]).count(),
                usize::MAX - i,
            )
        })
        .expect("not empty");
    let mut problems = Vec::new();
    for (part, key) in parts.iter().zip(&keys) {
        if *key != keys[majority] {
            problems.push(format!(
                "{} is not of the same run as {}: {}",
                part.name(),
                parts[majority].name(),
                key.difference(&keys[majority])
            ));
        }
    }
    let count = parts[majority].plan().shard.count;
    let mut seen: BTreeMap<u32, &Part> = BTreeMap::new();
    for (part, key) in parts.iter().zip(&keys) {
        let index = part.plan().shard.index;
        if *key != keys[majority] {
            continue;
        }
        if let Some(earlier) = seen.insert(index, part) {
            problems.push(format!(
                "shard {index}/{count} is there twice: {} and {}",
                earlier.origin, part.origin
            ));
        }
    }
    let missing: Vec<String> = (0..count)
        .filter(|index| !seen.contains_key(index))
        .map(|index| format!("{index}/{count}"))
        .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "missing: shard {} (the run needs every shard's record)",
            missing.join(", ")
        ));
    }
    if !problems.is_empty() {
        bail!(
            "these records do not make one run:\n  {}",
            problems.join("\n  ")
        );
    }
    Ok(())
}

/// A shard's statistics back from its record: each step's histograms,
/// errors and statuses, the generator's lateness and the counts.
fn thread_stats(record: &RunRecord) -> Result<ThreadStats, String> {
    let mut stats = ThreadStats::new(0);
    for endpoint in &record.endpoints {
        let step = endpoint.figures.stats()?;
        if step.latency.sigfig() != new_histogram().sigfig() {
            return Err(format!(
                "its histograms keep {} significant digits, this loadgen's {}",
                step.latency.sigfig(),
                new_histogram().sigfig()
            ));
        }
        match endpoint.name.as_str() {
            NEVER_SENT => stats.never_sent = step,
            _ => stats.steps.push(step),
        }
    }
    if let Some(open) = &record.open_model {
        let older = |e: String| format!("{e} (a record from an older loadgen cannot be merged)");
        stats.lateness = decode_histogram(&open.lateness_histogram).map_err(older)?;
        stats.own_lateness = decode_histogram(&open.own_lateness_histogram).map_err(older)?;
    }
    stats.in_flight_at_end = record.in_flight_at_end;
    stats.reconnects = record.reconnects;
    stats.warmup_requests = record.warmup_requests;
    Ok(stats)
}

/// The shards' timelines added second by second.
fn timeline(parts: &[Part]) -> anyhow::Result<Vec<Second>> {
    let mut seconds: BTreeMap<u64, (Second, Histogram<u64>)> = BTreeMap::new();
    for part in parts {
        for second in &part.record.timeline {
            let histogram = decode_histogram(&second.latency_histogram)
                .map_err(|e| anyhow::anyhow!("{}: second {}: {e}", part.name(), second.second))?;
            match seconds.get_mut(&second.second) {
                None => {
                    seconds.insert(second.second, (second.clone(), histogram));
                }
                Some((sum, sum_histogram)) => {
                    sum.successes += second.successes;
                    sum.completed += second.completed;
                    sum.errors += second.errors;
                    sum.in_flight += second.in_flight;
                    sum_histogram.add(&histogram).map_err(|e| {
                        anyhow::anyhow!("{}: second {}: {e:?}", part.name(), second.second)
                    })?;
                }
            }
        }
    }
    Ok(seconds
        .into_values()
        .map(|(second, histogram)| Second {
            p50_us: histogram.value_at_quantile(0.5),
            p99_us: histogram.value_at_quantile(0.99),
            latency_histogram: encode_histogram(&histogram),
            ..second
        })
        .collect())
}

/// The generators together: every thread's CPU, their cost per request
/// sent, the lowest priority any had, the latest start.
fn generator(parts: &[Part], warnings: Vec<String>) -> Generator {
    let records = || parts.iter().map(|part| &part.record);
    let sent_by = |record: &RunRecord| {
        let unsent = record.open_model.as_ref().map_or(0, |open| open.unsent);
        sent(record.total.requests, unsent, record.warmup_requests) as f64
    };
    let cpu_us: f64 = records()
        .map(|r| r.generator.cpu_us_per_request * sent_by(r))
        .sum();
    Generator {
        thread_cpu_percent: records()
            .flat_map(|r| r.generator.thread_cpu_percent.iter().copied())
            .collect(),
        cpu_us_per_request: cpu_us / records().map(sent_by).sum::<f64>(),
        priority: records()
            .map(|r| r.generator.priority)
            .fold(Priority::Realtime, Priority::lower),
        start_lag_us: records()
            .map(|r| r.generator.start_lag_us)
            .max()
            .unwrap_or(0),
        warnings,
    }
}

/// Why a shard's part of the run is not the server's, if it is not.
fn invalid_because(part: &Part) -> Vec<String> {
    (part.record.validity.reasons.iter())
        .map(|reason| format!("{}: {reason}", part.name()))
        .collect()
}

/// Each shard as the merged record lists it, and the start skew.
fn merged(parts: &[Part]) -> Merged {
    let lags = parts.iter().map(|part| part.record.generator.start_lag_us);
    Merged {
        start_at: parts[0].plan().start_at,
        start_skew_us: lags.clone().max().unwrap_or(0) - lags.min().unwrap_or(0),
        shards: parts
            .iter()
            .map(|part| MergedShard {
                index: part.plan().shard.index,
                origin: part.origin.clone(),
                hostname: part.record.header.machine.hostname.clone(),
                start_lag_us: part.record.generator.start_lag_us,
                requests: part.record.total.requests,
                validity: part.record.validity.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::record::{GeneratorTolerance, Identity};
    use crate::measure::steps::{new_second_histogram, ErrorKind};
    use crate::scenario::{Arrivals, Load, Model, Shard};
    use std::time::Duration;

    /// A request: its step (0 or 1; 2 for one never sent), the second it
    /// ended in, its latency (µs) and its status (anything but 200 is an
    /// error, and a reconnect).
    type Request = (usize, u64, u64, u16);

    const SECONDS: f64 = 4.0;

    /// The record a shard would write of `requests`.
    fn record_of(shard: Shard, requests: &[Request]) -> RunRecord {
        let mut stats = ThreadStats::new(2);
        let mut seconds: BTreeMap<u64, (u64, u64, Histogram<u64>)> = BTreeMap::new();
        for &(step, second, latency, status) in requests {
            let failed = status != 200 || step == 2;
            if step == 2 {
                stats
                    .never_sent
                    .record_failure(latency, ErrorKind::Unanswered);
            } else {
                stats.steps[step].record_response(latency, latency / 2, status);
                stats.lateness.record(latency / 3 + 1).unwrap();
                stats.own_lateness.record(latency / 7 + 1).unwrap();
                if failed {
                    stats.steps[step].record_error(ErrorKind::Status);
                    stats.reconnects += 1;
                }
            }
            stats.warmup_requests += u64::from(second == 1);
            stats.in_flight_at_end += u64::from(second == 4);
            let (count, errors, histogram) =
                seconds
                    .entry(second)
                    .or_insert((0, 0, new_second_histogram()));
            *count += 1;
            *errors += u64::from(failed);
            histogram.record(latency).unwrap();
        }
        let load = Load {
            model: Model::Open {
                rate: 100.0,
                max_inflight: 8,
                arrivals: Arrivals::Uniform,
            },
            duration: Duration::from_secs(SECONDS as u64),
            warmup: Duration::ZERO,
            timeout: Duration::from_secs(1),
            stages: None,
        };
        let mut config = super::super::config_of(&load, 1, 7, false, GeneratorTolerance::default());
        config.shard = Some(ShardPlan {
            shard,
            start_at: "2026-12-01T12:00:30Z".parse().unwrap(),
            thresholds: vec!["p99 < 20ms".into()],
        });
        let Summary {
            total,
            endpoints,
            open_model,
            warnings,
        } = summary(
            &["a", "b"],
            &stats,
            &config,
            SECONDS,
            Duration::from_secs(1),
        );
        RunRecord {
            header: record::Header::now(record::SCHEMA, "test"),
            scenario_file: "test.toml".into(),
            scenario_sha256: "0123".into(),
            config,
            target: Identity {
                server: "external".into(),
                driver: None,
                version: None,
                url: "http://127.0.0.1:1".into(),
            },
            measured_seconds: SECONDS,
            total,
            endpoints,
            timeline: (seconds.into_iter())
                .map(|(second, (count, errors, histogram))| Second {
                    second,
                    warmup: second == 1,
                    successes: count - errors,
                    completed: count,
                    errors,
                    in_flight: errors,
                    p50_us: histogram.value_at_quantile(0.5),
                    p99_us: histogram.value_at_quantile(0.99),
                    latency_histogram: encode_histogram(&histogram),
                })
                .collect(),
            open_model,
            generator: Generator {
                thread_cpu_percent: vec![10.0],
                cpu_us_per_request: 5.0,
                priority: Priority::Realtime,
                start_lag_us: 100 * u64::from(shard.index),
                warnings,
            },
            validity: Validity::of(Vec::new()),
            in_flight_at_end: stats.in_flight_at_end,
            grace_seconds: 1.0,
            reconnects: stats.reconnects,
            warmup_requests: stats.warmup_requests,
            server_usage: None,
            steal_percent: None,
            thresholds: Vec::new(),
            merged: None,
        }
    }

    /// The shards' records of `requests`, each request sent by the shard its
    /// first element names.
    fn shards(count: u32, requests: &[(u32, Request)]) -> Vec<Part> {
        (0..count)
            .map(|index| {
                let mine: Vec<Request> = (requests.iter())
                    .filter(|(shard, _)| *shard == index)
                    .map(|(_, request)| *request)
                    .collect();
                Part {
                    origin: format!("shard-{index}.json"),
                    record: record_of(Shard { index, count }, &mine),
                }
            })
            .collect()
    }

    fn histogram(text: &str) -> Histogram<u64> {
        decode_histogram(text).unwrap()
    }

    proptest::proptest! {
        // Each case writes and reads up to seven records (a debug build).
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Merged shards have exactly the histograms, counts and timeline
        /// of one record of all their requests.
        #[test]
        fn merged_shards_equal_one_record_of_all_their_requests(
            count in 1u32..6,
            requests in proptest::collection::vec(
                (0u32..6, 0usize..3, 1u64..5, 1u64..200_000, proptest::sample::select(vec![200u16, 409, 500])),
                0..300,
            ),
        ) {
            let requests: Vec<(u32, Request)> = (requests.into_iter())
                .map(|(shard, step, second, latency, status)| (shard % count, (step, second, latency, status)))
                .collect();
            let merged = merge(shards(count, &requests)).unwrap();
            let all: Vec<Request> = requests.iter().map(|(_, request)| *request).collect();
            let whole = record_of(Shard { index: 0, count: 1 }, &all);
            proptest::prop_assert_eq!(merged.total.requests, whole.total.requests);
            proptest::prop_assert_eq!(&merged.total.errors, &whole.total.errors);
            proptest::prop_assert_eq!(&merged.total.statuses, &whole.total.statuses);
            proptest::prop_assert_eq!(merged.total.latency, whole.total.latency);
            proptest::prop_assert!(histogram(&merged.total.latency_histogram) == histogram(&whole.total.latency_histogram));
            proptest::prop_assert!(histogram(&merged.total.service_time_histogram) == histogram(&whole.total.service_time_histogram));
            proptest::prop_assert_eq!(merged.endpoints.len(), whole.endpoints.len());
            for (mine, theirs) in merged.endpoints.iter().zip(&whole.endpoints) {
                proptest::prop_assert_eq!(&mine.name, &theirs.name);
                proptest::prop_assert_eq!(&mine.figures.errors, &theirs.figures.errors);
                proptest::prop_assert!(histogram(&mine.figures.latency_histogram) == histogram(&theirs.figures.latency_histogram));
            }
            let (mine, theirs) = (merged.open_model.unwrap(), whole.open_model.unwrap());
            proptest::prop_assert_eq!(
                (mine.unsent, mine.late_sends, mine.own_late_sends, mine.lateness_p99_us, mine.own_lateness_max_us),
                (theirs.unsent, theirs.late_sends, theirs.own_late_sends, theirs.lateness_p99_us, theirs.own_lateness_max_us)
            );
            proptest::prop_assert_eq!(
                (merged.reconnects, merged.warmup_requests, merged.in_flight_at_end),
                (whole.reconnects, whole.warmup_requests, whole.in_flight_at_end)
            );
            proptest::prop_assert_eq!(merged.timeline.len(), whole.timeline.len());
            for (mine, theirs) in merged.timeline.iter().zip(&whole.timeline) {
                proptest::prop_assert_eq!(mine, theirs);
            }
            let merged_shards = merged.merged.unwrap();
            proptest::prop_assert_eq!(merged_shards.start_skew_us, 100 * u64::from(count - 1));
        }
    }

    /// A log as `kubectl logs --prefix` gives it: a record's framed line
    /// among others reads back whole, and an altered one is refused.
    #[test]
    fn records_travel_as_framed_log_lines() {
        use crate::measure::frame::{frame, unframe};
        let record = record_of(
            Shard { index: 1, count: 2 },
            &[(0, 1, 500, 200), (1, 2, 900, 500)],
        );
        let line = frame(&record);
        assert!(line.starts_with("STACKBENCH-RECORD v1 1/2 "), "{line}");
        let log = format!("[pod/sb-1/loadgen] saved /tmp/x.json\n[pod/sb-1/loadgen] {line}\n");
        let found = unframe(&log);
        assert_eq!(found.len(), 1);
        let (number, back) = &found[0];
        assert_eq!(*number, 2);
        let back = back.as_ref().unwrap();
        assert_eq!(back.total.latency_histogram, record.total.latency_histogram);
        assert_eq!(back.config, record.config);

        // One character of the payload changed, or the line cut short.
        let mut altered = line.clone().into_bytes();
        let last = altered.len() - 10;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        let cut = &line[..line.len() - 40];
        for bad in [altered.as_str(), cut] {
            let (_, read) = unframe(bad).pop().unwrap();
            let error = read.unwrap_err();
            assert!(
                error.contains("altered") || error.contains("cut"),
                "{error}"
            );
        }
    }

    #[test]
    fn missing_doubled_and_foreign_shards_are_each_named() {
        let requests = [
            (0, (0, 1, 500, 200)),
            (1, (1, 2, 700, 200)),
            (2, (0, 3, 900, 200)),
        ];
        let message = |parts: Vec<Part>| merge(parts).unwrap_err().to_string();

        let mut parts = shards(3, &requests);
        parts.remove(1);
        let missing = message(parts);
        assert!(missing.contains("missing: shard 1/3"), "{missing}");

        let mut parts = shards(3, &requests);
        let again = Part {
            origin: "again.json".into(),
            record: parts[2].record.clone(),
        };
        parts.push(again);
        let twice = message(parts);
        assert!(
            twice.contains("shard 2/3 is there twice: shard-2.json and again.json"),
            "{twice}"
        );

        let mut parts = shards(3, &requests);
        let mut foreign = record_of(Shard { index: 1, count: 3 }, &[]);
        foreign.config.seed = 8;
        parts.push(Part {
            origin: "foreign.json".into(),
            record: foreign,
        });
        let other = message(parts);
        assert!(
            other.contains("shard 1/3 (foreign.json) is not of the same run as shard 0/3 (shard-0.json): another load"),
            "{other}"
        );
        assert!(!other.contains("twice"), "{other}");
    }
}
