//! The replay chart, drawn with plotters: the load (as shards needed at 100% usage) and the
//! provisioned shards over time, reshards marked, throttled periods shaded, a legend and the
//! summary under it. PNG or SVG, by the output file's extension.
//!
//! Text goes through a font bundled in the binary (`assets/fonts`, a 11 kB subset of DejaVu
//! Sans), so PNGs render the same on a machine without any system font.

use crate::domain::event::Direction;
use crate::replay::simulate::{needed_shards, Outcome};
use chrono::{DateTime, Duration, Utc};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

const WIDTH: u32 = 1200;
const HEIGHT: u32 = 620;
const FONT: &str = "sans-serif";
const LOAD: RGBColor = RGBColor(30, 136, 229);
const SHARDS: RGBColor = RGBColor(239, 108, 0);
const UP: RGBColor = RGBColor(46, 125, 50);
const DOWN: RGBColor = RGBColor(106, 27, 154);
const THROTTLED: RGBColor = RGBColor(229, 57, 53);

#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("plot file {0}: unknown format; name it .png or .svg")]
    Format(String),
    #[error("the bundled font could not be loaded")]
    Font,
    #[error("drawing {path}: {why}")]
    Draw { path: String, why: String },
}

/// The image formats, chosen by the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Svg,
}

pub fn format_of(path: &Path) -> Result<Format, PlotError> {
    match path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .as_deref()
    {
        Some("png") => Ok(Format::Png),
        Some("svg") => Ok(Format::Svg),
        _ => Err(PlotError::Format(path.display().to_string())),
    }
}

fn register_font() -> Result<(), PlotError> {
    static FONT_DATA: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-subset.ttf");
    static LOADED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *LOADED
        .get_or_init(|| plotters::style::register_font(FONT, FontStyle::Normal, FONT_DATA).is_ok());
    if ok {
        Ok(())
    } else {
        Err(PlotError::Font)
    }
}

/// Writes the chart of `outcome` (which must have kept its timeline) to `path`, as PNG or SVG
/// by its extension.
pub fn write(path: &Path, outcome: &Outcome, title: &str) -> Result<(), PlotError> {
    let format = format_of(path)?;
    register_font()?;
    let draw_error = |why: String| PlotError::Draw {
        path: path.display().to_string(),
        why,
    };
    match format {
        Format::Png => {
            let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
            draw(&root, outcome, title).map_err(draw_error)?;
            root.present().map_err(|e| draw_error(e.to_string()))
        }
        Format::Svg => {
            let mut text = String::new();
            {
                let root = SVGBackend::with_string(&mut text, (WIDTH, HEIGHT)).into_drawing_area();
                draw(&root, outcome, title).map_err(draw_error)?;
                root.present().map_err(|e| draw_error(e.to_string()))?;
            }
            std::fs::write(path, text).map_err(|e| draw_error(e.to_string()))
        }
    }
}

/// The SVG document as a string; a chart that cannot be drawn is an SVG saying why.
pub fn render(outcome: &Outcome, title: &str) -> String {
    render_svg(outcome, title).unwrap_or_else(|err| {
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"600\" height=\"40\"><text x=\"10\" y=\"25\">{}</text></svg>\n",
            err.to_string().replace('&', "&amp;").replace('<', "&lt;")
        )
    })
}

/// The SVG document as a string.
pub fn render_svg(outcome: &Outcome, title: &str) -> Result<String, PlotError> {
    register_font()?;
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, (WIDTH, HEIGHT)).into_drawing_area();
        let to_error = |why: String| PlotError::Draw {
            path: "(memory)".into(),
            why,
        };
        draw(&root, outcome, title).map_err(to_error)?;
        root.present().map_err(|e| to_error(e.to_string()))?;
    }
    Ok(text)
}

/// The time axis: hours or days from the first period, labelled as UTC dates.
struct TimeAxis {
    t0: DateTime<Utc>,
    unit_secs: f64,
    label: &'static str,
}

