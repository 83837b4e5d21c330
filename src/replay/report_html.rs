//! The account report as one self-contained HTML page: the totals first, then a sortable table
//! of every stream with a small chart each (SVG drawn with plotters), then the on-demand
//! streams and those without data. Nothing on the page is fetched from elsewhere: no fonts,
//! no scripts, no images but inline SVG. Each piece is a string, so the caller can write the
//! rows as they come and assemble the page at the end.

use crate::replay::compare::{Billing, Chart, StreamReport, Totals};
use plotters::prelude::*;

const CHART_SIZE: (u32, u32) = (180, 44);
const LOAD_COLOUR: RGBColor = RGBColor(150, 150, 150);
const AS_IS_COLOUR: RGBColor = RGBColor(214, 96, 77);
const OURS_COLOUR: RGBColor = RGBColor(33, 102, 172);

/// The columns of a stream table: (key, heading). Each cell carries its raw value in
/// `data-v`, which the inline script sorts by.
pub const COLUMNS: [(&str, &str); 11] = [
    ("stream", "Stream"),
    ("shards", "Shards now"),
    ("as_is", "Now $/month"),
    ("ours", "With us $/month"),
    ("upstream", "Upstream $/month"),
    ("on_demand", "On-demand $/month"),
    ("savings", "Savings $/month"),
    ("throttled_as_is", "Throttled now"),
    ("throttled_ours", "Throttled with us"),
    ("reshards", "Reshards with us"),
    ("advice", "Advice"),
];

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole number with thousands separators: 1234567 -> "1,234,567".
fn grouped(value: f64) -> String {
    let digits = (value.abs().round() as u64).to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn dollars(usd: f64) -> String {
    let sign = if usd < -0.5 { "-" } else { "" };
    format!("{sign}${}", grouped(usd))
}

fn percent(part: f64, whole: f64) -> String {
    if whole > 0.0 {
        format!("{:.3}%", 100.0 * part / whole)
    } else {
        "0%".into()
    }
}

/// A stream's chart: peak load (grey), shards as they are (red) and under ours (blue).
pub fn chart_svg(chart: &Chart) -> String {
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, CHART_SIZE).into_drawing_area();
        // Drawing into a string fails only on a bad range, which the bounds below rule out;
        // a chart that cannot be drawn is left blank rather than failing the report.
        let _ = draw_chart(&root, chart);
        let _ = root.present();
    }
    // Inline in HTML the namespace is implied; leaving it out keeps the page free of URLs.
    text.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1)
}

fn draw_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    chart: &Chart,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let n = chart.points.len().max(2) as f64;
    let top = chart
        .points
        .iter()
        .map(|(load, a, b)| load.max(f64::from(*a)).max(f64::from(*b)))
        .fold(1.0, f64::max)
        * 1.1;
    let mut ctx = ChartBuilder::on(root)
        .margin(2)
        .build_cartesian_2d(0.0..n - 1.0, 0.0..top)?;
    let xs = chart.points.iter().enumerate().map(|(i, p)| (i as f64, *p));
    ctx.draw_series(AreaSeries::new(
        xs.clone().map(|(x, p)| (x, p.0)),
        0.0,
        LOAD_COLOUR.mix(0.35),
    ))?;
    ctx.draw_series(LineSeries::new(
        xs.clone().map(|(x, p)| (x, f64::from(p.1))),
        AS_IS_COLOUR.stroke_width(2),
    ))?;
    ctx.draw_series(LineSeries::new(
        xs.map(|(x, p)| (x, f64::from(p.2))),
        OURS_COLOUR.stroke_width(2),
    ))?;
    Ok(())
}

fn cell(value: impl std::fmt::Display, shown: &str) -> String {
    format!("<td data-v=\"{value}\">{shown}</td>")
}

/// The advice a row shows, where the replay gives one: what would meet the budget.
fn advice_text(row: &StreamReport) -> String {
    let Some(advice) = &row.advice else {
        return String::new();
    };
    let floor = match (advice.floor_shards, advice.floor_monthly_usd) {
        (Some(shards), Some(usd)) => format!("AutoscalerMinShards={shards} (${usd:.0}/month) or "),
        _ => String::new(),
    };
    format!(
        "budget {:.3}% unmet: {floor}on-demand (${:.0}/month)",
        advice.budget_fraction * 100.0,
        advice.on_demand_monthly_usd
    )
}

/// One stream's `<tr>`.
pub fn row(r: &StreamReport) -> String {
    let name = escape(&r.stream);
    let advice = escape(&advice_text(r));
    let mut out = format!("<tr class=\"stream\" data-stream=\"{name}\">");
    out.push_str(&format!("<td data-v=\"{name}\">{name}</td>"));
    out.push_str(&cell(r.open_shards, &r.open_shards.to_string()));
    for usd in [
        r.as_is.monthly_cost_usd,
        r.ours.monthly_cost_usd,
        r.upstream.monthly_cost_usd,
        r.on_demand.monthly_cost_usd,
        r.monthly_savings_usd,
    ] {
        out.push_str(&cell(usd, &dollars(usd)));
    }
    for thrown in [r.as_is.records_throttled, r.ours.records_throttled] {
        out.push_str(&cell(
            thrown / r.records_total.max(1.0),
            &percent(thrown, r.records_total),
        ));
    }
    out.push_str(&cell(r.ours.reshards, &r.ours.reshards.to_string()));
    out.push_str(&format!("<td data-v=\"{advice}\">{advice}</td>"));
    out.push_str(&format!(
        "<td class=\"chart\">{}</td></tr>\n",
        chart_svg(&r.chart)
    ));
    out
}

