//! The kind of one JSON (or JS) value, which is all the edges need to tell
//! apart: read by the lenient wire types (`lenient.rs`) and by the hosts'
//! readers of options and bodies alike, so it sits apart from both.

/// A JSON (or JS) value's kind, read with `deserialize_any`: all that the
/// edges need to tell apart, from one visitor. A member read as `Loose`
/// never fails the document it is in: which kind it turned out to be is the
/// caller's to judge (absent, a wrong type, a string...).
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Loose {
    /// Missing (with `#[serde(default)]`), `null` or `undefined`.
    #[default]
    Absent,
    Str(String),
    /// An integer that fits an `i64`.
    Int(i64),
    /// Any other number (a fraction, an exponent, beyond `i64`).
    Float(f64),
    /// A boolean, an array, an object, bytes.
    Other,
}

impl<'de> serde::Deserialize<'de> for Loose {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LooseVisitor)
    }
}

struct LooseVisitor;

impl<'de> serde::de::Visitor<'de> for LooseVisitor {
    type Value = Loose;
    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("any value")
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Loose, E> {
        Ok(Loose::Absent)
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Loose, E> {
        Ok(Loose::Absent)
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Loose, E> {
        Ok(Loose::Other)
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Loose, E> {
        Ok(Loose::Int(v))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Loose, E> {
        Ok(i64::try_from(v).map_or(Loose::Float(v as f64), Loose::Int))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Loose, E> {
        Ok(Loose::Float(v))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Loose, E> {
        Ok(Loose::Str(v.to_owned()))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Loose, E> {
        Ok(Loose::Str(v))
    }
    fn visit_byte_buf<E: serde::de::Error>(self, _: Vec<u8>) -> Result<Loose, E> {
        Ok(Loose::Other)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Loose, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Loose::Other)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Loose, A::Error> {
        while map
            .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
            .is_some()
        {}
        Ok(Loose::Other)
    }
}
