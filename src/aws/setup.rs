//! AWS clients for the command line: the `--profile`, `--region` and `--endpoint-url` flags over
//! the default configuration (environment variables, `~/.aws/config`, SSO, IMDS), checked
//! before the first call so that a missing region or missing credentials is one clear error
//! instead of a failed call.

use crate::aws::sdk::{https_client, AwsClients, DEFAULT_ATTEMPT_TIMEOUT};
use crate::domain::settings::RetrySettings;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_kinesis::config::ProvideCredentials;
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority,
};
use std::time::{Duration, SystemTime};

/// Explicit choices from the command line; `None` falls back to the default configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AwsOptions {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
}

/// Why no call can be made at all.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("no AWS region is set{}", in_profile(.profile))]
    NoRegion { profile: Option<String> },
    #[error("no AWS credentials found{}: {detail}", in_profile(.profile))]
    NoCredentials {
        profile: Option<String>,
        /// One line: which sources were tried, or the one that failed.
        detail: String,
        /// The credential chain's whole answer (one line per source).
        full: String,
    },
    #[error("the AWS credentials{} expired {minutes} min ago", in_profile(.profile))]
    ExpiredCredentials {
        profile: Option<String>,
        minutes: u64,
    },
}

fn in_profile(profile: &Option<String>) -> String {
    profile
        .as_ref()
        .map(|p| format!(" (profile {p})"))
        .unwrap_or_default()
}

/// The profile in force: the flag, else `AWS_PROFILE`.
pub fn effective_profile(options: &AwsOptions) -> Option<String> {
    options
        .profile
        .clone()
        .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()))
}

impl AwsClients {
    /// Clients for the CLI: `options` over the default configuration, throttling retried as
    /// `retry` says, and an unreachable endpoint reported at once instead of after every
    /// retry (a person is waiting; every command that changes AWS is safe to run again).
    /// Fails when no region or no valid credentials can be found.
    pub async fn load_for_cli(
        retry: &RetrySettings,
        options: &AwsOptions,
    ) -> Result<Self, SetupError> {
        let retry_config = RetryConfig::standard()
            .with_max_attempts(retry.count.saturating_add(1))
            .with_initial_backoff(retry.min_sleep)
            .with_max_backoff(retry.max_sleep);
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(DEFAULT_ATTEMPT_TIMEOUT)
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(https_client())
            .retry_config(retry_config)
            .timeout_config(timeouts);
        if let Some(profile) = &options.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &options.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(url) = &options.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        let profile = effective_profile(options);
        if config.region().is_none() {
            return Err(SetupError::NoRegion { profile });
        }
        let provider = config
            .credentials_provider()
            .ok_or_else(|| SetupError::NoCredentials {
                profile: profile.clone(),
                detail: "no credentials provider is configured".into(),
                full: String::new(),
            })?;
        let credentials = provider.provide_credentials().await.map_err(|err| {
            let full = innermost(&err);
            SetupError::NoCredentials {
                profile: profile.clone(),
                detail: credentials_summary(&full),
                full,
            }
        })?;
        if let Some(expiry) = credentials.expiry() {
            if let Ok(ago) = SystemTime::now().duration_since(expiry) {
                return Err(SetupError::ExpiredCredentials {
                    profile,
                    minutes: ago.as_secs() / 60,
                });
            }
        }
        Ok(AwsClients {
            kinesis: aws_sdk_kinesis::Client::from_conf(
                aws_sdk_kinesis::config::Builder::from(&config)
                    .retry_classifier(FailFastWhenUnreachable)
                    .build(),
            ),
            cloudwatch: aws_sdk_cloudwatch::Client::from_conf(
                aws_sdk_cloudwatch::config::Builder::from(&config)
                    .retry_classifier(FailFastWhenUnreachable)
                    .build(),
            ),
            lambda: aws_sdk_lambda::Client::from_conf(
                aws_sdk_lambda::config::Builder::from(&config)
                    .retry_classifier(FailFastWhenUnreachable)
                    .build(),
            ),
            tagging: aws_sdk_resourcegroupstagging::Client::from_conf(
                aws_sdk_resourcegroupstagging::config::Builder::from(&config)
                    .retry_classifier(FailFastWhenUnreachable)
                    .build(),
            ),
            #[cfg(feature = "cli")]
            iam: aws_sdk_iam::Client::from_conf(
                aws_sdk_iam::config::Builder::from(&config)
                    .retry_classifier(FailFastWhenUnreachable)
                    .build(),
            ),
        })
    }
}

/// The last message of an error's chain: the credential chain's own words are the useful ones
/// ("the credentials provider was not enabled", "profile `x` did not contain credential
/// information"), the wrappers around them are not.
fn innermost(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// The chain's answer lists every source it tried, one per line ("Profile: the credential
/// provider was not enabled"); one line says it: the source that failed for a reason other
/// than not being set up, else the list of sources tried.
fn credentials_summary(full: &str) -> String {
    let sources: Vec<(&str, &str)> = full
        .lines()
        .skip(1)
        .filter_map(|line| line.trim().split_once(": "))
        .collect();
    if sources.is_empty() {
        return full.lines().next().unwrap_or_default().to_string();
    }
    if let Some((source, why)) = sources.iter().find(|(_, why)| !why.contains("not enabled")) {
        return format!("{source}: {why}");
    }
    let names: Vec<&str> = sources.iter().map(|(source, _)| *source).collect();
    format!("tried {}", names.join(", "))
}

/// A connection that cannot be made (refused, unresolvable, timed out) is not retried: a
/// dead endpoint answers in seconds instead of after THROTTLE_RETRY_COUNT back-offs.
/// Throttling and 5xx answers are still retried.
#[derive(Debug)]
struct FailFastWhenUnreachable;

impl ClassifyRetry for FailFastWhenUnreachable {
    fn classify_retry(&self, _ctx: &InterceptorContext) -> RetryAction {
        RetryAction::NoActionIndicated
    }

    fn classify_retry_v2(&self, ctx: &InterceptorContext, _previous: &RetryAction) -> RetryAction {
        let unreachable = matches!(
            ctx.output_or_error(),
            Some(Err(err)) if err
                .as_connector_error()
                .is_some_and(|c| c.is_io() || c.is_timeout())
        );
        if unreachable {
            RetryAction::RetryForbidden
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "FailFastWhenUnreachable"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_credential_chain_is_summed_up_in_one_line() {
        let all_off = "no credentials found in chain. Attempted:\n  Environment: the credential provider was not enabled: environment variable not set\n  Profile: the credential provider was not enabled\n  Ec2InstanceMetadata: the credential provider was not enabled: IMDS disabled";
        assert_eq!(
            credentials_summary(all_off),
            "tried Environment, Profile, Ec2InstanceMetadata"
        );
        let sso = "no credentials found in chain. Attempted:\n  Environment: the credential provider was not enabled\n  Profile: the SSO token has expired; run `aws sso login`";
        assert_eq!(
            credentials_summary(sso),
            "Profile: the SSO token has expired; run `aws sso login`"
        );
        assert_eq!(credentials_summary("plain"), "plain");
    }
}
