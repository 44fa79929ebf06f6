//! Reports as text: a run's tables, the full percentile distribution, two
//! runs side by side, a comparison's summary table.

use std::fmt::Write as _;

use comfy_table::{presets, Cell, CellAlignment, Table};
use hdrhistogram::Histogram;

use crate::measure::capacity::{CapacityRecord, Outcome, Verdict};
use crate::measure::comparison::{CapacityPhase, Ceiling, Comparison, Spread, CEILING_LABEL};
use crate::measure::figure::{Figure, Figures};
use crate::measure::record::{Latency, RunRecord, Tally};
use crate::measure::sweep::{SweepRecord, SweepStep};
use crate::report::slo_statistic;
use crate::scenario::threshold::Threshold;
use crate::units::format_us;

fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_header(header.to_vec());
    for column in table.column_iter_mut().skip(1) {
        column.set_cell_alignment(CellAlignment::Right);
    }
    table
}

fn latency_row(name: &str, figures: &Tally, latency: &Latency) -> Vec<Cell> {
    let mut row = vec![
        Cell::new(name),
        Cell::new(figures.requests),
        Cell::new(format!("{:.1}", figures.rps)),
        Cell::new(format!("{:.1}", figures.attempted_rps)),
        Cell::new(figures.error_count()),
    ];
    for value in [latency.mean_us, latency.stdev_us] {
        row.push(Cell::new(format_us(value)));
    }
    for value in [
        latency.p50_us,
        latency.p90_us,
        latency.p99_us,
        latency.p99_9_us,
        latency.p99_99_us,
        latency.max_us,
    ] {
        row.push(Cell::new(format_us(value as f64)));
    }
    row
}

const LATENCY_HEADER: [&str; 13] = [
    "endpoint",
    "requests",
    "ok req/s",
    "sent req/s",
    "errors",
    "mean",
    "stdev",
    "p50",
    "p90",
    "p99",
    "p99.9",
    "p99.99",
    "max",
];

/// The human report: tables per endpoint and in total, status codes and
/// errors, the open model's pacing, the generator's self-checks.
pub fn run(record: &RunRecord, full_distribution: bool) -> String {
    let target = match &record.target.driver {
        Some(driver) => format!(
            "{} on {driver} ({})",
            record.target.server, record.target.url
        ),
        None => record.target.url.clone(),
    };
    let mut out = format!(
        "scenario {} against {target}: {} model, {:.1} s measured after {:.1} s warm-up, {} threads\n",
        record.header.scenario,
        record.config.model,
        record.measured_seconds,
        record.config.warmup_seconds,
        record.config.threads
    );
    out.push_str(&latency_tables(record));
    out.push_str(&outcomes_table(record));
    out.push_str(&run_notes(record));
    if full_distribution {
        match record.total.histogram() {
            Ok(histogram) => out.push_str(&percentile_distribution(&histogram)),
            Err(error) => {
                let _ = writeln!(out, "(no distribution: {error})");
            }
        }
    }
    out
}

/// Latency per endpoint and in total; in the open model also the service
/// time, which hides the queueing the latency from the plan shows.
fn latency_tables(record: &RunRecord) -> String {
    let open = record.config.model == "open";
    let table_of = |latency: fn(&Tally) -> &Latency| {
        let mut t = table(&LATENCY_HEADER);
        for endpoint in &record.endpoints {
            t.add_row(latency_row(
                &endpoint.name,
                &endpoint.figures,
                latency(&endpoint.figures),
            ));
        }
        t.add_row(latency_row("total", &record.total, latency(&record.total)));
        t
    };
    let title = if open {
        "latency from the planned send time (coordinated omission corrected), every request"
    } else {
        "latency, every request"
    };
    let mut out = format!("\n{title}\n{}\n", table_of(|tally| &tally.latency));
    if open {
        let _ = writeln!(
            out,
            "\nservice time from the actual send, answered requests only (hides queueing)\n{}",
            table_of(|tally| &tally.service_time)
        );
    }
    out
}

