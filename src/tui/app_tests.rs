use super::*;
use crate::check::CheckResult;
use crate::lesson::{LabFiles, Platform};
use crate::runner::{Event, Mode, Status, StepReport};

fn app() -> App {
    let lessons = LabFiles::embedded().lessons().unwrap();
    App::new(
        lessons,
        Progress::default(),
        Theme { color: false },
        (80, 24),
    )
}

fn report(app: &App, status: Status) -> StepReport {
    let lesson = &app.lessons[app.lesson];
    let step = &lesson.steps[app.step];
    StepReport {
        lesson: lesson.id.clone(),
        lesson_title: lesson.title.clone(),
        step: step.id.clone(),
        title: step.title.clone(),
        platform: Platform::Docker,
        status,
        reason: None,
        checks: vec![CheckResult {
            check: "exit_code".into(),
            passed: status == Status::Passed,
            expected: "exit code 0".into(),
            actual: "exit code 1".into(),
            note: None,
        }],
        hint: step.hint.clone(),
        command: String::new(),
        elapsed_ms: 10,
        observe: false,
        control: None,
        engine: None,
        case: None,
    }
}

#[test]
fn opening_a_lesson_selects_the_next_step_to_do_and_scrolls_to_its_section() {
    let mut a = app();
    a.progress.record(
        "01-why-non-root",
        "root-sees-host",
        true,
        crate::progress::By::Lab,
    );
    assert_eq!(a.update(Msg::Key(Key::Open)), vec![]);
    assert_eq!(a.screen, Screen::Lesson);
    assert_eq!(a.step, 1, "the first step not yet passed");
    let top: String = a.text_lines[a.text_scroll]
        .spans
        .iter()
        .map(|s| s.content.as_ref())
        .collect();
    assert_eq!(top, "Root's files on the host");
}

#[test]
fn run_asks_the_runner_and_the_report_updates_progress() {
    let mut a = app();
    a.update(Msg::Key(Key::Open));
    let effects = a.update(Msg::Key(Key::Run));
    assert_eq!(
        effects,
        vec![Effect::Run {
            lesson: 0,
            step: "root-sees-host".into(),
            mode: Mode::Run
        }]
    );
    assert!(a.running.is_some());
    assert_eq!(
        a.focus,
        Pane::Output,
        "output comes into focus while it streams"
    );
    // A second run while one is going is refused with a message.
    assert_eq!(a.update(Msg::Key(Key::Run)), vec![]);
    assert!(a.message.as_deref().unwrap().contains("still running"));
    a.update(Msg::Runner(Event::Output {
        lesson: "01-why-non-root".into(),
        step: "root-sees-host".into(),
        stream: crate::engine::Stream::Stdout,
        line: "uid=0(root)".into(),
    }));
    assert_eq!(a.output.last().unwrap().text, "uid=0(root)");
    let r = report(&a, Status::Passed);
    let effects = a.update(Msg::Runner(Event::StepFinished(Box::new(r))));
    // Saved, and published to the class's room with the step's last output.
    let [Effect::SaveProgress, Effect::Publish(ended)] = &effects[..] else {
        panic!("{effects:?}")
    };
    assert_eq!(
        (ended.step.as_str(), ended.status.as_str(), ended.by),
        ("root-sees-host", "passed", crate::progress::By::Lab)
    );
    // A passing step's output stays on the learner's machine (it can list the host's
    // accounts); only a step that did not pass sends its last lines to the room.
    assert!(ended.output.is_empty(), "{ended:?}");
    assert!(a.running.is_none());
    assert!(a.progress.passed("01-why-non-root", "root-sees-host"));
    assert_eq!(
        (a.lesson_progress(0).passed, a.lesson_progress(0).all),
        (1, 5)
    );
}

