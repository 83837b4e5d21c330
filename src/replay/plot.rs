//! The replay chart, drawn with plotters: the load (as shards needed at 100% usage) and the
//! provisioned shards over time, reshards marked, gaps in the data shaded and left blank, a
//! strip below with the share of each period's records throttled, and the summary under it,
//! measured so that nothing is cut off. PNG or SVG, by the output file's extension.
//!
//! Text goes through a font bundled in the binary (`assets/fonts`, a 11 kB subset of DejaVu
//! Sans), so PNGs render the same on a machine without any system font.

use crate::domain::event::Direction;
use crate::replay::simulate::{needed_shards, Outcome, TimelineRow};
use chrono::{DateTime, Duration, Utc};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

const WIDTH: u32 = 1200;
const HEIGHT: u32 = 700;
/// The summary's two lines under the charts.
const FOOTER: u32 = 56;
/// The throttled-share strip under the main chart.
const STRIP: u32 = 150;
const Y_LABELS: u32 = 60;
const MARGIN: u32 = 12;
const LABEL_SIZE: u32 = 13;
const SUMMARY_SIZE: u32 = 14;
const FONT: &str = "sans-serif";
const LOAD: RGBColor = RGBColor(30, 136, 229);
const SHARDS: RGBColor = RGBColor(239, 108, 0);
const UP: RGBColor = RGBColor(46, 125, 50);
const DOWN: RGBColor = RGBColor(106, 27, 154);
const THROTTLED: RGBColor = RGBColor(229, 57, 53);
const GAP: RGBColor = RGBColor(158, 158, 158);
const COMPARED: RGBColor = RGBColor(84, 110, 122);

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

/// Another replay of the same trace, whose provisioned shards are drawn beside ours.
#[derive(Clone, Copy)]
pub struct Compared<'a> {
    /// Its name in the legend and the summary, e.g. "upstream Go Lambda".
    pub name: &'a str,
    pub outcome: &'a Outcome,
}

/// Writes the chart of `outcome` (which must have kept its timeline) to `path`, as PNG or SVG
/// by its extension.
pub fn write(path: &Path, outcome: &Outcome, title: &str) -> Result<(), PlotError> {
    write_compared(path, outcome, None, title)
}

