//! serde field readers for Feishu's JSON where a member of the wrong type
//! counts as absent instead of failing the whole document: which members are
//! present decides the error class (a `code` of 99991400 is a rate limit even
//! when `msg` is a number). Used as `#[serde(default, deserialize_with = ...)]`.

use crate::json::loose::Loose;
use serde::Deserialize;
use serde::de::{self, Deserializer};
#[cfg(feature = "store-app")]
use {
    core::fmt,
    serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor},
};

#[cfg(feature = "store-app")]
struct Object<T>(core::marker::PhantomData<T>);

#[cfg(feature = "store-app")]
impl<'de, T: de::Deserialize<'de>> Visitor<'de> for Object<T> {
    type Value = Option<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
    }
    // Anything but an object is absent.
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

/// An integer that fits an `i64` (no fraction, no exponent); anything else is absent.
pub(crate) fn int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Loose::deserialize(d)? {
        Loose::Int(i) => Some(i),
        _ => None,
    })
}

/// A string; anything else is absent.
pub(crate) fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Loose::deserialize(d)? {
        Loose::Str(s) => Some(s),
        _ => None,
    })
}

/// A JSON object read as `T`; anything else is absent.
#[cfg(feature = "store-app")]
pub(crate) fn object<'de, D: Deserializer<'de>, T: de::Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    d.deserialize_any(Object(core::marker::PhantomData))
}

/// `text` as JSON: an object (not an array, which serde would also read into
/// a struct) read as `T`, or `None`. Duplicate members are refused, so two
/// JSON readers can never disagree about which value counts.
pub(crate) fn parse_object<T: de::DeserializeOwned>(text: &str) -> Option<T> {
    if !text.trim_start().starts_with('{') {
        return None;
    }
    serde_json::from_str(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Probe {
        #[serde(default, deserialize_with = "int")]
        n: Option<i64>,
        #[serde(default, deserialize_with = "text")]
        s: Option<String>,
        #[serde(default, deserialize_with = "object")]
        o: Option<Inner>,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct Inner {
        #[serde(default, deserialize_with = "text")]
        x: Option<String>,
    }

    fn probe(s: &str) -> Option<Probe> {
        parse_object(s)
    }

    #[test]
    fn wrong_types_are_absent_not_errors() {
        let p = probe(r#"{"n":"7","s":7,"o":[1,{"x":"y"}],"extra":{"a":[1,2]}}"#).unwrap();
        assert_eq!(
            p,
            Probe {
                n: None,
                s: None,
                o: None
            }
        );
        let p = probe(r#"{"n":7.5,"s":null,"o":"x"}"#).unwrap();
        assert_eq!(
            p,
            Probe {
                n: None,
                s: None,
                o: None
            }
        );
        let p = probe(r#"{"n":1e3,"s":true,"o":{"x":5}}"#).unwrap();
        assert_eq!(p.n, None);
        assert_eq!(p.o, Some(Inner { x: None }));
    }

    #[test]
    fn right_types_are_read() {
        let p = probe(r#"{"n":-42,"s":"a\"b","o":{"x":"y"}}"#).unwrap();
        assert_eq!(p.n, Some(-42));
        assert_eq!(p.s.as_deref(), Some("a\"b"));
        assert_eq!(
            p.o,
            Some(Inner {
                x: Some("y".into())
            })
        );
        assert_eq!(probe(r#"{"n":9223372036854775808}"#).unwrap().n, None);
    }

    #[test]
    fn non_objects_duplicates_and_junk_are_refused() {
        for junk in [
            "[7]",
            "7",
            "\"x\"",
            "",
            "{",
            r#"{"n":1,"n":2}"#,
            r#"{"n":1} x"#,
        ] {
            assert_eq!(probe(junk), None, "{junk}");
        }
    }
}
