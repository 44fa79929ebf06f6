//! The comparison as a self-contained HTML page: the verdicts and summary
//! table; per stack its median, min-max and every round (throughput, p99,
//! CPU per request); latency percentile curves on a "nines" axis as
//! HdrHistogram's plotter draws them; each phase over time (successes, p99
//! and errors per second, as Gatling shows a run, so a stall, a warm-up
//! effect or a slow leak shows); a table per endpoint; or, for a capacity
//! comparison, the charts of `capacity`. Charts are SVG drawn with
//! `plotters`. No script, no network: it opens offline, anywhere.

mod capacity;

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::measure::comparison::{CompareRun, Comparison, ContenderSummary, Spread, CEILING_LABEL};
use crate::measure::figure::{Figure, Figures, Phase};
use crate::measure::record::{Header, Latency, RunRecord, Second};
use crate::measure::steps::new_histogram;
use crate::measure::sweep::{SweepRecord, SweepStep};
use crate::report::text;
use crate::units::format_us;

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Chart widths: two side by side, or one across the page.
const HALF: u32 = 500;
const FULL: u32 = 1000;

const FONT: &str = "sans-serif";

type Drawn = Result<String, Box<dyn std::error::Error>>;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Stacks keep their colour in every chart and in the legend.
fn color(stack: usize) -> RGBColor {
    PALETTE[stack % PALETTE.len()]
}

fn css(color: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", color.0, color.1, color.2)
}

/// An axis label with at most 3 significant digits and no trailing zeros:
/// `1200`, `2.5`, `0.05`. The axes' ticks are round numbers, so this drops
/// nothing but float noise such as `0.30000000000000004`.
fn tick(value: f64) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let decimals = (2.0 - value.abs().log10().floor()).clamp(0.0, 6.0) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// Whole decades around `low..high`: a log axis labels only powers of ten,
/// so a narrower range would have no label at all. Nudged outwards a
/// little, so that float rounding cannot drop the labels at the ends.
/// Without values (`low` infinite), one decade, so the empty chart draws.
fn decades(low: f64, high: f64) -> (f64, f64) {
    let low = if low.is_finite() { low } else { 1.0 };
    let low = 10f64.powf(low.max(0.01).log10().floor());
    let high = 10f64.powf(high.max(low).log10().ceil());
    let high = if high > low { high } else { low * 10.0 };
    (low * 0.999, high * 1.001)
}

/// The phase whose latencies the comparison reports: the equal-rate one
/// when it ran.
fn latency_phase(comparison: &Comparison) -> Phase {
    if comparison.latency_rate.is_some() {
        Phase::Latency
    } else {
        Phase::Throughput
    }
}

fn runs<'a>(
    comparison: &'a Comparison,
    phase: Phase,
    contender: &'a str,
) -> impl Iterator<Item = &'a CompareRun> + 'a {
    comparison
        .runs
        .iter()
        .filter(move |run| run.phase == phase && run.contender == contender)
}

/// One stack's figure: the bar is the median of rounds, the whisker its
/// min-max, and every round a dot under the bar, so that a median of
/// rounds far apart does not look as solid as one of rounds alike.
struct Bar {
    label: String,
    color: RGBColor,
    spread: Spread,
    rounds: Vec<f64>,
}

/// Each stack's `figure` divided by `scale` (µs to ms: 1000).
fn bars(comparison: &Comparison, figure: Figure, scale: f64) -> Vec<Bar> {
    let scaled = |spread: Spread| Spread {
        median: spread.median / scale,
        min: spread.min / scale,
        max: spread.max / scale,
    };
    comparison
        .summary
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            Some(Bar {
                label: s.contender.label.clone(),
                color: color(i),
                spread: scaled(s.spread(figure)?),
                rounds: s.values(figure).iter().map(|v| v / scale).collect(),
            })
        })
        .collect()
}

