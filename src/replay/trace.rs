//! Ingest traces for the simulator: CSV `timestamp,incoming_bytes,incoming_records`, one row per
//! period holding the period's Sums, as CloudWatch reports `IncomingBytes` / `IncomingRecords`.
//! An optional fourth column, `iterator_age_ms`, holds the period's Maximum of
//! `GetRecords.IteratorAgeMilliseconds` (how far behind the slowest consumer is); an empty
//! field, or no such column, is no datapoint: no lag.
//!
//! Rows must be in time order on a fixed grid. A jump of several periods is a gap (missing
//! data, as in CloudWatch), not an error; the period is the most common step between rows,
//! and a row off the grid it draws from the first row is an error naming that row.
//! Line numbers count both LF and CRLF line ends (the sample traces are CRLF).
//! Lines starting with `#` are comments (`trace export` says there where the data came from).

use chrono::{DateTime, Utc};

// The CSV file format (reading, writing): the command line's only, so the function links no
// CSV parser; the trace itself and its checks are the replay engine's, which the function
// runs for the daily tuning.
#[cfg(feature = "cli")]
#[path = "trace_csv.rs"]
mod csv_file;
#[cfg(feature = "cli")]
pub use csv_file::{parse, read, write};

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    // Callers name the trace ("trace FILE: ..."); the path is kept for those that do not.
    #[error("cannot read the file")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("line {line}: {why}")]
    Row { line: u64, why: String },
    #[error("the trace has no data rows")]
    Empty,
}

/// One period's Sums. Missing periods have no row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    pub timestamp: DateTime<Utc>,
    pub incoming_bytes: f64,
    pub incoming_records: f64,
    /// The period's Maximum iterator age, in milliseconds; `None`: no datapoint (no lag).
    pub iterator_age_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub rows: Vec<Row>,
    /// The grid's step: the most common step between rows (the smallest of equally common
    /// ones); `None` for a single row.
    pub period_secs: Option<i64>,
}

impl Trace {
    /// Periods the trace spans, missing ones included.
    pub fn span_periods(&self, period_secs: i64) -> i64 {
        match (self.rows.first(), self.rows.last()) {
            (Some(a), Some(b)) => (b.timestamp - a.timestamp).num_seconds() / period_secs + 1,
            _ => 0,
        }
    }
}

/// Rows in memory (from CloudWatch, say) as a trace, checked as a file's rows are: `Row`
/// errors count lines as if the rows followed a header line.
pub fn from_rows(rows: Vec<Row>) -> Result<Trace, TraceError> {
    for (i, w) in rows.windows(2).enumerate() {
        if w[1].timestamp - w[0].timestamp < chrono::Duration::seconds(1) {
            return Err(TraceError::Row {
                line: i as u64 + 3,
                why: format!(
                    "timestamp {} is not at least a second after the previous row's {}",
                    w[1].timestamp.to_rfc3339(),
                    w[0].timestamp.to_rfc3339()
                ),
            });
        }
    }
    let lines: Vec<u64> = (2..rows.len() as u64 + 2).collect();
    validated(rows, &lines)
}

fn validated(rows: Vec<Row>, lines: &[u64]) -> Result<Trace, TraceError> {
    let Some(first) = rows.first() else {
        return Err(TraceError::Empty);
    };
    let period_secs = grid_step(&rows);
    if let Some(period) = period_secs {
        // Rows are strictly increasing, so every step is at least a second. A row off the
        // grid would shift every later period, so it is an error rather than a gap.
        for (row, line) in rows.iter().zip(lines) {
            let offset = row.timestamp - first.timestamp;
            if offset.num_seconds() % period != 0 || offset.subsec_nanos() != 0 {
                return Err(TraceError::Row {
                    line: *line,
                    why: format!(
                        "timestamp {} is off the trace's grid of one row every {period} s from {} (the most common step between rows): correct or remove this row",
                        row.timestamp.to_rfc3339(),
                        first.timestamp.to_rfc3339()
                    ),
                });
            }
        }
    }
    Ok(Trace { rows, period_secs })
}

/// The most common whole-second step between rows, the smallest of equally common ones.
fn grid_step(rows: &[Row]) -> Option<i64> {
    let mut counts: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
    for w in rows.windows(2) {
        *counts
            .entry((w[1].timestamp - w[0].timestamp).num_seconds())
            .or_default() += 1;
    }
    counts
        .into_iter()
        .max_by(|(step_a, count_a), (step_b, count_b)| {
            count_a.cmp(count_b).then(step_b.cmp(step_a))
        })
        .map(|(step, _)| step)
}
