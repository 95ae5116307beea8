//! The coordinator as the KV layer sees it (`coordinator/` implements it):
//! a seam, so the layer's rules are tested natively with a closure standing
//! in for the object.

use core::future::Future;
use core::pin::Pin;
use feishu_tenant_token::{Error, TokenGrant};

/// The Durable Object coordinator, as the KV layer sees it: given a KV miss's
/// key and request, the token the one object owning the key found or fetched
/// (and stored in KV) for every isolate; `None` when it could not be asked or
/// failed (reported by the implementation), and the layer then fetches by
/// itself, as without a coordinator.
pub type Ask<R> = Box<dyn Fn(&str, &R, Want) -> Asked>;

/// What the coordinator is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// A servable token: the object's own, or one it fetches.
    Servable,
    /// A forced refresh (the caller was told the token is bad): the object
    /// replaces its own copy, else it would hand the refused token to the
    /// next isolate that misses KV. Its refreshes are throttled like any
    /// client's, so fronts refreshing one token together make one fetch.
    Fresh,
    /// A replacement of the token with this digest, which the caller was
    /// told is refused: the object replaces it when it is its own token
    /// (unthrottled: the token it fetched moments ago may be the refused
    /// one), else serves its own, newer one.
    Replacing([u8; 32]),
}

/// What the coordinator answers, `'static` (it owns what it sends).
pub type Asked = Pin<Box<dyn Future<Output = Option<Result<TokenGrant, Error>>>>>;
