//! Store-app mode: the whole chain from Feishu's `app_ticket` push to tenant
//! tokens, for hosts that hold the app's id and secret (the Worker's managed
//! mode, the npm module's `StoreAppClient`).

mod chain;
mod tickets;
mod wire;

pub use chain::{
    AppTokenCache, AppTokenRequest, AppTokenSource, AppTokens, RESEND_MIN_INTERVAL_MS,
    StoreAppRequest, StoreAppSource, TICKET_RETRY_AFTER_SECS, fetch_app_token, resend_ticket,
};
pub use tickets::{MemoryTicketStore, TicketStore};
pub use wire::{
    APP_TICKET_INVALID_CODE, APP_TOKEN_INVALID_CODE, APP_TOKEN_PATH, AppCredentials,
    MAX_APP_ID_BYTES, TICKET_RESEND_PATH, build_app_token_request, build_ticket_resend_request,
    parse_app_token_response, parse_ticket_resend_response,
};
