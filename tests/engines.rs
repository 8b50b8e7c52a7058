//! Every kind of engine a learner has: the machine's rootful Docker, Docker with
//! userns-remap (`../shared/docker-userns`), rootless Docker and rootless Podman
//! (`../shared/rootless`). On each, `verify --only docker --controls` passes every step
//! it can run and rejects every control (a step or control that cannot run there is
//! skipped with the reason), `doctor` tells the kind from the engine itself, and the
//! auditor gives one image and one container the same findings everywhere.

mod common;
use common::*;

use std::collections::BTreeSet;
use std::process::Command;

/// The engines to run on as the learner's own (`DOCKER_HOST`), with their kinds; the
/// machine's rootful engine is `verify_cli`'s.
fn other_engines() -> Vec<(&'static str, String)> {
    let mut engines = Vec::new();
    match userns_host() {
        Some(h) => engines.push(("userns-docker", h)),
        None if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true but NONROOT_LAB_USERNS_HOST is not set: .ci/run starts ../shared/docker-userns")
        }
        None => eprintln!("skipped on userns-docker: NONROOT_LAB_USERNS_HOST is not set"),
    }
    engines.extend(rootless_engines());
    engines
}

fn verify_on(kind: &str, host: &str) {
    ensure_lab_images_on(host);
    let out = bin()
        .env("DOCKER_HOST", host)
        .args([
            "verify",
            "--only",
            "docker",
            "--controls",
            "--format",
            "json",
        ])
        .output()
        .expect("run nonroot-lab");
    let json = passed_report(&out, &format!("verify on {kind}"));
    assert_eq!(json["engines"][0]["kind"], kind, "{}", json["engines"]);
    assert_eq!(json["summary"]["controls"]["accepted"], 0);
    assert_eq!(json["summary"]["controls"]["errors"], 0);
    let steps = json["steps"].as_array().unwrap();
    let mut skipped = Vec::new();
    for s in steps {
        let name = format!(
            "{}/{}",
            s["lesson"].as_str().unwrap(),
            s["step"].as_str().unwrap()
        );
        match s["status"].as_str().unwrap() {
            "passed" => {}
            "skipped" => {
                // Never skipped for want of a try: each reason says nothing was checked.
                let reason = s["reason"].as_str().unwrap_or_default();
                assert!(reason.contains("nothing was checked"), "{name}: {reason}");
                skipped.push(name.clone());
            }
            other => panic!("on {kind}, {name} is {other}: {s}"),
        }
        let control = &s["control"];
        if !control.is_null() {
            let status = control["status"].as_str().unwrap();
            assert!(
                status == "rejected" || (status == "skipped" && !control["reason"].is_null()),
                "on {kind}, {name}'s control: {control}"
            );
        }
    }
    // The case the learner is in is the one proved: a remapped engine's root is refused
    // the host's shadow file, and says why.
    let step = |id: &str| {
        steps
            .iter()
            .find(|s| s["step"] == id)
            .unwrap_or_else(|| panic!("no {id}"))
    };
    let shadow = step("root-sees-host");
    assert_eq!(shadow["engine"], kind, "{shadow}");
    assert!(
        shadow["case"].as_str().unwrap().contains("maps root"),
        "{shadow}"
    );
    assert!(
        shadow["title"].as_str().unwrap().contains("refused"),
        "{shadow}"
    );
    // Lesson 06 runs its arbitrary uid inside the engine's range.
    let random = step("random-uid-writes");
    assert!(
        random["checks"].to_string().contains("owner 54321 group 0"),
        "{random}"
    );
    if kind == "rootless-podman" {
        let modes = step("cap-drop-root-and-modes");
        assert!(modes["case"].as_str().unwrap().contains("555"), "{modes}");
    }
    eprintln!("on {kind}: {} steps, skipped: {skipped:?}", steps.len());
    let run = json["run_id"].as_str().unwrap();
    assert_eq!(
        docker_on(
            host,
            &[
                "ps",
                "-aq",
                "--filter",
                &format!("label=nonroot-lab.run={run}")
            ]
        )
        .trim(),
        "",
        "nothing of the run is left on {kind}"
    );
}

/// A learner whose own engine is remapped or rootless (`DOCKER_HOST`): the same steps
/// pass, each in the case of that engine, and every control is rejected.
#[tokio::test]
async fn every_docker_step_passes_and_every_control_is_rejected_on_each_kind_of_engine() {
    if docker_or_skip().await.is_none() {
        return;
    }
    for (kind, host) in other_engines() {
        verify_on(kind, &host);
    }
}

