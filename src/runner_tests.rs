use std::collections::BTreeMap;

use super::*;
use crate::engine::fake::{Behaviour, FakeEngine};

/// A lab of the given lessons (id -> steps YAML), each with a text file.
fn lab(lessons: &[(&str, &str)]) -> (Arc<LabFiles>, Vec<Lesson>) {
    let mut files = BTreeMap::new();
    for (id, steps) in lessons {
        let manifest = format!("id: {id}\ntitle: Lesson {id}\ntext: {id}.md\nsteps:\n{steps}");
        files.insert(format!("lessons/{id}.yaml"), manifest.into_bytes());
        files.insert(format!("lessons/{id}.md"), b"# Text\n".to_vec());
    }
    files.insert("dockerfiles/Dockerfile-1".into(), b"FROM x\n".to_vec());
    files.insert(
        "manifests/root-pod.yaml".into(),
        b"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: c, image: x}\n".to_vec(),
    );
    let files = LabFiles { root: None, files };
    let lessons = files.lessons().expect("the test lab loads");
    (Arc::new(files), lessons)
}

const RUN: &str = "  - id: STEP\n    title: t\n    section: s\n    action: {run: {image: ubuntu, cmd: [id]}}\n    expect: [{exit_code: 0}]\n";

fn run_step(id: &str) -> String {
    RUN.replace("STEP", id)
}

fn plan(files: Arc<LabFiles>, lessons: Vec<Lesson>, jobs: usize) -> Plan {
    Plan {
        lessons,
        files,
        images: ImageMap::default(),
        run_id: "run1".into(),
        only: None,
        jobs,
        target: None,
        controls: false,
    }
}

fn on(fake: &Arc<FakeEngine>) -> Engines {
    Engines {
        docker: Some(fake.clone() as Arc<dyn Engine>),
        ..Default::default()
    }
}

async fn run(plan: Plan, engines: Engines, cancel: CancellationToken) -> Vec<StepReport> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let handle = spawn(plan, engines, cancel, tx);
    while rx.recv().await.is_some() {}
    handle.await.unwrap()
}

#[tokio::test]
async fn a_panic_in_a_step_is_that_steps_error_and_the_step_still_ends() {
    let steps = run_step("boom") + &run_step("after");
    let (files, lessons) = lab(&[("01-a", &steps)]);
    let fake = Arc::new(FakeEngine::default().behave("boom", Behaviour::Panic));
    let reports = run(plan(files, lessons, 1), on(&fake), CancellationToken::new()).await;
    assert_eq!(reports[0].status, Status::Error);
    let reason = reports[0].reason.clone().unwrap();
    assert!(reason.contains("the lab itself failed"), "{reason}");
    assert!(
        reason.contains("the fake engine panics in boom"),
        "{reason}"
    );
    assert_eq!(reports[1].status, Status::Passed, "the next step runs");
    let calls = fake.calls();
    let ended = calls.iter().position(|c| c == "end_step boom");
    let next = calls.iter().position(|c| c.starts_with("perform after"));
    assert!(ended.is_some() && ended < next, "{calls:?}");
    assert!(calls.contains(&"end_lesson 01-a".to_string()), "{calls:?}");
}

#[tokio::test(start_paused = true)]
async fn a_step_past_its_timeout_is_an_error_and_is_ended() {
    let steps = run_step("slow").replace("    expect:", "    timeout: 5\n    expect:");
    let (files, lessons) = lab(&[("01-a", &steps)]);
    let fake = Arc::new(FakeEngine::default().behave("slow", Behaviour::Hang));
    let reports = run(plan(files, lessons, 1), on(&fake), CancellationToken::new()).await;
    assert_eq!(reports[0].status, Status::Error);
    let reason = reports[0].reason.clone().unwrap();
    assert!(reason.contains("did not finish within 5 s"), "{reason}");
    assert!(fake.calls().contains(&"end_step slow".to_string()));
}