/// Status codes and errors by kind, per endpoint and in total.
fn outcomes_table(record: &RunRecord) -> String {
    let mut outcomes = table(&["endpoint", "status codes", "errors by kind", "error rate"]);
    let rows = (record.endpoints.iter())
        .map(|e| (e.name.as_str(), &e.figures))
        .chain([("total", &record.total)]);
    for (name, tally) in rows {
        let statuses: Vec<String> = (tally.statuses.iter())
            .map(|(code, n)| format!("{code}: {n}"))
            .collect();
        let errors: Vec<String> = (tally.errors.iter())
            .map(|(kind, n)| format!("{}: {n}", kind.name()))
            .collect();
        outcomes.add_row(vec![
            Cell::new(name),
            Cell::new(statuses.join(", ")),
            Cell::new(if errors.is_empty() {
                "-".to_string()
            } else {
                errors.join(", ")
            }),
            Cell::new(format!("{:.3}%", tally.error_rate * 100.0)),
        ]);
    }
    format!("\n{outcomes}\n")
}

/// The lines under the tables: the open model's pacing, what was left in
/// flight, what the generator and the server cost, warnings, thresholds.
fn run_notes(record: &RunRecord) -> String {
    let mut out = String::new();
    if let Some(open) = &record.open_model {
        let _ = writeln!(
            out,
            "rate ({} arrivals): sent {:.1} req/s of {:.1} planned ({:.1}%); {} sent late (>1 ms; lateness p50 {}, p99 {}, max {}), \
             {} of them by the generator's own delay (p99 {}, max {}); {} never sent (all {} connections busy)",
            record.config.arrivals.unwrap_or_default().name(),
            open.achieved_rate,
            open.target_rate,
            100.0 * open.achieved_rate / open.target_rate,
            open.late_sends,
            format_us(open.lateness_p50_us as f64),
            format_us(open.lateness_p99_us as f64),
            format_us(open.lateness_max_us as f64),
            open.own_late_sends,
            format_us(open.own_lateness_p99_us as f64),
            format_us(open.own_lateness_max_us as f64),
            open.unsent,
            record.config.max_inflight.unwrap_or(0),
        );
    }
    let _ = writeln!(
        out,
        "in flight at the end: {} (waited for up to {:.1} s more); reconnects: {}; warm-up requests (not counted): {}",
        record.in_flight_at_end, record.grace_seconds, record.reconnects, record.warmup_requests
    );
    let cpu: Vec<String> = (record.generator.thread_cpu_percent.iter())
        .map(|p| format!("{p:.0}%"))
        .collect();
    let _ = writeln!(
        out,
        "generator CPU per thread: {}; {:.1} µs per request sent; {}",
        cpu.join(" "),
        record.generator.cpu_us_per_request,
        record.generator.priority
    );
    if let Some(usage) = &record.server_usage {
        let per_request = Figure::CpuPerRequest
            .of(record)
            .map_or("-".into(), |us| format!("{us:.1}"));
        let _ = writeln!(
            out,
            "server: {:.2} CPU-s over the measured window, {per_request} CPU-ms per 1000 successful requests, peak RSS {:.1} MiB",
            usage.cpu_seconds,
            usage.peak_rss_bytes as f64 / 1048576.0
        );
    }
    if let Some(steal) = record.steal_percent {
        let _ = writeln!(
            out,
            "machine: the hypervisor took {steal:.1}% of its CPU time over the measured window (steal)"
        );
    }
    out += &split_notes(record);
    for warning in &record.generator.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    for reason in &record.validity.reasons {
        let _ = writeln!(out, "INVALID: {reason}");
    }
    if !record.validity.valid {
        let _ = writeln!(
            out,
            "INVALID run: its figures are partly the generator's, so its thresholds are not judged"
        );
    }
    for threshold in &record.thresholds {
        let verdict = if threshold.pass { "pass" } else { "FAIL" };
        let _ = writeln!(
            out,
            "threshold {verdict}: {} (observed {})",
            threshold.threshold, threshold.observed
        );
    }
    out
}

