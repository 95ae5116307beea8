use super::*;
use crate::config::rfc3339::parse_rfc3339_ms;
use crate::config::self_built::{SelfBuiltEntry, parse_self_built_apps};

const D: &str = "6e1e9a2b2f0cb4f6c1bbd0c2f1a5e8d7c3b2a1908f7e6d5c4b3a29180f7e6d5c";

fn parse(text: &str) -> Result<Vec<AgentKey>, String> {
    parse_agent_keys(
        text,
        |a| a == "cli_self" || a == "cli_store",
        |a| a == "cli_store",
    )
}

fn entry(extra: &str) -> String {
    format!(
        r#"[{{"id":"bot","sha256":"{D}","app_id":"cli_self","allow":["GET /open-apis/im/v1/chats"]{extra}}}]"#
    )
}

#[test]
fn a_well_formed_entry_is_read() {
    let keys = parse(&entry(r#","expires_at":"2027-01-31T00:00:00Z""#)).unwrap();
    assert_eq!(keys[0].id, "bot");
    assert_eq!(keys[0].expires_at_ms, Some(1_801_353_600_000));
    assert!(keys[0].allows("get", "/open-apis/im/v1/chats"));
    assert!(keys[0].allows("GET", "/open-apis/im/v1/chats/oc_1/members"));
    assert!(!keys[0].allows("GET", "/open-apis/im/v1/chatsx"));
    assert!(!keys[0].allows("POST", "/open-apis/im/v1/chats"));
    assert!(!keys[0].allows("GET", "/open-apis/im/v1/messages"));
    assert!(keys[0].allows_tenant("any"), "no tenants: every one");
}

#[test]
fn a_star_and_a_trailing_slash_allow_any_method_under_the_prefix() {
    let a = parse_allow("* /open-apis/contact/v3/").unwrap();
    assert!(a.allows("DELETE", "/open-apis/contact/v3/users/1"));
    assert!(!a.allows("GET", "/open-apis/contact/v3"));
    assert!(!a.allows("GET", "/open-apis/contact/v2/users"));
}

#[test]
fn malformed_entries_name_their_index_and_field() {
    let cases: [(&str, &str); 15] = [
        ("{", "AGENT_KEYS: not JSON"),
        ("{}", "AGENT_KEYS: must be a JSON array"),
        ("[1]", "AGENT_KEYS[0].: must be an object"),
        (r#"[{"id":"a"}]"#, "AGENT_KEYS[0].sha256: is missing"),
        (&entry(r#","x":1"#), "AGENT_KEYS[0].: unknown field \"x\""),
        (
            &entry("").replace("\"bot\"", "\"\""),
            "AGENT_KEYS[0].id: must be a non-empty string",
        ),
        (
            &entry("").replace(D, "abc"),
            "AGENT_KEYS[0].sha256: must be 64 hex digits",
        ),
        (
            &entry("").replace("cli_self", "cli_other"),
            "AGENT_KEYS[0].app_id: the Worker holds no secret for cli_other",
        ),
        (
            &entry("").replace(r#"["GET /open-apis/im/v1/chats"]"#, "[]"),
            "AGENT_KEYS[0].allow: must be a non-empty array",
        ),
        (
            &entry("").replace("GET /open-apis", "FETCH /open-apis"),
            "AGENT_KEYS[0].allow: each item",
        ),
        (
            &entry("").replace("/open-apis/im/v1/chats", "/oauth/v3/token"),
            "AGENT_KEYS[0].allow: each item",
        ),
        (
            &entry("").replace("/open-apis/im/v1/chats", "/open-apis/../x"),
            "AGENT_KEYS[0].allow: each item",
        ),
        (
            &entry(r#","tenants":["t1"]"#),
            "AGENT_KEYS[0].tenants: only store-app mode's app",
        ),
        (
            &entry(r#","expires_at":"tomorrow""#),
            "AGENT_KEYS[0].expires_at: must be an RFC 3339 time",
        ),
        (
            &entry(r#","expires_at":5"#),
            "AGENT_KEYS[0].expires_at: must be an RFC 3339 time string",
        ),
    ];
    for (text, want) in cases {
        let e = parse(text).unwrap_err();
        assert!(e.starts_with(want), "{text}: {e}");
    }
    let twice = format!("[{0},{0}]", &entry("")[1..entry("").len() - 1]);
    assert!(
        parse(&twice)
            .unwrap_err()
            .starts_with("AGENT_KEYS[1].id: \"bot\" is used")
    );
    let store = entry(r#","tenants":["t1"]"#).replace("cli_self", "cli_store");
    assert_eq!(
        parse(&store).unwrap()[0].tenants,
        Some(vec!["t1".to_owned()])
    );
}

#[test]
fn hundreds_of_malformed_settings_are_refused_by_name_never_a_panic() {
    let valid = entry("");
    let mut inputs: Vec<String> = (0..valid.len()).map(|i| valid[..i].to_owned()).collect();
    let values = [
        "null", "0", "-1", "true", "\"\"", "\"x\"", "[]", "{}", "[1]", "[\"x\"]", "\"GET\"",
        "1e999",
    ];
    for field in [
        "id",
        "sha256",
        "app_id",
        "allow",
        "tenants",
        "expires_at",
        "extra",
    ] {
        for v in values {
            let mut o: serde_json::Map<String, Value> =
                serde_json::from_str(&valid[1..valid.len() - 1]).unwrap();
            o.insert(
                field.to_owned(),
                serde_json::from_str(v).unwrap_or(Value::Null),
            );
            inputs.push(format!("[{}]", Value::Object(o)));
        }
        let mut o: serde_json::Map<String, Value> =
            serde_json::from_str(&valid[1..valid.len() - 1]).unwrap();
        o.remove(field);
        inputs.push(format!("[{}]", Value::Object(o)));
    }
    let mut refused = 0;
    for text in &inputs {
        match parse(text) {
            Err(e) => {
                assert!(e.starts_with("AGENT_KEYS"), "{text}: {e}");
                refused += 1;
            }
            Ok(keys) => assert!(keys.iter().all(|k| !k.allow.is_empty()), "{text}"),
        }
    }
    assert!(refused >= 200, "{refused} of {} refused", inputs.len());
}

#[test]
fn self_built_apps_never_show_a_secret() {
    let entry = |app_id: &str, secret: &str, lark| SelfBuiltEntry {
        app_id: app_id.to_owned(),
        secret: secret.to_owned(),
        lark,
        encrypt_key: None,
        verification_token: None,
    };
    assert_eq!(
        parse_self_built_apps(r#"{"cli_a":"s1"}"#).unwrap(),
        vec![entry("cli_a", "s1", false)]
    );
    assert_eq!(
        parse_self_built_apps(
            r#"{"cli_a":{"secret":"s1"},"cli_b":{"secret":"s2","brand":"lark"},"cli_c":{"secret":"s3","brand":"feishu"}}"#
        )
        .unwrap(),
        vec![
            entry("cli_a", "s1", false),
            entry("cli_b", "s2", true),
            entry("cli_c", "s3", false)
        ]
    );
    for bad in [
        "[",
        "[]",
        r#"{"x":"s"}"#,
        r#"{"cli_a":""}"#,
        r#"{"cli_a":5}"#,
        r#"{"cli_a":{"secret":"s1","brand":"larks"}}"#,
        r#"{"cli_a":{"secret":"s1","brand":null}}"#,
        r#"{"cli_a":{"secret":"s1","region":"cn"}}"#,
        r#"{"cli_a":{"brand":"lark"}}"#,
        r#"{"cli_a":{"secret":5}}"#,
    ] {
        let e = parse_self_built_apps(bad).unwrap_err();
        assert!(e.starts_with("SELF_BUILT_APPS: "), "{e}");
        assert!(!e.contains("s1"));
    }
}

#[test]
fn rfc3339_times() {
    assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(
        parse_rfc3339_ms("2026-12-03T12:00:00.5Z"),
        Some(1_796_299_200_500)
    );
    assert_eq!(
        parse_rfc3339_ms("2026-12-03T20:00:00+08:00"),
        Some(1_796_299_200_000)
    );
    assert_eq!(
        parse_rfc3339_ms("2024-02-29T00:00:00Z"),
        Some(1_709_164_800_000)
    );
    for bad in [
        "2023-02-29T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-12-03 12:00:00",
        "2026-12-03T12:00:00+8:00",
        "2026-12-03T24:00:00Z",
        "2026-12-03T12:00:00.Z",
        "x",
    ] {
        assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
    }
}

#[test]
fn user_tokens_is_off_by_default_and_needs_users() {
    let entry = |extra: &str| {
        format!(
            r#"[{{"id":"a","sha256":"{}","app_id":"cli_a","allow":["GET /open-apis/im/v1/chats"]{extra}}}]"#,
            "ab".repeat(32)
        )
    };
    let parse = |extra: &str| parse_agent_keys(&entry(extra), |_| true, |_| false);
    assert!(!parse(r#","users":["ou_a"]"#).unwrap()[0].user_tokens);
    assert!(parse(r#","users":["ou_a"],"user_tokens":true"#).unwrap()[0].user_tokens);
    assert!(!parse(r#","users":["ou_a"],"user_tokens":false"#).unwrap()[0].user_tokens);
    let e = parse(r#","user_tokens":true"#).unwrap_err();
    assert!(
        e.contains("AGENT_KEYS[0].user_tokens") && e.contains("users"),
        "{e}"
    );
    let e = parse(r#","users":["ou_a"],"user_tokens":"yes""#).unwrap_err();
    assert!(e.contains("true or false"), "{e}");
}

#[test]
fn a_path_that_could_be_read_two_ways_is_allowed_by_no_entry() {
    let keys = parse_agent_keys(
        &format!(
            r#"[{{"id":"a","sha256":"{}","app_id":"cli_a","allow":["* /open-apis/im/"]}}]"#,
            "cd".repeat(32)
        ),
        |_| true,
        |_| false,
    )
    .unwrap();
    assert!(keys[0].allows("GET", "/open-apis/im/v1/chats"));
    assert!(
        keys[0].allows("GET", "/open-apis/%69m/v1/chats"),
        "escaped unreserved"
    );
    for hostile in [
        "/open-apis/im/v1/chats/..%2F..%2Fx",
        "/open-apis/im/v1/chats/..;/x",
        "/open-apis/im/v1/chats/..%5Cx",
        "/open-apis/im\\v1",
    ] {
        assert!(!keys[0].allows("GET", hostile), "{hostile}");
    }
}

#[test]
fn every_one_of_a_thousand_keys_is_found_by_its_digest_and_app_only() {
    // Digests in no order (a multiplicative scramble of the index).
    let digest = |i: u32| format!("{:08x}", i.wrapping_mul(2_654_435_761)).repeat(8);
    let entries: Vec<String> = (0..MAX_AGENT_KEYS as u32)
        .map(|i| {
            let app = if i % 2 == 0 { "cli_self" } else { "cli_store" };
            format!(
                r#"{{"id":"k{i}","sha256":"{}","app_id":"{app}","allow":["GET /open-apis/im/"]}}"#,
                digest(i)
            )
        })
        .collect();
    let keys = parse(&format!("[{}]", entries.join(","))).unwrap();
    for i in 0..MAX_AGENT_KEYS as u32 {
        let d = parse_hex32(&digest(i)).unwrap();
        let (app, other) = if i % 2 == 0 {
            ("cli_self", "cli_store")
        } else {
            ("cli_store", "cli_self")
        };
        assert_eq!(
            find_by_digest(&keys, app, &d).map(|k| k.id.as_str()),
            Some(format!("k{i}").as_str())
        );
        assert!(find_by_digest(&keys, other, &d).is_none(), "another app's");
    }
    let mut unknown = parse_hex32(&digest(7)).unwrap();
    unknown[31] ^= 1;
    assert!(find_by_digest(&keys, "cli_store", &unknown).is_none());
}

#[test]
fn limits_are_read_whole_and_refused_by_name() {
    let keys = parse(&entry("")).unwrap();
    assert_eq!(keys[0].limits, None, "no limits by default");
    let keys = parse(&entry(r#","limits":{"per_minute":60,"per_month":20000}"#)).unwrap();
    assert_eq!(
        keys[0].limits,
        Some(limits::KeyLimits {
            per_minute: Some(60),
            per_day: None,
            per_month: Some(20_000),
        })
    );
    for bad in [
        r#","limits":{}"#,
        r#","limits":60"#,
        r#","limits":{"per_hour":60}"#,
        r#","limits":{"per_minute":0}"#,
        r#","limits":{"per_minute":-1}"#,
        r#","limits":{"per_minute":1.5}"#,
        r#","limits":{"per_minute":"60"}"#,
        r#","limits":{"per_day":100000001}"#,
    ] {
        let err = parse(&entry(bad)).unwrap_err();
        assert!(err.starts_with("AGENT_KEYS[0].limits: "), "{bad}: {err}");
    }
}
