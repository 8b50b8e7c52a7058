//! The image map: lessons name images logically (`ubuntu`, `nginx`); this map says
//! which real reference each name means on this machine.

use std::collections::BTreeMap;
use std::path::Path;

use crate::yaml;

/// Pinned upstream images, used when a machine reaches a registry.
const DEFAULTS: &[(&str, &str)] = &[
    ("ubuntu", "ubuntu:24.04"),
    ("debian", "debian:12"),
    ("nginx", "nginx:1.27"),
];

pub const ENV_VAR: &str = "NONROOT_LAB_IMAGES";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageMap {
    entries: BTreeMap<String, String>,
    /// Where the overrides came from, for `doctor` and error messages.
    pub source: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageMapError {
    #[error("{file}: cannot read the image map: {reason}")]
    Read { file: String, reason: String },
    #[error("{file}:{line}:{column}: {message} (an image map is `NAME: REFERENCE` lines)")]
    Parse {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: image `{name}` maps to an empty reference")]
    Empty { file: String, name: String },
}

impl Default for ImageMap {
    fn default() -> Self {
        ImageMap {
            entries: DEFAULTS
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            source: None,
        }
    }
}

impl ImageMap {
    /// The defaults, overridden by `file` or else by `$NONROOT_LAB_IMAGES`.
    pub fn load(file: Option<&Path>) -> Result<ImageMap, ImageMapError> {
        let env_file = std::env::var_os(ENV_VAR).filter(|v| !v.is_empty());
        let path = match (file, env_file.as_ref()) {
            (Some(p), _) => p.to_path_buf(),
            (None, Some(p)) => Path::new(p).to_path_buf(),
            (None, None) => return Ok(ImageMap::default()),
        };
        let name = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| ImageMapError::Read {
            file: name.clone(),
            reason: e.to_string(),
        })?;
        ImageMap::default().with_overrides(&text, &name)
    }

    pub fn with_overrides(mut self, text: &str, file: &str) -> Result<ImageMap, ImageMapError> {
        let overrides: Option<BTreeMap<String, String>> =
            yaml::parse(text).map_err(|e| ImageMapError::Parse {
                file: file.to_string(),
                line: e.line,
                column: e.column,
                message: e.message,
            })?;
        for (name, reference) in overrides.unwrap_or_default() {
            if reference.trim().is_empty() {
                return Err(ImageMapError::Empty {
                    file: file.to_string(),
                    name,
                });
            }
            self.entries.insert(name, reference);
        }
        self.source = Some(file.to_string());
        Ok(self)
    }

    pub fn resolve(&self, name: &str) -> Option<&str> {
        self.entries.get(name).map(String::as_str)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_defaults_and_keep_the_rest() {
        let map = ImageMap::default()
            .with_overrides("ubuntu: local/ubuntu:1\nextra: x:1\n", "m.yaml")
            .unwrap();
        assert_eq!(map.resolve("ubuntu"), Some("local/ubuntu:1"));
        assert_eq!(map.resolve("nginx"), Some("nginx:1.27"));
        assert_eq!(map.resolve("extra"), Some("x:1"));
        assert_eq!(map.source.as_deref(), Some("m.yaml"));
    }

    #[test]
    fn a_broken_map_names_file_line_and_column() {
        let err = ImageMap::default()
            .with_overrides("ubuntu: a\nnginx: [b\n", "m.yaml")
            .unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("m.yaml:"), "{text}");
        assert!(text.contains("NAME: REFERENCE"), "{text}");
    }

    #[test]
    fn an_empty_reference_is_refused() {
        let err = ImageMap::default()
            .with_overrides("ubuntu: ''\n", "m.yaml")
            .unwrap_err();
        assert!(err.to_string().contains("`ubuntu`"), "{err}");
    }
}
