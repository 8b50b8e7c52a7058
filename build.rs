// The lessons, manifests and Dockerfiles are embedded with include_dir; rebuild when
// any of them changes.
fn main() {
    for dir in ["lessons", "manifests", "dockerfiles"] {
        println!("cargo:rerun-if-changed={dir}");
    }
}