/// Horizontal bars, one row per stack from the top, so that long stack
/// labels fit however many stacks there are.
fn bar_chart(title: &str, unit: &str, bars: &[Bar]) -> Drawn {
    let rows = bars.len() as f64;
    let top = bars
        .iter()
        .flat_map(|b| {
            b.rounds
                .iter()
                .copied()
                .chain([b.spread.max, b.spread.median])
        })
        .fold(0.0, f64::max);
    let mut svg = String::new();
    {
        let height = 100 + 46 * bars.len() as u32;
        let root = SVGBackend::with_string(&mut svg, (FULL, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 18))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(190)
            .build_cartesian_2d(0.0..(top * 1.08).max(1e-9), 0.0..rows)?;
        // Ticks every half row: the labels go on the middles of the rows.
        let row_label = |y: &f64| {
            let row = rows - 0.5 - y;
            let index = row.round();
            let centred = (row - index).abs() < 1e-6 && index >= 0.0;
            centred
                .then(|| bars.get(index as usize).map(|b| b.label.clone()))
                .flatten()
                .unwrap_or_default()
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(bars.len() * 2 + 1)
            .y_label_formatter(&row_label)
            .x_label_formatter(&|x| tick(*x))
            .x_desc(unit)
            .label_style((FONT, 14))
            .light_line_style(BLACK.mix(0.04))
            .axis_desc_style((FONT, 14))
            .draw()?;
        for (i, bar) in bars.iter().enumerate() {
            let y = rows - 1.0 - i as f64;
            let Spread { median, min, max } = bar.spread;
            chart.draw_series([Rectangle::new(
                [(0.0, y + 0.45), (median, y + 0.85)],
                bar.color.mix(0.8).filled(),
            )])?;
            let whisker = y + 0.65;
            let cap = |x| PathElement::new([(x, whisker - 0.12), (x, whisker + 0.12)], BLACK);
            chart.draw_series([
                PathElement::new([(min, whisker), (max, whisker)], BLACK.stroke_width(2)),
                cap(min),
                cap(max),
            ])?;
            chart.draw_series(
                bar.rounds
                    .iter()
                    .map(|&value| Circle::new((value, y + 0.25), 4, bar.color.filled())),
            )?;
        }
        root.present()?;
    }
    Ok(svg)
}

/// The percentile at `nines` on the HdrHistogram axis: 1 -> 90%, 2 -> 99%.
fn quantile_at(nines: f64) -> f64 {
    1.0 - 10f64.powf(-nines)
}

/// `90%`, `99%`, `99.9%` on whole nines; nothing between them.
fn nines_label(nines: f64) -> String {
    let whole = nines.round();
    if (nines - whole).abs() > 1e-6 {
        return String::new();
    }
    let digits = (whole as usize).saturating_sub(2);
    format!("{:.digits$}%", 100.0 * quantile_at(whole))
}

/// Each stack's latency histogram merged over its runs of `phase`.
fn merged_latency(comparison: &Comparison, phase: Phase, contender: &str) -> Histogram<u64> {
    let mut merged = new_histogram();
    for run in runs(comparison, phase, contender) {
        if let Ok(histogram) = run.record.total.histogram() {
            let _ = merged.add(&histogram);
        }
    }
    merged
}

fn latency_chart(comparison: &Comparison) -> Drawn {
    let phase = latency_phase(comparison);
    let mut curves = Vec::new();
    for (i, summary) in comparison.summary.iter().enumerate() {
        let histogram = merged_latency(comparison, phase, &summary.contender.label);
        if histogram.is_empty() {
            continue;
        }
        let max_nines = (histogram.len() as f64).log10().clamp(1.0, 5.0);
        let points: Vec<(f64, f64)> = (0..=200)
            .map(|step| {
                let nines = max_nines * step as f64 / 200.0;
                let quantile = quantile_at(nines).min(1.0);
                (nines, histogram.value_at_quantile(quantile) as f64 / 1000.0)
            })
            .collect();
        curves.push((summary.contender.label.clone(), color(i), points));
    }
    let values = || {
        curves
            .iter()
            .flat_map(|(_, _, p)| p.iter().map(|&(_, y)| y))
    };
    let (low, high) = decades(
        values().fold(f64::INFINITY, f64::min),
        values().fold(0.0, f64::max),
    );
    let right = curves
        .iter()
        .flat_map(|(_, _, p)| p.last().map(|&(x, _)| x))
        .fold(1.0, f64::max);
    let title = match comparison.latency_rate {
        Some(rate) => format!(
            "latency by percentile at {rate:.0} req/s, all rounds (from the planned send time)"
        ),
        None => "latency by percentile, all rounds (closed model)".to_string(),
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (FULL, 400)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 18))
            .margin(10)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..right, (low..high).log_scale())?;
        chart
            .configure_mesh()
            .x_labels(right.ceil() as usize + 1)
            .x_label_formatter(&|nines| nines_label(*nines))
            // Few labels: more would label a log axis between its decades too, crowded at the top.
            .y_labels(6)
            .y_label_formatter(&|ms| tick(*ms))
            .x_desc("percentile")
            .y_desc("latency (ms, log scale)")
            .label_style((FONT, 14))
            .light_line_style(BLACK.mix(0.04))
            .axis_desc_style((FONT, 14))
            .draw()?;
        for (name, color, points) in &curves {
            let color = *color;
            chart
                .draw_series(LineSeries::new(
                    points.iter().map(|&(x, y)| (x, y.max(low))),
                    color.stroke_width(2),
                ))?
                .label(name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        upper_left_legend(&mut chart)?;
        root.present()?;
    }
    Ok(svg)
}