/// `doctor` names the kind, the uid map, the port floor and the cgroups of each engine,
/// as the engine itself tells them.
#[tokio::test]
async fn doctor_tells_each_kind_of_engine_from_the_engine_itself() {
    if docker_or_skip().await.is_none() {
        return;
    }
    let mut engines = vec![("rootful-docker", "unix:///var/run/docker.sock".to_string())];
    engines.extend(other_engines());
    for (kind, host) in engines {
        ensure_lab_images_on(&host);
        let out = bin()
            .env("DOCKER_HOST", &host)
            .env_remove("NONROOT_LAB_ROOTLESS_HOST")
            .args(["doctor", "--format", "json"])
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        let json: serde_json::Value =
            serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}{stderr}"));
        let finding = |check: &str| -> serde_json::Value {
            json.as_array()
                .unwrap()
                .iter()
                .find(|f| f["check"] == check)
                .cloned()
                .unwrap_or_else(|| panic!("on {kind}, no `{check}`: {json}"))
        };
        assert_eq!(finding("engine kind")["value"], kind, "{json}");
        let uid = &finding("uid map")["value"]["uid"];
        let root_outside = uid[0]["outside"].as_u64().unwrap();
        let floor = finding("ip_unprivileged_port_start")["value"]
            .as_u64()
            .unwrap();
        let limits = finding("cgroups")["value"]["limits"].as_bool().unwrap();
        match kind {
            "rootful-docker" => {
                assert_eq!(root_outside, 0, "{uid}");
                assert_eq!(uid[0]["count"], 4294967295u64, "{uid}");
                assert!(limits);
                assert_eq!(floor, 0);
            }
            "userns-docker" => {
                assert!(root_outside >= 65536, "{uid}");
                assert!(limits);
            }
            "rootless-docker" | "rootless-podman" => {
                // Root is the engine's user, one id; the rest its subordinate range.
                assert_eq!(uid[0]["count"], 1, "{uid}");
                assert!(root_outside > 0 && root_outside < 65536, "{uid}");
                assert!(uid[1]["outside"].as_u64().unwrap() >= 65536, "{uid}");
                assert!(
                    !limits,
                    "no cgroups for a rootless engine on cgroup v1 here"
                );
                assert_eq!(floor, if kind == "rootless-podman" { 1024 } else { 0 });
            }
            other => panic!("{other}"),
        }
        let docker = finding("docker engine");
        let product = if kind.ends_with("podman") {
            "Podman"
        } else {
            "Docker"
        };
        assert!(
            docker["detail"].as_str().unwrap().starts_with(product),
            "{docker}"
        );
    }
}

