//! "Your turn", as a learner meets it: the workspace, `check` on the untouched scaffold
//! made as the task says (it must fail), the solution applied in the workspace with bash
//! (it must pass), and the bad input a learner gives.

mod common;
use common::learner::Learner;
use common::*;

use std::path::PathBuf;
use std::process::{Command, Output};

use nonroot_lab::lesson::model::{Platform, Step};
use nonroot_lab::lesson::{LabFiles, Lesson};
use nonroot_lab::workspace::{self, Workspace};

use common::learner::KUBE_NS;

fn exercises(platform: Platform) -> Vec<(Lesson, Step)> {
    let files = LabFiles::embedded();
    let mut found = Vec::new();
    for lesson in files.lessons().unwrap() {
        for step in &lesson.steps {
            if step.exercise.is_some() && step.platform == platform {
                found.push((lesson.clone(), step.clone()));
            }
        }
    }
    found
}

fn code_and_text(out: &Output) -> (Option<i32>, String) {
    let (o, e) = text(out);
    (out.status.code(), format!("{o}{e}"))
}

/// One exercise, as a learner meets it: the scaffold made as the task says fails the
/// check, the printed solution run in the workspace passes it, and progress says so.
fn prove(lesson: &Lesson, step: &Step) {
    prove_as(
        &Learner::new(&step.id[..step.id.len().min(12)]),
        lesson,
        step,
    );
}

fn prove_as(learner: &Learner, lesson: &Lesson, step: &Step) {
    let dir = learner.workspace(&lesson.id);
    let ws = Workspace::existing(&dir, &learner.prefix, KUBE_NS).expect("the workspace's id");
    // The negative control: the untouched scaffold, made as the task says.
    let make = workspace::make_script(step, &ws, &images()).unwrap();
    if !make.is_empty() {
        let out = learner.bash(&dir, &make);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: make: {:?}",
            step.id,
            text(&out)
        );
    }
    let (code, said) = code_and_text(&learner.lab(&["check", &lesson.id, &step.id]));
    assert_eq!(
        code,
        Some(1),
        "{}/{} on the scaffold:\n{said}",
        lesson.id,
        step.id
    );
    assert!(said.contains("NOT YET") && said.contains("FAIL"), "{said}");
    assert!(said.contains("nonroot-lab solution"), "{said}");
    // The learner applies the solution in the workspace, as printed.
    let out = learner.lab(&["solution", &lesson.id, &step.id]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let script = text(&out).0;
    let out = learner.bash(&dir, &script);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}: solution: {:?}",
        step.id,
        text(&out)
    );
    let (code, said) = code_and_text(&learner.lab(&["check", &lesson.id, &step.id]));
    assert_eq!(
        code,
        Some(0),
        "{}/{} after the solution:\n{said}",
        lesson.id,
        step.id
    );
    assert!(said.contains("PASS"), "{said}");
    // Progress says the learner did it, with the tries and the solution shown.
    let progress: serde_json::Value = serde_json::from_slice(
        &std::fs::read(learner.home.join("state/nonroot-lab/progress.json")).unwrap(),
    )
    .unwrap();
    let record = &progress["steps"][&lesson.id][&step.id];
    assert_eq!(record["status"], "passed", "{progress}");
    assert_eq!(record["by"], "learner", "{progress}");
    assert_eq!(record["tries"], 2, "{progress}");
    assert_eq!(record["solution_shown"], true, "{progress}");
}

#[tokio::test]
async fn every_docker_exercise_fails_made_from_its_scaffold_and_passes_with_its_solution() {
    if docker_or_skip().await.is_none() {
        return;
    }
    let found = exercises(Platform::Docker);
    assert!(found.len() >= 8, "exercises: {}", found.len());
    let rootless = rootless_configured();
    for (lesson, step) in &found {
        if step.engine == nonroot_lab::lesson::model::EngineChoice::Rootless && !rootless {
            // Without a rootless engine the check says it cannot check, and why.
            let learner = Learner::new("no-rootless");
            let (code, said) = code_and_text(&learner.lab(&["check", &lesson.id, &step.id]));
            assert_eq!(code, Some(2), "{said}");
            assert!(said.contains("NONROOT_LAB_ROOTLESS_HOST"), "{said}");
            continue;
        }
        prove(lesson, step);
    }
}