#[tokio::test]
async fn an_interrupt_ends_the_running_step_and_starts_no_other() {
    let steps = run_step("hangs") + &run_step("never");
    let (files, lessons) = lab(&[("01-a", &steps)]);
    let fake = Arc::new(FakeEngine::default().behave("hangs", Behaviour::Hang));
    let cancel = CancellationToken::new();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let handle = spawn(plan(files, lessons, 1), on(&fake), cancel.clone(), tx);
    while let Some(event) = rx.recv().await {
        if matches!(event, Event::StepStarted { .. }) {
            cancel.cancel();
        }
    }
    let reports = handle.await.unwrap();
    assert_eq!(reports[0].status, Status::Error);
    assert_eq!(reports[0].reason.as_deref(), Some("stopped: interrupted"));
    assert_eq!(reports[1].status, Status::Skipped);
    assert_eq!(
        reports[1].reason.as_deref(),
        Some("interrupted before it started")
    );
    let calls = fake.calls();
    assert!(calls.contains(&"end_step hangs".to_string()), "{calls:?}");
    assert!(
        !calls.iter().any(|c| c.starts_with("perform never")),
        "{calls:?}"
    );
}

#[tokio::test]
async fn an_engine_error_is_the_steps_error_with_the_engines_words() {
    let (files, lessons) = lab(&[("01-a", &run_step("refused"))]);
    let refusal = EngineError::Refused {
        what: "creating a container".into(),
        message: "no such image".into(),
    };
    let fake = Arc::new(FakeEngine::default().behave("refused", Behaviour::Fail(refusal)));
    let reports = run(plan(files, lessons, 1), on(&fake), CancellationToken::new()).await;
    assert_eq!(reports[0].status, Status::Error);
    assert_eq!(
        reports[0].reason.as_deref(),
        Some("the engine refused creating a container: no such image")
    );
}

#[tokio::test]
async fn a_failed_expectation_fails_the_step() {
    let (files, lessons) = lab(&[("01-a", &run_step("exits"))]);
    let outcome = crate::engine::Outcome {
        exit_code: Some(3),
        ..Default::default()
    };
    let fake =
        Arc::new(FakeEngine::default().behave("exits", Behaviour::Answer(Box::new(outcome))));
    let reports = run(plan(files, lessons, 1), on(&fake), CancellationToken::new()).await;
    assert_eq!(reports[0].status, Status::Failed);
    assert!(!reports[0].checks[0].passed);
}

#[tokio::test]
async fn a_later_step_runs_the_image_an_earlier_step_built_and_maps_the_rest() {
    let build = "  - id: build\n    title: t\n    section: s\n    action: {build: {dockerfile: Dockerfile-1, tag: app, base: ubuntu}}\n    expect: [{exit_code: 0}]\n";
    let steps = build.to_string()
        + &run_step("uses-it").replace("image: ubuntu", "image: app")
        + &run_step("maps");
    let (files, lessons) = lab(&[("01-a", &steps)]);
    let fake = Arc::new(FakeEngine::default());
    let images = ImageMap::default();
    let ubuntu = images.resolve("ubuntu").unwrap().to_string();
    let reports = run(plan(files, lessons, 1), on(&fake), CancellationToken::new()).await;
    assert!(reports.iter().all(|r| r.status == Status::Passed));
    let tag = built_tag("run1", "01-a", "app");
    let calls = fake.calls();
    assert!(
        calls.contains(&format!("perform build build {tag} BASE={ubuntu}")),
        "{calls:?}"
    );
    assert!(
        calls.contains(&format!("perform uses-it run {tag}")),
        "{calls:?}"
    );
    assert!(
        calls.contains(&format!("perform maps run {ubuntu}")),
        "{calls:?}"
    );
}

#[tokio::test]
async fn a_step_without_its_engine_is_skipped_with_the_reason() {
    let (files, lessons) = lab(&[("01-a", &run_step("alone"))]);
    let engines = Engines {
        docker_missing: Some("no Docker engine answers at unix:///nowhere".into()),
        ..Default::default()
    };
    let reports = run(plan(files, lessons, 1), engines, CancellationToken::new()).await;
    assert_eq!(reports[0].status, Status::Skipped);
    assert_eq!(
        reports[0].reason.as_deref(),
        Some("no Docker engine answers at unix:///nowhere")
    );
}

