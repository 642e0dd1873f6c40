//! A FUSE file system that forgets what was not synced, and cuts the power on demand:
//! the proof that a put's fsyncs are all there. `volume` is the model (what a cut
//! keeps), `mount` serves it through FUSE in a temporary directory, and `gate` holds
//! its mutating operations while a test lines up what it wants to cut through.

mod gate;
mod mount;
mod volume;

pub use gate::Hold;
pub use mount::PowerCutMount;
pub use volume::{CutMode, Ino, Node, ROOT, Volume};

#[cfg(test)]
mod layer_tests;