/// What a timeline chart shows of each second.
#[derive(Clone, Copy)]
enum Series {
    Successes,
    P99,
    Errors,
}

impl Series {
    const ALL: [Series; 3] = [Series::Successes, Series::P99, Series::Errors];

    fn title(self) -> &'static str {
        match self {
            Series::Successes => "successful requests per second",
            Series::P99 => "p99 of each second",
            Series::Errors => "errors per second",
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Series::Successes => "ok req/s",
            Series::P99 => "ms, log scale",
            Series::Errors => "errors/s",
        }
    }

    /// The value of a second that lasted `seconds` (the last one of a run
    /// may be short: counts become rates so that it does not look like a
    /// drop). A second in which nothing ended has no p99.
    fn of(self, second: &Second, seconds: f64) -> Option<f64> {
        match self {
            Series::Successes => Some(second.successes as f64 / seconds),
            Series::P99 => (second.completed > 0).then(|| second.p99_us as f64 / 1000.0),
            Series::Errors => Some(second.errors as f64 / seconds),
        }
    }
}

/// Seconds from the start to the end of the run (the warm-up included).
fn run_length(record: &RunRecord) -> f64 {
    record.config.warmup_seconds + record.config.duration_seconds
}

/// A run's seconds as points, each in the middle of the time it covers.
/// The entry after the end (what ended in the grace period) is left out:
/// it covers no time of the run.
fn points(record: &RunRecord, metric: Series) -> Vec<(f64, f64)> {
    let end = run_length(record);
    record
        .timeline
        .iter()
        .filter_map(|second| {
            let from = second.second as f64 - 1.0;
            let to = (second.second as f64).min(end);
            if to <= from {
                return None;
            }
            let value = metric.of(second, to - from)?;
            Some(((from + to) / 2.0, value))
        })
        .collect()
}

/// One run's line in a timeline chart.
struct Line {
    color: RGBColor,
    /// The stack's median round is drawn bold, its other rounds faint.
    bold: bool,
    points: Vec<(f64, f64)>,
}

/// What every timeline chart of a phase shares.
struct Timeline {
    end: f64,
    warmup: f64,
}

/// The round of `summary` whose `figure` is nearest its median: the one
/// drawn bold as the stack's typical run.
fn median_round(summary: &ContenderSummary, figure: Figure) -> Option<u32> {
    let median = summary.spread(figure)?.median;
    let distance = |round: &&crate::measure::comparison::RoundFigures| {
        round
            .figures
            .get(&figure)
            .map_or(f64::INFINITY, |v| (v - median).abs())
    };
    summary
        .rounds
        .iter()
        .min_by(|a, b| distance(a).total_cmp(&distance(b)))
        .map(|round| round.round)
}

/// The figure a phase is judged on, which picks its median round.
fn phase_figure(phase: Phase) -> Figure {
    match phase {
        Phase::Throughput => Figure::Throughput,
        Phase::Latency => Figure::P99,
        Phase::Capacity => Figure::Capacity,
    }
}

fn timeline_chart(timeline: &Timeline, metric: Series, lines: &[Line]) -> Drawn {
    let values = || lines.iter().flat_map(|l| l.points.iter().map(|&(_, y)| y));
    let high = values().fold(0.0, f64::max);
    match metric {
        Series::P99 => {
            let (low, high) = decades(values().fold(f64::INFINITY, f64::min), high);
            line_chart(
                metric,
                timeline,
                lines,
                (low..high).log_scale(),
                (low, high),
            )
        }
        // At least 0..1, so that a run without errors has a readable axis.
        Series::Successes | Series::Errors => {
            let high = (high * 1.1).max(1.0);
            line_chart(metric, timeline, lines, 0.0..high, (0.0, high))
        }
    }
}

