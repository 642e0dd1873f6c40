//! Links what the `no_std` component needs from the target's own C library.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // Slice and string comparisons compile to `memcmp`, which neither `core` nor
    // compiler-builtins provides on wasm32-wasip2; the target ships a self-contained
    // wasi-libc whose `memcmp` is pure computation (no WASI imports).
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg=-lc");
        // A 64 KiB stack instead of the default 1 MiB: the deepest the component goes
        // is the JSON scanner at its nesting limit of 128, a few kilobytes, and every
        // page of stack an instance touches is a page fault when a host opens it and
        // memory it keeps (half the cost of opening a pooled instance, measured).
        println!("cargo:rustc-link-arg=-zstack-size=65536");
    }
}
