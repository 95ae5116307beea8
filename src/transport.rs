//! The seam between the pure core and the network. The core builds an
//! [`HttpRequest`], a transport sends it and hands back an [`HttpResponse`],
//! the core parses that. Only the transport touches the host.

use core::fmt;
use core::future::Future;

/// How long a transport waits for a complete answer unless told otherwise.
pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;

/// `Content-Type` of every request body the core builds.
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// A JSON `POST` (the only kind the auth endpoints take).
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub url: String,
    /// JSON; carries secrets, so `Debug` leaves it out.
    pub body: String,
}

impl HttpRequest {
    pub const METHOD: &'static str = "POST";
    pub const CONTENT_TYPE: &'static str = JSON_CONTENT_TYPE;
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("url", &self.url)
            .field(
                "body",
                &format_args!("[redacted; {} bytes]", self.body.len()),
            )
            .finish()
    }
}

/// What the core needs from an answer.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    /// The `x-ogw-ratelimit-reset` header, if present.
    pub ratelimit_reset: Option<String>,
    /// May carry a token, so `Debug` leaves it out.
    pub body: String,
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("ratelimit_reset", &self.ratelimit_reset)
            .field("body", &format_args!("[{} bytes]", self.body.len()))
            .finish()
    }
}

/// Why no answer arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransportError {
    /// Connection refused or reset, DNS failure, CORS refusal, unreadable body...
    /// The text must not contain the request body.
    Network(String),
    /// The transport gave up after this many milliseconds.
    Timeout { after_ms: u64 },
}

/// Sends one request, and gives the host's timer and randomness to the retry
/// loop. Single-threaded hosts (wasm) need no `Send` bound, so none is required.
pub trait Transport {
    fn post_json(
        &self,
        request: HttpRequest,
    ) -> impl Future<Output = Result<HttpResponse, TransportError>>;

    /// `GET url` with `Authorization: Bearer <bearer>` (a user's token asking
    /// who they are, at sign-in). A transport that never signs users in
    /// keeps this default, which sends nothing.
    fn get_with_bearer(
        &self,
        url: &str,
        bearer: &str,
    ) -> impl Future<Output = Result<HttpResponse, TransportError>> {
        let _ = (url, bearer);
        async {
            Err(TransportError::Network(
                "this transport sends no GET requests".to_owned(),
            ))
        }
    }

    /// Waits `ms` milliseconds (between retries).
    fn sleep(&self, ms: u64) -> impl Future<Output = ()>;

    /// A random number in `[0, 1)` (backoff jitter).
    fn random(&self) -> f64;

    /// Reads an answer's JSON body as `T`; `None` when it is not a JSON
    /// object (of that shape). The default is serde_json, which refuses
    /// duplicate members. A host whose own parser costs less code may use it
    /// instead: the wasm [`FetchTransport`](crate::host::FetchTransport) uses
    /// the host's `JSON.parse` (measured smaller in the npm `.wasm`; there a
    /// duplicate member's last value counts, as in any JS client).
    fn read_json<T: serde::de::DeserializeOwned>(&self, body: &str) -> Option<T> {
        crate::json::ReadJson::object(&crate::json::SerdeJson, body)
    }
}

impl<T: Transport + ?Sized> Transport for &T {
    fn post_json(
        &self,
        request: HttpRequest,
    ) -> impl Future<Output = Result<HttpResponse, TransportError>> {
        (**self).post_json(request)
    }
    fn get_with_bearer(
        &self,
        url: &str,
        bearer: &str,
    ) -> impl Future<Output = Result<HttpResponse, TransportError>> {
        (**self).get_with_bearer(url, bearer)
    }
    fn sleep(&self, ms: u64) -> impl Future<Output = ()> {
        (**self).sleep(ms)
    }
    fn random(&self) -> f64 {
        (**self).random()
    }
    fn read_json<R: serde::de::DeserializeOwned>(&self, body: &str) -> Option<R> {
        (**self).read_json(body)
    }
}

/// Lets the store-app chain's two sources share one transport.
impl<T: Transport + ?Sized> Transport for std::rc::Rc<T> {
    fn post_json(
        &self,
        request: HttpRequest,
    ) -> impl Future<Output = Result<HttpResponse, TransportError>> {
        (**self).post_json(request)
    }
    fn get_with_bearer(
        &self,
        url: &str,
        bearer: &str,
    ) -> impl Future<Output = Result<HttpResponse, TransportError>> {
        (**self).get_with_bearer(url, bearer)
    }
    fn sleep(&self, ms: u64) -> impl Future<Output = ()> {
        (**self).sleep(ms)
    }
    fn random(&self) -> f64 {
        (**self).random()
    }
    fn read_json<R: serde::de::DeserializeOwned>(&self, body: &str) -> Option<R> {
        (**self).read_json(body)
    }
}