/// What a shard's record, or a merged one, says of the split run.
fn split_notes(record: &RunRecord) -> String {
    let mut out = String::new();
    if let Some(plan) = &record.config.shard {
        let _ = writeln!(
            out,
            "shard {} of a split run from {} (began {} after it): `loadgen merge` makes the shards' \
             records one and judges the run's thresholds",
            plan.shard,
            plan.start_at.to_rfc3339(),
            format_us(record.generator.start_lag_us as f64)
        );
    }
    if let Some(merged) = &record.merged {
        let _ = writeln!(
            out,
            "merged from {} shards that started at {}: start skew {} (each by its own clock)",
            merged.shards.len(),
            merged.start_at.to_rfc3339(),
            format_us(merged.start_skew_us as f64)
        );
        for shard in &merged.shards {
            let _ = writeln!(
                out,
                "  shard {}/{}: {} requests, began {} after the start, on {} ({}){}",
                shard.index,
                merged.shards.len(),
                shard.requests,
                format_us(shard.start_lag_us as f64),
                shard.hostname,
                shard.origin,
                if shard.validity.valid {
                    ""
                } else {
                    ", INVALID"
                }
            );
        }
    }
    out
}

/// The percentile distribution in HdrHistogram's text layout (values in ms).
pub fn percentile_distribution(histogram: &Histogram<u64>) -> String {
    let mut out = String::from("\n       Value   Percentile   TotalCount 1/(1-Percentile)\n\n");
    for value in histogram.iter_quantiles(5) {
        let quantile = value.quantile_iterated_to();
        let inverse = if quantile < 1.0 {
            format!("{:.2}", 1.0 / (1.0 - quantile))
        } else {
            "inf".into()
        };
        let _ = writeln!(
            out,
            "{:12.3} {:12.6} {:12} {:>14}",
            value.value_iterated_to() as f64 / 1000.0,
            quantile,
            value.count_since_last_iteration(),
            inverse
        );
    }
    let _ = writeln!(
        out,
        "#[Mean = {:.3}, StdDeviation = {:.3}]\n#[Max = {:.3}, Total count = {}]",
        histogram.mean() / 1000.0,
        histogram.stdev() / 1000.0,
        histogram.max() as f64 / 1000.0,
        histogram.len()
    );
    out
}

/// Two runs side by side, with the change of each figure.
pub fn diff(a: &RunRecord, b: &RunRecord) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "A: {} on {} ({}, {})",
        a.header.scenario, a.target.url, a.target.server, a.header.started_at
    );
    let _ = writeln!(
        out,
        "B: {} on {} ({}, {})",
        b.header.scenario, b.target.url, b.target.server, b.header.started_at
    );
    if a.config != b.config {
        let _ = writeln!(
            out,
            "note: the runs' configurations differ; compare with care"
        );
    }
    let mut t = table(&["figure", "A", "B", "change"]);
    let change = |x: f64, y: f64| {
        if x == 0.0 {
            "-".to_string()
        } else {
            format!("{:+.1}%", 100.0 * (y - x) / x)
        }
    };
    let mut row = |name: &str, x: f64, y: f64, format: &dyn Fn(f64) -> String| {
        t.add_row(vec![
            Cell::new(name),
            Cell::new(format(x)),
            Cell::new(format(y)),
            Cell::new(change(x, y)),
        ]);
    };
    let count = |v: f64| format!("{v:.0}");
    let rate = |v: f64| format!("{v:.1}");
    let (x, y) = (&a.total, &b.total);
    row("requests", x.requests as f64, y.requests as f64, &count);
    row("req/s", x.rps, y.rps, &rate);
    row(
        "errors",
        x.error_count() as f64,
        y.error_count() as f64,
        &count,
    );
    let pairs = [
        ("mean", x.latency.mean_us, y.latency.mean_us),
        ("p50", x.latency.p50_us as f64, y.latency.p50_us as f64),
        ("p90", x.latency.p90_us as f64, y.latency.p90_us as f64),
        ("p99", x.latency.p99_us as f64, y.latency.p99_us as f64),
        (
            "p99.9",
            x.latency.p99_9_us as f64,
            y.latency.p99_9_us as f64,
        ),
        (
            "p99.99",
            x.latency.p99_99_us as f64,
            y.latency.p99_99_us as f64,
        ),
        ("max", x.latency.max_us as f64, y.latency.max_us as f64),
    ];
    for (name, p, q) in pairs {
        row(name, p, q, &format_us);
    }
    for endpoint in &a.endpoints {
        if let Some(other) = b.endpoints.iter().find(|e| e.name == endpoint.name) {
            row(
                &format!("{} req/s", endpoint.name),
                endpoint.figures.rps,
                other.figures.rps,
                &rate,
            );
            row(
                &format!("{} p99", endpoint.name),
                endpoint.figures.latency.p99_us as f64,
                other.figures.latency.p99_us as f64,
                &format_us,
            );
        }
    }
    let _ = writeln!(out, "{t}");
    out
}

