//! The fuzzers' kept corpora (`fuzz/corpus/`) and the inputs that once crashed
//! (`fuzz/regressions/`), replayed through the same calls the fuzz targets make: after
//! a change of parser they must still end in findings or a problem, never a panic.

use std::path::Path;
use std::time::Instant;

fn replay(folder: &str, target: &dyn Fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            let started = Instant::now();
            target(&bytes);
            let took = started.elapsed();
            assert!(
                took.as_secs() < 5,
                "{} took {took:?}: a parser that hangs on it",
                path.display()
            );
            count += 1;
        }
    }
    count
}

#[test]
fn every_manifest_of_the_corpus_is_read_without_a_panic() {
    let n = replay("fuzz/corpus/manifest", &|b| {
        let _ = nonroot_lab::audit::manifest::audit("fuzz", b);
    });
    assert!(n > 100, "only {n} inputs: is the corpus there?");
}

#[test]
fn every_dockerfile_of_the_corpus_and_the_regressions_is_read_without_a_panic() {
    let options = nonroot_lab::audit::dockerfile::Options::default();
    let target = |b: &[u8]| {
        let _ = nonroot_lab::audit::dockerfile::audit(
            "fuzz",
            b,
            &options,
            &mut nonroot_lab::audit::dockerfile::NoEngine,
        );
    };
    let n = replay("fuzz/corpus/dockerfile", &target);
    assert!(n > 100, "only {n} inputs: is the corpus there?");
    replay("fuzz/regressions", &target);
}

#[test]
fn every_image_archive_of_the_corpus_is_read_without_a_panic() {
    let n = replay("fuzz/corpus/image_archive", &|b| {
        let _ = nonroot_lab::image_archive::read_stream(b);
    });
    assert!(n >= 5, "only {n} inputs: is the corpus there?");
    // The seeds are real archives: all but the truncated one are read.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/image_archive");
    for name in [
        "docker-save.tar",
        "docker-save.tar.gz",
        "oci-gzip.tar",
        "oci-zstd.tar",
    ] {
        let images =
            nonroot_lab::image_archive::read_stream(&std::fs::read(dir.join(name)).unwrap()[..])
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(images[0].user, "app", "{name}");
        // The upper layer deletes su: nothing setuid is left.
        assert!(
            images[0].files.special.is_empty(),
            "{name}: {:?}",
            images[0].files.special
        );
    }
    let cut = std::fs::read(dir.join("oci-zstd-truncated.tar")).unwrap();
    assert!(nonroot_lab::image_archive::read_stream(&cut[..]).is_err());
}
