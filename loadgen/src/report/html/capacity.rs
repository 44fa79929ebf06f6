//! The capacity phase of a comparison as charts: each stack's capacity per
//! round, its CPU per request there, and latency against offered load from
//! every step of every search, all stacks on one chart, so that how fast
//! each stack's latency grows near its capacity is seen beside the number.

use std::fmt::Write as _;

use plotters::prelude::*;

use super::{bar_chart, bars, color, decades, load_chart, upper_left_legend, Bar, Drawn, FULL};
use crate::measure::capacity::{CapacityStep, Verdict};
use crate::measure::comparison::{CapacityPhase, CeilingStep, Comparison, CEILING_LABEL};
use crate::measure::figure::Figure;
use crate::measure::record::Latency;
use crate::report::slo_statistic;
use crate::scenario::threshold::Threshold;

/// The ceiling's colour: it is a reference, not a contender.
const CEILING: RGBColor = RGBColor(90, 90, 90);

/// One step as the curve chart draws it.
struct Point {
    rate: f64,
    latency: Latency,
    verdict: Verdict,
}

/// Every step of one stack's (or the ceiling's) searches, over all rounds,
/// and the steps of its sweep after the rounds, if any.
struct Curve {
    label: String,
    color: RGBColor,
    points: Vec<Point>,
    sweep: Vec<Point>,
}

impl Point {
    fn of_step(step: &CapacityStep) -> Point {
        Point {
            rate: step.step.offered_rps,
            latency: step.step.latency,
            verdict: step.verdict,
        }
    }

    fn of_ceiling(step: &CeilingStep) -> Option<Point> {
        Some(Point {
            rate: step.record.rate?,
            latency: step.record.latency,
            verdict: step.verdict,
        })
    }
}

fn curves(comparison: &Comparison, phase: &CapacityPhase) -> Vec<Curve> {
    let mut curves: Vec<Curve> = (comparison.summary.iter().enumerate())
        .map(|(i, summary)| Curve {
            label: summary.contender.label.clone(),
            color: color(i),
            points: (phase.searches.iter())
                .filter(|search| search.contender == summary.contender.label)
                .flat_map(|search| search.steps())
                .map(Point::of_step)
                .collect(),
            sweep: (phase.sweeps.iter())
                .filter(|sweep| sweep.contender == summary.contender.label)
                .flat_map(|sweep| sweep.steps.iter().map(Point::of_step))
                .collect(),
        })
        .collect();
    if let Some(ceiling) = &comparison.ceiling {
        curves.push(Curve {
            label: CEILING_LABEL.into(),
            color: CEILING,
            points: (ceiling.searches.iter())
                .flat_map(|search| search.steps())
                .filter_map(Point::of_ceiling)
                .collect(),
            sweep: (ceiling.sweep.iter())
                .flat_map(|sweep| sweep.steps.iter().filter_map(Point::of_ceiling))
                .collect(),
        });
    }
    curves
}

