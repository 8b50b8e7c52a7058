//! `nonroot-lab lint`: every error in every lesson and manifest, each as
//! `file:line:column: message`, in one run.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use super::load::{LabFiles, LoadError};
use super::locate::{self, Pos};
use super::model::{Action, EngineChoice, Expect, Lesson, Platform, Step};
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

pub(super) fn at(file: &str, pos: Pos, message: String) -> Diagnostic {
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
    let all_built: HashSet<&str> = lesson.built_tags().into_iter().collect();
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
        let cx = StepContext {
            files,
            images,
            lesson,
            built: &built,
            all_built: &all_built,
            file,
            text,
        };
        lint_step(&cx, step, start, out);
        super::cases_lint::lint_cases(&cx, step, start, out);
        if let Action::Build(b) = &step.action {
            built.insert(&b.tag);
        }
    }
}

/// What every rule on one step reads besides the step: the lab, the lesson, the images
/// built before it (and by the whole lesson, for controls), and where the text is.
pub(super) struct StepContext<'a> {
    pub files: &'a LabFiles,
    pub images: &'a ImageMap,
    pub lesson: &'a Lesson,
    pub built: &'a HashSet<&'a str>,
    pub all_built: &'a HashSet<&'a str>,
    pub file: &'a str,
    pub text: &'a str,
}

