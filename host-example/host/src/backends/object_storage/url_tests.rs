use super::*;

/// A URL names a cloud, a bucket, a prefix and how to reach it; anything else,
/// credentials above all, is refused with the reason.
#[test]
fn object_urls_parse_and_refuse_credentials_and_malformed_parts() {
    let url: ObjectUrl = "s3://my-bucket/pipelines/a?endpoint=http%3A%2F%2F127.0.0.1%3A9000&region=eu-west-1&timeout_ms=2000&retries=0"
        .parse()
        .unwrap();
    assert_eq!(url.cloud, Cloud::S3);
    assert_eq!(url.bucket, "my-bucket");
    assert_eq!(url.prefix, "pipelines/a");
    let option = |url: &ObjectUrl, name: &str| {
        let found = url.options.iter().find(|(n, _)| n == name);
        found.map(|(_, value)| value.clone())
    };
    assert_eq!(option(&url, "endpoint").unwrap(), "http://127.0.0.1:9000");
    assert_eq!(option(&url, "region").unwrap(), "eu-west-1");
    assert_eq!(url.timeout, Duration::from_millis(2000));
    assert_eq!(url.retries, 0);
    assert_eq!(
        url.display_key("k.json"),
        "s3://my-bucket/pipelines/a/k.json"
    );
    let azure: ObjectUrl =
        "az://ckpt/p?account_name=devstoreaccount1&endpoint=http://127.0.0.1:10000/devstoreaccount1"
            .parse()
            .unwrap();
    assert_eq!(azure.cloud, Cloud::Azure);
    assert_eq!(option(&azure, "account_name").unwrap(), "devstoreaccount1");
    // object_store's own keys for the cloud pass; another cloud's do not.
    let hosted: ObjectUrl = "s3://b/p?virtual_hosted_style_request=true"
        .parse()
        .unwrap();
    assert_eq!(
        option(&hosted, "virtual_hosted_style_request").unwrap(),
        "true"
    );
    let gcs: ObjectUrl = "gs://my_bucket.example/p/q/?endpoint=http://127.0.0.1:4443"
        .parse()
        .unwrap();
    assert_eq!((gcs.cloud, gcs.prefix.as_str()), (Cloud::Gcs, "p/q"));
    assert_eq!(gcs.display_key("k"), "gs://my_bucket.example/p/q/k");
    let plain: ObjectUrl = "s3://bkt".parse().unwrap();
    assert_eq!((plain.prefix.as_str(), plain.options.len()), ("", 0));
    assert_eq!(
        (plain.timeout, plain.retries),
        (DEFAULT_TIMEOUT, DEFAULT_RETRIES)
    );
    for url in [&plain, &url, &azure, &gcs, &hosted] {
        assert_eq!(&url.to_string().parse::<ObjectUrl>().unwrap(), url);
    }
    for (text, why) in [
        ("s3://", "no bucket"),
        ("s3://?region=x", "no bucket"),
        ("s4://bkt/p", "s3://, gs:// or az://"),
        ("bkt/p", "s3://, gs:// or az://"),
        ("s3://My_Bucket/p", "no bucket of lowercase"),
        ("gs://bkt:1/p", "no bucket of lowercase"),
        ("s3://bkt//p", "empty segment"),
        (
            "s3://bkt/p?endpoint=http://user:pw@h:1",
            "never taken from the URL",
        ),
        ("s3://bkt/p?secret_access_key=x", "never taken from the URL"),
        ("s3://bkt/p?aws_access_key_id=x", "never taken from the URL"),
        ("s3://bkt/p?session_token=x", "never taken from the URL"),
        (
            "gs://bkt/p?service_account_key=x",
            "never taken from the URL",
        ),
        ("az://bkt/p?access_key=x", "never taken from the URL"),
        ("az://bkt/p?sas=x", "never taken from the URL"),
        ("s3://bkt/p?timeout_ms=0", "timeout_ms"),
        ("s3://bkt/p?timeout_ms=99999999999999999999", "timeout_ms"),
        ("s3://bkt/p?retries=11", "retries"),
        ("s3://bkt/p?retries=-1", "retries"),
        ("gs://bkt/p?region=eu", "unknown parameter"),
        ("s3://bkt/p?account_name=a", "unknown parameter"),
        ("az://bkt/p?region=eu", "unknown parameter"),
        ("s3://bkt/p?accept_unfenced_writes=yes", "true or false"),
        ("s3://bkt/p?endpoint=%ZZ", "two hex digits"),
        ("s3://bkt/p?colour=blue", "unknown parameter"),
        ("s3://bkt/p?flag", "no value"),
    ] {
        let err = text.parse::<ObjectUrl>().expect_err(text);
        assert!(err.why.contains(why), "{text:?}: {err}");
    }
}
