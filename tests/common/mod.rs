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
