//! Tables for people: columns sized to their widest cell.

use crate::domain::names::variant_name;
use crate::ops::reconcile::ReconcileReport;
use crate::ops::status::{AlarmStatus, StreamReport};
use std::fmt::Write as _;

/// Lays out rows as columns separated by two spaces, each as wide as its widest cell.
pub fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = widths[c].saturating_sub(cell.chars().count()) + 2;
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn alarm_cell(alarm: &Option<AlarmStatus>) -> String {
    match alarm {
        None => "missing".to_string(),
        Some(a) => {
            let s1 = a.s1.map_or("?".to_string(), |n| n.to_string());
            let threshold = if a.disarmed {
                "disarmed".to_string()
            } else {
                format!("{}", a.threshold)
            };
            format!("{} {threshold} s1={s1}", a.state)
        }
    }
}

/// The status table for people, with drift and problems listed under it.
pub fn status_table(reports: &[StreamReport]) -> String {
    status_table_within(reports, None)
}

/// Columns a narrow terminal loses first, least needed first; STREAM, SHARDS and the alarms
/// stay.
const STATUS_DROP_ORDER: [&str; 7] = [
    "TUNED",
    "CONSUMER",
    "BOUNDS",
    "MODE",
    "LAST RESHARD",
    "STATUS",
    "RESHARDS 24H",
];

/// Removes columns in `drop_order` until the table fits `width`; says what was left out.
fn fit(mut rows: Vec<Vec<String>>, width: Option<usize>, drop_order: &[&str]) -> String {
    let Some(width) = width else {
        return table(&rows);
    };
    let mut dropped = Vec::new();
    for name in drop_order {
        if table(&rows).lines().all(|l| l.chars().count() <= width) {
            break;
        }
        if let Some(c) = rows.first().and_then(|h| h.iter().position(|x| x == name)) {
            for row in &mut rows {
                if c < row.len() {
                    row.remove(c);
                }
            }
            dropped.push(name.to_lowercase());
        }
    }
    let mut out = table(&rows);
    if !dropped.is_empty() {
        let _ = writeln!(
            out,
            "({} left out to fit the terminal; --json has everything)",
            dropped.join(", ")
        );
    }
    out
}

/// The status table, narrowed to `width` columns when given (a terminal).
pub fn status_table_within(reports: &[StreamReport], width: Option<usize>) -> String {
    let mut rows = vec![[
        "STREAM",
        "SHARDS",
        "BOUNDS",
        "MODE",
        "STATUS",
        "SCALE-UP",
        "SCALE-DOWN",
        "LAST RESHARD",
        "RESHARDS 24H",
        "CONSUMER",
        "TUNED",
    ]
    .map(String::from)
    .to_vec()];
    for r in reports {
        let shards = if r.in_drift() {
            format!("{} (drift)", r.shards)
        } else {
            r.shards.to_string()
        };
        let bounds = match (r.min_shards, r.max_shards) {
            (Some(min), Some(max)) => format!("{min}-{max}"),
            _ => "?".to_string(),
        };
        let last = r.last_reshard.map_or("-".to_string(), |t| {
            t.format("%Y-%m-%d %H:%M:%SZ").to_string()
        });
        let reshards = match (r.reshards_used, r.reshards_left) {
            (Some(used), Some(left)) => {
                format!("{used}/{} ({left} left)", r.max_reshards_per_day)
            }
            _ => "?".to_string(),
        };
        let consumer = match (&r.consumer_function, r.consumer_reserved_concurrency) {
            (None, _) => "-".to_string(),
            (Some(f), Some(n)) => format!("{f} (reserved {n})"),
            (Some(f), None) => format!("{f} (unreserved)"),
        };
        rows.push(vec![
            r.stream.clone(),
            shards,
            bounds,
            variant_name(&r.mode),
            variant_name(&r.status),
            alarm_cell(&r.scale_up),
            alarm_cell(&r.scale_down),
            last,
            reshards,
            consumer,
            tuned_cell(r),
        ]);
    }
    let mut out = fit(rows, width, &STATUS_DROP_ORDER);
    for r in reports {
        for note in &r.drift {
            let _ = writeln!(out, "drift: {}: {note}", r.stream);
        }
        for note in &r.problems {
            let _ = writeln!(out, "problem: {}: {note}", r.stream);
        }
        if let Some(advice) = r.tuned.as_ref().and_then(|t| t.advice.as_ref()) {
            let _ = writeln!(out, "advice: {}: {advice}", r.stream);
        }
    }
    out
}

/// The tuning in force: the set, its day, whether it met the budget, the user's overrides.
fn tuned_cell(r: &StreamReport) -> String {
    let mut cell = match &r.tuned {
        None => "-".to_string(),
        Some(t) => {
            let usage = match t.policy {
                crate::domain::tuning::Policy::Sized {
                    target_usage,
                    floor,
                    ..
                } => {
                    let on_floor = if floor > 0 {
                        format!(" floor {floor}")
                    } else {
                        String::new()
                    };
                    format!(" {:.0}%{on_floor}", 100.0 * target_usage)
                }
                crate::domain::tuning::Policy::Upstream => String::new(),
            };
            let met = if t.met { "met" } else { "unmet" };
            format!(
                "{}{usage} {} ({met})",
                t.candidate,
                t.day.format("%Y-%m-%d")
            )
        }
    };
    if !r.overrides.is_empty() {
        cell.push_str(&format!(" [{}]", r.overrides.join(" ")));
    }
    cell
}

/// The reconcile report for people.
pub fn reconcile_table(report: &ReconcileReport) -> String {
    let mut rows = vec![vec![
        "STREAM".to_string(),
        "SHARDS".into(),
        "VERDICT".into(),
        "DETAIL".into(),
    ]];
    for s in &report.streams {
        let verdict = variant_name(&s.verdict);
        let mut details: Vec<String> = s
            .fixes
            .iter()
            .map(|f| format!("{}: {}", f.target, f.detail))
            .collect();
        details.extend(s.note.clone());
        if details.is_empty() {
            details.push("-".into());
        }
        for (i, detail) in details.into_iter().enumerate() {
            let first = i == 0;
            rows.push(vec![
                if first {
                    s.stream.clone()
                } else {
                    String::new()
                },
                if first {
                    s.shards.map_or("-".into(), |n| n.to_string())
                } else {
                    String::new()
                },
                if first {
                    verdict.clone()
                } else {
                    String::new()
                },
                detail,
            ]);
        }
    }
    table(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let out = table(&[
            vec!["A".into(), "BB".into(), "C".into()],
            vec!["long".into(), "x".into(), "".into()],
        ]);
        assert_eq!(out, "A     BB  C\nlong  x\n");
    }

    #[test]
    fn narrow_terminals_lose_the_least_needed_columns() {
        let rows = vec![
            vec!["STREAM".into(), "CONSUMER".into(), "MODE".into()],
            vec![
                "orders".into(),
                "a-long-consumer-name".into(),
                "PROVISIONED".into(),
            ],
        ];
        assert_eq!(fit(rows.clone(), None, &["CONSUMER"]), table(&rows));
        let narrow = fit(rows, Some(24), &["CONSUMER", "MODE"]);
        assert!(narrow.starts_with("STREAM  MODE\n"), "{narrow}");
        assert!(narrow.contains("(consumer left out"), "{narrow}");
    }
}