#[test]
fn a_failed_step_is_recorded_as_failed_and_says_where_to_look() {
    let mut a = app();
    a.update(Msg::Key(Key::Open));
    a.update(Msg::Key(Key::Run));
    a.update(Msg::Runner(Event::Output {
        lesson: "01-why-non-root".into(),
        step: "root-sees-host".into(),
        stream: crate::engine::Stream::Stderr,
        line: "cat: /host/etc/shadow: Permission denied".into(),
    }));
    let r = report(&a, Status::Failed);
    let effects = a.update(Msg::Runner(Event::StepFinished(Box::new(r))));
    let Some(Effect::Publish(ended)) = effects.last() else {
        panic!("{effects:?}")
    };
    assert_eq!(ended.status, "failed");
    assert!(
        ended.output.iter().any(|l| l.contains("Permission denied")),
        "the room gets a failed step's last lines: {ended:?}"
    );
    assert_eq!(
        a.progress.status("01-why-non-root", "root-sees-host"),
        Some("failed")
    );
    assert!(a
        .message
        .as_deref()
        .unwrap()
        .contains("expected and actual"));
}

#[test]
fn check_needs_a_hand_check_and_runs_it_in_check_mode() {
    let mut a = app();
    a.update(Msg::Key(Key::Open));
    assert_eq!(
        a.update(Msg::Key(Key::Check)),
        vec![],
        "01's first step has nothing to check by hand"
    );
    assert!(a
        .message
        .as_deref()
        .unwrap()
        .contains("nothing to check by hand"));
    a.update(Msg::Key(Key::Back));
    a.update(Msg::Key(Key::Down));
    a.update(Msg::Key(Key::Down));
    a.update(Msg::Key(Key::Down));
    a.update(Msg::Key(Key::Open));
    assert_eq!(a.lessons[a.lesson].id, "04-images");
    let effects = a.update(Msg::Key(Key::Check));
    assert_eq!(
        effects,
        vec![Effect::Run {
            lesson: 3,
            step: "build-user-4242".into(),
            mode: Mode::Check
        }]
    );
}

#[test]
fn quit_asks_while_a_step_runs_and_anything_but_y_stays() {
    let mut a = app();
    a.update(Msg::Key(Key::Open));
    a.update(Msg::Key(Key::Run));
    assert_eq!(a.update(Msg::Key(Key::Quit)), vec![]);
    assert!(a.confirm_quit);
    assert_eq!(a.update(Msg::Key(Key::NextStep)), vec![]);
    assert!(!a.confirm_quit);
    a.update(Msg::Key(Key::Quit));
    assert_eq!(a.update(Msg::Key(Key::Yes)), vec![Effect::Quit]);
}

#[test]
fn quit_when_idle_saves_the_position() {
    let mut a = app();
    a.update(Msg::Key(Key::Down));
    a.update(Msg::Key(Key::Open));
    assert_eq!(
        a.update(Msg::Key(Key::Quit)),
        vec![Effect::SaveProgress, Effect::Quit]
    );
    assert_eq!(
        a.progress.last,
        Some(("02-ports".into(), "port-80-at-engine-floor".into()))
    );
    let again = App::new(
        a.lessons.clone(),
        a.progress.clone(),
        Theme { color: false },
        (80, 24),
    );
    assert_eq!(again.lesson, 1, "the next start opens on the same lesson");
}

#[test]
fn help_overlay_swallows_keys_until_closed() {
    let mut a = app();
    a.update(Msg::Key(Key::Help));
    assert!(a.help);
    a.update(Msg::Key(Key::Down));
    assert_eq!(a.lesson, 0, "keys do not reach the list under the overlay");
    a.update(Msg::Key(Key::Back));
    assert!(!a.help);
}

#[test]
fn panes_cycle_and_scroll_independently() {
    let mut a = app();
    a.update(Msg::Key(Key::Open));
    assert_eq!(a.focus, Pane::Steps);
    a.update(Msg::Key(Key::NextPane));
    assert_eq!(a.focus, Pane::Output);
    a.update(Msg::Key(Key::NextPane));
    assert_eq!(a.focus, Pane::Text);
    let before = a.text_scroll;
    a.update(Msg::Key(Key::Down));
    assert_eq!(a.text_scroll, before + 1);
    a.update(Msg::Key(Key::PrevPane));
    assert_eq!(a.focus, Pane::Output);
    // The mouse wheel scrolls the pane under the pointer, whatever has focus.
    let before = a.text_scroll;
    a.update(Msg::Wheel {
        up: false,
        column: 1,
        row: 5,
    });
    assert_eq!(a.text_scroll, before + 3);
}

