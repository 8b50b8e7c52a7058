//! `nonroot-lab rules list|explain`: the auditor's rules from the command line, as
//! kube-linter's `checks list` and hadolint's rule pages give theirs.

use crate::audit::rules::{by_id, Rule, RULES};
use crate::console;

pub fn list(json: bool) -> anyhow::Result<u8> {
    if json {
        let rules: Vec<serde_json::Value> = RULES.iter().map(as_json).collect();
        console::out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&serde_json::json!({ "rules": rules }))?
        ));
        return Ok(0);
    }
    let mut text = format!(
        "{:<7} {:<8} {:<26} {}\n",
        "ID", "SEVERITY", "TARGET", "NAME"
    );
    for r in RULES {
        text.push_str(&format!(
            "{:<7} {:<8} {:<26} {}\n",
            r.id,
            r.severity.name(),
            r.target(),
            r.name
        ));
    }
    text.push_str(&format!(
        "{} rules; `nonroot-lab rules explain ID` for one\n",
        RULES.len()
    ));
    console::out(&text);
    Ok(0)
}

/// One rule in full; an unknown id is exit 2 naming the ids there are.
pub fn explain(id: &str) -> anyhow::Result<u8> {
    let Some(r) = by_id(id) else {
        console::err(&format!(
            "nonroot-lab: no rule `{id}`; the rules are {} (`nonroot-lab rules list`)\n",
            RULES.iter().map(|r| r.id).collect::<Vec<_>>().join(", ")
        ));
        return Ok(2);
    };
    // The same page as docs/rules/ID.md and SARIF's help.
    console::out(&crate::audit::rules::page_markdown(r));
    Ok(0)
}

fn as_json(r: &Rule) -> serde_json::Value {
    serde_json::json!({
        "id": r.id, "name": r.name, "severity": r.severity, "target": r.target(),
        "title": r.title, "fix": r.fix, "peers": r.peers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_has_a_target() {
        for r in RULES {
            assert_ne!(r.target(), "unknown", "{}", r.id);
        }
    }
}
