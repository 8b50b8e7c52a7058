//! Kubernetes, on a real cluster (../shared/k8s-local/up.sh in CI): every Kubernetes
//! step through `verify`, the failures a learner meets, instructor namespaces, cleanup,
//! and the Docker side leaving the kubelet's containers alone. Configuration and
//! permissions are in `kube_access.rs`.

mod common;
use common::kube::*;
use common::*;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn kube_steps() -> usize {
    let files = nonroot_lab::lesson::LabFiles::embedded();
    files
        .lessons()
        .unwrap()
        .iter()
        .map(|l| {
            l.steps
                .iter()
                .filter(|s| {
                    nonroot_lab::runner::selected(
                        Some(nonroot_lab::lesson::Platform::Kubernetes),
                        l,
                        s,
                    )
                })
                .count()
        })
        .sum()
}

#[tokio::test]
async fn verify_passes_every_kubernetes_step() {
    if cluster_or_skip().await.is_none() {
        return;
    }
    let out = run(&[
        "--namespace",
        "nonroot-lab-verify",
        "verify",
        "--only",
        "kubernetes",
        "--controls",
        "--jobs",
        "2",
        "--format",
        "json",
    ]);
    let (stdout, _) = text(&out);
    let json = passed_report(&out, "verify --only kubernetes --controls");
    // Every Kubernetes step that proves a claim has a control, and the step's checks
    // reject it on the real cluster; the observed step (the runtime's port floor) has none.
    let mut controls = 0;
    for r in json["steps"].as_array().unwrap() {
        if r["platform"] != "kubernetes" || r["status"] != "passed" {
            continue;
        }
        if r["observe"] == true {
            assert!(r["control"].is_null(), "{r}");
            continue;
        }
        assert_eq!(r["control"]["status"], "rejected", "{r}");
        controls += 1;
    }
    let expected = nonroot_lab::lesson::LabFiles::embedded()
        .lessons()
        .unwrap()
        .iter()
        .flat_map(|l| &l.steps)
        .filter(|s| {
            s.platform == nonroot_lab::lesson::Platform::Kubernetes
                && s.control.is_some()
                && s.min_server.is_none()
        })
        .count();
    assert_eq!(controls, expected, "{stdout}");
    assert_eq!(json["summary"]["controls"]["accepted"], 0, "{stdout}");
    // The Pod Security Admission step needs 1.23+: on the local 1.20 it is skipped, and
    // says why, never passed.
    let psa = json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "psa-restricted-refuses-root")
        .unwrap();
    assert_eq!(psa["status"], "skipped", "{psa}");
    assert!(
        psa["reason"]
            .as_str()
            .unwrap()
            .contains("needs Kubernetes 1.23 or newer; this server is 1.20"),
        "{psa}"
    );
    // Besides it, only a build about a base with a given uid may be skipped, on a base
    // without that uid (the offline Debian has no uid 1000), saying so.
    let skipped: Vec<&serde_json::Value> = json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "skipped" && s["step"] != "psa-restricted-refuses-root")
        .collect();
    for s in &skipped {
        assert!(
            s["reason"]
                .as_str()
                .unwrap()
                .contains("has no user with uid"),
            "{s}"
        );
    }
    assert_eq!(
        json["summary"]["skipped"].as_u64().unwrap() as usize,
        1 + skipped.len(),
        "{stdout}"
    );
    assert_eq!(json["summary"]["observed"], 1, "{stdout}");
    assert_eq!(
        json["summary"]["passed"].as_u64().unwrap() as usize,
        kube_steps() - 2 - skipped.len(),
        "{stdout}"
    );
    let refused = json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "named-user-refused")
        .unwrap();
    let actual = refused["checks"][0]["actual"].as_str().unwrap();
    assert!(
        actual.contains("container has runAsNonRoot and image has non-numeric user"),
        "{actual}"
    );
    let pod1 = json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "pod-runs-as-4242")
        .unwrap();
    assert_eq!(
        pod1["checks"][0]["actual"],
        "uid=4242 gid=3000 groups=3000,2000"
    );
    // Nothing of the run is left in the namespace.
    let pods = Command::new("kubectl")
        .args([
            "get",
            "pods",
            "-n",
            "nonroot-lab-verify",
            "-l",
            "nonroot-lab",
            "-o",
            "name",
        ])
        .output()
        .unwrap();
    assert!(
        pods.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&pods.stdout)
    );
}

#[tokio::test]
async fn an_image_the_node_lacks_is_surfaced_with_the_fix() {
    if cluster_or_skip().await.is_none() {
        return;
    }
    let out = run_bad_lab("nonroot-lab-badimage", "01");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("FAIL  01-kube-bad/missing-image"),
        "{stdout}"
    );
    assert!(stdout.contains("ErrImageNeverPull"), "{stdout}");
    assert!(
        stdout.contains("kind load docker-image"),
        "the fix is named: {stdout}"
    );
}

