//! The learner's workspace: one folder per lesson under the XDG data folder, holding the
//! exercises' scaffolds. The lab copies a scaffold file only when the learner does not
//! have it yet, so their edits survive every start; only `reset` puts the scaffold back.

use std::path::{Path, PathBuf};

use crate::images::ImageMap;
use crate::lesson::exercise::{render, Exercise, Vars};
use crate::lesson::{LabFiles, Lesson};

/// Set by tests and by instructors sharing one engine: every exercise name (image,
/// container) starts with it, so two people's `my-app` do not collide.
pub const PREFIX_VAR: &str = "NONROOT_LAB_EXERCISE_PREFIX";

/// The file that holds the workspace's id, which scaffolds put inside what the learner
/// builds, so a check can tell an image made from this workspace from one merely named so.
const ID_FILE: &str = ".nonroot-lab-id";

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error("{path}: cannot create the workspace folder: {reason}; set XDG_DATA_HOME to a folder you can write")]
    Create { path: String, reason: String },
    #[error(
        "{path}: cannot write: {reason}; make the folder writable (or set XDG_DATA_HOME elsewhere)"
    )]
    Write { path: String, reason: String },
    #[error("lesson `{lesson}`: the scaffold file `{file}` is not in the lab (exercises/{lesson}/{file})")]
    MissingScaffold { lesson: String, file: String },
    #[error("lesson `{lesson}`, scaffold `{file}`: {message}")]
    Template {
        lesson: String,
        file: String,
        message: String,
    },
    #[error(
        "{PREFIX_VAR}=`{0}`: use lowercase letters, digits and `-` only (it starts image names)"
    )]
    Prefix(String),
}

/// `$XDG_DATA_HOME/nonroot-lab/workspace`, else `~/.local/share/nonroot-lab/workspace`.
pub fn root() -> PathBuf {
    let data = match std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."))
            .join(".local/share"),
    };
    data.join("nonroot-lab").join("workspace")
}

/// Where a lesson's workspace is (whether or not it exists yet).
pub fn dir_for(lesson_id: &str) -> PathBuf {
    root().join(lesson_id)
}

/// One lesson's workspace on disk.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub dir: PathBuf,
    pub id: String,
    prefix: String,
    /// The lab's Kubernetes namespace, where a task's pods go (`{{namespace}}`).
    namespace: String,
}

impl Workspace {
    /// Makes the lesson's workspace if it is missing and copies in every scaffold file
    /// the learner does not have yet.
    pub fn ensure(
        files: &LabFiles,
        lesson: &Lesson,
        images: &ImageMap,
        namespace: &str,
    ) -> Result<Workspace, WorkspaceError> {
        Workspace::make(files, lesson, images, namespace, false)
    }

    /// Puts every scaffold file of the lesson back as it was first given (`reset`).
    pub fn reset(
        files: &LabFiles,
        lesson: &Lesson,
        images: &ImageMap,
        namespace: &str,
    ) -> Result<Workspace, WorkspaceError> {
        Workspace::make(files, lesson, images, namespace, true)
    }

    fn make(
        files: &LabFiles,
        lesson: &Lesson,
        images: &ImageMap,
        namespace: &str,
        overwrite: bool,
    ) -> Result<Workspace, WorkspaceError> {
        let workspace = Workspace::open(&lesson.id, namespace)?;
        workspace.copy_scaffolds(files, lesson, images, overwrite)?;
        Ok(workspace)
    }

    /// A workspace made earlier at `dir`, with the names prefixed by `prefix` (what a
    /// process with other environment variables made: the tests' learners).
    pub fn existing(dir: &Path, prefix: &str, namespace: &str) -> Option<Workspace> {
        let id = std::fs::read_to_string(dir.join(ID_FILE)).ok()?;
        Some(Workspace {
            dir: dir.to_path_buf(),
            id: id.trim().to_string(),
            prefix: prefix.to_string(),
            namespace: namespace.to_string(),
        })
    }

