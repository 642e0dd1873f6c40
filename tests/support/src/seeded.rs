//! Seeded randomness for the randomized tests: a small generator, the seed (taken from
//! `CHECKPOINT_TEST_SEED` when set, so that any failing run can be replayed exactly)
//! and case counts taken from the environment for the long runs.
//!
//! Hand-rolled rather than a `rand` dependency: the tests need nothing but uniform
//! integers, and a generator defined here cannot change its sequence under a version
//! bump, so a seed printed today replays the same run later.

use std::hash::{BuildHasher, Hasher};

/// SplitMix64: tiny, fast, and good enough to drive test cases.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`; `n` must not be 0.
    pub fn below(&mut self, n: usize) -> usize {
        // The modulo bias is at most n / 2^64: irrelevant for test inputs.
        (self.next_u64() % n as u64) as usize
    }

    /// A number in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        match (hi - lo).checked_add(1) {
            Some(span) => lo + self.next_u64() % span,
            None => self.next_u64(),
        }
    }

    /// True with probability `percent` / 100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// A generator for a sub-task, independent of how many numbers this one has
    /// drawn since.
    pub fn fork(&mut self) -> Rng {
        Rng(self.next_u64())
    }
}

/// The seed of a randomized test: `CHECKPOINT_TEST_SEED` if set (decimal, or hex with
/// `0x`), otherwise a fresh one. Printed, so that a failure's output says how to
/// replay it.
pub fn seed() -> u64 {
    let seed = match std::env::var("CHECKPOINT_TEST_SEED") {
        Ok(text) => {
            parse_u64(&text).unwrap_or_else(|| panic!("CHECKPOINT_TEST_SEED={text:?} is not a u64"))
        }
        // std seeds its hash maps from the OS's randomness; that is all we need.
        Err(_) => std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish(),
    };
    println!("seed = {seed}");
    println!("(replay with CHECKPOINT_TEST_SEED={seed})");
    seed
}

/// A case count from the environment variable `name`, or `default`.
pub fn count_from_env(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(text) => text
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a count")),
        Err(_) => default,
    }
}

fn parse_u64(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}
