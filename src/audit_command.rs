//! The `audit` command at the edge: reads the inputs, asks the engines, renders the report
//! and sets the exit code. Every unreadable input is a [`Problem`]; the rest go on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::audit::config::{self, Config};
use crate::audit::dockerfile::{self, BaseImages};
use crate::audit::running::{self, PodUid};
use crate::audit::suppress::{self, Scope, Suppression};
use crate::audit::{manifest, output, Kind, Problem, Report, Severity};
use crate::cli::{AuditArgs, AuditFormat, AuditTarget, FailOn};
use crate::console;
use crate::engine::docker::DockerEngine;
use crate::engine::kube::{KubeEngine, KubeOptions};
use crate::engine::{Engine, EngineError};
use crate::session::{Session, Want, Wants};

pub async fn run(args: AuditArgs, kube: &KubeOptions) -> Result<u8> {
    let kind = match args.what {
        AuditTarget::Dockerfile { .. } => Kind::Dockerfile,
        AuditTarget::Manifest { .. } => Kind::Manifest,
        AuditTarget::Image { .. } => Kind::Image,
        AuditTarget::Running { .. } => Kind::Running,
    };
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let (config, suppressions) = match accepted(&args, &cwd) {
        Ok(found) => found,
        Err(message) => {
            console::err(&format!("nonroot-lab audit: {message}\n"));
            return Ok(2);
        }
    };
    let fail_on = match args.fail_on {
        Some(FailOn::Error) => Severity::Error,
        Some(FailOn::Warning) => Severity::Warning,
        Some(FailOn::Info) => Severity::Info,
        None => config.fail_on.unwrap_or(Severity::Error),
    };
    let mut report = match args.what {
        AuditTarget::Dockerfile {
            paths,
            target,
            build_args,
            no_engine,
        } => {
            let mut options = dockerfile::Options {
                target,
                build_args: BTreeMap::new(),
                context: None,
            };
            for pair in build_args {
                let (k, v) = pair
                    .split_once('=')
                    .with_context(|| format!("--build-arg {pair}: write it as NAME=VALUE"))?;
                options.build_args.insert(k.to_string(), v.to_string());
            }
            let inputs =
                tokio::task::spawn_blocking(move || inputs(&paths, is_dockerfile_name)).await?;
            let mut bases: Box<dyn BaseImages> = if no_engine {
                Box::new(dockerfile::NoEngine)
            } else {
                let mut wanted: Vec<String> = Vec::new();
                for (_, bytes) in &inputs {
                    for base in bytes
                        .iter()
                        .flat_map(|b| dockerfile::external_bases(b, &options))
                    {
                        if !wanted.contains(&base) {
                            wanted.push(base);
                        }
                    }
                }
                let engine = match wanted.is_empty() {
                    true => None,
                    false => DockerEngine::connect().await.ok(),
                };
                let engine = engine.as_ref().map(|e| e as &dyn Engine);
                Box::new(crate::audit_step::base_users(engine, wanted).await)
            };
            audit_dockerfiles(inputs, &options, bases.as_mut())
        }
        AuditTarget::Manifest { paths } => audit_manifests(&paths),
        AuditTarget::Image { references, input } => {
            let mut report = tokio::task::spawn_blocking(move || audit_archives(&input)).await?;
            if !references.is_empty() {
                report.merge(audit_images(&references).await);
            }
            report
        }
        AuditTarget::Running {
            docker_only,
            kube_only,
            no_exec,
        } => audit_running(!kube_only, !docker_only, no_exec, kube).await,
    };
    // The most specific first: a file's own comments and annotations, then the config,
    // then --ignore.
    let suppressions = [std::mem::take(&mut report.suppressions), suppressions].concat();
    let applied = suppress::apply(&mut report, &suppressions, &config.overrides, kind, &cwd);
    report.warnings.extend(applied.warnings);
    report.sort();
    let text = match args.format {
        AuditFormat::Human => output::human(&report),
        AuditFormat::Json => output::json(&report),
        AuditFormat::Sarif => output::sarif(&report, kind, &cwd),
        AuditFormat::Junit => output::junit(&report, kind, fail_on),
    };
    if args.format != AuditFormat::Human || args.output.is_some() {
        for p in &report.problems {
            console::err(&format!("nonroot-lab audit: {p}\n"));
        }
    }
    for p in &report.invalid {
        console::err(&format!("nonroot-lab audit: {p}\n"));
    }
    for w in &report.warnings {
        console::err(&format!("nonroot-lab audit: warning: {w}\n"));
    }
    match &args.output {
        Some(path) => {
            std::fs::write(path, &text)
                .with_context(|| format!("cannot write the report to {}", path.display()))?;
            console::err(&output::summary(&report));
        }
        None => console::out(&text),
    }
    Ok(report.exit_code(fail_on))
}

