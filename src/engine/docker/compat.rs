//! Containers read from the engine's plain JSON, so that every engine that speaks the
//! Docker API is understood: Podman reports states bollard's models refuse (`stopped`,
//! `configured`) and leaves out fields Docker always sends. Only what the lab uses is
//! read, and a field that is missing or of another shape reads as absent.

use std::collections::HashMap;

use serde_json::Value;

use super::{raw, DockerEngine};
use crate::engine::EngineError;

/// A container as `GET /containers/ID/json` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ContainerView {
    pub id: String,
    /// `State.Running`; when an engine leaves it out, whether `State.Status` is `running`.
    pub running: bool,
    /// `State.Status` as the engine wrote it (`exited`, Podman's `stopped`, ...).
    pub status: String,
    pub exit_code: Option<i64>,
    /// `Config.User`: the user the container runs as (`--user`, else the image's).
    pub user: String,
    /// Container port (`80/tcp`) to the host ports it is published on.
    pub ports: HashMap<String, Vec<u16>>,
}

impl ContainerView {
    pub fn from_json(v: &Value) -> Option<ContainerView> {
        let id = v.get("Id")?.as_str()?.to_string();
        let state = v.get("State");
        let status = state
            .and_then(|s| s.get("Status"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let running = state
            .and_then(|s| s.get("Running"))
            .and_then(Value::as_bool)
            .unwrap_or(status == "running");
        let exit_code = state
            .and_then(|s| s.get("ExitCode"))
            .and_then(Value::as_i64);
        let user = v
            .pointer("/Config/User")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut ports = HashMap::new();
        if let Some(map) = v
            .pointer("/NetworkSettings/Ports")
            .and_then(Value::as_object)
        {
            for (port, bindings) in map {
                let host_ports = bindings
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|b| b.get("HostPort")?.as_str()?.parse().ok())
                    .collect();
                ports.insert(port.clone(), host_ports);
            }
        }
        Some(ContainerView {
            id,
            running,
            status,
            exit_code,
            user,
            ports,
        })
    }
}

/// A container as `GET /containers/json` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ContainerRow {
    pub id: String,
    /// The first name, without Docker's leading `/`.
    pub name: String,
    pub image: String,
    pub labels: HashMap<String, String>,
    pub state: String,
}

pub(crate) fn rows_from_json(v: &Value) -> Vec<ContainerRow> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let id = c.get("Id")?.as_str()?.to_string();
            let name = c
                .get("Names")
                .and_then(Value::as_array)
                .and_then(|n| n.first())
                .and_then(Value::as_str)
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_else(|| id.chars().take(12).collect());
            let labels = c
                .get("Labels")
                .and_then(Value::as_object)
                .map(|l| {
                    l.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            Some(ContainerRow {
                id,
                name,
                image: c
                    .get("Image")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                labels,
                state: c
                    .get("State")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            })
        })
        .collect()
}

/// The Docker API path prefix of the version a client negotiated (`/v1.41`).
pub(super) fn api_prefix(docker: &bollard::Docker) -> String {
    let v = docker.client_version();
    format!("/v{}.{}", v.major_version, v.minor_version)
}

impl DockerEngine {
    /// A container by id or name; `None` when the engine has no such container.
    pub(crate) async fn container_view(
        &self,
        id: &str,
    ) -> Result<Option<ContainerView>, EngineError> {
        let path = format!(
            "{}/containers/{}/json",
            api_prefix(&self.docker),
            raw::encode(id)
        );
        let json = match raw::get_json(&self.docker, "inspecting a container", &path).await {
            Err(EngineError::Refused { message, .. }) if is_not_found(&message) => return Ok(None),
            other => other?,
        };
        ContainerView::from_json(&json).map(Some).ok_or_else(|| {
            EngineError::refused(
                "inspecting a container",
                format!("the engine's answer has no container id: {json}"),
            )
        })
    }

    /// The containers whose labels include each of `labels` (`key` or `key=value`); all
    /// of them, not only the running ones, when `all`.
    pub(crate) async fn container_rows(
        &self,
        all: bool,
        labels: &[String],
    ) -> Result<Vec<ContainerRow>, EngineError> {
        let mut path = format!("{}/containers/json?all={all}", api_prefix(&self.docker));
        if !labels.is_empty() {
            let filters = serde_json::json!({ "label": labels }).to_string();
            path.push_str(&format!("&filters={}", raw::encode(&filters)));
        }
        let json = raw::get_json(&self.docker, "listing containers", &path).await?;
        Ok(rows_from_json(&json))
    }
}

/// An engine's "no such container": Docker's and Podman's wording.
fn is_not_found(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("no such container") || m.contains("no such object")
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::engine::docker::recorded;

    #[test]
    fn podmans_stopped_container_is_read_as_not_running_with_its_exit_code() {
        let view = ContainerView::from_json(&recorded("podman-inspect-stopped.json")).unwrap();
        assert_eq!(view.status, "stopped");
        assert!(!view.running);
        assert_eq!(view.exit_code, Some(1));
        assert_eq!(view.user, "4242");
        // bollard's own model refuses the same answer: the reason this reader exists.
        let typed: Result<bollard::models::ContainerInspectResponse, _> =
            serde_json::from_value(recorded("podman-inspect-stopped.json"));
        assert!(typed.unwrap_err().to_string().contains("stopped"));
    }

    #[test]
    fn a_running_server_has_its_published_port() {
        let view = ContainerView::from_json(&recorded("docker-inspect-running.json")).unwrap();
        assert!(view.running);
        assert_eq!(view.exit_code, Some(0));
        let port = view.ports.get("5000/tcp").unwrap();
        assert_eq!(port.len(), 1);
        assert!(port[0] > 0);
        let podman = ContainerView::from_json(&recorded("podman-inspect-running.json")).unwrap();
        assert!(podman.running);
        assert!(podman.ports.get("80/tcp").is_some_and(|p| p[0] > 0));
    }

    #[test]
    fn listed_containers_keep_their_labels_and_states() {
        let rows = rows_from_json(&recorded("podman-list.json"));
        assert!(!rows.is_empty());
        assert!(rows
            .iter()
            .all(|r| !r.id.is_empty() && !r.name.starts_with('/')));
        assert!(rows.iter().any(|r| r.labels.contains_key("nonroot-lab")));
        assert_eq!(rows_from_json(&Value::Null), vec![]);
    }

    #[test]
    fn missing_fields_read_as_absent() {
        let view = ContainerView::from_json(&serde_json::json!({"Id": "x"})).unwrap();
        assert_eq!(
            view,
            ContainerView {
                id: "x".into(),
                ..Default::default()
            }
        );
        assert!(ContainerView::from_json(&serde_json::json!({})).is_none());
        assert!(is_not_found(
            "no container with name or ID \"x\" found: no such container"
        ));
        assert!(is_not_found("No such container: x"));
    }
}