/// A learner on rootless Docker or Podman, as the user who runs it, or on Docker with
/// userns-remap (their engine is `DOCKER_HOST`): every Docker exercise fails as
/// scaffolded and passes solved, each checked, and solved, in the case of that engine.
#[tokio::test]
async fn every_docker_exercise_is_true_for_a_learner_on_a_remapped_or_rootless_engine() {
    if docker_or_skip().await.is_none() {
        return;
    }
    let mut engines = rootless_engines();
    // A learner whose own engine remaps ids (run by root, so the learner may be root).
    engines.extend(userns_host().map(|h| ("userns-docker", h)));
    for (kind, host) in engines {
        ensure_lab_images_on(&host);
        for (lesson, step) in &exercises(Platform::Docker) {
            eprintln!("{kind}: {}/{}", lesson.id, step.id);
            let learner = Learner::on_engine(&step.id[..step.id.len().min(12)], &host);
            if step.engine == nonroot_lab::lesson::model::EngineChoice::Rootless
                && !kind.starts_with("rootless")
            {
                // Lesson 09's needs a rootless engine, which this learner has not.
                let (code, said) = code_and_text(&learner.lab(&["check", &lesson.id, &step.id]));
                assert_eq!(code, Some(2), "{said}");
                assert!(said.contains("NONROOT_LAB_ROOTLESS_HOST"), "{said}");
                continue;
            }
            prove_as(&learner, lesson, step);
        }
    }
}

#[tokio::test]
async fn every_kubernetes_exercise_fails_made_from_its_scaffold_and_passes_with_its_solution() {
    if common::kube::cluster_or_skip().await.is_none() {
        return;
    }
    let found = exercises(Platform::Kubernetes);
    assert!(!found.is_empty());
    // A namespace an earlier run left terminating refuses new pods: wait it out.
    let _ = Command::new("kubectl")
        .args([
            "wait",
            "--for=delete",
            &format!("namespace/{KUBE_NS}"),
            "--timeout=90s",
        ])
        .output();
    let _namespace_goes = DeleteNamespace(KUBE_NS);
    for (lesson, step) in &found {
        prove(lesson, step);
    }
}

/// The tests' namespace goes at the end, passed or not (the learner made it, as
/// `apply.sh` does: the lab's `cleanup` would rightly leave it).
struct DeleteNamespace(&'static str);

impl Drop for DeleteNamespace {
    fn drop(&mut self) {
        let _ = Command::new("kubectl")
            .args([
                "delete",
                "namespace",
                self.0,
                "--ignore-not-found",
                "--timeout=90s",
            ])
            .output();
    }
}

#[tokio::test]
async fn an_image_with_the_right_name_but_not_built_from_the_workspace_fails() {
    if docker_or_skip().await.is_none() {
        return;
    }
    let learner = Learner::new("elsewhere");
    let dir = learner.workspace("04");
    // The solved Dockerfile, built from another folder: same USER, another hello.sh.
    let other = learner.home.join("other");
    std::fs::create_dir_all(&other).unwrap();
    let dockerfile = std::fs::read_to_string(dir.join("Dockerfile"))
        .unwrap()
        .replace("USER www-data", "USER 4242");
    std::fs::write(other.join("Dockerfile"), dockerfile).unwrap();
    std::fs::write(
        other.join("hello.sh"),
        "echo hello from workspace 000000000000 as uid $(id -u)\n",
    )
    .unwrap();
    let image = format!("{}my-numeric-user", learner.prefix);
    let out = learner.bash(&other, &format!("docker build -q -t {image} ."));
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let (code, said) = code_and_text(&learner.lab(&["check", "04", "your-turn-numeric-user"]));
    assert_eq!(code, Some(1), "{said}");
    let id = std::fs::read_to_string(dir.join(".nonroot-lab-id")).unwrap();
    // The user is right; the content is not this workspace's.
    assert!(said.contains("ok   image_user"), "{said}");
    assert!(
        said.contains(&format!(
            "FAIL stdout_contains expected: stdout contains `hello from workspace {}`",
            id.trim()
        )),
        "{said}"
    );
}

#[test]
fn check_on_a_step_that_is_not_an_exercise_names_the_lessons_exercises() {
    let learner = Learner::new("notex");
    let (code, said) = code_and_text(&learner.lab(&["check", "04", "build-user-4242"]));
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("is not an exercise"), "{said}");
    assert!(said.contains("your-turn-numeric-user"), "{said}");
    let (code, said) = code_and_text(&learner.lab(&["check", "04", "no-such-step"]));
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("its exercises are: your-turn-numeric-user"),
        "{said}"
    );
    let (code, said) = code_and_text(&learner.lab(&["solution", "04", "build-user-4242"]));
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("is not an exercise"), "{said}");
}