    fn open(lesson_id: &str, namespace: &str) -> Result<Workspace, WorkspaceError> {
        let prefix = prefix()?;
        let dir = dir_for(lesson_id);
        std::fs::create_dir_all(&dir).map_err(|e| WorkspaceError::Create {
            path: dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let id_path = dir.join(ID_FILE);
        let id = match std::fs::read_to_string(&id_path) {
            Ok(id) if !id.trim().is_empty() => id.trim().to_string(),
            _ => {
                let id = new_id();
                write(&id_path, format!("{id}\n").as_bytes())?;
                id
            }
        };
        Ok(Workspace {
            dir,
            id,
            prefix,
            namespace: namespace.to_string(),
        })
    }

    /// What `{{key}}` means for this exercise: `workspace`, `id`, `namespace`, the
    /// task's names (with the prefix) and `image.NAME` for every image of the image map.
    pub fn vars(&self, exercise: &Exercise, images: &ImageMap) -> Vars {
        let mut vars = Vars::new();
        vars.insert("workspace".into(), self.dir.display().to_string());
        vars.insert("id".into(), self.id.clone());
        vars.insert("namespace".into(), self.namespace.clone());
        for (key, name) in &exercise.names {
            vars.insert(key.clone(), format!("{}{name}", self.prefix));
        }
        for (name, reference) in images.iter() {
            vars.insert(format!("image.{name}"), reference.to_string());
        }
        vars
    }

    fn copy_scaffolds(
        &self,
        files: &LabFiles,
        lesson: &Lesson,
        images: &ImageMap,
        overwrite: bool,
    ) -> Result<(), WorkspaceError> {
        for exercise in lesson.steps.iter().filter_map(|s| s.exercise.as_ref()) {
            let vars = self.vars(exercise, images);
            for file in &exercise.files {
                let target = self.dir.join(file);
                if target.exists() && !overwrite {
                    continue;
                }
                let text = scaffold(files, lesson, file, &vars)?;
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| WorkspaceError::Write {
                        path: parent.display().to_string(),
                        reason: e.to_string(),
                    })?;
                }
                write(&target, text.as_bytes())?;
                if file.ends_with(".sh") {
                    make_executable(&target)?;
                }
            }
        }
        Ok(())
    }
}

/// A scaffold file as the learner first gets it: the lab's copy with its placeholders
/// filled in.
pub fn scaffold(
    files: &LabFiles,
    lesson: &Lesson,
    file: &str,
    vars: &Vars,
) -> Result<String, WorkspaceError> {
    let rel = format!("exercises/{}/{file}", lesson.id);
    let text = files
        .text(&rel)
        .ok_or_else(|| WorkspaceError::MissingScaffold {
            lesson: lesson.id.clone(),
            file: file.to_string(),
        })?;
    render(text, vars).map_err(|message| WorkspaceError::Template {
        lesson: lesson.id.clone(),
        file: file.to_string(),
        message,
    })
}

