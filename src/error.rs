//! The one error type of the crate and its stable codes.
//!
//! Every failure a caller can see is an [`Error`] with an [`ErrorCode`]; the JS
//! side exposes `ErrorCode::as_str()` as `err.code`, so those strings are API.
//! Messages are built here from parts that are never secrets.

use core::fmt;

/// Stable, documented failure classes (the `code` property in JS). New
/// classes may be added (self-built apps, the gateway): match with a `_` arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// Feishu answered with `code != 0` (other than rate limiting).
    FeishuApiError,
    /// Feishu code 99991400 or HTTP 429.
    RateLimited,
    /// A non-2xx HTTP status without a Feishu JSON body.
    HttpError,
    /// A 2xx answer that is not JSON or lacks the expected fields.
    InvalidResponse,
    /// The request could not be sent or the answer could not be read.
    NetworkError,
    /// No complete answer within the timeout.
    Timeout,
    /// The caller's input was rejected before anything was sent.
    InvalidInput,
    /// Store-app mode: no `app_ticket` yet (or Feishu said it is invalid); a
    /// resend was requested. Retry after `retry_after_secs`.
    #[cfg(feature = "store-app")]
    AppTicketMissing,
    /// An event's `X-Lark-Signature` is missing or does not match.
    #[cfg(feature = "store-app")]
    InvalidSignature,
    /// An event's `X-Lark-Request-Timestamp` is outside the replay window.
    #[cfg(feature = "store-app")]
    StaleEvent,
    /// An event's verification token is missing or wrong.
    #[cfg(feature = "store-app")]
    InvalidVerificationToken,
    /// An `{"encrypt": …}` body could not be decrypted (bad base64, length,
    /// padding or key).
    #[cfg(feature = "store-app")]
    DecryptionFailed,
    /// An event body that is not a Feishu event.
    #[cfg(feature = "store-app")]
    InvalidEvent,
}

impl ErrorCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::FeishuApiError => "FEISHU_API_ERROR",
            Self::RateLimited => "RATE_LIMITED",
            Self::HttpError => "HTTP_ERROR",
            Self::InvalidResponse => "INVALID_RESPONSE",
            Self::NetworkError => "NETWORK_ERROR",
            Self::Timeout => "TIMEOUT",
            Self::InvalidInput => "INVALID_INPUT",
            #[cfg(feature = "store-app")]
            Self::AppTicketMissing => "APP_TICKET_MISSING",
            #[cfg(feature = "store-app")]
            Self::InvalidSignature => "INVALID_SIGNATURE",
            #[cfg(feature = "store-app")]
            Self::StaleEvent => "STALE_EVENT",
            #[cfg(feature = "store-app")]
            Self::InvalidVerificationToken => "INVALID_VERIFICATION_TOKEN",
            #[cfg(feature = "store-app")]
            Self::DecryptionFailed => "DECRYPTION_FAILED",
            #[cfg(feature = "store-app")]
            Self::InvalidEvent => "INVALID_EVENT",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure, with whatever upstream details apply. Opaque: read it through
/// the accessors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    code: ErrorCode,
    message: String,
    feishu_code: Option<i64>,
    feishu_msg: Option<String>,
    http_status: Option<u16>,
    retry_after_secs: Option<u64>,
    raw_body: Option<String>,
}

impl Error {
    fn bare(code: ErrorCode, message: String) -> Self {
        Self {
            code,
            message,
            feishu_code: None,
            feishu_msg: None,
            http_status: None,
            retry_after_secs: None,
            raw_body: None,
        }
    }

    pub fn feishu_api(feishu_code: i64, feishu_msg: String, http_status: u16) -> Self {
        Self {
            feishu_code: Some(feishu_code),
            http_status: Some(http_status),
            ..Self::bare(
                ErrorCode::FeishuApiError,
                format!("Feishu API error {feishu_code}: {feishu_msg}"),
            )
        }
        .with_feishu_msg(feishu_msg)
    }

    pub fn rate_limited(
        http_status: u16,
        feishu: Option<(i64, String)>,
        retry_after_secs: Option<u64>,
    ) -> Self {
        let wait = match retry_after_secs {
            Some(s) => format!("retry after {s} s"),
            None => "no reset time given".to_owned(),
        };
        let mut e = Self {
            http_status: Some(http_status),
            retry_after_secs,
            ..Self::bare(
                ErrorCode::RateLimited,
                format!("rate limited by Feishu ({wait})"),
            )
        };
        if let Some((code, msg)) = feishu {
            e.feishu_code = Some(code);
            e = e.with_feishu_msg(msg);
        }
        e
    }

    pub fn http(http_status: u16, raw_body: String) -> Self {
        Self {
            http_status: Some(http_status),
            raw_body: Some(raw_body),
            ..Self::bare(
                ErrorCode::HttpError,
                format!("upstream answered HTTP {http_status} without a Feishu body"),
            )
        }
    }

    pub fn invalid_response(detail: &str, http_status: u16, raw_body: String) -> Self {
        Self {
            http_status: Some(http_status),
            raw_body: Some(raw_body),
            ..Self::bare(
                ErrorCode::InvalidResponse,
                format!("invalid response from upstream: {detail}"),
            )
        }
    }

