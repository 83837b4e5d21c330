//! `report`: what the autoscaler would save across an account, from CloudWatch history. Rows
//! are written as they come (JSON to stdout, HTML rows to a scratch file beside the page), so
//! memory stays flat however many streams the account has.

use crate::aws::AwsPort;
use crate::cli::errors::UsageError;
use crate::cli::output::{eoutln, outln};
use crate::cli::{connect, output, AwsArgs};
use crate::ops::export::{Resolution, Window};
use crate::ops::report::{self, Progress, Row, Selection};
use crate::replay::compare::{Billing, StreamReport, Totals};
use crate::replay::report_html::{self, PageMeta};
use crate::replay::simulate::{self, Options};
use anyhow::Context as _;
use chrono::Utc;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Estimate what the autoscaler would save across the account, from CloudWatch history.
///
/// Reads every provisioned stream's last N days (or the named ones) in bulk and replays each
/// as it is, under the upstream Go Lambda's policy, under ours (the function's defaults) and on
/// demand, exactly as `simulate --stream S --initial-shards <its shard count>` does. Deploys
/// nothing and changes nothing.
#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// Streams to report on [default: every stream in the region].
    #[arg(conflicts_with = "prefix")]
    streams: Vec<String>,
    /// Only the streams whose names start with this.
    #[arg(long, value_name = "P")]
    prefix: Option<String>,
    #[command(flatten)]
    window: crate::cli::trace::WindowArgs,
    /// Write the report as one self-contained HTML page here.
    #[arg(long, short, value_name = "report.html", help_heading = "Output")]
    output: Option<PathBuf>,
    /// Print `{"streams": [...], "on_demand_streams": [...], "totals": {...}, ...}` to stdout.
    #[arg(long, help_heading = "Output")]
    json: bool,
    #[command(flatten)]
    aws: AwsArgs,
}

impl ReportArgs {
    pub fn aws(&self) -> &AwsArgs {
        &self.aws
    }
}

/// The options `simulate` uses without flags, at the window's resolution.
pub fn default_options(resolution: Resolution) -> anyhow::Result<Options> {
    let mut vars: HashMap<&str, String> = HashMap::new();
    if resolution == Resolution::Hourly {
        vars.insert("SCALE_PERIOD_MINS", "60".into());
    }
    Ok(Options::new(simulate::settings_from_vars(&vars)?))
}

struct Bar(indicatif::ProgressBar, usize);

impl Progress for Bar {
    fn listed(&mut self, streams: usize) {
        self.0
            .set_message(format!("{} of {streams} streams replayed", self.1));
    }
    fn done(&mut self, streams: usize) {
        self.1 += streams;
        self.0.set_message(format!("{} streams replayed", self.1));
    }
}

pub async fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    if let Some(path) = &args.output {
        if path.extension().and_then(|e| e.to_str()) != Some("html") {
            return Err(UsageError(format!(
                "--output {}: expected a file ending in .html",
                path.display()
            ))
            .into());
        }
    }
    let settings = crate::cli::settings_from_env().context("invalid settings")?;
    let clients = connect(&args.aws, &settings).await?;
    // Half of each quota: a deployed autoscaler shares the account's quotas meanwhile.
    let aws = crate::aws::paced::Paced::new(clients, crate::aws::paced::RECONCILE_SHARE);
    let now = Utc::now();
    let (start, end) = args.window.range(now);
    let window = report::window(start, end, now)?;
    let base = default_options(window.resolution)?;
    let selection = if args.streams.is_empty() {
        Selection::Prefix(args.prefix.clone().unwrap_or_default())
    } else {
        Selection::Named(args.streams.clone())
    };
    let json = args.json.then(|| BufWriter::new(output::stdout()));
    let region = aws
        .inner()
        .kinesis
        .config()
        .region()
        .map(|r| r.to_string())
        .unwrap_or_default();
    let mut bar = Bar(output::spinner("reading streams"), 0);
    let target = Target {
        json,
        page: args.output.as_deref(),
        region,
    };
    let written = write(&aws, &selection, &window, &base, target, &mut bar).await;
    bar.0.finish_and_clear();
    let (failed, _) = written?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Where a report goes: JSON to a writer, the page to a file.
pub struct Target<'a, W> {
    pub json: Option<W>,
    pub page: Option<&'a Path>,
    pub region: String,
}