/// [`write`](fn@write), with `compared`'s provisioned shards drawn beside ours.
pub fn write_compared(
    path: &Path,
    outcome: &Outcome,
    compared: Option<Compared<'_>>,
    title: &str,
) -> Result<(), PlotError> {
    let format = format_of(path)?;
    register_font()?;
    let draw_error = |why: String| PlotError::Draw {
        path: path.display().to_string(),
        why,
    };
    match format {
        Format::Png => {
            let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
            draw(&root, outcome, compared, title).map_err(draw_error)?;
            root.present().map_err(|e| draw_error(e.to_string()))
        }
        Format::Svg => {
            let mut text = String::new();
            {
                let root = SVGBackend::with_string(&mut text, (WIDTH, HEIGHT)).into_drawing_area();
                draw(&root, outcome, compared, title).map_err(draw_error)?;
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
        draw(&root, outcome, None, title).map_err(to_error)?;
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

/// The timeline cut at its gaps (a step longer than one period): each part is drawn apart,
/// so no line crosses a stretch without data.
fn segments(outcome: &Outcome) -> Vec<&[TimelineRow]> {
    let period = Duration::seconds(outcome.summary.period_secs);
    let rows = &outcome.timeline;
    let mut parts = Vec::new();
    let mut start = 0;
    for i in 1..rows.len() {
        if rows[i].timestamp - rows[i - 1].timestamp > period {
            parts.push(&rows[start..i]);
            start = i;
        }
    }
    if start < rows.len() {
        parts.push(&rows[start..]);
    }
    parts
}

/// Stretches without data, as (start, end) on the time axis.
fn gaps(outcome: &Outcome, axis: &TimeAxis) -> Vec<(f64, f64)> {
    let period = Duration::seconds(outcome.summary.period_secs);
    segments(outcome)
        .windows(2)
        .filter_map(|w| {
            let last = w[0].last()?;
            let next = w[1].first()?;
            Some((axis.x(last.timestamp + period), axis.x(next.timestamp)))
        })
        .collect()
}

/// Pixel columns of the time axis: values in one column are merged into their peak, so no
/// spike is lost to down-sampling.
struct Columns {
    count: usize,
    x_max: f64,
}

impl Columns {
    fn of(&self, x: f64) -> usize {
        ((x / self.x_max) * self.count as f64)
            .floor()
            .clamp(0.0, self.count as f64) as usize
    }

    /// `(x, value)` points, at most one per column, each column keeping its peak.
    fn peaks(&self, points: impl Iterator<Item = (f64, f64)>) -> Vec<(f64, f64)> {
        let mut out: Vec<(usize, f64, f64)> = Vec::new();
        for (x, v) in points {
            let c = self.of(x);
            match out.last_mut() {
                Some((column, _, peak)) if *column == c => *peak = peak.max(v),
                _ => out.push((c, x, v)),
            }
        }
        out.into_iter().map(|(_, x, v)| (x, v)).collect()
    }
}

/// The load in shards needed, one line per stretch of data.
fn load_lines(outcome: &Outcome, axis: &TimeAxis, columns: &Columns) -> Vec<Vec<(f64, f64)>> {
    let period = outcome.summary.period_secs as f64;
    segments(outcome)
        .into_iter()
        .map(|part| {
            columns.peaks(part.iter().map(|r| {
                (
                    axis.x(r.timestamp),
                    needed_shards(r.incoming_bytes, r.incoming_records, period),
                )
            }))
        })
        .collect()
}

/// The share of each period's records throttled (0 to 1), as bars `(start, end, share)`,
/// at most one per column.
fn throttled_bars(outcome: &Outcome, axis: &TimeAxis, columns: &Columns) -> Vec<(f64, f64, f64)> {
    let width = outcome.summary.period_secs as f64 / axis.unit_secs;
    let column_width = columns.x_max / columns.count as f64;
    let shares = outcome
        .timeline
        .iter()
        .filter(|r| r.throttled_records > 0.0 && r.incoming_records > 0.0)
        .map(|r| {
            (
                axis.x(r.timestamp),
                r.throttled_records / r.incoming_records,
            )
        });
    columns
        .peaks(shares)
        .into_iter()
        .map(|(x, share)| (x, x + width.max(column_width), share.min(1.0)))
        .collect()
}

/// The summary in two lines, each fitting the chart's width at the summary's font size; a
/// third for the replay compared.
fn summary_lines(outcome: &Outcome, compared: Option<Compared<'_>>) -> Vec<String> {
    let s = &outcome.summary;
    let mut lines = vec![
        format!(
            "{}: {:.0} shard-hours (perfect: {:.0}), {} reshards ({} up, {} down)",
            s.variant, s.shard_hours, s.oracle_shard_hours, s.reshards, s.scale_ups, s.scale_downs
        ),
        format!(
            "{:.3}% of records throttled in {} periods; ${:.2} provisioned vs ${:.2} on demand{}",
            100.0 * s.throttled_fraction,
            s.throttled_periods,
            s.provisioned_cost_usd,
            s.on_demand_cost_usd,
            if s.missing_periods > 0 {
                format!("; {} periods without data", s.missing_periods)
            } else {
                String::new()
            }
        ),
    ];
    if let Some(Compared { name, outcome }) = compared {
        let c = &outcome.summary;
        lines.push(format!(
            "{name} (grey line): {:.0} shard-hours, {} reshards, {:.3}% of records throttled, ${:.2} provisioned",
            c.shard_hours,
            c.reshards,
            100.0 * c.throttled_fraction,
            c.provisioned_cost_usd
        ));
    }
    lines
}

/// Room right of the plot for half of the last time label, which is centred on its tick.
fn right_margin<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    axis: &TimeAxis,
    x_max: f64,
) -> u32 {
    let style = TextStyle::from((FONT, LABEL_SIZE).into_font());
    let widest = root
        .estimate_text_size(&axis.format(x_max), &style)
        .map(|(w, _)| w)
        .unwrap_or(100);
    (widest / 2 + MARGIN).max(2 * MARGIN)
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    outcome: &Outcome,
    compared: Option<Compared<'_>>,
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
    let columns = Columns { count: 1100, x_max };
    let right = right_margin(root, &axis, x_max);

    let summary = summary_lines(outcome, compared);
    let footer_height = FOOTER + 22 * (summary.len() as u32 - 2);
    let (charts, footer) = root.split_vertically(HEIGHT - footer_height);
    for (i, line) in summary.iter().enumerate() {
        footer
            .draw(&Text::new(
                line.as_str(),
                (20, 6 + 22 * i as i32),
                (FONT, SUMMARY_SIZE).into_font().color(&BLACK.mix(0.8)),
            ))
            .map_err(err)?;
    }
    let (main, strip) = charts.split_vertically(HEIGHT - footer_height - STRIP);
    let gaps = gaps(outcome, &axis);
    let compared = compared.map(|c| (c.name, shard_steps(c.outcome, &axis)));
    let layers = Layers {
        outcome,
        axis: &axis,
        load: &load_lines(outcome, &axis, &columns),
        steps: &shard_steps(outcome, &axis),
        gaps: &gaps,
        compared: compared
            .as_ref()
            .map(|(name, steps)| (*name, steps.as_slice())),
    };
    draw_main(&main, &layers, title, &columns, right).map_err(err)?;
    draw_strip(&strip, outcome, &axis, &columns, &gaps, right).map_err(err)
}

/// The time axis and the look every chart shares; the caller adds its y axis and draws, in
/// the same statement (a macro: the charts' y scales are different types, and the label
/// formatter is borrowed for that statement only).
macro_rules! time_mesh {
    ($chart:expr, $axis:expr) => {
        $chart
            .configure_mesh()
            .x_labels(10)
            .x_label_formatter(&|x| $axis.format(*x))
            .label_style((FONT, LABEL_SIZE))
            .light_line_style(WHITE.mix(0.0))
    };
}

/// The main chart's axes.
macro_rules! main_mesh {
    ($chart:expr, $axis:expr, $y_desc:expr) => {
        time_mesh!($chart, $axis)
            .y_label_formatter(&|v| shard_label(*v))
            .y_desc($y_desc)
            .draw()
    };
}

/// The main chart: load, provisioned shards, reshards; log scale when one spike would
/// flatten the rest.
fn draw_main<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    layers: &Layers<'_>,
    title: &str,
    columns: &Columns,
    right: u32,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (load, axis) = (layers.load, layers.axis);
    let top_need = load.iter().flatten().map(|(_, v)| *v).fold(0.0, f64::max);
    let top_shards = layers
        .steps
        .iter()
        .chain(layers.compared.map(|(_, s)| s).unwrap_or_default())
        .map(|(_, shards)| *shards)
        .fold(1.0, f64::max);
    let top = top_need.max(top_shards).max(1.0);
    let mut positive: Vec<f64> = load
        .iter()
        .flatten()
        .map(|(_, v)| *v)
        .filter(|v| *v > 0.0)
        .collect();
    positive.sort_by(f64::total_cmp);
    let median = positive.get(positive.len() / 2).copied().unwrap_or(1.0);
    let log = top / median.max(0.01) > 50.0;
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(title, (FONT, 20).into_font())
        .margin_top(MARGIN)
        .margin_left(MARGIN)
        .margin_right(right)
        .x_label_area_size(0)
        .y_label_area_size(Y_LABELS);
    let x_max = columns.x_max;
    if log {
        let floor = (median / 10.0).clamp(0.01, 1.0);
        // The top quarter of the height stays free for the legend.
        let ceiling = top * (top / floor).powf(0.35);
        let mut chart = builder.build_cartesian_2d(0.0..x_max, (floor..ceiling).log_scale())?;
        main_mesh!(chart, axis, "shards (log scale)")?;
        layers.draw(&mut chart, floor, ceiling, |v: f64| v.max(floor))?;
        legend(&mut chart)
    } else {
        let mut chart = builder.build_cartesian_2d(0.0..x_max, 0.0..top * 1.4)?;
        main_mesh!(chart, axis, "shards")?;
        layers.draw(&mut chart, 0.0, top * 1.4, |v: f64| v)?;
        legend(&mut chart)
    }
}

/// The strip under the main chart: the share of each period's records throttled, on the
/// same time axis, which it labels.
fn draw_strip<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    outcome: &Outcome,
    axis: &TimeAxis,
    columns: &Columns,
    gaps: &[(f64, f64)],
    right: u32,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let mut chart = ChartBuilder::on(area)
        .margin_left(MARGIN)
        .margin_right(right)
        .margin_top(14)
        .x_label_area_size(44)
        .y_label_area_size(Y_LABELS)
        .build_cartesian_2d(0.0..columns.x_max, 0.0..100.0)?;
    time_mesh!(chart, axis)
        .y_labels(3)
        .y_label_formatter(&|v| format!("{v:.0}%"))
        .y_desc("throttled")
        .x_desc("time (UTC)")
        .draw()?;
    let gap_shade = GAP.mix(0.25);
    chart.draw_series(
        gaps.iter()
            .map(|(a, b)| Rectangle::new([(*a, 0.0), (*b, 100.0)], gap_shade.filled())),
    )?;
    let bars = throttled_bars(outcome, axis, columns);
    let any = !bars.is_empty();
    let drawn =
        chart.draw_series(bars.into_iter().map(|(a, b, share)| {
            Rectangle::new([(a, 0.0), (b, 100.0 * share)], THROTTLED.filled())
        }))?;
    if any {
        drawn
            .label("records throttled, share per period")
            .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], THROTTLED.filled()));
        legend(&mut chart)?;
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

