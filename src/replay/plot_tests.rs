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
        "records throttled, share per period",
        "scale up",
        "shard-hours",
    ] {
        assert!(svg.contains(text), "{text} missing");
    }
}

/// The outcome of a day of quiet load with the middle six hours missing.
fn with_a_gap() -> Outcome {
    let start = DateTime::from_timestamp(1_767_225_600, 0).unwrap();
    let rows = (0..24 * 12)
        .filter(|i| !(9 * 12..15 * 12).contains(i))
        .map(|i| Row {
            timestamp: start + Duration::minutes(5 * i),
            incoming_bytes: 3000.0 * 300.0 * 500.0,
            incoming_records: 3000.0 * 300.0,
            iterator_age_ms: None,
        })
        .collect();
    let trace = Trace {
        rows,
        period_secs: Some(300),
    };
    simulate(&trace, &Options::new(Settings::default())).unwrap()
}

#[test]
fn a_gap_is_drawn_as_a_gap() {
    let o = with_a_gap();
    let start = o.timeline[0].timestamp;
    let axis = TimeAxis::new(start, 86_400.0);
    let columns = Columns {
        count: 1100,
        x_max: 24.0,
    };
    let lines = load_lines(&o, &axis, &columns);
    assert_eq!(lines.len(), 2, "one load line each side of the gap");
    assert_eq!(gaps(&o, &axis), [(9.0, 15.0)]);
    let (before, after) = (lines[0].last().unwrap().0, lines[1][0].0);
    assert!(before < 9.0 && after >= 15.0, "{before} {after}");
    // Each reshard marker sits on the shard line: at its time, the line is at its count.
    let steps = shard_steps(&o, &axis);
    for e in &o.reshards {
        let x = axis.x(e.at);
        assert!(
            steps
                .iter()
                .any(|&(sx, sy)| sy == f64::from(e.to) && sx <= x + 1.0),
            "marker at {x} to {} off the line {steps:?}",
            e.to
        );
    }
}

#[test]
fn nothing_is_cut_off() {
    let mut buffer = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    let root = BitMapBackend::with_buffer(&mut buffer, (WIDTH, HEIGHT)).into_drawing_area();
    register_font().unwrap();
    let mut o = outcome();
    // The longest label a replay has, and figures larger than any trace's.
    o.summary.variant = crate::replay::simulate::Variant::Upstream.label();
    o.summary.shard_hours = 1.0e7;
    o.summary.oracle_shard_hours = 1.0e7;
    o.summary.reshards = 99_999;
    o.summary.scale_ups = 99_999;
    o.summary.scale_downs = 99_999;
    o.summary.provisioned_cost_usd = 1.0e7;
    o.summary.on_demand_cost_usd = 1.0e7;
    o.summary.missing_periods = 99_999;
    let style = TextStyle::from((FONT, SUMMARY_SIZE).into_font());
    let compared = Compared {
        name: "upstream Go Lambda",
        outcome: &o,
    };
    for line in summary_lines(&o, Some(compared)) {
        let (width, _) = root.estimate_text_size(&line, &style).unwrap();
        assert!(width + 20 + MARGIN < WIDTH, "{width} px: {line}");
    }
    // The last time label is centred on the axis's end: half of it must fit in the margin.
    let label = TextStyle::from((FONT, LABEL_SIZE).into_font());
    for span in [86_400.0, 30.0 * 86_400.0] {
        let axis = TimeAxis::new(o.timeline[0].timestamp, span);
        let last = axis.format(span / axis.unit_secs);
        let (width, _) = root.estimate_text_size(&last, &label).unwrap();
        assert!(right_margin(&root, &axis, span / axis.unit_secs) >= width / 2 + 4);
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
