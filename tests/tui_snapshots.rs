//! What the learner sees, as text snapshots of whole screens (insta), at 80x24 and
//! 160x48: the list, a lesson with every Markdown element, a running step, a failed
//! check, the help overlay.

use std::time::{Duration, Instant};

use insta::assert_snapshot;
use nonroot_lab::check::CheckResult;
use nonroot_lab::lesson::{LabFiles, Platform};
use nonroot_lab::progress::{By, Progress};
use nonroot_lab::runner::{Event, Status, StepReport};
use nonroot_lab::tui::app::{App, EngineStatus, Msg};
use nonroot_lab::tui::keys::Key;
use nonroot_lab::tui::theme::Theme;
use nonroot_lab::tui::view;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

fn app(files: LabFiles, size: (u16, u16)) -> App {
    let mut a = App::new(
        files.lessons().unwrap(),
        Progress::default(),
        Theme { color: false },
        size,
    );
    a.engine = EngineStatus::Docker("rootful Docker 20.10.24".into());
    a.kube_context = None;
    a.update(Msg::Resize(size.0, size.1));
    a
}

fn screen(a: &App) -> String {
    let mut t = Terminal::new(TestBackend::new(a.size.0, a.size.1)).unwrap();
    t.draw(|f| view::draw(f, a)).unwrap();
    format!("{}", t.backend())
}

fn markdown_lab() -> LabFiles {
    LabFiles::from_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/markdown-lab"),
    )
    .unwrap()
}

#[test]
fn lesson_list_with_progress() {
    for size in SIZES {
        let mut a = app(LabFiles::embedded(), size);
        a.progress
            .record("01-why-non-root", "root-sees-host", true, By::Lab);
        a.progress
            .record("01-why-non-root", "user-4242-is-refused", true, By::Lab);
        a.update(Msg::Key(Key::Down));
        assert_snapshot!(format!("list_{}x{}", size.0, size.1), screen(&a));
    }
}

#[test]
fn lesson_with_every_markdown_element() {
    for size in SIZES {
        let mut a = app(markdown_lab(), size);
        a.update(Msg::Key(Key::Open));
        a.update(Msg::Key(Key::Top));
        a.focus = nonroot_lab::tui::app::Pane::Text;
        a.update(Msg::Key(Key::Top));
        assert_snapshot!(format!("markdown_{}x{}", size.0, size.1), screen(&a));
    }
}

fn started(a: &mut App) {
    a.update(Msg::Key(Key::Open));
    a.update(Msg::Key(Key::Run));
    let (lesson, step) = (a.lessons[0].id.clone(), a.lessons[0].steps[0].id.clone());
    a.update(Msg::Runner(Event::StepStarted {
        lesson: lesson.clone(),
        step: step.clone(),
        title: a.lessons[0].steps[0].title.clone(),
        command: "docker run --rm ubuntu id".into(),
    }));
    for line in [
        "Step 1/3 : ARG BASE",
        "Step 2/3 : FROM ubuntu",
        "uid=0(root) gid=0(root) groups=0(root)",
    ] {
        a.update(Msg::Runner(Event::Output {
            lesson: lesson.clone(),
            step: step.clone(),
            stream: nonroot_lab::engine::Stream::Stdout,
            line: line.into(),
        }));
    }
}

#[test]
fn a_running_step_shows_spinner_elapsed_and_streamed_output() {
    for size in SIZES {
        let mut a = app(markdown_lab(), size);
        started(&mut a);
        let start = a.running.as_ref().unwrap().started;
        a.update(Msg::Tick(start + Duration::from_millis(3_400)));
        assert_snapshot!(format!("running_{}x{}", size.0, size.1), screen(&a));
    }
}

