//! Store-app mode: the whole chain from Feishu's `app_ticket` push to tenant
//! tokens, for hosts that hold the app's id and secret (the Worker's managed
//! mode, the npm module's `StoreAppClient`).

mod chain;
mod tickets;
mod wire;

pub use chain::{
    AppTokenClient, AppTokenRequest, AppTokenSource, CallerAppTokenRequest, CallerAppTokenSource,
    MemoryChain, RESEND_MIN_INTERVAL_MS, StoreAppBuilder, StoreAppChain, StoreAppRequest,
    TICKET_RETRY_AFTER_SECS, TenantTokenSource, fetch_app_token, fetch_app_token_retrying,
    resend_ticket,
};
pub use tickets::{MemoryTicketStore, TicketStore, parse_ticket};
pub use wire::{
    APP_TICKET_INVALID_CODE, APP_TOKEN_INVALID_CODE, APP_TOKEN_PATH, AppCredentials,
    MAX_APP_ID_BYTES, TICKET_RESEND_PATH, build_app_token_request, build_ticket_resend_request,
    parse_app_token_response, parse_ticket_resend_response,
};