fn prefix() -> Result<String, WorkspaceError> {
    let prefix = std::env::var(PREFIX_VAR).unwrap_or_default();
    let fine = prefix
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if fine {
        Ok(prefix)
    } else {
        Err(WorkspaceError::Prefix(prefix))
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), WorkspaceError> {
    std::fs::write(path, bytes).map_err(|e| WorkspaceError::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

fn make_executable(path: &Path) -> Result<(), WorkspaceError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(|e| {
        WorkspaceError::Write {
            path: path.display().to_string(),
            reason: e.to_string(),
        }
    })
}

/// Twelve hex digits from the clock and the process: unique enough to tell one
/// workspace's build from another's, and no secret.
fn new_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    format!("{:012x}", h.finish() & 0xffff_ffff_ffff)
}

impl Workspace {
    /// The step's `check:` with the workspace's names, path and id filled in, ready for
    /// the runner. An error names the placeholder that is not known.
    pub fn rendered_check(
        &self,
        step: &crate::lesson::model::Step,
        images: &ImageMap,
    ) -> Result<Option<crate::lesson::model::HandCheck>, String> {
        let (Some(exercise), Some(check)) = (&step.exercise, &step.check) else {
            return Ok(step.check.clone());
        };
        let vars = self.vars(exercise, images);
        crate::lesson::exercise::render_value(check, &vars).map(Some)
    }

    /// The lesson as the runner should check it: its exercise steps' checks rendered
    /// for this workspace.
    pub fn prepare(&self, lesson: &Lesson, images: &ImageMap) -> Result<Lesson, String> {
        let mut lesson = lesson.clone();
        for step in &mut lesson.steps {
            let check = self
                .rendered_check(step, images)
                .map_err(|e| format!("step `{}`: {e}", step.id))?;
            step.check = check;
            // Each engine's case of the check is the learner's too.
            if let Some(exercise) = step.exercise.clone() {
                let vars = self.vars(&exercise, images);
                for case in &mut step.cases {
                    if let Some(check) = &case.check {
                        case.check = Some(
                            crate::lesson::exercise::render_value(check, &vars)
                                .map_err(|e| format!("step `{}`: {e}", step.id))?,
                        );
                    }
                }
            }
        }
        Ok(lesson)
    }

    /// Each scaffold file of the exercise that no longer parses, as `path:line: message`
    /// (Dockerfiles with the auditor's parser, YAML with the lab's reader).
    pub fn unparsable(&self, exercise: &Exercise) -> Vec<String> {
        let mut problems = Vec::new();
        for file in &exercise.files {
            let path = self.dir.join(file);
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let name = file.rsplit('/').next().unwrap_or(file);
            if name.starts_with("Dockerfile") || name.ends_with(".Dockerfile") {
                if let Err(e) = crate::audit::dockerfile::parse::parse(&text) {
                    problems.push(format!("{}:{}: {}", path.display(), e.line, e.message));
                }
            } else if name.ends_with(".yaml") || name.ends_with(".yml") {
                if let Err(e) = crate::yaml::parse::<crate::yaml::Value>(&text) {
                    problems.push(format!(
                        "{}:{}:{}: {}",
                        path.display(),
                        e.line,
                        e.column,
                        e.message
                    ));
                }
            }
        }
        problems
    }
}

/// The solution as a bash script to run in the workspace folder.
pub fn solution_script(
    lesson: &Lesson,
    step: &crate::lesson::model::Step,
    workspace: &Workspace,
    images: &ImageMap,
) -> Result<String, String> {
    let Some(exercise) = &step.exercise else {
        return Err(format!("step `{}` is not an exercise", step.id));
    };
    let vars = workspace.vars(exercise, images);
    let mut body = render(&exercise.solution, &vars)?;
    if let Some(make) = &exercise.make {
        if !body.ends_with('\n') {
            body.push('\n');
        }
        body.push_str(&render(make, &vars)?);
        body.push('\n');
    }
    Ok(format!(
        "#!/usr/bin/env bash\n\
         # The solution to \"{title}\" ({lesson}/{step}).\n\
         # Run it in the workspace folder:\n\
         #   cd {dir} && nonroot-lab solution {lesson} {step} | bash\n\
         set -euo pipefail\n\
         {body}",
        title = step.title,
        lesson = lesson.id,
        step = step.id,
        dir = workspace.dir.display(),
    ))
}

/// The negative control as a bash script: `make` on the untouched scaffold, or nothing
/// when the exercise makes nothing (the check reads the workspace's files).
pub fn make_script(
    step: &crate::lesson::model::Step,
    workspace: &Workspace,
    images: &ImageMap,
) -> Result<String, String> {
    let Some(exercise) = &step.exercise else {
        return Err(format!("step `{}` is not an exercise", step.id));
    };
    match &exercise.make {
        Some(make) => render(make, &workspace.vars(exercise, images)),
        None => Ok(String::new()),
    }
}
