//! The trace's CSV file: reading (with lines named in errors) and writing (feature `cli`;
//! a child of [`super`], whose checks a file's rows pass as rows from memory do).

use super::*;
use std::io::Read;
use std::path::Path;

const HEADER: [&str; 4] = [
    "timestamp",
    "incoming_bytes",
    "incoming_records",
    "iterator_age_ms",
];
/// Columns of a trace without the optional iterator age.
const REQUIRED: usize = 3;

pub fn read(path: &Path) -> Result<Trace, TraceError> {
    let file = std::fs::File::open(path).map_err(|source| TraceError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse(std::io::BufReader::new(file))
}

pub fn parse(mut input: impl Read) -> Result<Trace, TraceError> {
    let mut bytes = Vec::new();
    if let Err(source) = input.read_to_end(&mut bytes) {
        return Err(TraceError::Io {
            path: String::new(),
            source,
        });
    }
    // The csv crate's line count is off in CRLF files, and its position of a record there
    // is the line end before it: skip line ends, then count those before the record.
    let line_at = |byte: u64| {
        let mut start = usize::try_from(byte).unwrap_or(usize::MAX).min(bytes.len());
        while matches!(bytes.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        1 + bytes[..start].iter().filter(|&&b| b == b'\n').count() as u64
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(&bytes[..]);
    let mut rows: Vec<Row> = Vec::new();
    let mut lines: Vec<u64> = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut header_seen = false;
    let mut columns = REQUIRED;
    loop {
        let byte_before = reader.position().byte();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(err) => {
                let line = line_at(err.position().map(|p| p.byte()).unwrap_or(byte_before));
                return Err(TraceError::Row {
                    line,
                    why: format!("unreadable CSV: {err}"),
                });
            }
        }
        let line = line_at(record.position().map(|p| p.byte()).unwrap_or(byte_before));
        let bad = |why: String| TraceError::Row { line, why };
        if record.iter().all(str::is_empty) {
            continue;
        }
        if !header_seen {
            header_seen = true;
            columns = record.len();
            if (REQUIRED..=HEADER.len()).contains(&columns)
                && record.iter().eq(HEADER[..columns].iter().copied())
            {
                continue;
            }
            return Err(bad(format!(
                "expected the header {:?} (its last column optional), found {:?}",
                HEADER.join(","),
                record.iter().collect::<Vec<_>>().join(",")
            )));
        }
        if record.len() != columns {
            return Err(bad(format!(
                "expected {columns} fields ({}), found {}",
                HEADER[..columns].join(","),
                record.len()
            )));
        }
        let timestamp = DateTime::parse_from_rfc3339(&record[0])
            .map_err(|e| {
                bad(format!(
                    "timestamp {:?} is not ISO 8601 like 2014-04-10T00:04:00Z: {e}",
                    &record[0]
                ))
            })?
            .with_timezone(&Utc);
        let number = |index: usize| -> Result<f64, TraceError> {
            let field = &record[index];
            match field.parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
                _ => Err(bad(format!(
                    "{} {field:?} is not a non-negative number",
                    HEADER[index]
                ))),
            }
        };
        let iterator_age_ms = match record.get(3) {
            None | Some("") => None,
            Some(_) => Some(number(3)?),
        };
        let row = Row {
            timestamp,
            incoming_bytes: number(1)?,
            incoming_records: number(2)?,
            iterator_age_ms,
        };
        if let Some(previous) = rows.last() {
            // Periods are whole seconds; this also keeps the period from being 0.
            if row.timestamp - previous.timestamp < chrono::Duration::seconds(1) {
                return Err(bad(format!(
                    "timestamp {} is not at least a second after the previous row's {}",
                    row.timestamp.to_rfc3339(),
                    previous.timestamp.to_rfc3339()
                )));
            }
        }
        rows.push(row);
        lines.push(line);
    }
    validated(rows, &lines)
}

/// Writes `trace` as CSV that [`parse`] reads back to the same trace, bit for bit: each
/// `comments` line first, prefixed with `# `, then the header and one row per period
/// (numbers in Rust's shortest round-trip form). The `iterator_age_ms` column is written
/// when a row has an iterator age.
pub fn write(
    mut out: impl std::io::Write,
    comments: &[String],
    trace: &Trace,
) -> std::io::Result<()> {
    for comment in comments {
        for line in comment.lines() {
            writeln!(out, "# {line}")?;
        }
    }
    let with_age = trace.rows.iter().any(|r| r.iterator_age_ms.is_some());
    let columns = if with_age { HEADER.len() } else { REQUIRED };
    writeln!(out, "{}", HEADER[..columns].join(","))?;
    for row in &trace.rows {
        write!(
            out,
            "{},{},{}",
            row.timestamp
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            row.incoming_bytes,
            row.incoming_records
        )?;
        match (with_age, row.iterator_age_ms) {
            (true, Some(age)) => writeln!(out, ",{age}")?,
            (true, None) => writeln!(out, ",")?,
            (false, _) => writeln!(out)?,
        }
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Trace, TraceError> {
        parse(s.as_bytes())
    }

    fn line_of(err: TraceError) -> u64 {
        match err {
            TraceError::Row { line, .. } => line,
            other => panic!("expected a row error, got {other}"),
        }
    }

    const HEAD: &str = "timestamp,incoming_bytes,incoming_records\n";

    #[test]
    fn parses_rows_and_finds_the_period() {
        let t = parse_str(&format!(
            "{HEAD}2014-04-10T00:04:00Z,902400000,881250\n2014-04-10T00:09:00Z,1.5e3,2\n"
        ))
        .unwrap();
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.period_secs, Some(300));
        assert_eq!(t.rows[1].incoming_bytes, 1500.0);
    }

    #[test]
    fn gaps_are_missing_data_not_errors() {
        let t = parse_str(&format!(
            "{HEAD}2014-04-10T00:00:00Z,1,1\n2014-04-10T00:05:00Z,1,1\n2014-04-10T00:20:00Z,1,1\n"
        ))
        .unwrap();
        assert_eq!(t.period_secs, Some(300));
        assert_eq!(t.span_periods(300), 5);
    }

    #[test]
    fn a_bad_row_names_its_line() {
        let err = parse_str(&format!(
            "{HEAD}2014-04-10T00:00:00Z,1,1\n2014-04-10T00:05:00Z,lots,1\n"
        ))
        .unwrap_err();
        assert!(err.to_string().contains("line 3"), "{err}");
        assert!(err.to_string().contains("incoming_bytes"), "{err}");

        let err =
            parse_str(&format!("{HEAD}2014-04-10T00:00:00Z,1,1\nyesterday,1,1\n")).unwrap_err();
        assert_eq!(line_of(err), 3);
        let err = parse_str(&format!("{HEAD}2014-04-10T00:00:00Z,1,-4\n")).unwrap_err();
        assert_eq!(line_of(err), 2);
        let err = parse_str(&format!("{HEAD}2014-04-10T00:00:00Z,1\n")).unwrap_err();
        assert_eq!(line_of(err), 2);
        let err = parse_str(&format!(
            "{HEAD}2014-04-10T00:05:00Z,1,1\n2014-04-10T00:00:00Z,1,1\n"
        ))
        .unwrap_err();
        assert_eq!(line_of(err), 3);
        let err = parse_str(&format!(
            "{HEAD}2014-04-10T00:00:00Z,1,1\n2014-04-10T00:05:00Z,1,1\n2014-04-10T00:12:00Z,1,1\n"
        ))
        .unwrap_err();
        assert_eq!(line_of(err), 4);
    }

    #[test]
    fn lines_are_counted_in_crlf_files_too() {
        for end in ["\n", "\r\n"] {
            let text = format!(
                "# exported{end}{end}{}2014-04-10T00:00:00Z,1,1{end}2014-04-10T00:05:00Z,x,1{end}",
                HEAD.replace('\n', end)
            );
            assert_eq!(line_of(parse_str(&text).unwrap_err()), 5, "{end:?}");
            let unterminated =
                format!("{}2014-04-10T00:00:00Z,\"1,1{end}", HEAD.replace('\n', end));
            assert!(parse_str(&unterminated).is_err());
        }
    }

    #[test]
    fn a_row_off_the_grid_is_named_by_line_and_timestamp() {
        let rows: String = [
            "00:00:00", "00:05:00", "00:10:00", "00:12:30", "00:15:00", "00:20:00",
        ]
        .iter()
        .map(|t| format!("2014-04-10T{t}Z,1,1\r\n"))
        .collect();
        let err = parse_str(&format!("{}{rows}", HEAD.replace('\n', "\r\n"))).unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("line 5: "), "{message}");
        assert!(message.contains("2014-04-10T00:12:30+00:00"), "{message}");
        assert!(message.contains("every 300 s"), "{message}");
    }

    #[test]
    fn rows_closer_than_a_second_are_refused() {
        let err = parse_str(&format!(
            "{HEAD}2014-04-10T00:00:00Z,1,1\n2014-04-10T00:00:00.5Z,1,1\n"
        ))
        .unwrap_err();
        assert_eq!(line_of(err), 3);
    }

    #[test]
    fn comments_are_skipped_and_writing_round_trips() {
        let text = format!(
            "# exported\n{HEAD}# a note\n2014-04-10T00:00:00Z,1.5,1\n2014-04-10T00:15:00Z,0.1,3\n"
        );
        let t = parse_str(&text).unwrap();
        assert_eq!(t.rows.len(), 2);
        let odd = Trace {
            rows: vec![
                Row {
                    timestamp: DateTime::from_timestamp(1_700_000_100, 0).unwrap(),
                    incoming_bytes: 0.1 + 0.2,
                    incoming_records: 1e-7,
                    iterator_age_ms: None,
                },
                Row {
                    timestamp: DateTime::from_timestamp(1_700_000_400, 0).unwrap(),
                    incoming_bytes: 123_456_789.123_456_78,
                    incoming_records: f64::MAX,
                    iterator_age_ms: Some(2_400_000.5),
                },
            ],
            period_secs: Some(300),
        };
        let mut out = Vec::new();
        write(&mut out, &["two\nlines".into()], &odd).unwrap();
        let back = parse(&out[..]).unwrap();
        assert_eq!(back, odd);
        assert_eq!(from_rows(odd.rows.clone()).unwrap(), odd);
        assert!(String::from_utf8(out)
            .unwrap()
            .starts_with("# two\n# lines\n"));
    }

    #[test]
    fn rows_from_memory_are_checked_like_a_file() {
        let at = |s: i64| DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap();
        let row = |s: i64| Row {
            timestamp: at(s),
            incoming_bytes: 1.0,
            incoming_records: 1.0,
            iterator_age_ms: None,
        };
        assert!(matches!(from_rows(vec![]), Err(TraceError::Empty)));
        let err = from_rows(vec![row(0), row(300), row(420)]).unwrap_err();
        assert_eq!(line_of(err), 3);
        let err = from_rows(vec![row(300), row(0)]).unwrap_err();
        assert_eq!(line_of(err), 3);
    }

    #[test]
    fn the_iterator_age_column_is_optional_and_may_be_empty() {
        let t = parse_str(
            "timestamp,incoming_bytes,incoming_records,iterator_age_ms\n\
             2014-04-10T00:00:00Z,1,1,2400000\n2014-04-10T00:05:00Z,1,1,\n",
        )
        .unwrap();
        assert_eq!(t.rows[0].iterator_age_ms, Some(2_400_000.0));
        assert_eq!(t.rows[1].iterator_age_ms, None);
        let plain = parse_str(&format!("{HEAD}2014-04-10T00:00:00Z,1,1\n")).unwrap();
        assert_eq!(plain.rows[0].iterator_age_ms, None);
        let err = parse_str(
            "timestamp,incoming_bytes,incoming_records,iterator_age_ms\n\
             2014-04-10T00:00:00Z,1,1,-5\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("iterator_age_ms"), "{err}");
        let err = parse_str(
            "timestamp,incoming_bytes,incoming_records,iterator_age_ms\n2014-04-10T00:00:00Z,1,1\n",
        )
        .unwrap_err();
        assert_eq!(line_of(err), 2);
    }

    #[test]
    fn header_and_emptiness_are_checked() {
        let err = parse_str("time,bytes,records\n2014-04-10T00:00:00Z,1,1\n").unwrap_err();
        assert_eq!(line_of(err), 1);
        assert!(matches!(parse_str(HEAD), Err(TraceError::Empty)));
    }
}
