//! What people expect of a command-line tool: its rules listed and explained, shell
//! completions that the shells accept, and a manual page.

mod common;
use common::*;

use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn rules_are_listed_and_each_is_explained() {
    let out = run(&["rules", "list", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rules = json["rules"].as_array().unwrap();
    assert_eq!(rules.len(), nonroot_lab::audit::RULES.len());
    for r in rules {
        let id = r["id"].as_str().unwrap();
        let out = run(&["rules", "explain", &id.to_lowercase()]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{id}: {stderr}");
        assert!(stdout.starts_with(&format!("# {id} ")), "{stdout}");
        assert!(
            stdout.contains(&format!("## Fix\n\n{}.", r["fix"].as_str().unwrap())),
            "{stdout}"
        );
        // The page in the repository is this page.
        let page = std::fs::read_to_string(repo().join(format!("docs/rules/{id}.md"))).unwrap();
        assert_eq!(stdout, page);
    }
    let out = run(&["rules", "list"]);
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("NRD001") && stdout.contains("Dockerfile"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{} rules", rules.len())),
        "{stdout}"
    );

    // An id that is no rule: exit 2, naming the ids there are.
    let out = run(&["rules", "explain", "NRX999"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no rule `NRX999`") && stderr.contains("NRK006"),
        "{stderr}"
    );
}

/// The generated script parsed by the shell itself (`bash -n`, `zsh -n`, `fish -n`)
/// when that shell is here.
fn shell_accepts(shell: &str, script: &[u8]) -> Option<bool> {
    let mut child = Command::new(shell)
        .arg("-n")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take().unwrap().write_all(script).unwrap();
    Some(child.wait_with_output().unwrap().status.success())
}

#[test]
fn completions_name_every_command_and_the_shells_accept_them() {
    for (shell, mark) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef nonroot-lab"),
        ("fish", "complete -c nonroot-lab"),
    ] {
        let out = run(&["completions", shell]);
        let (script, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{shell}: {stderr}");
        assert!(
            script.contains(mark),
            "{shell}: {}",
            &script[..200.min(script.len())]
        );
        for command in ["verify", "audit", "class", "rules", "check"] {
            assert!(
                script.contains(command),
                "{shell} completions lack `{command}`"
            );
        }
        match shell_accepts(shell, &out.stdout) {
            Some(ok) => assert!(ok, "{shell} -n refuses the script"),
            None => eprintln!("skipped `{shell} -n`: {shell} is not installed here"),
        }
    }
}

#[test]
fn the_manual_page_is_roff_and_names_the_commands() {
    let out = run(&["man"]);
    let (page, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        page.starts_with(".ie") || page.starts_with(".TH"),
        "{}",
        &page[..100]
    );
    assert!(page.contains(".TH nonroot-lab 1"), "{}", &page[..300]);
    for command in ["verify", "audit", "class", "rules", "completions"] {
        assert!(page.contains(command), "the page lacks `{command}`");
    }
    // man itself renders it, when it is here.
    let rendered = Command::new("man")
        .args(["-l", "-"])
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "80")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    match rendered {
        Ok(mut child) => {
            child.stdin.take().unwrap().write_all(&out.stdout).unwrap();
            let shown = child.wait_with_output().unwrap();
            let shown = String::from_utf8_lossy(&shown.stdout);
            assert!(shown.contains("nonroot-lab"), "{shown}");
        }
        Err(_) => eprintln!("skipped rendering with man: man is not installed here"),
    }
}

#[tokio::test]
async fn debug_logs_engine_requests_to_stderr_only_and_rust_log_is_checked() {
    if docker_or_skip().await.is_none() {
        return;
    }
    let lab = |args: &[&str]| bin().env_remove("RUST_LOG").args(args).output().unwrap();
    let quiet = lab(&["audit", "image", "--no-config", &base_image()]);
    let loud = lab(&["--debug", "audit", "image", "--no-config", &base_image()]);
    let (quiet_out, quiet_err) = text(&quiet);
    let (loud_out, loud_err) = text(&loud);
    // The report is the same; the log is all on stderr.
    assert_eq!(quiet_out, loud_out);
    assert!(quiet_err.is_empty(), "{quiet_err}");
    assert!(
        loud_err.contains("DEBUG nonroot_lab::engine::docker: connecting to the Docker engine"),
        "{loud_err}"
    );
    assert!(
        loud_err.contains("DEBUG bollard"),
        "bollard's own log: {loud_err}"
    );
    // RUST_LOG chooses instead: only kube, so nothing from a Docker audit.
    let o = bin()
        .env("RUST_LOG", "kube=debug")
        .args(["audit", "image", "--no-config", &base_image()])
        .output()
        .unwrap();
    assert!(text(&o).1.is_empty(), "{}", text(&o).1);
    let o = bin()
        .env("RUST_LOG", "nonroot_lab=[")
        .args(["rules", "list"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o)
            .1
            .starts_with("nonroot-lab: RUST_LOG=nonroot_lab=[: "),
        "{}",
        text(&o).1
    );
}
