use super::*;
use crate::config::agent_keys::parse_agent_keys;

const NOW: u64 = 1_800_000_000_000;
const SELF_KEY: &str = "ftt_ak_self-key-0123456789abcdef0123456789";
const STORE_KEY: &str = "ftt_ak_store-key-0123456789abcdef012345678";

fn hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn agents(expires: &str) -> Agents {
    let self_built = vec![AppCredentials::parse("cli_self", "self-secret", ["i", "s"]).unwrap()];
    let text = format!(
        r#"[{{"id":"bot","sha256":"{}","app_id":"cli_self","allow":["GET /open-apis/im/v1/chats"],"users":["ou_alice"]{expires}}},
            {{"id":"isv","sha256":"{}","app_id":"cli_store","allow":["* /open-apis/im/"],"tenants":["t1"]}}]"#,
        hex(SELF_KEY),
        hex(STORE_KEY)
    );
    let keys = parse_agent_keys(
        &text,
        |a| a == "cli_self" || a == "cli_store",
        |a| a == "cli_store",
    )
    .unwrap();
    Agents {
        self_built,
        keys,
        ..Agents::default()
    }
}

fn store_app() -> AppCredentials {
    AppCredentials::parse("cli_store", "store-secret", ["i", "s"]).unwrap()
}

fn with<'a>(agents: &'a Agents, store: &'a AppCredentials, lark: bool) -> Settings<'a> {
    Settings {
        agents,
        store_app: Some(store),
        lark,
    }
}

#[test]
fn a_self_built_key_gets_a_gateway_token_that_allows_its_list_only() {
    let (a, s) = (agents(""), store_app());
    let set = with(&a, &s, false);
    let m = set
        .token_for_key("cli_self", SELF_KEY, Kind::Tenant, false, NOW)
        .unwrap()
        .unwrap();
    assert_eq!(m.expires_at_ms, NOW + 7_200_000);
    assert!(!m.token.contains(SELF_KEY) && !m.token.contains("self-secret"));
    let g = set
        .authorize(&m.token, "GET", "/open-apis/im/v1/chats", NOW + 1)
        .unwrap();
    assert_eq!(
        (g.key.id.as_str(), g.app.app_id(), g.store, g.kind),
        ("bot", "cli_self", false, Kind::Tenant)
    );
    for (method, path) in [
        ("POST", "/open-apis/im/v1/chats"),
        ("GET", "/open-apis/contact/v3/users"),
        ("GET", "/open-apis/im/v1/chats%2F..%2Fx"),
    ] {
        assert_eq!(
            set.authorize(&m.token, method, path, NOW + 1).unwrap_err(),
            Denied::NotAllowed {
                key_id: "bot".into()
            },
            "{method} {path}"
        );
    }
    assert_eq!(
        set.authorize(&m.token, "GET", "/open-apis/im/v1/chats", NOW + 7_200_000)
            .unwrap_err(),
        Denied::Invalid,
        "expired"
    );
    let lark = with(&a, &s, true);
    assert_eq!(
        lark.authorize(&m.token, "GET", "/open-apis/im/v1/chats", NOW)
            .unwrap_err(),
        Denied::Invalid,
        "another brand"
    );
}

#[test]
fn secrets_that_are_not_keys_go_the_usual_way_and_key_shaped_ones_never_do() {
    let (a, s) = (agents(""), store_app());
    let set = with(&a, &s, false);
    assert_eq!(
        set.token_for_key("cli_self", "self-secret", Kind::Tenant, false, NOW),
        Ok(None)
    );
    assert_eq!(
        set.token_for_key("cli_self", "ftt_ak_unknown", Kind::Tenant, false, NOW),
        Err(Denied::Invalid)
    );
    assert_eq!(
        set.token_for_key("cli_other", SELF_KEY, Kind::Tenant, false, NOW),
        Err(Denied::Invalid),
        "another app's id"
    );
    assert_eq!(
        set.token_for_key("cli_self", SELF_KEY, Kind::App, true, NOW),
        Err(Denied::Invalid),
        "a self-built key at the store endpoint"
    );
    let none = Agents::default();
    let off = Settings {
        agents: &none,
        store_app: None,
        lark: false,
    };
    assert_eq!(
        off.token_for_key("cli_self", "anything", Kind::Tenant, false, NOW),
        Ok(None)
    );
    assert_eq!(
        off.token_for_key("cli_self", SELF_KEY, Kind::Tenant, false, NOW),
        Err(Denied::Invalid)
    );
}

