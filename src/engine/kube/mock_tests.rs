//! The Kubernetes engine against an API double (kube's own tower-test pattern), only
//! for what the local 1.20 cluster cannot show: a newer server, Pod Security Admission
//! refusals, expired credentials, a server that stops answering mid-step.

use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use kube::client::Body;
use kube::Client;
use serde_json::json;
use tower_test::mock::{self, Handle};

use super::KubeEngine;
use crate::engine::{Engine, EngineError, OutputSink, Request as LabRequest, Scope};

type ApiHandle = Handle<Request<Body>, Response<Body>>;

fn client() -> (Client, ApiHandle) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    (Client::new(service, "default"), handle)
}

pub(crate) fn answer(status: u16, body: serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap()
}

fn version(minor: &str) -> serde_json::Value {
    json!({"major": "1", "minor": minor, "gitVersion": format!("v1.{}.0", minor.trim_end_matches('+')),
           "gitCommit": "", "gitTreeState": "", "buildDate": "", "goVersion": "", "compiler": "", "platform": ""})
}

fn status(code: u16, reason: &str, message: &str) -> serde_json::Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason, "message": message})
}

/// Answers the next request, asserting its path; fails the test if none comes in 1 s.
async fn expect(handle: &mut ApiHandle, path_part: &str, response: Response<Body>) {
    let (request, send) = tokio::time::timeout(Duration::from_secs(1), handle.next_request())
        .await
        .expect("a request within 1 s")
        .expect("the client is alive");
    assert!(
        request.uri().to_string().contains(path_part),
        "{} does not ask for {path_part}",
        request.uri()
    );
    send.send_response(response);
}

#[tokio::test]
async fn a_newer_server_is_read_once_and_has_pod_security_admission() {
    let (client, mut handle) = client();
    let api = tokio::spawn(async move {
        expect(&mut handle, "/version", answer(200, version("30+"))).await;
    });
    let engine = KubeEngine::from_client(client, "test", "ns").await.unwrap();
    api.await.unwrap();
    assert_eq!(engine.server, (1, 30));
    assert_eq!(engine.server_version, "v1.30.0");
    assert!(engine.has_pod_security_admission());
}

#[tokio::test]
async fn the_local_1_20_server_has_no_pod_security_admission() {
    let (client, mut handle) = client();
    let api = tokio::spawn(async move {
        expect(&mut handle, "/version", answer(200, version("20"))).await;
    });
    let engine = KubeEngine::from_client(client, "test", "ns").await.unwrap();
    api.await.unwrap();
    assert!(!engine.has_pod_security_admission());
}

#[tokio::test]
async fn expired_credentials_say_to_log_in_again() {
    let (client, mut handle) = client();
    let api = tokio::spawn(async move {
        expect(
            &mut handle,
            "/version",
            answer(401, status(401, "Unauthorized", "Unauthorized")),
        )
        .await;
    });
    let err = KubeEngine::from_client(client, "prod", "ns")
        .await
        .err()
        .expect("an error");
    api.await.unwrap();
    let text = err.to_string();
    assert!(text.contains("context `prod`"), "{text}");
    assert!(
        text.contains("credentials were refused") && text.contains("log in again"),
        "{text}"
    );
}

/// Answers the engine's look-up of its namespace: it exists.
async fn namespace_exists(handle: &mut ApiHandle) {
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}});
    expect(handle, "/api/v1/namespaces/ns", answer(200, ns)).await;
}

fn pod_request() -> LabRequest {
    LabRequest::Apply {
        object: json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                       "spec": {"containers": [{"name": "main", "image": "x:1"}]}}),
        exec: vec![],
        port: None,
        path: "/".into(),
        ready_timeout: 5,
        namespace_labels: Default::default(),
    }
}

fn scope() -> Scope {
    Scope {
        run_id: "r1".into(),
        lesson: "l".into(),
        step: "s".into(),
    }
}

async fn engine_on_1_30(handle: &mut ApiHandle, client: Client) -> KubeEngine {
    let (engine, ()) = tokio::join!(
        async { KubeEngine::from_client(client, "test", "ns").await.unwrap() },
        expect(handle, "/version", answer(200, version("30")))
    );
    engine
}

#[tokio::test]
async fn a_pod_security_admission_refusal_is_reported_with_the_servers_words() {
    let (client, mut handle) = client();
    let engine = engine_on_1_30(&mut handle, client).await;
    let quiet: OutputSink = Arc::new(|_, _| {});
    let api = tokio::spawn(async move {
        namespace_exists(&mut handle).await;
        let refusal = "pods \"p\" is forbidden: violates PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false (container \"main\" must set securityContext.allowPrivilegeEscalation=false), runAsNonRoot != true";
        expect(
            &mut handle,
            "/api/v1/namespaces/ns/pods/p?",
            answer(403, status(403, "Forbidden", refusal)),
        )
        .await;
    });
    let outcome = engine
        .perform(&pod_request(), &scope(), &quiet)
        .await
        .expect("the refusal is an outcome");
    api.await.unwrap();
    let refusal = "violates PodSecurity \"restricted:latest\"";
    assert!(outcome.stderr.contains(refusal), "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("runAsNonRoot != true"),
        "{}",
        outcome.stderr
    );
    assert_eq!(outcome.notes, ["Pod Security Admission refused the pod"]);
}

#[tokio::test]
async fn a_server_that_stops_answering_mid_step_is_an_error_not_a_hang() {
    let (client, mut handle) = client();
    let engine = engine_on_1_30(&mut handle, client).await;
    let quiet: OutputSink = Arc::new(|_, _| {});
    let api = tokio::spawn(async move {
        namespace_exists(&mut handle).await;
        // The apply request arrives, and the server goes away without answering.
        let (_request, _send) = handle.next_request().await.expect("the apply");
        drop(handle);
    });
    let result = tokio::time::timeout(
        Duration::from_secs(30),
        engine.perform(&pod_request(), &scope(), &quiet),
    )
    .await;
    api.await.unwrap();
    let err = result.expect("the engine gives up by itself").unwrap_err();
    assert!(
        matches!(err, EngineError::Lost { .. } | EngineError::Timeout { .. }),
        "{err:?}"
    );
}
