//! `nonroot-lab lint`: every error in every lesson and manifest, each as
//! `file:line:column: message`, in one run.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use super::load::{LabFiles, LoadError};
use super::locate::{self, Pos};
use super::model::{Action, Lesson, Platform, Step};
use crate::images::ImageMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// Lints every lesson and manifest of `files` against `images`.
pub fn lint(files: &LabFiles, images: &ImageMap) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut lesson_ids: BTreeMap<String, String> = BTreeMap::new();
    let manifests: Vec<&str> = files.manifests().collect();
    if manifests.is_empty() {
        out.push(Diagnostic {
            file: files.display("lessons"),
            line: 1,
            column: 1,
            message: "no lesson manifests (*.yaml) found".to_string(),
        });
    }
    for rel in manifests {
        let file = files.display(rel);
        let text = files.text(rel).unwrap_or("");
        match files.lesson(rel) {
            Ok(lesson) => {
                if let Some(first) = lesson_ids.insert(lesson.id.clone(), rel.to_string()) {
                    let pos = locate::find_value(text, 1, "id", &lesson.id).unwrap_or(Pos::START);
                    out.push(at(
                        &file,
                        pos,
                        format!(
                            "lesson id `{}` is also used by {}: lesson ids must be unique",
                            lesson.id,
                            files.display(&first)
                        ),
                    ));
                }
                lint_lesson(files, images, &lesson, &file, text, &mut out);
            }
            Err(LoadError::Parse {
                line,
                column,
                message,
                ..
            }) => out.push(Diagnostic {
                file,
                line,
                column,
                message,
            }),
            Err(LoadError::MissingText { text: md, .. }) => {
                let pos = locate::find_value(text, 1, "text", &md).unwrap_or(Pos::START);
                out.push(at(
                    &file,
                    pos,
                    format!(
                        "the lesson text `{md}` does not exist in lessons/: add it or fix `text:`"
                    ),
                ));
            }
            Err(other) => out.push(at(&file, Pos::START, other.to_string())),
        }
    }
    for (rel, _) in files
        .files
        .iter()
        .filter(|(k, _)| k.starts_with("manifests/"))
    {
        lint_k8s_manifest(files, rel, &mut out);
    }
    out
}

fn at(file: &str, pos: Pos, message: String) -> Diagnostic {
    Diagnostic {
        file: file.to_string(),
        line: pos.line,
        column: pos.column,
        message,
    }
}

fn lint_lesson(
    files: &LabFiles,
    images: &ImageMap,
    lesson: &Lesson,
    file: &str,
    text: &str,
    out: &mut Vec<Diagnostic>,
) {
    let starts = locate::step_lines(text);
    let sections = headings(&lesson.markdown);
    let mut seen: HashSet<&str> = HashSet::new();
    let mut built: HashSet<&str> = HashSet::new();
    if lesson.steps.is_empty() {
        out.push(at(
            file,
            locate::find_key(text, 1, "steps").unwrap_or(Pos::START),
            "the lesson has no steps: every claim needs a step that proves it".to_string(),
        ));
    }
    for (index, step) in lesson.steps.iter().enumerate() {
        let start = starts.get(index).copied().unwrap_or(1);
        let step_pos = Pos {
            line: start,
            column: 1,
        };
        let find = |key: &str, value: &str| {
            locate::find_value(text, start, key, value).unwrap_or(step_pos)
        };
        if !seen.insert(&step.id) {
            out.push(at(
                file,
                find("id", &step.id),
                format!("duplicate step id `{}` in lesson `{}`", step.id, lesson.id),
            ));
        }
        if step.expect.is_empty() {
            out.push(at(
                file,
                step_pos,
                format!(
                    "step `{}` has no expectation: add `expect:` with what must be true",
                    step.id
                ),
            ));
        }
        if !sections.iter().any(|h| h == &step.section) {
            out.push(at(
                file,
                find("section", &step.section),
                format!(
                    "step `{}` names section `{}`, which is not a heading of {}",
                    step.id, step.section, lesson.text
                ),
            ));
        }
        for expect in &step.expect {
            if let Some(pattern) = expect.pattern() {
                if let Err(e) = regex::Regex::new(pattern) {
                    let detail = e.to_string();
                    let last = detail.lines().last().unwrap_or("").trim().to_string();
                    out.push(at(
                        file,
                        find(expect.kind(), ""),
                        format!(
                            "step `{}`: the regex `{pattern}` does not compile: {last}",
                            step.id
                        ),
                    ));
                }
            }
        }
        lint_action(files, images, step, &built, &find, file, out);
        if let Some(hand) = &step.check {
            if hand.expect.is_empty() || matches!(hand.action, Action::Build(_)) {
                out.push(at(
                    file,
                    find("check", ""),
                    format!("step `{}`: `check` inspects what the learner made (not a build) and needs `expect:`", step.id),
                ));
            }
        }
        if let Action::Build(b) = &step.action {
            built.insert(&b.tag);
        }
    }
}

