//! A small hand-written SVG chart of a replay: the load (as shards needed at 100% usage) and
//! the provisioned shards over time, reshards marked, throttled periods shaded red, and the
//! summary in a caption. No plotting crate: the picture is a few paths and some text.

use crate::replay::simulate::{needed_shards, Outcome};
use chrono::{DateTime, Duration, Utc};
use std::fmt::Write;

const WIDTH: f64 = 1200.0;
const HEIGHT: f64 = 560.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const PLOT_HEIGHT: f64 = 360.0;

/// The y axis: linear, or log10 when the load spans orders of magnitude (one spike would
/// otherwise flatten everything else into the floor).
struct Scale {
    log: bool,
    max: f64,
}

impl Scale {
    fn y(&self, v: f64) -> f64 {
        let frac = if self.log {
            (v.max(0.1).log10() + 1.0) / (self.max.log10() + 1.0)
        } else {
            v / self.max
        };
        TOP + PLOT_HEIGHT * (1.0 - frac.clamp(0.0, 1.0))
    }

    fn ticks(&self) -> Vec<f64> {
        if self.log {
            let mut t = vec![];
            let mut v = 1.0;
            while v <= self.max * 1.0001 {
                t.push(v);
                v *= 10.0;
            }
            t
        } else {
            let step = nice_step(self.max / 5.0);
            (0..=((self.max / step) as usize))
                .map(|i| i as f64 * step)
                .collect()
        }
    }
}