/// What the page says about where its figures came from.
#[derive(Debug, Clone)]
pub struct PageMeta {
    pub window: String,
    pub region: String,
    pub settings: String,
}

/// The page up to the first table's rows: styles, the totals, the table's head.
pub fn head(meta: &PageMeta, totals: &Totals) -> String {
    let throttled = |records: f64| {
        (
            format!("{} of records", percent(records, totals.records_total)),
            format!("{} records", grouped(records)),
        )
    };
    let money = |usd: f64| (dollars(usd), "per 30 days".to_string());
    // The raw value sits in `data-value` for the browser test to compare with the JSON.
    let tile = |key: &str, label: &str, value: f64, (big, small): (String, String)| {
        format!(
            "<div class=\"tile\"><div class=\"label\">{label}</div><div class=\"big\">{big}</div>\
<div class=\"label\" data-total=\"{key}\" data-value=\"{value}\">{small}</div></div>"
        )
    };
    let t = totals;
    let tiles = [
        ("as_is.monthly_cost_usd", "Now", t.as_is.monthly_cost_usd),
        ("ours.monthly_cost_usd", "With us", t.ours.monthly_cost_usd),
        (
            "on_demand.monthly_cost_usd",
            "On demand",
            t.on_demand.monthly_cost_usd,
        ),
        ("monthly_savings_usd", "Savings", t.monthly_savings_usd),
        (
            "as_is.records_throttled",
            "Throttled now",
            t.as_is.records_throttled,
        ),
        (
            "ours.records_throttled",
            "Throttled with us",
            t.ours.records_throttled,
        ),
    ]
    .map(|(key, label, value)| {
        let shown = if key.ends_with("records_throttled") {
            throttled(value)
        } else {
            money(value)
        };
        tile(key, label, value, shown)
    })
    .concat();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>What would it save? kinesis-autoscaler report</title><style>{STYLE}</style></head><body>\n\
<h1>What would it save?</h1>\n<p class=\"meta\">{streams} provisioned streams, {shards} shards, region {region}; {window}. \
Each stream replayed as it is (its shard count held), under the upstream Go Lambda's policy and under ours ({settings}); \
costs scaled to 30 days at list prices.</p>\n<div class=\"tiles\">{tiles}</div>\n\
<p class=\"legend\"><span class=\"key load\"></span> load (shards needed) <span class=\"key asis\"></span> shards as they are \
<span class=\"key ours\"></span> shards with us. Click a heading to sort.</p>\n{table}",
        streams = totals.streams,
        shards = totals.open_shards,
        region = escape(&meta.region),
        window = escape(&meta.window),
        settings = escape(&meta.settings),
        table = table_open("provisioned"),
    )
}

fn table_open(id: &str) -> String {
    let headings: String = COLUMNS
        .iter()
        .map(|(key, label)| format!("<th data-key=\"{key}\" tabindex=\"0\">{label}</th>"))
        .chain(std::iter::once("<th>Load vs shards</th>".to_string()))
        .collect();
    format!("<table class=\"streams\" id=\"{id}\"><thead><tr>{headings}</tr></thead><tbody>\n")
}

/// Closes the provisioned table and opens the on-demand one.
pub fn on_demand_open(totals: &Totals) -> String {
    format!(
        "</tbody></table>\n<h2>On-demand streams</h2>\n<p class=\"meta\">{} streams billed on demand ({} per month); \
\"With us\" is what provisioned mode under our policy would cost them.</p>\n{}",
        totals.streams,
        dollars(totals.as_is.monthly_cost_usd),
        table_open("on-demand")
    )
}

