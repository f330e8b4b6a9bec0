//! Nothing to generate. This script makes the `protoc-bin-vendored` crate part of every
//! build of sd-etcd: cargo then unpacks its protoc binary before anything compiles, where
//! `.cargo/protoc` (the workspace's PROTOC) finds it for etcd-client's build script. So
//! building needs no protoc installed.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    // Where the vendored protoc is, for anyone reading the build output with -vv.
    match protoc_bin_vendored::protoc_bin_path() {
        Ok(path) => println!("vendored protoc: {}", path.display()),
        Err(error) => println!("no vendored protoc: {error}"),
    }
}
