//! Stream lifecycle events: CloudTrail's record of a Kinesis API call, delivered by an
//! EventBridge rule (`detail-type: AWS API Call via CloudTrail`, `source: aws.kinesis`). A
//! reshard by anything else (console, Terraform, another tool) leaves the stream's alarms
//! written for the old count until a reconcile; this event makes that reconcile happen for
//! the one stream within minutes instead of at the next scheduled sweep.

use serde_json::Value;

pub const CLOUDTRAIL_DETAIL_TYPE: &str = "AWS API Call via CloudTrail";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum StreamCall {
    UpdateShardCount,
    CreateStream,
    DeleteStream,
}

/// A Kinesis API call on one stream that succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEvent {
    pub call: StreamCall,
    pub stream: String,
    /// The event's id, for the log.
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamEventError {
    #[error(
        "CloudTrail event {id}: {call} names no stream (requestParameters.streamName or streamARN)"
    )]
    NoStream { id: String, call: String },
}

/// Classifies a payload: `Ok(None)` when it is not a CloudTrail Kinesis event (an alarm, the
/// schedule); `Ok(Some)` for a successful call we act on; a call we do not act on, or one
/// that failed (it has an `errorCode`), is `Ok(None)` too: it changed nothing.
pub fn parse(payload: &Value) -> Result<Option<StreamEvent>, StreamEventError> {
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
    if text(payload, "detail-type").as_deref() != Some(CLOUDTRAIL_DETAIL_TYPE)
        || text(payload, "source").as_deref() != Some("aws.kinesis")
    {
        return Ok(None);
    }
    let id = text(payload, "id").unwrap_or_default();
    let Some(detail) = payload.get("detail") else {
        return Ok(None);
    };
    if detail.get("errorCode").is_some_and(|c| !c.is_null()) {
        return Ok(None);
    }
    let name = text(detail, "eventName").unwrap_or_default();
    let call = match name.as_str() {
        "UpdateShardCount" => StreamCall::UpdateShardCount,
        "CreateStream" => StreamCall::CreateStream,
        "DeleteStream" => StreamCall::DeleteStream,
        _ => return Ok(None),
    };
    let params = detail.get("requestParameters").unwrap_or(&Value::Null);
    let stream = text(params, "streamName")
        .or_else(|| {
            text(params, "streamARN")
                .and_then(|arn| arn.split_once(":stream/").map(|(_, n)| n.to_string()))
        })
        .filter(|s| !s.is_empty())
        .ok_or(StreamEventError::NoStream {
            id: id.clone(),
            call: name.clone(),
        })?;
    Ok(Some(StreamEvent { call, stream, id }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cloudtrail(name: &str, params: Value) -> Value {
        json!({
            "version": "0", "id": "e1", "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.kinesis", "account": "123456789012", "region": "us-east-1",
            "time": "2026-11-30T10:00:00Z", "resources": [],
            "detail": {
                "eventVersion": "1.08", "eventSource": "kinesis.amazonaws.com",
                "eventName": name, "awsRegion": "us-east-1",
                "requestParameters": params,
                "responseElements": null
            }
        })
    }

    #[test]
    fn a_reshard_by_hand_names_its_stream() {
        let event = cloudtrail(
            "UpdateShardCount",
            json!({"streamName": "orders", "targetShardCount": 4, "scalingType": "UNIFORM_SCALING"}),
        );
        let parsed = parse(&event).unwrap().unwrap();
        assert_eq!(parsed.call, StreamCall::UpdateShardCount);
        assert_eq!(parsed.stream, "orders");
        let by_arn = cloudtrail(
            "DeleteStream",
            json!({"streamARN": "arn:aws:kinesis:us-east-1:123456789012:stream/clicks"}),
        );
        assert_eq!(parse(&by_arn).unwrap().unwrap().stream, "clicks");
    }

    #[test]
    fn failed_calls_other_calls_and_other_events_are_not_ours() {
        let mut failed = cloudtrail("UpdateShardCount", json!({"streamName": "orders"}));
        failed["detail"]["errorCode"] = json!("LimitExceededException");
        assert_eq!(parse(&failed).unwrap(), None);
        let put = cloudtrail("PutRecords", json!({"streamName": "orders"}));
        assert_eq!(parse(&put).unwrap(), None);
        let schedule = json!({"detail-type": "Scheduled Event", "source": "aws.events"});
        assert_eq!(parse(&schedule).unwrap(), None);
    }

    #[test]
    fn a_call_without_a_stream_is_an_error_that_names_the_event() {
        let event = cloudtrail("CreateStream", json!({"shardCount": 2}));
        let err = parse(&event).unwrap_err();
        assert!(err.to_string().contains("e1") && err.to_string().contains("CreateStream"));
    }
}