/// One image with a setuid-root file, and one container of it with a root process and a
/// non-root one: `audit image` and `audit running` find the same on every engine,
/// judging owners and uids as the image and the container have them.
#[tokio::test]
async fn the_auditor_finds_the_same_on_every_kind_of_engine() {
    if docker_or_skip().await.is_none() {
        return;
    }
    let tag = format!("nrl-exact-{}:1", std::process::id());
    let name = format!("nrl-exact-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!(
            "FROM {}\nRUN cp /usr/bin/id /usr/local/bin/id-suid && chmod 4755 /usr/local/bin/id-suid\n",
            base_image()
        ),
    )
    .unwrap();
    let built = Command::new("docker")
        .args(["build", "-q", "-t", &tag])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(built.status.success(), "{:?}", text(&built));
    let mut engines = vec![("rootful-docker", "unix:///var/run/docker.sock".to_string())];
    engines.extend(other_engines());
    let _gone = Removed {
        hosts: engines.iter().map(|(_, h)| h.clone()).collect(),
        image: tag.clone(),
        container: name.clone(),
    };
    let pid = regex::Regex::new(r"pid \d+").unwrap();
    let mut images: Vec<(String, BTreeSet<String>)> = Vec::new();
    let mut running: Vec<(String, BTreeSet<String>)> = Vec::new();
    for (kind, host) in &engines {
        if *kind != "rootful-docker" {
            let loaded = Command::new("bash")
                .arg("-c")
                .arg(format!("docker save {tag} | docker -H {host} load -q"))
                .output()
                .unwrap();
            assert!(loaded.status.success(), "{:?}", text(&loaded));
        }
        let audit = |args: &[&str]| -> serde_json::Value {
            let out = bin()
                .env("DOCKER_HOST", host)
                .env("KUBECONFIG", "/dev/null")
                .args(["audit"])
                .args(args)
                .args(["--format", "json"])
                .output()
                .unwrap();
            serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("on {kind}: {e}: {:?}", text(&out)))
        };
        let found = audit(&["image", &tag]);
        let findings: BTreeSet<String> = found["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| format!("{} {}", f["rule"], f["message"]))
            .collect();
        images.push((kind.to_string(), findings));
        // Root's shell, with a sleep of its own and one as uid 4242.
        docker_on(
            host,
            &[
                "run",
                "-d",
                "--name",
                &name,
                &tag,
                "sh",
                "-c",
                "sleep 300 & setpriv --reuid 4242 --regid 4242 --clear-groups sleep 300 & wait",
            ],
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
        let found = audit(&["running"]);
        // Podman names the image `localhost/...`; the pids are each engine's own.
        let ours = format!("container {name} (");
        let findings: BTreeSet<String> = found["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["target"].as_str().is_some_and(|t| t.starts_with(&ours)))
            .map(|f| {
                let message = f["message"].as_str().unwrap_or_default();
                format!("{} {}", f["rule"], pid.replace_all(message, "pid N"))
            })
            .collect();
        running.push((kind.to_string(), findings));
        docker_on(host, &["rm", "-f", &name]);
    }
    let (first, want) = &images[0];
    assert!(
        want.iter().any(|f| f.contains("/usr/local/bin/id-suid")),
        "{want:?}"
    );
    assert_eq!(
        want.len(),
        10,
        "the base's 8, id-suid and the root user: {want:?}"
    );
    for (kind, got) in &images {
        assert_eq!(got, want, "audit image on {kind} against {first}");
    }
    let (first, want) = &running[0];
    assert_eq!(want.len(), 1, "{want:?}");
    let only = want.iter().next().unwrap();
    assert!(
        only.contains("NRR001") && only.contains("2 of 3 processes"),
        "{only}"
    );
    for (kind, got) in &running {
        assert_eq!(got, want, "audit running on {kind} against {first}");
    }
}

/// What the auditor test made goes from every engine, whatever the assertions said.
struct Removed {
    hosts: Vec<String>,
    image: String,
    container: String,
}

impl Drop for Removed {
    fn drop(&mut self) {
        for host in &self.hosts {
            let _ = Command::new("docker")
                .args(["-H", host, "rm", "-f", &self.container])
                .output();
            let _ = Command::new("docker")
                .args(["-H", host, "rmi", "-f", &self.image])
                .output();
        }
    }
}

/// A Podman user with no Docker engine: nothing answers at the default socket, and the
/// lab finds Podman's socket where a Podman user has it.
#[tokio::test]
async fn with_no_docker_socket_the_lab_finds_podmans() {
    if docker_or_skip().await.is_none() {
        return;
    }
    let Some((_, podman)) = rootless_engines()
        .into_iter()
        .find(|(k, _)| *k == "rootless-podman")
    else {
        return;
    };
    // A mount namespace of its own hides /run (and with it /var/run/docker.sock).
    let probe = Command::new("unshare")
        .args(["-m", "true"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !probe {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI=true but `unshare -m` does not work here"
        );
        eprintln!(
            "skipped: `unshare -m` is not allowed here, so the default socket cannot be hidden"
        );
        return;
    }
    let run = tempfile::Builder::new()
        .prefix("nrl-xdg-")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::create_dir(run.path().join("podman")).unwrap();
    std::os::unix::fs::symlink(
        podman.trim_start_matches("unix://"),
        run.path().join("podman/podman.sock"),
    )
    .unwrap();
    let out = Command::new("unshare")
        .args([
            "-m",
            "sh",
            "-c",
            "mount -t tmpfs none /run && exec \"$0\" doctor --format json",
        ])
        .arg(env!("CARGO_BIN_EXE_nonroot-lab"))
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env("DOCKER_CONFIG", run.path())
        .env("XDG_RUNTIME_DIR", run.path())
        .env("KUBECONFIG", "/dev/null")
        .env_remove("NONROOT_LAB_ROOTLESS_HOST")
        .env_remove("NONROOT_LAB_USERNS_HOST")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    let json: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}{stderr}"));
    let engine = &json[0];
    assert_eq!(engine["check"], "docker engine", "{json}");
    let detail = engine["detail"].as_str().unwrap();
    assert!(detail.starts_with("Podman"), "{detail}");
    assert!(
        detail.contains("found by Podman's socket in $XDG_RUNTIME_DIR, since nothing answers at unix:///var/run/docker.sock"),
        "{detail}"
    );
    assert_eq!(json[1]["value"], "rootless-podman", "{json}");
}
