//! Tolerant readers for the JSON quirks of real Eureka servers (protocol page, quirks 1–12).
//!
//! Each is a `deserialize_with` function for one field shape. None of them fails on a
//! quirk a real server produces; they fail only on values that cannot mean anything
//! (a port of `"abc"`, a timestamp of `[1]`).

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::model::{self, ActionType, Metadata, Port, Status};

/// A scalar of any JSON type, borrowed where the input allows.
enum Scalar<'a> {
    Str(std::borrow::Cow<'a, str>),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
    Null,
    /// An object or array: never a valid scalar.
    Compound,
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number, boolean or null")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(v.into()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(v.to_owned().into()))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Scalar::Str(v.into()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Scalar::I64(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Scalar::U64(v))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Scalar::F64(v))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Null)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Compound)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Compound)
            }
        }
        d.deserialize_any(V)
    }
}

impl Scalar<'_> {
    /// The value as text, for string fields; `None` for null and compounds.
    fn into_text(self) -> Option<String> {
        match self {
            Scalar::Str(s) => Some(s.into_owned()),
            Scalar::I64(n) => Some(n.to_string()),
            Scalar::U64(n) => Some(n.to_string()),
            // Keep a whole float looking like one, as Java prints it ("1.0", not "1").
            Scalar::F64(n) if n.is_finite() && n.fract() == 0.0 && n.abs() < 1e16 => {
                Some(format!("{n:.1}"))
            }
            Scalar::F64(n) => Some(n.to_string()),
            Scalar::Bool(b) => Some(b.to_string()),
            Scalar::Null | Scalar::Compound => None,
        }
    }

    /// The value as an integer: a number, or a string holding one (quirk 5). `None` for null.
    fn into_i64<E: de::Error>(self) -> Result<Option<i64>, E> {
        match self {
            Scalar::I64(n) => Ok(Some(n)),
            Scalar::U64(n) => i64::try_from(n)
                .map(Some)
                .map_err(|_| E::custom(format!("number {n} is out of range"))),
            #[allow(clippy::cast_possible_truncation)]
            Scalar::F64(n) if n.fract() == 0.0 && n.abs() < 9.0e18 => Ok(Some(n as i64)),
            Scalar::Str(s) => parse_int(&s).map(Some),
            Scalar::Null => Ok(None),
            Scalar::F64(n) => Err(E::custom(format!("expected an integer, found {n}"))),
            Scalar::Bool(b) => Err(E::custom(format!("expected an integer, found {b}"))),
            Scalar::Compound => Err(E::custom("expected an integer, found an object or array")),
        }
    }
}

pub(crate) fn parse_int<E: de::Error>(s: &str) -> Result<i64, E> {
    s.trim()
        .parse()
        .map_err(|_| E::custom(format!("expected an integer, found {s:?}")))
}

pub(crate) fn parse_bool(s: &str) -> bool {
    s.trim().eq_ignore_ascii_case("true")
}

/// A string field; numbers and booleans become their text, null the empty string.
pub(crate) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Scalar::deserialize(d)?.into_text().unwrap_or_default())
}

/// An optional string field.
pub(crate) fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Scalar::deserialize(d)?.into_text())
}

/// A status; anything but the five known strings is UNKNOWN (quirk 10).
pub(crate) fn status<'de, D: Deserializer<'de>>(d: D) -> Result<Status, D::Error> {
    Ok(match Scalar::deserialize(d)? {
        Scalar::Str(s) => Status::from_wire(&s),
        _ => Status::Unknown,
    })
}

/// An action type; anything unrecognised reads as absent.
pub(crate) fn action<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ActionType>, D::Error> {
    Ok(match Scalar::deserialize(d)? {
        Scalar::Str(s) => ActionType::from_wire(&s),
        _ => None,
    })
}

/// A boolean written as a boolean, a string (`"true"`), or a number (quirk 5).
pub(crate) fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(match Scalar::deserialize(d)? {
        Scalar::Bool(b) => b,
        Scalar::Str(s) => parse_bool(&s),
        Scalar::I64(n) => n != 0,
        Scalar::U64(n) => n != 0,
        _ => false,
    })
}

/// An integer written as a number or a string; null is 0.
pub(crate) fn i64_or_zero<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(Scalar::deserialize(d)?.into_i64()?.unwrap_or(0))
}

