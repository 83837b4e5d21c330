use super::*;
use crate::domain::policy::StreamStatus;

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).expect("a valid time")
}

/// One stream's traffic as a one-page batched GetMetricData answers it.
async fn incoming(
    aws: &FakeAws,
    stream: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    period_secs: u32,
) -> Vec<IncomingPoint> {
    let page = aws
        .incoming_metrics_page(&[stream.to_string()], start, end, period_secs, None)
        .await
        .expect("answers");
    assert!(page.next.is_none(), "one page");
    crate::aws::merge_incoming(page.items)
        .remove(stream)
        .unwrap_or_default()
}

#[tokio::test]
async fn reshards_follow_aws_rules() {
    let aws = FakeAws::new(t0()).with_reshard_delay(Duration::seconds(30));
    aws.create_stream("s", 4);
    let code = |r: AwsResult<()>| r.err().and_then(|e| e.code);
    assert_eq!(
        code(aws.update_shard_count("s", 9).await).as_deref(),
        Some("InvalidArgumentException")
    );
    assert_eq!(
        code(aws.update_shard_count("s", 1).await).as_deref(),
        Some("InvalidArgumentException")
    );
    aws.update_shard_count("s", 8).await.expect("x2 is legal");
    assert_eq!(
        aws.stream_summary("s").await.expect("exists").status,
        StreamStatus::Updating
    );
    assert_eq!(
        code(aws.update_shard_count("s", 4).await).as_deref(),
        Some("ResourceInUseException")
    );
    aws.advance(Duration::seconds(30));
    let summary = aws.stream_summary("s").await.expect("exists");
    assert_eq!(
        (summary.status, summary.open_shards),
        (StreamStatus::Active, 8)
    );
    assert_eq!(
        code(aws.update_shard_count("nope", 2).await).as_deref(),
        Some("ResourceNotFoundException")
    );
}

#[tokio::test]
async fn ten_reshards_a_day_then_refused_until_the_oldest_ages_out() {
    let aws = FakeAws::new(t0());
    aws.create_stream("s", 1);
    for i in 0..10 {
        let target = if i % 2 == 0 { 2 } else { 1 };
        aws.update_shard_count("s", target)
            .await
            .expect("within the budget");
        aws.advance(Duration::minutes(10));
    }
    let refused = aws
        .update_shard_count("s", 1)
        .await
        .expect_err("11th in 24 h");
    assert!(refused.is("LimitExceededException"));
    aws.advance(Duration::hours(23));
    aws.update_shard_count("s", 1)
        .await
        .expect("the first one aged out");
}

#[tokio::test]
async fn the_account_limit_caps_scale_ups() {
    let aws = FakeAws::new(t0()).with_shard_limit(10);
    aws.create_stream("a", 4);
    aws.create_stream("b", 4);
    assert_eq!(aws.account_headroom().await.expect("answers"), 2);
    let refused = aws
        .update_shard_count("a", 8)
        .await
        .expect_err("over the limit");
    assert!(refused.is("LimitExceededException"));
    aws.update_shard_count("a", 6)
        .await
        .expect("within the limit");
}

