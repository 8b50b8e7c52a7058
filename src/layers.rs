//! Reads an image's layers: every layer's setuid/setgid files and `/etc/passwd`, then the
//! layers stacked in order with whiteouts applied, as the container would see its
//! filesystem. Nothing is run and no container is created. Two sources give the same
//! answer: the archive `docker save` streams (legacy and OCI layouts, any engine), and,
//! when the engine is local and overlay-based, its layer folders read directly.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::Path;

use crate::facts::SpecialFile;

/// What the stacked layers hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageFiles {
    /// Regular files with the setuid or setgid bit, by path.
    pub special: Vec<SpecialFile>,
    /// The final `/etc/passwd`, to resolve a named user.
    pub passwd: Option<String>,
    pub layers: usize,
}

/// The id the kernel shows for a host id outside a container's map.
const OVERFLOW_ID: u64 = 65534;

impl ImageFiles {
    /// Owners as the image has them, from owners as a remapped engine stores them on the
    /// host (root's files as the engine's user, uid N as a subordinate id).
    pub fn owners_mapped_back(mut self, maps: &crate::engine::kind::IdMaps) -> ImageFiles {
        let back = |map: &crate::engine::kind::IdMap, host: u64| {
            u32::try_from(host)
                .ok()
                .and_then(|h| map.to_container(h))
                .map_or(OVERFLOW_ID, u64::from)
        };
        for f in &mut self.special {
            f.uid = back(&maps.uid, f.uid);
            f.gid = back(&maps.gid, f.gid);
        }
        self
    }
}

/// What one layer adds, deletes and hides.
#[derive(Debug, Default, Clone)]
pub(crate) struct Layer {
    pub(crate) special: Vec<SpecialFile>,
    /// Every path the layer writes: it hides the same path in the layers below.
    paths: HashSet<String>,
    whiteouts: Vec<String>,
    opaque: Vec<String>,
    passwd: Option<String>,
}

const PASSWD_LIMIT: u64 = 4 * 1024 * 1024;

/// Reads a `docker save` archive of one image from `reader` in one pass (the engine
/// streams it); [`crate::image_archive`] reads it, as it reads archives on disk.
pub fn scan_saved_image(reader: impl Read) -> std::io::Result<ImageFiles> {
    let mut images = crate::image_archive::read_stream(reader).map_err(|e| invalid(&e))?;
    if images.is_empty() {
        return Err(invalid("the saved archive holds no image"));
    }
    Ok(images.swap_remove(0).files)
}

pub(crate) fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

fn invalid(message: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message.to_string())
}

/// Records `name` in `dir` as a whiteout (`.wh.NAME` deletes NAME, `.wh..wh..opq` hides
/// everything below `dir`); `false` when it is an ordinary entry.
fn whiteout(layer: &mut Layer, dir: &str, name: &str) -> bool {
    let Some(hidden) = name.strip_prefix(".wh.") else {
        return false;
    };
    if hidden == ".wh..opq" {
        layer.opaque.push(if dir.is_empty() {
            "/".into()
        } else {
            dir.to_string()
        });
    } else {
        layer.whiteouts.push(format!("{dir}/{hidden}"));
    }
    true
}

fn absolute(path: &str) -> String {
    let trimmed = path
        .trim_start_matches("./")
        .trim_start_matches('/')
        .trim_end_matches('/');
    format!("/{trimmed}")
}

pub(crate) fn scan_layer(reader: impl Read) -> std::io::Result<Layer> {
    let mut archive = tar::Archive::new(reader);
    let mut layer = Layer::default();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = absolute(&entry.path()?.to_string_lossy());
        let (parent, base) = path.rsplit_once('/').unwrap_or(("", &path));
        if whiteout(&mut layer, parent, base) {
            continue;
        }
        let header = entry.header();
        let kind = header.entry_type();
        // Some layers' headers carry the file type bits too (0o104755): keep the permissions.
        let mode = header.mode()? & 0o7777;
        if (kind.is_file() || kind.is_hard_link()) && mode & 0o6000 != 0 {
            layer.special.push(SpecialFile {
                path: path.clone(),
                mode,
                uid: header.uid()?,
                gid: header.gid()?,
                layer: 0,
            });
        }
        if path == "/etc/passwd" && kind.is_file() && header.size()? <= PASSWD_LIMIT {
            let mut text = String::new();
            entry.read_to_string(&mut text).ok();
            layer.passwd = Some(text);
        }
        layer.paths.insert(path);
    }
    Ok(layer)
}

