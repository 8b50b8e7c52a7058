//! "Your turn": work the learner does by hand in a workspace, checked live by the
//! step's `check:`. The task, the scaffold, the names and the solution are data here;
//! the workspace on disk is `crate::workspace`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An exercise step's `exercise:` block.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Exercise {
    /// What to make and how it will be checked (Markdown), never the answer.
    pub task: String,
    /// Scaffold files in `exercises/<lesson id>/`, copied into the lesson's workspace,
    /// with the mistake in them. The first one is what `e` opens.
    pub files: Vec<String>,
    /// The names the task gives what the learner makes (`image: my-numeric-user`),
    /// used as `{{image}}` in the task, the scaffold, the check and the solution.
    #[serde(default)]
    pub names: BTreeMap<String, String>,
    /// The fix, as bash run in the workspace folder (an edit of the scaffold, a
    /// command); with `make` after it, it completes the exercise.
    pub solution: String,
    /// How the task says to make the thing from the workspace (`docker build -t
    /// {{image}} .`), without any fix: the negative control. Made from the untouched
    /// scaffold, the check must fail.
    #[serde(default)]
    pub make: Option<String>,
}

/// What `{{key}}` stands for in an exercise's text, scaffold, check and solution.
pub type Vars = BTreeMap<String, String>;

/// Replaces every `{{ key }}` with its value. An unknown key is an error naming it, so
/// a typo in a lesson is caught by lint rather than shown to a learner.
pub fn render(text: &str, vars: &Vars) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(format!(
                "`{{{{` without a closing `}}}}` in `{}`",
                first_line(rest)
            ));
        };
        let key = after[..end].trim();
        match vars.get(key) {
            Some(v) => out.push_str(v),
            None => {
                let known: Vec<&str> = vars.keys().map(String::as_str).collect();
                return Err(format!(
                    "unknown placeholder `{{{{{key}}}}}`: known are {}",
                    known.join(", ")
                ));
            }
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Every placeholder key a text uses, in order.
pub fn placeholders(text: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        keys.push(after[..end].trim().to_string());
        rest = &after[end + 2..];
    }
    keys
}

/// Renders every string inside a serializable value (a check's action or its
/// expectations) and reads it back as the same type.
pub fn render_value<T>(value: &T, vars: &Vars) -> Result<T, String>
where
    T: Serialize + serde::de::DeserializeOwned,
{
    let mut json = serde_json::to_value(value).map_err(|e| e.to_string())?;
    render_json(&mut json, vars)?;
    serde_json::from_value(json).map_err(|e| e.to_string())
}

fn render_json(value: &mut serde_json::Value, vars: &Vars) -> Result<(), String> {
    match value {
        serde_json::Value::String(s) => *s = render(s, vars)?,
        serde_json::Value::Array(items) => {
            for item in items {
                render_json(item, vars)?;
            }
        }
        serde_json::Value::Object(map) => {
            for item in map.values_mut() {
                render_json(item, vars)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn first_line(text: &str) -> &str {
    let line = text.lines().next().unwrap_or(text);
    &line[..line.len().min(60)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        [("image", "my-app"), ("workspace", "/w")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn renders_known_keys_and_names_unknown_ones() {
        assert_eq!(
            render("docker build -t {{image}} {{ workspace }}", &vars()).unwrap(),
            "docker build -t my-app /w"
        );
        let err = render("{{imgae}}", &vars()).unwrap_err();
        assert!(
            err.contains("`{{imgae}}`") && err.contains("image, workspace"),
            "{err}"
        );
        assert!(render("a {{ b", &vars())
            .unwrap_err()
            .contains("without a closing"));
        assert_eq!(render("no braces", &vars()).unwrap(), "no braces");
    }

    #[test]
    fn renders_inside_an_action() {
        let action: crate::lesson::model::Action =
            crate::yaml::parse("run: {image: '{{image}}', cmd: [cat, '{{workspace}}/x']}").unwrap();
        let done = render_value(&action, &vars()).unwrap();
        let crate::lesson::model::Action::Run(spec) = done else {
            panic!("not a run")
        };
        assert_eq!(spec.image, "my-app");
        assert_eq!(spec.cmd, ["cat", "/w/x"]);
        assert_eq!(placeholders("{{a}} and {{ b }}"), ["a", "b"]);
    }
}