/// A figure's median over rounds with its min-max, in the figure's unit.
pub fn spread(figure: Figure, spread: Spread) -> String {
    let value = |v: f64| match figure {
        Figure::Capacity | Figure::Throughput => format!("{v:.0}"),
        Figure::P50 | Figure::P99 | Figure::P99_9 => format_us(v),
        Figure::CpuPerRequest => format!("{v:.1}"),
        Figure::PeakRss => format!("{:.1} MiB", v / 1048576.0),
    };
    format!(
        "{} ({}-{})",
        value(spread.median),
        value(spread.min),
        value(spread.max)
    )
}

/// The column title of a figure in a comparison's table.
pub fn figure_title(figure: Figure, comparison: &Comparison) -> String {
    let at = match comparison.latency_rate {
        Some(rate) => format!(" at {rate:.0} req/s"),
        None => " (closed)".into(),
    };
    match (figure, &comparison.capacity) {
        (Figure::Capacity, Some(phase)) => format!("req/s at {}", phase.slo),
        (Figure::Capacity, None) => "capacity".into(),
        (Figure::CpuPerRequest, Some(_)) => "CPU-ms / 1000 req at capacity".into(),
        (Figure::Throughput, _) => "ok req/s".into(),
        (Figure::P50 | Figure::P99 | Figure::P99_9, _) => format!("{}{at}", figure.name()),
        (Figure::CpuPerRequest, None) => "CPU-ms / 1000 req".into(),
        (Figure::PeakRss, _) => "peak RSS".into(),
    }
}

/// The figures a comparison's table shows: those some row measured.
pub fn columns(comparison: &Comparison) -> Vec<Figure> {
    let rows = (comparison.summary.iter().map(|s| &s.spreads))
        .chain(comparison.ceiling.iter().map(|c| &c.spreads));
    (Figure::ALL.into_iter())
        .filter(|figure| rows.clone().any(|spreads| spreads.contains_key(figure)))
        .collect()
}

/// One row of a comparison's table: a figure's median (min-max) in each
/// column, `-` where this row has no such figure.
fn figure_cells(
    name: &str,
    columns: &[Figure],
    spreads: &Figures<Spread>,
    errors: u64,
) -> Vec<Cell> {
    let mut row = vec![Cell::new(name)];
    row.extend(columns.iter().map(|&figure| {
        Cell::new(
            spreads
                .get(&figure)
                .map_or("-".into(), |s| spread(figure, *s)),
        )
    }));
    row.push(Cell::new(errors));
    row
}

