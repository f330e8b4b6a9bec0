//! What a registration body says that the decoded instance cannot: whether it names a data
//! center at all, and lease values a real server replaces instead of refusing.
//!
//! The decoder fills an absent `dataCenterInfo` with `MyOwn` (right for reading a server's
//! answers), but a real server answers 400 to a registration without one. And the decoder
//! refuses a negative `renewalIntervalInSecs` or `durationInSecs`, while a real server
//! takes the registration and uses its defaults; such values are rewritten to 0 here, which
//! the registry replaces by the defaults like any other value ≤ 0.
//!
//! A body that is not well formed is passed on untouched: the decoder then says what is
//! wrong with it.

use std::borrow::Cow;

use quick_xml::events::Event;
use sd_eureka::Format;
use serde_json::Value;

/// The lease fields whose negative values are rewritten to 0.
const LEASE_SECONDS: [&str; 2] = ["renewalIntervalInSecs", "durationInSecs"];

/// A registration body, looked at before decoding.
#[derive(Debug)]
pub(crate) struct Intake<'a> {
    /// The body to decode: the one sent, or a copy with negative lease values set to 0.
    pub(crate) body: Cow<'a, [u8]>,
    /// False when the instance has no (or a null) `dataCenterInfo`.
    pub(crate) has_data_center: bool,
}

/// Looks at a registration body in `format`.
pub(crate) fn inspect(body: &[u8], format: Format) -> Intake<'_> {
    let inspected = match format {
        Format::Json => json(body),
        Format::Xml => xml(body),
    };
    inspected.unwrap_or(Intake {
        body: Cow::Borrowed(body),
        has_data_center: true,
    })
}

/// `{"instance": {..., "dataCenterInfo": {...}, "leaseInfo": {...}}}`.
fn json(body: &[u8]) -> Option<Intake<'_>> {
    let mut root: Value = serde_json::from_slice(body).ok()?;
    let instance = root.get_mut("instance")?.as_object_mut()?;
    let has_data_center = instance
        .get("dataCenterInfo")
        .is_some_and(|dc| !dc.is_null());
    let mut rewritten = false;
    if let Some(lease) = instance.get_mut("leaseInfo").and_then(Value::as_object_mut) {
        for field in LEASE_SECONDS {
            let negative = lease.get(field).is_some_and(|value| match value {
                Value::Number(n) => n.as_f64().is_some_and(|n| n < 0.0),
                Value::String(s) => is_negative(s),
                _ => false,
            });
            if negative {
                lease.insert(field.to_owned(), Value::from(0));
                rewritten = true;
            }
        }
    }
    let body = if rewritten {
        Cow::Owned(serde_json::to_vec(&root).ok()?)
    } else {
        Cow::Borrowed(body)
    };
    Some(Intake {
        body,
        has_data_center,
    })
}

/// `<instance>...<dataCenterInfo>...<leaseInfo><durationInSecs>...`: one pass over the
/// events, noting where negative lease values lie, then a copy with each replaced by `0`.
fn xml(body: &[u8]) -> Option<Intake<'_>> {
    let mut reader = quick_xml::Reader::from_reader(body);
    // Element names from the root down; only the first three levels matter here, so
    // deeper ones are counted, not kept.
    let mut path: Vec<String> = Vec::new();
    let mut depth = 0_usize;
    let mut has_data_center = false;
    let mut negatives = Vec::new();
    loop {
        let start = usize::try_from(reader.buffer_position()).ok()?;
        let event = reader.read_event().ok()?;
        let end = usize::try_from(reader.buffer_position()).ok()?;
        match event {
            Event::Start(element) => {
                if depth == 0 && element.local_name().as_ref() != "instance" {
                    // Not an instance: the decoder says so.
                    return None;
                }
                if depth == 1 && element.local_name().as_ref() == "dataCenterInfo" {
                    has_data_center = true;
                }
                if depth < 3 {
                    path.push(element.local_name().as_ref().to_owned());
                }
                depth += 1;
            }
            // `<dataCenterInfo/>` has no name: the decoder's check refuses it.
            Event::Empty(element)
                if depth == 1 && element.local_name().as_ref() == "dataCenterInfo" =>
            {
                has_data_center = true;
            }
            Event::End(_) => {
                depth = depth.checked_sub(1)?;
                if depth < 3 {
                    path.pop();
                }
            }
            Event::Text(text) if depth == 3 => {
                let in_lease = path.get(1).is_some_and(|p| p == "leaseInfo")
                    && path
                        .get(2)
                        .is_some_and(|p| LEASE_SECONDS.contains(&p.as_str()));
                let negative = is_negative(&text);
                if in_lease && negative {
                    negatives.push(start..end);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let body = if negatives.is_empty() {
        Cow::Borrowed(body)
    } else {
        let mut copy = Vec::with_capacity(body.len());
        let mut from = 0;
        for range in negatives {
            copy.extend_from_slice(body.get(from..range.start)?);
            copy.push(b'0');
            from = range.end;
        }
        copy.extend_from_slice(body.get(from..)?);
        Cow::Owned(copy)
    };
    Some(Intake {
        body,
        has_data_center,
    })
}

/// A negative integer, as text (`-5`, ` -30 `).
fn is_negative(text: &str) -> bool {
    text.trim().parse::<i64>().is_ok_and(|n| n < 0)
}
