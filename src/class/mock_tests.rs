//! `class up` against an API double, for what the local 1.20 cluster cannot show: a
//! server from 1.24 on, where tokens come from the TokenRequest API and expire.

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use http::{Request, Response};
use kube::client::Body;
use kube::Client;
use serde_json::json;
use tower_test::mock;

use super::cluster::Cluster;
use super::names::Class;
use super::up::{up, Room};
use crate::engine::kube::mock_tests::answer;

fn jwt(exp: u64, uid: &str) -> String {
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims =
        json!({"exp": exp, "kubernetes.io": {"serviceaccount": {"name": "x", "uid": uid}}});
    format!("{}.{}.sig", b.encode("{}"), b.encode(claims.to_string()))
}

/// A server of 1.29 that allows everything and answers each call as the API server
/// would; every request's method and path are recorded.
fn server() -> (
    Cluster,
    Arc<Mutex<Vec<String>>>,
    tokio::task::JoinHandle<()>,
) {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let task = tokio::spawn(async move {
        while let Some((request, send)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let path = parts.uri.path().to_string();
            let method = parts.method.to_string();
            let bytes = body.collect_bytes().await.unwrap_or_default();
            let sent: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or(json!({}));
            log.lock().unwrap().push(format!("{method} {path}"));
            let response = if path.ends_with("/selfsubjectaccessreviews") {
                answer(
                    201,
                    json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                    "spec": sent["spec"], "status": {"allowed": true}}),
                )
            } else if method == "GET" && path == "/api/v1/namespaces" {
                answer(
                    200,
                    json!({"apiVersion": "v1", "kind": "NamespaceList", "metadata": {}, "items": []}),
                )
            } else if method == "GET" && path.contains("/clusterroles/") {
                answer(
                    404,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404,
                    "reason": "NotFound", "message": "not found"}),
                )
            } else if path.ends_with("/token") {
                let hours = sent["spec"]["expirationSeconds"].as_u64().unwrap();
                assert_eq!(hours, 2 * 3600, "--token-hours 2 asks for 7200 s");
                let account = path.split('/').rev().nth(1).unwrap();
                let exp = super::token::now() + hours;
                answer(
                    201,
                    json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                    "spec": sent["spec"], "status": {"token": jwt(exp, &format!("uid-{account}")),
                    "expirationTimestamp": "2030-01-01T00:00:00Z"}}),
                )
            } else if method == "GET" && path.contains("/serviceaccounts/") {
                let account = path.rsplit('/').next().unwrap();
                answer(
                    200,
                    json!({"apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": account, "uid": format!("uid-{account}")}}),
                )
            } else if method == "PATCH" || method == "POST" {
                answer(201, sent)
            } else {
                panic!("unexpected {method} {path}")
            };
            send.send_response(response);
        }
    });
    let cluster = Cluster {
        client: Client::new(service, "default"),
        context: "newer".into(),
        server_version: (1, 29),
        server: "https://10.0.0.1:6443".into(),
        ca_data: Some("Q0E=".into()),
        insecure: false,
    };
    (cluster, seen, task)
}

#[tokio::test]
async fn from_1_24_tokens_are_requested_expire_and_are_kept_while_fresh() {
    let (cluster, seen, _server) = server();
    let class = Class::new("room").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let attendees = vec!["ann".to_string()];
    let room = Room {
        class: &class,
        attendees: &attendees,
        dir: dir.path(),
        token_hours: 2,
    };
    let made = up(&cluster, &room, &|_| {}).await.unwrap();
    let (file, expires, written) = made.kubeconfigs["ann"].clone();
    assert!(written);
    let expires = expires.expect("a TokenRequest token expires");
    let left = expires - super::token::now();
    assert!((7000..=7200).contains(&left), "{left} s left");
    let token = super::token::token_in(&file).unwrap();
    assert_eq!(
        super::token::claims(&token).unwrap().account_uid.as_deref(),
        Some("uid-nonroot-lab")
    );
    {
        let seen = seen.lock().unwrap();
        assert_eq!(
            seen.iter().filter(|r| r.ends_with("/token")).count(),
            2,
            "ann and the instructor: {seen:?}"
        );
        assert!(
            !seen.iter().any(|r| r.contains("/secrets")),
            "no Secret read from 1.24 on: {seen:?}"
        );
    }

    // Again: the tokens have two hours left and are the accounts', so they are kept.
    seen.lock().unwrap().clear();
    let made = up(&cluster, &room, &|_| {}).await.unwrap();
    assert!(!made.kubeconfigs["ann"].2, "ann's kubeconfig was rewritten");
    assert_eq!(super::token::token_in(&file).unwrap(), token);
    assert!(!seen.lock().unwrap().iter().any(|r| r.ends_with("/token")));
}

