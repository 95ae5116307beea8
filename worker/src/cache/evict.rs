//! Eviction of a token Feishu refused from KV, through the reverse index the
//! KV layer writes beside each token it stores (`kv::token_ref_key`).

use crate::cache::layer::KvHost;
use feishu_tenant_token::{AccessToken, kv};

/// What [`evict_refused`] did, entry by entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Eviction {
    /// Entries that held exactly this token: deleted.
    pub evicted: usize,
    /// Entries that hold another token by now (a newer one): kept.
    pub replaced: usize,
    /// KV failed (logged); for those entries nothing was deleted.
    pub failed: bool,
}

/// Compare-and-delete in KV of a token Feishu refused (99991663/99991665):
/// the token's reverse-index entry names every key it was stored under; each
/// is deleted only while it still holds exactly `token`, so a late refusal of
/// an old token never evicts its replacement. A token the Worker never
/// stored has no entry: one read, nothing written or deleted. KV has no
/// atomic compare-and-delete: a replacement written between this read and
/// the delete would be lost, costing one extra fetch from Feishu (which hands
/// out the same new token again), never a bad token.
pub async fn evict_refused<H: KvHost>(kv: &H, token: &AccessToken) -> Eviction {
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
    for key in kv::ref_keys(&named) {
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
            Ok(Some(_)) => done.replaced += 1,
            Ok(None) => {}
            Err(e) => {
                kv.warn("kv_get_failed", &e);
                done.failed = true;
            }
        }
    }
    // The index entry served its one purpose (a forged one is dropped too);
    // kept when KV failed, so that the next refusal tries again.
    if !done.failed
        && let Err(e) = kv.delete(&reference).await
    {
        kv.warn("kv_delete_failed", &e);
    }
    done
}
