//! `audit image` and `audit running` against the real Docker engine: images built with
//! and without setuid files, both ways of reading layers, containers running as root.

mod common;
use common::*;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;

use nonroot_lab::audit::{image, running};
use nonroot_lab::engine::docker::DockerEngine;
use nonroot_lab::engine::{Engine, OutputSink, Request, Scope};

fn scope(lesson: &str) -> Scope {
    Scope {
        run_id: format!("t{}", std::process::id()),
        lesson: format!("{lesson}-{}", std::process::id()),
        step: "build".into(),
    }
}

/// Builds `dockerfile` over the offline base as a labelled image; `end_run` removes it.
async fn build(docker: &DockerEngine, s: &Scope, dockerfile: &str) -> String {
    let tag = format!("nonroot-lab/{}:{}", s.lesson, s.run_id);
    let request = Request::Build {
        dockerfile: "Dockerfile".into(),
        context: BTreeMap::from([("Dockerfile".to_string(), dockerfile.as_bytes().to_vec())]),
        tag: tag.clone(),
        args: BTreeMap::from([("BASE".to_string(), base_image())]),
        no_cache: false,
        files: false,
    };
    let sink: OutputSink = Arc::new(|_, _: &str| {});
    let o = docker.perform(&request, s, &sink).await.expect("build");
    assert_eq!(o.exit_code, Some(0), "{}{}", o.stdout, o.stderr);
    tag
}

/// What `find` sees inside the image: the reference the audit must match. Docker itself
/// is retried when it fails to start the container (seen once under heavy load).
fn find_in(image: &str, args: &[&str]) -> Vec<String> {
    let mut cmd = vec![
        "run", "--rm", "--user", "0", image, "find", "/", "-xdev", "-type", "f",
    ];
    cmd.extend_from_slice(args);
    let mut last = String::new();
    for _ in 0..3 {
        let out = Command::new("docker").args(&cmd).output().unwrap();
        if out.status.success() {
            let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_string)
                .collect();
            v.sort();
            return v;
        }
        last = String::from_utf8_lossy(&out.stderr).to_string();
    }
    panic!("docker {cmd:?} failed three times: {last}");
}

#[tokio::test]
async fn image_audit_finds_what_find_finds_through_deletions_and_both_sources_agree() {
    let Some(docker) = docker_or_skip().await else {
        return;
    };
    let s = scope("audit-image");
    // Deletions, a removed bit and a deleted-then-recreated folder in later layers.
    let tag = build(
        &docker,
        &s,
        "ARG BASE\nFROM ${BASE}\n\
         RUN mkdir -p /opt/t && cp /usr/bin/id /opt/t/id-suid && chmod 4755 /opt/t/id-suid\n\
         RUN rm /usr/bin/su && chmod u-s /usr/bin/mount && rm -rf /opt/t && mkdir /opt/t && touch /opt/t/plain\n\
         RUN cp /usr/bin/id /usr/local/bin/id-suid && chmod 4755 /usr/local/bin/id-suid\n\
         USER nobody\n",
    )
    .await;
    // Assertions run in their own task so that a failing one still lets the image go.
    let checked = tokio::spawn(async move {
        let docker = DockerEngine::connect().await.expect("engine");
        let facts = docker.image_facts(&tag).await.expect("facts");
        let saved = docker.saved_image_files(&tag).await.expect("saved");
        assert_eq!(facts.files, saved, "layer folders and docker save disagree");
        assert!(facts.files.layers >= 4, "{}", facts.files.layers);
        let findings = image::findings(&facts);
        let mut ours: Vec<String> = findings
            .iter()
            .filter(|f| f.rule == "NRI003")
            .map(|f| f.path.clone().unwrap())
            .collect();
        ours.sort();
        let mut theirs = find_in(&tag, &["-perm", "-4000", "-user", "0"]);
        theirs.extend(find_in(&tag, &["-perm", "-2000", "-group", "0"]));
        theirs.sort();
        theirs.dedup();
        assert_eq!(ours, theirs);
        assert!(ours.contains(&"/usr/local/bin/id-suid".to_string()));
        assert!(
            !ours
                .iter()
                .any(|p| p == "/usr/bin/su" || p == "/usr/bin/mount" || p.starts_with("/opt/t")),
            "{ours:?}"
        );
        let user: Vec<_> = findings.iter().filter(|f| f.rule == "NRI002").collect();
        assert_eq!(user.len(), 1, "{findings:?}");
        assert!(user[0].message.contains("uid 65534"), "{}", user[0].message);
    })
    .await;
    docker.end_run(&s.run_id).await.expect("cleanup");
    if let Err(e) = checked {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[tokio::test]
async fn an_image_without_setuid_files_and_with_a_numeric_user_passes() {
    let Some(docker) = docker_or_skip().await else {
        return;
    };
    let s = scope("audit-clean");
    let dockerfile = std::fs::read_to_string(repo().join("dockerfiles/Dockerfile-nosuid")).unwrap();
    let tag = build(&docker, &s, &dockerfile).await;
    let facts = docker.image_facts(&tag).await;
    docker.end_run(&s.run_id).await.expect("cleanup");
    let facts = facts.expect("facts");
    assert_eq!(facts.user, "4242");
    assert!(
        facts.files.special.iter().all(|f| !f.is_root_escalation()),
        "{:?}",
        facts.files.special
    );
    assert_eq!(image::findings(&facts), vec![]);
}

/// Containers this test starts, removed however the test ends.
struct Started(Vec<String>);

impl Drop for Started {
    fn drop(&mut self) {
        for id in &self.0 {
            let _ = Command::new("docker").args(["rm", "-f", id]).output();
        }
    }
}

fn start(user: Option<&str>, marker: &str) -> String {
    let mut args = vec![
        "run",
        "-d",
        "--label",
        "nonroot-lab.audit-test=1",
        "--name",
        marker,
    ];
    if let Some(u) = user {
        args.extend(["--user", u]);
    }
    args.extend([base_image_static(), "sleep", "120"]);
    let out = Command::new("docker").args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn base_image_static() -> &'static str {
    Box::leak(base_image().into_boxed_str())
}

#[tokio::test]
async fn running_audit_names_the_container_whose_process_is_root() {
    let Some(docker) = docker_or_skip().await else {
        return;
    };
    let pid = std::process::id();
    let (root_name, user_name) = (format!("audit-root-{pid}"), format!("audit-4242-{pid}"));
    // Each into the guard as soon as it runs: a failing second start still removes the first.
    let mut started = Started(Vec::new());
    started.0.push(start(None, &root_name));
    started.0.push(start(Some("4242"), &user_name));
    let containers = docker.running_containers().await.expect("list");
    let ours: Vec<_> = containers
        .iter()
        .filter(|c| c.name == root_name || c.name == user_name)
        .cloned()
        .collect();
    assert_eq!(
        ours.len(),
        2,
        "{:?}",
        containers.iter().map(|c| &c.name).collect::<Vec<_>>()
    );
    let findings = running::docker_findings(&ours);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(findings[0].target.contains(&root_name));
    assert!(
        findings[0].message.contains("sleep"),
        "{}",
        findings[0].message
    );
    assert_eq!(findings[0].rule, "NRR001");
}