#[test]
fn a_failed_check_shows_expected_actual_and_hint() {
    for size in SIZES {
        let mut a = app(markdown_lab(), size);
        started(&mut a);
        let step = &a.lessons[0].steps[0];
        let report = StepReport {
            lesson: a.lessons[0].id.clone(),
            lesson_title: a.lessons[0].title.clone(),
            step: step.id.clone(),
            title: step.title.clone(),
            platform: Platform::Docker,
            status: Status::Failed,
            reason: None,
            checks: vec![
                CheckResult {
                    check: "exit_code".into(),
                    passed: true,
                    expected: "exit code 0".into(),
                    actual: "exit code 0".into(),
                    note: None,
                },
                CheckResult {
                    check: "id".into(),
                    passed: false,
                    expected: "uid=4242".into(),
                    actual: "uid=0 gid=0 groups=0".into(),
                    note: None,
                },
            ],
            hint: step.hint.clone(),
            command: String::new(),
            elapsed_ms: 1_234,
            observe: false,
            control: None,
            engine: None,
            case: None,
        };
        a.update(Msg::Runner(Event::StepFinished(Box::new(report))));
        a.update(Msg::Tick(Instant::now()));
        assert_snapshot!(format!("failed_{}x{}", size.0, size.1), screen(&a));
    }
}

#[test]
fn help_overlay_lists_every_key() {
    for size in SIZES {
        let mut a = app(LabFiles::embedded(), size);
        a.update(Msg::Key(Key::Open));
        a.update(Msg::Key(Key::Help));
        let text = screen(&a);
        for (keys, _) in nonroot_lab::tui::keys::HELP {
            assert!(text.contains(keys), "help lacks {keys}:\n{text}");
        }
        assert_snapshot!(format!("help_{}x{}", size.0, size.1), text);
    }
}

/// An observed step says, before any verdict, that it shows a value and proves nothing;
/// once run, its state is SEEN, not PASS.
#[test]
fn an_observed_step_says_it_is_no_proof() {
    let mut a = app(LabFiles::embedded(), (160, 48));
    a.update(Msg::Key(Key::Down));
    a.update(Msg::Key(Key::Open));
    let before = screen(&a);
    assert!(
        before.contains("shows a value of your engine: not a proof"),
        "{before}"
    );
    a.update(Msg::Runner(Event::StepFinished(Box::new(StepReport {
        lesson: "02-ports".into(),
        lesson_title: "Ports below 1024".into(),
        step: "port-80-at-engine-floor".into(),
        title: "Port 80 as uid 4242 at your engine's own floor".into(),
        platform: Platform::Docker,
        status: Status::Passed,
        reason: None,
        checks: vec![],
        hint: String::new(),
        command: String::new(),
        elapsed_ms: 400,
        observe: true,
        control: None,
        engine: None,
        case: None,
    }))));
    let after = screen(&a);
    assert!(after.contains("state: SEEN (0.4 s)"), "{after}");
    assert!(!after.contains("state: PASS"), "{after}");
}

