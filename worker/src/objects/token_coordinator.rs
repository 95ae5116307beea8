//! The token coordinator (class `TokenCoordinator`, binding `COORDINATOR`,
//! one object per KV key): fetches a token missing from every isolate's
//! memory and from KV once for all isolates and locations, and renews a hot
//! key's token by its alarm before requests would wait on Feishu
//! (`key_server.rs`). Its storage holds nothing but its alarm.

use crate::calls::forward::path_and_query;
use crate::objects::key_server::{Keeps, KeyServer};
use worker::{DurableObject, Env, Request, Response, State, durable_object};

// Only `fetch` and `alarm`: the object takes no websockets or sockets.
#[durable_object(alarm)]
pub struct TokenCoordinator {
    server: KeyServer,
}

impl DurableObject for TokenCoordinator {
    fn new(state: State, env: Env) -> Self {
        Self {
            server: KeyServer::new(state, env, Keeps::Keys),
        }
    }

    async fn fetch(&self, req: Request) -> worker::Result<Response> {
        let full = path_and_query(&req.inner().url());
        self.server.fetch(req, &full).await
    }

    async fn alarm(&self) -> worker::Result<Response> {
        self.server.renew().await
    }
}
