//! Misbehaving checkpoint components: each implements the `checkpointer` world and
//! misbehaves in every method, in the one way its cargo feature names (see
//! `Cargo.toml`). The contract tests load them beside well-behaved tenants and show
//! that the host stops or refuses each within its limits.
//!
//! Built for the host this crate is empty; built for `wasm32-wasip2` it is a `no_std`
//! component like the real one, with the real one's allocator and panic handler.

#![cfg_attr(target_arch = "wasm32", no_std)]

#[cfg(target_arch = "wasm32")]
extern crate alloc;

#[cfg(target_arch = "wasm32")]
mod component;
// The real component's allocator and panic handler.
#[cfg(target_arch = "wasm32")]
use pipeline_checkpoint_guest_runtime as _;