#[test]
fn a_key_expires_and_its_tokens_with_it() {
    let (a, s) = (
        agents(r#","expires_at":"2027-01-15T08:00:00Z""#),
        store_app(),
    );
    let set = with(&a, &s, false);
    let at = a.keys[0].expires_at_ms.unwrap();
    let m = set
        .token_for_key("cli_self", SELF_KEY, Kind::Tenant, false, at - 1000)
        .unwrap()
        .unwrap();
    assert_eq!(m.expires_at_ms, at, "never past the key");
    assert_eq!(
        set.token_for_key("cli_self", SELF_KEY, Kind::Tenant, false, at),
        Err(Denied::Invalid)
    );
    assert_eq!(
        set.authorize(&m.token, "GET", "/open-apis/im/v1/chats", at)
            .unwrap_err(),
        Denied::Invalid
    );
}

#[test]
fn a_removed_key_or_a_changed_secret_kills_its_tokens() {
    let (a, s) = (agents(""), store_app());
    let m = with(&a, &s, false)
        .token_for_key("cli_self", SELF_KEY, Kind::Tenant, false, NOW)
        .unwrap()
        .unwrap();
    let mut removed = a.clone();
    removed.keys.remove(0);
    assert_eq!(
        with(&removed, &s, false)
            .authorize(&m.token, "GET", "/open-apis/im/v1/chats", NOW)
            .unwrap_err(),
        Denied::Invalid
    );
    let mut rotated = a.clone();
    rotated.self_built = vec![AppCredentials::parse("cli_self", "new-secret", ["i", "s"]).unwrap()];
    assert_eq!(
        with(&rotated, &s, false)
            .authorize(&m.token, "GET", "/open-apis/im/v1/chats", NOW)
            .unwrap_err(),
        Denied::Invalid
    );
}

#[test]
fn store_keys_get_tenant_tokens_for_their_tenants_only() {
    let (a, s) = (agents(""), store_app());
    let set = with(&a, &s, false);
    let app = set
        .token_for_key("cli_store", STORE_KEY, Kind::App, true, NOW)
        .unwrap()
        .unwrap();
    let t1 = set
        .tenant_token_for(&app.token, "t1", NOW)
        .unwrap()
        .unwrap();
    let g = set
        .authorize(&t1.token, "POST", "/open-apis/im/v1/messages", NOW)
        .unwrap();
    assert_eq!(
        (g.store, g.kind, g.tenant.as_deref()),
        (true, Kind::Tenant, Some("t1"))
    );
    assert_eq!(
        set.tenant_token_for(&app.token, "t2", NOW),
        Err(Denied::TenantNotAllowed {
            key_id: "isv".into()
        })
    );
    assert_eq!(
        set.tenant_token_for("a-real-app-token", "t1", NOW),
        Ok(None),
        "not ours: the usual way"
    );
    assert_eq!(
        set.tenant_token_for(&t1.token, "t1", NOW),
        Err(Denied::Invalid),
        "a tenant token is no app token"
    );
    assert_eq!(
        set.token_for_key("cli_store", STORE_KEY, Kind::Tenant, false, NOW),
        Err(Denied::Invalid),
        "a store key at an internal endpoint"
    );
}

#[test]
fn forged_and_damaged_gateway_tokens_are_invalid() {
    let (a, s) = (agents(""), store_app());
    let set = with(&a, &s, false);
    let m = set
        .token_for_key("cli_self", SELF_KEY, Kind::Tenant, false, NOW)
        .unwrap()
        .unwrap();
    let forged = gateway_token::mint(
        &gateway_token::claims(&m.token).unwrap(),
        "guessed-secret",
        &a.keys[0].digest,
    );
    let mut inputs = vec![
        forged,
        format!("{}x", m.token),
        m.token.replace('.', ""),
        "g1.".into(),
        "g1.x.y".into(),
    ];
    inputs.extend((0..m.token.len()).step_by(7).map(|i| {
        let mut b = m.token.clone().into_bytes();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap()
    }));
    for bad in inputs {
        assert!(
            set.authorize(&bad, "GET", "/open-apis/im/v1/chats", NOW)
                .is_err(),
            "{bad}"
        );
    }
}

#[test]
fn a_key_acts_only_for_the_users_it_lists_within_its_allow_list() {
    let (a, s) = (agents(""), store_app());
    let set = with(&a, &s, false);
    assert_eq!(
        set.for_user(SELF_KEY, "cli_self", "ou_alice", None, NOW)
            .err(),
        Some(Denied::NotAllowed {
            key_id: "bot".into()
        }),
        "the raw token only for an entry with user_tokens: it works at Feishu outside allow"
    );
    let call = Some(("GET", "/open-apis/im/v1/chats"));
    assert!(
        set.for_user(SELF_KEY, "cli_self", "ou_alice", call, NOW)
            .is_ok()
    );
    for hostile in [
        "/open-apis/im/v1/chats/..%2F..%2Fauthen/v1/user_info",
        "/open-apis/im/v1/chats/x%2F..%2F..%2Fauthen",
        "/open-apis/im/v1/chats/..%5C..%5Cauthen",
        "/open-apis/im/v1/chats/..;/messages",
        "/open-apis/im/v1/chats/..;/..;/authen/v1/user_info",
        "/open-apis/im/v1/chats/%2e%2e/authen",
    ] {
        assert!(
            set.for_user(
                SELF_KEY,
                "cli_self",
                "ou_alice",
                Some(("GET", hostile)),
                NOW
            )
            .is_err(),
            "{hostile}"
        );
    }
    let raw = agents(r#","user_tokens":true"#);
    let set_raw = with(&raw, &s, false);
    let k = set_raw
        .for_user(SELF_KEY, "cli_self", "ou_alice", None, NOW)
        .unwrap();
    assert_eq!(k.id, "bot");
    assert_eq!(
        set.for_user(SELF_KEY, "cli_self", "ou_bob", None, NOW)
            .err(),
        Some(Denied::NotAllowed {
            key_id: "bot".into()
        }),
        "a user the key does not list"
    );
    let post = Some(("POST", "/open-apis/im/v1/messages"));
    assert!(
        set.for_user(SELF_KEY, "cli_self", "ou_alice", post, NOW)
            .is_err()
    );
    assert_eq!(
        set.for_user(STORE_KEY, "cli_store", "ou_alice", None, NOW)
            .err(),
        Some(Denied::NotAllowed {
            key_id: "isv".into()
        }),
        "a key listing no users acts for none"
    );
    for (key, app) in [("ftt_ak_made-up", "cli_self"), (SELF_KEY, "cli_store")] {
        assert_eq!(
            set.for_user(key, app, "ou_alice", None, NOW).err(),
            Some(Denied::Invalid)
        );
    }
    let expired = agents(r#","expires_at":"2020-01-01T00:00:00Z""#);
    let set = with(&expired, &s, false);
    assert_eq!(
        set.for_user(SELF_KEY, "cli_self", "ou_alice", None, NOW)
            .err(),
        Some(Denied::Invalid)
    );
}