/// The config file (`--config`, else the nearest `.nonroot-lab.yaml` unless
/// `--no-config`) and the suppressions it and `--ignore` give; a mistake in either is
/// the one line to print before exiting 2.
fn accepted(args: &AuditArgs, cwd: &Path) -> Result<(Config, Vec<Suppression>), String> {
    let path = match (&args.config, args.no_config) {
        (Some(path), _) => Some(path.clone()),
        (None, true) => None,
        (None, false) => config::find(cwd),
    };
    let mut config = match path {
        Some(p) => config::load(&p).map_err(|e| e.to_string())?,
        None => Config::default(),
    };
    let mut suppressions = std::mem::take(&mut config.suppressions);
    for given in &args.ignore {
        let (rules, reason) =
            suppress::parse_spec(given).map_err(|e| format!("--ignore {given}: {e}"))?;
        suppressions.push(Suppression {
            rules,
            reason: Some(reason.unwrap_or_else(|| "--ignore on the command line".into())),
            origin: format!("--ignore {given}"),
            in_source: false,
            scope: Scope::Everywhere,
        });
    }
    Ok((config, suppressions))
}

/// The files to read: files as given, folders searched for names that `wanted` accepts.
fn inputs(paths: &[PathBuf], wanted: fn(&str) -> bool) -> Vec<(String, Result<Vec<u8>, Problem>)> {
    let mut out = Vec::new();
    for path in paths {
        let label = path.display().to_string();
        if label == "-" {
            let mut bytes = Vec::new();
            let read = std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes);
            out.push((
                "<stdin>".to_string(),
                read.map(|_| bytes)
                    .map_err(|e| problem("<stdin>", e.to_string())),
            ));
        } else if path.is_dir() {
            let mut found = Vec::new();
            walk(path, wanted, &mut found);
            if found.is_empty() {
                out.push((
                    label.clone(),
                    Err(problem(
                        &label,
                        "a folder with no file to audit in it".into(),
                    )),
                ));
            }
            found.sort();
            out.extend(found.into_iter().map(|f| {
                let label = f.display().to_string();
                let bytes = read(&f, &label);
                (label, bytes)
            }));
        } else {
            let bytes = read(path, &label);
            out.push((label, bytes));
        }
    }
    out
}

fn read(path: &Path, label: &str) -> Result<Vec<u8>, Problem> {
    std::fs::read(path).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            _ => e.to_string(),
        };
        problem(label, why)
    })
}

fn walk(dir: &Path, wanted: fn(&str) -> bool, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.') || name == "target" || name == "node_modules" {
            continue;
        }
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&path, wanted, found),
            Ok(t) if t.is_file() && wanted(&name) => found.push(path),
            _ => {}
        }
    }
}

/// `Dockerfile*`, `Containerfile*`, `*.dockerfile`; not BuildKit's per-Dockerfile ignore
/// files (`Dockerfile.dockerignore`).
pub fn is_dockerfile_name(name: &str) -> bool {
    !name.ends_with(".dockerignore")
        && (name.starts_with("Dockerfile")
            || name.starts_with("Containerfile")
            || name.ends_with(".dockerfile")
            || name.ends_with(".Dockerfile"))
}