fn nice_step(raw: f64) -> f64 {
    let raw = raw.max(1e-9);
    let mag = 10f64.powf(raw.log10().floor());
    let unit = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .find(|m| m * mag >= raw)
        .unwrap_or(10.0);
    (unit * mag).max(1.0)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Renders `outcome` (which must have kept its timeline) as an SVG document.
pub fn render(outcome: &Outcome, title: &str) -> String {
    let rows = &outcome.timeline;
    let s = &outcome.summary;
    let period = s.period_secs as f64;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{LEFT}" y="24" font-size="16" font-weight="bold">{}</text>
"#,
        esc(title)
    );
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        svg.push_str("<text x=\"70\" y=\"80\">empty trace</text>\n</svg>\n");
        return svg;
    };
    let t0 = first.timestamp;
    let t1 = last.timestamp + Duration::seconds(s.period_secs);
    let span = ((t1 - t0).num_seconds() as f64).max(1.0);
    let plot_width = WIDTH - LEFT - RIGHT;
    let x = |t: DateTime<Utc>| LEFT + plot_width * ((t - t0).num_seconds() as f64 / span);

    let needs: Vec<f64> = rows
        .iter()
        .map(|r| needed_shards(r.incoming_bytes, r.incoming_records, period))
        .collect();
    let top_need = needs.iter().copied().fold(0.0, f64::max);
    let top_shards = rows.iter().map(|r| r.shards).max().unwrap_or(1) as f64;
    let top = top_need.max(top_shards).max(1.0);
    let mut sorted: Vec<f64> = needs.iter().copied().filter(|v| *v > 0.0).collect();
    sorted.sort_by(f64::total_cmp);
    let median = sorted
        .get(sorted.len() / 2)
        .copied()
        .unwrap_or(1.0)
        .max(0.1);
    let log = top / median > 50.0;
    let scale = Scale {
        log,
        max: if log {
            10f64.powf(top.log10().ceil())
        } else {
            top * 1.1
        },
    };
    let bottom = TOP + PLOT_HEIGHT;

    // Throttled periods: one red band per run of throttled rows, at least a pixel wide.
    let mut run: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
    let mut bands = String::new();
    let flush = |run: (DateTime<Utc>, DateTime<Utc>), out: &mut String| {
        let (a, b) = (x(run.0), x(run.1));
        let _ = writeln!(
            out,
            r##"<rect x="{a:.1}" y="{TOP}" width="{:.1}" height="{PLOT_HEIGHT}" fill="#e53935" fill-opacity="0.25"/>"##,
            (b - a).max(1.0)
        );
    };
    for r in rows {
        let end = r.timestamp + Duration::seconds(s.period_secs);
        if r.throttled_records > 0.0 {
            run = Some(match run {
                Some((a, b)) if b == r.timestamp => (a, end),
                Some(done) => {
                    flush(done, &mut bands);
                    (r.timestamp, end)
                }
                None => (r.timestamp, end),
            });
        }
    }
    if let Some(done) = run {
        flush(done, &mut bands);
    }
    svg.push_str(&bands);

    // Grid and axes.
    for v in scale.ticks() {
        let y = scale.y(v);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            format_count(v)
        );
    }
    // About a dozen time ticks, on round instants (midnights for day steps).
    let hour = 3600i64;
    let step_secs = [1, 3, 6, 12, 24, 48, 168, 336, 720, 1464, 2184, 4368]
        .into_iter()
        .map(|h| h * hour)
        .find(|step| span / *step as f64 <= 12.0)
        .unwrap_or(8760 * hour);
    let label_fmt = if step_secs < 24 * hour {
        "%b %d %H:%M"
    } else if span > 300.0 * 86_400.0 {
        "%Y-%m-%d"
    } else {
        "%b %d"
    };
    let midnight = t0
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map_or(t0, |d| d.and_utc());
    let align = step_secs.min(24 * hour);
    let mut tick =
        midnight + Duration::seconds(((t0 - midnight).num_seconds() + align - 1) / align * align);
    while tick <= t1 {
        let xt = x(tick);
        // A label cut by the right edge reads as garbage; leave it out.
        if xt <= WIDTH - RIGHT - 30.0 {
            let _ = writeln!(
                svg,
                r##"<line x1="{xt:.1}" y1="{TOP}" x2="{xt:.1}" y2="{bottom}" stroke="#eee"/><text x="{xt:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                bottom + 16.0,
                tick.format(label_fmt)
            );
        }
        tick += Duration::seconds(step_secs);
    }
    let _ = writeln!(
        svg,
        r##"<line x1="{LEFT}" y1="{bottom}" x2="{:.1}" y2="{bottom}" stroke="#333"/><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#333"/>"##,
        WIDTH - RIGHT
    );
    let _ = writeln!(
        svg,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">time (UTC)</text><text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle">shards{}</text>"##,
        LEFT + plot_width / 2.0,
        bottom + 34.0,
        TOP + PLOT_HEIGHT / 2.0,
        if log { " (log scale)" } else { "" }
    );

    // Load: a step per period while periods are wider than a pixel; otherwise the peak per
    // pixel column, so that no spike is lost to down-sampling.
    let mut load = String::new();
    if rows.len() as f64 <= plot_width {
        let mut previous_end = None;
        for (r, need) in rows.iter().zip(&needs) {
            let end = r.timestamp + Duration::seconds(s.period_secs);
            let cmd = if previous_end == Some(r.timestamp) {
                'L'
            } else {
                'M'
            };
            let y = scale.y(*need);
            let _ = write!(
                load,
                "{cmd}{:.1} {y:.1} L{:.1} {y:.1} ",
                x(r.timestamp),
                x(end)
            );
            previous_end = Some(end);
        }
    } else {
        let columns = plot_width.ceil() as usize;
        let mut peak = vec![f64::NAN; columns + 1];
        for (r, need) in rows.iter().zip(&needs) {
            let c = ((x(r.timestamp) - LEFT).floor().max(0.0) as usize).min(columns);
            peak[c] = if peak[c].is_nan() {
                *need
            } else {
                peak[c].max(*need)
            };
        }
        let mut pen_down = false;
        for (c, v) in peak.iter().enumerate() {
            if v.is_nan() {
                continue;
            }
            let cmd = if pen_down { 'L' } else { 'M' };
            let _ = write!(load, "{cmd}{:.1} {:.1} ", LEFT + c as f64, scale.y(*v));
            pen_down = true;
        }
    }
    let _ = writeln!(
        svg,
        r##"<path d="{load}" fill="none" stroke="#1e88e5" stroke-width="1"/>"##
    );

    // Provisioned shards: a step line, one vertex per change.
    let mut step = format!("M{:.1} {:.1} ", x(t0), scale.y(f64::from(first.shards)));
    let mut current = first.shards;
    for r in rows {
        if r.shards != current {
            let xr = x(r.timestamp);
            let _ = write!(step, "H{xr:.1} V{:.1} ", scale.y(f64::from(r.shards)));
            current = r.shards;
        }
    }
    let _ = write!(step, "H{:.1}", x(t1));
    let _ = writeln!(
        svg,
        r##"<path d="{step}" fill="none" stroke="#ef6c00" stroke-width="2"/>"##
    );

    // Reshard marks at the decision instant, on the new count's level.
    for e in &outcome.reshards {
        let (xe, ye) = (x(e.at), scale.y(f64::from(e.to)));
        let (points, color) = match e.direction {
            crate::domain::event::Direction::Up => (
                format!(
                    "{xe:.1},{:.1} {:.1},{:.1} {:.1},{:.1}",
                    ye - 7.0,
                    xe - 5.0,
                    ye + 2.0,
                    xe + 5.0,
                    ye + 2.0
                ),
                "#2e7d32",
            ),
            crate::domain::event::Direction::Down => (
                format!(
                    "{xe:.1},{:.1} {:.1},{:.1} {:.1},{:.1}",
                    ye + 7.0,
                    xe - 5.0,
                    ye - 2.0,
                    xe + 5.0,
                    ye - 2.0
                ),
                "#6a1b9a",
            ),
        };
        let _ = writeln!(
            svg,
            r##"<polygon points="{points}" fill="{color}"><title>{} {} -> {} shards</title></polygon>"##,
            e.at.format("%Y-%m-%d %H:%M"),
            e.from,
            e.to
        );
    }

    // Legend.
    let ly = 20.0;
    let lx = WIDTH - RIGHT - 432.0;
    let _ = writeln!(
        svg,
        r##"<g font-size="11"><rect x="{lx}" y="{:.1}" width="430" height="22" fill="white" fill-opacity="0.85" stroke="#ccc"/>
<line x1="{:.1}" y1="{ly}" x2="{:.1}" y2="{ly}" stroke="#1e88e5"/><text x="{:.1}" y="{:.1}">load (shards needed)</text>
<line x1="{:.1}" y1="{ly}" x2="{:.1}" y2="{ly}" stroke="#ef6c00" stroke-width="2"/><text x="{:.1}" y="{:.1}">provisioned shards</text>
<polygon points="{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="#2e7d32"/><polygon points="{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="#6a1b9a"/><text x="{:.1}" y="{:.1}">reshard</text>
<rect x="{:.1}" y="{:.1}" width="10" height="10" fill="#e53935" fill-opacity="0.35"/><text x="{:.1}" y="{:.1}">throttled</text></g>"##,
        ly - 11.0,
        lx + 6.0,
        lx + 26.0,
        lx + 30.0,
        ly + 4.0,
        lx + 150.0,
        lx + 170.0,
        lx + 174.0,
        ly + 4.0,
        lx + 290.0,
        ly - 5.0,
        lx + 285.0,
        ly + 3.0,
        lx + 295.0,
        ly + 3.0,
        lx + 302.0,
        ly + 5.0,
        lx + 297.0,
        ly - 3.0,
        lx + 307.0,
        ly - 3.0,
        lx + 312.0,
        ly + 4.0,
        lx + 360.0,
        ly - 5.0,
        lx + 374.0,
        ly + 4.0,
    );

    // Caption.
    let ratio = if s.oracle_shard_hours > 0.0 {
        s.shard_hours / s.oracle_shard_hours
    } else {
        0.0
    };
    let lines = [
        format!(
            "{} periods of {} s; {:.1} shard-hours ({ratio:.2}x the oracle's {:.1}); provisioned ${:.2}, on-demand ${:.2}",
            s.periods, s.period_secs, s.shard_hours, s.oracle_shard_hours, s.provisioned_cost_usd, s.on_demand_cost_usd
        ),
        format!(
            "throttled {:.3}% of records in {} periods (per-period model, a lower bound); {} reshards ({} up, {} down), at most {} in 24 h",
            100.0 * s.throttled_fraction,
            s.throttled_periods,
            s.reshards,
            s.scale_ups,
            s.scale_downs,
            s.max_reshards_in_24h
        ),
        format!("policy: {}", s.variant),
    ];
    for (i, line) in lines.iter().enumerate() {
        let _ = writeln!(
            svg,
            r##"<text x="{LEFT}" y="{:.1}" fill="#333">{}</text>"##,
            bottom + 64.0 + 18.0 * i as f64,
            esc(line)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn format_count(v: f64) -> String {
    if v >= 1000.0 && v % 1000.0 == 0.0 {
        format!("{}k", v / 1000.0)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}
