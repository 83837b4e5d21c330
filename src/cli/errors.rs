//! Errors for people: one line saying what failed and why, one saying what to do about it.
//! `-v` adds the full chain. The exit code says whether the command line itself was wrong (2)
//! or the work failed (1).

use crate::aws::{AwsError, SetupError};
use crate::ops::wiring::WiringError;
use std::fmt::Write as _;

/// The command line was wrong (a flag's value, a missing subcommand): exit code 2, as clap's
/// own usage errors.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A file or folder the command reads or writes could not be used: names the path, says why
/// and what to do (exit code 1).
#[derive(Debug, thiserror::Error)]
#[error("cannot {verb} {what} {}: {source}", .path.display())]
pub struct FileError {
    /// "read", "write", "list".
    pub verb: &'static str,
    /// "the trace", "the plot", ...
    pub what: &'static str,
    pub path: std::path::PathBuf,
    pub source: std::io::Error,
    /// Another way to get there, said after the fix (e.g. a flag).
    pub hint: Option<String>,
}

impl FileError {
    /// Fails, naming the path, when `path` cannot be written: checked before any work is
    /// done, so that nothing is computed (or fetched) only to be lost.
    /// A file the check creates is removed again: a command that then fails leaves none.
    pub fn check_writable(path: &std::path::Path, what: &'static str) -> Result<(), FileError> {
        let existed = path.exists();
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|source| FileError {
                verb: "write",
                what,
                path: path.to_path_buf(),
                source,
                hint: None,
            })?;
        if !existed {
            let _ = std::fs::remove_file(path);
        }
        Ok(())
    }

    fn fix(&self) -> String {
        let folder = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.display().to_string(),
            _ => ".".to_string(),
        };
        let fix = match (self.verb, self.source.kind()) {
            ("write", std::io::ErrorKind::NotFound) => {
                format!("create the folder first (mkdir -p {folder}), or give a path in an existing folder")
            }
            (_, std::io::ErrorKind::PermissionDenied) => format!(
                "check the permissions of {} (and of {folder}), or choose another path",
                self.path.display()
            ),
            ("write", _) => "choose another path".to_string(),
            (_, std::io::ErrorKind::NotFound) => {
                "check the path (relative paths start from the current folder)".to_string()
            }
            _ => "check the path".to_string(),
        };
        match &self.hint {
            Some(hint) => format!("{fix}; {hint}"),
            None => fix,
        }
    }
}

/// What the fixes may refer to: the AWS access the command was given.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub profile: Option<String>,
    pub region: Option<String>,
    /// `--endpoint-url` or `AWS_ENDPOINT_URL`.
    pub endpoint_url: Option<String>,
    pub retries: u32,
}

impl Context {
    fn endpoint(&self) -> String {
        match (&self.endpoint_url, &self.region) {
            (Some(url), _) => url.clone(),
            (None, Some(region)) => format!("AWS in {region}"),
            (None, None) => "AWS".to_string(),
        }
    }

    fn profile_flag(&self) -> String {
        self.profile
            .as_ref()
            .map(|p| format!(" --profile {p}"))
            .unwrap_or_default()
    }
}

/// An error as shown to a person.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Explained {
    /// What failed and why, one line.
    pub error: String,
    /// What to do about it, one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// Every message of the chain, for `-v`.
    #[serde(skip)]
    pub chain: Vec<String>,
}

impl Explained {
    fn new(error: impl Into<String>, fix: Option<String>) -> Self {
        Explained {
            error: error.into(),
            fix,
            chain: Vec::new(),
        }
    }

    /// `error: ...` and `  fix: ...`, then with `verbose` the chain; `prefix` names the
    /// stream a per-stream failure belongs to.
    pub fn render(&self, prefix: Option<&str>, verbose: bool, colour: bool) -> String {
        let label = if colour {
            "\x1b[1;31merror\x1b[0m"
        } else {
            "error"
        };
        let mut out = match prefix {
            Some(p) => format!("{label}: {p}: {}\n", self.error),
            None => format!("{label}: {}\n", self.error),
        };
        if let Some(fix) = &self.fix {
            let fix_label = if colour { "\x1b[1mfix\x1b[0m" } else { "fix" };
            let _ = writeln!(out, "  {fix_label}: {fix}");
        }
        if verbose {
            for (i, cause) in self.chain.iter().enumerate() {
                let _ = writeln!(out, "  [{i}] {cause}");
            }
        }
        out
    }
}