/// The comparison's table (each figure's median over rounds with its
/// min-max) and a verdict per figure.
pub fn comparison(comparison: &Comparison) -> String {
    let columns = columns(comparison);
    let mut header = vec!["stack".to_string()];
    header.extend(columns.iter().map(|&f| figure_title(f, comparison)));
    header.push("errors".into());
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut summary_table = table(&header);
    for s in &comparison.summary {
        summary_table.add_row(figure_cells(
            &s.contender.label,
            &columns,
            &s.spreads,
            s.errors,
        ));
    }
    if let Some(ceiling) = &comparison.ceiling {
        summary_table.add_row(figure_cells(
            CEILING_LABEL,
            &columns,
            &ceiling.spreads,
            ceiling.failed(),
        ));
    }
    let mut out = format!(
        "\n{} on {}: {} round(s), median (min-max) over rounds; {}\n{summary_table}\n",
        comparison.header.scenario,
        comparison.header.machine.cpu_model,
        comparison.rounds,
        sources(comparison),
    );
    if let Some(ceiling) = &comparison.ceiling {
        out.push_str(&over_ceiling(ceiling, comparison));
    }
    if let Some(phase) = &comparison.capacity {
        let searches =
            (phase
                .searches
                .iter()
                .map(|s| (s.round, &s.contender, s.search.outcome)))
            .chain((comparison.ceiling.iter()).flat_map(|c| {
                (c.searches.iter()).map(|s| (s.round, &s.contender, s.search.outcome))
            }));
        let unfound = searches
            .filter(|(_, _, outcome)| *outcome != Outcome::Found)
            .map(|(round, who, outcome)| format!("round {round} {who} ({})", outcome.describe()));
        left_out(&mut out, "No capacity, left out of the figures", unfound);
        out.push_str(&sweeps(comparison, phase));
    }
    let invalid = (comparison.runs.iter())
        .filter(|run| !run.record.validity.valid)
        .map(|run| format!("round {} {} {}", run.round, run.phase, run.contender));
    left_out(
        &mut out,
        "INVALID, left out of the figures (the generator fell behind)",
        invalid,
    );
    let verdicts = &comparison.verdicts;
    if let Some(caveat) = &verdicts.caveat {
        let _ = writeln!(out, "{caveat}");
    }
    for figure in &verdicts.figures {
        let _ = writeln!(out, "  {}", figure.text);
    }
    let _ = writeln!(out, "({})", verdicts.method);
    out
}

/// The curves measured after a capacity comparison's rounds: each stack's
/// SLO statistic at each fraction of its median capacity, a failed step
/// marked `*` and one whose generator fell behind `!`.
fn sweeps(comparison: &Comparison, phase: &CapacityPhase) -> String {
    let Ok(slo) = phase.slo.parse::<Threshold>() else {
        return String::new();
    };
    let (name, statistic) = slo_statistic(&slo);
    let cell = |latency: &Latency, verdict: Verdict| {
        let mark = match verdict {
            Verdict::Pass => "",
            Verdict::Fail => " *",
            Verdict::Invalid => " !",
        };
        Cell::new(format!("{}{mark}", format_us(statistic(latency))))
    };
    let mut header = vec!["stack".to_string(), "capacity req/s".to_string()];
    header.extend(phase.fractions.iter().map(|f| format!("{f:.2}x")));
    let mut t = table(&header.iter().map(String::as_str).collect::<Vec<_>>());
    let row = |who: &str, capacity_rps: f64, steps: Vec<Cell>| {
        let mut row = vec![Cell::new(who), Cell::new(format!("{capacity_rps:.0}"))];
        row.extend(steps);
        row
    };
    for sweep in &phase.sweeps {
        let steps = (sweep.steps.iter()).map(|s| cell(&s.step.latency, s.verdict));
        t.add_row(row(&sweep.contender, sweep.capacity_rps, steps.collect()));
    }
    if let Some(sweep) = comparison.ceiling.as_ref().and_then(|c| c.sweep.as_ref()) {
        let steps = (sweep.steps.iter()).map(|s| cell(&s.record.latency, s.verdict));
        t.add_row(row(&sweep.contender, sweep.capacity_rps, steps.collect()));
    }
    if t.row_count() == 0 {
        return String::new();
    }
    format!(
        "\n{name} at fractions of each one's median capacity, after the rounds (* failed: the \
         SLO, the error limit or a growing queue; ! the generator fell behind)\n{t}\n"
    )
}