#[test]
fn a_scaffold_edited_into_something_that_does_not_parse_is_pointed_at() {
    let learner = Learner::new("broken");
    let dir = learner.workspace("08");
    std::fs::write(dir.join("Dockerfile"), "FROM scratch\nUSRE 4242\n").unwrap();
    let (code, said) = code_and_text(&learner.lab(&["check", "08", "your-turn-pass-the-audit"]));
    assert_eq!(code, Some(1), "{said}");
    let at = format!(
        "{}:2: unknown instruction `USRE`",
        dir.join("Dockerfile").display()
    );
    assert!(said.contains(&at), "{said}");
    assert!(said.contains("does not parse"), "{said}");
}

#[test]
fn a_workspace_that_cannot_be_made_is_one_clear_error() {
    let learner = Learner::new("nowrite");
    // A file where the data folder should be: nothing can be made under it.
    std::fs::write(learner.home.join("data"), "not a folder").unwrap();
    let (code, said) = code_and_text(&learner.lab(&["workspace", "04"]));
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("cannot create the workspace folder"),
        "{said}"
    );
    assert!(
        said.contains(&learner.home.join("data").display().to_string()),
        "{said}"
    );
    assert!(said.contains("XDG_DATA_HOME"), "{said}");
    assert_eq!(said.lines().count(), 1, "{said}");
}

#[test]
fn the_workspace_keeps_the_learners_edits() {
    let learner = Learner::new("keeps");
    let dir = learner.workspace("04");
    let first = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
    assert!(first.contains("USER www-data"), "{first}");
    assert!(!first.contains("{{"), "placeholders left: {first}");
    std::fs::write(dir.join("Dockerfile"), "FROM scratch\nUSER 4242\n").unwrap();
    let again = learner.workspace("04");
    assert_eq!(again, dir);
    assert_eq!(
        std::fs::read_to_string(dir.join("Dockerfile")).unwrap(),
        "FROM scratch\nUSER 4242\n"
    );
}

#[test]
fn list_as_json_marks_the_exercises_and_gives_each_lessons_workspace() {
    let learner = Learner::new("list");
    let out = learner.lab(&["list", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let json: serde_json::Value = serde_json::from_str(&text(&out).0).unwrap();
    let lessons = json["lessons"].as_array().unwrap();
    assert_eq!(lessons.len(), 9);
    let mut exercises = 0;
    for l in lessons {
        let id = l["id"].as_str().unwrap();
        assert!(l["title"].is_string());
        let ws = l["workspace"].as_str().unwrap();
        assert_eq!(
            PathBuf::from(ws),
            learner.home.join("data/nonroot-lab/workspace").join(id)
        );
        for s in l["steps"].as_array().unwrap() {
            assert!(s["id"].is_string() && s["title"].is_string(), "{s}");
            assert!(
                ["docker", "kubernetes", "docker-userns", "docker-rootless"]
                    .contains(&s["platform"].as_str().unwrap()),
                "{s}"
            );
            if s["exercise"].as_bool().unwrap() {
                exercises += 1;
            }
        }
    }
    assert_eq!(exercises, exercises_total(), "{json}");
}

fn exercises_total() -> usize {
    exercises(Platform::Docker).len() + exercises(Platform::Kubernetes).len()
}

#[test]
fn reset_asks_then_puts_the_starting_files_back_and_leaves_what_was_made() {
    let learner = Learner::new("reset");
    let dir = learner.workspace("04");
    let first = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
    std::fs::write(dir.join("Dockerfile"), "FROM scratch\n").unwrap();
    // Not a terminal and no --yes: it refuses rather than overwrite unasked.
    let (code, said) = code_and_text(&learner.lab(&["workspace", "04", "--reset"]));
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("--yes"), "{said}");
    assert_eq!(
        std::fs::read_to_string(dir.join("Dockerfile")).unwrap(),
        "FROM scratch\n"
    );
    let (code, said) = code_and_text(&learner.lab(&["workspace", "04", "--reset", "--yes"]));
    assert_eq!(code, Some(0), "{said}");
    assert_eq!(
        std::fs::read_to_string(dir.join("Dockerfile")).unwrap(),
        first
    );
    // The image the learner may have built is theirs: named, never removed.
    assert!(
        said.contains(&format!("docker rmi {}my-numeric-user", learner.prefix)),
        "{said}"
    );
}
