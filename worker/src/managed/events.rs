//! `POST /feishu/events`: Feishu's callbacks, checked (signature before
//! decryption, replay window: the core's `event::receive`); the managed
//! app's `app_ticket` is stored, everything else acknowledged.

use crate::cache::workers_kv::WorkerKv;
use crate::config::Config;
use crate::coordinator::tickets::Tickets;
use crate::http::reply::{self, Local};
use crate::http::request::read_body;
use crate::keys::api_keys::managed_off;
use crate::log;
use crate::managed::ack;
use feishu_tenant_token::Clock;
use feishu_tenant_token::event::{self, Event, SignatureHeaders};
use feishu_tenant_token::host::JsClock;
use feishu_tenant_token::store_app::TicketStore;
use serde::Serialize;
use worker::{Env, Request, Response, Result};

/// Largest event body accepted. Feishu's events are small JSON documents
/// (message events with rich text are the largest); this leaves ample room.
pub const MAX_EVENT_BYTES: usize = 128 * 1024;

pub async fn events(mut req: Request, env: &Env, config: &Config) -> Result<Response> {
    let Some(managed) = config.managed_here() else {
        return managed_off();
    };
    let Some(event_config) = &managed.events else {
        return reply::local(
            Local::Misconfigured,
            "set FEISHU_VERIFICATION_TOKEN or FEISHU_ENCRYPT_KEY: events are not accepted unauthenticated",
        );
    };
    let body = match read_body(&mut req, MAX_EVENT_BYTES).await? {
        Ok(b) => b,
        Err(refusal) => return Ok(refusal),
    };
    let h = req.headers();
    let (ts, nonce, sig) = (
        h.get("x-lark-request-timestamp")?,
        h.get("x-lark-request-nonce")?,
        h.get("x-lark-signature")?,
    );
    let headers = SignatureHeaders {
        timestamp: ts.as_deref(),
        nonce: nonce.as_deref(),
        signature: sig.as_deref(),
    };
    let received = match event::receive(&body, &headers, event_config, JsClock.now_ms()) {
        Ok(r) => r,
        Err(e) => {
            log::warn("event_rejected", e.code().as_str());
            return reply::event_rejected(&e);
        }
    };
    match received.event {
        Event::UrlVerification { challenge } => {
            #[derive(Serialize)]
            struct Challenge<'a> {
                challenge: &'a str,
            }
            reply::json_response(
                200,
                log::json(&Challenge {
                    challenge: &challenge,
                }),
            )
        }
        Event::AppTicket {
            app_id, app_ticket, ..
        } if app_id == managed.app.app_id() => {
            let kv = match WorkerKv::from_env(env) {
                Ok(kv) => kv,
                Err(why) => return reply::local(Local::Misconfigured, &why),
            };
            let tickets = Tickets::new(env, kv, app_id);
            if let Err(why) = tickets.put(&app_ticket).await {
                // Not acknowledged: Feishu delivers the event again later.
                log::warn("ticket_store_failed", &why);
                return reply::local(
                    Local::Misconfigured,
                    "the ticket could not be stored; retry",
                );
            }
            #[derive(Serialize)]
            struct Stored {
                event: &'static str,
                signed: &'static str,
            }
            log::info(&Stored {
                event: "app_ticket_stored",
                signed: if received.signed { "yes" } else { "no" },
            });
            ack()
        }
        // Another app's ticket, or any other event: acknowledged, not acted on.
        _ => ack(),
    }
}