/// Explains any error of the CLI: the known causes get their own words and fix, anything else
/// its message.
pub fn explain(err: &anyhow::Error, ctx: &Context) -> Explained {
    let mut explained = err
        .chain()
        .find_map(|cause| explain_known(cause, ctx))
        .unwrap_or_else(|| Explained::new(first_line(&format!("{err:#}")), None));
    explained.chain = err.chain().map(|c| c.to_string()).collect();
    for cause in err.chain() {
        if let Some(SetupError::NoCredentials { full, .. }) = cause.downcast_ref::<SetupError>() {
            explained.chain.extend(full.lines().map(str::to_string));
        }
    }
    explained
}

/// Explains one per-stream failure of wire, unwire, status or reconcile.
pub fn explain_wiring(err: &WiringError, ctx: &Context) -> Explained {
    let mut explained = explain_known(err, ctx)
        .unwrap_or_else(|| Explained::new(first_line(&err.to_string()), None));
    let mut chain = vec![err.to_string()];
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        chain.push(cause.to_string());
        source = cause.source();
    }
    explained.chain = chain;
    explained
}

fn explain_known(cause: &(dyn std::error::Error + 'static), ctx: &Context) -> Option<Explained> {
    if let Some(setup) = cause.downcast_ref::<SetupError>() {
        return Some(explain_setup(setup, ctx));
    }
    if let Some(aws) = cause.downcast_ref::<AwsError>() {
        return Some(explain_aws(aws, ctx));
    }
    if let Some(WiringError::Aws(aws)) = cause.downcast_ref::<WiringError>() {
        return Some(explain_aws(aws, ctx));
    }
    if let Some(crate::ops::export::ExportError::Aws(aws)) =
        cause.downcast_ref::<crate::ops::export::ExportError>()
    {
        return Some(explain_aws(aws, ctx));
    }
    if let Some(file) = cause.downcast_ref::<FileError>() {
        return Some(Explained::new(file.to_string(), Some(file.fix())));
    }
    if let Some(WiringError::NoSuchStream { stream }) = cause.downcast_ref::<WiringError>() {
        return Some(not_found(&format!("stream {stream}"), ctx));
    }
    None
}

fn explain_setup(err: &SetupError, ctx: &Context) -> Explained {
    let fix = match err {
        SetupError::NoRegion { .. } => {
            "pass --region (e.g. --region us-east-1), or set AWS_REGION, or set `region` in the profile in ~/.aws/config".to_string()
        }
        SetupError::NoCredentials { .. } if ctx.endpoint_url.is_some() => format!(
            "an emulator (moto, LocalStack) takes any keys: set AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test in the environment, then run it again with --endpoint-url {}",
            ctx.endpoint_url.as_deref().unwrap_or_default()
        ),
        SetupError::NoCredentials { .. } => format!(
            "run `aws configure` (keys) or `aws sso login{}`, or choose a configured profile with --profile NAME",
            ctx.profile_flag()
        ),
        SetupError::ExpiredCredentials { .. } => format!(
            "refresh them: `aws sso login{}`, or new keys or session token, or another --profile",
            ctx.profile_flag()
        ),
    };
    Explained::new(err.to_string(), Some(fix))
}

const ACCESS_DENIED: [&str; 6] = [
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedException",
    "AuthorizationError",
    "AuthorizationErrorException",
];
const BAD_CREDENTIALS: [&str; 9] = [
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "MissingAuthenticationToken",
];
const THROTTLED: [&str; 7] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "ProvisionedThroughputExceededException",
];

/// The IAM prefix of one of our calls.
fn service_of(call: &str) -> &'static str {
    match call {
        "DescribeStreamSummary"
        | "ListTagsForStream"
        | "AddTagsToStream"
        | "RemoveTagsFromStream"
        | "UpdateShardCount"
        | "DescribeLimits"
        | "ListStreams"
        | "DescribeStream" => "kinesis",
        "PutFunctionConcurrency" | "GetFunctionConcurrency" => "lambda",
        _ => "cloudwatch",
    }
}

