//! Each signed-in user's object (class `UserObject`, binding
//! `USER_OBJECTS`, named `user:v1:<brand>:<app>:<open_id>`): the user's
//! sealed grant in its storage, every refresh of that user in its one
//! flight, and the keep-alive alarm (`users::object`).

use crate::calls::forward::path_and_query;
use crate::http::reply;
use crate::http::request::{MAX_BODY_BYTES, read_body};
use crate::users;
use worker::{DurableObject, Env, Request, Response, State, durable_object};

#[durable_object(alarm)]
pub struct UserObject {
    state: State,
    env: Env,
    user: users::object::Slot,
}

impl DurableObject for UserObject {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            user: Default::default(),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let full = path_and_query(&req.inner().url());
        let Some(op) = full.strip_prefix(users::protocol::USER_PREFIX) else {
            return reply::json_response(404, String::new());
        };
        let op = op.to_owned();
        let Ok(body) = read_body(&mut req, MAX_BODY_BYTES).await? else {
            return reply::json_response(400, String::new());
        };
        users::object::fetch(&self.user, &self.state, &self.env, &op, &body).await
    }

    async fn alarm(&self) -> worker::Result<Response> {
        users::object::alarm(&self.user, &self.state, &self.env).await
    }
}
