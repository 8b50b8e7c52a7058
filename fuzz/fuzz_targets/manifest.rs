//! Any bytes as a Kubernetes manifest stream: findings or a problem, never a panic, a
//! hang or an alias expansion that eats the memory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nonroot_lab::audit::manifest::audit;

fuzz_target!(|data: &[u8]| {
    let _ = audit("fuzz", data);
});
