//! A class on the real cluster (../shared/k8s-local in CI): `class up` twice, attendees
//! publishing, `class status`, a hand-edited ConfigMap, `class down` leaving nothing; and
//! what each kubeconfig may do, asked of the API server and tried for real.

mod common;
use common::kube::*;
use common::learner::Learner;
use common::tmux::Tmux;
use common::*;

use std::path::{Path, PathBuf};
use std::process::Output;

use ::kube::api::{Api, ListParams, PostParams};
use ::kube::config::{KubeConfigOptions, Kubeconfig};
use ::kube::{Client, Config};

fn class_run(kubeconfig: Option<&Path>, args: &[&str]) -> Output {
    let mut c = bin();
    if let Some(k) = kubeconfig {
        c.env("KUBECONFIG", k);
    }
    c.args(args).output().expect("run nonroot-lab")
}

async fn client_of(kubeconfig: &Path) -> Client {
    let config = Config::from_custom_kubeconfig(
        Kubeconfig::read_from(kubeconfig).unwrap(),
        &KubeConfigOptions::default(),
    )
    .await
    .unwrap();
    Client::try_from(config).unwrap()
}

/// The API server's own answer: may this kubeconfig do `verb` on `resource`?
async fn may(client: &Client, verb: &str, resource: &str, namespace: &str) -> bool {
    use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
    let (resource, sub) = resource.split_once('/').unwrap_or((resource, ""));
    let group = match resource {
        "roles" | "rolebindings" | "clusterroles" => "rbac.authorization.k8s.io",
        "deployments" => "apps",
        _ => "",
    };
    let review: SelfSubjectAccessReview = serde_json::from_value(serde_json::json!({
        "spec": {"resourceAttributes": {"namespace": namespace, "verb": verb,
            "resource": resource, "subresource": sub, "group": group}}
    }))
    .unwrap();
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let answer = api.create(&PostParams::default(), &review).await.unwrap();
    answer.status.unwrap().allowed
}

fn forbidden<T: std::fmt::Debug>(r: Result<T, ::kube::Error>) -> bool {
    matches!(r, Err(::kube::Error::Api(s)) if s.code == 403)
}

/// `class up` of these attendees into `dir`, as the machine's admin or with `kubeconfig`.
fn class_up(kubeconfig: Option<&Path>, name: &str, attendees: &str, dir: &str) -> Output {
    class_run(
        kubeconfig,
        &[
            "class",
            "up",
            "--name",
            name,
            "--attendees",
            attendees,
            "--dir",
            dir,
        ],
    )
}

fn class_left(name: &str) -> String {
    let ns = kubectl(&[
        "get",
        "ns",
        "-l",
        &format!("nonroot-lab.class={name}"),
        "-o",
        "name",
    ]);
    let roles = kubectl(&[
        "get",
        "clusterrole,clusterrolebinding",
        "-l",
        &format!("nonroot-lab.class={name}"),
        "-o",
        "name",
    ]);
    format!("{ns}{roles}").trim().to_string()
}

fn down(name: &str) {
    let _ = run(&["class", "down", "--name", name]);
}

