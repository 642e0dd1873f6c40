//! The embedded component itself: the authority it asks for, what it offers, and its
//! size.

use std::collections::BTreeSet;

use pipeline_checkpoint_host::COMPONENT;
use wasmtime::component::Component;

use crate::support::runtime;

/// The largest component accepted, in bytes.
const MAX_COMPONENT_BYTES: usize = 64 * 1024;

/// The embedded component decoded by the runtime's engine.
fn component() -> Component {
    Component::new(runtime().engine(), COMPONENT).expect("the embedded component compiles")
}

/// The names the component imports, as the engine decodes them.
fn import_names() -> BTreeSet<String> {
    let engine = runtime().engine();
    let component = component();
    let ty = component.component_type();
    ty.imports(engine)
        .map(|(name, _)| name.to_owned())
        .collect()
}

/// The component imports storage, consumer and the wall clock and nothing else: no
/// files, network, environment, randomness or any other WASI interface.
#[test]
fn component_imports_only_storage_consumer_and_wall_clock() {
    let interfaces: BTreeSet<String> = import_names()
        .iter()
        .map(|name| {
            name.split_once('@')
                .map_or(name.as_str(), |(i, _)| i)
                .to_owned()
        })
        .collect();
    let expected = [
        "pipeline:checkpoint/consumer",
        "pipeline:checkpoint/storage",
        "wasi:clocks/wall-clock",
    ];
    assert_eq!(interfaces, BTreeSet::from(expected.map(String::from)));
}

/// The imports carry exactly the versions `wit/world.wit` declares, so a host that
/// provides precisely those interfaces can link the component.
#[test]
fn component_imports_the_versions_the_wit_declares() {
    let expected = [
        "pipeline:checkpoint/consumer@0.3.0",
        "pipeline:checkpoint/storage@0.3.0",
        "wasi:clocks/wall-clock@0.2.6",
    ];
    assert_eq!(import_names(), BTreeSet::from(expected.map(String::from)));
}

/// The component exports exactly the checkpoint manager interface.
#[test]
fn component_exports_only_the_manager() {
    let engine = runtime().engine();
    let component = component();
    let ty = component.component_type();
    let exports: BTreeSet<&str> = ty.exports(engine).map(|(name, _)| name).collect();
    assert_eq!(
        exports,
        BTreeSet::from(["pipeline:checkpoint/manager@0.3.0"])
    );
}

/// The embedded component is a component (not a core module) and stays within
/// 64 KiB.
#[test]
fn component_is_a_component_within_the_size_bound() {
    println!(
        "embedded component: {} bytes (bound {MAX_COMPONENT_BYTES})",
        COMPONENT.len()
    );
    let header = wasmparser::Parser::new(0)
        .parse(COMPONENT, true)
        .expect("the component has a valid header");
    assert!(
        matches!(
            header,
            wasmparser::Chunk::Parsed {
                payload: wasmparser::Payload::Version {
                    encoding: wasmparser::Encoding::Component,
                    ..
                },
                ..
            }
        ),
        "{header:?}"
    );
    assert!(
        COMPONENT.len() <= MAX_COMPONENT_BYTES,
        "the component is {} bytes; the bound is {MAX_COMPONENT_BYTES}",
        COMPONENT.len()
    );
}

/// The component works within a quarter of the default memory limit, so the default
/// leaves it room: a thousand list-form writes of a thousand ids each (the ids are
/// copied into its memory every time) under a 4 MiB limit hit no limit.
#[tokio::test]
async fn component_runs_within_a_quarter_of_the_default_memory_limit() {
    use pipeline_checkpoint_host::{Host, HostConfig, Limits, MemoryConsumer, MemoryStorage};

    let limits = Limits {
        memory_bytes: 4 << 20,
        ..Limits::default()
    };
    assert_eq!(limits.memory_bytes * 4, Limits::default().memory_bytes);
    let host = Host::new(HostConfig::default()).unwrap();
    let runtime = host.load_with_limits(COMPONENT, limits).unwrap();
    let mut manager = runtime
        .open(None, MemoryStorage::new(), MemoryConsumer::new())
        .await
        .unwrap();
    let ids: Vec<String> = (0..1_000)
        .map(pipeline_checkpoint_test_support::uuid_shaped_id)
        .collect();
    for offset in 1..=1_000 {
        manager.write_checkpoint(&ids, offset).await.unwrap();
    }
}
