// The lessons, manifests, Dockerfiles and exercise scaffolds are embedded with include_dir; rebuild when
// any of them changes.
fn main() {
    for dir in ["lessons", "manifests", "dockerfiles", "exercises"] {
        println!("cargo:rerun-if-changed={dir}");
    }
}
