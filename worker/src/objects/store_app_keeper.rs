//! The store app's keeper (class `StoreAppKeeper`, binding
//! `STORE_APP_KEEPER`, the managed app's one object, named by its app
//! token's KV key): keeps the app's ticket, its resend claim and its app
//! token (the copy of record; KV holds the copy isolates read) in its
//! storage, answers the fronts' ticket operations (`coordinator::storage`),
//! and serves and renews the app token as the coordinator does a key's
//! (`key_server.rs`).

use crate::calls::forward::path_and_query;
use crate::coordinator::protocol::{REPLACE, TICKET_PREFIX};
use crate::coordinator::storage::ticket_op;
use crate::http::reply;
use crate::http::request::{MAX_BODY_BYTES, read_body};
use crate::objects::key_server::{Keeps, KeyServer};
use feishu_tenant_token::Clock;
use feishu_tenant_token::host::JsClock;
use worker::{DurableObject, Env, Request, Response, State, durable_object};

#[durable_object(alarm)]
pub struct StoreAppKeeper {
    server: KeyServer,
}

impl DurableObject for StoreAppKeeper {
    fn new(state: State, env: Env) -> Self {
        Self {
            server: KeyServer::new(state, env, Keeps::StoreApp),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let full = path_and_query(&req.inner().url());
        match full.strip_prefix(TICKET_PREFIX) {
            Some(op) if op != REPLACE => {
                let Ok(body) = read_body(&mut req, MAX_BODY_BYTES).await? else {
                    return reply::json_response(503, String::new());
                };
                let body = String::from_utf8(body).unwrap_or_default();
                match ticket_op(&self.server.store(), op, &body, JsClock.now_ms()).await {
                    Ok(text) => Response::ok(text),
                    Err(_) => reply::json_response(503, String::new()),
                }
            }
            _ => self.server.fetch(req, &full).await,
        }
    }

    async fn alarm(&self) -> worker::Result<Response> {
        self.server.renew().await
    }
}
