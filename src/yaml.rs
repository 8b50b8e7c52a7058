//! Every YAML call of the crate lives here, so that serde_yaml (deprecated upstream)
//! can be swapped for another parser in one place.

use serde::de::DeserializeOwned;

/// Any YAML value, for files whose shape the lab does not model (Kubernetes manifests).
pub type Value = serde_yaml::Value;

/// A YAML error with the 1-based position the parser gave, when it gave one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Parses one YAML document into `T`. Enums are written as single-key maps
/// (`run: {...}`, `exit_code: 0`) rather than YAML tags, as people write them.
/// serde_yaml refuses alias-heavy input ("billion laughs") itself.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    let de = serde_yaml::Deserializer::from_str(text);
    serde_yaml::with::singleton_map_recursive::deserialize(de).map_err(|e: serde_yaml::Error| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        YamlError {
            line,
            column,
            message: tidy(&e.to_string()),
        }
    })
}

/// serde_yaml appends " at line L column C" to its messages; the caller prints the
/// position itself, in `file:line:column` form.
fn tidy(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn position_is_one_based_and_message_has_no_duplicate_position() {
        let err = parse::<BTreeMap<String, u32>>("a: 1\nb: [\n").unwrap_err();
        assert!(err.line >= 2, "{err:?}");
        assert!(!err.message.contains(" at line "), "{err:?}");
    }
}