/// Runs the report and writes it to `target`; the number of streams that failed and the
/// JSON writer back. The command and the benchmark both run this.
pub async fn write<W: Write>(
    aws: &impl AwsPort,
    selection: &Selection,
    window: &Window,
    base: &Options,
    target: Target<'_, W>,
    progress: &mut impl Progress,
) -> anyhow::Result<(usize, Option<W>)> {
    let mut sink = Sink::new(target.json, target.page)?;
    report::run(aws, selection, window, base, progress, |row| sink.take(row)).await?;
    let meta = PageMeta {
        window: format!(
            "{} to {}, {}",
            window.start.format("%Y-%m-%d %H:%M UTC"),
            window.end.format("%Y-%m-%d %H:%M UTC"),
            window.resolution.describe()
        ),
        region: target.region,
        settings: "the function's default settings".into(),
    };
    sink.finish(&meta)
}

/// Where rows go as they come: stdout (JSON) and a scratch file of HTML rows.
struct Sink<W: Write> {
    json: Option<W>,
    html: Option<HtmlRows>,
    totals: Totals,
    on_demand_totals: Totals,
    /// The few streams kept whole: on-demand ones (JSON), no data and failures.
    on_demand: Vec<serde_json::Value>,
    no_data: Vec<(String, Billing, u32)>,
    failed: Vec<(String, String)>,
    provisioned_rows: usize,
    error: Option<std::io::Error>,
    top: Vec<(f64, String)>,
}

/// HTML rows in a scratch file and where each one is, so the page can list them by savings.
struct HtmlRows {
    page: PathBuf,
    scratch_path: PathBuf,
    scratch: BufWriter<File>,
    at: u64,
    /// (billing, savings, offset, length) of each row.
    index: Vec<(Billing, f64, u64, u64)>,
}

impl<W: Write> Sink<W> {
    fn new(mut json: Option<W>, page: Option<&Path>) -> anyhow::Result<Sink<W>> {
        let html = match page {
            Some(page) => {
                let scratch_path = page.with_extension("html.rows");
                let file = File::create(&scratch_path)
                    .with_context(|| format!("creating {}", scratch_path.display()))?;
                Some(HtmlRows {
                    page: page.to_path_buf(),
                    scratch_path,
                    scratch: BufWriter::new(file),
                    at: 0,
                    index: Vec::new(),
                })
            }
            None => None,
        };
        if let Some(out) = &mut json {
            out.write_all(b"{\"streams\": [")?;
        }
        Ok(Sink {
            json,
            html,
            totals: Totals::default(),
            on_demand_totals: Totals::default(),
            on_demand: Vec::new(),
            no_data: Vec::new(),
            failed: Vec::new(),
            provisioned_rows: 0,
            error: None,
            top: Vec::new(),
        })
    }

    fn take(&mut self, row: Row) {
        if let Err(err) = self.try_take(row) {
            self.error.get_or_insert(err);
        }
    }

    fn try_take(&mut self, row: Row) -> std::io::Result<()> {
        let report = match row {
            Row::Stream(report) => report,
            Row::NoData {
                stream,
                billing,
                open_shards,
            } => {
                self.no_data.push((stream, billing, open_shards));
                return Ok(());
            }
            Row::Failed { stream, error } => {
                eoutln!("stream {stream}: {error}");
                self.failed.push((stream, error));
                return Ok(());
            }
        };
        if let Some(html) = &mut self.html {
            html.push(&report)?;
        }
        match report.billing {
            Billing::OnDemand => {
                self.on_demand_totals.add(&report);
                self.on_demand.push(serde_json::to_value(&*report)?);
            }
            Billing::Provisioned => {
                self.totals.add(&report);
                self.keep_top(&report);
                if let Some(out) = &mut self.json {
                    if self.provisioned_rows > 0 {
                        out.write_all(b",")?;
                    }
                    out.write_all(b"\n")?;
                    serde_json::to_writer(&mut *out, &*report)?;
                }
                self.provisioned_rows += 1;
            }
        }
        Ok(())
    }

    /// The ten biggest savings, for the text summary.
    fn keep_top(&mut self, r: &StreamReport) {
        self.top.push((r.monthly_savings_usd, r.stream.clone()));
        if self.top.len() > 20 {
            self.top.sort_by(|a, b| b.0.total_cmp(&a.0));
            self.top.truncate(10);
        }
    }

