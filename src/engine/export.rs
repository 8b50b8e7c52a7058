//! Reads a container's exported filesystem (a tar stream) for setuid/setgid files,
//! without holding the whole archive in memory.

use std::io::Read;
use std::sync::mpsc::{Receiver, SyncSender};

use bytes::Bytes;

use super::SpecialFile;

/// A `Read` over chunks sent from the async side; ends when the sender is dropped.
pub struct ChunkReader {
    chunks: Receiver<Bytes>,
    current: Bytes,
}

impl ChunkReader {
    /// A bounded channel: at most `depth` chunks wait in memory.
    pub fn channel(depth: usize) -> (SyncSender<Bytes>, ChunkReader) {
        let (tx, rx) = std::sync::mpsc::sync_channel(depth);
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
            match self.chunks.recv() {
                Ok(chunk) => self.current = chunk,
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// Every regular file with the setuid or setgid bit, in archive order.
pub fn special_files(reader: impl Read) -> std::io::Result<Vec<SpecialFile>> {
    let mut archive = tar::Archive::new(reader);
    let mut found = Vec::new();
    for entry in archive.entries()? {
        let entry = entry?;
        let header = entry.header();
        if !header.entry_type().is_file() {
            continue;
        }
        let mode = header.mode()?;
        if mode & 0o6000 == 0 {
            continue;
        }
        let path = entry.path()?;
        let path = format!("/{}", path.display().to_string().trim_start_matches("./"));
        found.push(SpecialFile {
            path,
            mode,
            uid: header.uid()?,
            gid: header.gid()?,
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(files: &[(&str, u32, u64)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, mode, uid) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(1);
            header.set_mode(*mode);
            header.set_uid(*uid);
            header.set_gid(0);
            header.set_cksum();
            builder.append_data(&mut header, path, &b"x"[..]).unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn finds_setuid_and_setgid_files_with_their_owner() {
        let tar = archive(&[
            ("usr/bin/su", 0o4755, 0),
            ("usr/bin/ls", 0o755, 0),
            ("usr/bin/wall", 0o2755, 0),
            ("opt/mine", 0o4755, 1000),
        ]);
        let found = special_files(&tar[..]).unwrap();
        let paths: Vec<&str> = found.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["/usr/bin/su", "/usr/bin/wall", "/opt/mine"]);
        assert!(found[0].is_root_escalation());
        assert!(found[1].is_root_escalation(), "setgid root group");
        assert!(
            !found[2].is_root_escalation(),
            "setuid to a non-root owner gives no root power"
        );
    }

    #[test]
    fn reads_through_the_chunk_channel() {
        let tar = archive(&[("bin/mount", 0o4755, 0)]);
        let (tx, reader) = ChunkReader::channel(2);
        let feeder = std::thread::spawn(move || {
            // The parser stops at the end-of-archive marker and may hang up before the
            // trailing padding is sent.
            for chunk in tar.chunks(100) {
                if tx.send(Bytes::copy_from_slice(chunk)).is_err() {
                    break;
                }
            }
        });
        let found = special_files(reader).unwrap();
        feeder.join().unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path, "/bin/mount");
    }
}