#[tokio::test]
async fn a_class_is_made_once_published_to_read_and_removed_whole() {
    if cluster_or_skip().await.is_none() {
        return;
    }
    let name = "nrl-test-room";
    down(name);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();

    let out = class_up(None, name, "ann,ben", d);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("give {d}/ann.kubeconfig to ann")),
        "{stdout}"
    );
    assert!(stdout.contains("instructor.kubeconfig"), "{stdout}");
    let ann = dir.path().join("ann.kubeconfig");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&ann).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let version = kubectl(&[
        "get",
        "rolebinding",
        "nonroot-lab",
        "-n",
        &format!("{name}-ann"),
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);

    // Again, with one more attendee: ann's objects and file are untouched, cat is added.
    let before = std::fs::read_to_string(&ann).unwrap();
    let out = class_up(None, name, "ann,ben,cat", d);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("ann.kubeconfig (unchanged)"), "{stdout}");
    assert!(stderr.contains("3 attendees (1 new)"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&ann).unwrap(), before);
    assert_eq!(
        kubectl(&[
            "get",
            "rolebinding",
            "nonroot-lab",
            "-n",
            &format!("{name}-ann"),
            "-o",
            "jsonpath={.metadata.resourceVersion}"
        ]),
        version,
        "a second class up changed ann's RoleBinding"
    );

    // The instructor's room, live in a real terminal when tmux is here.
    let instructor = dir.path().join("instructor.kubeconfig");
    let tmux_here = std::process::Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok();
    let room = tmux_here.then(|| {
        let tmux = Tmux {
            socket: format!("nonroot-lab-room-{}", std::process::id()),
        };
        let command = format!(
            "env KUBECONFIG='{}' '{}' class watch --name {name}",
            instructor.display(),
            env!("CARGO_BIN_EXE_nonroot-lab")
        );
        tmux.start(100, 24, &command);
        tmux.wait_for("3 attendees", 10);
        tmux
    });
    if room.is_none() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI=true but no tmux"
        );
        eprintln!("skipped the live room: no tmux");
    }

    // Ann runs a lesson's Kubernetes step with nothing but her kubeconfig: it runs in her
    // namespace, within the quota, and her progress reaches the room.
    let out = class_run(
        Some(&ann),
        &["verify", "--lesson", "01", "--only", "kubernetes"],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "progress published to class `{name}` (namespace {name}-ann): 1 steps in 1 requests, after 1 read"
        )),
        "one read, then one request per step: {stderr}"
    );
    // Ann does lesson 04's exercise herself and checks it: her own work, in the room.
    let mut learner = Learner::new("class");
    learner.namespace = None;
    learner.kubeconfig = Some(ann.clone());
    let ws = learner.workspace("04");
    let solution = learner.lab(&["solution", "04", "your-turn-numeric-user"]);
    let out = learner.bash(&ws, &text(&solution).0);
    assert!(out.status.success(), "{:?}", text(&out));
    let out = learner.lab(&["check", "04", "your-turn-numeric-user"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));

    if let Some(tmux) = &room {
        // The watch brings the steps to the screen; Enter opens ann's.
        let screen = tmux.wait_for("04-images/your-turn-numeric", 10);
        assert!(
            screen
                .lines()
                .any(|l| l.contains(" ann ") && l.contains("2/")),
            "{screen}"
        );
        let row = screen.lines().position(|l| l.contains(" ann ")).unwrap();
        let first = screen.lines().position(|l| l.contains("ATTENDEE")).unwrap();
        for _ in 0..(row - first - 1) {
            tmux.cmd(&["send-keys", "-t", "lab", "Down"]);
        }
        tmux.cmd(&["send-keys", "-t", "lab", "Enter"]);
        let screen = tmux.wait_for("ann (", 5);
        assert!(
            screen.contains("PASS 01-why-non-root/pod-runs-as-4242"),
            "{screen}"
        );
        assert!(
            screen.contains("PASS 04-images/your-turn-numeric-user  (by their own work"),
            "{screen}"
        );
        tmux.cmd(&["send-keys", "-t", "lab", "q"]);
    }
    let out = class_run(
        Some(&instructor),
        &["class", "status", "--name", name, "--format", "json"],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let status: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let people = status["attendees"].as_array().unwrap();
    assert_eq!(people.len(), 3);
    let a = people.iter().find(|p| p["name"] == "ann").unwrap();
    assert_eq!(
        (a["passed"].as_u64(), a["by_learner"].as_u64()),
        (Some(2), Some(1)),
        "{a}"
    );
    assert_eq!(a["current"], "04-images/your-turn-numeric-user");
    let mine = &a["steps"]["04-images.your-turn-numeric-user"];
    assert_eq!(mine["by"], "learner", "{mine}");
    let step = &a["steps"]["01-why-non-root.pod-runs-as-4242"];
    assert_eq!(
        (
            step["status"].as_str(),
            step["by"].as_str(),
            step["tries"].as_u64()
        ),
        (Some("passed"), Some("lab"), Some(1))
    );
    let b = people.iter().find(|p| p["name"] == "ben").unwrap();
    assert_eq!(b["passed"], 0);

    // Ben's ConfigMap edited into garbage: the room says so and reads everyone else.
    kubectl(&[
        "patch",
        "configmap",
        "nonroot-lab-progress",
        "-n",
        &format!("{name}-ben"),
        "--type",
        "merge",
        "-p",
        r#"{"data":{"01-why-non-root.x":"{garbage"}}"#,
    ]);
    let out = class_run(Some(&instructor), &["class", "status", "--name", name]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("ben") && l.contains("unreadable progress")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("ann") && l.contains("2/")),
        "{stdout}"
    );

    // Down, keeping the progress: nothing of the class is left, and its kubeconfigs stop working.
    let kept = dir.path().join("final.json");
    let out = run(&[
        "class",
        "down",
        "--name",
        name,
        "--keep-progress",
        kept.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&kept).unwrap()).unwrap();
    assert_eq!(saved["attendees"].as_array().unwrap().len(), 3);
    assert_eq!(class_left(name), "", "class down left objects");
    let out = class_run(
        Some(&ann),
        &["verify", "--lesson", "01", "--only", "kubernetes"],
    );
    assert_ne!(
        out.status.code(),
        Some(0),
        "a removed class's kubeconfig still worked"
    );
    // A class that is not there: exit 2, naming the classes there are.
    let out = run(&["class", "status", "--name", name]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("no class `{name}`")), "{stderr}");
}

