//! Power loss, which `kill -9` cannot show: the page cache outlives a killed process,
//! so only a file system that forgets what was not synced proves the fsyncs are there.
#![cfg(target_os = "linux")]

mod layer_tests;
mod mount;
mod volume;