/// Seconds across, one line per run, the warm-up shaded; `y` is the value
/// axis (linear or log) spanning `bounds`.
fn line_chart<Y>(
    metric: Series,
    timeline: &Timeline,
    lines: &[Line],
    y: Y,
    bounds: (f64, f64),
) -> Drawn
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (HALF, 250)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(metric.title(), (FONT, 16))
            .margin(10)
            .x_label_area_size(38)
            .y_label_area_size(55)
            .build_cartesian_2d(0.0..timeline.end, y)?;
        chart
            .configure_mesh()
            .x_labels((timeline.end as usize + 1).min(13))
            .x_label_formatter(&|x| {
                let whole = (x - x.round()).abs() < 1e-6;
                if whole {
                    format!("{x:.0}")
                } else {
                    String::new()
                }
            })
            // Few labels: more would label a log axis between its decades too, crowded at the top.
            .y_labels(6)
            .y_label_formatter(&|y| tick(*y))
            .x_desc("seconds from the start")
            .y_desc(metric.unit())
            .label_style((FONT, 13))
            .light_line_style(BLACK.mix(0.04))
            .axis_desc_style((FONT, 13))
            .draw()?;
        chart.draw_series([Rectangle::new(
            [(0.0, bounds.0), (timeline.warmup, bounds.1)],
            BLACK.mix(0.08).filled(),
        )])?;
        // Faint lines first, so the bold ones stay on top.
        for bold in [false, true] {
            for line in lines.iter().filter(|l| l.bold == bold) {
                let style = if bold {
                    line.color.stroke_width(2)
                } else {
                    line.color.mix(0.35).stroke_width(1)
                };
                chart.draw_series(LineSeries::new(
                    line.points.iter().map(|&(x, v)| (x, v.max(bounds.0))),
                    style,
                ))?;
            }
        }
        root.present()?;
    }
    Ok(svg)
}

/// Phases that ran, in the order they ran.
fn phases(comparison: &Comparison) -> Vec<Phase> {
    [Phase::Throughput, Phase::Latency]
        .into_iter()
        .filter(|&phase| comparison.runs.iter().any(|run| run.phase == phase))
        .collect()
}

fn phase_title(comparison: &Comparison, phase: Phase) -> String {
    let config = comparison
        .runs
        .iter()
        .find(|run| run.phase == phase)
        .map(|run| &run.record.config);
    match (phase, config) {
        (Phase::Latency, Some(config)) => format!(
            "latency phase: open model at {:.0} req/s",
            config.rate.unwrap_or_default()
        ),
        (_, Some(config)) => match config.connections {
            Some(n) => format!("{phase} phase: closed model, {n} connections"),
            None => format!("{phase} phase: {} model", config.model),
        },
        _ => format!("{phase} phase"),
    }
}

/// Per stack: its colour, and which round is drawn bold in each phase.
fn timeline_legend(comparison: &Comparison, phases: &[Phase]) -> String {
    let mut html = String::from("<p class=\"legend\">");
    for (i, summary) in comparison.summary.iter().enumerate() {
        let bold: Vec<String> = phases
            .iter()
            .filter_map(|&phase| {
                let round = median_round(summary, phase_figure(phase))?;
                Some(format!("round {round} of the {phase} phase"))
            })
            .collect();
        let _ = write!(
            html,
            "<span><b style=\"color:{}\">&#9632;</b> {} (bold: {})</span>",
            css(color(i)),
            escape(&summary.contender.label),
            escape(&bold.join(", "))
        );
    }
    html.push_str("</p>");
    html
}

/// The timeline charts: a row per metric, a column per phase.
fn timelines(comparison: &Comparison) -> Result<String, Box<dyn std::error::Error>> {
    let phases = phases(comparison);
    let mut html = format!(
        "<h2>Over time</h2>{}<div class=\"grid\" style=\"grid-template-columns:repeat({},1fr)\">",
        timeline_legend(comparison, &phases),
        phases.len().max(1)
    );
    for phase in &phases {
        let _ = write!(
            html,
            "<h3>{}</h3>",
            escape(&phase_title(comparison, *phase))
        );
    }
    for metric in Series::ALL {
        for &phase in &phases {
            let mut timeline = Timeline {
                end: 1.0,
                warmup: 0.0,
            };
            let mut lines = Vec::new();
            for (i, summary) in comparison.summary.iter().enumerate() {
                let bold = median_round(summary, phase_figure(phase));
                for run in runs(comparison, phase, &summary.contender.label) {
                    timeline.end = timeline.end.max(run_length(&run.record).ceil());
                    timeline.warmup = timeline.warmup.max(run.record.config.warmup_seconds);
                    lines.push(Line {
                        color: color(i),
                        bold: Some(run.round) == bold,
                        points: points(&run.record, metric),
                    });
                }
            }
            let svg = timeline_chart(&timeline, metric, &lines)?;
            let _ = write!(html, "<figure class=\"timeline\">{svg}</figure>");
        }
    }
    html.push_str(
        "</div><p class=\"note\">One line per run: bold, the stack's median round (by throughput in the \
         throughput phase, by p99 in the latency phase); faint, its other rounds. Grey: the warm-up \
         (sent, not counted). Each point is the middle of its second; a short last second is scaled to a \
         rate. Errors in no second (requests that ended in the grace period after the end, or were \
         never sent) are left out here; the table per endpoint counts them.</p>",
    );
    Ok(html)
}