    /// Writes what only the end knows (totals, the page); the number of failed streams and
    /// the JSON writer.
    fn finish(mut self, meta: &PageMeta) -> anyhow::Result<(usize, Option<W>)> {
        if let Some(err) = self.error.take() {
            return Err(anyhow::Error::from(err).context("writing the report"));
        }
        let no_data: Vec<_> = self
            .no_data
            .iter()
            .map(|(s, b, n)| serde_json::json!({"stream": s, "billing": b, "open_shards": n}))
            .collect();
        let failed: Vec<_> = self
            .failed
            .iter()
            .map(|(s, e)| serde_json::json!({"stream": s, "error": e}))
            .collect();
        let json = self.json.take();
        if let Some(mut out) = json {
            let rest = serde_json::json!({
                "on_demand_streams": self.on_demand,
                "totals": self.totals,
                "on_demand_totals": self.on_demand_totals,
                "no_data": no_data,
                "failed": failed,
            });
            let rest = rest.to_string();
            // `rest` is an object: splice its members after the streams.
            writeln!(out, "\n], {}", &rest[1..])?;
            out.flush()?;
            self.json = Some(out);
        } else {
            self.print_summary()?;
        }
        if let Some(html) = self.html.take() {
            let page = html.page.clone();
            html.assemble(
                meta,
                &self.totals,
                &self.on_demand_totals,
                &self.no_data,
                &self.failed,
            )?;
            eoutln!("wrote {}", page.display());
        }
        Ok((self.failed.len(), self.json.take()))
    }

    fn print_summary(&mut self) -> std::io::Result<()> {
        let t = &self.totals;
        outln!(
            "{} provisioned streams ({} shards), per 30 days: now ${:.2}, with us ${:.2}, upstream ${:.2}, on demand ${:.2}",
            t.streams,
            t.open_shards,
            t.as_is.monthly_cost_usd,
            t.ours.monthly_cost_usd,
            t.upstream.monthly_cost_usd,
            t.on_demand.monthly_cost_usd
        )?;
        let share = |x: f64| 100.0 * x / t.records_total.max(1.0);
        outln!(
            "throttled records: now {:.0} ({:.3}%), with us {:.0} ({:.3}%)",
            t.as_is.records_throttled,
            share(t.as_is.records_throttled),
            t.ours.records_throttled,
            share(t.ours.records_throttled)
        )?;
        self.top.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (savings, stream) in self.top.iter().take(10) {
            outln!("  {stream:<40} saves ${savings:.2} a month")?;
        }
        if self.on_demand_totals.streams > 0 {
            let od = &self.on_demand_totals;
            outln!(
                "{} on-demand streams: ${:.2} per 30 days on demand, ${:.2} provisioned with us",
                od.streams,
                od.as_is.monthly_cost_usd,
                od.ours.monthly_cost_usd
            )?;
        }
        if !self.no_data.is_empty() {
            outln!(
                "{} streams had no datapoints in the window",
                self.no_data.len()
            )?;
        }
        Ok(())
    }
}

impl HtmlRows {
    fn push(&mut self, r: &StreamReport) -> std::io::Result<()> {
        let text = report_html::row(r);
        self.scratch.write_all(text.as_bytes())?;
        let len = text.len() as u64;
        self.index
            .push((r.billing, r.monthly_savings_usd, self.at, len));
        self.at += len;
        Ok(())
    }