pub fn is_manifest_name(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml")
}

fn problem(target: &str, message: String) -> Problem {
    Problem {
        target: target.to_string(),
        line: None,
        message,
    }
}

fn audit_dockerfiles(
    inputs: Vec<(String, Result<Vec<u8>, Problem>)>,
    options: &dockerfile::Options,
    bases: &mut dyn BaseImages,
) -> Report {
    let mut report = Report::default();
    for (label, bytes) in inputs {
        // ADD reads local archives from the build context, the Dockerfile's folder.
        let mut options = options.clone();
        if label != "<stdin>" {
            options.context = Path::new(&label)
                .parent()
                .map(|p| match p.as_os_str().is_empty() {
                    true => PathBuf::from("."),
                    false => p.to_path_buf(),
                });
        }
        let audited = bytes.and_then(|b| {
            let findings = dockerfile::audit(&label, &b, &options, bases)?;
            Ok((findings, b))
        });
        match audited {
            Ok((findings, bytes)) => {
                let (found, invalid) =
                    suppress::dockerfile_comments(&label, &String::from_utf8_lossy(&bytes));
                report.suppressions.extend(found);
                report.invalid.extend(invalid);
                report.audited.push(label);
                report.findings.extend(findings);
            }
            Err(p) => report.problems.push(p),
        }
    }
    report
}

pub fn audit_manifests(paths: &[PathBuf]) -> Report {
    let mut report = Report::default();
    for (label, bytes) in inputs(paths, is_manifest_name) {
        match bytes.and_then(|b| manifest::audit(&label, &b)) {
            Ok(file) => {
                report.audited.push(label);
                report.findings.extend(file.findings);
                report.problems.extend(file.problems);
                report.suppressions.extend(file.suppressions);
                report.invalid.extend(file.invalid);
            }
            Err(p) => report.problems.push(p),
        }
    }
    report
}

/// Images in archives, read without an engine; each image of an archive is a target
/// (its tag, else its digest) followed by the archive's name.
fn audit_archives(paths: &[PathBuf]) -> Report {
    let mut report = Report::default();
    for path in paths {
        let label = path.display().to_string();
        let images = if label == "-" {
            crate::image_archive::read_stream(std::io::stdin().lock())
        } else {
            crate::image_archive::read_path(path)
        };
        match images {
            Ok(images) => {
                for image in images {
                    let facts = crate::facts::ImageFacts {
                        reference: format!("{} ({label})", image.name),
                        user: image.user,
                        files: image.files,
                    };
                    report.audited.push(facts.reference.clone());
                    report
                        .findings
                        .extend(crate::audit::image::findings(&facts));
                }
            }
            Err(e) => report.problems.push(problem(&label, e)),
        }
    }
    report
}

async fn audit_images(images: &[String]) -> Report {
    let mut report = Report::default();
    let engine = match DockerEngine::connect().await {
        Ok(e) => e,
        Err(e) => {
            report
                .problems
                .extend(images.iter().map(|i| problem(i, e.to_string())));
            return report;
        }
    };
    for image in images {
        match engine.image_facts(image).await {
            Ok(facts) => {
                report.audited.push(image.clone());
                report
                    .findings
                    .extend(crate::audit::image::findings(&facts));
            }
            Err(EngineError::ImageUnavailable { reason, .. }) => {
                report.problems.push(problem(image, reason))
            }
            Err(e) => report.problems.push(problem(image, e.to_string())),
        }
    }
    report
}

