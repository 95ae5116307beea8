//! Where an app keeps its latest `app_ticket`: the host's choice (memory in
//! the npm module unless the user brings a store, Workers KV in the Worker).

use crate::secret::AppTicket;
use core::cell::RefCell;
use core::future::{Future, ready};

/// One app's ticket. Failures are reported as text (never containing the
/// ticket) and treated as "no ticket": the chain then asks for a resend.
pub trait TicketStore {
    fn get(&self) -> impl Future<Output = Result<Option<AppTicket>, String>>;
    fn put(&self, ticket: &AppTicket) -> impl Future<Output = Result<(), String>>;
    fn delete(&self) -> impl Future<Output = Result<(), String>>;

    /// Whether this caller may ask Feishu to resend the ticket now. The chain
    /// already limits itself to one resend per minute per process; a store
    /// shared by many processes (KV) can limit them all together.
    fn claim_resend(&self, _now_ms: u64) -> impl Future<Output = bool> {
        ready(true)
    }
}

/// The default store: this process's memory.
#[derive(Debug, Default)]
pub struct MemoryTicketStore(RefCell<Option<AppTicket>>);

impl TicketStore for MemoryTicketStore {
    fn get(&self) -> impl Future<Output = Result<Option<AppTicket>, String>> {
        ready(Ok(self.0.borrow().clone()))
    }
    fn put(&self, ticket: &AppTicket) -> impl Future<Output = Result<(), String>> {
        *self.0.borrow_mut() = Some(ticket.clone());
        ready(Ok(()))
    }
    fn delete(&self) -> impl Future<Output = Result<(), String>> {
        *self.0.borrow_mut() = None;
        ready(Ok(()))
    }
}

impl<S: TicketStore + ?Sized> TicketStore for std::rc::Rc<S> {
    fn get(&self) -> impl Future<Output = Result<Option<AppTicket>, String>> {
        (**self).get()
    }
    fn put(&self, ticket: &AppTicket) -> impl Future<Output = Result<(), String>> {
        (**self).put(ticket)
    }
    fn delete(&self) -> impl Future<Output = Result<(), String>> {
        (**self).delete()
    }
    fn claim_resend(&self, now_ms: u64) -> impl Future<Output = bool> {
        (**self).claim_resend(now_ms)
    }
}

/// A ticket as a caller hands it over (`name` is how the caller knows the
/// field), checked like every other credential: visible ASCII, bounded.
pub fn parse_ticket(value: &str, name: &str) -> Result<AppTicket, crate::Error> {
    crate::validate::check_field(name, Some(value), crate::validate::MAX_TOKEN_BYTES)
        .map(AppTicket::new)
}