    /// The page: head and totals, the rows by savings (biggest first), the tail.
    fn assemble(
        mut self,
        meta: &PageMeta,
        totals: &Totals,
        on_demand: &Totals,
        no_data: &[(String, Billing, u32)],
        failed: &[(String, String)],
    ) -> anyhow::Result<()> {
        self.scratch.flush()?;
        let mut scratch = File::open(&self.scratch_path)?;
        let file = File::create(&self.page)
            .with_context(|| format!("creating {}", self.page.display()))?;
        let mut page = BufWriter::new(file);
        self.index.sort_by(|a, b| b.1.total_cmp(&a.1));
        page.write_all(report_html::head(meta, totals).as_bytes())?;
        let mut buf = Vec::new();
        for billing in [Billing::Provisioned, Billing::OnDemand] {
            if billing == Billing::OnDemand {
                page.write_all(report_html::on_demand_open(on_demand).as_bytes())?;
            }
            for (_, _, at, len) in self.index.iter().filter(|i| i.0 == billing) {
                scratch.seek(SeekFrom::Start(*at))?;
                buf.resize(usize::try_from(*len).unwrap_or_default(), 0);
                scratch.read_exact(&mut buf)?;
                page.write_all(&buf)?;
            }
        }
        page.write_all(report_html::tail(no_data, failed).as_bytes())?;
        page.flush()?;
        drop(scratch);
        std::fs::remove_file(&self.scratch_path)
            .with_context(|| format!("removing {}", self.scratch_path.display()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::compare;
    use crate::replay::trace::{self, Row as TraceRow};
    use chrono::{DateTime, Duration};

    fn row(name: &str, billing: Billing, shards: u32, need: f64) -> Row {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let rows = (0..288)
            .map(|i| TraceRow {
                timestamp: t0 + Duration::minutes(5 * i),
                incoming_bytes: need * (1.0 + (i % 7) as f64) * 300.0 * 100_000.0,
                incoming_records: need * (1.0 + (i % 7) as f64) * 300.0 * 200.0,
                iterator_age_ms: None,
            })
            .collect();
        let trace = trace::from_rows(rows).unwrap();
        let base = default_options(Resolution::FiveMinutes).unwrap();
        let report = compare::stream_report(name, billing, shards, &trace, &base).unwrap();
        Row::Stream(Box::new(report))
    }

    fn sum(streams: &[serde_json::Value], path: &[&str]) -> f64 {
        streams
            .iter()
            .map(|s| path.iter().fold(s, |v, k| &v[*k]).as_f64().unwrap())
            .sum()
    }

    /// The report replays with `simulate`'s defaults: whatever a flag of `simulate` defaults
    /// to (a throttling budget included, once it exists), the report uses too.
    #[test]
    fn the_report_replays_with_simulates_defaults() {
        use clap::Parser;
        #[derive(Parser)]
        struct Simulate {
            #[command(flatten)]
            args: crate::cli::sim::SimulateArgs,
        }
        let parsed = Simulate::try_parse_from(["simulate", "--stream", "s"]).unwrap();
        let simulate = crate::cli::sim::options(&parsed.args).unwrap();
        let report = default_options(Resolution::FiveMinutes).unwrap();
        assert_eq!(format!("{simulate:?}"), format!("{report:?}"));
    }

    #[test]
    fn every_total_is_the_sum_of_its_stream_fields_and_the_page_has_a_row_each() {
        let page = std::env::temp_dir().join(format!("report-sink-{}.html", std::process::id()));
        let mut sink = Sink::new(Some(Vec::new()), Some(&page)).unwrap();
        for (i, (shards, need)) in [(1, 0.2), (8, 1.0), (2, 3.0), (16, 0.5)].iter().enumerate() {
            sink.take(row(&format!("s{i}"), Billing::Provisioned, *shards, *need));
        }
        sink.take(row("od", Billing::OnDemand, 4, 1.0));
        sink.take(Row::NoData {
            stream: "quiet".into(),
            billing: Billing::Provisioned,
            open_shards: 3,
        });
        let meta = PageMeta {
            window: "w".into(),
            region: "us-east-1".into(),
            settings: "defaults".into(),
        };
        let (failed, json) = sink.finish(&meta).unwrap();
        assert_eq!(failed, 0);
        let doc: serde_json::Value = serde_json::from_slice(&json.unwrap()).unwrap();
        let streams = doc["streams"].as_array().unwrap();
        assert_eq!(streams.len(), 4);
        assert_eq!(doc["on_demand_streams"].as_array().unwrap().len(), 1);
        assert_eq!(doc["no_data"][0]["stream"], "quiet");
        let totals = doc["totals"].as_object().unwrap();
        assert_eq!(totals["streams"], 4);
        let mut checked = 0;
        for (key, total) in totals {
            let pairs: Vec<(Vec<&str>, f64)> = match total {
                serde_json::Value::Object(fields) => fields
                    .iter()
                    .map(|(f, v)| (vec![key.as_str(), f.as_str()], v.as_f64().unwrap()))
                    .collect(),
                serde_json::Value::Number(n) if key != "streams" => {
                    vec![(vec![key.as_str()], n.as_f64().unwrap())]
                }
                _ => continue,
            };
            for (path, total) in pairs {
                let expected = sum(streams, &path);
                assert!(
                    (total - expected).abs() <= 1e-9 * expected.abs().max(1.0),
                    "{path:?}"
                );
                checked += 1;
            }
        }
        assert!(checked >= 18, "{checked} totals checked");
        let html = std::fs::read_to_string(&page).unwrap();
        let _ = std::fs::remove_file(&page);
        assert_eq!(html.matches("<tr class=\"stream\"").count(), 5);
        assert!(
            !page.with_extension("html.rows").exists(),
            "the scratch file is removed"
        );
        // Biggest savings first.
        let order: Vec<usize> = (0..4)
            .map(|i| html.find(&format!("data-stream=\"s{i}\"")).unwrap())
            .collect();
        let mut by_savings: Vec<(f64, usize)> = streams
            .iter()
            .zip(order)
            .map(|(s, at)| (s["monthly_savings_usd"].as_f64().unwrap(), at))
            .collect();
        by_savings.sort_by(|a, b| b.0.total_cmp(&a.0));
        assert!(
            by_savings.windows(2).all(|w| w[0].1 < w[1].1),
            "{by_savings:?}"
        );
    }
}