/// Reads layer folders (an overlay driver's `diff` directories), the lowest first.
pub fn scan_layer_dirs(dirs: &[&Path]) -> std::io::Result<ImageFiles> {
    let mut layers = HashMap::new();
    let mut order = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        let mut layer = Layer::default();
        walk_dir(dir, "", &mut layer)?;
        let name = i.to_string();
        layers.insert(name.clone(), layer);
        order.push(name);
    }
    stack_named(&order, &layers)
}

fn walk_dir(root: &Path, rel: &str, layer: &mut Layer) -> std::io::Result<()> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    for entry in std::fs::read_dir(root.join(rel.trim_start_matches('/')))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        let path = format!("{rel}/{name}");
        let meta = entry.path().symlink_metadata()?;
        let kind = meta.file_type();
        if whiteout(layer, rel, &name) {
            continue;
        }
        // overlay2 marks a deletion with a 0:0 character device.
        if kind.is_char_device() && meta.rdev() == 0 {
            layer.whiteouts.push(path);
            continue;
        }
        if kind.is_file() && meta.mode() & 0o6000 != 0 {
            layer.special.push(SpecialFile {
                path: path.clone(),
                mode: meta.mode() & 0o7777,
                uid: u64::from(meta.uid()),
                gid: u64::from(meta.gid()),
                layer: 0,
            });
        }
        if path == "/etc/passwd" && kind.is_file() && meta.len() <= PASSWD_LIMIT {
            layer.passwd = std::fs::read_to_string(entry.path()).ok();
        }
        if kind.is_dir() {
            if opaque_dir(&entry.path()) {
                layer.opaque.push(path.clone());
            }
            walk_dir(root, &path, layer)?;
        }
        layer.paths.insert(path);
    }
    Ok(())
}

/// overlay2 marks a directory that hides the layers below with an xattr.
fn opaque_dir(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    let names: [&std::ffi::CStr; 2] = [c"trusted.overlay.opaque", c"user.overlay.opaque"];
    names.iter().any(|name| {
        let mut value = [0u8; 1];
        // SAFETY: both strings are NUL-terminated and the buffer's length is passed.
        let n = unsafe {
            libc::lgetxattr(
                c_path.as_ptr(),
                name.as_ptr(),
                value.as_mut_ptr().cast(),
                value.len(),
            )
        };
        n == 1 && value[0] == b'y'
    })
}

fn under(path: &str, dir: &str) -> bool {
    dir == "/" || path == dir || path.starts_with(&format!("{dir}/"))
}

