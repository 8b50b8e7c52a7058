//! A storm of kills: `verify --only docker` stopped at random moments by SIGINT, SIGTERM
//! and SIGKILL, with one and two lessons at a time, must leave nothing it labelled
//! (after SIGKILL, once `cleanup` ran). The storm is a seeded script, so a failure here
//! replays with the seed it prints: `scripts/kill-storm BINARY SEED`.

use std::process::Command;

#[test]
fn twelve_kills_at_random_moments_leave_nothing_labelled() {
    let seed = std::env::var("NONROOT_LAB_STORM_SEED").unwrap_or_else(|_| "2026".into());
    let output = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/kill-storm"))
        .arg(env!("CARGO_BIN_EXE_nonroot-lab"))
        .arg(&seed)
        .arg("12")
        .output()
        .expect("bash runs the storm");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the storm left objects behind (seed {seed}):\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The storm really killed runs mid-way: every one of the 12 says how it ended.
    assert_eq!(stdout.matches("nothing left").count(), 12, "{stdout}");
    assert!(
        stdout.contains("exit 130") || stdout.contains("exit 137"),
        "{stdout}"
    );
}
