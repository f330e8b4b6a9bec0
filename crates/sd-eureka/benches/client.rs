//! What discovery costs and how fast it is, against the development registry over
//! loopback, with a 1 s poll:
//! - time from a registration to the instance appearing in an instancer's set, and from
//!   DOWN / cancel to it leaving (p50 and p99 over repeated trials);
//! - bytes received per idle poll with 10,000 registered instances (deltas) against one
//!   full fetch, and the client's memory holding that registry.
//!
//! `cargo bench -p sd-eureka --bench client` (about two minutes).

// Byte counts and kilobytes are far below 2^52: the casts to f64 are exact.
#![allow(clippy::cast_precision_loss)]

use std::time::{Duration, Instant};

use sd_core::{Event, Instancer as _};
use sd_eureka::{Connection, InstanceInfo, Instancer, Status};
use sd_eureka_server::EurekaServer;

const POLL: Duration = Duration::from_secs(1);
const TRIALS: usize = 40;

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{what}: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms over {} trials (poll interval {} ms)",
        percentile(&samples, 0.5).as_secs_f64() * 1000.0,
        percentile(&samples, 0.99).as_secs_f64() * 1000.0,
        samples.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        samples.len(),
        POLL.as_millis()
    );
}

/// Waits until the subscription publishes a set for which `done` holds; returns when.
async fn until(
    sub: &mut sd_core::Subscription,
    done: impl Fn(&sd_core::Instances) -> bool,
) -> Instant {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), sub.next()).await {
            Ok(Some(Event::Instances(set))) if done(&set) => return Instant::now(),
            Ok(Some(_)) => {}
            _ => panic!("no matching event within 10 s"),
        }
    }
}

async fn propagation(server: &EurekaServer) {
    let connection = Connection::builder()
        .service_url(server.base_url())
        .poll_interval(POLL)
        .build()
        .unwrap();
    let instancer = Instancer::new(&connection, "probe").unwrap();
    let mut sub = instancer.subscribe();
    let (mut appear, mut down, mut gone) = (Vec::new(), Vec::new(), Vec::new());
    for trial in 0..TRIALS {
        let port = u16::try_from(20_000 + trial).unwrap();
        let instance = InstanceInfo::builder("probe", port).build();
        let address = instance.address();
        // Start each trial at a random point of the poll cycle, as real changes are.
        tokio::time::sleep(Duration::from_millis(
            u64::try_from(trial * 137 % 1000).unwrap(),
        ))
        .await;
        let t = Instant::now();
        connection.register(&instance).await.unwrap();
        appear.push(until(&mut sub, |s| s.ids().any(|id| id == address)).await - t);

        let t = Instant::now();
        connection
            .set_status_override(
                "probe",
                &instance.instance_id,
                Status::Down,
                instance.last_dirty_timestamp,
            )
            .await
            .unwrap();
        down.push(until(&mut sub, |s| !s.ids().any(|id| id == address)).await - t);

        connection
            .remove_status_override("probe", &instance.instance_id, Some(Status::Up), 0)
            .await
            .unwrap();
        until(&mut sub, |s| s.ids().any(|id| id == address)).await;
        let t = Instant::now();
        connection
            .deregister("probe", &instance.instance_id)
            .await
            .unwrap();
        gone.push(until(&mut sub, |s| !s.ids().any(|id| id == address)).await - t);
    }
    report("register -> visible", appear);
    report("DOWN -> gone", down);
    report("cancel -> gone", gone);
}

async fn poll_cost(server: &EurekaServer) {
    let writer = Connection::builder()
        .service_url(server.base_url())
        .build()
        .unwrap();
    for app in 0..100 {
        for i in 0..100 {
            let mut instance = InstanceInfo::builder(&format!("app{app:03}"), 8080)
                .ip(format!("10.1.{app}.{i}"))
                .metadata("zone", "z1")
                .metadata("management.port", "8081")
                .build();
            instance.lease_info.as_mut().unwrap().duration_in_secs = 3600;
            writer.register(&instance).await.unwrap();
        }
    }
    let reader = Connection::builder()
        .service_url(server.base_url())
        .poll_interval(POLL)
        .build()
        .unwrap();
    let before_kb = rss_kb();
    let instancer = Instancer::new(&reader, "app000").unwrap();
    let mut sub = instancer.subscribe();
    until(&mut sub, |s| s.len() == 100).await;
    let full = reader.bytes_received();
    let after_kb = rss_kb();
    // Wait for the registration burst to leave the delta queue (2 s retention here, 3 min
    // on real servers): from then on an idle delta carries only the version and hash code.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let polls = 20;
    let start_bytes = reader.bytes_received();
    let start_stats = instancer.stats();
    tokio::time::sleep(POLL * polls).await;
    let idle = reader.bytes_received() - start_bytes;
    let stats = instancer.stats();
    let delta_polls = stats.delta_fetches - start_stats.delta_fetches;
    println!(
        "10,000 instances: full fetch {full} bytes (gzip JSON); {delta_polls} idle delta polls took {idle} bytes, {} bytes per poll ({:.3}% of a full fetch); full fetches {}, hash mismatches {}",
        idle / delta_polls.max(1),
        100.0 * (idle as f64 / delta_polls.max(1) as f64) / full as f64,
        stats.full_fetches,
        stats.hash_mismatches,
    );
    println!(
        "client memory holding the registry: {:.1} MB more resident after the first full fetch",
        (after_kb.saturating_sub(before_kb)) as f64 / 1024.0
    );
    resync_cost(&reader, full, idle / delta_polls.max(1)).await;
}

/// What the periodic full fetch (the stale-delta safety net) adds: one `GET apps` of the
/// 10,000-instance registry, fetched, gunzipped and decoded, timed end to end; per hour at
/// the default resync interval, in place of as many idle delta polls.
async fn resync_cost(reader: &Connection, full_bytes: u64, delta_bytes: u64) {
    let mut samples = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let apps = reader.applications().await.unwrap();
        samples.push(t.elapsed());
        assert_eq!(apps.instance_count(), 10_000);
    }
    samples.sort();
    let median = percentile(&samples, 0.5);
    let per_hour = 3600 / 300;
    println!(
        "full fetch of 10,000 instances (fetch + gunzip + decode, loopback): p50 {:.1} ms, p99 {:.1} ms; \
         resync every 5 min = {per_hour} full fetches per hour in place of {per_hour} idle delta polls: \
         +{:.2} MB and about {:.2} s of fetching per hour",
        median.as_secs_f64() * 1000.0,
        percentile(&samples, 0.99).as_secs_f64() * 1000.0,
        (per_hour * full_bytes.saturating_sub(delta_bytes)) as f64 / 1e6,
        median.as_secs_f64() * per_hour as f64,
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs this too, so keep a quick path.
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = EurekaServer::builder()
            .addr("127.0.0.1:0".parse().unwrap())
            // The delta queue keeps 3 minutes of changes by default; the idle-poll figure
            // is about a registry whose registrations are older than that.
            .delta_retention(Duration::from_secs(2))
            .bind()
            .await
            .unwrap();
        propagation(&server).await;
        poll_cost(&server).await;
    });
}
