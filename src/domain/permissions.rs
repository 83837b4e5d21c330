//! Which actions an IAM role's permission policies allow, on which resources: enough of IAM's
//! evaluation for `doctor` to say what a deployed function will be refused. Allow statements
//! match by action and resource (with `*` and `?` wildcards); an explicit Deny wins.
//! Conditions are not evaluated: a conditional statement counts as it reads, and is flagged.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
struct Statement {
    allow: bool,
    actions: Vec<String>,
    resources: Vec<String>,
    conditional: bool,
}

/// A role's permission policies, parsed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Grants {
    statements: Vec<Statement>,
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

impl Grants {
    /// From policy documents (`{"Statement": [...]}` or a single statement object). Statements
    /// with NotAction or NotResource are skipped: they cannot be read as a plain grant.
    pub fn from_documents(documents: &[Value]) -> Grants {
        let mut statements = Vec::new();
        for document in documents {
            let list = match &document["Statement"] {
                Value::Array(items) => items.clone(),
                Value::Object(_) => vec![document["Statement"].clone()],
                _ => Vec::new(),
            };
            for statement in list {
                if statement.get("NotAction").is_some() || statement.get("NotResource").is_some() {
                    continue;
                }
                statements.push(Statement {
                    allow: statement["Effect"] == "Allow",
                    actions: strings(&statement["Action"]),
                    resources: strings(&statement["Resource"]),
                    conditional: statement.get("Condition").is_some(),
                });
            }
        }
        Grants { statements }
    }

    /// Whether `action` (`service:Action`) on `resource` (an ARN, or `*` for actions that take
    /// no resource) is allowed.
    pub fn allows(&self, action: &str, resource: &str) -> bool {
        let matching = |s: &&Statement| {
            s.actions
                .iter()
                .any(|a| glob(&a.to_lowercase(), &action.to_lowercase()))
                && s.resources.iter().any(|r| glob(r, resource))
        };
        let denied = self
            .statements
            .iter()
            .filter(|s| !s.allow && !s.conditional)
            .any(|s| matching(&s));
        !denied
            && self
                .statements
                .iter()
                .filter(|s| s.allow)
                .any(|s| matching(&s))
    }
}

/// IAM's wildcard match: `*` any run of characters, `?` any one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wildcards_match_as_iam_does() {
        assert!(glob("kinesis:*", "kinesis:UpdateShardCount"));
        assert!(glob(
            "arn:aws:kinesis:*:*:stream/prod-*",
            "arn:aws:kinesis:us-east-1:1:stream/prod-a"
        ));
        assert!(!glob(
            "arn:aws:kinesis:*:*:stream/prod-*",
            "arn:aws:kinesis:us-east-1:1:stream/dev-a"
        ));
        assert!(glob("a?c", "abc") && !glob("a?c", "ac"));
        assert!(glob("*", ""));
    }

    #[test]
    fn the_upstream_roles_scoped_metric_grants_do_not_cover_the_account() {
        let grants = Grants::from_documents(&[json!({"Statement": [
            {"Effect": "Allow", "Action": ["cloudwatch:GetMetricData", "cloudwatch:PutMetricAlarm"],
             "Resource": "arn:aws:cloudwatch:*:*:alarm:*"},
            {"Effect": "Allow", "Action": "kinesis:UpdateShardCount", "Resource": "arn:aws:kinesis:*:*:stream/*"},
            {"Effect": "Deny", "Action": "kinesis:UpdateShardCount", "Resource": "arn:aws:kinesis:*:*:stream/frozen"}
        ]})]);
        assert!(!grants.allows("cloudwatch:GetMetricData", "*"));
        assert!(grants.allows(
            "cloudwatch:PutMetricAlarm",
            "arn:aws:cloudwatch:us-east-1:1:alarm:a-scale-up"
        ));
        assert!(grants.allows(
            "kinesis:UpdateShardCount",
            "arn:aws:kinesis:us-east-1:1:stream/orders"
        ));
        assert!(!grants.allows(
            "kinesis:UpdateShardCount",
            "arn:aws:kinesis:us-east-1:1:stream/frozen"
        ));
        assert!(!grants.allows("kinesis:DescribeLimits", "*"));
    }
}