fn lint_action(
    files: &LabFiles,
    images: &ImageMap,
    step: &Step,
    built: &HashSet<&str>,
    find: &dyn Fn(&str, &str) -> Pos,
    file: &str,
    out: &mut Vec<Diagnostic>,
) {
    let mut image = |name: &str| {
        if !built.contains(name) && !images.contains(name) {
            out.push(at(
                file,
                find("image", name),
                format!(
                    "step `{}`: image `{name}` is neither in the image map nor built by an earlier step of this lesson",
                    step.id
                ),
            ));
        }
    };
    match &step.action {
        Action::Run(c) | Action::Serve(c) => {
            image(&c.image);
            let serve = matches!(step.action, Action::Serve(_));
            if serve && c.port.is_none() {
                out.push(at(
                    file,
                    find("serve", ""),
                    format!(
                        "step `{}`: `serve` needs `port:` (the port inside the container)",
                        step.id
                    ),
                ));
            }
            if !serve && (c.port.is_some() || !c.exec.is_empty()) {
                out.push(at(
                    file,
                    find("port", ""),
                    format!(
                        "step `{}`: `port` and `exec` belong to `serve`, not `run`",
                        step.id
                    ),
                ));
            }
            for bind in &c.binds {
                let parts: Vec<&str> = bind.split(':').collect();
                let ok = matches!(parts.len(), 2 | 3)
                    && parts[0].starts_with('/')
                    && parts[1].starts_with('/')
                    && parts.get(2).is_none_or(|m| *m == "ro" || *m == "rw");
                if !ok {
                    out.push(at(
                        file,
                        find("binds", ""),
                        format!(
                            "step `{}`: bind `{bind}` is not HOST:CONTAINER[:ro]",
                            step.id
                        ),
                    ));
                } else if parts[0] == "/" && parts.get(2) != Some(&"ro") {
                    out.push(at(
                        file,
                        find("binds", ""),
                        format!(
                            "step `{}`: the host's / must be mounted read-only: write `/:{}:ro`",
                            step.id, parts[1]
                        ),
                    ));
                }
            }
        }
        Action::Build(b) => {
            let rel = format!("dockerfiles/{}", b.dockerfile);
            match files.text(&rel) {
                None => out.push(at(
                    file,
                    find("dockerfile", &b.dockerfile),
                    format!(
                        "step `{}`: Dockerfile `{}` does not exist in dockerfiles/",
                        step.id, b.dockerfile
                    ),
                )),
                Some(dockerfile) => {
                    if let Some(base) = &b.base {
                        image(base);
                        if !declares_base_arg(dockerfile) {
                            out.push(at(
                                file,
                                find("dockerfile", &b.dockerfile),
                                format!("step `{}`: {} must declare `ARG BASE` before FROM so the image map reaches it", step.id, b.dockerfile),
                            ));
                        }
                    }
                }
            }
        }
        Action::InspectImage(i) => image(&i.image),
        Action::Apply(a) => {
            if !files.exists(&format!("manifests/{}", a.manifest)) {
                out.push(at(
                    file,
                    find("manifest", &a.manifest),
                    format!(
                        "step `{}`: manifest `{}` does not exist in manifests/",
                        step.id, a.manifest
                    ),
                ));
            }
        }
        Action::Audit(a) => {
            for name in a.image.iter().chain(&a.base) {
                image(name);
            }
            if a.targets() != 1 {
                out.push(at(
                    file,
                    find("audit", ""),
                    format!(
                        "step `{}`: `audit` takes exactly one of dockerfile, manifest, image",
                        step.id
                    ),
                ));
            }
            if let Some(d) = &a.dockerfile {
                if !files.exists(&format!("dockerfiles/{d}")) {
                    out.push(at(
                        file,
                        find("dockerfile", d),
                        format!(
                            "step `{}`: Dockerfile `{d}` does not exist in dockerfiles/",
                            step.id
                        ),
                    ));
                }
            }
            if let Some(m) = &a.manifest {
                if !files.exists(&format!("manifests/{m}")) {
                    out.push(at(
                        file,
                        find("manifest", m),
                        format!(
                            "step `{}`: manifest `{m}` does not exist in manifests/",
                            step.id
                        ),
                    ));
                }
            }
        }
    }
    if step.platform == Platform::Kubernetes && !matches!(step.action, Action::Apply(_)) {
        out.push(at(
            file,
            find("platform", ""),
            format!("step `{}`: a kubernetes step's action is `apply`", step.id),
        ));
    }
}

fn declares_base_arg(dockerfile: &str) -> bool {
    dockerfile.lines().any(|l| {
        let l = l.trim();
        l.len() > 4
            && l[..4].eq_ignore_ascii_case("ARG ")
            && l[4..].trim_start().starts_with("BASE")
    })
}

fn lint_k8s_manifest(files: &LabFiles, rel: &str, out: &mut Vec<Diagnostic>) {
    if !(rel.ends_with(".yaml") || rel.ends_with(".yml")) {
        return;
    }
    let file = files.display(rel);
    let Some(text) = files.text(rel) else {
        out.push(at(&file, Pos::START, "not UTF-8 text".to_string()));
        return;
    };
    let mut offset = 0;
    for doc in text.split("\n---") {
        if let Err(e) = crate::yaml::parse::<Option<crate::yaml::Value>>(doc) {
            out.push(Diagnostic {
                file: file.clone(),
                line: e.line + offset,
                column: e.column,
                message: e.message,
            });
            return;
        }
        offset += doc.matches('\n').count() + 1;
    }
}

/// The headings of a Markdown text, as plain text.
pub fn headings(markdown: &str) -> Vec<String> {
    use pulldown_cmark::{Event, Parser, Tag, TagEnd};
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for event in Parser::new(markdown) {
        match event {
            Event::Start(Tag::Heading { .. }) => current = Some(String::new()),
            Event::End(TagEnd::Heading(_)) => out.extend(current.take()),
            Event::Text(t) | Event::Code(t) => {
                if let Some(c) = current.as_mut() {
                    c.push_str(&t);
                }
            }
            _ => {}
        }
    }
    out
}