/// One endpoint of one stack, over its runs of a phase.
struct EndpointTotals {
    requests: u64,
    successes: u64,
    errors: u64,
    seconds: f64,
    latency: Histogram<u64>,
}

fn endpoint_totals(
    comparison: &Comparison,
    phase: Phase,
    contender: &str,
    name: &str,
) -> EndpointTotals {
    let mut totals = EndpointTotals {
        requests: 0,
        successes: 0,
        errors: 0,
        seconds: 0.0,
        latency: new_histogram(),
    };
    for run in runs(comparison, phase, contender) {
        let Some(endpoint) = run.record.endpoints.iter().find(|e| e.name == name) else {
            continue;
        };
        let figures = &endpoint.figures;
        totals.requests += figures.requests;
        totals.successes += figures.successes;
        totals.errors += figures.error_count();
        totals.seconds += run.record.measured_seconds;
        if let Ok(histogram) = figures.histogram() {
            let _ = totals.latency.add(&histogram);
        }
    }
    totals
}

/// Per endpoint, each stack's figures over all its rounds of the latency
/// phase: counts summed, the rate over the summed measured time, the
/// percentiles of the merged histograms (every request, not a median of
/// rounds).
fn endpoint_table(comparison: &Comparison) -> String {
    let phase = latency_phase(comparison);
    let mut names: Vec<&str> = Vec::new();
    for run in comparison.runs.iter().filter(|run| run.phase == phase) {
        for endpoint in &run.record.endpoints {
            if !names.contains(&endpoint.name.as_str()) {
                names.push(&endpoint.name);
            }
        }
    }
    let mut html = format!(
        "<h2>Per endpoint</h2><p class=\"note\">{}, all rounds merged: requests and errors summed, \
         ok req/s over the rounds' measured time, p50 and p99 of every request of the rounds.</p>\
         <table id=\"endpoints\"><thead><tr><th>endpoint</th><th>stack</th><th>requests</th>\
         <th>ok req/s</th><th>errors</th><th>p50</th><th>p99</th></tr></thead><tbody>",
        escape(&phase_title(comparison, phase))
    );
    for name in names {
        for (i, summary) in comparison.summary.iter().enumerate() {
            let totals = endpoint_totals(comparison, phase, &summary.contender.label, name);
            let percentile = |q| {
                if totals.latency.is_empty() {
                    "-".to_string()
                } else {
                    format_us(totals.latency.value_at_quantile(q) as f64)
                }
            };
            let first = if i == 0 {
                format!(
                    "<td class=\"name\" rowspan=\"{}\">{}</td>",
                    comparison.summary.len(),
                    escape(name)
                )
            } else {
                String::new()
            };
            let _ = write!(
                html,
                "<tr class=\"{group}\">{first}<td class=\"name\">{stack}</td><td>{}</td><td>{:.0}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                totals.requests,
                totals.successes as f64 / totals.seconds.max(1e-9),
                totals.errors,
                percentile(0.5),
                percentile(0.99),
                group = if i == 0 { "first" } else { "" },
                stack = escape(&summary.contender.label),
            );
        }
    }
    html.push_str("</tbody></table>");
    html
}

/// One row of the summary table: each figure's median (min-max), `-`
/// where the row has no such figure.
fn figure_row(
    name: &str,
    class: &str,
    columns: &[Figure],
    spreads: &Figures<Spread>,
    errors: u64,
) -> String {
    let mut html = format!("<tr class=\"{class}\"><td>{}</td>", escape(name));
    for &figure in columns {
        let cell = spreads
            .get(&figure)
            .map_or("-".into(), |s| text::spread(figure, *s));
        let _ = write!(html, "<td>{}</td>", escape(&cell));
    }
    let _ = write!(html, "<td>{errors}</td></tr>");
    html
}

