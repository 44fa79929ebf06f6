//! The comparison as a self-contained HTML page: the summary table and SVG
//! charts drawn with `plotters` (throughput per stack with the rounds'
//! spread, latency percentile curves on a "nines" axis as HdrHistogram's
//! plotter draws them, CPU per request). No script, no network: it opens
//! offline, anywhere.

use std::fmt::Write as _;

use plotters::prelude::*;

use crate::measure::comparison::{Comparison, StackSummary};
use crate::units::format_us;

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

type Drawn = Result<String, Box<dyn std::error::Error>>;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A labelled bar, with an optional min-max whisker.
struct Bar {
    label: String,
    value: f64,
    spread: Option<(f64, f64)>,
}

fn bar_chart(title: &str, unit: &str, bars: &[Bar]) -> Drawn {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 360)).into_drawing_area();
        root.fill(&WHITE)?;
        let top = bars
            .iter()
            .map(|b| b.spread.map_or(b.value, |s| s.1).max(b.value))
            .fold(0.0, f64::max);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..bars.len() as f64, 0.0..(top * 1.15).max(1e-9))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(bars.len() * 2 + 1)
            .x_label_formatter(&|x| {
                let index = (x - 0.5).round();
                if (x - 0.5 - index).abs() < 1e-6 && index >= 0.0 {
                    bars.get(index as usize)
                        .map(|b| b.label.clone())
                        .unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc(unit)
            .draw()?;
        for (i, bar) in bars.iter().enumerate() {
            let x = i as f64;
            let color = PALETTE[i % PALETTE.len()];
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x + 0.2, 0.0), (x + 0.8, bar.value)],
                color.mix(0.8).filled(),
            )))?;
            if let Some((low, high)) = bar.spread {
                chart.draw_series(std::iter::once(ErrorBar::new_vertical(
                    x + 0.5,
                    low,
                    bar.value,
                    high,
                    BLACK.stroke_width(2),
                    12,
                )))?;
            }
        }
        root.present()?;
    }
    Ok(svg)
}

/// The percentile at `nines` on the HdrHistogram axis: 1 -> 90%, 2 -> 99%.
fn quantile_at(nines: f64) -> f64 {
    1.0 - 10f64.powf(-nines)
}

fn latency_chart(comparison: &Comparison) -> Drawn {
    let mut curves = Vec::new();
    let phase = if comparison.latency_rate.is_some() {
        "latency"
    } else {
        "throughput"
    };
    for summary in &comparison.summary {
        let mut histogram = crate::measure::stats::new_histogram();
        for run in comparison
            .runs
            .iter()
            .filter(|r| r.phase == phase && r.stack == summary.stack)
        {
            if let Ok(h) = run.record.total.histogram() {
                histogram.add(&h)?;
            }
        }
        if histogram.is_empty() {
            continue;
        }
        let max_nines = (histogram.len() as f64).log10().clamp(1.0, 5.0);
        let points: Vec<(f64, f64)> = (0..=200)
            .map(|i| {
                let nines = max_nines * i as f64 / 200.0;
                (
                    nines,
                    histogram.value_at_quantile(quantile_at(nines).min(1.0)) as f64 / 1000.0,
                )
            })
            .collect();
        curves.push((summary.stack.name(), points));
    }
    let top = curves
        .iter()
        .flat_map(|(_, p)| p.iter().map(|&(_, y)| y))
        .fold(0.001, f64::max);
    let right = curves
        .iter()
        .flat_map(|(_, p)| p.last().map(|&(x, _)| x))
        .fold(1.0, f64::max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 400)).into_drawing_area();
        root.fill(&WHITE)?;
        let title = match comparison.latency_rate {
            Some(rate) => {
                format!("latency by percentile at {rate:.0} req/s (from the planned send time)")
            }
            None => "latency by percentile (closed model)".to_string(),
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..right, (0.01..top * 1.5).log_scale())?;
        chart
            .configure_mesh()
            .x_labels(right.ceil() as usize + 1)
            .x_label_formatter(&|nines| {
                let percent = 100.0 * quantile_at(*nines);
                let digits = (nines.round() as usize).saturating_sub(2);
                format!("{percent:.digits$}%")
            })
            .x_desc("percentile")
            .y_desc("latency (ms, log scale)")
            .draw()?;
        for (i, (name, points)) in curves.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(
                    points.iter().map(|&(x, y)| (x, y.max(0.01))),
                    color.stroke_width(2),
                ))?
                .label(name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}

