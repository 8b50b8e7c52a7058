//! Engine output as it arrives: archives fed to a blocking parser without holding them
//! whole, and output lines kept for the outcome while front ends see them live.

use std::time::Instant;

use bollard::errors::Error as BollardError;
use futures_util::StreamExt;

use super::{classify, LONG};
use crate::engine::chunks;
use crate::engine::{EngineError, OutputSink, Stream};

/// Feeds an engine's byte stream to a blocking parser as it arrives, so a large archive
/// is never held in memory whole.
pub(super) async fn parse_streamed<T: Send + 'static>(
    what: &str,
    mut stream: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = Result<bytes::Bytes, BollardError>> + Send>,
    >,
    parse: fn(chunks::ChunkReader) -> std::io::Result<T>,
) -> Result<T, EngineError> {
    let (tx, reader) = chunks::ChunkReader::channel(16);
    let parser = tokio::task::spawn_blocking(move || parse(reader));
    let deadline = Instant::now() + LONG;
    let mut failure = None;
    loop {
        let next = match tokio::time::timeout_at(deadline.into(), stream.next()).await {
            Ok(n) => n,
            Err(_) => {
                failure = Some(EngineError::timeout(what, LONG));
                break;
            }
        };
        match next {
            None => break,
            // The parser stops reading on a broken archive; then stop sending.
            Some(Ok(chunk)) => {
                if tx.send(chunk).await.is_err() {
                    break;
                }
            }
            Some(Err(BollardError::DockerResponseServerError {
                status_code: 404,
                message,
            })) => {
                failure = Some(EngineError::ImageUnavailable {
                    image: what.to_string(),
                    reason: message,
                });
                break;
            }
            Some(Err(e)) => {
                failure = Some(classify(what, e));
                break;
            }
        }
    }
    drop(tx);
    let parsed = parser
        .await
        .map_err(|e| EngineError::lost(what, e.to_string()))?;
    if let Some(f) = failure {
        return Err(f);
    }
    parsed.map_err(|e| EngineError::lost(what, e.to_string()))
}

pub(super) fn push(into: &mut String, stream: Stream, bytes: &[u8], out: &OutputSink) {
    let text = String::from_utf8_lossy(bytes);
    into.push_str(&text);
    for line in text.lines() {
        if !line.trim().is_empty() {
            out(stream, line);
        }
    }
}
