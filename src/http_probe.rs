//! A minimal HTTP/1.0 GET, enough to ask a lab server whether it answers; the lab needs
//! no HTTP client library for one request.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::engine::HttpAnswer;

/// Bodies are cut here: checks look for a phrase, not a download.
const MAX_BODY: usize = 64 * 1024;

pub async fn get(host: &str, port: u16, path: &str, wait: Duration) -> std::io::Result<HttpAnswer> {
    let attempt = async {
        let mut stream = TcpStream::connect((host, port)).await?;
        let request = format!(
            "GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nUser-Agent: nonroot-lab\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream
            .take(MAX_BODY as u64 + 8192)
            .read_to_end(&mut raw)
            .await?;
        parse(&raw)
    };
    tokio::time::timeout(wait, attempt)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in time"))?
}

/// Reads the status and body of a raw HTTP answer.
pub fn parse(raw: &[u8]) -> std::io::Result<HttpAnswer> {
    let bad = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string());
    let text = String::from_utf8_lossy(raw);
    let status_line = text.lines().next().ok_or_else(|| bad("empty answer"))?;
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/") {
        return Err(bad("not an HTTP answer"));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status code"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.chars().take(MAX_BODY).collect())
        .unwrap_or_default();
    Ok(HttpAnswer { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_body() {
        let a = parse(b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n<h1>hi</h1>").unwrap();
        assert_eq!(a.status, 200);
        assert_eq!(a.body, "<h1>hi</h1>");
        assert!(parse(b"SSH-2.0-OpenSSH\r\n").is_err());
    }

    #[tokio::test]
    async fn talks_to_a_real_socket() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf).await;
            s.write_all(b"HTTP/1.0 404 Not Found\r\n\r\nnope")
                .await
                .unwrap();
        });
        let a = get("127.0.0.1", port, "/", Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!((a.status, a.body.as_str()), (404, "nope"));
    }
}