#[tokio::test]
async fn in_parallel_the_costliest_lesson_starts_first_and_reports_keep_lesson_order() {
    let build = "  - id: build\n    title: t\n    section: s\n    action: {build: {dockerfile: Dockerfile-1, tag: app}}\n    expect: [{exit_code: 0}]\n";
    let (files, lessons) = lab(&[
        ("01-short", &run_step("one")),
        ("02-builds", build),
        ("03-short", &run_step("three")),
    ]);
    let fake = Arc::new(FakeEngine::default());
    let reports = run(
        plan(files.clone(), lessons.clone(), 2),
        on(&fake),
        CancellationToken::new(),
    )
    .await;
    let calls = fake.calls();
    let first = calls.iter().find(|c| c.starts_with("perform")).unwrap();
    assert!(first.starts_with("perform build"), "{calls:?}");
    let order: Vec<&str> = reports.iter().map(|r| r.lesson.as_str()).collect();
    assert_eq!(order, ["01-short", "02-builds", "03-short"]);
    // One at a time: the lessons' own order.
    let fake = Arc::new(FakeEngine::default());
    run(plan(files, lessons, 1), on(&fake), CancellationToken::new()).await;
    let performed: Vec<String> = fake
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("perform"))
        .collect();
    assert!(performed[0].starts_with("perform one"), "{performed:?}");
    assert!(performed[2].starts_with("perform three"), "{performed:?}");
}

