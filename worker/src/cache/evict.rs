//! Eviction of a token Feishu refused from KV, through the reverse index the
//! KV layer writes beside each token it stores (`kv::token_ref_key`).

use crate::cache::layer::KvHost;
use feishu_tenant_token::{AccessToken, TokenGrant, kv};

/// What [`evict_refused`] did and found, entry by entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Eviction {
    /// Entries that held exactly this token: deleted.
    pub evicted: usize,
    /// Entries that hold another token by now (a newer one): kept.
    pub replaced: usize,
    /// KV failed (logged); for those entries nothing was deleted.
    pub failed: bool,
    /// The token's keys, as its reverse-index entry names them (empty for a
    /// token the Worker never stored).
    pub keys: Vec<String>,
    /// The token one of those keys holds now, when it is another: the
    /// refused token's replacement, fetched by whichever isolate saw the
    /// refusal first (the caller checks it is still usable).
    pub newer: Option<TokenGrant>,
    /// The refused token's own expiry, as its entry states it: past it,
    /// nothing replaces the token.
    pub until_ms: Option<u64>,
}

/// Compare-and-delete in KV of a token Feishu refused (99991663/99991665):
/// the token's reverse-index entry names every key it was stored under; each
/// is deleted only while it still holds exactly `token`, so a late refusal of
/// an old token never evicts its replacement, and finds it instead. A token
/// the Worker never stored has no entry: one read, nothing written or
/// deleted. The entry itself is kept (it expires with the token): clients
/// may hold the token until then, and each refusal of it must find the key.
/// KV has no atomic compare-and-delete: a replacement written between this
/// read and the delete would be lost, costing one extra fetch from Feishu
/// (which hands out the same new token again), never a bad token.
///
/// Only keys of the brand that refused (`lark`) are touched: Feishu refuses
/// every Lark token, and the other way round, so a token sent to the other
/// brand's host says nothing about it, and its keys are not even named.
pub async fn evict_refused<H: KvHost>(kv: &H, token: &AccessToken, lark: bool) -> Eviction {
    let mut done = Eviction::default();
    let reference = kv::token_ref_key(token);
    let named = match kv.get(&reference).await {
        Ok(Some(named)) => named,
        Ok(None) => return done,
        Err(e) => {
            kv.warn("kv_get_failed", &e);
            done.failed = true;
            return done;
        }
    };
    done.until_ms = kv::ref_until(&named);
    for key in kv::ref_keys(&named).filter(|k| kv::is_lark_key(k) == lark) {
        done.keys.push(key.to_owned());
        match kv
            .get(key)
            .await
            .map(|t| t.as_deref().and_then(kv::decode_value))
        {
            Ok(Some(g)) if g.token == *token => match kv.delete(key).await {
                Ok(()) => done.evicted += 1,
                Err(e) => {
                    kv.warn("kv_delete_failed", &e);
                    done.failed = true;
                }
            },
            Ok(Some(g)) => {
                done.replaced += 1;
                done.newer.get_or_insert(g);
            }
            Ok(None) => {}
            Err(e) => {
                kv.warn("kv_get_failed", &e);
                done.failed = true;
            }
        }
    }
    done
}
