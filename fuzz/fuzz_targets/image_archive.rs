//! Any bytes as an image archive (`docker save` or an OCI layout tar, plain, gzip or
//! zstd): images or one message, never a panic, a hang or unbounded memory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nonroot_lab::image_archive::read_stream;

fuzz_target!(|data: &[u8]| {
    let _ = read_stream(data);
});
