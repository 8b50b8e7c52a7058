//! Every YAML the lab reads as data (lessons, image maps, manifests to apply) goes
//! through `parse`, on serde-saphyr; the auditor walks the same library's parser
//! (`audit::yaml_tree`). Both read YAML as the Kubernetes API server does: YAML 1.1
//! booleans (`yes`, `on`) and leading-zero octals, merge keys, and with limits that
//! refuse an alias bomb or deep nesting rather than expand it.

use serde::de::DeserializeOwned;

/// Any YAML value, for files whose shape the lab does not model (Kubernetes manifests).
pub type Value = serde_json::Value;

/// Nodes that aliases may add beyond the text's own: far above any real manifest.
pub const ALIAS_BUDGET: usize = 100_000;
/// Nesting deeper than this is not a lesson or a manifest.
pub const MAX_DEPTH: usize = 200;

/// A YAML error with the 1-based position the parser gave, when it gave one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Parses one YAML document into `T`. Enums are written as single-key maps
/// (`run: {...}`, `exit_code: 0`), as people write them.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    serde_saphyr::from_str_with_options(text, options()).map_err(|e: serde_saphyr::Error| {
        let (line, column) = e
            .location()
            .map(|l| (l.line() as usize, l.column() as usize))
            .filter(|&(line, _)| line > 0)
            .unwrap_or((1, 1));
        YamlError {
            line,
            column: column.max(1),
            message: tidy(&e.to_string()),
        }
    })
}

fn options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = MAX_DEPTH;
    budget.max_nodes = budget.max_nodes.max(ALIAS_BUDGET);
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    // The API server's reader (go-yaml v2, YAML 1.1): `yes` is true, `0755` is 493.
    options.strict_booleans = false;
    options.legacy_octal_numbers = true;
    // Messages carry no snippet: the caller prints `file:line:column: message`.
    options.with_snippet = false;
    options
}

/// The library ends some messages with their position; the caller prints it first.
fn tidy(message: &str) -> String {
    let message = message.trim();
    for marker in [" at line ", " at ", "\n"] {
        if let Some(i) = message.find(marker) {
            if marker != " at " || message[i + 4..].starts_with("line") {
                return message[..i].to_string();
            }
        }
    }
    message.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn position_is_one_based_and_message_has_no_duplicate_position() {
        let err = parse::<BTreeMap<String, u32>>("a: 1\nb: [\n").unwrap_err();
        assert!(err.line >= 2, "{err:?}");
        assert!(!err.message.contains("line"), "{err:?}");
    }

    #[test]
    fn booleans_and_octals_read_as_the_api_server_reads_them() {
        let v: Value = parse("a: yes\nb: \"yes\"\nc: on\nd: 0755\ne: 8080\n").unwrap();
        assert_eq!(v["a"], Value::Bool(true));
        assert_eq!(v["b"], Value::String("yes".into()));
        assert_eq!(v["c"], Value::Bool(true));
        assert_eq!(v["d"], serde_json::json!(493));
        assert_eq!(v["e"], serde_json::json!(8080));
    }

    #[test]
    fn an_alias_bomb_and_deep_nesting_are_refused() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (prev, next) in ["a", "b", "c", "d", "e", "f", "g", "h"]
            .windows(2)
            .map(|w| (w[0], w[1]))
        {
            bomb.push_str(&format!("{next}: &{next} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        assert!(parse::<Value>(&bomb).is_err());
        assert!(parse::<Value>(&"[".repeat(100_000)).is_err());
    }
}
