//! Where lesson files come from: embedded in the binary, or a folder given with
//! `--lessons DIR` (for authors), laid out as `lessons/`, `manifests/`, `dockerfiles/`
//! and `exercises/` (the scaffolds, one folder per lesson).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use include_dir::{include_dir, Dir};

use super::model::Lesson;
use crate::yaml;

static EMBEDDED_LESSONS: Dir = include_dir!("$CARGO_MANIFEST_DIR/lessons");
static EMBEDDED_MANIFESTS: Dir = include_dir!("$CARGO_MANIFEST_DIR/manifests");
static EMBEDDED_DOCKERFILES: Dir = include_dir!("$CARGO_MANIFEST_DIR/dockerfiles");
static EMBEDDED_EXERCISES: Dir = include_dir!("$CARGO_MANIFEST_DIR/exercises");

const FOLDERS: [&str; 4] = ["lessons", "manifests", "dockerfiles", "exercises"];

/// Every file the lab is made of, keyed by a path relative to the lab's root
/// (`lessons/01-why.yaml`, `dockerfiles/Dockerfile-1`).
#[derive(Debug, Clone)]
pub struct LabFiles {
    /// How to name a file in messages: the folder it came from, or `(embedded)`.
    pub root: Option<PathBuf>,
    pub files: BTreeMap<String, Vec<u8>>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}: no such folder: give a folder holding lessons/ (and manifests/, dockerfiles/), or the lessons/ folder itself")]
    NoFolder(String),
    #[error("{path}: cannot read: {reason}")]
    Read { path: String, reason: String },
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: the lesson text `{text}` does not exist beside it: add it or fix `text:`")]
    MissingText { path: String, text: String },
}

impl LabFiles {
    pub fn embedded() -> LabFiles {
        let mut files = BTreeMap::new();
        for (folder, dir) in FOLDERS.iter().zip([
            &EMBEDDED_LESSONS,
            &EMBEDDED_MANIFESTS,
            &EMBEDDED_DOCKERFILES,
            &EMBEDDED_EXERCISES,
        ]) {
            collect_embedded(dir, folder, &mut files);
        }
        LabFiles { root: None, files }
    }

    /// Reads a lab folder. `dir` may be the root (holding `lessons/`) or `lessons/` itself.
    pub fn from_dir(dir: &Path) -> Result<LabFiles, LoadError> {
        if !dir.is_dir() {
            return Err(LoadError::NoFolder(dir.display().to_string()));
        }
        let root = if dir.join("lessons").is_dir() {
            dir.to_path_buf()
        } else {
            dir.parent().unwrap_or(dir).to_path_buf()
        };
        let mut files = BTreeMap::new();
        let lessons_dir = if dir.join("lessons").is_dir() {
            dir.join("lessons")
        } else {
            dir.to_path_buf()
        };
        read_folder(&lessons_dir, "lessons", &mut files)?;
        for folder in ["manifests", "dockerfiles", "exercises"] {
            let path = root.join(folder);
            if path.is_dir() {
                read_folder(&path, folder, &mut files)?;
            }
        }
        Ok(LabFiles {
            root: Some(root),
            files,
        })
    }

    /// The name of a file as a person can find it: a real path, or `embedded:...`.
    pub fn display(&self, rel: &str) -> String {
        match &self.root {
            Some(root) => root.join(rel).display().to_string(),
            None => format!("(embedded) {rel}"),
        }
    }

    pub fn text(&self, rel: &str) -> Option<&str> {
        self.files
            .get(rel)
            .and_then(|b| std::str::from_utf8(b).ok())
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.files.contains_key(rel)
    }

    /// The step manifests, in file-name order (the number prefix orders lessons).
    pub fn manifests(&self) -> impl Iterator<Item = &str> {
        self.files
            .keys()
            .filter(|k| k.starts_with("lessons/") && (k.ends_with(".yaml") || k.ends_with(".yml")))
            .map(String::as_str)
    }

    /// Parses every lesson; stops at the first broken one (`lint` reports them all).
    pub fn lessons(&self) -> Result<Vec<Lesson>, LoadError> {
        self.manifests().map(|rel| self.lesson(rel)).collect()
    }

    pub fn lesson(&self, rel: &str) -> Result<Lesson, LoadError> {
        let path = self.display(rel);
        let text = self.text(rel).ok_or_else(|| LoadError::Read {
            path: path.clone(),
            reason: "not UTF-8 text".to_string(),
        })?;
        let mut lesson: Lesson = yaml::parse(text).map_err(|e| LoadError::Parse {
            path: path.clone(),
            line: e.line,
            column: e.column,
            message: e.message,
        })?;
        let text_rel = format!("lessons/{}", lesson.text);
        lesson.markdown = self
            .text(&text_rel)
            .ok_or_else(|| LoadError::MissingText {
                path: path.clone(),
                text: lesson.text.clone(),
            })?
            .to_string();
        lesson.source = rel.to_string();
        Ok(lesson)
    }
}

fn collect_embedded(dir: &Dir, prefix: &str, files: &mut BTreeMap<String, Vec<u8>>) {
    for file in dir.files() {
        files.insert(
            format!("{prefix}/{}", file.path().display()),
            file.contents().to_vec(),
        );
    }
    for sub in dir.dirs() {
        collect_embedded(sub, prefix, files);
    }
}

fn read_folder(
    dir: &Path,
    prefix: &str,
    files: &mut BTreeMap<String, Vec<u8>>,
) -> Result<(), LoadError> {
    let entries = std::fs::read_dir(dir).map_err(|e| LoadError::Read {
        path: dir.display().to_string(),
        reason: e.to_string(),
    })?;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            read_folder(&path, &format!("{prefix}/{name}"), files)?;
        } else {
            let bytes = std::fs::read(&path).map_err(|e| LoadError::Read {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            files.insert(format!("{prefix}/{name}"), bytes);
        }
    }
    Ok(())
}
