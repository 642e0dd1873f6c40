//! The pipeline with its record in object storage, on each cloud's emulator (moto,
//! fake-gcs-server behind the tests' front, Azurite): an outage in the middle of a run,
//! a store that ignores conditional writes, and credentials kept out of output. Each
//! property is one body, run on every cloud (`object_storage::s3::…`, `::gcs::…`,
//! `::azure::…`).

use std::collections::HashSet;
use std::net::TcpListener;

use host_example::pipeline::generated;
use pipeline_checkpoint_host::FileConsumer;
use pipeline_checkpoint_test_support::http_fronts::canned_server;
use pipeline_checkpoint_test_support::object_stores::ObjectServer;

use crate::support::{
    host_example, offset_in, spawn_host_example, stderr, stdout, wait_for_acked_batches,
};

/// Runs each named body on each cloud, as `s3::NAME`, `gcs::NAME` and `azure::NAME`.
macro_rules! on_each_cloud {
    ($($name:ident),* $(,)?) => {
        on_each_cloud!(@cloud s3, S3, $($name),*);
        on_each_cloud!(@cloud gcs, Gcs, $($name),*);
        on_each_cloud!(@cloud azure, Azure, $($name),*);
    };
    (@cloud $module:ident, $cloud:ident, $($name:ident),*) => {
        mod $module {
            use pipeline_checkpoint_host::backends::object_storage::Cloud;
            $(
                /// See the body of the same name, run on this module's cloud.
                #[test]
                fn $name() {
                    let test = concat!(stringify!($module), "::", stringify!($name));
                    if let Some(server) = super::ObjectServer::start(Cloud::$cloud, test) {
                        super::$name(server);
                    }
                }
            )*
        }
    };
}

on_each_cloud!(
    outage_mid_run_acks_nothing_undurable_and_the_pipeline_resumes,
    a_store_that_ignores_conditional_writes_is_refused_unless_accepted,
    credentials_never_appear_in_output_or_errors,
);

/// The emulator frozen while `run` is checkpointing: the run stops `unavailable`,
/// every id it acked is below the durable offset, a run during the outage acks
/// nothing, and once the server answers again the next run completes, nothing lost.
fn outage_mid_run_acks_nothing_undurable_and_the_pipeline_resumes(cloud: ObjectServer) {
    const MESSAGES: u64 = 20_000;
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let url = cloud.cli_url("outage", "o");
    let acks = state.join("acks.log");
    let messages = MESSAGES.to_string();
    let run_args = ["--storage", &url, "run", "--messages", &messages, "--quiet"];
    let mut run = spawn_host_example(&state, &run_args);
    wait_for_acked_batches(&mut run, &acks, 5);
    cloud.freeze();
    let output = run.wait_with_output().unwrap();
    let stopped = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(5), "{stopped}");
    assert!(stopped.contains("unavailable"), "{stopped}");

    let acked_during_outage = std::fs::read(&acks).unwrap();
    let down = host_example(&state, &run_args);
    assert_eq!(down.status.code(), Some(5), "{}", stderr(&down));
    assert_eq!(std::fs::read(&acks).unwrap(), acked_during_outage);

    cloud.thaw();
    let record = cloud
        .object("outage", "o/pipeline/checkpoint.json")
        .unwrap();
    let durable = offset_in(Some(String::from_utf8(record).unwrap()));
    let acked = FileConsumer::read_log(&acks).unwrap().concat();
    assert!(
        acked.len() as u64 <= durable,
        "{} acked, {durable} durable",
        acked.len()
    );
    let resumed = host_example(&state, &run_args);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(
        stdout(&resumed).contains(&format!(
            "durable offset {MESSAGES} of {MESSAGES} (complete)"
        )),
        "{}",
        stdout(&resumed)
    );
    let sink = std::fs::read_to_string(state.join("sink.jsonl")).unwrap();
    assert_eq!(sink.lines().count() as u64, MESSAGES);
    let acked: HashSet<String> = FileConsumer::read_log(&acks)
        .unwrap()
        .concat()
        .into_iter()
        .collect();
    assert_eq!(acked.len() as u64, MESSAGES);
    for i in 0..MESSAGES {
        assert!(
            acked.contains(&generated(i).id),
            "message {i} was never acknowledged"
        );
    }
}

/// Behind a proxy that drops conditional headers, `run` refuses to start, says why,
/// and writes nothing; with `accept_unfenced_writes=true` it runs.
fn a_store_that_ignores_conditional_writes_is_refused_unless_accepted(cloud: ObjectServer) {
    cloud.create_bucket("unfenced");
    let proxy = cloud.condition_stripping_proxy();
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let url = cloud.cli_url_at(proxy, "unfenced", "u");
    let refused = host_example(
        &state,
        &["--storage", &url, "run", "--messages", "50", "--quiet"],
    );
    let why = stderr(&refused);
    assert!(!refused.status.success());
    assert!(
        why.contains("ignores conditional writes") && why.contains("accept_unfenced_writes"),
        "{why}"
    );
    assert_eq!(cloud.object("unfenced", "u/pipeline/checkpoint.json"), None);
    assert!(
        !state.join("acks.log").exists()
            || std::fs::read(state.join("acks.log")).unwrap().is_empty()
    );

    let accepted = format!("{url}&accept_unfenced_writes=true");
    let run = host_example(
        &state,
        &["--storage", &accepted, "run", "--messages", "50", "--quiet"],
    );
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(
        cloud
            .object("unfenced", "u/pipeline/checkpoint.json")
            .is_some()
    );
}

/// Whatever fails (access denied, no server, a refused probe), no secret of the
/// credentials in the environment (or in the files it names) appears in the output.
fn credentials_never_appear_in_output_or_errors(cloud: ObjectServer) {
    let tmp = tempfile::tempdir().unwrap();
    let denied = canned_server(
        403,
        "<Error><Code>AccessDenied</Code><Message>denied</Message></Error>",
    );
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let proxy = cloud.condition_stripping_proxy();
    let good = cloud.cli_url("creds", "c");
    cloud.create_bucket("creds");
    let mut runs = Vec::new();
    for (url, status) in [
        (cloud.cli_url_at(denied, "creds", "c"), None),
        (cloud.cli_url_at(closed, "creds", "c"), Some(5)),
        (cloud.cli_url_at(proxy, "creds", "c"), None),
        (good.clone(), Some(0)),
    ] {
        let state = tmp.path().join(format!("state-{}", runs.len()));
        for args in [
            vec![
                "--storage",
                url.as_str(),
                "run",
                "--messages",
                "20",
                "--batch-size",
                "5",
            ],
            vec!["--storage", url.as_str(), "get"],
            vec!["--storage", url.as_str(), "inspect"],
        ] {
            let output = host_example(&state, &args);
            if args[2] == "run" {
                if let Some(code) = status {
                    assert_eq!(
                        output.status.code(),
                        Some(code),
                        "{url}: {}",
                        stderr(&output)
                    );
                } else {
                    assert!(!output.status.success(), "{url}");
                }
            }
            runs.push((
                url.clone(),
                format!("{}{}", stdout(&output), stderr(&output)),
            ));
        }
    }
    assert!(
        runs.iter().any(|(_, text)| text.contains("access denied")),
        "{runs:?}"
    );
    for (url, text) in &runs {
        for secret in cloud.secrets() {
            assert!(
                !text.contains(secret),
                "{url}: a credential shows in: {text}"
            );
        }
    }
}