/// A ratio's median over rounds with its min-max.
pub fn ratio(spread: Spread, unit: &str) -> String {
    format!(
        "{:.2}{unit} ({:.2}-{:.2})",
        spread.median, spread.min, spread.max
    )
}

/// Where the table's figures come from.
fn sources(comparison: &Comparison) -> String {
    match (&comparison.capacity, comparison.latency_rate) {
        (Some(phase), _) => format!(
            "capacity is the highest rate at which {} held with at most {:.2}% errors, searched \
             in each round to {:.0}%; CPU per request in the step at that rate; peak RSS and \
             errors over every step, the overloaded ones too",
            phase.slo,
            100.0 * phase.max_error_rate,
            100.0 * phase.resolution
        ),
        (None, Some(_)) => "throughput from the closed phase, latency and CPU from the open \
                            phase at one equal rate"
            .into(),
        (None, None) => {
            "throughput from the closed phase, latency and CPU from the closed phase".into()
        }
    }
}

/// The figures read against the ceiling, and how each is titled there.
pub fn over_ceiling_columns(comparison: &Comparison) -> Vec<(Figure, String)> {
    if comparison.capacity.is_some() {
        return vec![(Figure::Capacity, "capacity, of the database's".into())];
    }
    let at = comparison
        .latency_rate
        .map_or(" (closed)".to_string(), |rate| {
            format!(" at {rate:.0} req/s")
        });
    vec![
        (
            Figure::Throughput,
            "throughput, of the database's".to_string(),
        ),
        (Figure::P50, format!("p50{at}, x the database's")),
        (Figure::P99, format!("p99{at}, x the database's")),
    ]
}

/// A contender's ratio to the ceiling on `figure`, as a fraction or a multiple.
pub fn over_ceiling_cell(ratios: &Figures<Spread>, figure: Figure) -> String {
    let unit = if figure.higher_is_better() { "" } else { "x" };
    ratios.get(&figure).map_or("-".into(), |s| ratio(*s, unit))
}

/// What each contender costs over the ceiling, from ratios taken round by round.
fn over_ceiling(ceiling: &Ceiling, comparison: &Comparison) -> String {
    let columns = over_ceiling_columns(comparison);
    let mut header = vec!["stack"];
    header.extend(columns.iter().map(|(_, title)| title.as_str()));
    let mut t = table(&header);
    for over in &ceiling.contenders {
        let mut row = vec![Cell::new(&over.contender)];
        row.extend(
            (columns.iter()).map(|(figure, _)| Cell::new(over_ceiling_cell(&over.ratios, *figure))),
        );
        t.add_row(row);
    }
    format!(
        "Over the ceiling (PostgreSQL alone: pgbench on the same SQL over {} connections, a server's pool), \
         each round's ratio, median (min-max):\n{t}\n",
        ceiling.connections()
    )
}