/// The layers named in `order`, the lowest first, stacked.
pub(crate) fn stack_named(
    order: &[String],
    layers: &HashMap<String, Layer>,
) -> std::io::Result<ImageFiles> {
    let mut special: BTreeMap<String, SpecialFile> = BTreeMap::new();
    let mut passwd: Option<String> = None;
    for (index, name) in order.iter().enumerate() {
        let layer = layers.get(name).ok_or_else(|| {
            invalid(&format!(
                "the layer {name} is named in the manifest but not in the archive"
            ))
        })?;
        for gone in &layer.whiteouts {
            special.retain(|p, _| !under(p, gone));
            if under("/etc/passwd", gone) {
                passwd = None;
            }
        }
        for dir in &layer.opaque {
            special.retain(|p, _| !(p.starts_with(&format!("{dir}/")) || dir == "/"));
            if under("/etc/passwd", dir) && dir != "/etc/passwd" {
                passwd = None;
            }
        }
        special.retain(|p, _| !layer.paths.contains(p));
        for f in &layer.special {
            let mut f = f.clone();
            f.layer = index + 1;
            special.insert(f.path.clone(), f);
        }
        if layer.passwd.is_some() {
            passwd = layer.passwd.clone();
        } else if layer.paths.contains("/etc/passwd") {
            // Replaced by something that is not a readable file.
            passwd = None;
        }
    }
    Ok(ImageFiles {
        special: special.into_values().collect(),
        passwd,
        layers: order.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(files: &[(&str, u32, u64)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, mode, uid) in files {
            let body: &[u8] = if *path == "etc/passwd" {
                b"root:x:0:0::/root:/bin/sh\napp:x:0:0::/:/bin/sh\n"
            } else {
                b"x"
            };
            let mut header = tar::Header::new_gnu();
            header.set_size(body.len() as u64);
            header.set_mode(*mode);
            header.set_uid(*uid);
            header.set_gid(0);
            header.set_cksum();
            builder.append_data(&mut header, path, body).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn saved(layers: &[Vec<u8>], oci: bool) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut names = Vec::new();
        for (i, l) in layers.iter().enumerate() {
            let name = if oci {
                use sha2::Digest;
                let hex: String = sha2::Sha256::digest(l)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                format!("blobs/sha256/{hex}")
            } else {
                format!("{i:064}/layer.tar")
            };
            let mut header = tar::Header::new_gnu();
            header.set_size(l.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, &name, &l[..]).unwrap();
            names.push(name);
        }
        let manifest = serde_json::json!([{ "Config": "c.json", "Layers": names }]).to_string();
        for (name, text) in [("c.json", r#"{"config":{}}"#), ("manifest.json", &manifest)] {
            let mut header = tar::Header::new_gnu();
            header.set_size(text.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, name, text.as_bytes())
                .unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn paths(files: &ImageFiles) -> Vec<&str> {
        files.special.iter().map(|f| f.path.as_str()).collect()
    }

    #[test]
    fn whiteouts_and_overrides_apply_in_layer_order() {
        let base = layer(&[
            ("usr/bin/su", 0o4755, 0),
            ("usr/bin/passwd", 0o4755, 0),
            ("usr/bin/wall", 0o2755, 0),
            ("opt/tool/x", 0o4755, 0),
            ("etc/passwd", 0o644, 0),
        ]);
        let top = layer(&[
            ("usr/bin/.wh.su", 0o644, 0),
            ("usr/bin/passwd", 0o755, 0),
            ("opt/tool/.wh..wh..opq", 0o644, 0),
            ("usr/local/bin/id-suid", 0o4755, 0),
        ]);
        for oci in [false, true] {
            let files = scan_saved_image(&saved(&[base.clone(), top.clone()], oci)[..]).unwrap();
            assert_eq!(
                paths(&files),
                ["/usr/bin/wall", "/usr/local/bin/id-suid"],
                "oci={oci}"
            );
            assert_eq!(files.layers, 2);
            assert!(files.passwd.as_deref().unwrap().contains("app:x:0"));
        }
    }

    #[test]
    fn a_deleted_directory_takes_its_files() {
        let base = layer(&[("opt/a/b", 0o4755, 0), ("opt/c", 0o4755, 0)]);
        let top = layer(&[("opt/.wh.a", 0o644, 0)]);
        let files = scan_saved_image(&saved(&[base, top], false)[..]).unwrap();
        assert_eq!(paths(&files), ["/opt/c"]);
    }

    #[test]
    fn layer_folders_give_what_the_archive_gives() {
        let tmp = tempfile::tempdir().unwrap();
        let (base, top) = (tmp.path().join("base"), tmp.path().join("top"));
        let file = |root: &Path, rel: &str, mode: u32| {
            use std::os::unix::fs::PermissionsExt;
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, b"x").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        file(&base, "usr/bin/su", 0o4755);
        file(&base, "usr/bin/passwd", 0o4755);
        file(&base, "opt/tool/x", 0o4755);
        file(&base, "usr/bin/ls", 0o755);
        file(&top, "usr/bin/.wh.su", 0o644);
        file(&top, "usr/bin/passwd", 0o755);
        file(&top, "opt/tool/.wh..wh..opq", 0o644);
        file(&top, "usr/local/bin/id-suid", 0o4755);
        let files = scan_layer_dirs(&[&base, &top]).unwrap();
        let me = unsafe { libc::getuid() } as u64;
        let expected: Vec<&str> = vec!["/usr/local/bin/id-suid"];
        assert_eq!(paths(&files), expected);
        assert_eq!(files.special[0].uid, me);
        assert_eq!(files.layers, 2);
    }

    #[test]
    fn no_manifest_is_an_error() {
        let mut builder = tar::Builder::new(Vec::new());
        let l = layer(&[("a", 0o644, 0)]);
        let mut header = tar::Header::new_gnu();
        header.set_size(l.len() as u64);
        header.set_cksum();
        builder
            .append_data(&mut header, "x/layer.tar", &l[..])
            .unwrap();
        let bytes = builder.into_inner().unwrap();
        assert!(scan_saved_image(&bytes[..]).is_err());
    }
}
