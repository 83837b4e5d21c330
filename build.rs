//! Links the function (`kinesis-autoscaler-lambda`) as a position-dependent executable on
//! Linux: without `-pie` the linker resolves the ~22,000 relative relocations of a PIE itself,
//! so the binary carries no `.rela.dyn` table (about 540 KB of 8 MB) and the loader has none
//! to apply at each cold start. The command line stays a PIE.
//!
//! The price: the function's own code is not address-randomised (its stack, heap and shared
//! libraries still are). We accept it for a single-tenant microVM whose only input is an
//! alarm or schedule event parsed by safe Rust; deleting this file restores a PIE at about
//! +0.54 MB (x86_64 then near 7.9 MB of the 8 MB goal, BENCHMARKS.md).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bin=kinesis-autoscaler-lambda=-no-pie");
    }
}
