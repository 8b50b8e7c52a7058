//! Which cluster and what the lab may do there, on a real cluster: no kubeconfig, a dead
//! context, `--kubeconfig` and merged KUBECONFIG lists, RBAC without `pods/exec`, a
//! namespace that may not be created.

mod common;
use common::kube::*;
use common::*;

#[test]
fn no_kubeconfig_is_one_line_and_exit_2() {
    let out = bin()
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .args(["verify", "--only", "kubernetes"])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no Kubernetes cluster is configured"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn a_context_whose_server_does_not_answer_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        "apiVersion: v1\nkind: Config\ncurrent-context: gone\nclusters:\n- name: gone\n  cluster:\n    server: https://127.0.0.1:1\n    insecure-skip-tls-verify: true\ncontexts:\n- name: gone\n  context:\n    cluster: gone\n    user: u\nusers:\n- name: u\n  user:\n    token: x\n",
    )
    .unwrap();
    let out = bin()
        .env("KUBECONFIG", &config)
        .args(["verify", "--only", "kubernetes"])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("context `gone`"), "{stderr}");
}

#[tokio::test]
async fn kubeconfig_flag_and_merged_lists_with_context_reach_the_same_cluster() {
    if cluster_or_skip().await.is_none() {
        return;
    }
    let real = std::env::var("KUBECONFIG").expect("the cluster's kubeconfig is in KUBECONFIG");
    let real = real.split(':').next().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead");
    std::fs::write(
        &dead,
        "apiVersion: v1\nkind: Config\ncurrent-context: gone\nclusters:\n- name: gone\n  cluster: {server: 'https://127.0.0.1:1'}\ncontexts:\n- name: gone\n  context: {cluster: gone, user: u}\nusers:\n- name: u\n  user: {token: x}\n",
    )
    .unwrap();
    let live_context = kubectl(&["config", "current-context"]).trim().to_string();
    let doctor_cluster = |envs: &[(&str, &str)], args: &[&str]| -> serde_json::Value {
        let mut cmd = bin();
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let out = cmd
            .args(args)
            .args(["doctor", "--format", "json"])
            .output()
            .unwrap();
        let findings: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        findings
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["check"] == "kubernetes cluster")
            .cloned()
            .unwrap_or_else(|| panic!("no cluster finding: {findings}"))
    };
    // --kubeconfig FILE, with KUBECONFIG pointing at a dead cluster.
    let dead_s = dead.display().to_string();
    let found = doctor_cluster(&[("KUBECONFIG", &dead_s)], &["--kubeconfig", &real]);
    assert_eq!(found["level"], "ok", "{found}");
    // A merged list whose first file's current context is dead: --context picks the
    // live one from the second file.
    let list = format!("{}:{real}", dead.display());
    let found = doctor_cluster(&[("KUBECONFIG", &list)], &["--context", &live_context]);
    assert_eq!(found["level"], "ok", "{found}");
    // Without --context the first file's current context wins, as kubectl has it.
    let found = doctor_cluster(&[("KUBECONFIG", &list)], &[]);
    assert_eq!(found["level"], "fail", "{found}");
    assert!(
        found["detail"].as_str().unwrap().contains("context `gone`"),
        "{found}"
    );
}

/// A kubeconfig for a ServiceAccount whose Role lacks `pods/exec`, in its own namespace.
fn kubeconfig_without_exec(ns: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let manifest = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: lab-noexec, namespace: {ns}}}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: lab-noexec, namespace: {ns}}}\nrules:\n- apiGroups: [\"\"]\n  resources: [pods, pods/log, events, namespaces]\n  verbs: [get, list, watch, create, delete, patch]\n- apiGroups: [apps]\n  resources: [deployments]\n  verbs: [get, list, watch, create, delete, patch]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: lab-noexec, namespace: {ns}}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: lab-noexec}}\nsubjects:\n- {{kind: ServiceAccount, name: lab-noexec, namespace: {ns}}}\n"
    );
    let file = dir.join("rbac.yaml");
    std::fs::write(&file, manifest).unwrap();
    kubectl(&["apply", "-f", file.to_str().unwrap()]);
    account_kubeconfig(ns, "lab-noexec", dir)
}

#[tokio::test]
async fn rbac_without_pods_exec_names_what_it_lacks() {
    if cluster_or_skip().await.is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ns = "nonroot-lab-rbac";
    let config = kubeconfig_without_exec(ns, dir.path());
    let out = bin()
        .env("KUBECONFIG", &config)
        .args([
            "--namespace",
            ns,
            "verify",
            "--only",
            "kubernetes",
            "--lesson",
            "01",
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("cannot create pods/exec in namespace {ns}")),
        "{stdout}{stderr}"
    );
    let out = bin()
        .env("KUBECONFIG", &config)
        .args(["--namespace", ns, "doctor"])
        .output()
        .unwrap();
    let (stdout, _) = text(&out);
    assert!(stdout.contains("cannot create pods/exec"), "{stdout}");
    assert!(
        !stdout.contains("cannot create pods,"),
        "it may create pods: {stdout}"
    );
}

#[tokio::test]
async fn a_namespace_that_may_not_be_created_is_one_clear_error() {
    if cluster_or_skip().await.is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = kubeconfig_without_exec("nonroot-lab-rbac2", dir.path());
    let out = bin()
        .env("KUBECONFIG", &config)
        .args([
            "--namespace",
            "nonroot-lab-not-allowed",
            "verify",
            "--only",
            "kubernetes",
            "--lesson",
            "01",
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("namespace"), "{stderr}");
    assert!(
        stderr.contains("kubectl create namespace nonroot-lab-not-allowed"),
        "the fix names the command: {stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}
