//! FakeAws's lambda calls (the port's methods delegate here).

use super::super::port::{AwsResult, FunctionConfiguration, StreamConsumer};
use super::*;
use std::collections::HashMap;

pub(super) async fn function_tags(
    fake: &FakeAws,
    function: &str,
) -> AwsResult<HashMap<String, String>> {
    fake.call("GetFunction", function, |s| {
        Ok(s.function_tags
            .get(function)
            .map(|tags| tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default())
    })
    .await
}

pub(super) async fn tag_function(
    fake: &FakeAws,
    function: &str,
    key: &str,
    value: &str,
) -> AwsResult<()> {
    fake.call("LambdaTagResource", function, |s| {
        s.function_tags
            .entry(function.to_string())
            .or_default()
            .insert(key.to_string(), value.to_string());
        Ok(())
    })
    .await
}

pub(super) async fn put_function_concurrency(
    fake: &FakeAws,
    function: &str,
    reserved: u32,
) -> AwsResult<()> {
    fake.call("PutFunctionConcurrency", function, |s| {
        let name = function.rsplit(':').next().unwrap_or(function);
        let others: u32 = s
            .functions
            .iter()
            .filter(|(n, _)| n.as_str() != name)
            .filter_map(|(_, r)| *r)
            .sum();
        let limit = s.concurrency_limit.unwrap_or(1000);
        if limit.saturating_sub(others + reserved) < 100 {
            return Err(refused(
                "PutFunctionConcurrency",
                function,
                "InvalidParameterValueException",
                "Specified ReservedConcurrentExecutions decreases the account's UnreservedConcurrentExecution below its minimum value of [100].",
            ));
        }
        *s.function("PutFunctionConcurrency", name)? = Some(reserved);
        Ok(())
    })
    .await
}

pub(super) async fn stream_consumers(
    fake: &FakeAws,
    stream_arn: &str,
) -> AwsResult<Vec<StreamConsumer>> {
    fake.call("ListEventSourceMappings", stream_arn, |s| {
        let stream = stream_arn.rsplit('/').next().unwrap_or(stream_arn);
        Ok(s.consumers.get(stream).cloned().unwrap_or_default())
    })
    .await
}

pub(super) async fn unreserved_concurrency(fake: &FakeAws) -> AwsResult<u32> {
    fake.call("GetAccountSettings", "account", |s| {
        let reserved: u32 = s.functions.values().flatten().sum();
        Ok(s.concurrency_limit.unwrap_or(1000).saturating_sub(reserved))
    })
    .await
}

pub(super) async fn function_configuration(
    fake: &FakeAws,
    function: &str,
) -> AwsResult<FunctionConfiguration> {
    fake.call("GetFunctionConfiguration", function, |s| {
        let name = function.rsplit(':').next().unwrap_or(function);
        s.configurations.get(name).cloned().ok_or_else(|| {
            refused(
                "GetFunctionConfiguration",
                function,
                "ResourceNotFoundException",
                &format!("Function not found: {function}"),
            )
        })
    })
    .await
}

#[cfg(feature = "cli")]
pub(super) async fn role_policies(
    fake: &FakeAws,
    role_arn: &str,
) -> AwsResult<Vec<serde_json::Value>> {
    fake.call("GetRolePolicy", role_arn, |s| {
        s.roles
            .get(role_arn)
            .cloned()
            .ok_or_else(|| refused("GetRolePolicy", role_arn, "NoSuchEntity", "no such role"))
    })
    .await
}

pub(super) async fn function_concurrency(fake: &FakeAws, function: &str) -> AwsResult<Option<u32>> {
    fake.call("GetFunctionConcurrency", function, |s| {
        Ok(*s.function("GetFunctionConcurrency", function)?)
    })
    .await
}