async fn audit_running(docker: bool, kube: bool, no_exec: bool, options: &KubeOptions) -> Report {
    let mut report = Report::default();
    let want = |wanted: bool| if wanted { Want::IfThere } else { Want::No };
    let wants = Wants {
        docker: want(docker),
        userns: false,
        rootless: false,
        kube: want(kube),
        sweep_stale: false,
        namespace: false,
    };
    let mut session = Session::start(wants, options, std::sync::Arc::new(|_| {}));
    session.connected().await;
    if let Some(result) = session.docker_result() {
        match result {
            Err(e) => report
                .problems
                .push(problem("Docker engine", e.to_string())),
            Ok(engine) => match engine.running_containers().await {
                Err(e) => report
                    .problems
                    .push(problem("Docker engine", e.to_string())),
                Ok(containers) => {
                    report.notes.push(format!(
                        "Docker engine: {} running containers read",
                        containers.len()
                    ));
                    if !engine.profile.kind.root_is_host_root() {
                        report.notes.push(format!(
                            "the engine is {}: each uid was read as the container has it, not as the host numbers it",
                            engine.profile.kind_title
                        ));
                    }
                    report.audited.extend(containers.iter().map(|c| c.target()));
                    report
                        .findings
                        .extend(running::docker_findings(&containers));
                }
            },
        }
    }
    if let Some(result) = session.kube_result() {
        match result {
            Err(EngineError::NoCluster) if docker => report
                .notes
                .push("no Kubernetes cluster is configured: pods were not audited".into()),
            Err(e) => report.problems.push(problem("Kubernetes", e.to_string())),
            Ok(engine) => {
                audit_pods(engine, options.namespace.is_none(), no_exec, &mut report).await
            }
        }
    }
    session.close().await;
    report
}

async fn audit_pods(engine: &KubeEngine, all_namespaces: bool, no_exec: bool, report: &mut Report) {
    let pods = match engine.list_pods(all_namespaces).await {
        Ok(p) => p,
        Err(e) => {
            report.problems.push(problem(
                &format!("Kubernetes context {}", engine.context),
                e.to_string(),
            ));
            return;
        }
    };
    let mut decided = Vec::new();
    let mut execs = 0;
    for pod in &pods {
        let containers = running::running_containers(pod);
        if let Some(first) = containers.first() {
            if !report.audited.contains(&first.target()) {
                report.audited.push(first.target());
            }
        }
        for c in containers {
            let uid = match running::uid_from_spec(&c) {
                Some(u) => u,
                None if no_exec => PodUid::Unknown("--no-exec".into()),
                None => {
                    execs += 1;
                    match engine.uid_in(&c.namespace, &c.pod, &c.container).await {
                        Ok(out) => match running::parse_uid(&out) {
                            Some(uid) => PodUid::Known {
                                uid,
                                how: "`id -u` in the container".into(),
                            },
                            None => PodUid::Unknown(format!("`id -u` printed {:?}", out.trim())),
                        },
                        Err(e) => PodUid::Unknown(format!("`id -u` could not run: {e}")),
                    }
                }
            };
            decided.push((c, uid));
        }
    }
    report.notes.push(format!(
        "Kubernetes context {} ({}): {} pods, {} running containers, {execs} read with `id -u`",
        engine.context,
        if all_namespaces {
            "all namespaces".to_string()
        } else {
            format!("namespace {}", engine.namespace)
        },
        pods.len(),
        decided.len()
    ));
    report.findings.extend(running::pod_findings(&decided));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_names_a_folder_search_takes() {
        for yes in [
            "Dockerfile",
            "Dockerfile.prod",
            "Containerfile",
            "app.dockerfile",
            "x.Dockerfile",
        ] {
            assert!(is_dockerfile_name(yes), "{yes}");
        }
        for no in [
            "Dockerfile.dockerignore",
            ".dockerignore",
            "README.md",
            "docker-compose.yml",
        ] {
            assert!(!is_dockerfile_name(no), "{no}");
        }
        assert!(
            is_manifest_name("pod.yaml")
                && is_manifest_name("a.yml")
                && !is_manifest_name("a.json")
        );
    }
}
