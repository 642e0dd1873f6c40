use super::*;

fn parse(url: &str) -> Result<EtcdUrl, String> {
    url.parse::<EtcdUrl>().map_err(|e| e.why)
}

#[test]
fn parses_authority_prefix_and_timeout() {
    let url = parse("etcd://127.0.0.1:2379/pipelines/orders?timeout_ms=250").unwrap();
    assert_eq!(url.endpoints, ["127.0.0.1:2379"]);
    assert_eq!(url.prefix, "pipelines/orders");
    assert_eq!(url.timeout, Duration::from_millis(250));
    assert_eq!((url.tls.as_ref(), url.user.as_ref()), (None, None));
    assert_eq!(
        url.etcd_key("pipeline/checkpoint.json"),
        "pipelines/orders/pipeline/checkpoint.json"
    );
    assert_eq!(
        url.to_string(),
        "etcd://127.0.0.1:2379/pipelines/orders?timeout_ms=250"
    );
}

#[test]
fn several_members_are_kept_in_order() {
    let url = parse("etcd://10.0.0.1:2379,10.0.0.2:2379,etcd-3:2379/p").unwrap();
    assert_eq!(
        url.endpoints,
        ["10.0.0.1:2379", "10.0.0.2:2379", "etcd-3:2379"]
    );
    assert_eq!(
        url.display_key("k"),
        "etcd://10.0.0.1:2379,10.0.0.2:2379,etcd-3:2379/p/k"
    );
    assert_eq!(url.to_string().parse::<EtcdUrl>().unwrap(), url);
}

#[test]
fn etcds_takes_a_ca_and_a_client_certificate() {
    let url =
        parse("etcds://app@h1:2379,h2:2379/p?ca=/etc/etcd/ca.pem&cert=/c%20d/app.pem&key=k.pem")
            .unwrap();
    let tls = url.tls.clone().unwrap();
    assert_eq!(tls.ca, Some(PathBuf::from("/etc/etcd/ca.pem")));
    assert_eq!(
        tls.client,
        Some((PathBuf::from("/c d/app.pem"), PathBuf::from("k.pem")))
    );
    assert_eq!(url.user.as_deref(), Some("app"));
    assert_eq!(url.display_key("k"), "etcds://h1:2379,h2:2379/p/k");
    assert_eq!(url.to_string().parse::<EtcdUrl>().unwrap(), url);
    // Without ca=, the public roots: TLS all the same.
    assert_eq!(
        parse("etcds://h:1/p").unwrap().tls,
        Some(EtcdTls::default())
    );
}

#[test]
fn a_user_and_a_password_file_parse_and_print_without_a_password() {
    let url = parse("etcd://pipeline@h:2379/p?password_file=/run/secrets/etcd").unwrap();
    assert_eq!(url.user.as_deref(), Some("pipeline"));
    assert_eq!(url.password_file, Some(PathBuf::from("/run/secrets/etcd")));
    assert_eq!(
        url.to_string(),
        "etcd://pipeline@h:2379/p?password_file=/run/secrets/etcd"
    );
}

#[test]
fn a_password_in_the_url_is_refused_and_not_echoed() {
    let error = "etcd://root:hunter2@h:2379/p"
        .parse::<EtcdUrl>()
        .unwrap_err();
    let shown = error.to_string();
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("root:***@h:2379"), "{shown}");
    assert!(shown.contains(PASSWORD_ENV), "{shown}");
}

#[test]
fn prefix_is_optional_and_trailing_slashes_are_dropped() {
    for (text, prefix) in [
        ("etcd://localhost:2379", ""),
        ("etcd://localhost:2379/", ""),
        ("etcd://localhost:2379/p/", "p"),
    ] {
        let url = parse(text).unwrap();
        assert_eq!(
            (url.prefix.as_str(), url.timeout),
            (prefix, DEFAULT_TIMEOUT),
            "{text}"
        );
    }
    assert_eq!(parse("etcd://h:1").unwrap().etcd_key("k"), "k");
}

#[test]
fn malformed_urls_say_what_is_wrong() {
    for (text, why) in [
        ("http://127.0.0.1:2379/p", "etcd://"),
        ("etcd://127.0.0.1/p", "HOST:PORT"),
        ("etcd://:2379/p", "HOST:PORT"),
        ("etcd://h:99999/p", "port"),
        ("etcd://h:1,,h:2/p", "HOST:PORT"),
        ("etcd://h:1,h:1/p", "named twice"),
        ("etcd://h:2379/a//b", "empty segment"),
        ("etcd://h:2379//a", "empty segment"),
        ("etcd://h:2379/p?timeout_ms=0", "timeout_ms"),
        ("etcd://h:2379/p?timeout_ms=600001", "timeout_ms"),
        (
            "etcd://h:2379/p?timeout_ms=18446744073709551615",
            "timeout_ms",
        ),
        ("etcd://h:2379/p?timeout_ms=1&timeout_ms=2", "twice"),
        ("etcd://h:2379/p?retries=3", "unknown parameter"),
        ("etcd://h:2379/p?ca", "no value"),
        ("etcd://h:2379/p?ca=/ca.pem", "use etcds://"),
        ("etcds://h:2379/p?ca=", "names no file"),
        ("etcds://h:2379/p?cert=c.pem", "both cert= and key="),
        ("etcd://h:2379/p?password_file=/pw", "needs a user"),
        ("etcd://@h:2379/p", "empty user"),
    ] {
        let got = parse(text).expect_err(text);
        assert!(got.contains(why), "{text}: {got}");
    }
}
