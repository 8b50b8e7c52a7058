//! Plain JSON GETs through bollard's own transport (unix socket, TCP, TLS), for the
//! answers its typed models cannot take: Podman's own API (`/libpod/info`), and the
//! Docker API's answers where Podman differs (a container state `stopped`, which
//! bollard's enums refuse). bollard has no public raw request, so the path travels in
//! the name of a container export, and a request modifier puts it back in the URI.

use bollard::Docker;
use futures_util::StreamExt;

use super::{classify, CALL};
use crate::engine::EngineError;

/// The container name that carries a raw path: the marker, then the path in hex.
const MARK: &str = "nonroot-lab-raw.";

/// The client every request of the engine goes through: requests carrying a raw path
/// are sent to that path instead; all others are left as they are.
pub(super) fn with_raw_paths(docker: Docker) -> Docker {
    docker.with_request_modifier(|mut request| {
        if let Some(target) = raw_target(request.uri().path()) {
            let uri = request.uri().clone();
            let mut parts = http::uri::Builder::new();
            if let Some(scheme) = uri.scheme() {
                parts = parts.scheme(scheme.clone());
            }
            if let Some(authority) = uri.authority() {
                parts = parts.authority(authority.clone());
            }
            if let Ok(rebuilt) = parts.path_and_query(target.as_str()).build() {
                *request.uri_mut() = rebuilt;
            }
        }
        request
    })
}

/// The path a marked export request stands for.
fn raw_target(path: &str) -> Option<String> {
    let start = path.find(MARK)? + MARK.len();
    let hex = path[start..].split('/').next()?;
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok().filter(|t| t.starts_with('/'))
}

fn marked(path: &str) -> String {
    let hex: String = path.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{MARK}{hex}")
}

/// GETs `path` (with its query) and reads the answer as JSON. An answer that is no JSON
/// is the engine's, not a lost engine: it says so.
pub(super) async fn get_json(
    docker: &Docker,
    what: &str,
    path: &str,
) -> Result<serde_json::Value, EngineError> {
    let read = async {
        let mut body = Vec::new();
        let mut stream = docker.export_container(&marked(path));
        while let Some(chunk) = stream.next().await {
            body.extend_from_slice(&chunk.map_err(|e| classify(what, e))?);
        }
        Ok::<_, EngineError>(body)
    };
    let body = tokio::time::timeout(CALL, read)
        .await
        .map_err(|_| EngineError::timeout(what, CALL))??;
    serde_json::from_slice(&body).map_err(|e| {
        EngineError::refused(
            what,
            format!(
                "the engine's answer is not the JSON the lab expected ({e}): {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ),
        )
    })
}

/// A query string value, percent-encoded.
pub(super) fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marked_export_carries_its_path_back() {
        let path = "/v4.0.0/libpod/info?x=1&f=%7B%7D";
        let uri = format!("/containers/{}/export", marked(path));
        assert_eq!(raw_target(&uri).as_deref(), Some(path));
        assert_eq!(raw_target("/containers/some-container/export"), None);
        assert_eq!(raw_target("/containers/nonroot-lab-raw.zz/export"), None);
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            encode(r#"{"label":["nonroot-lab"]}"#),
            "%7B%22label%22%3A%5B%22nonroot-lab%22%5D%7D"
        );
    }
}
