//! `scripts/aws_proxy.py` in front of moto, as a child process stopped when dropped: counts
//! and logs calls, adds latency, injects faults. The autoscaler's clients are pointed at it
//! through their own SdkConfig; the process-wide AWS_ENDPOINT_URL is left alone, because the
//! tests of one binary run in parallel threads.

use kinesis_autoscaler::aws::AwsClients;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};

pub struct Proxy {
    child: Child,
    pub url: String,
}

impl Proxy {
    /// Starts a proxy in front of the emulator that `scripts/test.sh` started.
    pub fn start() -> Proxy {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/aws_proxy.py");
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
        let mut child = Command::new(python)
            .args([script, "--upstream", &super::endpoint()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the proxy starts (python3 scripts/aws_proxy.py)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("proxy stdout"))
            .read_line(&mut line)
            .expect("the proxy prints its URL");
        let url = line.trim().to_string();
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "the proxy's first line is its URL, got {line:?}"
        );
        Proxy { child, url }
    }

    fn host(&self) -> &str {
        self.url.trim_start_matches("http://").trim_end_matches('/')
    }

    /// One HTTP/1.1 exchange with the proxy's control paths; the body of the answer.
    fn request(&self, method: &str, path: &str, body: &str) -> String {
        let host = self.host();
        let mut socket = std::net::TcpStream::connect(host).expect("connect to the proxy");
        write!(
            socket,
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("send to the proxy");
        let mut answer = String::new();
        socket
            .read_to_string(&mut answer)
            .expect("read the proxy's answer");
        assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
        answer
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default()
    }

    /// Replaces latency and faults (see the script's doc) and clears the log.
    pub fn configure(&self, latency_ms: u64, faults: Value, timeout_s: u64) {
        let config = json!({"latency_ms": latency_ms, "faults": faults, "timeout_s": timeout_s});
        self.request("POST", "/_proxy/config", &config.to_string());
    }

    /// Like `configure` without faults, and a reshard keeps its stream UPDATING (and refuses
    /// another UpdateShardCount) for `seconds`, as AWS does and moto does not.
    pub fn set_updating(&self, seconds: u64) {
        let config = json!({"latency_ms": 0, "faults": [], "timeout_s": 2, "updating_s": seconds});
        self.request("POST", "/_proxy/config", &config.to_string());
    }

    /// Every call since the last `configure`: action, start, end, status, fault.
    pub fn log(&self) -> Vec<Value> {
        let body = self.request("GET", "/_proxy/log", "");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("proxy log {body:?}: {e}"))
    }

    /// Clients that reach the emulator only through this proxy, with `retry` and `timeouts`.
    pub async fn clients(
        &self,
        retry: aws_config::retry::RetryConfig,
        timeouts: aws_config::timeout::TimeoutConfig,
    ) -> AwsClients {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(kinesis_autoscaler::aws::https_client())
            .endpoint_url(&self.url)
            .retry_config(retry)
            .timeout_config(timeouts)
            .load()
            .await;
        AwsClients::new(&config)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
