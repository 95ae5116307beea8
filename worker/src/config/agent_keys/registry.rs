//! The agent keys made, rotated and revoked at run time (the admin API),
//! beside the static `AGENT_KEYS`: the registry's document, kept by its one
//! object (`objects::key_registry`) and read by every isolate at most once
//! a second while keys are used (`agents::registry`). Pure, so its rules
//! are tested natively:
//!
//! - `keys`: entries in `AGENT_KEYS`' own shape (only the key's SHA-256);
//!   an entry whose id is a static key's replaces it: a rotated static key
//!   is `{"id", "sha256", "static": true}`, the static entry with a new key;
//! - `grace`: a rotated key's former digest, live until `until_ms`;
//! - `revoked`: ids refused everywhere (a static key's stays revoked until
//!   `AGENT_KEYS` no longer lists it).

use crate::config::agent_keys::{AgentKey, MAX_AGENT_KEYS, parse_entry};
use feishu_tenant_token::cache_key::{hex32, parse_hex32};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How long a rotated key's former key keeps working by default (the
/// issue's "grace period"), and at most.
pub const DEFAULT_GRACE_SECS: u64 = 3600;
pub const MAX_GRACE_SECS: u64 = 7 * 24 * 3600;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Registry {
    /// Raised by every change: an isolate asks "since <version>".
    pub version: u64,
    #[serde(default)]
    pub keys: Vec<Value>,
    #[serde(default)]
    pub grace: Vec<Grace>,
    #[serde(default)]
    pub revoked: Vec<String>,
}

/// A rotated key's former digest and until when it still works.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grace {
    pub id: String,
    pub sha256: String,
    pub until_ms: u64,
}

/// One change, as the admin endpoints send it to the registry's object
/// (externally tagged, `{"revoke": {"id": ...}}`: an internally tagged
/// enum's reader buffers the whole value first, 10 KB of `.wasm`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// A new key (its entry; the id unused by any registry entry).
    Create { entry: Value },
    /// A key's entry replaced by `entry` (a new `sha256`); its former digest
    /// kept until `grace.until_ms`.
    Rotate { entry: Value, grace: Grace },
    /// Key `id` refused from now on.
    Revoke { id: String },
}

fn id_of(entry: &Value) -> Option<&str> {
    entry.get("id").and_then(Value::as_str)
}

/// A rotated static key's entry: `{"id", "sha256", "static": true}`.
fn is_static(entry: &Value) -> bool {
    entry.get("static") == Some(&Value::Bool(true))
}

impl Registry {
    /// The entry of key `id` when it was made at run time (a rotated static
    /// key's is not).
    pub fn made_here(&self, id: &str) -> Option<&Value> {
        self.keys
            .iter()
            .find(|e| id_of(e) == Some(id) && !is_static(e))
    }

    /// Whether `digest` is key `id`'s former one, kept for its grace.
    pub fn is_former(&self, id: &str, digest: &[u8; 32]) -> bool {
        let sha = hex32(digest);
        self.grace.iter().any(|g| g.id == id && g.sha256 == sha)
    }

    /// Applies `change` at `now_ms` (former digests past their grace are
    /// dropped); the version is raised. `Err` says why nothing changed.
    pub fn apply(&mut self, change: Change, now_ms: u64) -> Result<(), String> {
        self.grace.retain(|g| g.until_ms > now_ms);
        match change {
            Change::Create { entry } => {
                let id = id_of(&entry).ok_or("the entry has no id")?.to_owned();
                if self.keys.iter().any(|e| id_of(e) == Some(&id)) {
                    return Err(format!("a key with id {id:?} exists"));
                }
                if self.keys.len() >= MAX_AGENT_KEYS {
                    return Err(format!("at most {MAX_AGENT_KEYS} keys made at run time"));
                }
                self.revoked.retain(|r| *r != id);
                self.keys.push(entry);
            }
            Change::Rotate { entry, grace } => {
                let id = id_of(&entry).ok_or("the entry has no id")?.to_owned();
                if grace.id != id || self.revoked.contains(&id) {
                    return Err(format!("key {id:?} cannot be rotated"));
                }
                self.keys.retain(|e| id_of(e) != Some(&id));
                self.grace.retain(|g| g.id != id);
                self.keys.push(entry);
                self.grace.push(grace);
            }
            Change::Revoke { id } => {
                self.keys.retain(|e| id_of(e) != Some(&id));
                self.grace.retain(|g| g.id != id);
                if !self.revoked.contains(&id) {
                    self.revoked.push(id);
                }
            }
        }
        self.version += 1;
        Ok(())
    }

