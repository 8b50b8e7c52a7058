//! Engine-dependent steps. What root can do on the host, who owns a file a container
//! writes, which uids exist: these differ between rootful Docker, a remapped engine and
//! a rootless one, and a step must prove the case the learner is in. A step lists
//! `cases:`, each for some kinds of engine (`when:`), saying what that case is
//! (`says:`) and changing what the step does (`set:`, as a control changes an action's
//! fields), what must hold (`expect:`), its control, or its hand check. Before a lesson
//! runs, each step is made into the one for the engine it runs on (`Lesson::for_engines`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::model::{Action, Control, EngineChoice, Expect, HandCheck, Lesson, Platform, Step};
use crate::engine::kind::EngineKind;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Engine kinds (`rootless-podman`) or groups (`remapped`) this case is for.
    pub when: Vec<String>,
    /// What this case is, for the learner whose engine it is: shown with the verdict.
    pub says: String,
    /// The step's title on this case, when the claim itself turns around.
    #[serde(default)]
    pub title: Option<String>,
    /// Fields of the step's action this case changes, as a control does.
    #[serde(default)]
    pub set: BTreeMap<String, crate::yaml::Value>,
    /// What must hold instead of the step's `expect`.
    #[serde(default)]
    pub expect: Option<Vec<Expect>>,
    /// The control on this case (it must still be rejected).
    #[serde(default)]
    pub control: Option<Control>,
    /// The hand check on this case.
    #[serde(default)]
    pub check: Option<HandCheck>,
    /// An exercise's solution on this case, when the way to it differs.
    #[serde(default)]
    pub solution: Option<String>,
}

/// The case a step was made into, for reports and screens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedCase {
    /// The kind of the engine the step runs on.
    pub engine: EngineKind,
    /// The case's `says`, when a case applied; `None` for the step as written.
    pub says: Option<String>,
}

/// Whether an engine of `kind` is one that `when` names; an empty `when` names all.
pub fn named(when: &[String], kind: EngineKind) -> bool {
    when.is_empty() || when.iter().any(|w| kind.is(w))
}

/// Why a step (or a control) whose `when` does not name the engine is not run there.
pub fn not_for(when: &[String], kind: EngineKind, what: &str) -> String {
    let names: Vec<String> = when
        .iter()
        .map(|w| match EngineKind::ALL.iter().find(|k| k.id() == w) {
            Some(k) => k.title().to_string(),
            None => format!("{w} engines"),
        })
        .collect();
    format!(
        "{what} is for {}; this engine is {}: nothing was checked",
        names.join(" or "),
        kind.title()
    )
}

impl Step {
    /// The first case for an engine of `kind`.
    pub fn case_for(&self, kind: EngineKind) -> Option<&Case> {
        self.cases.iter().find(|c| named(&c.when, kind))
    }

    /// The step as `case` makes it. An error names a field of `set` the action lacks.
    pub fn with_case(&self, case: &Case) -> Result<Step, String> {
        let mut step = self.clone();
        if let Some(title) = &case.title {
            step.title = title.clone();
        }
        if !case.set.is_empty() {
            step.action = set_fields(&self.action, &case.set)?;
        }
        if let Some(expect) = &case.expect {
            step.expect = expect.clone();
        }
        if let Some(control) = &case.control {
            step.control = Some(control.clone());
        }
        if let Some(check) = &case.check {
            step.check = Some(check.clone());
        }
        if let (Some(solution), Some(exercise)) = (&case.solution, &mut step.exercise) {
            exercise.solution = solution.clone();
        }
        step.cases.clear();
        Ok(step)
    }

    /// The step for an engine of `kind`: its case applied, and the kind noted. A step
    /// already made for a kind stays as it was made.
    pub fn for_kind(&self, kind: EngineKind) -> Step {
        if self.applied.is_some() {
            return self.clone();
        }
        let case = self.case_for(kind);
        let mut step = match case.map(|c| self.with_case(c)) {
            Some(Ok(step)) => step,
            // Lint refuses such a case; run the step as written rather than a guess.
            Some(Err(_)) | None => self.clone(),
        };
        step.applied = Some(AppliedCase {
            engine: kind,
            says: case.map(|c| c.says.clone()),
        });
        step
    }
}

