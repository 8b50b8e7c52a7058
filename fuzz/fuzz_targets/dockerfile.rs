//! Any bytes as a Dockerfile: the parser and the rules must answer with findings or a
//! problem, never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nonroot_lab::audit::dockerfile::{audit, NoEngine, Options};

fuzz_target!(|data: &[u8]| {
    let _ = audit("fuzz", data, &Options::default(), &mut NoEngine);
    let target = Options {
        target: Some("build".into()),
        ..Options::default()
    };
    let _ = audit("fuzz", data, &target, &mut NoEngine);
});