impl TimeAxis {
    fn new(t0: DateTime<Utc>, span_secs: f64) -> Self {
        let (unit_secs, label) = if span_secs > 3.0 * 86_400.0 {
            (86_400.0, "%b %d")
        } else {
            (3_600.0, "%b %d %H:%M")
        };
        TimeAxis {
            t0,
            unit_secs,
            label,
        }
    }

    fn x(&self, t: DateTime<Utc>) -> f64 {
        (t - self.t0).num_seconds() as f64 / self.unit_secs
    }

    fn format(&self, x: f64) -> String {
        let t = self.t0 + Duration::seconds((x * self.unit_secs).round() as i64);
        t.format(self.label).to_string()
    }
}

/// The load in shards needed, at most one point per pixel column: each column keeps its peak,
/// so no spike is lost to down-sampling.
fn load_points(outcome: &Outcome, axis: &TimeAxis, x_max: f64, columns: usize) -> Vec<(f64, f64)> {
    let s = &outcome.summary;
    let period = s.period_secs as f64;
    let needs = outcome.timeline.iter().map(|r| {
        (
            axis.x(r.timestamp),
            needed_shards(r.incoming_bytes, r.incoming_records, period),
        )
    });
    if outcome.timeline.len() <= columns {
        return needs.collect();
    }
    let mut peak: Vec<Option<(f64, f64)>> = vec![None; columns + 1];
    for (x, need) in needs {
        let c = ((x / x_max) * columns as f64)
            .floor()
            .clamp(0.0, columns as f64) as usize;
        peak[c] = Some(match peak[c] {
            Some((x0, v)) => (x0, v.max(need)),
            None => (x, need),
        });
    }
    peak.into_iter().flatten().collect()
}

/// Runs of throttled periods as (start, end) on the time axis.
fn throttled_runs(outcome: &Outcome, axis: &TimeAxis) -> Vec<(f64, f64)> {
    let period = Duration::seconds(outcome.summary.period_secs);
    let mut runs: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for r in outcome
        .timeline
        .iter()
        .filter(|r| r.throttled_records > 0.0)
    {
        match runs.last_mut() {
            Some((_, end)) if *end == r.timestamp => *end = r.timestamp + period,
            _ => runs.push((r.timestamp, r.timestamp + period)),
        }
    }
    runs.into_iter()
        .map(|(a, b)| (axis.x(a), axis.x(b)))
        .collect()
}