#[test]
fn output_is_bounded_and_scrolls_from_the_bottom() {
    let mut a = app();
    for i in 0..(OUTPUT_LIMIT + 10) {
        a.update(Msg::Runner(Event::Output {
            lesson: "x".into(),
            step: "y".into(),
            stream: crate::engine::Stream::Stdout,
            line: format!("line {i}"),
        }));
    }
    assert_eq!(a.output.len(), OUTPUT_LIMIT);
    assert_eq!(a.output[0].text, "line 10");
    a.screen = Screen::Lesson;
    a.focus = Pane::Output;
    a.update(Msg::Key(Key::Up));
    assert_eq!(a.output_scroll, 1);
    a.update(Msg::Key(Key::Bottom));
    assert_eq!(a.output_scroll, 0, "back to following new output");
}

#[test]
fn resetting_progress() {
    let mut a = app();
    a.progress.record(
        "01-why-non-root",
        "root-sees-host",
        true,
        crate::progress::By::Lab,
    );
    a.progress.record(
        "02-ports",
        "port-80-at-engine-floor",
        true,
        crate::progress::By::Lab,
    );
    assert_eq!(
        a.update(Msg::Key(Key::ResetLesson)),
        vec![Effect::SaveProgress]
    );
    assert!(!a.progress.passed("01-why-non-root", "root-sees-host"));
    assert!(a.progress.passed("02-ports", "port-80-at-engine-floor"));
    a.update(Msg::Key(Key::ResetAll));
    assert!(a.progress.steps.is_empty());
}

/// Lesson 04 open on its exercise, its workspace made at `/ws/04-images`.
fn on_exercise() -> App {
    use crate::tui::exercise::{ExerciseView, WorkspaceView};
    let mut a = app();
    a.lesson = 3;
    a.update(Msg::Key(Key::Open));
    let index = a.lessons[3]
        .steps
        .iter()
        .position(|s| s.exercise.is_some())
        .unwrap();
    while a.step < index {
        a.update(Msg::Key(Key::NextStep));
    }
    let step = a.lessons[3].steps[index].id.clone();
    let view = ExerciseView {
        task: "make it".into(),
        solution: "fix\nbuild\n".into(),
        edit: "/ws/04-images/Dockerfile".into(),
    };
    a.workspaces.insert(
        "04-images".into(),
        WorkspaceView {
            dir: "/ws/04-images".into(),
            exercises: [(step, view)].into_iter().collect(),
            error: None,
        },
    );
    a
}

#[test]
fn edit_and_shell_work_on_an_exercise_and_say_why_not_elsewhere() {
    let mut a = app();
    a.update(Msg::Key(Key::Open));
    assert_eq!(a.update(Msg::Key(Key::Edit)), vec![]);
    assert!(a.message.as_deref().unwrap().contains("Your turn step"));
    assert_eq!(a.update(Msg::Key(Key::Shell)), vec![]);
    let mut a = on_exercise();
    assert_eq!(
        a.update(Msg::Key(Key::Edit)),
        vec![Effect::Edit {
            file: "/ws/04-images/Dockerfile".into()
        }]
    );
    assert_eq!(
        a.update(Msg::Key(Key::Shell)),
        vec![Effect::Shell {
            dir: "/ws/04-images".into()
        }]
    );
    a.update(Msg::Resumed {
        what: "the shell".into(),
        result: Ok(0),
    });
    assert!(a.message.as_deref().unwrap().contains("press c to check"));
    // A workspace that could not be made: the keys say why instead.
    a.workspaces.get_mut("04-images").unwrap().error = Some("/ws: read-only".into());
    assert_eq!(a.update(Msg::Key(Key::Shell)), vec![]);
    assert!(a.message.as_deref().unwrap().contains("/ws: read-only"));
}