fn summary_table(comparison: &Comparison) -> String {
    let columns = text::columns(comparison);
    let mut html = String::from("<table><thead><tr><th>stack</th>");
    for &figure in &columns {
        let _ = write!(
            html,
            "<th>{}</th>",
            escape(&text::figure_title(figure, comparison))
        );
    }
    html.push_str("<th>errors</th></tr></thead><tbody>");
    for s in &comparison.summary {
        let row = figure_row(&s.contender.label, "", &columns, &s.spreads, s.errors);
        html.push_str(&row);
    }
    if let Some(ceiling) = &comparison.ceiling {
        let row = figure_row(
            CEILING_LABEL,
            "ceiling",
            &columns,
            &ceiling.spreads,
            ceiling.failed(),
        );
        html.push_str(&row);
    }
    html.push_str("</tbody></table>");
    html
}

/// Each contender over the ceiling: what the HTTP stack costs.
fn ceiling_table(comparison: &Comparison) -> String {
    let Some(ceiling) = &comparison.ceiling else {
        return String::new();
    };
    let read = match (&comparison.capacity, comparison.latency_rate) {
        (Some(_), _) => "capacity as a fraction of the database's".to_string(),
        (None, Some(rate)) => format!(
            "throughput as a fraction of the database's; latency (at {rate:.0} req/s) as a \
             multiple of the database's at the same rate"
        ),
        (None, None) => "throughput as a fraction of the database's; latency (closed model) as \
                         a multiple of the database's"
            .into(),
    };
    let mut command = (ceiling.runs.iter().map(|run| &run.record.command)).chain(
        (ceiling.searches.iter())
            .flat_map(|search| search.steps())
            .map(|step| &step.record.command),
    );
    let columns = text::over_ceiling_columns(comparison);
    let mut html = format!(
        "<h2>Over the ceiling</h2><p class=\"note\">The ceiling is PostgreSQL alone running the same SQL \
         (pgbench on the scenario's <code>ceiling</code> scripts, over {connections} connections like a \
         server's pool), interleaved with the stacks in every round. Each round's ratio, median (min-max) \
         over rounds: {read}.</p><table id=\"ceiling\"><thead><tr><th>stack</th>",
        connections = ceiling.connections(),
    );
    for (_, title) in &columns {
        let _ = write!(html, "<th>{}</th>", escape(title));
    }
    html.push_str("</tr></thead><tbody>");
    for over in &ceiling.contenders {
        let _ = write!(html, "<tr><td>{}</td>", escape(&over.contender));
        for (figure, _) in &columns {
            let cell = text::over_ceiling_cell(&over.ratios, *figure);
            let _ = write!(html, "<td>{}</td>", escape(&cell));
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table>");
    if let Some(command) = command.next() {
        let _ = write!(
            html,
            "<p class=\"note\">pgbench: <code>{}</code></p>",
            escape(command)
        );
    }
    html
}

fn verdicts(comparison: &Comparison) -> String {
    let verdicts = &comparison.verdicts;
    let mut html = String::new();
    if let Some(caveat) = &verdicts.caveat {
        let _ = write!(html, "<p class=\"caveat\">{}</p>", escape(caveat));
    }
    html.push_str("<ul class=\"verdicts\">");
    for figure in &verdicts.figures {
        let _ = write!(html, "<li>{}</li>", escape(&figure.text));
    }
    html.push_str("</ul>");
    html
}

/// The charts of each stack's rounds: median bars, min-max whiskers, a dot
/// per round.
fn round_charts(comparison: &Comparison) -> Result<String, Box<dyn std::error::Error>> {
    let p99 = format!(
        "p99 (ms, {}; median, min-max, each round)",
        match comparison.latency_rate {
            Some(rate) => format!("at {rate:.0} req/s"),
            None => "closed model".into(),
        }
    );
    let charts = [
        bar_chart(
            "throughput (ok req/s, closed model; median of rounds, min-max, each round a dot)",
            "ok req/s",
            &bars(comparison, Figure::Throughput, 1.0),
        )?,
        bar_chart(&p99, "ms", &bars(comparison, Figure::P99, 1000.0))?,
        bar_chart(
            "server CPU per 1000 requests (median, min-max, each round)",
            "CPU ms",
            &bars(comparison, Figure::CpuPerRequest, 1.0),
        )?,
        latency_chart(comparison)?,
    ];
    let mut html = String::from("<h2>Each stack, each round</h2>");
    for svg in charts {
        let _ = write!(html, "<figure>{svg}</figure>");
    }
    Ok(html)
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1020px;margin:1.5em auto;color:#222}\
    table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}\
    td:first-child,th:first-child,td.name{text-align:left}\
    #endpoints tr.first td{border-top:2px solid #888}tr.ceiling td{font-style:italic;background:#f6f6f6}\
    figure{margin:0.5em 0}svg{max-width:100%;height:auto}.caveat{font-weight:bold}\
    .grid{display:grid;column-gap:20px}.grid h3{margin:0.5em 0;font-size:1em}\
    .legend span{display:block}.note{color:#555;font-size:0.9em}\
    code{background:#f4f4f4;padding:2px 4px}";

/// The whole page.
pub fn report(comparison: &Comparison) -> anyhow::Result<String> {
    let chart_error = |e: Box<dyn std::error::Error>| anyhow::anyhow!("drawing a chart: {e}");
    let (charts, phases) = match &comparison.capacity {
        Some(phase) => (
            capacity::charts(comparison, phase)?,
            format!("capacity: {}", phase.method),
        ),
        None => (
            round_charts(comparison).map_err(chart_error)?
                + &timelines(comparison).map_err(chart_error)?
                + &endpoint_table(comparison),
            format!(
                "throughput: closed model; latency: {}",
                match comparison.latency_rate {
                    Some(rate) => format!(
                        "open model at {rate:.0} req/s for every stack, from the planned send time"
                    ),
                    None => "closed model".into(),
                }
            ),
        ),
    };
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>stackbench: {scenario}</title><style>{STYLE}</style></head><body>\
         <h1>stackbench: {scenario}</h1>{verdicts}{table}{ceiling}{charts}",
        scenario = escape(&comparison.header.scenario),
        verdicts = verdicts(comparison),
        table = summary_table(comparison),
        ceiling = ceiling_table(comparison),
    );
    let _ = writeln!(
        html,
        "<h2>How this was measured</h2><ul>{how}\
         <li>{rounds} round(s), interleaved: {order}</li>\
         <li>{phases}</li>\
         <li>verdicts: {method}</li></ul></body></html>",
        how = measured_by(&comparison.header),
        rounds = comparison.rounds,
        order = escape(&comparison.order.join(", ")),
        phases = escape(&phases),
        method = escape(&comparison.verdicts.method),
    );
    Ok(html)
}

/// A chart's title, what its latency is, the highest offered load and the
/// latency range (ms).
type LoadAxes<'t> = (&'t str, &'t str, f64, (f64, f64));

/// The axes of latency (ms, log scale) against offered load (req/s), as
/// the sweep and the capacity comparison draw them.
/// (Its error is a string: the drawing error borrows the chart's SVG.)
fn load_chart<'a>(
    root: &DrawingArea<SVGBackend<'a>, Shift>,
    (title, latency, right, (low, high)): LoadAxes<'_>,
) -> Result<ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, LogCoord<f64>>>, String> {
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 18))
        .margin(10)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..right, (low..high).log_scale())
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .y_labels(6)
        .y_label_formatter(&|ms| tick(*ms))
        .x_desc("offered load (req/s)")
        .y_desc(format!("{latency} (ms, log scale)"))
        .label_style((FONT, 14))
        .light_line_style(BLACK.mix(0.04))
        .axis_desc_style((FONT, 14))
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(chart)
}

