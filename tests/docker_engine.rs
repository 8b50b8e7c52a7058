//! Every Docker operation the lessons use, against the real engine.

mod common;
use common::*;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use nonroot_lab::engine::Sweep;
use nonroot_lab::engine::{Engine, EngineError, OutputSink, Request, Scope, Stream};
use nonroot_lab::lesson::model::ContainerSpec;

fn scope(step: &str) -> Scope {
    Scope {
        run_id: format!("t{}", std::process::id()),
        lesson: "engine-tests".into(),
        step: step.into(),
    }
}

/// Output lines as a step streamed them.
type Lines = Arc<Mutex<Vec<(Stream, String)>>>;

fn collecting() -> (OutputSink, Lines) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l = lines.clone();
    let sink: OutputSink =
        Arc::new(move |s, line: &str| l.lock().unwrap().push((s, line.to_string())));
    (sink, lines)
}

#[tokio::test]
async fn run_reads_a_failing_command_as_an_outcome_and_streams_output() {
    let Some(docker) = docker_or_skip().await else {
        return;
    };
    let mut spec = ContainerSpec::new(&base_image(), &["sh", "-c", "id; echo oops >&2; exit 3"]);
    spec.user = Some("4242".into());
    let (sink, lines) = collecting();
    let s = scope("run-fails");
    let o = docker
        .perform(&Request::Run(spec), &s, &sink)
        .await
        .expect("outcome");
    assert_eq!(o.exit_code, Some(3));
    assert!(o.stdout.contains("uid=4242 gid=0(root)"), "{}", o.stdout);
    assert_eq!(o.stderr.trim(), "oops");
    assert!(lines
        .lock()
        .unwrap()
        .iter()
        .any(|(st, l)| *st == Stream::Stderr && l == "oops"));
    assert!(
        labelled_containers(&format!("label=nonroot-lab.step={}", s.step)).is_empty(),
        "container removed"
    );
}