/// `"... perform: kinesis:X on resource: arn:... because ..."` -> (action, resource).
fn denied_action(message: &str) -> Option<(String, Option<String>)> {
    let after = message.split("perform: ").nth(1)?;
    let action = after.split_whitespace().next()?.to_string();
    let resource = after
        .split("on resource: ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .map(str::to_string);
    Some((action, resource))
}

fn explain_aws(err: &AwsError, ctx: &Context) -> Explained {
    let code = err.code.as_deref().unwrap_or_default();
    let on = if err.target.is_empty() {
        String::new()
    } else {
        format!(" on {}", err.target)
    };
    if ACCESS_DENIED.contains(&code) || err.message.contains("not authorized to perform") {
        let (action, resource) = denied_action(&err.message)
            .unwrap_or_else(|| (format!("{}:{}", service_of(err.call), err.call), None));
        let resource = resource.unwrap_or_else(|| {
            if err.target.is_empty() {
                "*".to_string()
            } else {
                err.target.clone()
            }
        });
        return Explained::new(
            format!("access denied: {action} on {resource} is not allowed for these credentials"),
            Some(format!(
                "grant {action} on {resource} to this identity (the CLI's IAM actions: docs/deploy.md), or use one that has it with --profile"
            )),
        );
    }
    if BAD_CREDENTIALS.contains(&code) {
        return Explained::new(
            format!(
                "AWS refused the credentials ({code}) for {}{on}",
                err.call
            ),
            Some(format!(
                "refresh them: `aws sso login{}`, new keys or session token, or another --profile; check the clock",
                ctx.profile_flag()
            )),
        );
    }
    if THROTTLED.contains(&code) && !err.message.contains("shard limit") {
        return Explained::new(
            format!(
                "{}{on} was still throttled ({code}) after {} retries",
                err.call, ctx.retries
            ),
            Some(format!(
                "run it again in a minute (it is safe to repeat), or allow more retries with THROTTLE_RETRY_COUNT (now {})",
                ctx.retries
            )),
        );
    }
    if code == "ResourceNotFoundException" || code == "ResourceNotFound" {
        return not_found(&err.target, ctx);
    }
    if err.code.is_none() {
        if let Some(reason) = unreachable_reason(&err.message) {
            return Explained::new(
                format!("cannot reach {}: {reason} ({})", ctx.endpoint(), err.call),
                Some(
                    "check --endpoint-url (or AWS_ENDPOINT_URL), --region and your network or proxy, then run it again"
                        .to_string(),
                ),
            );
        }
        if err.message.contains("signing region") {
            return explain_setup(
                &SetupError::NoRegion {
                    profile: ctx.profile.clone(),
                },
                ctx,
            );
        }
    }
    Explained::new(
        format!("{}{on} failed: {}", err.call, first_line(&err.message)),
        matches!(err.kind, crate::aws::FailureKind::Unknown).then(|| {
            "run it again: the command is safe to repeat, and -v shows the whole error".to_string()
        }),
    )
}

fn not_found(what: &str, ctx: &Context) -> Explained {
    let region = ctx.region.as_deref().unwrap_or("this region");
    Explained::new(
        format!("{what} does not exist in {region}"),
        Some(format!(
            "check the name and --region{}; `aws kinesis list-streams --region {region}` lists the streams",
            if ctx.profile.is_some() {
                " / --profile"
            } else {
                ""
            }
        )),
    )
}

/// A short reason when the SDK's message says the endpoint could not be reached at all.
fn unreachable_reason(message: &str) -> Option<&'static str> {
    let m = message.to_ascii_lowercase();
    if m.contains("connection refused") {
        Some("connection refused")
    } else if m.contains("dns error")
        || m.contains("failed to lookup")
        || m.contains("name or service not known")
    {
        Some("the host name does not resolve")
    } else if m.contains("timeout") || m.contains("timed out") {
        Some("no answer (timed out)")
    } else if m.contains("io error") || m.contains("tcp connect") || m.contains("connection reset")
    {
        Some("the connection failed")
    } else {
        None
    }
}

