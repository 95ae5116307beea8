//! `POST /feishu/events`: Feishu's callbacks, checked (signature before
//! decryption, replay window: the core's `event::receive`); the managed
//! app's `app_ticket` is stored, everything else acknowledged.

use crate::cache::workers_kv::WorkerKv;
use crate::config::Config;
use crate::coordinator::tickets::Tickets;
use crate::events::ack;
use crate::events::card::{CARD_ACTION, card_action};
use crate::events::receive::{challenge, checked};
use crate::events::record::record;
use crate::http::reply::{self, Local};
use crate::keys::api_keys::managed_off;
use crate::log;
use feishu_tenant_token::event::Event;
use feishu_tenant_token::store_app::TicketStore;
use serde::Serialize;
use worker::{Env, Request, Response, Result};

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
    let received = match checked(&mut req, event_config).await? {
        Ok(r) => r,
        Err(refusal) => return Ok(refusal),
    };
    match received.event {
        Event::UrlVerification { challenge: c } => challenge(&c),
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
        // Another app's ticket: acknowledged, not acted on.
        Event::AppTicket { .. } => ack(),
        // A card callback: its handler answers, now.
        Event::Other { ref event_type, .. } if event_type == CARD_ACTION => {
            card_action(
                config,
                event_config,
                managed.app.app_id(),
                &received.plaintext,
            )
            .await
        }
        // Any other event: recorded once and pushed to the app's handlers.
        Event::Other { .. } => record(env, config, managed.app.app_id(), &received).await,
    }
}
