//! `sd eureka apps`: the registry of a running Eureka server, as an aligned table or as
//! normalized JSON.
//!
//! The table has a header, one row per instance sorted by app then instance id, then
//! `# apps=N instances=M hashcode=H`:
//!
//! ```text
//! APP     INSTANCE                 STATUS  ADDRESS         ZONE        AGE    RENEWED
//! ORDERS  10.0.0.5:orders:8080     UP      10.0.0.5:8080   eu-west-1a  2h05m  4s ago
//! ```
//!
//! `ZONE` is the Amazon availability zone, else the `zone` metadata; `AGE` the time since
//! the instance registered; `RENEWED` the time since its last heartbeat (`-` when unknown).
//!
//! Real servers (Netflix's eureka-core) store a renewal as its time *plus the lease
//! duration*, so their `lastRenewalTimestamp` lies up to a lease ahead. A timestamp ahead
//! of this machine's clock is read that way: the renewal was a lease duration before it.
//! Should even that lie ahead (a server clock far ahead of ours), the column says so as
//! `in 5s` rather than show a renewal that has not happened as `0s ago`.

use std::io::{self, Write};

use sd_eureka::{Applications, Format, InstanceInfo, LeaseInfo, now_millis};

use super::client::{self, Registry};
use crate::error::Error;
use crate::text::one_line;

/// Arguments of `sd eureka apps`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    registry: Registry,
    /// Print the registry as normalized JSON instead of an instance table.
    #[arg(long)]
    json: bool,
}

/// Runs `sd eureka apps`.
pub(crate) fn run(args: &Args, out: &mut impl Write) -> Result<(), Error> {
    let connection = args.registry.connect(None)?;
    let registry = client::runtime()?
        .block_on(connection.applications())
        .map_err(|source| Error::eureka("cannot read the registry", source))?;
    if args.json {
        let json = sd_eureka::encode_applications(&registry, Format::Json).map_err(|source| {
            Error::Encode {
                input: "the registry".to_owned(),
                source,
            }
        })?;
        out.write_all(&json)
            .and_then(|()| out.write_all(b"\n"))
            .map_err(Error::Write)
    } else {
        write_table(&registry, now_millis(), out).map_err(Error::Write)
    }
}

const HEADER: [&str; 7] = [
    "APP", "INSTANCE", "STATUS", "ADDRESS", "ZONE", "AGE", "RENEWED",
];

