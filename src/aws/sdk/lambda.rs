//! AwsClients's lambda calls (the port's methods delegate here).

use super::super::port::{AwsError, AwsResult, FunctionConfiguration, StreamConsumer};
use super::*;
use std::collections::HashMap;

/// GetFunction: the function's tags and configuration (its ARN).
async fn get_function(
    clients: &AwsClients,
    function: &str,
) -> AwsResult<aws_sdk_lambda::operation::get_function::GetFunctionOutput> {
    clients
        .lambda
        .get_function()
        .function_name(function)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("GetFunction", function, e))
}

pub(super) async fn function_tags(
    clients: &AwsClients,
    function: &str,
) -> AwsResult<HashMap<String, String>> {
    let out = get_function(clients, function).await?;
    Ok(out.tags().cloned().unwrap_or_default())
}

pub(super) async fn tag_function(
    clients: &AwsClients,
    function: &str,
    key: &str,
    value: &str,
) -> AwsResult<()> {
    // TagResource takes the ARN only.
    let out = get_function(clients, function).await?;
    let arn = out
        .configuration()
        .and_then(|c| c.function_arn())
        .unwrap_or(function)
        .to_string();
    clients
        .lambda
        .tag_resource()
        .resource(&arn)
        .tags(key, value)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("TagResource", function, e))
}

pub(super) async fn put_function_concurrency(
    clients: &AwsClients,
    function: &str,
    reserved: u32,
) -> AwsResult<()> {
    clients
        .lambda
        .put_function_concurrency()
        .function_name(function)
        .reserved_concurrent_executions(i32::try_from(reserved).unwrap_or(i32::MAX))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("PutFunctionConcurrency", function, e))
}

pub(super) async fn stream_consumers(
    clients: &AwsClients,
    stream_arn: &str,
) -> AwsResult<Vec<StreamConsumer>> {
    let mut consumers = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = clients
            .lambda
            .list_event_source_mappings()
            .event_source_arn(stream_arn)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListEventSourceMappings", stream_arn, e))?;
        for mapping in out.event_source_mappings() {
            let enabled = matches!(mapping.state(), Some("Enabled" | "Enabling" | "Updating"));
            if let (true, Some(function)) = (enabled, mapping.function_arn()) {
                consumers.push(StreamConsumer {
                    function_arn: function.to_string(),
                    parallelization_factor: mapping
                        .parallelization_factor()
                        .and_then(|p| u32::try_from(p).ok())
                        .unwrap_or(1)
                        .max(1),
                });
            }
        }
        match out.next_marker() {
            Some(next) if !next.is_empty() => marker = Some(next.to_string()),
            _ => break,
        }
    }
    Ok(consumers)
}

pub(super) async fn unreserved_concurrency(clients: &AwsClients) -> AwsResult<u32> {
    let out = clients
        .lambda
        .get_account_settings()
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("GetAccountSettings", "account", e))?;
    let limit = out.account_limit();
    Ok(limit
        .and_then(|l| l.unreserved_concurrent_executions())
        .or_else(|| limit.map(|l| l.concurrent_executions()))
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0))
}

pub(super) async fn function_configuration(
    clients: &AwsClients,
    function: &str,
) -> AwsResult<FunctionConfiguration> {
    let out = clients
        .lambda
        .get_function_configuration()
        .function_name(function)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("GetFunctionConfiguration", function, e))?;
    Ok(FunctionConfiguration {
        arn: out.function_arn().unwrap_or_default().to_string(),
        role: out.role().map(str::to_string),
        environment: out
            .environment()
            .and_then(|e| e.variables())
            .cloned()
            .unwrap_or_default(),
        runtime: out.runtime().map(|r| r.as_str().to_string()),
        architectures: out
            .architectures()
            .iter()
            .map(|a| a.as_str().to_string())
            .collect(),
    })
}

#[cfg(feature = "cli")]
pub(super) async fn role_policies(
    clients: &AwsClients,
    role_arn: &str,
) -> AwsResult<Vec<serde_json::Value>> {
    // arn:aws:iam::ACCOUNT:role/PATH/NAME: the name is the last part.
    let role = role_arn.rsplit('/').next().unwrap_or(role_arn);
    let mut documents = Vec::new();
    let inline = clients
        .iam
        .list_role_policies()
        .role_name(role)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ListRolePolicies", role_arn, e))?;
    for name in inline.policy_names() {
        let out = clients
            .iam
            .get_role_policy()
            .role_name(role)
            .policy_name(name)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetRolePolicy", role_arn, e))?;
        documents.push(policy_document(out.policy_document()));
    }
    let attached = clients
        .iam
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ListAttachedRolePolicies", role_arn, e))?;
    for policy in attached.attached_policies() {
        let Some(arn) = policy.policy_arn() else {
            continue;
        };
        let found = clients
            .iam
            .get_policy()
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetPolicy", role_arn, e))?;
        let Some(version) = found.policy().and_then(|p| p.default_version_id()) else {
            continue;
        };
        let out = clients
            .iam
            .get_policy_version()
            .policy_arn(arn)
            .version_id(version)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetPolicyVersion", role_arn, e))?;
        if let Some(document) = out.policy_version().and_then(|v| v.document()) {
            documents.push(policy_document(document));
        }
    }
    Ok(documents)
}

pub(super) async fn function_concurrency(
    clients: &AwsClients,
    function: &str,
) -> AwsResult<Option<u32>> {
    let out = clients
        .lambda
        .get_function_concurrency()
        .function_name(function)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("GetFunctionConcurrency", function, e))?;
    Ok(out
        .reserved_concurrent_executions()
        .and_then(|n| u32::try_from(n).ok()))
}
