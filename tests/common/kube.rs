//! Helpers for the tests on a real cluster (../shared/k8s-local in CI): the cluster or a
//! clear skip, kubectl, and the lab run against a namespace.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nonroot_lab::engine::kube::{KubeEngine, KubeOptions};

use super::{bin, repo, run};

/// The cluster, or `None` after saying why the test is skipped; under `CI=true` a
/// missing cluster is a failure.
pub async fn cluster_or_skip() -> Option<KubeEngine> {
    let options = KubeOptions {
        namespace: Some("nonroot-lab-tests".into()),
        ..Default::default()
    };
    match KubeEngine::connect(&options).await {
        Ok(k) => Some(k),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true but no cluster: {e}")
        }
        Err(e) => {
            eprintln!("skipped: no cluster ({e})");
            None
        }
    }
}

pub fn kubectl(args: &[&str]) -> String {
    let out = Command::new("kubectl")
        .args(args)
        .output()
        .expect("kubectl");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// `verify` of one lesson of the lab of pods that do not start, in namespace `ns`.
pub fn run_bad_lab(ns: &str, lesson: &str) -> std::process::Output {
    let lab = repo().join("tests/fixtures/kube-bad-lab");
    run(&[
        "--lessons",
        lab.to_str().unwrap(),
        "--namespace",
        ns,
        "verify",
        "--lesson",
        lesson,
    ])
}

/// The lab applying a pod no node can take (lesson 02 of the bad lab), once that pod
/// exists in `ns`. The caller waits for the child it gets back.
#[allow(clippy::zombie_processes)]
pub fn spawn_never_scheduled(ns: &str, output: Stdio) -> std::process::Child {
    let lab = repo().join("tests/fixtures/kube-bad-lab");
    let mut child = bin()
        .args([
            "--lessons",
            lab.to_str().unwrap(),
            "--namespace",
            ns,
            "verify",
            "--lesson",
            "02",
        ])
        .stdout(output)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = Command::new("kubectl")
            .args(["get", "pod", "never-scheduled", "-n", ns, "-o", "name"])
            .output()
            .unwrap();
        if out.status.success() && !out.stdout.is_empty() {
            return child;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the pod was never created");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits (at most 60 s) until `ns` has no pod left.
pub fn wait_until_no_pods(ns: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = kubectl(&["get", "pods", "-n", ns, "-o", "name"]);
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "pods outlived the run: {left}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A kubeconfig that logs in as ServiceAccount `account` of namespace `ns` (its token
/// Secret, which Kubernetes before 1.24 makes shortly after the account), with the
/// machine's cluster and `ns` as the context's namespace.
pub fn account_kubeconfig(ns: &str, account: &str, dir: &std::path::Path) -> std::path::PathBuf {
    // Kubernetes 1.20 makes a token Secret for each ServiceAccount, shortly after it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let secret = loop {
        let name = kubectl(&[
            "get",
            "sa",
            account,
            "-n",
            ns,
            "-o",
            "jsonpath={.secrets[0].name}",
        ]);
        if !name.is_empty() {
            break name;
        }
        assert!(Instant::now() < deadline, "no token for the ServiceAccount");
        std::thread::sleep(Duration::from_millis(200));
    };
    let token_b64 = kubectl(&[
        "get",
        "secret",
        &secret,
        "-n",
        ns,
        "-o",
        "jsonpath={.data.token}",
    ]);
    let token = String::from_utf8(
        Command::new("base64")
            .arg("-d")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(token_b64.as_bytes())?;
                c.wait_with_output()
            })
            .unwrap()
            .stdout,
    )
    .unwrap();
    let server = kubectl(&[
        "config",
        "view",
        "--raw",
        "--minify",
        "-o",
        "jsonpath={.clusters[0].cluster.server}",
    ]);
    let mut ca = kubectl(&[
        "config",
        "view",
        "--raw",
        "--minify",
        "-o",
        "jsonpath={.clusters[0].cluster.certificate-authority-data}",
    ]);
    if ca.is_empty() {
        let path = kubectl(&[
            "config",
            "view",
            "--raw",
            "--minify",
            "-o",
            "jsonpath={.clusters[0].cluster.certificate-authority}",
        ]);
        let out = Command::new("base64")
            .args(["-w0", &path])
            .output()
            .unwrap();
        ca = String::from_utf8_lossy(&out.stdout).to_string();
    }
    let config = dir.join("kubeconfig");
    std::fs::write(
        &config,
        format!("apiVersion: v1\nkind: Config\ncurrent-context: lab\nclusters:\n- name: c\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\ncontexts:\n- name: lab\n  context: {{cluster: c, user: u, namespace: {ns}}}\nusers:\n- name: u\n  user:\n    token: {token}\n"),
    )
    .unwrap();
    config
}