impl Lesson {
    /// The lesson as it runs on these engines: each step made into the one for the kind
    /// of engine it runs on. A step whose engine is unknown (not connected, a cluster)
    /// stays as written.
    pub fn for_engines(
        &self,
        kind_of: impl Fn(Platform, EngineChoice) -> Option<EngineKind>,
    ) -> Lesson {
        let mut lesson = self.clone();
        for step in &mut lesson.steps {
            if let Some(kind) = kind_of(step.platform, step.engine) {
                *step = step.for_kind(kind);
            }
        }
        lesson
    }
}

/// `action` with `fields` put over its own, as a control's are.
pub(super) fn set_fields(
    action: &Action,
    fields: &BTreeMap<String, serde_json::Value>,
) -> Result<Action, String> {
    let mut value = serde_json::to_value(action).map_err(|e| e.to_string())?;
    let Some((kind, inner)) = value
        .as_object_mut()
        .and_then(|o| o.iter_mut().next())
        .map(|(k, v)| (k.clone(), v))
    else {
        return Err("the action is not a mapping".to_string());
    };
    let Some(own) = inner.as_object_mut() else {
        return Err(format!("`{kind}` takes no fields to replace"));
    };
    for (key, v) in fields {
        own.insert(key.clone(), v.clone());
    }
    serde_json::from_value::<Action>(value).map_err(|e| {
        let text = e.to_string();
        if text.starts_with("unknown field") {
            format!("`{kind}` has no such field: {text}")
        } else {
            text
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(yaml: &str) -> Step {
        crate::yaml::parse(yaml).expect("step")
    }

    const STEP: &str = r#"
id: a
title: t
section: s
action: {run: {image: ubuntu, user: "1000870000:0", cmd: [id]}}
expect: [{id: {uid: 1000870000}}]
control: {why: in its own group, user: "1000870000:1000870000"}
cases:
  - when: [remapped]
    says: only 65536 uids exist here
    set: {user: "54321:0"}
    expect: [{id: {uid: 54321}}]
    control: {why: in its own group, user: "54321:54321"}
"#;

    #[test]
    fn the_case_of_the_learners_engine_replaces_what_it_names() {
        let s = step(STEP);
        let rootless = s.for_kind(EngineKind::RootlessPodman);
        let Action::Run(spec) = &rootless.action else {
            panic!("a run")
        };
        assert_eq!(spec.user.as_deref(), Some("54321:0"));
        assert_eq!(spec.cmd, ["id"]);
        assert!(matches!(&rootless.expect[0], Expect::Id(i) if i.uid == Some(54321)));
        assert_eq!(
            rootless.control.as_ref().unwrap().fields["user"],
            "54321:54321"
        );
        let applied = rootless.applied.unwrap();
        assert_eq!(applied.engine, EngineKind::RootlessPodman);
        assert_eq!(applied.says.as_deref(), Some("only 65536 uids exist here"));
        assert!(rootless.cases.is_empty());

        let rootful = s.for_kind(EngineKind::RootfulDocker);
        let Action::Run(spec) = &rootful.action else {
            panic!("a run")
        };
        assert_eq!(spec.user.as_deref(), Some("1000870000:0"));
        assert_eq!(rootful.applied.unwrap().says, None);
    }

    #[test]
    fn a_case_naming_a_field_the_action_lacks_is_an_error() {
        let s = step(&STEP.replace("set: {user: \"54321:0\"}", "set: {usr: \"54321:0\"}"));
        let e = s.with_case(&s.cases[0]).unwrap_err();
        assert!(
            e.contains("`run` has no such field") && e.contains("usr"),
            "{e}"
        );
    }

    #[test]
    fn when_names_kinds_and_groups() {
        let when = vec!["rootful".to_string()];
        assert!(named(&when, EngineKind::RootfulPodman));
        assert!(!named(&when, EngineKind::UsernsDocker));
        assert!(named(&[], EngineKind::UsernsDocker));
        assert_eq!(
            not_for(&when, EngineKind::RootlessDocker, "this step"),
            "this step is for rootful engines; this engine is rootless Docker: nothing was checked"
        );
    }
}
