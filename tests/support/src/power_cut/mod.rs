//! A FUSE file system that forgets what was not synced, and cuts the power on demand:
//! the proof that a put's fsyncs are all there. `volume` is the model (what a cut
//! keeps), `mount` serves it through FUSE in a temporary directory.

mod mount;
mod volume;

pub use mount::PowerCutMount;
pub use volume::{CutMode, Ino, Node, ROOT, Volume};

#[cfg(test)]
mod layer_tests;
