//! Finds where a value sits in a YAML file's text, so that errors found after parsing
//! (a duplicate id, a missing file) still point at `file:line:column`.
//!
//! The YAML reader gives positions only for syntax and type errors; these helpers search the
//! text for `key: value`, which is exact for the block style the lessons are written in.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    pub const START: Pos = Pos { line: 1, column: 1 };
}

/// The position of the value of the first `key: value` at or after line `from`.
pub fn find_value(text: &str, from: usize, key: &str, value: &str) -> Option<Pos> {
    for (i, line) in text.lines().enumerate().skip(from.saturating_sub(1)) {
        let Some(at) = key_at(line, key) else {
            continue;
        };
        let rest = &line[at + key.len() + 1..];
        let trimmed = rest.trim_start();
        let bare = trimmed.trim_matches(|c| c == '"' || c == '\'');
        if bare.starts_with(value) || value.is_empty() {
            let column = line.len() - trimmed.len() + 1;
            return Some(Pos {
                line: i + 1,
                column,
            });
        }
    }
    None
}

/// The position of the first `key:` at or after line `from`.
pub fn find_key(text: &str, from: usize, key: &str) -> Option<Pos> {
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .find_map(|(i, line)| {
            key_at(line, key).map(|at| Pos {
                line: i + 1,
                column: at + 1,
            })
        })
}

/// Where each step begins: the line of its `- id:` (in order of appearance). An `id`
/// expectation (`- id: {uid: 0}`) sits deeper than the steps, so only the outermost
/// `- id:` lines count.
pub fn step_lines(text: &str) -> Vec<usize> {
    let candidates: Vec<(usize, usize)> = text
        .lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let t = line.trim_start();
            (t.starts_with("- id:") || t.starts_with("-   id:"))
                .then_some((i + 1, line.len() - t.len()))
        })
        .collect();
    let outermost = candidates.iter().map(|(_, indent)| *indent).min();
    candidates
        .into_iter()
        .filter(|(_, indent)| Some(*indent) == outermost)
        .map(|(line, _)| line)
        .collect()
}

/// The byte offset of `key:` on this line when it is a mapping key (after indentation,
/// an optional `- `, and nothing else).
fn key_at(line: &str, key: &str) -> Option<usize> {
    let trimmed = line.trim_start();
    let indent = line.len() - trimmed.len();
    let (dash, body) = match trimmed.strip_prefix("- ") {
        Some(body) => {
            let b = body.trim_start();
            (trimmed.len() - b.len(), b)
        }
        None => (0, trimmed),
    };
    let body = body
        .strip_prefix('"')
        .map(|b| b.replacen('"', "", 1))
        .unwrap_or_else(|| body.to_string());
    if body.starts_with(key) && body[key.len()..].starts_with(':') {
        Some(indent + dash)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "id: l\nsteps:\n  - id: a\n    action:\n      build:\n        dockerfile: D1\n  - id: b\n    expect:\n      - exit_code: 0\n";

    #[test]
    fn an_id_expectation_is_not_a_step() {
        let text = "steps:\n  - id: a\n    expect:\n      - id: {uid: 0}\n  - id: b\n";
        assert_eq!(step_lines(text), vec![2, 5]);
    }

    #[test]
    fn finds_steps_and_values_after_them() {
        assert_eq!(step_lines(TEXT), vec![3, 7]);
        assert_eq!(
            find_value(TEXT, 3, "dockerfile", "D1"),
            Some(Pos {
                line: 6,
                column: 21
            })
        );
        assert_eq!(find_value(TEXT, 7, "dockerfile", "D1"), None);
        assert_eq!(
            find_key(TEXT, 7, "exit_code"),
            Some(Pos { line: 9, column: 9 })
        );
        assert_eq!(
            find_value(TEXT, 1, "id", "b"),
            Some(Pos { line: 7, column: 9 })
        );
    }
}
