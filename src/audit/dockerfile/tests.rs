//! Cases found by fuzzing and the parts of the analysis the corpus does not isolate.

use super::*;

fn run(text: &[u8]) -> Result<Vec<Finding>, Problem> {
    audit("t", text, &Options::default(), &mut NoEngine)
}

#[test]
fn fuzz_crash_legacy_env_with_quotes_before_a_multibyte_char() {
    // The unquoted first word is shorter than the raw one: slicing the raw text by its
    // length landed inside U+FEFF.
    let input = "FROM x\nENV \"a\"b \u{feff}c\nUSER 4242\n";
    assert!(run(input.as_bytes()).is_ok());
    let crash = include_bytes!("../../../fuzz/regressions/dockerfile-env-char-boundary");
    let _ = run(crash);
}

#[test]
fn legacy_env_form_feeds_user() {
    let f = run(b"FROM x\nENV APP_UID 0\nUSER $APP_UID\n").unwrap();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].rule, "NRD001");
}

#[test]
fn a_byte_order_mark_is_not_an_instruction() {
    assert!(run("\u{feff}FROM x\nUSER 4242\n".as_bytes())
        .unwrap()
        .is_empty());
}