/// An optional integer written as a number or a string.
pub(crate) fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Scalar::deserialize(d)?.into_i64()
}

/// `renewalIntervalInSecs`; null keeps the default of 30, as the Java client does.
pub(crate) fn renewal_secs<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    seconds_or(d, model::default_renewal())
}

/// `durationInSecs`; null keeps the default of 90.
pub(crate) fn duration_secs<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    seconds_or(d, model::default_duration())
}

fn seconds_or<'de, D: Deserializer<'de>>(d: D, default: u32) -> Result<u32, D::Error> {
    match Scalar::deserialize(d)?.into_i64()? {
        None => Ok(default),
        Some(n) => u32::try_from(n)
            .map_err(|_| de::Error::custom(format!("{n} is not a valid number of seconds"))),
    }
}

/// The legacy country id; null is 1.
pub(crate) fn i32_or_one<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    let n = Scalar::deserialize(d)?.into_i64()?.unwrap_or(1);
    i32::try_from(n).map_err(|_| de::Error::custom(format!("country id {n} is out of range")))
}

pub(crate) fn port_number<E: de::Error>(n: i64) -> Result<u16, E> {
    u16::try_from(n).map_err(|_| E::custom(format!("port {n} is out of range")))
}

/// A port: `{"$": 8080, "@enabled": "true"}` with `$` a number or a string and `@enabled`
/// a string or a boolean (quirk 1). A bare number is read as an enabled port. An absent
/// `@enabled` means enabled.
pub(crate) fn port<'de, D: Deserializer<'de>>(d: D) -> Result<Port, D::Error> {
    d.deserialize_any(PortVisitor {
        enabled_by_default: true,
    })
}

/// A secure port: as [`port`], but an absent `@enabled` means disabled (as in XML).
pub(crate) fn secure_port<'de, D: Deserializer<'de>>(d: D) -> Result<Port, D::Error> {
    d.deserialize_any(PortVisitor {
        enabled_by_default: false,
    })
}

struct PortVisitor {
    enabled_by_default: bool,
}

impl<'de> Visitor<'de> for PortVisitor {
    type Value = Port;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a port like {"$": 8080, "@enabled": "true"}"#)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Port, A::Error> {
        let mut number = None;
        let mut enabled = self.enabled_by_default;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match &*key {
                "$" => number = map.next_value::<Scalar<'de>>()?.into_i64()?,
                "@enabled" => {
                    enabled = match map.next_value::<Scalar<'de>>()? {
                        Scalar::Bool(b) => b,
                        Scalar::Str(s) => parse_bool(&s),
                        _ => self.enabled_by_default,
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let number = number.ok_or_else(|| de::Error::custom("port without a \"$\" number"))?;
        Ok(Port {
            port: port_number(number)?,
            enabled,
        })
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Port, E> {
        Ok(Port::enabled(port_number(v)?))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Port, E> {
        self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Port, E> {
        self.visit_i64(parse_int(v)?)
    }
}

/// A metadata map: the `@class` entry is a Java marker, not metadata (quirk 3); numbers
/// and booleans become text; null, object and array values are dropped.
pub(crate) fn metadata<'de, D: Deserializer<'de>>(d: D) -> Result<Metadata, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Metadata;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a metadata object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Metadata, A::Error> {
            let mut out = Metadata::new();
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                let value = map.next_value::<Scalar<'de>>()?;
                if key == "@class" {
                    continue;
                }
                if let Some(text) = value.into_text() {
                    out.insert(key.into_owned(), text);
                }
            }
            Ok(out)
        }
        fn visit_unit<E>(self) -> Result<Metadata, E> {
            Ok(Metadata::new())
        }
        fn visit_none<E>(self) -> Result<Metadata, E> {
            Ok(Metadata::new())
        }
    }
    d.deserialize_any(V)
}

/// A list that old servers render as a single object when it has one element, and that
/// may be null (quirk 6).
pub(crate) fn one_or_many<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct V<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array, a single object, or null")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some(item) = seq.next_element()? {
                out.push(item);
            }
            Ok(out)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Vec<T>, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map)).map(|one| vec![one])
        }
        fn visit_unit<E>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_none<E>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
    }
    d.deserialize_any(V(PhantomData))
}

/// An object that may be null, meaning its default.
pub(crate) fn or_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
