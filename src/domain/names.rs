//! The stable names our enums serialise to (`in_line`, `daily_limit`, `ACTIVE`, ...): the one
//! helper that reads them, for log fields, metric dimensions, reports and tables, so a name is
//! spelled once, in the enum's serde attributes.

use serde::Serialize;

/// A unit variant's serde name; empty for a value that does not serialise to a string.
pub fn variant_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

/// An internally tagged enum's variant name (the value of its `tag` field).
pub fn tagged_variant_name<T: Serialize>(value: &T, tag: &str) -> Option<String> {
    serde_json::to_value(value)
        .ok()?
        .get(tag)?
        .as_str()
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    #[serde(rename_all = "snake_case")]
    enum Unit {
        InLine,
    }

    #[derive(Serialize)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    enum Tagged {
        DailyLimit { used: u32 },
    }

    #[test]
    fn names_are_the_serde_names() {
        assert_eq!(variant_name(&Unit::InLine), "in_line");
        assert_eq!(variant_name(&3), "");
        let tagged = Tagged::DailyLimit { used: 1 };
        assert_eq!(
            tagged_variant_name(&tagged, "kind").as_deref(),
            Some("daily_limit")
        );
        assert_eq!(tagged_variant_name(&tagged, "other"), None);
    }
}
