//! What a `no_std` component must supply itself: an allocator, the `cabi_realloc`
//! export the canonical ABI allocates through, and a panic handler. The checkpoint
//! component and the misbehaving test components link it alike; built for anything
//! but wasm32 it is empty.

#![no_std]
#![cfg(target_arch = "wasm32")]

extern crate alloc;

/// dlmalloc, the allocator Rust's own `wasm32-unknown-unknown` std uses: small, and it
/// returns freed memory for reuse, which a manager living for millions of calls needs.
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

/// The canonical ABI's allocation entry point: the host calls it to place strings and
/// lists in the component's memory. wit-bindgen supplies one only on other targets.
///
/// # Safety
/// Called by the host per the canonical ABI: `old_ptr`/`old_len`/`align` describe a
/// block previously returned here (or `old_len == 0`), and `align` is a power of two.
#[unsafe(export_name = "cabi_realloc")]
unsafe extern "C" fn cabi_realloc(
    old_ptr: *mut u8,
    old_len: usize,
    align: usize,
    new_len: usize,
) -> *mut u8 {
    use alloc::alloc::{Layout, alloc, realloc};

    if new_len == 0 {
        // A zero-sized block needs no memory, only a well-aligned address.
        return align as *mut u8;
    }
    let ptr = unsafe {
        if old_len == 0 {
            alloc(Layout::from_size_align_unchecked(new_len, align))
        } else {
            realloc(
                old_ptr,
                Layout::from_size_align_unchecked(old_len, align),
                new_len,
            )
        }
    };
    if ptr.is_null() {
        // Out of memory: trap rather than hand the host a null pointer.
        core::arch::wasm32::unreachable();
    }
    ptr
}

/// A panic is a bug in the component; it becomes a trap the host reports, without the
/// formatting machinery a message would pull in.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}