/// The gate's table: each metric's change with its interval, the smallest
/// change the windows can detect, and the verdict; then errors and the
/// verdict of the whole gate.
pub fn gate(record: &crate::measure::gate::GateRecord) -> String {
    use crate::measure::gate::{Mode, Verdict};
    let mut out = String::new();
    let against = match record.mode {
        Mode::Baseline => "a saved baseline (unpaired windows)",
        Mode::Record => "nothing (recording a baseline)",
        Mode::Paired => "the base, in alternated pairs",
    };
    let _ = writeln!(
        out,
        "\ngate: {} ({} driver), head against {against}; throughput and CPU per request saturated, p50 and p99 at {:.0} req/s; {:.0}% confidence over all figures",
        record.header.scenario,
        record.driver,
        record.latency_rate,
        record.confidence * 100.0
    );
    if record.changes.is_empty() {
        return out;
    }
    let mut t = table(&[
        "figure",
        "head / base",
        "interval",
        "p",
        "detectable",
        "tolerance",
        "verdict",
    ]);
    for m in &record.changes {
        t.add_row(vec![
            Cell::new(m.figure.name()),
            Cell::new(format!("{:.3}", m.ratio)).set_alignment(CellAlignment::Right),
            Cell::new(format!("[{:.3}, {:.3}]", m.low, m.high)),
            Cell::new(m.p_value.map_or("-".into(), |p| format!("{p:.3}")))
                .set_alignment(CellAlignment::Right),
            Cell::new(format!("{:.1}%", m.detectable * 100.0)).set_alignment(CellAlignment::Right),
            Cell::new(format!("{:.0}%", m.tolerance * 100.0)).set_alignment(CellAlignment::Right),
            Cell::new(m.verdict.name()),
        ]);
    }
    let _ = writeln!(out, "{t}");
    for m in &record.changes {
        let _ = writeln!(out, "  {}: {}", m.figure.name(), m.reason);
    }
    if let Some(errors) = &record.errors {
        let chance = errors
            .p_value
            .map(|p| format!(" (p = {p:.3} that chance gives as many)"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  errors: base {} ({:.3}%), head {} ({:.3}%); the head worse by more than +{:.2} \
             points in {} of {} pairs{chance}: {}",
            errors.base,
            100.0 * errors.base_rate,
            errors.head,
            100.0 * errors.head_rate,
            100.0 * errors.tolerance,
            errors.worse_pairs,
            errors.pairs,
            errors.verdict.name()
        );
    }
    let verdict = match record.verdict {
        Some(Verdict::Regression) => {
            "REGRESSION: the head is slower beyond a tolerance, and the windows show it"
        }
        Some(Verdict::Inconclusive) => {
            "inconclusive: no regression shown, but the windows cannot rule one out (see above)"
        }
        Some(Verdict::Pass) => "pass: no figure worse than its tolerance",
        None => "no verdict",
    };
    let _ = writeln!(out, "gate: {verdict}");
    out
}

/// A step's line while a sweep runs.
pub fn sweep_step_line(number: usize, steps: usize, step: &SweepStep) -> String {
    format!(
        "   step {number:>2}/{steps}: {:>9.1} req/s offered, {:>9.1} ok/s, p50 {:>9}, p99 {:>9}, \
         errors {:.2}%{}{}",
        step.offered_rps,
        step.successes_rps,
        format_us(step.latency.p50_us as f64),
        format_us(step.latency.p99_us as f64),
        100.0 * step.error_rate,
        if step.stationary {
            ""
        } else {
            ", UNSUSTAINABLE"
        },
        if step.valid { "" } else { ", INVALID" },
    )
}

/// A sweep's table: a row per step, then why a step is unsustainable or
/// invalid.
pub fn sweep(record: &SweepRecord) -> String {
    let mut t = table(&[
        "offered req/s",
        "sent req/s",
        "ok req/s",
        "p50",
        "p90",
        "p99",
        "p99.9",
        "errors",
        "cpu/req",
        "steal",
        "server",
        "generator",
    ]);
    for step in &record.steps {
        let latency = &step.latency;
        let mut row = vec![
            Cell::new(format!("{:.1}", step.offered_rps)),
            Cell::new(format!("{:.1}", step.achieved_rps)),
            Cell::new(format!("{:.1}", step.successes_rps)),
        ];
        for value in [
            latency.p50_us,
            latency.p90_us,
            latency.p99_us,
            latency.p99_9_us,
        ] {
            row.push(Cell::new(format_us(value as f64)));
        }
        row.push(Cell::new(format!("{:.2}%", 100.0 * step.error_rate)));
        row.push(Cell::new(
            step.cpu_us_per_request
                .map_or("-".into(), |us| format!("{us:.1} µs")),
        ));
        row.push(Cell::new(
            step.run
                .steal_percent
                .map_or("-".into(), |s| format!("{s:.0}%")),
        ));
        row.push(Cell::new(if step.stationary {
            "steady"
        } else {
            "UNSUSTAINABLE"
        }));
        row.push(Cell::new(if step.valid { "kept up" } else { "INVALID" }));
        t.add_row(row);
    }
    let mut out = format!(
        "{} against {}: {} steps of {:.1} s (+{:.1} s warm-up), rates from {}; latency from the \
         planned send time\n{t}\n",
        record.header.scenario,
        record.target.url,
        record.steps.len(),
        record.step_seconds,
        record.warmup_seconds,
        record.rates_from
    );
    for step in &record.steps {
        let reasons = (step.stationarity.reasons.iter()).chain(&step.run.validity.reasons);
        for reason in reasons {
            let _ = writeln!(out, "  at {:.1} req/s: {reason}", step.offered_rps);
        }
    }
    out
}

/// A capacity search: every probe, then the bracket or why there is none.
pub fn capacity(record: &CapacityRecord) -> String {
    let mut t = table(&["rate req/s", "purpose", "steps", "decided"]);
    for probe in &record.probes {
        let steps: Vec<&str> = (probe.steps.iter())
            .map(|s| match s.verdict {
                Verdict::Pass => "pass",
                Verdict::Fail => "fail",
                Verdict::Invalid => "invalid",
            })
            .collect();
        t.add_row(vec![
            Cell::new(format!("{:.1}", probe.rate_rps)),
            Cell::new(format!("{:?}", probe.purpose).to_lowercase()),
            Cell::new(steps.join(" ")),
            Cell::new(format!("{:?}", probe.verdict).to_lowercase()),
        ]);
    }
    let rps = |rate: Option<f64>| rate.map_or("-".into(), |r| format!("{r:.1} req/s"));
    let (low, high) = (rps(record.capacity.low_rps), rps(record.capacity.high_rps));
    let slo = &record.slo;
    let answer = match record.outcome {
        Outcome::Found => format!(
            "capacity at {slo}: {low} (held; {high} failed; resolution {:.0}%)",
            100.0 * record.resolution
        ),
        Outcome::NeverHeld => {
            format!("no capacity: {slo} failed down to {high}, the lowest rate tried (--min-rps)")
        }
        Outcome::ServerErrors => format!(
            "no capacity: the server's errors broke the limit down to {high}, the lowest rate \
             tried (--min-rps): see the errors of the steps above, and the server's log"
        ),
        Outcome::AboveMax => {
            format!("capacity above {low}, the highest rate tried (--max-rps): {slo} held there")
        }
        Outcome::GeneratorFellBehind => format!(
            "no capacity: the generator fell behind at {} (see the INVALID steps), so the steps \
             there say nothing of the server: a quieter machine, more --threads, or a generator \
             on its own machine would tell",
            rps(record.probes.last().map(|probe| probe.rate_rps))
        ),
        Outcome::Unsettled => format!(
            "no capacity: the longer confirmation step failed three times (last bracket {low} to \
             {high}): the server's latency at this load does not settle"
        ),
    };
    format!(
        "{} against {}: {}\n{t}\n{answer}\n",
        record.header.scenario, record.target.url, record.method
    )
}

/// A line that says what was `left` out of the figures, and why, if
/// anything was.
fn left_out(out: &mut String, why: &str, left: impl Iterator<Item = String>) {
    let left: Vec<String> = left.collect();
    if !left.is_empty() {
        let _ = writeln!(out, "{why}: {}", left.join(", "));
    }
}