fn summary_table(summary: &[StackSummary]) -> String {
    let mut html = String::from(
        "<table><thead><tr><th>stack</th><th>req/s median</th><th>min</th><th>max</th><th>p50</th>\
         <th>p99</th><th>p99.9</th><th>errors</th><th>CPU-ms / 1000 req</th><th>peak RSS</th></tr></thead><tbody>",
    );
    for s in summary {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{:.0}</td><td>{:.0}</td><td>{:.0}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.1} MiB</td></tr>",
            escape(&s.stack.name()),
            s.rps_median,
            s.rps_min,
            s.rps_max,
            format_us(s.p50_us as f64),
            format_us(s.p99_us as f64),
            format_us(s.p99_9_us as f64),
            s.errors,
            s.cpu_ms_per_1000,
            s.peak_rss_bytes as f64 / 1048576.0
        );
    }
    html.push_str("</tbody></table>");
    html
}

/// The whole page.
pub fn report(comparison: &Comparison) -> anyhow::Result<String> {
    let chart_error = |e: Box<dyn std::error::Error>| anyhow::anyhow!("drawing a chart: {e}");
    let throughput: Vec<_> = comparison
        .summary
        .iter()
        .map(|s| Bar {
            label: s.stack.name(),
            value: s.rps_median,
            spread: Some((s.rps_min, s.rps_max)),
        })
        .collect();
    let cpu: Vec<_> = comparison
        .summary
        .iter()
        .map(|s| Bar {
            label: s.stack.name(),
            value: s.cpu_ms_per_1000,
            spread: None,
        })
        .collect();
    let charts = [
        bar_chart(
            "throughput (median of rounds, min-max whiskers)",
            "requests/s",
            &throughput,
        )
        .map_err(chart_error)?,
        latency_chart(comparison).map_err(chart_error)?,
        bar_chart("server CPU per 1000 requests", "CPU ms", &cpu).map_err(chart_error)?,
    ];
    let machine = &comparison.machine;
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>stackbench: {scenario}</title>\
         <style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}\
         td:first-child,th:first-child{{text-align:left}}figure{{margin:1em 0}}.verdict{{font-weight:bold}}\
         code{{background:#f4f4f4;padding:2px 4px}}</style></head><body>\
         <h1>stackbench: {scenario}</h1><p class=\"verdict\">{verdict}</p>{table}",
        scenario = escape(&comparison.scenario),
        verdict = escape(&comparison.verdict),
        table = summary_table(&comparison.summary),
    );
    for svg in &charts {
        let _ = write!(html, "<figure>{svg}</figure>");
    }
    let _ = writeln!(
        html,
        "<h2>How this was measured</h2><ul><li>command: <code>{command}</code></li>\
         <li>machine: {cpu}, {cores} cores, kernel {kernel}, {memory:.1} GiB</li>\
         <li>git commit: {commit}</li><li>started: {started}</li>\
         <li>{rounds} round(s), interleaved: {order}</li>\
         <li>throughput: closed model; latency: {latency}</li></ul></body></html>",
        command = escape(&comparison.command),
        cpu = escape(&machine.cpu_model),
        cores = machine.cores,
        kernel = escape(&machine.kernel),
        memory = machine.memory_bytes as f64 / 1073741824.0,
        commit = escape(comparison.git_commit.as_deref().unwrap_or("unknown")),
        started = escape(&comparison.started_at),
        rounds = comparison.rounds,
        order = escape(&comparison.order.join(", ")),
        latency = match comparison.latency_rate {
            Some(rate) =>
                format!("open model at {rate:.0} req/s for every stack, from the planned send time"),
            None => "closed model".into(),
        },
    );
    Ok(html)
}