/// Lesson 04 open on its exercise, with a workspace as the front end makes it.
fn on_exercise(size: (u16, u16)) -> App {
    use nonroot_lab::lesson::exercise::{render, Vars};
    use nonroot_lab::tui::exercise::{ExerciseView, WorkspaceView};
    let mut a = app(LabFiles::embedded(), size);
    a.lesson = 3;
    a.update(Msg::Key(Key::Open));
    let lesson = a.lessons[3].clone();
    let index = lesson
        .steps
        .iter()
        .position(|s| s.exercise.is_some())
        .unwrap();
    while a.step < index {
        a.update(Msg::Key(Key::NextStep));
    }
    let step = &lesson.steps[index];
    let exercise = step.exercise.as_ref().unwrap();
    let dir =
        std::path::PathBuf::from("/home/learner/.local/share/nonroot-lab/workspace/04-images");
    let vars: Vars = [
        ("image", "my-numeric-user"),
        ("workspace", dir.to_str().unwrap()),
        ("id", "3f6f7c911053"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let view = ExerciseView {
        task: render(&exercise.task, &vars).unwrap(),
        solution: format!(
            "# the solution\n{}docker build -t my-numeric-user .\n",
            exercise.solution
        ),
        edit: dir.join("Dockerfile"),
    };
    a.workspaces.insert(
        lesson.id.clone(),
        WorkspaceView {
            dir,
            exercises: [(step.id.clone(), view)].into_iter().collect(),
            error: None,
        },
    );
    a
}

#[test]
fn the_exercise_panel_shows_the_task_and_the_workspace() {
    for size in SIZES {
        let a = on_exercise(size);
        assert_snapshot!(format!("exercise_{}x{}", size.0, size.1), screen(&a));
    }
}

#[test]
fn back_from_the_shell_with_the_solution_shown() {
    for size in SIZES {
        let mut a = on_exercise(size);
        a.update(Msg::Resumed {
            what: "the shell".into(),
            result: Ok(0),
        });
        a.update(Msg::Key(Key::Solution));
        assert_snapshot!(format!("exercise_back_{}x{}", size.0, size.1), screen(&a));
    }
}

/// The instructor's room (`class watch`): three attendees, one stuck on a step failed
/// three times, one whose ConfigMap was edited into garbage; then the stuck one opened.
#[test]
fn the_class_room_and_one_attendee() {
    use nonroot_lab::class::room::{Attendee, Change, Failure, StepRecord, Steps, Stuck};
    use nonroot_lab::tui::room::state::{RoomMsg, RoomState};
    let minute = 60_000;
    let now = 1_000 * minute;
    let record = |status: &str, by: By, in_a_row: u32, ago: u64| StepRecord {
        status: status.into(),
        by,
        tries: in_a_row.max(1),
        failed_in_a_row: in_a_row,
        at_ms: now - ago * minute,
        failure: (status == "failed").then(|| Failure {
            check: "exit_code".into(),
            expected: "0".into(),
            actual: "1".into(),
        }),
        output: if status == "failed" {
            vec!["id: cannot find name for user ID 4242".into()]
        } else {
            vec![]
        },
        solution_shown: false,
    };
    let steps = |list: Vec<(&str, StepRecord)>| {
        Steps::read(list.into_iter().map(|(k, r)| (k.to_string(), r)).collect())
    };
    let attendee = |name: &str, steps: Steps| Attendee {
        name: name.into(),
        namespace: format!("room-{name}"),
        steps,
    };
    let lessons: Vec<(String, Vec<String>)> = LabFiles::embedded()
        .lessons()
        .unwrap()
        .iter()
        .map(|l| (l.id.clone(), l.steps.iter().map(|s| s.id.clone()).collect()))
        .collect();
    for size in SIZES {
        let people = vec![
            attendee(
                "ann",
                steps(vec![
                    (
                        "01-why-non-root.root-sees-host",
                        record("passed", By::Lab, 0, 5),
                    ),
                    (
                        "01-why-non-root.user-4242-is-refused",
                        record("passed", By::Lab, 0, 4),
                    ),
                    (
                        "04-images.your-turn-numeric-user",
                        record("passed", By::Learner, 0, 1),
                    ),
                ]),
            ),
            attendee(
                "ben",
                steps(vec![
                    (
                        "01-why-non-root.root-sees-host",
                        record("passed", By::Lab, 0, 9),
                    ),
                    (
                        "02-ports.bind-80-floor-1024",
                        record("failed", By::Lab, 3, 2),
                    ),
                ]),
            ),
            attendee("cat", Steps::default()),
        ];
        let mut room = RoomState::new("room", lessons.clone(), people, Stuck::default(), now);
        room.update(RoomMsg::Change(Change::Progress {
            namespace: "room-dan".into(),
            name: "dan".into(),
            steps: Steps::unreadable("`01-why-non-root.x`: key must be a string at line 1"),
            seen_ms: now,
        }));
        let draw = |room: &RoomState| {
            let mut t = Terminal::new(TestBackend::new(size.0, size.1)).unwrap();
            t.draw(|f| nonroot_lab::tui::room::view::draw(f, room, &Theme { color: false }))
                .unwrap();
            format!("{}", t.backend())
        };
        let table = draw(&room);
        assert_snapshot!(format!("room_{}x{}", size.0, size.1), table);
        room.update(RoomMsg::Key(Key::Open));
        assert_eq!(
            room.detail.as_deref(),
            Some("room-ben"),
            "the stuck come first"
        );
        assert_snapshot!(format!("room_attendee_{}x{}", size.0, size.1), draw(&room));
    }
}