/// The provisioned shards as a step line: one horizontal segment per count. Shards stay
/// provisioned through a gap in the data, so the line goes on; a reshard decided in a gap
/// steps there, under its marker.
fn shard_steps(outcome: &Outcome, axis: &TimeAxis) -> Vec<(f64, f64)> {
    let period = Duration::seconds(outcome.summary.period_secs);
    let mut changes: Vec<(DateTime<Utc>, u32)> = outcome
        .timeline
        .iter()
        .map(|r| (r.timestamp, r.shards))
        .collect();
    for w in outcome.timeline.windows(2) {
        let (gap_start, gap_end) = (w[0].timestamp + period, w[1].timestamp);
        if gap_end > gap_start {
            changes.extend(
                outcome
                    .reshards
                    .iter()
                    .filter(|e| e.at >= gap_start && e.at < gap_end)
                    .map(|e| (e.at, e.to)),
            );
        }
    }
    changes.sort_by_key(|(t, _)| *t);
    let mut points = Vec::new();
    let mut current: Option<u32> = None;
    for (t, shards) in changes {
        if current != Some(shards) {
            let x = axis.x(t);
            if let Some(previous) = current {
                points.push((x, f64::from(previous)));
            }
            points.push((x, f64::from(shards)));
            current = Some(shards);
        }
    }
    if let (Some(c), Some(last)) = (current, outcome.timeline.last()) {
        points.push((axis.x(last.timestamp + period), f64::from(c)));
    }
    points
}