/// Writes the table as of `now` (milliseconds since the epoch) and its summary line.
fn write_table(registry: &Applications, now: i64, out: &mut impl Write) -> io::Result<()> {
    let mut instances: Vec<_> = registry.instances().collect();
    instances.sort_by(|(app_a, a), (app_b, b)| (app_a, a.id()).cmp(&(app_b, b.id())));
    let rows: Vec<[String; 7]> = instances
        .into_iter()
        .map(|(app, instance)| row(app, instance, now))
        .collect();
    let mut widths = HEADER.map(|title| title.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    write_row(&HEADER, &widths, out)?;
    for row in &rows {
        write_row(row, &widths, out)?;
    }
    writeln!(
        out,
        "# apps={} instances={} hashcode={}",
        registry.applications.len(),
        registry.instance_count(),
        registry.reconcile_hash_code(),
    )
}

/// One instance's cells, in [`HEADER`] order.
fn row(app: &str, instance: &InstanceInfo, now: i64) -> [String; 7] {
    let zone = instance
        .data_center_info
        .availability_zone()
        .or_else(|| instance.metadata.get("zone").map(String::as_str))
        .unwrap_or("-");
    let lease = instance.lease_info.as_ref();
    let since = |timestamp: i64| (timestamp > 0).then(|| elapsed(now - timestamp));
    let age = lease.and_then(|l| since(l.registration_timestamp));
    let renewed = lease.and_then(|l| renewed(l, now));
    [
        one_line(app).into_owned(),
        one_line(instance.id()).into_owned(),
        instance.status.to_string(),
        one_line(&instance.address()).into_owned(),
        one_line(zone).into_owned(),
        age.unwrap_or_else(|| "-".to_owned()),
        renewed.unwrap_or_else(|| "-".to_owned()),
    ]
}

/// When the lease was last renewed, as `4s ago`; `None` when it never was. A timestamp
/// ahead of `now` is a real server's renewal time plus the lease duration (see the
/// module's documentation).
fn renewed(lease: &LeaseInfo, now: i64) -> Option<String> {
    let stamp = lease.last_renewal_timestamp;
    if stamp <= 0 {
        return None;
    }
    let at = if stamp > now {
        stamp.saturating_sub(i64::from(lease.duration_in_secs).saturating_mul(1000))
    } else {
        stamp
    };
    Some(if at <= now {
        format!("{} ago", elapsed(now.saturating_sub(at)))
    } else {
        format!("in {}", elapsed(at.saturating_sub(now)))
    })
}

/// Writes cells padded to `widths`, two spaces apart, with no trailing blanks.
fn write_row<S: AsRef<str>>(cells: &[S], widths: &[usize], out: &mut impl Write) -> io::Result<()> {
    let mut line = String::new();
    for (index, (cell, width)) in cells.iter().zip(widths).enumerate() {
        let cell = cell.as_ref();
        if index > 0 {
            line.push_str("  ");
        }
        line.push_str(cell);
        let padding = width.saturating_sub(cell.chars().count());
        line.extend(std::iter::repeat_n(' ', padding));
    }
    writeln!(out, "{}", line.trim_end())
}

/// A duration in milliseconds, to the second and in at most two units: `42s`, `3m07s`,
/// `2h05m`, `4d06h`. A negative one (a server clock ahead of ours) is `0s`.
fn elapsed(millis: i64) -> String {
    let secs = millis.max(0) / 1000;
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        3600..86_400 => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d{:02}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use sd_eureka::{
        Application, Applications, DataCenterInfo, InstanceInfo, LeaseInfo, Metadata, Status,
    };

    use super::{elapsed, renewed, write_table};

    const NOW: i64 = 1_700_000_000_000;

    fn table(registry: &Applications) -> String {
        let mut out = Vec::new();
        write_table(registry, NOW, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn empty_registry_prints_the_header_and_summary() {
        assert_eq!(
            table(&Applications::default()),
            "APP  INSTANCE  STATUS  ADDRESS  ZONE  AGE  RENEWED\n\
             # apps=0 instances=0 hashcode=\n"
        );
    }

    #[test]
    fn columns_are_aligned_and_rows_sorted_bytewise() {
        let mut orders = InstanceInfo::new("orders", "10.0.0.5", "10.0.0.5", 8080);
        orders.lease_info = Some(LeaseInfo {
            registration_timestamp: NOW - 7_500_000,
            last_renewal_timestamp: NOW - 4_000,
            ..LeaseInfo::default()
        });
        orders.data_center_info = DataCenterInfo::amazon(Metadata::from([(
            "availability-zone".to_owned(),
            "eu-west-1a".to_owned(),
        )]));
        let mut down = InstanceInfo::new("billing", "b\t2", "10.0.0.12", 9000);
        down.status = Status::Down;
        down.lease_info = None;
        down.metadata.insert("zone".to_owned(), "dc1".to_owned());
        let registry = Applications {
            applications: vec![
                Application {
                    name: "ORDERS".to_owned(),
                    instances: vec![orders],
                },
                Application {
                    name: "BILLING".to_owned(),
                    instances: vec![down, InstanceInfo::new("billing", "b1", "10.0.0.11", 9000)],
                },
            ],
            ..Applications::default()
        };
        assert_eq!(
            table(&registry),
            "APP      INSTANCE              STATUS  ADDRESS         ZONE        AGE    RENEWED\n\
             BILLING  b\\t2:billing:9000     DOWN    10.0.0.12:9000  dc1         -      -\n\
             BILLING  b1:billing:9000       UP      10.0.0.11:9000  -           -      -\n\
             ORDERS   10.0.0.5:orders:8080  UP      10.0.0.5:8080   eu-west-1a  2h05m  4s ago\n\
             # apps=2 instances=3 hashcode=DOWN_1_UP_2_\n"
        );
    }

    #[test]
    fn a_renewal_a_lease_ahead_is_read_as_real_servers_write_it() {
        let lease = |stamp: i64| LeaseInfo {
            duration_in_secs: 90,
            last_renewal_timestamp: stamp,
            ..LeaseInfo::default()
        };
        assert_eq!(renewed(&lease(NOW - 4_000), NOW).as_deref(), Some("4s ago"));
        // eureka-core: renewed 5 s ago, stored as that plus 90 s.
        assert_eq!(
            renewed(&lease(NOW + 85_000), NOW).as_deref(),
            Some("5s ago")
        );
        // Further ahead than a lease: a clock ahead of ours, said as it is.
        assert_eq!(renewed(&lease(NOW + 95_000), NOW).as_deref(), Some("in 5s"));
        assert_eq!(renewed(&lease(0), NOW), None);
    }

    #[test]
    fn durations_use_two_units_at_most() {
        assert_eq!(elapsed(-5_000), "0s");
        assert_eq!(elapsed(999), "0s");
        assert_eq!(elapsed(42_000), "42s");
        assert_eq!(elapsed(187_000), "3m07s");
        assert_eq!(elapsed(7_500_000), "2h05m");
        assert_eq!(elapsed(367_200_000), "4d06h");
    }
}