#[tokio::test]
async fn a_step_guard_dropped_unended_still_ends_the_step() {
    let fake = Arc::new(FakeEngine::default());
    let guard = StepGuard {
        engine: fake.clone(),
        scope: Scope {
            run_id: "run1".into(),
            lesson: "01-a".into(),
            step: "dropped".into(),
        },
        ended: false,
    };
    drop(guard);
    for _ in 0..100 {
        if !fake.calls().is_empty() {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(fake.calls(), ["end_step dropped"]);
}

#[tokio::test]
async fn a_manifest_audit_step_runs_without_any_engine_and_an_image_step_is_skipped() {
    let audit = "  - id: audit-pod\n    title: t\n    section: s\n    action: {audit: {manifest: root-pod.yaml}}\n    expect: [{findings: {has: [NRK002]}}]\n";
    let steps = audit.to_string() + &run_step("needs-docker");
    let (files, lessons) = lab(&[("01-a", &steps)]);
    let engines = Engines {
        docker_missing: Some("no Docker engine answers at unix:///nowhere".into()),
        ..Default::default()
    };
    let reports = run(plan(files, lessons, 1), engines, CancellationToken::new()).await;
    assert_eq!(reports[0].status, Status::Passed, "{:?}", reports[0]);
    assert!(reports[0].checks[0].passed);
    assert_eq!(reports[1].status, Status::Skipped);
}

#[test]
fn a_manifest_is_read_the_same_way_when_applied_and_when_audited() {
    let pod = |security: &str| {
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  securityContext: {security}\n  containers:\n  - {{name: c, image: x}}\n")
    };
    let plain = pod("{runAsNonRoot: yes, runAsUser: 0755}");
    let quoted = pod("{runAsNonRoot: \"yes\"}");
    // Applied: what the API server is sent. YAML 1.1, as its own reader: `yes` is true.
    let object: serde_json::Value = crate::yaml::parse(&plain).unwrap();
    assert_eq!(object["spec"]["securityContext"]["runAsNonRoot"], true);
    assert_eq!(object["spec"]["securityContext"]["runAsUser"], 493);
    let object: serde_json::Value = crate::yaml::parse(&quoted).unwrap();
    assert_eq!(object["spec"]["securityContext"]["runAsNonRoot"], "yes");
    // Audited: the same reading, so the same verdicts.
    let findings = |text: &str| -> Vec<String> {
        crate::audit::manifest::audit("pod.yaml", text.as_bytes())
            .unwrap()
            .findings
            .into_iter()
            .map(|f| f.message)
            .collect()
    };
    let on_plain = findings(&plain);
    assert!(
        !on_plain.iter().any(|m| m.contains("runAsNonRoot")),
        "{on_plain:?}"
    );
    let on_quoted = findings(&quoted);
    assert!(
        on_quoted.iter().any(|m| m.contains("not a boolean")),
        "{on_quoted:?}"
    );
}

/// A step with an engine-dependent claim, as lesson 06's: the case of the engine's kind
/// runs, says what it is, and its control is its own; a `when` skips where it says.
const CASED: &str = r#"  - id: random-uid
    title: t
    section: s
    action: {run: {image: ubuntu, user: "1000870000:0", cmd: [id]}}
    expect: [{exit_code: 0}, {stdout_contains: done}]
    control: {why: another group, user: "1000870000:1000870000"}
    cases:
      - when: [remapped]
        says: only 65536 uids here
        title: t on a remapped engine
        set: {user: "54321:0"}
        control: {why: another group, user: "54321:54321"}
  - id: rootful-only
    title: t
    section: s
    when: [rootful]
    action: {run: {image: ubuntu, cmd: [id]}}
    expect: [{exit_code: 0}, {stdout_contains: done}]
    control: {why: as 4242, user: "4242"}
  - id: control-on-rootful
    title: t
    section: s
    action: {run: {image: ubuntu, cmd: [id]}}
    expect: [{exit_code: 0}, {stdout_contains: done}]
    control: {why: the machine's engine, engine: default, when: [rootful], user: "1"}
"#;

fn kind_engine(kind: crate::engine::kind::EngineKind) -> Arc<FakeEngine> {
    Arc::new(FakeEngine {
        kind: Some(kind),
        ..Default::default()
    })
}

#[tokio::test]
async fn each_kind_of_engine_gets_its_own_case_of_a_step() {
    use crate::engine::kind::EngineKind;
    let (files, lessons) = lab(&[("01-a", CASED)]);
    let podman = kind_engine(EngineKind::RootlessPodman);
    let mut p = plan(files.clone(), lessons.clone(), 1);
    p.controls = true;
    let reports = run(p, on(&podman), CancellationToken::new()).await;
    let calls = podman.calls();
    assert!(
        calls.contains(&"perform random-uid run ubuntu:24.04 as 54321:0".to_string()),
        "{calls:?}"
    );
    assert!(
        calls.contains(&"perform random-uid-control run ubuntu:24.04 as 54321:54321".to_string()),
        "{calls:?}"
    );
    let r = &reports[0];
    assert_eq!(r.engine, Some(EngineKind::RootlessPodman));
    assert_eq!(r.case.as_deref(), Some("only 65536 uids here"));
    assert_eq!(r.title, "t on a remapped engine");
    // The rootful-only step is skipped, saying for what and why.
    let skipped = &reports[1];
    assert_eq!(skipped.status, Status::Skipped, "{skipped:?}");
    assert_eq!(
        skipped.reason.as_deref(),
        Some(
            "this step is for rootful engines; this engine is rootless Podman: nothing was checked"
        )
    );
    assert!(
        !calls.iter().any(|c| c.contains("rootful-only")),
        "{calls:?}"
    );
    // A control that undoes the point only on a rootful engine is not run here.
    let control = reports[2].control.as_ref().unwrap();
    assert_eq!(control.status, ControlStatus::Skipped, "{control:?}");
    assert!(control
        .reason
        .as_deref()
        .unwrap()
        .contains("this control is for rootful engines"));

    let docker = kind_engine(EngineKind::RootfulDocker);
    let reports = run(
        plan(files, lessons, 1),
        on(&docker),
        CancellationToken::new(),
    )
    .await;
    let calls = docker.calls();
    assert!(
        calls.contains(&"perform random-uid run ubuntu:24.04 as 1000870000:0".to_string()),
        "{calls:?}"
    );
    assert_eq!(reports[0].case, None);
    assert_eq!(reports[1].status, Status::Passed, "{:?}", reports[1]);
}

#[tokio::test]
async fn a_control_the_engine_refuses_to_start_is_judged_and_rejected() {
    let (files, lessons) = lab(&[("01-a", &run_step("s"))]);
    let fake = Arc::new(FakeEngine::default().behave(
        "s-control",
        Behaviour::Fail(EngineError::refused(
            crate::engine::error::STARTING,
            "unable to setup user: invalid argument",
        )),
    ));
    let mut lessons = lessons;
    lessons[0].steps[0].control =
        Some(crate::yaml::parse("{why: w, user: \"1000870000\"}").unwrap());
    lessons[0].steps[0].expect = vec![crate::yaml::parse("{stdout_contains: done}").unwrap()];
    let mut p = plan(files, lessons, 1);
    p.controls = true;
    let reports = run(p, on(&fake), CancellationToken::new()).await;
    let control = reports[0].control.as_ref().unwrap();
    assert_eq!(control.status, ControlStatus::Rejected, "{control:?}");
    assert!(
        control
            .reason
            .as_deref()
            .unwrap()
            .contains("refused to start"),
        "{control:?}"
    );
}
