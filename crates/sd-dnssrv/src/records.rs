//! From SRV records to instances: `target:port` identities carrying priority and weight,
//! with unusable records skipped.

use std::time::Duration;

use sd_core::{Instance, Instances};

use crate::Error;

/// The metadata key under which an instance carries its SRV priority (lower is preferred).
pub const PRIORITY: &str = "priority";

/// The metadata key under which an instance carries its SRV weight (among records of one
/// priority, a larger weight should get more traffic).
pub const WEIGHT: &str = "weight";

/// One SRV record of an answer, as read off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SrvRecord {
    pub(crate) priority: u16,
    pub(crate) weight: u16,
    pub(crate) port: u16,
    /// The target as the answer spells it, in ASCII (`host.example.`).
    pub(crate) target: String,
    /// The record's time to live, in seconds.
    pub(crate) ttl: u32,
}

/// What one good answer says: the instances, and how long it may be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) instances: Instances,
    /// The smallest TTL of the answer's records (a negative answer's from its SOA), when
    /// known.
    pub(crate) ttl: Option<Duration>,
}

/// Turns the SRV records of `name` into instances, skipping (with a warning) records that
/// cannot be called; an answer whose records are all unusable is an error, never an
/// empty set. `records` must not be empty (an answer without records is the caller's
/// business).
///
/// When several records name one `target:port`, the instance carries the attributes of
/// the most preferred one (lowest priority, then highest weight).
pub(crate) fn to_answer(name: &str, mut records: Vec<SrvRecord>) -> Result<Answer, Error> {
    let ttl = records
        .iter()
        .map(|r| r.ttl)
        .min()
        .map(|secs| Duration::from_secs(u64::from(secs)));
    let count = records.len();
    // Instances::new keeps the first of several with one identity: the preferred record.
    records.sort_by_key(|r| (r.priority, std::cmp::Reverse(r.weight)));
    let instances: Vec<Instance> = records
        .iter()
        .filter_map(|record| to_instance(name, record))
        .collect();
    if instances.is_empty() {
        return Err(Error::no_usable_records(name, count));
    }
    Ok(Answer {
        instances: Instances::new(instances),
        ttl,
    })
}

/// `target:port` with priority and weight, or `None` (and a warning) for a record that
/// cannot be called.
fn to_instance(name: &str, record: &SrvRecord) -> Option<Instance> {
    let Some(host) = host_name(&record.target) else {
        tracing::warn!(
            srv = name,
            target = %record.target.escape_debug(),
            port = record.port,
            "skipping an SRV record whose target is no host name"
        );
        return None;
    };
    if record.port == 0 {
        tracing::warn!(
            srv = name,
            target = host,
            "skipping an SRV record with port 0"
        );
        return None;
    }
    Some(
        Instance::builder(format!("{host}:{}", record.port))
            .metadata(PRIORITY, record.priority.to_string())
            .metadata(WEIGHT, record.weight.to_string())
            .build(),
    )
}

/// The target without its trailing dot, in lower case (DNS names are case-insensitive and
/// some resolvers randomise the case), or `None` for the root (`.`, "no service here" in
/// RFC 2782) and for names that cannot stand before `:port` in a URL.
fn host_name(target: &str) -> Option<String> {
    let host = target.strip_suffix('.').unwrap_or(target);
    let usable = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    usable.then(|| host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn srv(priority: u16, weight: u16, port: u16, target: &str, ttl: u32) -> SrvRecord {
        SrvRecord {
            priority,
            weight,
            port,
            target: target.to_owned(),
            ttl,
        }
    }

    #[test]
    fn instances_are_sorted_targets_without_the_dot_with_priority_and_weight() {
        let answer = to_answer(
            "_http._tcp.example.",
            vec![
                srv(10, 5, 8080, "b.example.", 60),
                srv(20, 1, 80, "A.Example.", 30),
            ],
        )
        .unwrap();
        let ids: Vec<&str> = answer.instances.ids().collect();
        assert_eq!(ids, ["a.example:80", "b.example:8080"]);
        let b = &answer.instances[1];
        assert_eq!(b.metadata().get(PRIORITY).map(String::as_str), Some("10"));
        assert_eq!(b.metadata().get(WEIGHT).map(String::as_str), Some("5"));
        assert_eq!(answer.ttl, Some(Duration::from_secs(30)));
    }

    #[test]
    fn unusable_records_are_skipped() {
        let answer = to_answer(
            "n",
            vec![
                srv(0, 0, 0, "zero-port.example.", 5),
                srv(0, 0, 80, ".", 5),
                srv(0, 0, 80, "", 5),
                srv(0, 0, 80, "bad\\032name.example.", 5),
                srv(0, 0, 80, "a..b.", 5),
                srv(0, 0, 443, "ok.example.", 5),
            ],
        )
        .unwrap();
        assert_eq!(
            answer.instances.ids().collect::<Vec<_>>(),
            ["ok.example:443"]
        );
    }

    #[test]
    fn all_unusable_is_an_error_not_an_empty_set() {
        let error = to_answer("n", vec![srv(0, 0, 0, "a.", 5), srv(0, 0, 1, ".", 5)]).unwrap_err();
        assert!(error.is_no_usable_records(), "{error}");
    }

    #[test]
    fn a_repeated_target_keeps_the_preferred_record() {
        let answer = to_answer(
            "n",
            vec![
                srv(20, 9, 80, "a.", 5),
                srv(10, 1, 80, "a.", 5),
                srv(10, 3, 80, "a.", 5),
            ],
        )
        .unwrap();
        assert_eq!(answer.instances.len(), 1);
        let a = &answer.instances[0];
        assert_eq!(a.metadata().get(PRIORITY).map(String::as_str), Some("10"));
        assert_eq!(a.metadata().get(WEIGHT).map(String::as_str), Some("3"));
    }

    #[test]
    fn host_names_allow_underscores_and_digits() {
        assert_eq!(host_name("_a-1.b2."), Some("_a-1.b2".to_owned()));
        assert_eq!(host_name("localhost"), Some("localhost".to_owned()));
        assert_eq!(host_name("x:1."), None);
    }
}
