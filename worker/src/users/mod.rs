//! User access tokens at the edge (on with `USER_TOKEN_KEY`, and only with
//! the `COORDINATOR` binding): a browser signs in through the Worker
//! (`sign_in.rs`: `/oauth/login`, `/oauth/callback`), the user's grant then
//! lives in that user's own Durable Object (`object.rs`, sealed at rest by
//! `sealed.rs`), which runs the core's `UserTokens`: every refresh of one
//! user, from any isolate or location, goes through that one object, so a
//! single-use refresh token is sent once. Services and agents get the
//! user's token with an API key (`endpoints.rs`), or have it put on their
//! calls (`X-User-Id`, `calls.rs`).

pub mod sealed;
pub mod settings;
