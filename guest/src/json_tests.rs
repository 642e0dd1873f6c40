use super::*;

/// Parses `text`, failing the test with the scanner's complaint if it is refused.
fn accept(text: &str) -> Document<'_> {
    parse(text).unwrap_or_else(|e| panic!("{text:?} was refused: {e}"))
}

/// Parses `text`, failing the test if it is accepted.
fn refuse(text: &str) -> SyntaxError {
    match parse(text) {
        Ok(doc) => panic!("{text:?} was accepted as {:?}", doc.top),
        Err(e) => e,
    }
}

/// The raw key of the only member of `{<key>: 0}`, for exercising `Member::is`.
fn only_member(text: &str) -> Member<'_> {
    let doc = accept(text);
    assert_eq!(doc.members.len(), 1, "{text:?}");
    doc.members[0]
}

#[test]
fn every_kind_of_value_is_accepted_with_its_exact_text() {
    let cases = [
        ("{}", Kind::Object),
        (
            r#"{"a":1,"b":[true,false,null],"c":{"d":"e"}}"#,
            Kind::Object,
        ),
        ("[]", Kind::Array),
        (r#"[1,"two",[3,[4,{}]],{"five":5}]"#, Kind::Array),
        (r#""""#, Kind::String),
        (r#""plain text""#, Kind::String),
        ("0", Kind::Number),
        ("true", Kind::Boolean),
        ("false", Kind::Boolean),
        ("null", Kind::Null),
    ];
    for (text, kind) in cases {
        let doc = accept(text);
        assert_eq!(doc.top, Raw { kind, text }, "{text:?}");
    }
}

#[test]
fn every_string_escape_is_accepted() {
    // Each escape RFC 8259 allows, including \u in both hex cases and a surrogate pair.
    let text = r#""\" \\ \/ \b \f \n \r \t \u0041 \u00e9 \u00E9 \ud83d\ude00""#;
    assert_eq!(accept(text).top.kind, Kind::String);
    // Raw non-ASCII text and DEL are not control characters, so they need no escape.
    assert_eq!(accept("\"été \u{7f} 😀\"").top.kind, Kind::String);
}

#[test]
fn numbers_in_every_grammatical_form_are_accepted_unconverted() {
    let cases = [
        "0",
        "-0",
        "7",
        "-12",
        "0.0",
        "1.5",
        "1.5e-3",
        "1.5E+3",
        "1e10",
        "-0.0e0",
        // Far beyond f64 and u64: the scanner never converts, so nothing rounds.
        "123456789012345678901234567890.000000000000000000001",
    ];
    for text in cases {
        assert_eq!(
            accept(text).top,
            Raw {
                kind: Kind::Number,
                text
            },
            "{text:?}"
        );
    }
}

#[test]
fn whitespace_around_and_between_tokens_is_skipped() {
    let text = " \t\r\n{ \"a\" :\n[ 1 ,\t2 ] , \"b\"\r:\"x\" }\n\t ";
    let doc = accept(text);
    // The top value's text excludes the surrounding whitespace.
    assert_eq!(doc.top.text, text.trim());
    assert_eq!(doc.field("a").map(|v| v.text), Some("[ 1 ,\t2 ]"));
    assert_eq!(doc.field("b").map(|v| v.text), Some("\"x\""));
}

#[test]
fn only_top_level_members_are_listed_in_order() {
    let doc = accept(r#"{"z": {"offset": 1}, "a": [2], "m": "s"}"#);
    let listed: Vec<(&str, Kind, &str)> = doc
        .members
        .iter()
        .map(|m| (m.key, m.value.kind, m.value.text))
        .collect();
    assert_eq!(
        listed,
        [
            ("z", Kind::Object, r#"{"offset": 1}"#),
            ("a", Kind::Array, "[2]"),
            ("m", Kind::String, "\"s\""),
        ]
    );
    // A nested key is not a field of the document.
    assert_eq!(doc.field("offset"), None);
}

#[test]
fn a_non_object_document_has_no_members() {
    for text in ["[1, 2]", "5", "\"x\"", "null", "true"] {
        assert!(accept(text).members.is_empty(), "{text:?}");
    }
}

#[test]
fn malformed_text_is_refused_at_the_faulty_byte() {
    // (text, byte offset of the fault, part of the message)
    let cases: &[(&str, usize, &str)] = &[
        ("01", 1, "after the JSON value"),
        ("-01", 2, "after the JSON value"),
        ("1.", 2, "unexpected end"),
        ("1.e5", 2, "expected a digit"),
        (".5", 0, "expected a JSON value"),
        ("-", 1, "unexpected end"),
        ("-a", 1, "expected a digit"),
        ("+1", 0, "expected a JSON value"),
        ("1e", 2, "unexpected end"),
        ("1e+", 3, "unexpected end"),
        ("1e+x", 3, "expected a digit"),
        ("[1,]", 3, "expected a JSON value"),
        (r#"{"a":1,}"#, 7, "expected a string key"),
        ("'a'", 0, "expected a JSON value"),
        ("{'a': 1}", 1, "expected a string key"),
        ("{a: 1}", 1, "expected a string key"),
        ("{1: 1}", 1, "expected a string key"),
        (r#"{"a" 1}"#, 5, "expected ':'"),
        (r#"{"a": 1 "b": 2}"#, 8, "expected ',' or '}'"),
        ("[1 2]", 3, "expected ',' or ']'"),
        ("\"a\u{1}b\"", 2, "control character"),
        ("\"a\nb\"", 2, "control character"),
        ("\"a\tb\"", 2, "control character"),
        (r#""\x""#, 2, "invalid escape"),
        (r#""\U0041""#, 2, "invalid escape"),
        (r#""\u12""#, 5, "invalid \\u escape"),
        (r#""\u12g4""#, 5, "invalid \\u escape"),
        ("NaN", 0, "expected a JSON value"),
        ("Infinity", 0, "expected a JSON value"),
        ("-Infinity", 1, "expected a digit"),
        ("True", 0, "expected a JSON value"),
        ("nul", 3, "unexpected end"),
        ("nulL", 3, "invalid literal"),
        ("truex", 4, "after the JSON value"),
        ("{} x", 3, "after the JSON value"),
        ("{}{}", 2, "after the JSON value"),
        // Only the four JSON whitespace bytes are skipped: not form feed, not NBSP.
        ("\u{c}1", 0, "expected a JSON value"),
        ("\u{a0}1", 0, "expected a JSON value"),
    ];
    for &(text, at, what) in cases {
        let e = refuse(text);
        assert_eq!(e.at, at, "{text:?}: {e}");
        assert!(e.what.contains(what), "{text:?}: {e}, expected {what:?}");
    }
}

#[test]
fn text_cut_short_is_reported_as_truncated_at_its_end() {
    // A torn write is the usual way a record goes bad, so the message must say so.
    for text in [
        "",
        "   ",
        r#"{"offset": 1"#,
        r#"{"offset": "#,
        r#"{"offset""#,
        r#"{"off"#,
        "{",
        "[1,",
        r#""\u00"#,
        "tru",
    ] {
        let e = refuse(text);
        assert_eq!(e.at, text.len(), "{text:?}: {e}");
        assert!(e.what.contains("unexpected end"), "{text:?}: {e}");
        assert!(e.what.contains("truncated"), "{text:?}: {e}");
    }
}

#[test]
fn syntax_error_display_says_what_and_where() {
    let e = refuse(r#"{"offset": 1"#);
    assert_eq!(
        e.to_string(),
        "unexpected end of text (truncated?) at byte 12"
    );
}

/// `depth` containers nested inside each other around `null`: arrays, objects, or
/// (`mixed`) objects and arrays alternating.
fn nested(depth: usize, container: &str) -> String {
    let (mut open, mut close) = (String::new(), String::new());
    for level in 0..depth {
        let array = match container {
            "array" => true,
            "object" => false,
            _ => level % 2 == 1,
        };
        open.push_str(if array { "[" } else { r#"{"a":"# });
        close.insert(0, if array { ']' } else { '}' });
    }
    format!("{open}null{close}")
}

#[test]
fn nesting_up_to_max_depth_is_accepted() {
    for depth in [0, 1, MAX_DEPTH - 1, MAX_DEPTH] {
        for container in ["array", "object", "mixed"] {
            accept(&nested(depth, container));
        }
    }
}

#[test]
fn nesting_past_max_depth_is_refused_at_the_extra_bracket() {
    // The fault is the container that opens level MAX_DEPTH + 1, which starts right
    // after the MAX_DEPTH openers before it.
    let e = refuse(&nested(MAX_DEPTH + 1, "array"));
    assert_eq!((e.at, e.what), (MAX_DEPTH, "nested too deeply"));
    let e = refuse(&nested(MAX_DEPTH + 1, "object"));
    assert_eq!(
        (e.at, e.what),
        (MAX_DEPTH * r#"{"a":"#.len(), "nested too deeply")
    );
    // Depth counts objects and arrays together.
    let e = refuse(&nested(MAX_DEPTH + 1, "mixed"));
    assert_eq!(e.what, "nested too deeply");
}

#[test]
fn hostile_nesting_is_refused_without_exhausting_the_stack() {
    // Unbounded recursion would overflow the test thread's stack long before this.
    let e = refuse(&"[".repeat(100_000));
    assert_eq!((e.at, e.what), (MAX_DEPTH, "nested too deeply"));
    let e = refuse(&r#"{"a":"#.repeat(100_000));
    assert_eq!(e.what, "nested too deeply");
}

#[test]
fn field_takes_the_last_of_duplicate_keys_like_python() {
    // Python's json.loads keeps the last value; a reader that kept the first would
    // resume a pipeline from a different offset than the Python pipelines do.
    let doc = accept(r#"{"offset": 1, "other": 2, "offset": 3}"#);
    assert_eq!(doc.field("offset").map(|v| v.text), Some("3"));
    // Also when the last spelling uses escapes.
    let doc = accept(r#"{"offset": 1, "\u006fffset": 4}"#);
    assert_eq!(doc.field("offset").map(|v| v.text), Some("4"));
    assert_eq!(doc.field("absent"), None);
}

#[test]
fn member_is_decodes_escapes_in_the_key() {
    for text in [
        r#"{"offset": 0}"#,
        r#"{"\u006fffset": 0}"#,
        r#"{"\u006Fffset": 0}"#,
        r#"{"offs\u0065t": 0}"#,
        r#"{"\u006f\u0066\u0066\u0073\u0065\u0074": 0}"#,
    ] {
        assert!(only_member(text).is("offset"), "{text:?}");
    }
    // Escapes that decode to punctuation and whitespace.
    assert!(only_member(r#"{"a\"b": 0}"#).is("a\"b"));
    assert!(only_member(r#"{"a\\b": 0}"#).is("a\\b"));
    assert!(only_member(r#"{"a\/b": 0}"#).is("a/b"));
    assert!(only_member(r#"{"\b\f\n\r\t": 0}"#).is("\u{8}\u{c}\n\r\t"));
}

#[test]
fn member_is_refuses_near_misses() {
    for text in [
        r#"{"offset ": 0}"#,
        r#"{" offset": 0}"#,
        r#"{"offse": 0}"#,
        r#"{"offsetx": 0}"#,
        r#"{"Offset": 0}"#,
        r#"{"": 0}"#,
        // An escape's letter is not the character it stands for: `\t` is a tab.
        r#"{"offse\t": 0}"#,
        // `\u006f` is the whole escape: this key is "ofset", one 'f' short.
        r#"{"\u006ffset": 0}"#,
        // A code point whose low byte is 'o' (0x6f) is not 'o'.
        r#"{"\u016fffset": 0}"#,
        r#"{"\u006f\u0000fffset": 0}"#,
        r#"{"offset\u0000": 0}"#,
        // Non-ASCII text never equals an ASCII name, raw or escaped.
        r#"{"öffset": 0}"#,
        r#"{"\u00f6fffset": 0}"#,
    ] {
        assert!(!only_member(text).is("offset"), "{text:?}");
    }
}

#[test]
fn kind_names_are_the_json_type_names() {
    let names = [
        (Kind::Object, "object"),
        (Kind::Array, "array"),
        (Kind::String, "string"),
        (Kind::Number, "number"),
        (Kind::Boolean, "boolean"),
        (Kind::Null, "null"),
    ];
    for (kind, name) in names {
        assert_eq!(kind.name(), name);
    }
}