    /// The keys live at `now_ms`: the static ones not revoked nor replaced,
    /// the registry's, and rotated keys' former digests within their grace
    /// (an entry's copy with the former digest, dying at the grace's end);
    /// sorted by digest for `find_by_digest`. An entry that no longer reads
    /// (its app's secret gone from the settings) is skipped and named in
    /// the second value.
    pub fn merged(
        &self,
        static_keys: &[AgentKey],
        holds_secret: &impl Fn(&str) -> bool,
        is_store_app: &impl Fn(&str) -> bool,
        now_ms: u64,
    ) -> (Vec<AgentKey>, Vec<String>) {
        let mut skipped = Vec::new();
        let mut keys: Vec<AgentKey> = Vec::with_capacity(static_keys.len() + self.keys.len());
        for entry in &self.keys {
            if is_static(entry) {
                let digest = entry
                    .get("sha256")
                    .and_then(Value::as_str)
                    .and_then(parse_hex32);
                let id = id_of(entry).unwrap_or_default();
                match (digest, static_keys.iter().find(|k| k.id == id)) {
                    (Some(digest), Some(k)) => keys.push(AgentKey {
                        digest,
                        ..k.clone()
                    }),
                    _ => skipped.push(format!(
                        "{id:?}: a rotated AGENT_KEYS entry no longer listed"
                    )),
                }
                continue;
            }
            match parse_entry(entry, holds_secret, is_store_app) {
                Ok(k) => keys.push(k),
                Err((field, why)) => skipped.push(format!(
                    "{:?}.{field}: {why}",
                    id_of(entry).unwrap_or_default()
                )),
            }
        }
        let replaced =
            |id: &str| self.revoked.iter().any(|r| r == id) || keys.iter().any(|k| k.id == id);
        let kept: Vec<AgentKey> = static_keys
            .iter()
            .filter(|k| !replaced(&k.id))
            .cloned()
            .collect();
        keys.extend(kept);
        for g in self.grace.iter().filter(|g| g.until_ms > now_ms) {
            let (Some(digest), Some(current)) =
                (parse_hex32(&g.sha256), keys.iter().find(|k| k.id == g.id))
            else {
                continue;
            };
            let mut former = current.clone();
            former.digest = digest;
            former.expires_at_ms = Some(
                former
                    .expires_at_ms
                    .map_or(g.until_ms, |e| e.min(g.until_ms)),
            );
            keys.push(former);
        }
        keys.sort_unstable_by_key(|k| k.digest);
        keys.dedup_by_key(|k| k.digest);
        (keys, skipped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::agent_keys::parse_agent_keys;
    use serde_json::json;

    fn entry(id: &str, digest: u8) -> Value {
        json!({"id": id, "sha256": format!("{digest:02x}").repeat(32), "app_id": "cli_a",
               "allow": ["GET /open-apis/im/v1/chats"]})
    }

    fn statics() -> Vec<AgentKey> {
        let text = json!([entry("static", 1)]).to_string();
        parse_agent_keys(&text, |a| a == "cli_a", |_| false).unwrap()
    }

    fn live(r: &Registry, now: u64) -> Vec<(String, u8, Option<u64>)> {
        let (keys, skipped) = r.merged(&statics(), &|a: &str| a == "cli_a", &|_: &str| false, now);
        assert!(skipped.is_empty(), "{skipped:?}");
        keys.iter()
            .filter(|k| !k.expired(now))
            .map(|k| (k.id.clone(), k.digest[0], k.expires_at_ms))
            .collect()
    }

    #[test]
    fn created_keys_join_the_static_ones_and_ids_stay_unique() {
        let mut r = Registry::default();
        r.apply(
            Change::Create {
                entry: entry("bot", 2),
            },
            0,
        )
        .unwrap();
        assert_eq!(r.version, 1);
        assert_eq!(
            live(&r, 0),
            vec![("static".into(), 1, None), ("bot".into(), 2, None)]
        );
        let again = r.apply(
            Change::Create {
                entry: entry("bot", 3),
            },
            0,
        );
        assert!(again.unwrap_err().contains("exists"));
        assert_eq!(r.version, 1, "a refused change changes nothing");
    }

    #[test]
    fn a_rotated_key_keeps_its_former_digest_until_the_grace_ends() {
        let mut r = Registry::default();
        r.apply(
            Change::Create {
                entry: entry("bot", 2),
            },
            0,
        )
        .unwrap();
        let grace = Grace {
            id: "bot".into(),
            sha256: "02".repeat(32),
            until_ms: 1000,
        };
        r.apply(
            Change::Rotate {
                entry: entry("bot", 3),
                grace,
            },
            10,
        )
        .unwrap();
        let at = |now| {
            let mut v: Vec<u8> = live(&r, now)
                .iter()
                .filter(|k| k.0 == "bot")
                .map(|k| k.1)
                .collect();
            v.sort();
            v
        };
        assert_eq!(at(500), vec![2, 3], "both within the grace");
        assert_eq!(at(1000), vec![3], "the former dies at the grace's end");
        // A static key rotated: the registry's entry replaces it.
        let grace = Grace {
            id: "static".into(),
            sha256: "01".repeat(32),
            until_ms: 2000,
        };
        let rotated = json!({"id": "static", "sha256": "04".repeat(32), "static": true});
        r.apply(
            Change::Rotate {
                entry: rotated,
                grace,
            },
            20,
        )
        .unwrap();
        let statics_now: Vec<u8> = live(&r, 1500)
            .iter()
            .filter(|k| k.0 == "static")
            .map(|k| k.1)
            .collect();
        assert_eq!(statics_now.len(), 2);
        assert!(statics_now.contains(&1) && statics_now.contains(&4));
        assert!(!live(&r, 2000).iter().any(|k| k.0 == "static" && k.1 == 1));
    }

    #[test]
    fn revoked_keys_are_gone_static_or_not_with_their_grace() {
        let mut r = Registry::default();
        r.apply(
            Change::Create {
                entry: entry("bot", 2),
            },
            0,
        )
        .unwrap();
        let grace = Grace {
            id: "bot".into(),
            sha256: "02".repeat(32),
            until_ms: 1000,
        };
        r.apply(
            Change::Rotate {
                entry: entry("bot", 3),
                grace,
            },
            0,
        )
        .unwrap();
        r.apply(Change::Revoke { id: "bot".into() }, 0).unwrap();
        r.apply(
            Change::Revoke {
                id: "static".into(),
            },
            0,
        )
        .unwrap();
        assert!(live(&r, 1).is_empty());
        let rotate = Change::Rotate {
            entry: entry("static", 5),
            grace: Grace {
                id: "static".into(),
                sha256: "01".repeat(32),
                until_ms: 9,
            },
        };
        assert!(
            r.apply(rotate, 1).is_err(),
            "a revoked key is not brought back by a rotation"
        );
        assert_eq!(
            serde_json::from_str::<Registry>(&serde_json::to_string(&r).unwrap()).unwrap(),
            r
        );
    }

    #[test]
    fn an_entry_that_no_longer_reads_is_skipped_and_named() {
        let mut r = Registry::default();
        let mut e = entry("gone", 9);
        e["app_id"] = json!("cli_gone");
        r.apply(Change::Create { entry: e }, 0).unwrap();
        let (keys, skipped) = r.merged(&statics(), &|a: &str| a == "cli_a", &|_: &str| false, 0);
        assert_eq!(keys.len(), 1);
        assert!(
            skipped[0].contains("gone") && skipped[0].contains("app_id"),
            "{skipped:?}"
        );
    }

    #[test]
    fn a_change_reads_from_the_admin_endpoints_json() {
        let c: Change = serde_json::from_str(r#"{"revoke":{"id":"bot"}}"#).unwrap();
        assert_eq!(c, Change::Revoke { id: "bot".into() });
    }
}
