//! Reads inside running pods: a command's output, a container's uid, the pods there
//! are, and an HTTP answer through port-forward, each bounded by a timeout.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams, ListParams};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{timed, KubeEngine, CALL};
use crate::engine::{error_chain, EngineError, HttpAnswer, OutputSink, Stream};

impl KubeEngine {
    /// Every pod the credentials may list: in all namespaces, or in the one given.
    pub async fn list_pods(
        &self,
        all_namespaces: bool,
    ) -> Result<Vec<serde_json::Value>, EngineError> {
        let api: Api<Pod> = if all_namespaces {
            Api::all(self.client.clone())
        } else {
            Api::namespaced(self.client.clone(), &self.namespace)
        };
        let list = timed("listing pods", api.list(&ListParams::default())).await?;
        Ok(list
            .items
            .into_iter()
            .filter_map(|p| serde_json::to_value(p).ok())
            .collect())
    }

    /// `id -u` in one container of a pod, for `audit running` when the spec does not
    /// say; a read, nothing in the container changes.
    pub async fn uid_in(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
    ) -> Result<String, EngineError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let ap = AttachParams::default()
            .container(container)
            .stdin(false)
            .stdout(true)
            .stderr(false);
        let mut process = timed("starting an exec", api.exec(pod, vec!["id", "-u"], &ap)).await?;
        let mut stdout = process
            .stdout()
            .ok_or_else(|| EngineError::lost("an exec", "no stdout"))?;
        let mut text = String::new();
        tokio::time::timeout(CALL, stdout.read_to_string(&mut text))
            .await
            .map_err(|_| EngineError::timeout(format!("id -u in {pod}"), CALL))?
            .map_err(|e| EngineError::lost("an exec", e.to_string()))?;
        let _ = process.join().await;
        Ok(text)
    }

    /// Runs a command in the pod's first container: exit code, stdout, stderr.
    pub async fn exec(
        &self,
        pod: &str,
        argv: &[String],
        out: &OutputSink,
    ) -> Result<(i64, String, String), EngineError> {
        let ap = AttachParams::default()
            .stdin(false)
            .stdout(true)
            .stderr(true);
        let mut process = match timed(
            "starting an exec",
            self.pods().exec(pod, argv.to_vec(), &ap),
        )
        .await
        {
            Err(
                EngineError::Forbidden { what: reason, .. }
                | EngineError::Lost { reason, .. }
                | EngineError::Refused {
                    message: reason, ..
                },
            ) if reason.contains("403") || reason.contains("orbidden") => {
                return Err(EngineError::Forbidden {
                    what: format!(
                        "cannot create pods/exec in namespace {} (the API server said: {reason})",
                        self.namespace
                    ),
                    fix: "ask for a Role with `create` on `pods/exec` in this namespace".into(),
                })
            }
            other => other?,
        };
        let mut stdout = process
            .stdout()
            .ok_or_else(|| EngineError::lost("an exec", "no stdout"))?;
        let mut stderr = process
            .stderr()
            .ok_or_else(|| EngineError::lost("an exec", "no stderr"))?;
        let status = process
            .take_status()
            .ok_or_else(|| EngineError::lost("an exec", "no status"))?;
        let read = async {
            let (mut o, mut e) = (String::new(), String::new());
            let _ = tokio::join!(stdout.read_to_string(&mut o), stderr.read_to_string(&mut e));
            let status = status.await;
            (o, e, status)
        };
        let (o, e, status) = tokio::time::timeout(CALL * 3, read)
            .await
            .map_err(|_| EngineError::timeout(format!("exec in {pod}"), CALL * 3))?;
        let _ = process.join().await;
        for line in o.lines() {
            out(Stream::Stdout, line);
        }
        for line in e.lines() {
            out(Stream::Stderr, line);
        }
        let code = match status {
            Some(s) if s.status.as_deref() == Some("Success") => 0,
            Some(s) => s
                .details
                .and_then(|d| d.causes)
                .and_then(|c| {
                    c.into_iter()
                        .find(|c| c.reason.as_deref() == Some("ExitCode"))
                })
                .and_then(|c| c.message)
                .and_then(|m| m.parse().ok())
                .unwrap_or(1),
            None => -1,
        };
        if e.contains("forbidden") && o.is_empty() {
            return Err(EngineError::Forbidden {
                what: format!("cannot create pods/exec in namespace {}", self.namespace),
                fix: "ask for a Role with create on pods/exec in this namespace".into(),
            });
        }
        Ok((code, o, e))
    }

    pub(super) async fn http_through_port_forward(
        &self,
        pod: &str,
        port: u16,
        path: &str,
    ) -> Result<HttpAnswer, String> {
        let mut last = String::new();
        // The server may need a moment after the container starts.
        for _ in 0..50 {
            let mut pf = self
                .pods()
                .portforward(pod, &[port])
                .await
                .map_err(|e| error_chain(&e))?;
            let mut stream = pf.take_stream(port).ok_or("no stream")?;
            let request = format!(
                "GET {path} HTTP/1.0\r\nHost: localhost\r\nUser-Agent: nonroot-lab\r\n\r\n"
            );
            let attempt = async {
                stream.write_all(request.as_bytes()).await?;
                let mut raw = Vec::new();
                stream.read_to_end(&mut raw).await?;
                Ok::<_, std::io::Error>(raw)
            };
            let result = tokio::time::timeout(Duration::from_secs(5), attempt).await;
            drop(stream);
            pf.abort();
            match result {
                Ok(Ok(raw)) if !raw.is_empty() => {
                    return crate::http_probe::parse(&raw).map_err(|e| e.to_string())
                }
                Ok(Ok(_)) => last = "empty answer".into(),
                Ok(Err(e)) => last = e.to_string(),
                Err(_) => last = "no answer in 5 s".into(),
            }
            tracing::debug!(pod, port, "port-forward probe: {last}; retrying in 200 ms");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(last)
    }
}