/// Latency (log axis) against offered load, every step of every search a
/// mark in its stack's colour: filled when it passed, hollow when it
/// failed (the SLO, the error limit, or a queue that grew), grey when its
/// generator fell behind; the SLO a dashed line.
fn curve_chart(comparison: &Comparison, phase: &CapacityPhase) -> Drawn {
    let slo: Threshold = phase.slo.parse()?;
    let (name, statistic) = slo_statistic(&slo);
    let value = |latency: &Latency| (statistic(latency) / 1000.0).max(0.001);
    let curves = curves(comparison, phase);
    let limit_ms = slo.limit() / 1000.0;
    let points = || curves.iter().flat_map(|c| c.points.iter().chain(&c.sweep));
    let values = || points().map(|p| value(&p.latency)).chain([limit_ms]);
    let (low, high) = decades(
        values().fold(f64::INFINITY, f64::min),
        values().fold(0.0, f64::max),
    );
    let right = 1.05 * points().map(|p| p.rate).fold(1.0, f64::max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (FULL, 500)).into_drawing_area();
        root.fill(&WHITE)?;
        let title = if phase.sweeps.is_empty() {
            format!("{name} against offered load, every step of every round")
        } else {
            format!("{name} against offered load: each sweep a line, search steps dots")
        };
        let mut chart = load_chart(&root, (&title, &name, right, (low, high)))?;
        chart.draw_series(DashedLineSeries::new(
            [(0.0, limit_ms), (right, limit_ms)],
            6,
            4,
            BLACK.stroke_width(1),
        ))?;
        for curve in &curves {
            let color = curve.color;
            let mark = |point: &Point, size: i32| {
                let style = match point.verdict {
                    Verdict::Pass => color.filled(),
                    Verdict::Fail => color.stroke_width(2),
                    Verdict::Invalid => RGBColor(190, 190, 190).filled(),
                };
                Circle::new((point.rate, value(&point.latency)), size, style)
            };
            // With a sweep, its line carries the stack; the search steps
            // stay as small dots behind it.
            let size = if curve.sweep.is_empty() { 4 } else { 2 };
            chart.draw_series(curve.sweep.iter().map(|point| mark(point, 5)))?;
            chart.draw_series(LineSeries::new(
                curve.sweep.iter().map(|p| (p.rate, value(&p.latency))),
                color.stroke_width(2),
            ))?;
            chart
                .draw_series(curve.points.iter().map(|point| mark(point, size)))?
                .label(curve.label.as_str())
                .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
        }
        upper_left_legend(&mut chart)?;
        root.present()?;
    }
    Ok(svg)
}

/// The capacity phase's charts: capacity per stack (the ceiling's too),
/// CPU per request at capacity, and the curves.
pub fn charts(comparison: &Comparison, phase: &CapacityPhase) -> anyhow::Result<String> {
    let chart_error = |e: Box<dyn std::error::Error>| anyhow::anyhow!("drawing a chart: {e}");
    let mut capacity = bars(comparison, Figure::Capacity, 1.0);
    if let Some(ceiling) = &comparison.ceiling {
        let spread = ceiling.spreads.get(&Figure::Capacity).copied();
        capacity.extend(spread.map(|spread| {
            Bar {
                label: CEILING_LABEL.into(),
                color: CEILING,
                spread,
                rounds: (ceiling.rounds.iter())
                    .filter_map(|round| round.figures.get(&Figure::Capacity).copied())
                    .collect(),
            }
        }));
    }
    let title = format!(
        "capacity at {} (req/s; median of rounds, min-max, each round a dot)",
        phase.slo
    );
    let charts = [
        bar_chart(&title, "req/s", &capacity).map_err(chart_error)?,
        bar_chart(
            "server CPU per 1000 requests at capacity (median, min-max, each round)",
            "CPU ms",
            &bars(comparison, Figure::CpuPerRequest, 1.0),
        )
        .map_err(chart_error)?,
        curve_chart(comparison, phase).map_err(chart_error)?,
    ];
    let mut html = String::from("<h2>Each stack, each round</h2>");
    for svg in charts {
        let _ = write!(html, "<figure>{svg}</figure>");
    }
    html.push_str(
        "<p class=\"note\">Every step of every search: filled, it passed (valid, stationary, within \
         the SLO and the error limit); hollow, it failed; grey, its generator fell behind. The \
         dashed line is the SLO. A search brackets each round's capacity between its highest \
         pass and its lowest fail, so the marks crowd where a stack's latency crosses the \
         line.</p>",
    );
    if !phase.sweeps.is_empty() {
        html.push_str(
            "<p class=\"note\">A line joins a stack's sweep: after the rounds, one step at each \
             fraction of the median capacity its rounds found, so each stack's latency is seen \
             from light load to past its capacity.</p>",
        );
    }
    Ok(html)
}
