//! `wire --prefix` / `--all`, `unwire --prefix` / `--all` and the fleet summary of `status`.
//! (Beside [`super::wiring`], which is about one stream and already long.)
//!
//! Wiring a fleet is bounded by PutMetricAlarm's account quota (3 a second, two calls a
//! stream): the streams are wired several at a time through the pacing wrapper, which keeps
//! each API below its quota. Unwiring deletes alarms 100 at a time (DeleteAlarms' maximum).

use crate::aws::AwsPort;
use crate::domain::event::{AlarmPair, Direction};
use crate::domain::policy::{StreamMode, StreamStatus};
use crate::domain::settings::Settings;
use crate::ops::fleet::{self, SweepOptions, DEFAULT_CONCURRENCY};
use crate::ops::wiring::{self, Removal, UnwireReport, WireOptions, WireReport, WiringError};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// DeleteAlarms takes at most this many names a call.
const DELETE_BATCH: usize = 100;

/// The provisioned, active streams whose names start with `prefix` (and are managed), and
/// the others with why they are left out.
pub async fn streams_to_wire(
    aws: &impl AwsPort,
    settings: &Settings,
    prefix: &str,
) -> Result<(Vec<String>, Vec<(String, String)>), WiringError> {
    let mut wire = Vec::new();
    let mut left_out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = aws.list_streams_page(after.as_deref()).await?;
        for stream in page.items {
            if !stream.name.starts_with(prefix) {
                continue;
            }
            if !settings.manages(&stream.name) {
                left_out.push((
                    stream.name,
                    format!(
                        "outside MANAGED_STREAM_PREFIX {:?}",
                        settings.managed_stream_prefix
                    ),
                ));
            } else if stream.mode == StreamMode::OnDemand {
                left_out.push((stream.name, "ON_DEMAND".into()));
            } else if stream.status != StreamStatus::Active {
                left_out.push((stream.name, format!("{:?}", stream.status).to_uppercase()));
            } else {
                wire.push(stream.name);
            }
        }
        match page.next {
            Some(last) => after = Some(last),
            None => return Ok((wire, left_out)),
        }
    }
}

/// Wires `streams` several at a time; `progress(done, total)` after each.
pub async fn wire_many(
    aws: &impl AwsPort,
    settings: &Settings,
    streams: &[String],
    options: &WireOptions,
    progress: impl Fn(usize, usize),
) -> Vec<(String, Result<WireReport, WiringError>)> {
    let total = streams.len();
    let mut done = 0;
    let mut results: Vec<(usize, String, Result<WireReport, WiringError>)> = Vec::new();
    let mut running = futures_util::stream::iter(streams.iter().enumerate().map(
        |(index, stream)| async move {
            let result = wiring::wire_stream(aws, settings, stream, options).await;
            (index, stream.clone(), result)
        },
    ))
    .buffer_unordered(DEFAULT_CONCURRENCY / 2);
    while let Some(result) = running.next().await {
        done += 1;
        progress(done, total);
        results.push(result);
    }
    results.sort_by_key(|(index, _, _)| *index);
    results.into_iter().map(|(_, s, r)| (s, r)).collect()
}

/// Unwires every managed stream whose name starts with `prefix`: its alarm pair deleted, 100
/// alarms a call. With `remove_tags`, our stream tags go too (one stream at a time). A dry
/// run reports what would go and changes nothing.
pub async fn unwire_prefix(
    aws: &impl AwsPort,
    prefix: &str,
    remove_tags: bool,
    dry_run: bool,
    progress: impl Fn(usize, usize),
) -> Result<Vec<UnwireReport>, WiringError> {
    let mut alarms = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = aws.alarms_page(prefix, next.as_deref()).await?;
        alarms.extend(page.items);
        match page.next {
            Some(token) => next = Some(token),
            None => break,
        }
    }
    let present: HashSet<&str> = alarms.iter().map(|a| a.spec.name.as_str()).collect();
    let streams = crate::ops::status::managed_streams_of(alarms.iter().map(|a| &a.spec));
    let mut reports = Vec::new();
    let mut doomed = Vec::new();
    for stream in &streams {
        let pair = AlarmPair::new(stream.as_str());
        let mut removed = BTreeMap::new();
        for name in [pair.name(Direction::Up), pair.name(Direction::Down)] {
            let removal = if present.contains(name.as_str()) {
                doomed.push(name.clone());
                Removal::Deleted
            } else {
                Removal::AlreadyAbsent
            };
            removed.insert(name, removal);
        }
        reports.push(UnwireReport {
            stream: stream.clone(),
            dry_run,
            alarms: removed,
            stream_tags_removed: Vec::new(),
        });
    }
    if dry_run {
        return Ok(reports);
    }
    let mut deleted = 0;
    for batch in doomed.chunks(DELETE_BATCH) {
        aws.delete_alarms(batch).await?;
        deleted += batch.len();
        progress(deleted, doomed.len());
    }
    if remove_tags {
        for report in &mut reports {
            // The stream may be gone already: its alarms were what mattered.
            if let Ok(tags) = aws.stream_tags(&report.stream).await {
                for key in wiring::OUR_STREAM_TAGS {
                    if tags.contains_key(key) {
                        aws.untag_stream(&report.stream, key).await?;
                        report.stream_tags_removed.push(key.to_string());
                    }
                }
            }
        }
    }
    Ok(reports)
}

/// A fleet in a few lines: streams by reconcile verdict (a dry-run sweep: nothing is
/// changed) and alarms by state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetSummary {
    pub managed_streams: usize,
    /// in_line / drifted / skipped / failed.
    pub streams: BTreeMap<&'static str, usize>,
    /// Alarms of the managed pairs by state (OK, ALARM, INSUFFICIENT_DATA).
    pub alarms: BTreeMap<String, usize>,
    /// Streams not in line, with why (at most 20; `status STREAM` shows one in full).
    pub attention: Vec<(String, String)>,
}

pub async fn fleet_summary(
    aws: &impl AwsPort,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<FleetSummary, WiringError> {
    let options = SweepOptions {
        dry_run: true,
        now,
        ..Default::default()
    };
    let snapshot = fleet::read_fleet(aws, settings, None).await?;
    let mut alarms = BTreeMap::new();
    for stream in &snapshot.managed {
        let pair = AlarmPair::new(stream.as_str());
        for name in [pair.name(Direction::Up), pair.name(Direction::Down)] {
            let state = snapshot
                .alarms
                .get(&name)
                .map_or("MISSING".to_string(), |a| a.state.clone());
            *alarms.entry(state).or_default() += 1;
        }
    }
    let report = fleet::sweep_snapshot(aws, settings, &snapshot, &options).await;
    let attention = report
        .streams
        .iter()
        .filter(|s| s.verdict != crate::ops::reconcile::StreamVerdict::InLine)
        .take(20)
        .map(|s| {
            let why = s.note.clone().unwrap_or_else(|| {
                s.fixes
                    .iter()
                    .map(|f| format!("{}: {}", f.target, f.detail))
                    .collect::<Vec<_>>()
                    .join("; ")
            });
            (s.stream.clone(), why)
        })
        .collect();
    Ok(FleetSummary {
        managed_streams: snapshot.managed.len(),
        streams: report.counts(),
        alarms,
        attention,
    })
}