fn summary_line(outcome: &Outcome) -> String {
    let s = &outcome.summary;
    format!(
        "{}: {:.0} shard-hours (perfect: {:.0}), {:.3}% of records throttled, {} reshards ({} up, {} down), ${:.2} provisioned vs ${:.2} on demand",
        s.variant,
        s.shard_hours,
        s.oracle_shard_hours,
        100.0 * s.throttled_fraction,
        s.reshards,
        s.scale_ups,
        s.scale_downs,
        s.provisioned_cost_usd,
        s.on_demand_cost_usd
    )
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    outcome: &Outcome,
    title: &str,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let rows = &outcome.timeline;
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        root.draw(&Text::new(
            "empty trace: nothing to draw",
            (40, 40),
            (FONT, 18).into_font(),
        ))
        .map_err(err)?;
        return Ok(());
    };
    let period = outcome.summary.period_secs;
    let t1 = last.timestamp + Duration::seconds(period);
    let axis = TimeAxis::new(first.timestamp, (t1 - first.timestamp).num_seconds() as f64);
    let x_max = axis.x(t1).max(1e-6);
    let load = load_points(outcome, &axis, x_max, 1100);

    let top_need = load.iter().map(|(_, v)| *v).fold(0.0, f64::max);
    let top_shards = f64::from(rows.iter().map(|r| r.shards).max().unwrap_or(1));
    let top = top_need.max(top_shards).max(1.0);
    let mut positive: Vec<f64> = load.iter().map(|(_, v)| *v).filter(|v| *v > 0.0).collect();
    positive.sort_by(f64::total_cmp);
    let median = positive.get(positive.len() / 2).copied().unwrap_or(1.0);
    // One spike 50x the usual load would flatten everything else into the floor.
    let log = top / median.max(0.01) > 50.0;

    let (chart_area, footer) = root.split_vertically(HEIGHT - 36);
    footer
        .draw(&Text::new(
            summary_line(outcome),
            (20, 8),
            (FONT, 14).into_font().color(&BLACK.mix(0.8)),
        ))
        .map_err(err)?;

    let steps = shard_steps(outcome, &axis, t1);
    let mut builder = ChartBuilder::on(&chart_area);
    builder
        .caption(title, (FONT, 20).into_font())
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60);
    let y_desc = if log { "shards (log scale)" } else { "shards" };
    if log {
        let floor = (median / 10.0).clamp(0.01, 1.0);
        // The top quarter of the height stays free for the legend.
        let ceiling = top * (top / floor).powf(0.35);
        let mut chart = builder
            .build_cartesian_2d(0.0..x_max, (floor..ceiling).log_scale())
            .map_err(err)?;
        let clamp = |v: f64| v.max(floor);
        chart
            .configure_mesh()
            .x_labels(10)
            .x_label_formatter(&|x| axis.format(*x))
            .y_label_formatter(&|v| shard_label(*v))
            .y_desc(y_desc)
            .x_desc("time (UTC)")
            .label_style((FONT, 13))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(err)?;
        series(
            &mut chart, outcome, &axis, &load, &steps, floor, ceiling, clamp,
        )
        .map_err(err)?;
        legend(&mut chart).map_err(err)?;
    } else {
        let mut chart = builder
            // The top quarter of the height stays free for the legend.
            .build_cartesian_2d(0.0..x_max, 0.0..top * 1.4)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_labels(10)
            .x_label_formatter(&|x| axis.format(*x))
            .y_label_formatter(&|v| shard_label(*v))
            .y_desc(y_desc)
            .x_desc("time (UTC)")
            .label_style((FONT, 13))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(err)?;
        series(
            &mut chart,
            outcome,
            &axis,
            &load,
            &steps,
            0.0,
            top * 1.4,
            |v| v,
        )
        .map_err(err)?;
        legend(&mut chart).map_err(err)?;
    }
    Ok(())
}

