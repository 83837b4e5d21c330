//! A panicking handler under the Lambda Runtime API is an invocation error, and the same
//! process serves the next event: the real `lambda_runtime::run` with the project's handler
//! ([`lambda::handle_event`]), polling a tiny Runtime API server in this test. The first event
//! panics (a test-only trigger around the handler: production code has no panic path to
//! provoke), the second is a scheduled run on the in-process account.
//!
//! Test builds unwind; the release build does too because `Cargo.toml` sets
//! `panic = "unwind"` in `[profile.release]` (checked below): without it `cargo lambda build`
//! and `sam build` add `panic = "abort"`, and a panic would kill the process mid-event.

use kinesis_autoscaler::aws::fake::FakeAws;
use kinesis_autoscaler::domain::settings::Settings;
use kinesis_autoscaler::lambda::handle_event;
use kinesis_autoscaler::ops::autoscaler::Autoscaler;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

const PANIC_EVENT: &str = r#"{"test": "panic"}"#;
const SCHEDULED_EVENT: &str = r#"{"version":"0","id":"x","detail-type":"Scheduled Event","source":"aws.events","time":"2026-11-23T10:00:00Z","detail":{}}"#;

/// What the runtime posted: (request id, "response" or "error", body).
type Posts = Arc<Mutex<Vec<(String, String, String)>>>;

/// The Runtime API: hands out `events` in order on `GET .../invocation/next` (then holds the
/// poll open), records each `POST .../invocation/<id>/(response|error)`.
fn runtime_api(events: Vec<(&'static str, &'static str)>) -> (String, Posts) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let address = listener.local_addr().expect("an address").to_string();
    let posts: Posts = Arc::default();
    let queue = Arc::new(Mutex::new(events.into_iter()));
    let recorded = posts.clone();
    std::thread::spawn(move || {
        for connection in listener.incoming().flatten() {
            let (queue, recorded) = (queue.clone(), recorded.clone());
            std::thread::spawn(move || serve(connection, &queue, &recorded));
        }
    });
    (address, posts)
}

type Queue = Mutex<std::vec::IntoIter<(&'static str, &'static str)>>;

/// One keep-alive connection of the runtime's HTTP client.
fn serve(connection: TcpStream, queue: &Queue, posts: &Posts) {
    let mut writer = connection.try_clone().expect("a clone");
    let mut reader = BufReader::new(connection);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_string();
        let reply = if path.ends_with("/invocation/next") {
            let next = queue.lock().expect("the queue").next();
            let Some((id, event)) = next else {
                // No more events: hold the poll, as Lambda does between invocations.
                std::thread::sleep(std::time::Duration::from_secs(3600));
                return;
            };
            let deadline = chrono::Utc::now().timestamp_millis() + 60_000;
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: {id}\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\nLambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:autoscaler\r\nLambda-Runtime-Trace-Id: Root=1-0-0\r\nContent-Length: {}\r\n\r\n{event}",
                event.len()
            )
        } else {
            let mut parts = path.rsplit('/');
            let kind = parts.next().unwrap_or("").to_string();
            let id = parts.next().unwrap_or("").to_string();
            let body = String::from_utf8_lossy(&body).into_owned();
            posts.lock().expect("the posts").push((id, kind, body));
            "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}".to_string()
        };
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_panicking_handler_is_an_invocation_error_and_the_process_serves_the_next_event() {
    let (address, posts) = runtime_api(vec![("panic-1", PANIC_EVENT), ("ok-2", SCHEDULED_EVENT)]);
    // No other test of this binary reads the environment: setting it races nothing.
    for (name, value) in [
        ("AWS_LAMBDA_RUNTIME_API", address.as_str()),
        ("AWS_LAMBDA_FUNCTION_NAME", "autoscaler"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
    ] {
        std::env::set_var(name, value);
    }
    let aws = FakeAws::default();
    aws.create_function("autoscaler");
    let autoscaler: &'static Autoscaler<FakeAws> = Box::leak(Box::new(Autoscaler::new(
        aws,
        Settings::default(),
        "autoscaler",
    )));
    let runtime = lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        if event.payload.get("test") == Some(&Value::from("panic")) {
            panic!("a handler bug");
        }
        handle_event(autoscaler, None, event).await
    }));
    let two_posts = async {
        while posts.lock().expect("the posts").len() < 2 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    // The runtime polls for ever: it must still be running once both events are answered.
    tokio::select! {
        ended = runtime => panic!("the runtime stopped: {ended:?}"),
        _ = tokio::time::timeout(std::time::Duration::from_secs(30), two_posts) => {}
    }
    let posts = posts.lock().expect("the posts").clone();
    assert_eq!(posts.len(), 2, "{posts:?}");
    assert_eq!(posts[0].0, "panic-1");
    assert_eq!(posts[0].1, "error", "{posts:?}");
    assert!(posts[0].2.contains("a handler bug"), "{}", posts[0].2);
    assert_eq!(posts[1].0, "ok-2");
    assert_eq!(posts[1].1, "response", "{posts:?}");
}

#[test]
fn the_release_profile_unwinds() {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .expect("Cargo.toml");
    let release = manifest
        .split("\n[")
        .find(|section| section.starts_with("profile.release]"))
        .expect("a [profile.release] section");
    assert!(
        release.lines().any(|l| l.trim() == r#"panic = "unwind""#),
        "[profile.release] must set panic = \"unwind\":{release}"
    );
}
