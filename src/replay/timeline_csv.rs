//! The replay's timeline as a CSV file (feature `cli`; a child of [`super`]).

use super::*;

/// Writes the timeline as CSV: `timestamp,shards,incoming_bytes,incoming_records,throttled_records`.
pub fn write_timeline(out: impl std::io::Write, rows: &[TimelineRow]) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "timestamp",
        "shards",
        "incoming_bytes",
        "incoming_records",
        "throttled_records",
    ])?;
    for r in rows {
        w.write_record([
            r.timestamp
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            r.shards.to_string(),
            decimal(r.incoming_bytes),
            decimal(r.incoming_records),
            decimal(r.throttled_records),
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// A figure for the timeline: at most three decimals, no trailing zeros, so the arithmetic's
/// float noise (`2967635.1999999997`) does not reach the file.
fn decimal(v: f64) -> String {
    let text = format!("{v:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeline_carries_no_float_noise() {
        let row = TimelineRow {
            timestamp: chrono::DateTime::from_timestamp(1_396_310_400, 0).unwrap(),
            shards: 3,
            incoming_bytes: 0.1 + 0.2,
            incoming_records: 1500.0,
            throttled_records: 2_967_635.199_999_999_7,
        };
        let mut out = Vec::new();
        write_timeline(&mut out, &[row]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text.lines().nth(1),
            Some("2014-04-01T00:00:00Z,3,0.3,1500,2967635.2")
        );
    }
}
