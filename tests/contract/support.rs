//! The shared fixtures of `pipeline-checkpoint-test-support`, under the name the
//! modules use.

pub use pipeline_checkpoint_test_support::*;