#[tokio::test]
async fn run_applies_binds_sysctls_caps_and_security_options() {
    let Some(docker) = docker_or_skip().await else {
        return;
    };
    let mut spec = ContainerSpec::new(
        &base_image(),
        &["sh", "-c", "cat /proc/sys/net/ipv4/ip_unprivileged_port_start; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; touch /host/x 2>&1; echo $GREETING"],
    );
    spec.binds = vec!["/:/host:ro".into()];
    spec.sysctls = BTreeMap::from([("net.ipv4.ip_unprivileged_port_start".into(), "1024".into())]);
    spec.cap_drop = vec!["ALL".into()];
    spec.security_opt = vec!["no-new-privileges:true".into()];
    spec.env = vec!["GREETING=hello".into()];
    let (sink, _) = collecting();
    let o = docker
        .perform(&Request::Run(spec), &scope("run-options"), &sink)
        .await
        .expect("outcome");
    assert!(o.stdout.starts_with("1024\n"), "{}", o.stdout);
    assert!(
        o.stdout.contains("CapEff:\t0000000000000000"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("NoNewPrivs:\t1"), "{}", o.stdout);
    assert!(
        o.stdout.contains("Read-only file system"),
        "the host mount is read-only: {}",
        o.stdout
    );
    assert!(o.stdout.contains("hello"), "{}", o.stdout);
}

#[tokio::test]
async fn serve_answers_http_execs_and_lists_processes() {
    let Some(docker) = docker_or_skip().await else {
        return;
    };
    let nginx = images().resolve("nginx").unwrap().to_string();
    let mut spec = ContainerSpec::new(&nginx, &[]);
    spec.port = Some(80);
    spec.exec = vec![vec!["id".into()]];
    let (sink, _) = collecting();
    let o = docker
        .perform(&Request::Serve(spec), &scope("serve"), &sink)
        .await
        .expect("outcome");
    let http = o.http.expect("an HTTP answer");
    assert_eq!(http.status, 200);
    assert!(http.body.contains("nginx"), "{}", http.body);
    assert!(
        o.stdout.contains("uid=0(root)"),
        "exec output: {}",
        o.stdout
    );
    let procs = o.processes.expect("processes");
    assert!(
        procs
            .iter()
            .any(|p| p.uid == "0" && p.command.contains("nginx")),
        "{procs:?}"
    );
    assert_eq!(o.exit_code, None, "still running when probed");
}

#[tokio::test]
async fn serve_reports_a_server_that_exits_before_answering() {
    let Some(docker) = docker_or_skip().await else {
        return;
    };
    let mut spec = ContainerSpec::new(&base_image(), &["sh", "-c", "echo cannot bind >&2; exit 1"]);
    spec.port = Some(80);
    spec.ready_timeout = 10;
    let (sink, _) = collecting();
    let o = docker
        .perform(&Request::Serve(spec), &scope("serve-exits"), &sink)
        .await
        .expect("outcome");
    assert!(o.http.is_none());
    assert_eq!(o.exit_code, Some(1));
    assert!(o.stderr.contains("cannot bind"), "{}", o.stderr);
    assert!(
        o.notes.iter().any(|n| n.contains("exited with code 1")),
        "{:?}",
        o.notes
    );
}

#[tokio::test]
async fn build_streams_output_sets_the_user_and_end_run_removes_the_image() {
    let Some(docker) = docker_or_skip().await else {
        return;
    };
    let s = Scope {
        lesson: format!("build-{}", std::process::id()),
        ..scope("build")
    };
    let tag = format!("nonroot-lab/test-build:{}", std::process::id());
    let context = BTreeMap::from([(
        "Dockerfile".to_string(),
        b"ARG BASE\nFROM ${BASE}\nUSER 1984\nRUN id\nUSER 4242\n".to_vec(),
    )]);
    let request = Request::Build {
        dockerfile: "Dockerfile".into(),
        context,
        tag: tag.clone(),
        args: BTreeMap::from([("BASE".to_string(), base_image())]),
        // The RUN output is read below: from the cache it would print nothing.
        no_cache: true,
        files: true,
    };
    let (sink, lines) = collecting();
    let o = docker.perform(&request, &s, &sink).await.expect("outcome");
    assert_eq!(o.exit_code, Some(0), "{}{}", o.stdout, o.stderr);
    assert_eq!(o.image_user.as_deref(), Some("4242"));
    let special = o.special_files.expect("the built image's files were read");
    assert!(
        special
            .iter()
            .any(|f| f.path.ends_with("/su") && f.is_root_escalation()),
        "the base's setuid-root su: {special:?}"
    );
    assert!(
        lines
            .lock()
            .unwrap()
            .iter()
            .any(|(_, l)| l.contains("uid=1984")),
        "RUN output streamed"
    );
    assert!(docker.image_present(&tag).await.unwrap());
    assert!(
        docker.end_lesson(&s).await.unwrap().is_empty(),
        "a lesson's images stay for the rest of the run"
    );
    assert!(docker.image_present(&tag).await.unwrap());
    let removed = docker.end_run(&s.run_id).await.unwrap();
    assert!(removed.iter().any(|r| r.contains(&tag)), "{removed:?}");
    assert!(!docker.image_present(&tag).await.unwrap());
}

#[tokio::test]
async fn a_failing_build_is_an_outcome_with_the_error() {
    let Some(docker) = docker_or_skip().await else {
        return;
    };
    let context = BTreeMap::from([(
        "Dockerfile".to_string(),
        b"ARG BASE\nFROM ${BASE}\nRUN exit 7\n".to_vec(),
    )]);
    let request = Request::Build {
        dockerfile: "Dockerfile".into(),
        context,
        tag: format!("nonroot-lab/test-fail:{}", std::process::id()),
        args: BTreeMap::from([("BASE".to_string(), base_image())]),
        no_cache: false,
        files: false,
    };
    let (sink, _) = collecting();
    let o = docker
        .perform(&request, &scope("build-fails"), &sink)
        .await
        .expect("outcome");
    assert_eq!(o.exit_code, Some(1));
    assert!(
        o.stderr.contains("returned a non-zero code: 7"),
        "{}",
        o.stderr
    );
}

#[tokio::test]
async fn inspect_image_reads_user_and_setuid_files_without_running() {
    let Some(docker) = docker_or_skip().await else {
        return;
    };
    let (sink, _) = collecting();
    let request = Request::InspectImage {
        image: base_image(),
        files: true,
        pull: true,
    };
    let o = docker
        .perform(&request, &scope("inspect"), &sink)
        .await
        .expect("outcome");
    assert_eq!(o.image_user.as_deref(), Some(""));
    let files = o.special_files.expect("files");
    let su = files
        .iter()
        .find(|f| f.path == "/usr/bin/su")
        .expect("su is setuid in the base");
    assert!(su.is_root_escalation() && su.mode & 0o4000 != 0, "{su:?}");
    // The same list the docker CLI finds by running `find` inside the image.
    let out = std::process::Command::new("docker")
        .args([
            "run",
            "--rm",
            "--user",
            "0",
            &base_image(),
            "find",
            "/",
            "-xdev",
            "-perm",
            "/6000",
            "-type",
            "f",
        ])
        .output()
        .unwrap();
    let mut cli: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let mut ours: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
    cli.sort();
    ours.sort();
    assert_eq!(ours, cli);
}

#[tokio::test]
async fn an_image_that_cannot_be_pulled_says_what_to_do() {
    let Some(docker) = docker_or_skip().await else {
        return;
    };
    let (sink, _) = collecting();
    let spec = ContainerSpec::new("nonroot-lab-test/does-not-exist:1", &["true"]);
    let err = docker
        .perform(&Request::Run(spec), &scope("missing-image"), &sink)
        .await
        .unwrap_err();
    assert!(
        matches!(err, EngineError::ImageUnavailable { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("scripts/offline-images"), "{err}");
}

#[tokio::test]
async fn cleanup_leaves_kubelet_and_unlabelled_containers_and_live_runs_alone() {
    let Some(docker) = docker_or_skip().await else {
        return;
    };
    let tag = format!("sweep-{}", std::process::id());
    let create = |extra: &[&str]| {
        let mut args = vec![
            "create".to_string(),
            "--label".into(),
            format!("test-marker={tag}"),
        ];
        for e in extra {
            args.push("--label".into());
            args.push(e.to_string());
        }
        args.push(base_image());
        args.push("true".into());
        let out = std::process::Command::new("docker")
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    // A dead owner: pid 4194303 does not exist on this host.
    let host = format!(
        "nonroot-lab.host={}",
        nonroot_lab::engine::labels::hostname()
    );
    let stale = create(&["nonroot-lab=true", "nonroot-lab.pid=4194303", &host]);
    let kubelet = create(&[
        "nonroot-lab=true",
        "nonroot-lab.pid=4194303",
        &host,
        "io.kubernetes.docker.type=container",
    ]);
    let unlabelled = create(&[]);
    let removed = docker.sweep(Sweep::Stale).await.unwrap();
    let left = labelled_or_not(&tag);
    assert!(
        !left.iter().any(|id| stale.starts_with(id.as_str())),
        "stale container removed: {removed:?}"
    );
    assert!(
        left.iter().any(|id| kubelet.starts_with(id.as_str())),
        "kubelet's container kept"
    );
    assert!(
        left.iter().any(|id| unlabelled.starts_with(id.as_str())),
        "unlabelled container kept"
    );
    let _ = std::process::Command::new("docker")
        .args(["rm", "-f", &kubelet, &unlabelled])
        .output();
}

fn labelled_or_not(tag: &str) -> Vec<String> {
    let out = std::process::Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("label=test-marker={tag}")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn checking_a_hand_built_image_that_is_not_there_never_pulls() {
    let Some(docker) = docker_or_skip().await else {
        return;
    };
    let (sink, lines) = collecting();
    let request = Request::InspectImage {
        image: "non-root-image-never-built".into(),
        files: false,
        pull: false,
    };
    let o = docker
        .perform(&request, &scope("hand-check"), &sink)
        .await
        .expect("a missing image is a finding, not an engine error");
    assert_eq!(o.image_user, None);
    assert!(
        o.notes[0].contains("there is no image `non-root-image-never-built`"),
        "{:?}",
        o.notes
    );
    assert!(lines.lock().unwrap().is_empty(), "no pull was started");
}

#[tokio::test]
async fn a_session_dropped_before_close_removes_what_its_run_made() {
    if docker_or_skip().await.is_none() {
        return;
    }
    use nonroot_lab::session::{Session, Want, Wants};
    let wants = Wants {
        docker: Want::Required,
        userns: false,
        rootless: false,
        kube: Want::No,
        sweep_stale: false,
        namespace: false,
    };
    let session = Session::open(
        wants,
        &nonroot_lab::engine::kube::KubeOptions::default(),
        std::sync::Arc::new(|_| {}),
    )
    .await
    .unwrap();
    // A run takes its engines from the session before it makes anything.
    assert!(session.engines().docker.is_some());
    let run = format!("nonroot-lab.run={}", session.run_id);
    // Made as a step would (and as a build's intermediate container is: the packed label).
    let plain = std::process::Command::new("docker")
        .args(["create", "--label", "nonroot-lab=true", "--label", &run])
        .args([base_image().as_str(), "true"])
        .output()
        .unwrap();
    assert!(plain.status.success(), "{plain:?}");
    let packed = std::process::Command::new("docker")
        .args([
            "create",
            "--label",
            &format!("nonroot-lab={run};nonroot-lab.pid=1"),
        ])
        .args([base_image().as_str(), "true"])
        .output()
        .unwrap();
    assert!(packed.status.success(), "{packed:?}");
    let made: Vec<String> = [plain, packed]
        .iter()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .collect();
    // An error, a panic or an early return: the session goes without `close`.
    drop(session);
    let left = labelled_containers("label=nonroot-lab");
    for id in &made {
        assert!(
            !left.iter().any(|l| id.starts_with(l.as_str())),
            "container {id} outlived its session: {left:?}"
        );
    }
}