#[test]
fn an_exercise_is_checked_never_run_and_its_solution_is_recorded_when_shown() {
    let mut a = on_exercise();
    assert_eq!(a.update(Msg::Key(Key::Run)), vec![]);
    assert!(a.message.as_deref().unwrap().contains("your turn"));
    let step = a.lessons[3].steps[a.step].id.clone();
    assert!(!a
        .progress
        .step("04-images", &step)
        .is_some_and(|s| s.solution_shown));
    // Saved, and told to the class's room when the learner is in one.
    assert_eq!(
        a.update(Msg::Key(Key::Solution)),
        vec![
            Effect::SaveProgress,
            Effect::PublishSolution {
                lesson: "04-images".into(),
                step: step.clone()
            }
        ]
    );
    assert!(a.progress.step("04-images", &step).unwrap().solution_shown);
    // Hiding it again records nothing more.
    assert_eq!(a.update(Msg::Key(Key::Solution)), vec![]);
    let effects = a.update(Msg::Key(Key::Check));
    assert_eq!(
        effects,
        vec![Effect::Run {
            lesson: 3,
            step: step.clone(),
            mode: Mode::Check
        }]
    );
    let finished = report(&a, Status::Passed);
    a.update(Msg::Runner(Event::StepFinished(Box::new(finished))));
    assert!(a.progress.done_by_learner("04-images", &step));
    assert_eq!(a.lesson_progress(3).by_you, 1);
}

#[test]
fn a_check_refused_before_it_ran_ends_the_run_and_shows_where() {
    let mut a = on_exercise();
    a.update(Msg::Key(Key::Check));
    assert!(a.running.is_some());
    a.update(Msg::CheckRefused(vec![
        "/ws/04-images/Dockerfile:2: unknown instruction `USRE`".into(),
    ]));
    assert!(a.running.is_none());
    assert!(a.message.as_deref().unwrap().contains("Dockerfile:2"));
    assert!(a
        .output
        .iter()
        .any(|l| l.text.contains("unknown instruction")));
}

#[test]
fn a_step_that_runs_a_lesson_built_image_asks_for_its_build_first() {
    let mut a = app();
    a.lesson = 3;
    a.needs = {
        let files = LabFiles::embedded();
        let lesson = &a.lessons[3];
        (0..lesson.steps.len())
            .filter_map(|i| {
                let needs = crate::resolve::needs_built(&files, lesson, i);
                (!needs.is_empty())
                    .then(|| ((lesson.id.clone(), lesson.steps[i].id.clone()), needs))
            })
            .collect()
    };
    // 04's second step runs `non-root-image`, which its first step builds; its pod step
    // runs the nginx image built earlier, named in the manifest.
    let run_step = &a.lessons[3].steps[1].id;
    assert_eq!(
        a.needs[&("04-images".to_string(), run_step.clone())],
        vec![("non-root-image".to_string(), "build-user-4242".to_string())]
    );
    assert!(a
        .needs
        .iter()
        .any(|((_, s), n)| s.contains("pod") && n.iter().any(|(i, _)| i == "non-root-nginx")));
    a.update(Msg::Key(Key::Open));
    a.update(Msg::Key(Key::Top));
    while a.step < 1 {
        a.update(Msg::Key(Key::NextStep));
    }
    assert_eq!(a.update(Msg::Key(Key::Run)), vec![]);
    assert!(
        a.message
            .as_deref()
            .unwrap()
            .contains("step `build-user-4242` builds"),
        "{:?}",
        a.message
    );
    // Once the build passed in this run, the step runs.
    a.step = 0;
    let built = report(&a, Status::Passed);
    a.reports
        .insert((built.lesson.clone(), built.step.clone()), built);
    a.step = 1;
    assert!(matches!(
        a.update(Msg::Key(Key::Run)).as_slice(),
        [Effect::Run { .. }]
    ));
}

#[test]
fn the_engines_kind_makes_the_lessons_its_cases() {
    let mut a = app();
    let kind = crate::engine::kind::EngineKind::RootlessPodman;
    assert_eq!(
        a.update(Msg::EngineKind(kind)),
        vec![Effect::Specialize(kind)]
    );
    // What the loop then does: each step made for that kind, kept as made.
    let made = a.lessons[0].for_engines(|_, _| Some(kind));
    let shadow = &made.steps[0];
    assert!(shadow.title.contains("refused"), "{}", shadow.title);
    assert_eq!(shadow.applied.as_ref().unwrap().engine, kind);
    let again = made.for_engines(|_, _| Some(crate::engine::kind::EngineKind::RootfulDocker));
    assert_eq!(
        again.steps[0].title, shadow.title,
        "made once, for one kind"
    );
}
