//! Links the function (`kinesis-autoscaler-lambda`) as a position-dependent executable on
//! Linux: without `-pie` the linker resolves the ~22,000 relative relocations of a PIE itself,
//! so the binary carries no `.rela.dyn` table (about 540 KB of 8 MB) and the loader has none
//! to apply at each cold start. The command line stays a PIE.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bin=kinesis-autoscaler-lambda=-no-pie");
    }
}
