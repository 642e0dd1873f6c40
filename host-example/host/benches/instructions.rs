//! Writes for an instruction count: opens one manager over memory (a counting consumer)
//! and writes N checkpoints of 100 ids in the batch form, each awaited on a
//! current-thread runtime (`async`) or through [`BlockingManager`] (`blocking`).
//! Counted with callgrind at two values of N, the difference divided by the difference
//! in writes is the instructions one write costs, start-up excluded:
//!
//! ```sh
//! cargo bench -p pipeline-checkpoint-host --bench instructions --no-run
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/deps/instructions-<hash> async 10000   # and 20000
//! ```

use pipeline_checkpoint_host::blocking::BlockingManager;
use pipeline_checkpoint_host::{AckResult, Consumer, MemoryStorage, Runtime};
use pipeline_checkpoint_test_support::uuid_shaped_id;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let (Some(mode), Some(writes)) = (args.next(), args.next()) else {
        // `cargo bench` without arguments, or `cargo test --benches`: nothing to count.
        return;
    };
    let writes: u64 = writes.parse().expect("a number of writes");
    let runtime = Runtime::new().expect("the component loads");
    let mut ids: Vec<String> = (0..100).map(uuid_shaped_id).collect();
    match mode.as_str() {
        "async" => {
            let executor = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            executor.block_on(async {
                let mut manager = runtime
                    .open(None, MemoryStorage::new(), Counting)
                    .await
                    .unwrap();
                for offset in 1..=writes {
                    manager
                        .write_checkpoint_batch(&mut ids, offset)
                        .await
                        .unwrap();
                }
            });
        }
        "blocking" => {
            let mut manager =
                BlockingManager::open(&runtime, None, MemoryStorage::new(), Counting).unwrap();
            for offset in 1..=writes {
                manager.write_checkpoint_batch(&mut ids, offset).unwrap();
            }
        }
        other => panic!("mode {other:?}: async or blocking"),
    }
}

/// A consumer that only counts.
struct Counting;

impl Consumer for Counting {
    async fn ack(&mut self, ids: &[String]) -> AckResult {
        std::hint::black_box(ids);
        Ok(())
    }
}
