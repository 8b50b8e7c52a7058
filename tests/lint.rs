//! `nonroot-lab lint` on the built-in lessons and on broken fixtures.

mod common;
use common::*;

#[test]
fn built_in_lessons_lint_clean() {
    let out = run(&["lint"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stderr.contains("0 errors"), "{stderr}");
}

#[test]
fn every_error_of_a_broken_lab_in_one_run_with_positions() {
    let dir = repo().join("tests/fixtures/broken-lab");
    let out = run(&["lint", dir.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let expected = [
        // Where the unclosed quote and bracket open, not where the file ends.
        ("10-bad-yaml.yaml:2:8:", "unclosed quote"),
        ("11-unknown-field.yaml:6:5:", "unknown field `titel`"),
        ("12-semantic.yaml:10:9:", "duplicate step id `same`"),
        ("12-semantic.yaml:", "has no expectation"),
        (
            "12-semantic.yaml:19:21:",
            "Dockerfile `Dockerfile-missing` does not exist",
        ),
        (
            "12-semantic.yaml:",
            "image `no-such-image` is neither in the image map",
        ),
        ("12-semantic.yaml:22:25:", "does not compile"),
        ("12-semantic.yaml:", "must be mounted read-only"),
        (
            "12-semantic.yaml:",
            "manifest `missing.yaml` does not exist",
        ),
        (
            "12-semantic.yaml:",
            "`audit` takes exactly one of dockerfile, manifest, image",
        ),
        (
            "12-semantic.yaml:",
            "Dockerfile `Dockerfile-nowhere` does not exist",
        ),
        (
            "13-missing-text.yaml:3:7:",
            "the lesson text `nowhere.md` does not exist",
        ),
        ("manifests/broken.yaml:4:18:", "unclosed bracket"),
        // Checks that cannot fail, and controls that cannot run.
        ("14-controls.yaml:5:1:", "step `no-control` has no `control:`"),
        (
            "14-controls.yaml:17:7:",
            "the control does not fit the action: `run` has no such field: unknown field `manifest`",
        ),
        (
            "14-controls.yaml:25:14:",
            "image `no-such-control-image` is neither in the image map",
        ),
        ("14-controls.yaml:31:20:", "exit code 0 alone cannot tell"),
        (
            "14-controls.yaml:40:25:",
            "the regex `uid=.*|` matches an empty output",
        ),
        (
            "14-controls.yaml:49:26:",
            "`created` appears in the step's own command",
        ),
        (
            "14-controls.yaml:58:17:",
            "`sysctl` without `one_of` accepts every value",
        ),
        (
            "14-controls.yaml:65:14:",
            "an observed step shows a value and has no control",
        ),
        // Engine cases: kinds that do not exist, a case that does not fit, and a
        // case's own checks held to every rule a step's are.
        ("15-cases.yaml:8:5:", "`when` names rootles, which is no kind of engine"),
        ("15-cases.yaml:11:5:", "the control's `when` names dockerish"),
        ("15-cases.yaml:19:1:", "case 1 names podmen, which is no kind of engine"),
        ("15-cases.yaml:19:1:", "case 1 needs `says:`"),
        ("15-cases.yaml:19:1:", "case 1's `set` does not fit the action"),
        ("15-cases.yaml:", "exit code 0 alone cannot tell"),
    ];
    for (place, message) in expected {
        assert!(
            stdout
                .lines()
                .any(|l| l.contains(place) && l.contains(message)),
            "no `{place}` line with `{message}` in:\n{stdout}"
        );
    }
    for line in stdout.lines() {
        let parts: Vec<&str> = line.splitn(4, ':').collect();
        assert!(
            parts.len() == 4
                && parts[1].parse::<usize>().is_ok()
                && parts[2].parse::<usize>().is_ok(),
            "not file:line:col: {line}"
        );
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_missing_lab_folder_is_one_clear_line() {
    let out = run(&["lint", "/nonexistent/lab"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("/nonexistent/lab: no such folder"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn a_broken_image_map_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("map.yaml");
    std::fs::write(&map, "ubuntu: a\nnginx: [b\n").unwrap();
    let out = run(&["--images", map.to_str().unwrap(), "lint"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("map.yaml:"), "{stderr}");
}

#[test]
fn unknown_lesson_is_a_usage_error_listing_the_lessons() {
    let out = run(&["verify", "--lesson", "99-nope", "--only", "kubernetes"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no lesson `99-nope`") && stderr.contains("01-why-non-root"),
        "{stderr}"
    );
}
