//! Hands an engine's byte stream (a saved image, an exported filesystem) to a blocking
//! parser chunk by chunk, without holding the whole archive in memory.

use std::io::Read;

use tokio::sync::mpsc::{Receiver, Sender};

use bytes::Bytes;

/// A `Read` over chunks sent from the async side; ends when the sender is dropped.
/// Read it on a blocking thread: each read may wait for the next chunk.
pub struct ChunkReader {
    chunks: Receiver<Bytes>,
    current: Bytes,
}

impl ChunkReader {
    /// A bounded channel: at most `depth` chunks wait in memory.
    pub fn channel(depth: usize) -> (Sender<Bytes>, ChunkReader) {
        let (tx, rx) = tokio::sync::mpsc::channel(depth);
        (
            tx,
            ChunkReader {
                chunks: rx,
                current: Bytes::new(),
            },
        )
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_through_the_chunk_channel() {
        let tar: Vec<u8> = (0..1000u32).flat_map(|i| i.to_le_bytes()).collect();
        let (tx, reader) = ChunkReader::channel(2);
        let feeder = std::thread::spawn(move || {
            for chunk in tar.chunks(100) {
                if tx.blocking_send(Bytes::copy_from_slice(chunk)).is_err() {
                    break;
                }
            }
        });
        let mut read = Vec::new();
        let mut reader = reader;
        reader.read_to_end(&mut read).unwrap();
        feeder.join().unwrap();
        assert_eq!(read.len(), 4000);
        assert_eq!(&read[..8], &[0, 0, 0, 0, 1, 0, 0, 0]);
    }
}