/// The first line, cut to a width a terminal shows whole.
fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or_default();
    const MAX: usize = 300;
    if line.chars().count() > MAX {
        let cut: String = line.chars().take(MAX).collect();
        format!("{cut}... (-v shows all)")
    } else {
        line.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::FailureKind;

    fn aws(call: &'static str, target: &str, code: Option<&str>, message: &str) -> AwsError {
        AwsError {
            call,
            target: target.into(),
            code: code.map(str::to_string),
            message: message.into(),
            kind: if code.is_some() {
                FailureKind::Refused
            } else {
                FailureKind::Unknown
            },
        }
    }

    fn ctx() -> Context {
        Context {
            profile: Some("dev".into()),
            region: Some("eu-west-1".into()),
            endpoint_url: None,
            retries: 30,
        }
    }

    #[test]
    fn an_emulator_user_is_told_that_any_keys_do() {
        let err = anyhow::Error::new(SetupError::NoCredentials {
            profile: None,
            detail: "no source".into(),
            full: String::new(),
        });
        let emulator = Context {
            endpoint_url: Some("http://127.0.0.1:5000".into()),
            profile: None,
            ..ctx()
        };
        let fix = explain(&err, &emulator).fix.unwrap();
        assert!(
            fix.contains("AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test"),
            "{fix}"
        );
        assert!(!fix.contains("aws configure"), "{fix}");
        let fix = explain(&err, &ctx()).fix.unwrap();
        assert!(fix.contains("aws configure"), "{fix}");
    }

    #[test]
    fn a_file_error_names_the_path_and_the_fix() {
        let err = anyhow::Error::new(FileError {
            verb: "write",
            what: "the plot",
            path: "charts/x.png".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
            hint: None,
        });
        let shown = explain(&err, &ctx());
        assert!(shown.error.contains("charts/x.png"), "{}", shown.error);
        assert!(
            shown.fix.as_deref().unwrap().contains("mkdir -p charts"),
            "{:?}",
            shown.fix
        );
    }

    #[test]
    fn access_denied_names_action_and_resource() {
        let e = aws(
            "DescribeStreamSummary",
            "orders",
            Some("AccessDeniedException"),
            "AccessDeniedException: User: arn:aws:iam::000000000000:user/bob is not authorized to perform: kinesis:DescribeStreamSummary on resource: arn:aws:kinesis:eu-west-1:000000000000:stream/orders because no identity-based policy allows it",
        );
        let x = explain_aws(&e, &ctx());
        assert!(x.error.contains("kinesis:DescribeStreamSummary"), "{x:?}");
        assert!(x.error.contains("stream/orders"), "{x:?}");
        assert!(x.fix.unwrap().contains("--profile"));
        // Without AWS's wording, our own call and target.
        let e = aws(
            "DescribeAlarms",
            "",
            Some("AccessDenied"),
            "AccessDenied: no",
        );
        let x = explain_aws(&e, &ctx());
        assert_eq!(
            x.error,
            "access denied: cloudwatch:DescribeAlarms on * is not allowed for these credentials"
        );
    }

    #[test]
    fn unreachable_endpoints_and_throttling_have_their_fix() {
        let e = aws(
            "DescribeAlarms",
            "",
            None,
            "dispatch failure: io error: error trying to connect: tcp connect error: Connection refused (os error 111)",
        );
        let mut c = ctx();
        c.endpoint_url = Some("http://127.0.0.1:9".into());
        let x = explain_aws(&e, &c);
        assert_eq!(
            x.error,
            "cannot reach http://127.0.0.1:9: connection refused (DescribeAlarms)"
        );
        assert!(x.fix.unwrap().contains("--endpoint-url"));
        let e = aws(
            "PutMetricAlarm",
            "orders-scale-up",
            Some("Throttling"),
            "Throttling: Rate exceeded",
        );
        let x = explain_aws(&e, &c);
        assert!(x.error.contains("after 30 retries"), "{x:?}");
        assert!(x.fix.unwrap().contains("THROTTLE_RETRY_COUNT"));
    }

    #[test]
    fn not_found_and_expired_credentials() {
        let e = aws(
            "DescribeStreamSummary",
            "orders",
            Some("ResourceNotFoundException"),
            "ResourceNotFoundException: Stream orders under account 000000000000 not found.",
        );
        let x = explain_aws(&e, &ctx());
        assert_eq!(x.error, "orders does not exist in eu-west-1");
        let e = aws(
            "DescribeAlarms",
            "",
            Some("ExpiredToken"),
            "ExpiredToken: expired",
        );
        let x = explain_aws(&e, &ctx());
        assert!(x.fix.unwrap().contains("aws sso login --profile dev"));
    }

    #[test]
    fn rendering_is_two_lines_and_plain_without_colour() {
        let x = Explained::new("no AWS region is set", Some("pass --region".into()));
        assert_eq!(
            x.render(None, false, false),
            "error: no AWS region is set\n  fix: pass --region\n"
        );
        assert_eq!(
            x.render(Some("orders"), false, false).lines().next(),
            Some("error: orders: no AWS region is set")
        );
    }
}
