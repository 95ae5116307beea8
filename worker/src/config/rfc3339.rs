//! RFC 3339 times (`AGENT_KEYS`' `expires_at`), read by the `time` crate
//! natively and in the Worker alike (worker/Cargo.toml says why a crate).

/// Milliseconds since the Unix epoch of an RFC 3339 time
/// (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`); `None` for anything else.
pub fn parse_rfc3339_ms(text: &str) -> Option<u64> {
    use time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::parse(text, &Rfc3339).ok()?;
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}