#[tokio::test]
async fn faults_refuse_lose_the_answer_or_crash() {
    let aws = FakeAws::new(t0());
    aws.create_stream("s", 2);
    aws.inject("AddTagsToStream", 0, Fault::Refuse("AccessDeniedException"));
    let denied = aws.tag_stream("s", "k", "v").await.expect_err("refused");
    assert!(denied.is("AccessDeniedException") && denied.kind == FailureKind::Refused);
    assert!(aws.stream("s").expect("exists").tags.is_empty());

    aws.inject("AddTagsToStream", 0, Fault::LoseAnswer);
    let lost = aws
        .tag_stream("s", "k", "v")
        .await
        .expect_err("answer lost");
    assert_eq!(lost.kind, FailureKind::Unknown);
    assert_eq!(
        aws.stream("s")
            .expect("exists")
            .tags
            .get("k")
            .map(String::as_str),
        Some("v")
    );

    aws.inject("UpdateShardCount", 0, Fault::Crash);
    assert!(aws.update_shard_count("s", 4).await.is_err());
    assert_eq!(
        aws.stream("s").expect("exists").open_shards,
        4,
        "took effect"
    );
    assert!(
        aws.stream_summary("s").await.is_err(),
        "the process is dead"
    );
    aws.restart();
    assert!(aws.stream_summary("s").await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn quotas_throttle_beyond_the_rate() {
    let aws = FakeAws::new(t0()).with_quota("DescribeLimits", 1.0);
    assert!(aws.account_headroom().await.is_ok());
    let throttled = aws
        .account_headroom()
        .await
        .expect_err("2nd in the same second");
    assert!(throttled.is("LimitExceededException"));
    tokio::time::advance(std::time::Duration::from_secs(1)).await;
    assert!(aws.account_headroom().await.is_ok());
}

#[tokio::test]
async fn a_batched_read_pages_by_datapoints_and_merges_to_the_single_stream_answer() {
    let aws = FakeAws::new(t0());
    let per_call = crate::aws::METRIC_STREAMS_PER_CALL;
    let streams: Vec<String> = (0..per_call).map(|i| format!("s{i:03}")).collect();
    // Two days of 5-minute periods: 125 streams x 2 metrics x 576 = 144,000 datapoints,
    // one iterator age and one throttled period.
    let start = t0() - Duration::days(2);
    for (i, stream) in streams.iter().enumerate() {
        let points: Vec<IncomingPoint> = (0..576)
            .map(|p| IncomingPoint {
                start: start + Duration::minutes(5 * p),
                bytes: (i * 1000) as f64 + p as f64,
                records: p as f64,
            })
            .collect();
        aws.put_incoming(stream, &points);
    }
    aws.put_iterator_age(&streams[7], start + Duration::seconds(301), 60_000.0);
    aws.put_iterator_age(&streams[7], start + Duration::seconds(599), 90_000.0);
    aws.put_throttled(&streams[9], start + Duration::seconds(60), 400.0);
    aws.put_throttled(&streams[9], start + Duration::seconds(120), 100.0);
    let mut series = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = aws
            .incoming_metrics_page(&streams, start, t0(), 300, next.as_deref())
            .await
            .expect("answers");
        series.extend(page.items);
        match page.next {
            Some(token) => next = Some(token),
            None => break,
        }
    }
    assert_eq!(aws.count("GetMetricData"), 2, "100,800 datapoints a page");
    let ages = crate::aws::merge_iterator_ages(&series);
    let period_2 = start + Duration::minutes(5);
    assert_eq!(
        ages,
        HashMap::from([(streams[7].clone(), vec![(period_2, 90_000.0)])])
    );
    let throttled = crate::aws::merge_points(&series, crate::aws::IncomingMetric::Throttled);
    assert_eq!(
        throttled,
        HashMap::from([(streams[9].clone(), vec![(start, 500.0)])]),
        "the Sum of the period's refused records"
    );
    let merged = crate::aws::merge_incoming(series);
    assert_eq!(merged.len(), per_call);
    for stream in [&streams[0], &streams[117], &streams[per_call - 1]] {
        let single = incoming(&aws, stream, start, t0(), 300).await;
        assert_eq!(merged[stream.as_str()], single, "{stream}");
    }
    let too_many: Vec<String> = (0..=per_call).map(|i| format!("s{i}")).collect();
    let refused = aws
        .incoming_metrics_page(&too_many, start, t0(), 300, None)
        .await
        .expect_err("over 500 queries");
    assert!(refused.is("ValidationError"));
}

#[tokio::test]
async fn incoming_metrics_sum_into_periods_and_skip_the_future() {
    let aws = FakeAws::new(t0());
    let at = |m: i64| t0() + Duration::minutes(m);
    aws.put_incoming(
        "s",
        &[0, 5, 10, 15].map(|m| IncomingPoint {
            start: at(m),
            bytes: 1.0,
            records: 2.0,
        }),
    );
    let points = incoming(&aws, "s", at(0), at(15), 600).await;
    let sums: Vec<f64> = points.iter().map(|p| p.records).collect();
    assert_eq!(
        sums.iter().sum::<f64>(),
        6.0,
        "the point at the end is excluded"
    );
    assert!(points.windows(2).all(|w| w[0].start < w[1].start));
}