fn shard_label(v: f64) -> String {
    if v >= 1.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// The provisioned shards as a step line: one horizontal segment per count.
fn shard_steps(outcome: &Outcome, axis: &TimeAxis, t1: DateTime<Utc>) -> Vec<(f64, f64)> {
    let mut points = Vec::new();
    let mut current: Option<u32> = None;
    for r in &outcome.timeline {
        if current != Some(r.shards) {
            let x = axis.x(r.timestamp);
            if let Some(previous) = current {
                points.push((x, f64::from(previous)));
            }
            points.push((x, f64::from(r.shards)));
            current = Some(r.shards);
        }
    }
    if let Some(c) = current {
        points.push((axis.x(t1), f64::from(c)));
    }
    points
}

#[allow(clippy::too_many_arguments)]
fn series<'a, DB: DrawingBackend + 'a, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
    outcome: &Outcome,
    axis: &TimeAxis,
    load: &[(f64, f64)],
    steps: &[(f64, f64)],
    y_floor: f64,
    y_top: f64,
    clamp: impl Fn(f64) -> f64,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>
where
    Y: Ranged<ValueType = f64>,
{
    let shade = THROTTLED.mix(0.25);
    let runs = throttled_runs(outcome, axis);
    let any_throttled = !runs.is_empty();
    let bands = chart.draw_series(
        runs.into_iter()
            .map(|(a, b)| Rectangle::new([(a, y_floor), (b, y_top)], shade.filled())),
    )?;
    if any_throttled {
        bands
            .label("throttled periods")
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], shade.filled()));
    }
    chart
        .draw_series(LineSeries::new(
            load.iter().map(|(x, v)| (*x, clamp(*v))),
            LOAD.stroke_width(1),
        ))?
        .label("load: shards needed at 100% usage")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], LOAD.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(
            steps.iter().copied(),
            SHARDS.stroke_width(3),
        ))?
        .label("provisioned shards")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], SHARDS.stroke_width(3)));
    let up: Vec<(f64, f64)> = outcome
        .reshards
        .iter()
        .filter(|e| e.direction == Direction::Up)
        .map(|e| (axis.x(e.at), clamp(f64::from(e.to))))
        .collect();
    let down: Vec<(f64, f64)> = outcome
        .reshards
        .iter()
        .filter(|e| e.direction == Direction::Down)
        .map(|e| (axis.x(e.at), clamp(f64::from(e.to))))
        .collect();
    let any_up = !up.is_empty();
    let ups = chart.draw_series(
        up.into_iter()
            .map(|p| TriangleMarker::new(p, 7, UP.filled())),
    )?;
    if any_up {
        ups.label("scale up")
            .legend(|(x, y)| TriangleMarker::new((x + 9, y), 7, UP.filled()));
    }
    let any_down = !down.is_empty();
    let downs = chart.draw_series(down.into_iter().map(|p| {
        EmptyElement::at(p) + Polygon::new(vec![(-6, -4), (6, -4), (0, 7)], DOWN.filled())
    }))?;
    if any_down {
        downs.label("scale down").legend(|(x, y)| {
            Polygon::new(
                vec![(x + 3, y - 4), (x + 15, y - 4), (x + 9, y + 7)],
                DOWN.filled(),
            )
        });
    }
    Ok(())
}

fn legend<'a, DB: DrawingBackend + 'a, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>
where
    Y: Ranged<ValueType = f64>,
{
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font((FONT, 13))
        .draw()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::settings::Settings;
    use crate::replay::simulate::{simulate, Options};
    use crate::replay::trace::{Row, Trace};

    fn outcome() -> Outcome {
        let start = DateTime::from_timestamp(1_767_225_600, 0).unwrap();
        // Two quiet hours, a surge of two hours, quiet again: a reshard up and throttling.
        let rows = (0..24 * 12)
            .map(|i| {
                let per_sec = if (24..48).contains(&i) { 3500.0 } else { 400.0 };
                Row {
                    timestamp: start + Duration::minutes(5 * i),
                    incoming_bytes: per_sec * 300.0 * 500.0,
                    incoming_records: per_sec * 300.0,
                    iterator_age_ms: None,
                }
            })
            .collect();
        let trace = Trace {
            rows,
            period_secs: Some(300),
        };
        simulate(&trace, &Options::new(Settings::default())).unwrap()
    }

    #[test]
    fn the_format_follows_the_extension() {
        assert_eq!(format_of(Path::new("a.PNG")).unwrap(), Format::Png);
        assert_eq!(format_of(Path::new("a.svg")).unwrap(), Format::Svg);
        let err = format_of(Path::new("chart.jpg")).unwrap_err().to_string();
        assert!(
            err.contains("chart.jpg") && err.contains(".png or .svg"),
            "{err}"
        );
    }

    #[test]
    fn the_svg_has_its_series_legend_and_summary() {
        let o = outcome();
        assert!(o.summary.scale_ups > 0 && o.summary.throttled_periods > 0);
        let svg = render_svg(&o, "surge").unwrap();
        for text in [
            "surge",
            "provisioned shards",
            "load: shards needed at 100% usage",
            "throttled periods",
            "scale up",
            "shard-hours",
        ] {
            assert!(svg.contains(text), "{text} missing");
        }
    }

    #[test]
    fn a_png_is_written() {
        let path = std::env::temp_dir().join(format!("plot-test-{}.png", std::process::id()));
        write(&path, &outcome(), "surge").unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert!(bytes.len() > 10_000, "{} bytes", bytes.len());
    }
}
