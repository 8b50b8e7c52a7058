//! The real binary in a real terminal (tmux): open a lesson, run a Docker step, see it
//! pass, quit, and find the progress saved and nothing left behind.

mod common;
use common::*;

use std::process::Command;

use common::tmux::Tmux;
use std::time::{Duration, Instant};

/// tmux and the Docker engine, or `false` after saying which is missing (under
/// `CI=true` a missing one is a failure).
async fn tmux_and_docker_or_skip() -> bool {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but no tmux"
        );
        eprintln!("skipped: no tmux");
        return false;
    }
    docker_or_skip().await.is_some()
}

#[tokio::test]
async fn run_a_docker_step_to_passed_in_a_real_terminal() {
    if !tmux_and_docker_or_skip().await {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let tmux = Tmux {
        socket: format!("nonroot-lab-test-{}", std::process::id()),
    };
    let images = image_map_path()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let command = format!(
        "env NONROOT_LAB_IMAGES='{images}' XDG_STATE_HOME='{}' '{}'",
        state.path().display(),
        env!("CARGO_BIN_EXE_nonroot-lab")
    );
    tmux.start(100, 30, &command);
    tmux.wait_for("Lessons", 10);
    tmux.wait_for("Docker 20", 15);
    let pid = tmux
        .cmd(&["display", "-p", "-t", "lab", "#{pane_pid}"])
        .trim()
        .to_string();
    tmux.cmd(&["send-keys", "-t", "lab", "Enter"]);
    let steps = nonroot_lab::lesson::LabFiles::embedded().lessons().unwrap()[0]
        .steps
        .len();
    tmux.wait_for(&format!("Steps 0/{steps} passed"), 10);
    tmux.cmd(&["send-keys", "-t", "lab", "r"]);
    let screen = tmux.wait_for("state: PASS", 60);
    assert!(screen.contains("[ok] Root in a container"), "{screen}");
    // The container printed the host's shadow accounts; the last one ends the output.
    if let Some(last) = std::fs::read_to_string("/etc/shadow").ok().and_then(|s| {
        s.lines()
            .filter_map(|l| l.split(':').next())
            .next_back()
            .map(str::to_string)
    }) {
        assert!(
            screen.contains(&last),
            "the output pane shows the container's output (`{last}`):\n{screen}"
        );
    }
    assert!(screen.contains("== PASS"), "{screen}");
    assert!(screen.contains("✓ passed"), "{screen}");
    tmux.cmd(&["send-keys", "-t", "lab", "q"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(Instant::now() < deadline, "the lab did not quit");
        std::thread::sleep(Duration::from_millis(100));
    }
    let progress = std::fs::read_to_string(state.path().join("nonroot-lab/progress.json")).unwrap();
    let progress: serde_json::Value = serde_json::from_str(&progress).unwrap();
    let record = &progress["steps"]["01-why-non-root"]["root-sees-host"];
    assert_eq!(record["status"], "passed", "{progress}");
    // The lab ran it: the learner watched.
    assert_eq!(record["by"], "lab", "{progress}");
    assert!(labelled_containers(&format!("label=nonroot-lab.pid={pid}")).is_empty());
    let log = std::fs::read_to_string(state.path().join("nonroot-lab/lab.log")).unwrap();
    assert!(log.contains("Run 01-why-non-root/root-sees-host"), "{log}");
}

/// The lab under `script`, which gives it a terminal and records what it wrote to it:
/// `None` (after saying why) when util-linux's `script` is missing.
fn lab_in_script(dir: &std::path::Path, args: &str) -> Option<(KillOnDrop, std::path::PathBuf)> {
    if Command::new("script").arg("-V").output().is_err() {
        eprintln!("skipped: no `script` (util-linux) to give the lab a terminal");
        return None;
    }
    let typescript = dir.join("typescript");
    // Its pty has no size until stty sets one.
    let inner = format!(
        "stty rows 24 cols 80; exec env XDG_STATE_HOME='{}' '{}' {args}",
        dir.display(),
        env!("CARGO_BIN_EXE_nonroot-lab")
    );
    let script = Command::new("script")
        .args(["-qfec", &inner, typescript.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    Some((KillOnDrop(script), typescript))
}

#[test]
fn sigterm_restores_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let Some((mut script, typescript)) = lab_in_script(dir.path(), "") else {
        return;
    };
    // The lab is the child of `script`; wait until it has drawn.
    let deadline = Instant::now() + Duration::from_secs(10);
    let lab_pid = loop {
        let out = Command::new("pgrep")
            .args(["-P", &script.0.id().to_string()])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let drawn = std::fs::read_to_string(&typescript)
            .unwrap_or_default()
            .contains("Lessons");
        if !text.is_empty() && drawn {
            break text.lines().next().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "the lab never drew");
        std::thread::sleep(Duration::from_millis(100));
    };
    Command::new("kill")
        .args(["-TERM", &lab_pid])
        .status()
        .unwrap();
    let status = script.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let raw = std::fs::read(&typescript).unwrap();
    let text = String::from_utf8_lossy(&raw);
    let entered = text
        .find("\x1b[?1049h")
        .expect("entered the alternate screen");
    let left = text
        .rfind("\x1b[?1049l")
        .expect("left the alternate screen");
    assert!(left > entered, "the terminal was restored after drawing");
}

#[test]
fn a_lesson_that_fails_to_load_after_the_terminal_opened_leaves_it_restored() {
    let dir = tempfile::tempdir().unwrap();
    let broken = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/broken-lab");
    let Some((mut script, typescript)) =
        lab_in_script(dir.path(), &format!("--lessons '{broken}'"))
    else {
        return;
    };
    let status = script.0.wait().unwrap();
    let raw = std::fs::read(&typescript).unwrap();
    let text = String::from_utf8_lossy(&raw);
    // `script -e` passes the lab's exit code on: 2, a configuration error.
    assert_eq!(status.code(), Some(2), "{text}");
    let entered = text
        .find("\x1b[?1049h")
        .expect("the terminal was opened before the lessons loaded");
    let left = text
        .rfind("\x1b[?1049l")
        .expect("left the alternate screen");
    let mouse_off = text.rfind("\x1b[?1000l").expect("mouse capture turned off");
    let message = text
        .find("10-bad-yaml.yaml:2:8")
        .expect("the load error names the file, line and column");
    assert!(entered < left && entered < mouse_off, "{text:?}");
    assert!(
        left < message,
        "the message is printed on the restored screen: {text:?}"
    );
}

/// Ends `script` and the lab under it if the test fails half-way.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let id = self.0.id().to_string();
        let _ = Command::new("pkill").args(["-KILL", "-P", &id]).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Lesson 04's exercise as a learner does it: no editor set (a clear line), `!` for a
/// shell in the workspace, the Dockerfile fixed and built there, `exit`, then `c`: PASS,
/// and the progress says the learner did it.
#[tokio::test]
async fn your_turn_through_the_shell_to_a_passed_check() {
    if !tmux_and_docker_or_skip().await {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let tmux = Tmux {
        socket: format!("nonroot-lab-ex-{}", std::process::id()),
    };
    let prefix = format!("tmux{}-", std::process::id());
    let image = format!("{prefix}my-numeric-user");
    let _image_goes = RemoveImage(image.clone());
    let images = image_map_path()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    // No EDITOR or VISUAL; bash as the learner's shell.
    let command = format!(
        "env -u EDITOR -u VISUAL SHELL=/bin/bash NONROOT_LAB_IMAGES='{images}' \
         XDG_STATE_HOME='{home}/state' XDG_DATA_HOME='{home}/data' NONROOT_LAB_EXERCISE_PREFIX='{prefix}' '{}'",
        env!("CARGO_BIN_EXE_nonroot-lab"),
        home = home.path().display(),
    );
    tmux.start(120, 40, &command);
    tmux.wait_for("Lessons", 10);
    // Lesson 04, then its last step: the exercise.
    tmux.cmd(&["send-keys", "-t", "lab", "j", "j", "j", "Enter"]);
    tmux.wait_for("Non-root from images", 10);
    for _ in 0..20 {
        tmux.cmd(&["send-keys", "-t", "lab", "n"]);
    }
    let screen = tmux.wait_for("state: your turn", 10);
    let workspace = home.path().join("data/nonroot-lab/workspace/04-images");
    assert!(screen.contains("Your workspace"), "{screen}");
    assert!(
        screen.contains(&image),
        "the task names the image: {screen}"
    );
    tmux.cmd(&["send-keys", "-t", "lab", "e"]);
    let screen = tmux.wait_for("no editor", 5);
    assert!(screen.contains("$EDITOR"), "{screen}");
    // The shell, in the workspace.
    tmux.cmd(&["send-keys", "-t", "lab", "!"]);
    let screen = tmux.wait_for("Type `exit` to come back", 10);
    // Let the shell draw its prompt before typing into it.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        screen.contains(&workspace.display().to_string()),
        "{screen}"
    );
    tmux.cmd(&[
        "send-keys",
        "-t",
        "lab",
        &format!("sed -i 's/^USER www-data$/USER 4242/' Dockerfile && docker build -q -t {image} . && echo BUILT"),
        "Enter",
    ]);
    tmux.wait_for("BUILT", 60);
    tmux.cmd(&["send-keys", "-t", "lab", "exit", "Enter"]);
    // Back in the lab, redrawn whole.
    let screen = tmux.wait_for("back from the shell", 10);
    assert!(screen.contains("Your workspace"), "{screen}");
    assert!(!screen.contains("BUILT"), "{screen}");
    tmux.cmd(&["send-keys", "-t", "lab", "c"]);
    let screen = tmux.wait_for("state: PASS", 60);
    assert!(screen.contains("1 by you"), "{screen}");
    tmux.cmd(&["send-keys", "-t", "lab", "q"]);
    let progress = home.path().join("state/nonroot-lab/progress.json");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&progress)
        .unwrap_or_default()
        .contains("your-turn-numeric-user")
    {
        assert!(Instant::now() < deadline, "progress never saved");
        std::thread::sleep(Duration::from_millis(100));
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&progress).unwrap()).unwrap();
    let record = &json["steps"]["04-images"]["your-turn-numeric-user"];
    assert_eq!(record["status"], "passed", "{json}");
    assert_eq!(record["by"], "learner", "{json}");
}

/// Removes the learner's image when the test ends, passed or not.
struct RemoveImage(String);

impl Drop for RemoveImage {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", "-f", &self.0]).output();
    }
}