    pub fn network(detail: &str) -> Self {
        Self::bare(ErrorCode::NetworkError, format!("network error: {detail}"))
    }

    pub fn timeout(after_ms: u64) -> Self {
        Self::bare(
            ErrorCode::Timeout,
            format!("no answer from upstream within {after_ms} ms"),
        )
    }

    /// An error another instance of this crate reported, rebuilt from its
    /// class and message (which never hold a secret): what the Worker's
    /// coordinator relays when it could not reach Feishu.
    pub fn relayed(code: ErrorCode, message: &str) -> Self {
        Self::bare(code, message.to_owned())
    }

    pub fn invalid_input(detail: &str) -> Self {
        Self::bare(ErrorCode::InvalidInput, format!("invalid input: {detail}"))
    }

    /// Store-app mode: no usable `app_ticket`; Feishu was asked to push one.
    #[cfg(feature = "store-app")]
    pub fn app_ticket_missing(retry_after_secs: u64, why: &str) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs),
            ..Self::bare(
                ErrorCode::AppTicketMissing,
                format!("no app_ticket yet ({why}); retry after {retry_after_secs} s"),
            )
        }
    }

    /// An event rejected by [`crate::event`]; `code` is one of the event codes.
    #[cfg(feature = "store-app")]
    pub fn event(code: ErrorCode, detail: &str) -> Self {
        Self::bare(code, format!("event rejected: {detail}"))
    }

    /// Whether Feishu answered with this `code`.
    pub fn is_feishu(&self, code: i64) -> bool {
        self.feishu_code == Some(code)
    }

    fn with_feishu_msg(mut self, msg: String) -> Self {
        self.feishu_msg = Some(msg);
        self
    }

    /// Replaces every occurrence of `secret` in the upstream-provided text, in
    /// case an upstream echoes what it was sent.
    pub(crate) fn scrubbed(mut self, secret: &str) -> Self {
        let scrub = |s: &mut String| *s = crate::redact::scrub_secret(s, secret);
        scrub(&mut self.message);
        if let Some(m) = self.feishu_msg.as_mut() {
            scrub(m);
        }
        if let Some(b) = self.raw_body.as_mut() {
            scrub(b);
        }
        self
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    pub fn feishu_code(&self) -> Option<i64> {
        self.feishu_code
    }
    pub fn feishu_msg(&self) -> Option<&str> {
        self.feishu_msg.as_deref()
    }
    pub fn http_status(&self) -> Option<u16> {
        self.http_status
    }
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after_secs
    }
    /// The upstream body, truncated and with token values redacted.
    pub fn raw_body(&self) -> Option<&str> {
        self.raw_body.as_deref()
    }
    pub fn is_timeout(&self) -> bool {
        self.code == ErrorCode::Timeout
    }
    pub fn is_rate_limited(&self) -> bool {
        self.code == ErrorCode::RateLimited
    }
    pub fn is_invalid_input(&self) -> bool {
        self.code == ErrorCode::InvalidInput
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_documented_strings() {
        let all = [
            (ErrorCode::FeishuApiError, "FEISHU_API_ERROR"),
            (ErrorCode::RateLimited, "RATE_LIMITED"),
            (ErrorCode::HttpError, "HTTP_ERROR"),
            (ErrorCode::InvalidResponse, "INVALID_RESPONSE"),
            (ErrorCode::NetworkError, "NETWORK_ERROR"),
            (ErrorCode::Timeout, "TIMEOUT"),
            (ErrorCode::InvalidInput, "INVALID_INPUT"),
            (ErrorCode::AppTicketMissing, "APP_TICKET_MISSING"),
            (ErrorCode::InvalidSignature, "INVALID_SIGNATURE"),
            (ErrorCode::StaleEvent, "STALE_EVENT"),
            (
                ErrorCode::InvalidVerificationToken,
                "INVALID_VERIFICATION_TOKEN",
            ),
            (ErrorCode::DecryptionFailed, "DECRYPTION_FAILED"),
            (ErrorCode::InvalidEvent, "INVALID_EVENT"),
        ];
        for (code, s) in all {
            assert_eq!(code.as_str(), s);
        }
    }

    #[test]
    fn a_relayed_error_keeps_its_class_and_message() {
        let e = Error::timeout(250);
        let again = Error::relayed(e.code(), e.message());
        assert_eq!(again.code(), ErrorCode::Timeout);
        assert_eq!(again.message(), e.message());
    }

    #[test]
    fn scrubbing_removes_an_echoed_secret_everywhere() {
        let e = Error::feishu_api(10003, "bad token a-secret-1".into(), 400).scrubbed("a-secret-1");
        assert!(!e.message().contains("a-secret-1"));
        assert!(!e.feishu_msg().unwrap_or_default().contains("a-secret-1"));
        assert_eq!(e.feishu_code(), Some(10003));
    }

    #[test]
    fn rate_limited_message_names_the_wait() {
        let e = Error::rate_limited(429, None, Some(7));
        assert!(e.is_rate_limited());
        assert_eq!(e.retry_after_secs(), Some(7));
        assert!(e.to_string().contains("retry after 7 s"), "{e}");
    }
}