#[tokio::test]
async fn ctrl_c_while_waiting_for_a_pod_deletes_it() {
    if cluster_or_skip().await.is_none() {
        return;
    }
    let child = spawn_never_scheduled("nonroot-lab-pending", Stdio::piped());
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(130), "{stdout}{stderr}");
    wait_until_no_pods("nonroot-lab-pending");
}

#[tokio::test]
async fn two_attendees_run_side_by_side_in_their_own_namespaces() {
    if cluster_or_skip().await.is_none() {
        return;
    }
    let spawn = |who: &str| {
        bin()
            .args([
                "--attendee",
                who,
                "verify",
                "--only",
                "kubernetes",
                "--lesson",
                "01",
                "--lesson",
                "03",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let expected: usize = nonroot_lab::lesson::LabFiles::embedded()
        .lessons()
        .unwrap()
        .iter()
        .filter(|l| l.id.starts_with("01-") || l.id.starts_with("03-"))
        .flat_map(|l| &l.steps)
        .filter(|s| s.platform == nonroot_lab::lesson::Platform::Kubernetes)
        .count();
    let (a, b) = (spawn("ada"), spawn("bob"));
    for (who, child) in [("ada", a), ("bob", b)] {
        let out = child.wait_with_output().unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{who}: {stdout}{stderr}");
        assert!(
            stdout.contains(&format!("{expected} passed, 0 failed")),
            "{who}: {stdout}"
        );
    }
    for ns in ["nonroot-lab-ada", "nonroot-lab-bob"] {
        let out = Command::new("kubectl")
            .args(["get", "namespace", ns, "-o", "name"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{ns} was created");
    }
}

#[tokio::test]
async fn docker_cleanup_leaves_the_kubelets_containers_alone() {
    let Some(kube) = cluster_or_skip().await else {
        return;
    };
    let Some(docker) = docker_or_skip().await else {
        return;
    };
    use nonroot_lab::engine::{Engine, OutputSink, Request, Scope};
    let run_id = format!("kubelet{}", std::process::id());
    let scope = Scope {
        run_id: run_id.clone(),
        lesson: "tests".into(),
        step: "kubelet-owned".into(),
    };
    let object = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("kubelet-owned-{}", std::process::id())},
        "spec": {"dnsPolicy": "Default", "containers": [{
            "name": "main", "image": base_image(), "imagePullPolicy": "IfNotPresent", "command": ["sleep", "3600"]
        }]}
    });
    let quiet: OutputSink = std::sync::Arc::new(|_, _| {});
    let request = Request::Apply {
        object,
        exec: vec!["true".into()],
        port: None,
        path: "/".into(),
        ready_timeout: 90,
        namespace_labels: Default::default(),
    };
    let outcome = kube
        .perform(&request, &scope, &quiet)
        .await
        .expect("pod runs");
    assert_eq!(outcome.exit_code, Some(0));
    let filter = format!("label=nonroot-lab.run={run_id}");
    let before = labelled_containers(&filter);
    assert!(
        !before.is_empty(),
        "the dockershim copied the pod's labels onto its containers"
    );
    let removed = docker
        .remove_labelled_containers(&[format!("nonroot-lab.run={run_id}")], |_| false)
        .await
        .unwrap();
    assert!(removed.is_empty(), "{removed:?}");
    assert_eq!(
        labelled_containers(&filter).len(),
        before.len(),
        "the kubelet's containers are still there"
    );
    kube.end_run(&run_id).await.unwrap();
}

#[tokio::test]
async fn a_pod_that_never_runs_times_out_quoting_its_events() {
    if cluster_or_skip().await.is_none() {
        return;
    }
    let out = run_bad_lab("nonroot-lab-timeout", "03");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("ERROR 03-kube-timeout/never-ready"),
        "{stdout}"
    );
    assert!(stdout.contains("did not finish within 3 s"), "{stdout}");
    assert!(
        stdout.contains("FailedScheduling"),
        "the last events are quoted: {stdout}"
    );
}

#[tokio::test]
async fn cleanup_sweeps_the_cluster_and_all_removes_only_the_namespace_the_lab_made() {
    if cluster_or_skip().await.is_none() {
        return;
    }
    let ns = "nonroot-lab-swept";
    let mut child = spawn_never_scheduled(ns, Stdio::null());
    child.kill().unwrap(); // SIGKILL: the pod stays
    let _ = child.wait();
    assert!(!kubectl(&["get", "pods", "-n", ns, "-o", "name"]).is_empty());
    // `cleanup` (no --all) removes the killed run's pod, and keeps the namespace.
    let out = run(&["--namespace", ns, "cleanup"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains(&format!("pod {ns}/")), "{stdout}");
    wait_until_no_pods(ns);
    assert!(kubectl(&["get", "namespaces", "-o", "name"]).contains(&format!("namespace/{ns}\n")));
    // `cleanup --all` removes the namespace the lab created...
    let out = run(&["--namespace", ns, "cleanup", "--all"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("removed namespace {ns}")),
        "{stdout}"
    );
    assert!(!kubectl(&["get", "namespaces", "-o", "name"]).contains(&format!("namespace/{ns}\n")));
    // ...and never one someone else made, even with the lab's objects in it.
    let theirs = "nonroot-lab-theirs";
    let _ = Command::new("kubectl")
        .args(["create", "namespace", theirs])
        .output();
    let out = run(&["--namespace", theirs, "cleanup", "--all"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(!stdout.contains("removed namespace"), "{stdout}");
    assert!(
        kubectl(&["get", "namespaces", "-o", "name"]).contains(&format!("namespace/{theirs}\n"))
    );
    kubectl(&["delete", "namespace", theirs, "--wait=false"]);
}

#[tokio::test]
async fn a_killed_runs_pods_go_at_the_next_start() {
    if cluster_or_skip().await.is_none() {
        return;
    }
    let ns = "nonroot-lab-killed";
    let mut child = spawn_never_scheduled(ns, Stdio::null());
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    let _ = child.wait();
    assert!(
        !kubectl(&["get", "pods", "-n", ns, "-o", "name"]).is_empty(),
        "SIGKILL leaves the pod"
    );
    let out = run_bad_lab(ns, "03");
    let (stdout, stderr) = text(&out);
    assert!(
        stderr.contains("Kubernetes leftovers of an earlier, killed run"),
        "{stdout}{stderr}"
    );
    wait_until_no_pods(ns);
}

#[tokio::test]
async fn audit_running_names_the_pod_containers_that_run_as_root_and_how_it_knows() {
    if cluster_or_skip().await.is_none() {
        return;
    }
    let ns = TestNamespace(format!("nonroot-lab-audit-{}", std::process::id()));
    kubectl(&["create", "namespace", &ns.0]);
    let pod = |name: &str, image: &str, security: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  dnsPolicy: Default\n  terminationGracePeriodSeconds: 0\n  {security}\n  containers:\n    - name: main\n      image: {image}\n      imagePullPolicy: IfNotPresent\n      command: [sleep, '3600']\n---\n"
        )
    };
    let manifest = [
        pod("root-by-image", "local/busybox:1", "securityContext: {}"),
        pod(
            "root-by-spec",
            "local/busybox:1",
            "securityContext: {runAsUser: 0}",
        ),
        pod(
            "uid-by-spec",
            "local/busybox:1",
            "securityContext: {runAsUser: 4242}",
        ),
        pod(
            "nobody-by-image",
            "local/busybox-nobody:1",
            "securityContext: {}",
        ),
    ]
    .concat();
    // A new namespace has no service account token for a moment: retry the apply.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut child = Command::new("kubectl")
            .args(["apply", "-n", &ns.0, "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(manifest.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        if out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    kubectl(&[
        "wait",
        "-n",
        &ns.0,
        "--for=condition=Ready",
        "pod",
        "--all",
        "--timeout=90s",
    ]);
    let out = run(&[
        "audit",
        "running",
        "--kube-only",
        "--namespace",
        &ns.0,
        "--format",
        "json",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let findings = report["findings"].as_array().unwrap();
    let about = |pod: &str| -> Vec<&serde_json::Value> {
        findings
            .iter()
            .filter(|f| f["target"] == format!("pod {}/{pod}", ns.0))
            .collect()
    };
    let by_image = about("root-by-image");
    assert_eq!(by_image.len(), 1, "{findings:#?}");
    assert_eq!(by_image[0]["rule"], "NRR002");
    assert!(
        by_image[0]["message"]
            .as_str()
            .unwrap()
            .contains("`id -u` in the container"),
        "{by_image:?}"
    );
    let by_spec = about("root-by-spec");
    assert_eq!(by_spec.len(), 1, "{findings:#?}");
    assert!(by_spec[0]["message"]
        .as_str()
        .unwrap()
        .contains("runAsUser in its spec"));
    assert!(
        about("uid-by-spec").is_empty() && about("nobody-by-image").is_empty(),
        "{findings:#?}"
    );
    assert_eq!(report["summary"]["audited"], 4);
    let notes = report["notes"].to_string();
    assert!(
        notes.contains("4 pods, 4 running containers, 2 read with `id -u`"),
        "{notes}"
    );

    // Without exec, the two whose spec does not say are unknown, never passed.
    let out = run(&[
        "audit",
        "running",
        "--kube-only",
        "--no-exec",
        "--namespace",
        &ns.0,
        "--format",
        "json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&text(&out).0).unwrap();
    let unknown = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "NRR003")
        .count();
    assert_eq!(unknown, 2, "{report:#}");
}

/// A namespace of the test's own, deleted however the test ends, and waited for: the
/// next cluster test must not start while the dockershim is still tearing pods down
/// (seen: the next test's sandboxes timed out behind it).
struct TestNamespace(String);

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let _ = Command::new("kubectl")
            .args([
                "delete",
                "pods",
                "--all",
                "-n",
                &self.0,
                "--grace-period=0",
                "--force",
                "--wait=true",
                "--timeout=90s",
            ])
            .output();
        let _ = Command::new("kubectl")
            .args([
                "delete",
                "namespace",
                &self.0,
                "--wait=true",
                "--timeout=90s",
            ])
            .output();
    }
}
