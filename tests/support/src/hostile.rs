//! The misbehaving components of `tests/hostile-guest/`, one per feature of its
//! manifest, built by this crate's build script and never checked in. Each constant is
//! the path of one `.wasm`; [`foreach_hostile!`](crate::foreach_hostile) names them
//! all, so a test module can check that every component has a test.

include!(concat!(env!("OUT_DIR"), "/hostile_components.rs"));

/// The bytes of the component at `path` (one of this module's constants).
pub fn component(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}
