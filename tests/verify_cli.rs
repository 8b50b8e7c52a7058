//! The real binary: `verify` on every Docker step, its reports, and what it does when
//! interrupted, killed, left without an engine, or stuck on a hanging step.

mod common;
use common::*;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn docker_steps() -> usize {
    let files = nonroot_lab::lesson::LabFiles::embedded();
    files
        .lessons()
        .unwrap()
        .iter()
        .flat_map(|l| &l.steps)
        .filter(|s| s.platform == nonroot_lab::lesson::Platform::Docker)
        .count()
}

#[tokio::test]
async fn verify_passes_every_docker_step_and_reports_json_and_junit() {
    if docker_or_skip().await.is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("report.xml");
    let out = run(&[
        "verify",
        "--only",
        "docker",
        "--jobs",
        "2",
        "--format",
        "junit",
        "--output",
        junit.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    let xml = std::fs::read_to_string(&junit).unwrap_or_default();
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}\n{xml}");
    assert_eq!(xml.matches("<testcase").count(), docker_steps(), "{xml}");
    assert_eq!(xml.matches("<skipped").count(), 0, "{xml}");
    assert!(
        stderr.contains(&format!("{} passed, 0 failed", docker_steps())),
        "{stderr}"
    );
    assert!(
        labelled_containers("label=nonroot-lab.lesson=04-images").is_empty(),
        "nothing left behind"
    );
}

#[tokio::test]
async fn json_report_of_one_lesson_has_checks_with_expected_and_actual() {
    if docker_or_skip().await.is_none() {
        return;
    }
    let out = run(&[
        "verify", "--lesson", "02", "--only", "docker", "--format", "json",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(json["summary"]["passed"], 4, "{stdout}");
    let first = &json["steps"][0];
    assert_eq!(first["step"], "read-port-floor");
    assert_eq!(first["status"], "passed");
    let check = &first["checks"][1];
    assert_eq!(check["check"], "sysctl");
    assert!(check["actual"]
        .as_str()
        .unwrap()
        .starts_with("net.ipv4.ip_unprivileged_port_start = "));
    assert!(
        check["note"].as_str().is_some(),
        "the value is explained: {check}"
    );
}

#[tokio::test]
async fn a_hanging_step_times_out_is_removed_and_the_next_step_runs() {
    if docker_or_skip().await.is_none() {
        return;
    }
    let lab = repo().join("tests/fixtures/timeout-lab");
    let started = Instant::now();
    let out = run(&["--lessons", lab.to_str().unwrap(), "verify"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the 600 s sleep was cut short"
    );
    assert!(stdout.contains("ERROR 01-hangs/hangs"), "{stdout}");
    assert!(stdout.contains("did not finish within 3 s"), "{stdout}");
    assert!(stdout.contains("PASS  01-hangs/after"), "{stdout}");
    assert!(
        labelled_containers("label=nonroot-lab.lesson=01-hangs").is_empty(),
        "the hung container is gone"
    );
}

fn spawn_slow_lab() -> Child {
    let lab = repo().join("tests/fixtures/slow-lab");
    bin()
        .args(["--lessons", lab.to_str().unwrap(), "verify"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the child's step container exists; returns its filter.
fn wait_for_container(child: &Child) -> String {
    let filter = format!("label=nonroot-lab.pid={}", child.id());
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if !labelled_containers(&filter).is_empty() {
            return filter;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the step's container never appeared");
}

#[tokio::test]
async fn ctrl_c_mid_step_removes_everything_and_exits_130() {
    if docker_or_skip().await.is_none() {
        return;
    }
    let child = spawn_slow_lab();
    let filter = wait_for_container(&child);
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(130), "{stdout}{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(
        labelled_containers(&filter).is_empty(),
        "the step's container was removed"
    );
}

#[tokio::test]
async fn sigterm_mid_step_cleans_up_too() {
    if docker_or_skip().await.is_none() {
        return;
    }
    let child = spawn_slow_lab();
    let filter = wait_for_container(&child);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out).1);
    assert!(labelled_containers(&filter).is_empty());
}

#[tokio::test]
async fn a_killed_runs_leftovers_go_at_the_next_start() {
    if docker_or_skip().await.is_none() {
        return;
    }
    let mut child = spawn_slow_lab();
    let filter = wait_for_container(&child);
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    let _ = child.wait();
    assert!(
        !labelled_containers(&filter).is_empty(),
        "SIGKILL leaves the container behind"
    );
    // The next start of the lab (any verify) sweeps it.
    let out = run(&["verify", "--lesson", "03", "--only", "docker"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stderr.contains("leftovers of an earlier, killed run"),
        "{stderr}"
    );
    assert!(labelled_containers(&filter).is_empty(), "leftover removed");
}

#[test]
fn no_engine_is_one_line_and_exit_2() {
    let out = bin()
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .args(["verify", "--only", "docker"])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no Docker engine answers at unix:///nonexistent/docker.sock"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn doctor_without_an_engine_names_the_fix() {
    let out = bin()
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .args(["doctor"])
        .output()
        .unwrap();
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL  docker engine"), "{stdout}");
    assert!(
        stdout.contains("fix: sudo systemctl start docker"),
        "{stdout}"
    );
}

#[tokio::test]
async fn doctor_reports_engine_images_and_port_floor_as_json() {
    if docker_or_skip().await.is_none() {
        return;
    }
    let out = run(&["doctor", "--format", "json"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let checks: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    for want in [
        "docker engine",
        "rootless engine",
        "user-namespace remapping",
        "image ubuntu",
        "ip_unprivileged_port_start",
        "kubernetes context",
    ] {
        assert!(checks.contains(&want), "{want} missing: {checks:?}");
    }
    let engine = &json[0]["detail"];
    assert!(engine.as_str().unwrap().contains("API"), "{engine}");
}

#[tokio::test]
async fn an_image_map_naming_a_missing_image_is_one_configuration_error() {
    if docker_or_skip().await.is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("map.yaml");
    std::fs::write(&map, "ubuntu: nonroot-lab-test/not-here:1\n").unwrap();
    let out = bin()
        .args([
            "--images",
            map.to_str().unwrap(),
            "verify",
            "--lesson",
            "03",
            "--only",
            "docker",
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains(
            "image `nonroot-lab-test/not-here:1` is not on this engine and could not be pulled"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("scripts/offline-images"), "{stderr}");
    assert!(!stdout.contains("RUN"), "no step ran: {stdout}");
}

/// A TCP relay to the local Docker socket that the test can cut, as if the engine
/// went away in the middle of a step.
async fn relay_to_docker_socket() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                break;
            };
            conns.spawn(async move {
                if let Ok(mut unix) = tokio::net::UnixStream::connect("/var/run/docker.sock").await
                {
                    let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
                }
            });
        }
    });
    (port, handle)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_engine_going_away_mid_step_is_a_clear_error_not_a_panic() {
    if docker_or_skip().await.is_none() {
        return;
    }
    if !std::path::Path::new("/var/run/docker.sock").exists() {
        eprintln!("skipped: the engine is not on the local socket, so it cannot be cut");
        return;
    }
    let (port, relay) = relay_to_docker_socket().await;
    let lab = repo().join("tests/fixtures/slow-lab");
    let child = bin()
        .env("DOCKER_HOST", format!("tcp://127.0.0.1:{port}"))
        .args(["--lessons", lab.to_str().unwrap(), "verify"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let filter = tokio::task::block_in_place(|| wait_for_container(&child));
    relay.abort(); // every connection to the engine drops now
    let out = tokio::task::block_in_place(|| child.wait_with_output()).unwrap();
    let (stdout, stderr) = text(&out);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("ERROR 01-slow/sleeps"), "{stdout}");
    assert!(stdout.contains("the engine went away"), "{stdout}");
    // The engine is back (it never left); the killed connection left the container.
    let ids = labelled_containers(&filter);
    let _ = Command::new("docker")
        .arg("rm")
        .arg("-f")
        .args(&ids)
        .output();
}

fn containers_running(marker: &str) -> usize {
    let out = Command::new("docker")
        .args(["ps", "-a", "--no-trunc", "--format", "{{.Command}}"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(marker))
        .count()
}

#[tokio::test]
async fn ctrl_c_mid_build_stops_the_build_and_leaves_nothing() {
    if docker_or_skip().await.is_none() {
        return;
    }
    let lab = repo().join("tests/fixtures/slow-build-lab");
    let child = bin()
        .args(["--lessons", lab.to_str().unwrap(), "verify"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The builder's own container for `RUN sleep 37.25` (the builder does not label it).
    let deadline = Instant::now() + Duration::from_secs(60);
    while containers_running("sleep 37.25") == 0 {
        assert!(
            Instant::now() < deadline,
            "the build never reached its RUN step"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(130), "{stdout}{stderr}");
    // Dropping the build request makes the engine cancel it and remove its container.
    let deadline = Instant::now() + Duration::from_secs(20);
    while containers_running("sleep 37.25") > 0 {
        assert!(
            Instant::now() < deadline,
            "the build's container outlived the run"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let images = Command::new("docker")
        .args(["images", "-q", "nonroot-lab/01-slow-build-slow"])
        .output()
        .unwrap();
    assert!(
        images.stdout.is_empty(),
        "no image of the interrupted build"
    );
}

#[tokio::test]
async fn a_closed_pipe_does_not_stop_the_run_or_its_cleanup() {
    if docker_or_skip().await.is_none() {
        return;
    }
    let mut child = bin()
        .args(["verify", "--lesson", "01", "--only", "docker", "--verbose"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    use std::io::Read;
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take()); // like `| head -c 16`
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let (_, stderr) = text(&out);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(labelled_containers(&format!("label=nonroot-lab.pid={pid}")).is_empty());
}

#[tokio::test]
async fn without_a_cluster_kubernetes_steps_are_skipped_with_the_reason_never_passed() {
    if docker_or_skip().await.is_none() {
        return;
    }
    let out = bin()
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .args(["verify", "--lesson", "01"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("SKIP  01-why-non-root/pod-runs-as-4242"),
        "{stdout}"
    );
    assert!(
        stdout.contains("skipped: no Kubernetes cluster is configured"),
        "{stdout}"
    );
    assert!(stdout.contains("2 passed, 0 failed, 1 skipped"), "{stdout}");
}