/// The series' names in a box at the upper left, as the latency charts have it.
/// (Its error is a string: the drawing error borrows the chart's SVG.)
fn upper_left_legend<'a>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, LogCoord<f64>>>,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())
}

/// The list items every report has: the command, the machine, the commit
/// and the start.
fn measured_by(header: &Header) -> String {
    let machine = &header.machine;
    format!(
        "<li>command: <code>{command}</code></li>\
         <li>machine: {cpu}, {cores} cores, kernel {kernel}, {memory:.1} GiB</li>\
         <li>git commit: {commit}</li><li>started: {started}</li>",
        command = escape(&header.command),
        cpu = escape(&machine.cpu_model),
        cores = machine.cores,
        kernel = escape(&machine.kernel),
        memory = machine.memory_bytes as f64 / 1073741824.0,
        commit = escape(header.git_commit.as_deref().unwrap_or("unknown")),
        started = escape(&header.started_at),
    )
}

/// A sweep as a page: latency against offered load, its table, and how it
/// was measured.
pub fn sweep(record: &SweepRecord) -> anyhow::Result<String> {
    let chart = sweep_chart(record).map_err(|e| anyhow::anyhow!("drawing a chart: {e}"))?;
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>stackbench sweep: {scenario}</title><style>{STYLE}</style></head><body>\
         <h1>stackbench sweep: {scenario} against {target}</h1><figure>{chart}</figure>\
         <p>Latency from the planned send time of every request of each step. A hollow mark is \
         a step the server did not keep up with (its queue grew within the step, so its \
         latency is the step's length more than the server's); a grey one a step whose \
         generator fell behind.</p><pre>{table}</pre>\
         <h2>How this was measured</h2><ul>{how}<li>each step: {step:.1} s measured after \
         {warmup:.1} s of warm-up, {drain:.1} s of drain before it; rates from {from}</li>\
         </ul></body></html>\n",
        scenario = escape(&record.header.scenario),
        target = escape(&record.target.url),
        table = escape(&text::sweep(record)),
        how = measured_by(&record.header),
        step = record.step_seconds,
        warmup = record.warmup_seconds,
        drain = record.drain_seconds,
        from = escape(&record.rates_from),
    ))
}