/// What the main chart draws, on either y scale.
struct Layers<'a> {
    outcome: &'a Outcome,
    axis: &'a TimeAxis,
    load: &'a [Vec<(f64, f64)>],
    steps: &'a [(f64, f64)],
    gaps: &'a [(f64, f64)],
    /// Another replay's name and shard steps.
    compared: Option<(&'a str, &'a [(f64, f64)])>,
}

impl Layers<'_> {
    fn draw<'a, DB: DrawingBackend + 'a, Y>(
        &self,
        chart: &mut ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
        y_floor: f64,
        y_top: f64,
        clamp: impl Fn(f64) -> f64,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>
    where
        Y: Ranged<ValueType = f64>,
    {
        let gap_shade = GAP.mix(0.25);
        let shaded = chart.draw_series(
            self.gaps
                .iter()
                .map(|(a, b)| Rectangle::new([(*a, y_floor), (*b, y_top)], gap_shade.filled())),
        )?;
        if !self.gaps.is_empty() {
            shaded
                .label("no data (a gap in the trace)")
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 18, y + 6)], gap_shade.filled())
                });
        }
        for (i, line) in self.load.iter().enumerate() {
            let drawn = chart.draw_series(LineSeries::new(
                line.iter().map(|(x, v)| (*x, clamp(*v))),
                LOAD.stroke_width(1),
            ))?;
            if i == 0 {
                drawn
                    .label("load: shards needed at 100% usage")
                    .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], LOAD.stroke_width(2)));
            }
        }
        if let Some((name, steps)) = self.compared {
            chart
                .draw_series(LineSeries::new(
                    steps.iter().copied(),
                    COMPARED.stroke_width(2),
                ))?
                .label(format!("{name}: provisioned shards"))
                .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], COMPARED.stroke_width(2)));
        }
        chart
            .draw_series(LineSeries::new(
                self.steps.iter().copied(),
                SHARDS.stroke_width(3),
            ))?
            .label("provisioned shards")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], SHARDS.stroke_width(3)));
        self.markers(chart, clamp)
    }

    fn markers<'a, DB: DrawingBackend + 'a, Y>(
        &self,
        chart: &mut ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
        clamp: impl Fn(f64) -> f64,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>
    where
        Y: Ranged<ValueType = f64>,
    {
        let at = |direction: Direction| -> Vec<(f64, f64)> {
            self.outcome
                .reshards
                .iter()
                .filter(|e| e.direction == direction)
                .map(|e| (self.axis.x(e.at), clamp(f64::from(e.to))))
                .collect()
        };
        let (up, down) = (at(Direction::Up), at(Direction::Down));
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
        .label_font((FONT, LABEL_SIZE))
        .draw()
}

#[cfg(test)]
#[path = "plot_tests.rs"]
mod tests;