/// Everything a step must be, from its action on: run for the step as written and for
/// each of its cases, whose lines `start` points at.
pub(super) fn lint_step(cx: &StepContext, step: &Step, start: usize, out: &mut Vec<Diagnostic>) {
    let StepContext {
        files,
        images,
        lesson,
        built,
        all_built,
        file,
        text,
    } = *cx;
    let step_pos = Pos {
        line: start,
        column: 1,
    };
    let find =
        |key: &str, value: &str| locate::find_value(text, start, key, value).unwrap_or(step_pos);
    if let Some(exercise) = &step.exercise {
        super::exercise_lint::lint_exercise(
            files, images, lesson, step, exercise, file, text, start, out,
        );
        return;
    }
    if matches!(step.action, Action::Exercise) {
        out.push(at(
            file,
            step_pos,
            format!(
                "step `{}` has no `action:`: say what the lab performs (or make it an `exercise:`)",
                step.id
            ),
        ));
        return;
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
    lint_action(files, images, step, &step.action, built, &find, file, out);
    lint_proof(files, step, text, start, file, out);
    if let Some(result) = step.control_action() {
        let control_line = locate::find_key(text, start, "control")
            .map(|p| p.line)
            .unwrap_or(start);
        let control_pos = Pos {
            line: control_line,
            column: 1,
        };
        let find_in_control = |key: &str, value: &str| {
            locate::find_value(text, control_line, key, value).unwrap_or(control_pos)
        };
        match result {
            Err(e) => {
                // Point at the field the action lacks, when that is the trouble.
                let field = e
                    .split("unknown field `")
                    .nth(1)
                    .and_then(|rest| rest.split('`').next());
                let pos = field
                    .and_then(|f| locate::find_key(text, control_line, f))
                    .unwrap_or(control_pos);
                out.push(at(
                    file,
                    pos,
                    format!(
                        "step `{}`: the control does not fit the action: {e}",
                        step.id
                    ),
                ))
            }
            // A control runs after the lesson: every image the lesson builds is there.
            Ok(action) => lint_action(
                files,
                images,
                step,
                &action,
                all_built,
                &find_in_control,
                file,
                out,
            ),
        }
        if step.platform == Platform::Kubernetes
            && step.control.as_ref().is_some_and(|c| c.engine.is_some())
        {
            out.push(at(
                    file,
                    find_in_control("engine", ""),
                    format!("step `{}`: `engine` picks a Docker engine; a Kubernetes step's control cannot have one", step.id),
                ));
        }
    }
    if let Some(hand) = &step.check {
        if hand.expect.is_empty() || matches!(hand.action, Action::Build(_)) {
            out.push(at(
                    file,
                    find("check", ""),
                    format!("step `{}`: `check` inspects what the learner made (not a build) and needs `expect:`", step.id),
                ));
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn lint_action(
    files: &LabFiles,
    images: &ImageMap,
    step: &Step,
    action: &Action,
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
    for name in action.images() {
        image(name);
    }
    match action {
        Action::Exercise => {}
        Action::InspectContainer(_) | Action::InspectPod(_) => out.push(at(
            file,
            find(action.kind(), ""),
            format!(
                "step `{}`: `{}` reads what the learner ran by hand: use it in `check:` of an exercise",
                step.id,
                action.kind()
            ),
        )),
        Action::Run(c) | Action::Serve(c) => {
            let serve = matches!(action, Action::Serve(_));
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
            if !serve && (c.port.is_some() || c.host_port.is_some() || !c.exec.is_empty()) {
                out.push(at(
                    file,
                    find("port", ""),
                    format!(
                        "step `{}`: `port`, `host_port` and `exec` belong to `serve`, not `run`",
                        step.id
                    ),
                ));
            }
            if let Some(scratch) = &c.scratch {
                if scratch.mode_bits().is_none() || !scratch.at.starts_with('/') {
                    out.push(at(
                        file,
                        find("scratch", ""),
                        format!(
                            "step `{}`: `scratch` needs `at:` (an absolute path in the container) and `mode:` in octal, e.g. `1777`",
                            step.id
                        ),
                    ));
                }
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
                    if b.base.is_some() && !declares_base_arg(dockerfile) {
                        out.push(at(
                            file,
                            find("dockerfile", &b.dockerfile),
                            format!("step `{}`: {} must declare `ARG BASE` before FROM so the image map reaches it", step.id, b.dockerfile),
                        ));
                    }
                }
            }
        }
        Action::InspectImage(_) => {}
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
            if a.targets() != 1 {
                out.push(at(
                    file,
                    find("audit", ""),
                    format!(
                        "step `{}`: `audit` takes exactly one of dockerfile, manifest, image, running",
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
    if step.platform == Platform::Kubernetes && !matches!(action, Action::Apply(_)) {
        out.push(at(
            file,
            find("platform", ""),
            format!("step `{}`: a kubernetes step's action is `apply`", step.id),
        ));
    }
}

/// A step proves its claim only if its checks can fail: it has a control (or shows a
/// value and says so with `observe`), and no expectation passes whatever happens.
fn lint_proof(
    files: &LabFiles,
    step: &Step,
    text: &str,
    start: usize,
    file: &str,
    out: &mut Vec<Diagnostic>,
) {
    let step_pos = Pos {
        line: start,
        column: 1,
    };
    let find = |key: &str, value: &str| locate::find_value(text, start, key, value);
    let mut say = |pos: Option<Pos>, message: String| {
        out.push(at(file, pos.unwrap_or(step_pos), message));
    };
    match (&step.control, step.observe) {
        (Some(_), true) => say(
            find("observe", ""),
            format!("step `{}`: an observed step shows a value and has no control: drop `observe` or `control`", step.id),
        ),
        (None, false) => say(
            Some(step_pos),
            format!("step `{}` has no `control:`: give the same action with the lesson's point undone (a check that cannot fail proves nothing), or mark it `observe: true` if it only shows a value of the learner's engine", step.id),
        ),
        _ => {}
    }
    if step.platform == Platform::Kubernetes && step.engine != EngineChoice::Default {
        say(
            find("engine", ""),
            format!(
                "step `{}`: `engine` picks a Docker engine; a Kubernetes step has none",
                step.id
            ),
        );
    }
    let only_success = !step.expect.is_empty()
        && step
            .expect
            .iter()
            .all(|e| matches!(e, Expect::ExitCode(0) | Expect::Fails(false)));
    if only_success {
        say(
            find(step.expect[0].kind(), ""),
            format!("step `{}`: exit code 0 alone cannot tell the lesson's claim from any command that worked: check what it printed or made", step.id),
        );
    }
    let own_text = command_text(files, &step.action);
    for expect in &step.expect {
        let kind = expect.kind();
        if let Some(pattern) = expect.pattern() {
            if let Ok(re) = regex::Regex::new(pattern) {
                if re.is_match("") {
                    say(
                        find(kind, ""),
                        format!("step `{}`: the regex `{pattern}` matches an empty output, so it matches anything: anchor it to what must appear", step.id),
                    );
                } else if !matches!(expect, Expect::Http(_)) && re.is_match(&own_text) {
                    say(
                        find(kind, ""),
                        format!("step `{}`: the regex `{pattern}` matches the step's own command, which the output may echo: match what only the result prints", step.id),
                    );
                }
            }
        }
        match expect {
            Expect::StdoutContains(t) | Expect::StderrContains(t) | Expect::OutputContains(t)
                if own_text.contains(t.as_str()) =>
            {
                say(
                    find(kind, t),
                    format!("step `{}`: `{t}` appears in the step's own command, which prints or echoes it whatever happens: check text only the result prints", step.id),
                );
            }
            Expect::Sysctl(s) if s.one_of.is_empty() && !step.observe => say(
                find(kind, ""),
                format!("step `{}`: `sysctl` without `one_of` accepts every value: list the values that prove the claim, or mark the step `observe: true`", step.id),
            ),
            Expect::Refused(_) if !matches!(step.action, Action::Run(_) | Action::Serve(_)) => say(
                find(kind, ""),
                format!("step `{}`: `refused` judges an engine's refusal to start a container: it belongs to `run` or `serve`", step.id),
            ),
            Expect::Capabilities(c) => {
                for name in c
                    .includes
                    .iter()
                    .chain(&c.lacks)
                    .filter(|n| !crate::check::is_capability(n))
                {
                    say(
                        find(kind, ""),
                        format!("step `{}`: `{name}` is not a Linux capability (CAP_CHOWN, NET_BIND_SERVICE, ...)", step.id),
                    );
                }
                if !c.none && c.includes.is_empty() && c.lacks.is_empty() {
                    say(
                        find(kind, ""),
                        format!("step `{}`: `capabilities` needs `includes:`, `lacks:` or `none: true`", step.id),
                    );
                }
            }
            Expect::HostFile(_) => {
                let has_scratch = matches!(&step.action, Action::Run(c) | Action::Serve(c) if c.scratch.is_some());
                if !has_scratch {
                    say(
                        find(kind, ""),
                        format!("step `{}`: `host_file` reads the step's `scratch` folder: give the action `scratch: {{at: /external, mode: \"1777\"}}`", step.id),
                    );
                }
            }
            _ => {}
        }
    }
}

/// Everything a step's action itself says, which its output may echo back: the argv
/// of its container and execs, or the Dockerfile a build prints step by step.
fn command_text(files: &LabFiles, action: &Action) -> String {
    match action {
        Action::Run(c) | Action::Serve(c) => {
            let mut words: Vec<&str> = c.cmd.iter().map(String::as_str).collect();
            words.extend(c.entrypoint.iter().flatten().map(String::as_str));
            words.extend(c.exec.iter().flatten().map(String::as_str));
            words.extend(c.env.iter().map(String::as_str));
            words.join(" ")
        }
        Action::Build(b) => files
            .text(&format!("dockerfiles/{}", b.dockerfile))
            .unwrap_or("")
            .to_string(),
        Action::Apply(a) => a.exec.join(" "),
        Action::InspectImage(_)
        | Action::Audit(_)
        | Action::Exercise
        | Action::InspectContainer(_)
        | Action::InspectPod(_) => String::new(),
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