fn ended(step: &str, status: &str) -> super::room::StepEnded {
    super::room::StepEnded {
        lesson: "01-a".into(),
        step: step.into(),
        status: status.into(),
        by: crate::progress::By::Lab,
        failure: None,
        output: vec![],
        at_ms: 1,
    }
}

/// A server that answers the progress ConfigMap's read with `read` (status, body), and
/// every patch with 200; records each request.
fn progress_server(read: (u16, serde_json::Value)) -> (Client, Arc<Mutex<Vec<String>>>) {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Some((request, send)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await.unwrap_or_default();
            log.lock().unwrap().push(format!(
                "{} {} {}",
                parts.method,
                parts.uri.path(),
                String::from_utf8_lossy(&bytes)
            ));
            let response = if parts.method == "GET" {
                answer(read.0, read.1.clone())
            } else {
                answer(
                    200,
                    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nonroot-lab-progress"}}),
                )
            };
            send.send_response(response);
        }
    });
    (Client::new(service, "default"), seen)
}

/// A publisher in namespace `room-ann` against `progress_server(read)`, with what it
/// sent and what it said.
type Lines = Arc<Mutex<Vec<String>>>;
fn publisher(read: (u16, serde_json::Value)) -> (super::publish::Publisher, Lines, Lines) {
    let (client, seen) = progress_server(read);
    let said = Arc::new(Mutex::new(Vec::new()));
    let log = said.clone();
    let p = super::publish::Publisher::with_client(
        client,
        "room-ann",
        Arc::new(move |l| log.lock().unwrap().push(l)),
    );
    (p, seen, said)
}

#[tokio::test]
async fn in_a_class_each_step_is_one_merge_patch_and_tries_add_up() {
    let existing = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "nonroot-lab-progress", "labels": {"nonroot-lab.class": "room"}},
        "data": {"01-a.one": "{\"status\":\"failed\",\"tries\":2,\"failed_in_a_row\":2}"}});
    let (p, seen, said) = publisher((200, existing));
    p.step(ended("one", "failed"));
    p.step(ended("two", "passed"));
    let published = p.finish(std::time::Duration::from_secs(5)).await;
    assert_eq!(published.class, Some(("room".into(), "room-ann".into())));
    assert_eq!(
        (published.steps, published.requests),
        (2, 3),
        "one read, one patch per step"
    );
    let seen = seen.lock().unwrap();
    let patches: Vec<&String> = seen.iter().filter(|r| r.starts_with("PATCH")).collect();
    assert_eq!(patches.len(), 2);
    // The third try of `one`, the third failure in a row: the room calls that stuck.
    assert!(
        patches[0].contains(r#"\"tries\":3"#) && patches[0].contains(r#"\"failed_in_a_row\":3"#),
        "{}",
        patches[0]
    );
    assert!(said.lock().unwrap().is_empty());
}

#[tokio::test]
async fn outside_a_class_nothing_is_sent_and_forbidden_is_said_once() {
    let not_found = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404, "reason": "NotFound", "message": "not found"});
    let (client, seen) = progress_server((404, not_found));
    let p = super::publish::Publisher::with_client(
        client,
        "nonroot-lab",
        Arc::new(|l| panic!("said {l}")),
    );
    p.step(ended("one", "passed"));
    let published = p.finish(std::time::Duration::from_secs(5)).await;
    assert_eq!((published.class, published.requests), (None, 1));
    assert_eq!(seen.lock().unwrap().len(), 1, "only the read");

    let forbidden = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 403, "reason": "Forbidden", "message": "forbidden"});
    let (p, _, said) = publisher((403, forbidden));
    p.step(ended("one", "passed"));
    p.step(ended("two", "passed"));
    p.finish(std::time::Duration::from_secs(5)).await;
    let said = said.lock().unwrap();
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].contains("may not read nonroot-lab-progress in room-ann"),
        "{said:?}"
    );
}

/// A kubeconfig naming a cluster that never answers: the end of a run outside a class
/// waits for the first read at most 2 s (virtual time), not the 10 s it would give a
/// class's pending steps, nor the API call's 20 s.
#[tokio::test(start_paused = true)]
async fn a_cluster_that_never_answers_does_not_hold_up_the_end_of_a_run() {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let held = tokio::spawn(async move {
        let mut kept = Vec::new();
        while let Some(pending) = handle.next_request().await {
            kept.push(pending);
        }
    });
    let p = super::publish::Publisher::with_client(
        Client::new(service, "default"),
        "room-ann",
        Arc::new(|_| {}),
    );
    p.step(ended("one", "passed"));
    let started = tokio::time::Instant::now();
    let published = p.finish(std::time::Duration::from_secs(10)).await;
    let waited = started.elapsed();
    assert_eq!(waited, std::time::Duration::from_secs(2), "{published:?}");
    assert_eq!(published.class, None);
    held.abort();
}