/// Closes the last table, lists the streams without data and the failures, adds the script.
pub fn tail(no_data: &[(String, Billing, u32)], failed: &[(String, String)]) -> String {
    let mut out = String::from("</tbody></table>\n");
    if !no_data.is_empty() {
        out.push_str(
            "<h2>Streams without data in the window</h2><ul class=\"quiet\" id=\"no-data\">",
        );
        for (name, billing, shards) in no_data {
            let mode = match billing {
                Billing::Provisioned => "provisioned",
                Billing::OnDemand => "on-demand",
            };
            out.push_str(&format!(
                "<li>{} ({mode}, {shards} shards)</li>",
                escape(name)
            ));
        }
        out.push_str("</ul>\n");
    }
    if !failed.is_empty() {
        out.push_str("<h2>Streams that could not be read</h2><ul id=\"failed\">");
        for (name, error) in failed {
            out.push_str(&format!("<li>{}: {}</li>", escape(name), escape(error)));
        }
        out.push_str("</ul>\n");
    }
    out.push_str(&format!("<script>{SCRIPT}</script>\n</body></html>\n"));
    out
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#222}\
h1{margin:0 0 4px}.meta{color:#555;max-width:70em}\
.tiles{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}.tile{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:12em}\
.label{color:#666;font-size:13px}.big{font-size:22px;font-weight:600}\
table.streams{border-collapse:collapse;font-size:13px}th,td{padding:4px 8px;border-bottom:1px solid #eee;text-align:right;vertical-align:middle}\
th{cursor:pointer;background:#f6f6f6;position:sticky;top:0}th[aria-sort=ascending]::after{content:' \\25B2'}th[aria-sort=descending]::after{content:' \\25BC'}\
td:first-child,th:first-child{text-align:left}td:first-child{white-space:nowrap}\
.key{display:inline-block;width:14px;height:4px;margin:0 4px 3px 10px}.load{background:#bbb}.asis{background:rgb(214,96,77)}.ours{background:rgb(33,102,172)}\
.quiet{color:#666}td.chart{padding:0 4px}td.chart svg{display:block}";

/// Sorts a table by the clicked heading (numbers as numbers), toggling the direction; a URL
/// fragment `#sort=KEY` or `#sort=KEY-desc` sorts on load (how the browser test sorts).
const SCRIPT: &str = r#"(function(){
function sortTable(table,key,desc){
  var ths=table.querySelectorAll('th');var col=-1;
  for(var i=0;i<ths.length;i++){if(ths[i].dataset.key===key){col=i;}ths[i].removeAttribute('aria-sort');}
  if(col<0){return;}
  var body=table.tBodies[0];var rows=Array.prototype.slice.call(body.rows);
  rows.sort(function(a,b){
    var x=a.cells[col].dataset.v,y=b.cells[col].dataset.v;var nx=parseFloat(x),ny=parseFloat(y);
    var c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);return desc?-c:c;});
  rows.forEach(function(r){body.appendChild(r);});
  ths[col].setAttribute('aria-sort',desc?'descending':'ascending');
}
document.querySelectorAll('table.streams').forEach(function(table){
  table.querySelectorAll('th[data-key]').forEach(function(th){
    var go=function(){sortTable(table,th.dataset.key,th.getAttribute('aria-sort')==='ascending');};
    th.addEventListener('click',go);
    th.addEventListener('keydown',function(e){if(e.key==='Enter'){go();}});
  });
});
var m=/^#sort=([a-z_]+?)(-desc)?$/.exec(location.hash);
if(m){document.querySelectorAll('table.streams').forEach(function(t){sortTable(t,m[1],!!m[2]);});}
})();"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::compare::Figures;

    fn report(name: &str) -> StreamReport {
        StreamReport {
            stream: name.into(),
            billing: Billing::Provisioned,
            open_shards: 4,
            start: Default::default(),
            end: Default::default(),
            period_secs: 300,
            periods: 10,
            missing_periods: 0,
            records_total: 1000.0,
            as_is: Figures {
                monthly_cost_usd: 43.2,
                ..Figures::default()
            },
            upstream: Figures::default(),
            ours: Figures::default(),
            on_demand: Figures::default(),
            monthly_savings_usd: 43.2,
            advice: None,
            chart: Chart {
                start: None,
                end: None,
                points: vec![(0.5, 4, 4), (1.5, 4, 2), (0.2, 4, 1)],
            },
        }
    }

    #[test]
    fn a_row_escapes_names_and_carries_raw_values_and_a_chart() {
        let html = row(&report("a<b>"));
        assert!(
            html.contains("a&lt;b&gt;") && !html.contains("a<b>"),
            "{html}"
        );
        assert!(html.contains("data-v=\"43.2\">$43</td>"), "{html}");
        assert_eq!(grouped(216_000_000.4), "216,000,000");
        assert!(html.contains("<svg") && html.contains("</svg>"), "{html}");
        assert_eq!(html.matches("<td").count(), COLUMNS.len() + 1);
    }

    #[test]
    fn the_page_fetches_nothing_from_elsewhere() {
        let mut totals = Totals::default();
        totals.add(&report("s"));
        let meta = PageMeta {
            window: "w".into(),
            region: "r".into(),
            settings: "s".into(),
        };
        let page = [
            head(&meta, &totals),
            row(&report("s")),
            on_demand_open(&Totals::default()),
            tail(&[("idle".into(), Billing::Provisioned, 2)], &[]),
        ]
        .concat();
        assert!(!page.contains("http://") && !page.contains("https://"));
        assert!(page.contains("data-total=\"as_is.monthly_cost_usd\" data-value=\"43.2\""));
        assert!(page.contains("idle (provisioned, 2 shards)"));
        assert_eq!(dollars(1234567.4), "$1,234,567");
        assert_eq!(dollars(-12.0), "-$12");
    }
}