#[tokio::test]
async fn each_kubeconfig_may_do_what_its_person_needs_and_nothing_more() {
    if cluster_or_skip().await.is_none() {
        return;
    }
    let (first, second) = ("nrl-test-sec", "nrl-test-sec2");
    down(first);
    down(second);
    let dir = tempfile::tempdir().unwrap();
    let d1 = dir.path().join("one");
    let d2 = dir.path().join("two");
    let out = class_up(None, first, "ann,ben", d1.to_str().unwrap());
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    // Every object of the first class, by resourceVersion; not the ResourceQuotas, whose
    // status the quota controller rewrites on its own.
    let versions = || {
        kubectl(&[
            "get",
            "ns,sa,role,rolebinding,limitrange,configmap",
            "-A",
            "-l",
            &format!("nonroot-lab.class={first}"),
            "-o",
            "jsonpath={range .items[*]}{.metadata.name}={.metadata.resourceVersion} {end}",
        ])
    };
    let before = versions();

    let ann = client_of(&d1.join("ann.kubeconfig")).await;
    let (own, other) = (format!("{first}-ann"), format!("{first}-ben"));
    // What the lab needs in her own namespace.
    for (verb, resource) in [
        ("create", "pods"),
        ("create", "pods/exec"),
        ("get", "pods/log"),
        ("create", "pods/portforward"),
        ("create", "deployments"),
        ("list", "events"),
    ] {
        assert!(
            may(&ann, verb, resource, &own).await,
            "ann may not {verb} {resource} in {own}"
        );
    }
    // Nothing of ben's, no RBAC, no namespaces, no Secrets.
    for (verb, resource, ns) in [
        ("get", "pods", other.as_str()),
        ("create", "pods", other.as_str()),
        ("get", "configmaps", other.as_str()),
        ("create", "roles", own.as_str()),
        ("create", "rolebindings", own.as_str()),
        ("list", "namespaces", ""),
        ("list", "secrets", own.as_str()),
        ("get", "secrets", own.as_str()),
        ("create", "configmaps", own.as_str()),
    ] {
        assert!(
            !may(&ann, verb, resource, ns).await,
            "ann may {verb} {resource} in `{ns}`"
        );
    }
    // And tried for real: each is refused by the API server.
    use k8s_openapi::api::core::v1::{Namespace, Pod, Secret};
    use k8s_openapi::api::rbac::v1::Role;
    assert!(forbidden(
        Api::<Pod>::namespaced(ann.clone(), &other)
            .list(&ListParams::default())
            .await
    ));
    assert!(forbidden(
        Api::<Namespace>::all(ann.clone())
            .list(&ListParams::default())
            .await
    ));
    assert!(forbidden(
        Api::<Secret>::namespaced(ann.clone(), &own)
            .list(&ListParams::default())
            .await
    ));
    let role: Role = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "mine"}, "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]
    })).unwrap();
    assert!(forbidden(
        Api::<Role>::namespaced(ann.clone(), &own)
            .create(&PostParams::default(), &role)
            .await
    ));

    // The instructor reads the room and changes nothing.
    let instructor = client_of(&d1.join("instructor.kubeconfig")).await;
    assert!(may(&instructor, "watch", "configmaps", "").await);
    assert!(may(&instructor, "list", "namespaces", "").await);
    assert!(may(&instructor, "get", "pods/log", &own).await);
    for (verb, resource) in [
        ("create", "pods"),
        ("create", "pods/exec"),
        ("delete", "pods"),
        ("patch", "configmaps"),
        ("list", "secrets"),
    ] {
        assert!(
            !may(&instructor, verb, resource, &own).await,
            "the instructor may {verb} {resource}"
        );
    }
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "x"}, "spec": {"containers": [{"name": "x", "image": "local/busybox:1"}]}
    })).unwrap();
    assert!(forbidden(
        Api::<Pod>::namespaced(instructor.clone(), &own)
            .create(&PostParams::default(), &pod)
            .await
    ));

    // A second class of the same attendees leaves the first alone, and neither
    // attendee's kubeconfig reaches the other class.
    let out = class_up(None, second, "ann,ben", d2.to_str().unwrap());
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_eq!(versions(), before, "the second class changed the first");
    let ann2 = client_of(&d2.join("ann.kubeconfig")).await;
    assert!(!may(&ann2, "get", "pods", &own).await);
    // class down of the second removes only the second.
    let out = run(&["class", "down", "--name", second]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_eq!(class_left(second), "");
    assert_eq!(
        versions(),
        before,
        "the second class's down touched the first"
    );
    // An attendee may not read the room: one line saying whose kubeconfig to use.
    let out = class_run(
        Some(&d1.join("ann.kubeconfig")),
        &["class", "status", "--name", first],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains("may not list namespaces") && stderr.contains("instructor.kubeconfig"),
        "{stderr}"
    );
    // The instructor may not end the class: one line naming what it lacks, nothing removed,
    // and no progress file written for a `down` that did not happen.
    let kept = dir.path().join("kept.json");
    let out = class_run(
        Some(&d1.join("instructor.kubeconfig")),
        &[
            "class",
            "down",
            "--name",
            first,
            "--keep-progress",
            kept.to_str().unwrap(),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains("may not delete namespaces") && stderr.contains("nothing was removed"),
        "{stderr}"
    );
    assert_eq!(versions(), before, "a refused class down removed something");
    assert!(!kept.exists(), "a refused class down wrote the progress");

    // An attendee's kubeconfig may not make a class: one line naming what it lacks,
    // exit 2, nothing made.
    let out = class_run(
        Some(&d1.join("ann.kubeconfig")),
        &[
            "class",
            "up",
            "--name",
            "nrl-test-denied",
            "--count",
            "2",
            "--dir",
            dir.path().join("x").to_str().unwrap(),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains("may not create namespaces") && stderr.contains("nothing was made"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert_eq!(class_left("nrl-test-denied"), "");
    down(first);
    assert_eq!(class_left(first), "");
}

#[test]
fn names_and_tokens_are_refused_before_the_cluster_is_asked() {
    // An attendee name that is not a DNS label: named, with the rule.
    let out = run(&[
        "class",
        "up",
        "--attendees",
        "ann,Bob_2",
        "--kubeconfig",
        "/nonexistent",
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("`Bob_2` is not a valid name") && stderr.contains("DNS label"),
        "{stderr}"
    );

    // A kubeconfig whose token expired: the lab says so and names `class up`.
    use base64::Engine as _;
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let token = format!(
        "{}.{}.sig",
        b.encode("{}"),
        b.encode(r#"{"exp":1000000000}"#)
    );
    let dir = tempfile::tempdir().unwrap();
    let file: PathBuf = dir.path().join("ann.kubeconfig");
    std::fs::write(&file, format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: \"https://127.0.0.1:1\"}}\ncontexts:\n- name: c\n  context: {{cluster: c, user: ann, namespace: c-ann}}\ncurrent-context: c\nusers:\n- name: ann\n  user: {{token: \"{token}\"}}\n"
    )).unwrap();
    for args in [
        &["verify", "--only", "kubernetes", "--lesson", "01"][..],
        &["class", "status"][..],
    ] {
        let out = class_run(Some(&file), args);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains("expired at 2001-09-09 01:46 UTC") && stderr.contains("class up"),
            "{args:?}: {stderr}"
        );
    }
}

/// A kubeconfig that may make namespaces and RBAC but does not hold what an attendee's
/// Role grants, so the API server refuses that Role half-way (RBAC escalation): the
/// class up that got that far removes what it made.
#[tokio::test]
async fn a_refusal_half_way_leaves_nothing_of_the_class() {
    if cluster_or_skip().await.is_none() {
        return;
    }
    let (ns, name) = ("nrl-test-half-admin", "nrl-test-half");
    down(name);
    let dir = tempfile::tempdir().unwrap();
    let manifest = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: half, namespace: {ns}}}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: {ns}}}\nrules:\n- apiGroups: [\"\"]\n  resources: [namespaces, serviceaccounts, resourcequotas, limitranges, configmaps]\n  verbs: [get, list, watch, create, patch, delete]\n- apiGroups: [\"\"]\n  resources: [secrets]\n  verbs: [get]\n- apiGroups: [rbac.authorization.k8s.io]\n  resources: [clusterroles, clusterrolebindings, roles, rolebindings]\n  verbs: [get, list, create, patch, delete, deletecollection]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {{name: {ns}}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {ns}}}\nsubjects:\n- {{kind: ServiceAccount, name: half, namespace: {ns}}}\n"
    );
    let file = dir.path().join("half.yaml");
    std::fs::write(&file, manifest).unwrap();
    kubectl(&["apply", "-f", file.to_str().unwrap()]);
    let config = account_kubeconfig(ns, "half", dir.path());

    let class_dir = dir.path().join("class");
    let out = class_up(Some(&config), name, "ann", class_dir.to_str().unwrap());
    let (stdout, stderr) = text(&out);
    kubectl(&["delete", "-f", file.to_str().unwrap(), "--wait=false"]);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains("forbidden: making Role")
            && stderr.contains("removing what this run made")
            && stderr.contains("class up made nothing that is left"),
        "{stderr}"
    );
    assert_eq!(class_left(name), "", "a half-made class was left");
}
