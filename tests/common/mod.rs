//! Shared test helpers: the real Docker engine (or a clear skip), the offline image map,
//! and running the real binary.
#![allow(dead_code)]

pub mod kube;
pub mod learner;
pub mod tmux;

use std::path::PathBuf;
use std::process::{Command, Output};

use nonroot_lab::engine::docker::DockerEngine;
use nonroot_lab::images::ImageMap;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The engine, or `None` after printing why the test is skipped. Under `CI=true` a
/// missing engine is a failure, never a skip.
pub async fn docker_or_skip() -> Option<DockerEngine> {
    match DockerEngine::connect().await {
        Ok(d) => Some(d),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true but no Docker engine: {e}")
        }
        Err(e) => {
            eprintln!("skipped: no Docker engine ({e})");
            None
        }
    }
}

/// The image map the tests use: `$NONROOT_LAB_IMAGES`, else the repo's
/// `offline-images.yaml` when scripts/offline-images made it, else the defaults.
pub fn image_map_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NONROOT_LAB_IMAGES") {
        return Some(PathBuf::from(p));
    }
    let p = repo().join("offline-images.yaml");
    p.is_file().then_some(p)
}

pub fn images() -> ImageMap {
    ImageMap::load(image_map_path().as_deref()).expect("image map")
}

pub fn base_image() -> String {
    images()
        .resolve("ubuntu")
        .expect("ubuntu in map")
        .to_string()
}

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nonroot-lab"));
    if let Some(p) = image_map_path() {
        c.env("NONROOT_LAB_IMAGES", p);
    }
    c
}

pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run nonroot-lab")
}

pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

/// Containers carrying the lab's label and this marker, as `docker ps -a` sees them.
pub fn labelled_containers(filter: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            "label=nonroot-lab",
            "--filter",
            filter,
        ])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Whether the second engine, with user-namespace remapping, is configured
/// (`NONROOT_LAB_USERNS_HOST`, set by ../shared/docker-userns/up.sh). Under `CI=true` it
/// must be: `.ci/run` starts it.
pub fn userns_configured() -> bool {
    let set = std::env::var("NONROOT_LAB_USERNS_HOST").is_ok_and(|h| !h.is_empty());
    if !set && std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true but NONROOT_LAB_USERNS_HOST is not set: .ci/run starts ../shared/docker-userns");
    }
    if !set {
        eprintln!("note: no engine with user-namespace remapping: its steps must be skipped with the reason");
    }
    set
}

/// Whether a rootless engine is configured for lesson 09's side-by-side steps
/// (`NONROOT_LAB_ROOTLESS_HOST`). Under `CI=true` it must be: `.ci/run` sets it.
pub fn rootless_configured() -> bool {
    let set = std::env::var("NONROOT_LAB_ROOTLESS_HOST").is_ok_and(|h| !h.is_empty());
    if !set && std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true but NONROOT_LAB_ROOTLESS_HOST is not set: .ci/run starts ../shared/rootless and sets it");
    }
    if !set {
        eprintln!("note: no rootless engine configured: lesson 09's rootless steps must be skipped with the reason");
    }
    set
}

/// A JSON report of a run that must pass (exit 0), read; a failure leads with the steps
/// that did not pass.
pub fn passed_report(out: &Output, what: &str) -> serde_json::Value {
    let (stdout, stderr) = text(out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: not passed:\n{}\n{stderr}\n{stdout}",
        not_passed(&stdout)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{what}: {e}: {stdout}"))
}

/// A JSON report's steps that did not pass (and their controls that were not rejected),
/// one line each: a failure message leads with these, since CI shows only part of a
/// long output and the whole report would push them out of view.
pub fn not_passed(report_json: &str) -> String {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(report_json) else {
        return "(stdout is not a JSON report)".to_string();
    };
    let mut lines = Vec::new();
    for s in json["steps"].as_array().into_iter().flatten() {
        let name = format!(
            "{}/{}",
            s["lesson"].as_str().unwrap_or("?"),
            s["step"].as_str().unwrap_or("?")
        );
        let status = s["status"].as_str().unwrap_or("?");
        if status != "passed" && status != "skipped" {
            lines.push(format!("{name}: {status}: {} {}", s["reason"], s["checks"]));
        }
        let control = &s["control"];
        if !control.is_null() && control["status"] != "rejected" && control["status"] != "skipped" {
            lines.push(format!("{name} control: {}", control));
        }
    }
    if lines.is_empty() {
        "(every step passed or was skipped)".to_string()
    } else {
        lines.join("\n")
    }
}

/// The rootless engines of `../shared/rootless` (`ROOTLESS_DOCKER_HOST`,
/// `ROOTLESS_PODMAN_HOST`, from its `up.sh`), as (kind, host). Under `CI=true` both must
/// be set: `.ci/run` starts them. Otherwise the tests that need them say they skipped.
pub fn rootless_engines() -> Vec<(&'static str, String)> {
    let mut found = Vec::new();
    for (kind, var) in [
        ("rootless-docker", "ROOTLESS_DOCKER_HOST"),
        ("rootless-podman", "ROOTLESS_PODMAN_HOST"),
    ] {
        match std::env::var(var).ok().filter(|h| !h.is_empty()) {
            Some(host) => found.push((kind, host)),
            None if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("CI=true but {var} is not set: .ci/run starts ../shared/rootless")
            }
            None => eprintln!("skipped on {kind}: {var} is not set (../shared/rootless/up.sh, then . /tmp/rootless/env)"),
        }
    }
    found
}

/// The remapped engine's host, when configured.
pub fn userns_host() -> Option<String> {
    std::env::var("NONROOT_LAB_USERNS_HOST")
        .ok()
        .filter(|h| !h.is_empty())
}

/// Runs the docker CLI against `host` and says what it printed, failing the test when
/// the CLI fails: a test must not read "nothing" from an engine it could not ask.
pub fn docker_on(host: &str, args: &[&str]) -> String {
    let out = Command::new("docker")
        .arg("-H")
        .arg(host)
        .args(args)
        .output()
        .expect("docker CLI");
    assert!(
        out.status.success(),
        "docker -H {host} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Copies every image of the map that `host` lacks from the machine's engine, as a
/// learner loads them (`docker save | docker load`).
pub fn ensure_lab_images_on(host: &str) {
    for (_, reference) in images().iter() {
        let have = Command::new("docker")
            .args(["-H", host, "image", "inspect", reference])
            .output()
            .expect("docker CLI");
        if have.status.success() {
            continue;
        }
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "docker save '{reference}' | docker -H '{host}' load -q"
            ))
            .output()
            .expect("bash");
        assert!(
            out.status.success(),
            "loading {reference} into {host}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
