//! The real binary: `verify` on every Docker step, its reports, and what it does when
//! interrupted, killed, left without an engine, or stuck on a hanging step.

mod common;
use common::*;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Docker steps `verify` runs: every one but the exercises, which are the learner's
/// (`tests/exercises.rs` proves those).
fn docker_steps() -> Vec<nonroot_lab::lesson::model::Step> {
    let files = nonroot_lab::lesson::LabFiles::embedded();
    files
        .lessons()
        .unwrap()
        .into_iter()
        .flat_map(|l| l.steps)
        .filter(|s| s.platform == nonroot_lab::lesson::Platform::Docker && s.exercise.is_none())
        .collect()
}

/// The engine's dangling images: what a failed or multi-stage build leaves untagged.
fn dangling_images() -> Vec<String> {
    let out = Command::new("docker")
        .args(["images", "-q", "-f", "dangling=true"])
        .output()
        .expect("docker images");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// What the learner's own builds made, removed when dropped, so a failing assertion
/// leaves no tagged image behind to serve a later build (or benchmark) from cache:
/// their tags, and the layers of failed and multi-stage builds.
struct HandBuilds {
    tags: Vec<String>,
    dangling_before: Vec<String>,
}

impl Drop for HandBuilds {
    fn drop(&mut self) {
        for tag in &self.tags {
            let _ = Command::new("docker").args(["rmi", "-f", tag]).output();
        }
        for id in dangling_images()
            .into_iter()
            .filter(|i| !self.dangling_before.contains(i))
        {
            let _ = Command::new("docker").args(["rmi", &id]).output();
        }
    }
}

/// Builds every Dockerfile the lessons build, by hand as a learner would, so the engine
/// holds their layers in its cache.
fn hand_build_every_lesson_dockerfile() -> HandBuilds {
    let mut made = HandBuilds {
        tags: Vec::new(),
        dangling_before: dangling_images(),
    };
    let files = nonroot_lab::lesson::LabFiles::embedded();
    for lesson in files.lessons().unwrap() {
        for step in &lesson.steps {
            let nonroot_lab::lesson::model::Action::Build(b) = &step.action else {
                continue;
            };
            let base = images()
                .resolve(b.base.as_deref().unwrap_or("ubuntu"))
                .unwrap()
                .to_string();
            let tag = format!("my-try-{}:{}", b.tag, std::process::id());
            made.tags.push(tag.clone());
            // Two of them fail on purpose (the seeds' mistakes); their cache still counts.
            // force-rm: a failed step's container goes too, as a learner's would not.
            let _ = Command::new("docker")
                .args(["build", "-q", "--force-rm", "-f"])
                .arg(repo().join("dockerfiles").join(&b.dockerfile))
                .args(["--build-arg", &format!("BASE={base}"), "-t", &tag])
                .arg(repo().join("dockerfiles"))
                .output()
                .expect("docker build");
        }
    }
    made
}

/// A verdict never depends on engine state: after the learner's own builds of every
/// lesson Dockerfile, `verify --controls` passes every Docker step and every control is
/// rejected; right after, a second `verify` on the same engine passes again.
#[tokio::test]
async fn every_docker_step_passes_and_every_control_is_rejected_after_hand_builds_and_twice() {
    if docker_or_skip().await.is_none() {
        return;
    }
    let userns = userns_configured();
    let rootless = rootless_configured();
    let hand_builds = hand_build_every_lesson_dockerfile();
    let out = run(&[
        "verify",
        "--only",
        "docker",
        "--jobs",
        "2",
        "--controls",
        "--format",
        "json",
    ]);
    let (stdout, stderr) = text(&out);
    let json = passed_report(&out, "verify --controls");
    let steps = docker_steps();
    let reports = json["steps"].as_array().unwrap().clone();
    assert_eq!(reports.len(), steps.len(), "{stdout}");
    for step in &steps {
        let r = reports
            .iter()
            .find(|r| r["step"] == step.id.as_str())
            .unwrap_or_else(|| panic!("no report of {}", step.id));
        use nonroot_lab::lesson::model::EngineChoice;
        let missing = |choice: EngineChoice| match choice {
            EngineChoice::Userns if !userns => Some("NONROOT_LAB_USERNS_HOST"),
            EngineChoice::Rootless if !rootless => Some("NONROOT_LAB_ROOTLESS_HOST"),
            _ => None,
        };
        if let Some(var) = missing(step.engine) {
            assert_eq!(r["status"], "skipped", "{r}");
            assert!(r["reason"].as_str().unwrap().contains(var), "{r}");
            continue;
        }
        // A step about a base with a given uid, on a base without it (the offline one).
        if step.needs_uid.is_some() && r["status"] == "skipped" {
            assert!(
                r["reason"]
                    .as_str()
                    .unwrap()
                    .contains("has no user with uid"),
                "{r}"
            );
            continue;
        }
        // The machine's engine is rootful: every step runs, in the case written first.
        assert_eq!(
            r["engine"],
            match step.engine {
                EngineChoice::Default => "rootful-docker",
                EngineChoice::Userns => "userns-docker",
                EngineChoice::Rootless => r["engine"].as_str().unwrap_or("?"),
            },
            "{r}"
        );
        assert_eq!(r["status"], "passed", "{r}");
        if step.observe {
            assert_eq!(r["observe"], true, "{r}");
            assert!(r["control"].is_null(), "{r}");
            continue;
        }
        let control = &r["control"];
        if missing(step.control_engine()).is_some() {
            assert_eq!(control["status"], "skipped", "{r}");
            continue;
        }
        assert_eq!(control["status"], "rejected", "{}: {control}", step.id);
        assert!(
            control["checks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["passed"] == false),
            "a rejected control has a failed expectation: {control}"
        );
    }
    assert_eq!(json["summary"]["controls"]["accepted"], 0, "{stdout}");
    assert!(
        stderr.contains("; controls: ") && stderr.contains(" 0 accepted"),
        "{stderr}"
    );

    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("report.xml");
    let again = run(&[
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
    let (stdout, stderr) = text(&again);
    let xml = std::fs::read_to_string(&junit).unwrap_or_default();
    drop(hand_builds);
    assert_eq!(again.status.code(), Some(0), "{stdout}{stderr}\n{xml}");
    assert_eq!(xml.matches("<testcase").count(), steps.len(), "{xml}");
    // The same steps as the first run skipped, for the same reasons.
    let skipped = reports.iter().filter(|r| r["status"] == "skipped").count();
    assert_eq!(xml.matches("<skipped").count(), skipped, "{xml}");
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
    assert_eq!(
        out.status.code(),
        Some(0),
        "not passed:\n{}\n{stderr}\n{stdout}",
        not_passed(&stdout)
    );
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(json["summary"]["passed"], 3, "{stdout}");
    assert_eq!(
        json["summary"]["observed"], 1,
        "the engine's own floor is shown, not proven: {stdout}"
    );
    let first = &json["steps"][0];
    assert_eq!(first["step"], "port-80-at-engine-floor");
    assert_eq!(first["status"], "passed");
    assert_eq!(first["observe"], true);
    let check = &first["checks"][0];
    assert_eq!(check["check"], "sysctl");
    assert!(check["actual"]
        .as_str()
        .unwrap()
        .starts_with("net.ipv4.ip_unprivileged_port_start = "));
    assert!(
        check["note"].as_str().is_some(),
        "the value is explained: {check}"
    );
    let verdict = &first["checks"][1];
    assert_eq!(verdict["check"], "port_floor");
    assert_eq!(verdict["passed"], true, "{verdict}");
    assert!(
        verdict["note"]
            .as_str()
            .unwrap()
            .contains("The floor here is"),
        "{verdict}"
    );
    assert!(
        json["steps"][1]["control"].is_null(),
        "no control without --controls"
    );
}

/// A control its step accepts means the step's checks cannot fail: `verify --controls`
/// exits 1 and names the step and every expectation that held on the control.
#[tokio::test]
async fn an_accepted_control_fails_the_run_and_names_the_expectation() {
    if docker_or_skip().await.is_none() {
        return;
    }
    let lab = repo().join("tests/fixtures/weak-control-lab");
    let out = run(&["--lessons", lab.to_str().unwrap(), "verify", "--controls"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("PASS  01-weak/gid-zero"), "{stdout}");
    assert!(
        stdout.contains("FAIL  01-weak/gid-zero  control: as uid 4242"),
        "{stdout}"
    );
    assert!(stdout.contains("[could not fail] id"), "{stdout}");
    assert!(
        stdout.contains("CTRL  01-weak/uid-zero  control: as uid 4242"),
        "{stdout}"
    );
    assert!(
        stdout.contains("control rejected as it should: id expected uid=0"),
        "{stdout}"
    );
    assert!(stdout.contains("1 rejected, 1 accepted"), "{stdout}");
    let json = run(&[
        "--lessons",
        lab.to_str().unwrap(),
        "verify",
        "--controls",
        "--format",
        "json",
    ]);
    let (stdout, _) = text(&json);
    assert_eq!(json.status.code(), Some(1), "{stdout}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["steps"][0]["control"]["status"], "accepted", "{stdout}");
    assert_eq!(v["steps"][0]["control"]["why"], "as uid 4242", "{stdout}");
    assert_eq!(
        v["steps"][0]["control"]["checks"][0]["passed"], true,
        "{stdout}"
    );
    assert_eq!(v["steps"][1]["control"]["status"], "rejected", "{stdout}");
    assert_eq!(v["summary"]["controls"]["accepted"], 1, "{stdout}");
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
        "engine kind",
        "uid map",
        "cgroups",
        "rootless engine",
        "image ubuntu",
        "ip_unprivileged_port_start",
        "kubernetes context",
    ] {
        assert!(checks.contains(&want), "{want} missing: {checks:?}");
    }
    let engine = &json[0]["detail"];
    assert!(engine.as_str().unwrap().contains("API"), "{engine}");
    // The second engine: ready when configured, else how to start one.
    let remapped = json
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "remapped engine")
        .expect("the remapped engine is reported");
    if userns_configured() {
        assert_eq!(remapped["level"], "ok", "{remapped}");
        assert!(
            remapped["detail"]
                .as_str()
                .unwrap()
                .contains("with user-namespace remapping"),
            "{remapped}"
        );
    } else {
        assert_eq!(remapped["level"], "info", "{remapped}");
        assert!(
            remapped["fix"].as_str().unwrap().contains("--userns-remap"),
            "{remapped}"
        );
    }
}

/// A variable that names an engine which does not answer is one configuration error
/// (exit 2), never a silent skip of the remapped steps.
#[tokio::test]
async fn a_remapped_engine_that_does_not_answer_is_a_configuration_error() {
    if docker_or_skip().await.is_none() {
        return;
    }
    let out = bin()
        .env("NONROOT_LAB_USERNS_HOST", "unix:///nonexistent/docker.sock")
        .args(["verify", "--only", "docker", "--lesson", "07"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("NONROOT_LAB_USERNS_HOST"), "{stderr}");
    assert!(!stdout.contains("PASS"), "nothing ran: {stdout}");
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
    assert!(stdout.contains("3 passed, 0 failed, 1 skipped"), "{stdout}");
}

/// Seed 003's `useradd -u 1000` collides only with a base that has a uid 1000, as
/// ubuntu:24.04 does: given such a base, the step runs and its control is rejected; the
/// offline base, which has none, gets the same lines built as the seed says.
#[tokio::test]
async fn the_seeds_taken_uid_is_shown_where_the_base_has_one() {
    if docker_or_skip().await.is_none() {
        return;
    }
    let tag = format!("nrl-ubuntu-like-{}:1", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!("FROM {}\nRUN useradd -u 1000 -U -m ubuntu\n", base_image()),
    )
    .unwrap();
    let built = Command::new("docker")
        .args(["build", "-q", "-t", &tag])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(built.status.success(), "{:?}", text(&built));
    struct Gone(String);
    impl Drop for Gone {
        fn drop(&mut self) {
            let _ = Command::new("docker").args(["rmi", "-f", &self.0]).output();
        }
    }
    let _gone = Gone(tag.clone());
    let map = dir.path().join("map.yaml");
    std::fs::write(
        &map,
        format!(
            "ubuntu: {tag}\ndebian: {}\nnginx: {}\n",
            images().resolve("debian").unwrap(),
            images().resolve("nginx").unwrap()
        ),
    )
    .unwrap();
    let out = bin()
        .env("NONROOT_LAB_IMAGES", &map)
        .args([
            "verify",
            "--lesson",
            "05",
            "--only",
            "docker",
            "--controls",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{stderr}",
        not_passed(&stdout)
    );
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let step = |id: &str| {
        json["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["step"] == id)
            .cloned()
            .unwrap()
    };
    let taken = step("seed-uid-1000-taken");
    assert_eq!(taken["status"], "passed", "{taken}");
    assert_eq!(taken["control"]["status"], "rejected", "{taken}");
    assert_eq!(step("seed-runs-as-subway")["status"], "passed");
}