/// A percentile's name and where a step's latency holds it.
type Percentile = (&'static str, fn(&Latency) -> u64);

/// The percentiles a sweep's chart draws, each a line across the steps.
const SWEEP_PERCENTILES: [Percentile; 4] = [
    ("p50", |l| l.p50_us),
    ("p90", |l| l.p90_us),
    ("p99", |l| l.p99_us),
    ("p99.9", |l| l.p99_9_us),
];

/// Latency (log axis) against offered load, a line per percentile; a step
/// the server did not keep up with is a hollow mark, one whose generator
/// fell behind a grey one.
fn sweep_chart(record: &SweepRecord) -> Drawn {
    let steps = &record.steps;
    let ms = |us: u64| (us as f64 / 1000.0).max(0.001);
    let values = || {
        steps.iter().flat_map(|step| {
            SWEEP_PERCENTILES
                .iter()
                .map(|(_, of)| ms(of(&step.latency)))
        })
    };
    let (low, high) = decades(
        values().fold(f64::INFINITY, f64::min),
        values().fold(0.0, f64::max),
    );
    let right = 1.05 * steps.iter().map(|s| s.offered_rps).fold(1.0, f64::max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (FULL, 450)).into_drawing_area();
        root.fill(&WHITE)?;
        let axes = (
            "latency against offered load",
            "latency",
            right,
            (low, high),
        );
        let mut chart = load_chart(&root, axes)?;
        for (i, (name, of)) in SWEEP_PERCENTILES.iter().enumerate() {
            let color = color(i);
            let points: Vec<(f64, f64, &SweepStep)> = (steps.iter())
                .map(|step| (step.offered_rps, ms(of(&step.latency)), step))
                .collect();
            chart
                .draw_series(LineSeries::new(
                    points.iter().map(|&(x, y, _)| (x, y)),
                    color.stroke_width(2),
                ))?
                .label(*name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart.draw_series(points.iter().map(|&(x, y, step)| {
                let mark = if step.valid {
                    color
                } else {
                    RGBColor(150, 150, 150)
                };
                let style = if step.stationary {
                    mark.filled()
                } else {
                    mark.stroke_width(2)
                };
                Circle::new((x, y), 5, style)
            }))?;
        }
        upper_left_legend(&mut chart)?;
        root.present()?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_labels_have_no_spurious_decimals() {
        let labels: Vec<String> = [0.0, 1200.0, 12.5, 2.5, 0.1 + 0.2, 0.05, 1e-2, 100.0]
            .into_iter()
            .map(tick)
            .collect();
        assert_eq!(
            labels,
            ["0", "1200", "12.5", "2.5", "0.3", "0.05", "0.01", "100"]
        );
        assert_eq!(nines_label(3.0), "99.9%");
        assert_eq!(nines_label(1.0), "90%");
        assert_eq!(nines_label(1.5), "");
    }

    #[test]
    fn log_axes_span_whole_decades() {
        let spans = |(low, high): (f64, f64), (a, b): (f64, f64)| {
            low <= a && a / low < 1.01 && high >= b && high / b < 1.01
        };
        assert!(spans(decades(2.0, 8.0), (1.0, 10.0)));
        assert!(spans(decades(0.3, 150.0), (0.1, 1000.0)));
        assert!(spans(decades(10.0, 10.0), (10.0, 100.0)));
        assert!(spans(decades(f64::INFINITY, 0.0), (1.0, 10.0)));
    }
}
