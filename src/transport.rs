//! The seam between the pure core and the network. The core builds an
//! [`HttpRequest`], a transport sends it and hands back an [`HttpResponse`],
//! the core parses that. Only the transport touches the host.

use core::fmt;
use core::future::Future;
use core::ops::Deref;

/// How long a transport waits for a complete answer unless told otherwise.
pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;

/// `Content-Type` of every request body the core builds.
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// The methods of the requests the core builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// One request the core builds, of any method: its headers and an optional
/// body. A host sends it as it is (never following a redirect).
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: Method,
    pub url: String,
    /// Values may be secrets (a bearer): `Debug` shows the names only.
    pub headers: Vec<(&'static str, String)>,
    /// JSON; carries secrets, so `Debug` leaves it out.
    pub body: Option<String>,
}

impl HttpRequest {
    /// A JSON `POST` (every token endpoint's kind).
    pub fn post_json(url: String, body: String) -> Self {
        Self {
            method: Method::Post,
            url,
            headers: vec![("content-type", JSON_CONTENT_TYPE.to_owned())],
            body: Some(body),
        }
    }

    /// `GET url` with `Authorization: Bearer <bearer>` (a user's token
    /// asking who they are, at sign-in).
    pub fn get_with_bearer(url: String, bearer: &str) -> Self {
        Self {
            method: Method::Get,
            url,
            headers: vec![("authorization", format!("Bearer {bearer}"))],
            body: None,
        }
    }

    /// The body as sent (empty without one).
    pub fn body_text(&self) -> &str {
        self.body.as_deref().unwrap_or_default()
    }
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| *n).collect();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &names)
            .field(
                "body",
                &format_args!("[redacted; {} bytes]", self.body_text().len()),
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

/// The host's timer and randomness (the retry loop's waits and jitter,
/// a user-token client's waits), apart from the one I/O method.
pub trait Timer {
    /// Waits `ms` milliseconds (between retries).
    fn sleep(&self, ms: u64) -> impl Future<Output = ()>;

    /// A random number in `[0, 1)` (backoff jitter).
    fn random(&self) -> f64;
}

/// The core's one seam to the network: [`send`](Transport::send) any
/// request it builds. Hosts also give it their timer ([`Timer`]) and may
/// read answers' JSON their own way. Single-threaded hosts (wasm) need no
/// `Send` bound, so none is required.
pub trait Transport: Timer {
    fn send(
        &self,
        request: HttpRequest,
    ) -> impl Future<Output = Result<HttpResponse, TransportError>>;

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

/// Any pointer to a transport is one (`&T`, `Rc<T>`: the store-app chain's
/// two sources share one): a single generic impl, not a copy per pointer.
impl<P: Deref> Timer for P
where
    P::Target: Timer,
{
    fn sleep(&self, ms: u64) -> impl Future<Output = ()> {
        (**self).sleep(ms)
    }
    fn random(&self) -> f64 {
        (**self).random()
    }
}

impl<P: Deref> Transport for P
where
    P::Target: Transport,
{
    fn send(
        &self,
        request: HttpRequest,
    ) -> impl Future<Output = Result<HttpResponse, TransportError>> {
        (**self).send(request)
    }
    fn read_json<R: serde::de::DeserializeOwned>(&self, body: &str) -> Option<R> {
        (**self).read_json(body)
    }
}
