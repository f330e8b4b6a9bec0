//! What keeps clients in step with the registry: deltas and the reconcile hash code after
//! every kind of change, delta retention, leases and eviction, and status overrides.

mod common;

use std::time::Duration;

use common::{
    BASES, DIRTY, Http, builder, eventually, instance, instance_path, start, statuses, summary,
    with_lease,
};
use http::StatusCode;
use sd_eureka::{ActionType, Applications, Format, InstanceInfo, Status};

/// `GET {base}{what}` in `format`, decoded.
async fn fetch(http: &Http, base: &str, what: &str, format: Format) -> Applications {
    let path = format!("{base}{what}");
    let reply = http
        .send(
            http::Method::GET,
            &path,
            &[("accept", format.media_type())],
            bytes::Bytes::new(),
        )
        .await;
    assert_eq!(reply.format(), format, "{path}");
    reply.applications()
}

/// What a client does after a change: fetch the delta, apply it to its copy and check the
/// hash code. Asserts that the delta's hash code is the full registry's and the reconcile
/// hash code of it, and that the patched copy is consistent and equal to a full fetch.
/// Returns the delta.
async fn sync(http: &Http, base: &str, format: Format, copy: &mut Applications) -> Applications {
    let delta = fetch(http, base, "apps/delta", format).await;
    let full = fetch(http, base, "apps", format).await;
    let expected = full.reconcile_hash_code();
    assert_eq!(full.apps_hashcode.as_deref(), Some(expected.as_str()));
    assert_eq!(delta.apps_hashcode.as_deref(), Some(expected.as_str()));
    copy.apply_delta(&delta);
    assert!(
        copy.is_consistent(),
        "{base} {format}: the patched copy hashes to {} but the delta says {:?}",
        copy.reconcile_hash_code(),
        delta.apps_hashcode
    );
    assert_eq!(summary(copy), summary(&full), "{base} {format}");
    delta
}

/// The action and status a delta gives `instance`, when it lists it.
fn change(delta: &Applications, instance: &InstanceInfo) -> Option<(ActionType, Status)> {
    let listed: Vec<&InstanceInfo> = delta
        .instances()
        .map(|(_, i)| i)
        .filter(|i| i.instance_id == instance.instance_id)
        .collect();
    assert!(listed.len() <= 1, "listed {} times", listed.len());
    listed.first().map(|i| {
        let action = i.action_type.expect("every delta entry has an actionType");
        (action, i.status)
    })
}

#[tokio::test]
async fn delta_and_hash_code_follow_every_kind_of_change() {
    // JSON under one base path, XML under the other.
    for (base, format) in [("/eureka/", Format::Json), ("/eureka/v2/", Format::Xml)] {
        let server = start().await;
        let http = Http::new(&server);
        let mut copy = fetch(&http, base, "apps", format).await;
        assert_eq!(copy.instance_count(), 0);
        assert!(
            copy.is_consistent(),
            "{base}: an empty registry hashes to \"\""
        );

        let a = instance("orders", 1);
        let b = instance("orders", 2);
        let c = instance("billing", 3);
        // A short lease, expiring while the other changes are made.
        let short = with_lease(instance("billing", 4), 1);
        for i in [&a, &b, &c, &short] {
            http.register_ok(base, i).await;
        }
        let delta = sync(&http, base, format, &mut copy).await;
        for i in [&a, &b, &c, &short] {
            assert_eq!(
                change(&delta, i),
                Some((ActionType::Added, Status::Up)),
                "{base}"
            );
        }
        assert_eq!(copy.instance_count(), 4);

        let set = format!("{}/status?value=OUT_OF_SERVICE", instance_path(base, &a));
        assert_eq!(http.put(&set).await.status, StatusCode::OK);
        let delta = sync(&http, base, format, &mut copy).await;
        assert_eq!(
            change(&delta, &a),
            Some((ActionType::Modified, Status::OutOfService)),
            "{base}: override"
        );

        let metadata = format!("{}/metadata?weight=7", instance_path(base, &b));
        assert_eq!(http.put(&metadata).await.status, StatusCode::OK);
        let delta = sync(&http, base, format, &mut copy).await;
        assert_eq!(
            change(&delta, &b),
            Some((ActionType::Modified, Status::Up)),
            "{base}: metadata"
        );
        let entry = delta
            .instances()
            .find(|(_, i)| i.instance_id == b.instance_id)
            .unwrap()
            .1;
        assert_eq!(entry.metadata.get("weight").map(String::as_str), Some("7"));

        // A client changes its own status by registering again (a heartbeat's `status`
        // changes nothing, as on real servers).
        let mut c_down = c.clone();
        c_down.status = Status::Down;
        http.register_ok(base, &c_down).await;
        let delta = sync(&http, base, format, &mut copy).await;
        assert_eq!(
            change(&delta, &c),
            Some((ActionType::Added, Status::Down)),
            "{base}: a registration reporting another status"
        );

        assert_eq!(http.delete(&instance_path(base, &b)).await.status, 200);
        let delta = sync(&http, base, format, &mut copy).await;
        assert_eq!(
            change(&delta, &b),
            Some((ActionType::Deleted, Status::Up)),
            "{base}: cancel"
        );

        // The eviction task runs every 60 s by default: evict by hand once the lease is over.
        eventually("the short lease to expire", || async {
            server.evict_now() > 0
        })
        .await;
        let delta = sync(&http, base, format, &mut copy).await;
        assert_eq!(
            change(&delta, &short).map(|(action, _)| action),
            Some(ActionType::Deleted),
            "{base}: eviction"
        );
        // The earlier changes are all still there, each once, in its latest state.
        assert_eq!(delta.instance_count(), 4, "{base}");
        assert_eq!(change(&delta, &a).unwrap().1, Status::OutOfService);
        assert_eq!(
            statuses(&copy).into_iter().collect::<Vec<_>>(),
            [
                (a.instance_id.clone(), Status::OutOfService),
                (c.instance_id.clone(), Status::Down),
            ]
        );
        assert_eq!(
            copy.apps_hashcode.as_deref(),
            Some("DOWN_1_OUT_OF_SERVICE_1_")
        );
    }
}

#[tokio::test]
async fn a_delta_brings_a_stale_copy_up_to_date() {
    let server = start().await;
    let http = Http::new(&server);
    let base = "/eureka/";
    let first: Vec<InstanceInfo> = (1..=6)
        .map(|n| instance(if n % 2 == 0 { "orders" } else { "billing" }, n))
        .collect();
    for i in &first {
        http.register_ok(base, i).await;
    }
    // A client fetched here, then missed several changes at once.
    let mut copy = http.full(base).await;
    http.delete(&instance_path(base, &first[0])).await;
    http.delete(&instance_path(base, &first[2])).await;
    http.delete(&instance_path(base, &first[4])).await; // the last BILLING: the app goes
    http.put(&format!(
        "{}/status?value=DOWN",
        instance_path(base, &first[1])
    ))
    .await;
    http.put(&format!("{}/metadata?k=v", instance_path(base, &first[3])))
        .await;
    http.register_ok(base, &instance("payments", 7)).await;
    let mut again = first[5].clone();
    again.status = Status::Starting;
    again.last_dirty_timestamp = DIRTY + 1;
    http.register_ok(base, &again).await;

    let delta = sync(&http, base, Format::Json, &mut copy).await;
    assert!(copy.application("BILLING").is_none(), "{copy:?}");
    assert_eq!(copy.instance_count(), 4);
    assert_eq!(
        copy.apps_hashcode.as_deref(),
        Some("DOWN_1_STARTING_1_UP_2_")
    );
    // The XML delta says the same.
    let mut xml_copy = fetch(&http, base, "apps", Format::Xml).await;
    xml_copy.apply_delta(&fetch(&http, base, "apps/delta", Format::Xml).await);
    assert!(xml_copy.is_consistent());
    assert_eq!(summary(&xml_copy), summary(&copy));
    assert_eq!(
        delta.instance_count(),
        7,
        "every instance changed since start"
    );
}

#[tokio::test]
async fn hash_code_is_the_whole_registry_in_every_response() {
    let server = start().await;
    let http = Http::new(&server);
    let base = "/eureka/";
    for format in [Format::Json, Format::Xml] {
        let empty = fetch(&http, base, "apps", format).await;
        assert_eq!(
            empty.apps_hashcode.as_deref(),
            Some(""),
            "{format}: an empty registry"
        );
    }
    let specs = [
        ("orders", Status::Up),
        ("orders", Status::Down),
        ("orders", Status::Starting),
        ("billing", Status::Up),
        ("billing", Status::Up),
    ];
    for (n, (app, status)) in (1..).zip(specs) {
        let mut i = instance(app, n);
        i.status = status;
        http.register_ok(base, &i).await;
    }
    let overridden = format!("{}/status?value=OUT_OF_SERVICE", {
        instance_path(base, &instance("billing", 5))
    });
    assert_eq!(http.put(&overridden).await.status, StatusCode::OK);
    let expected = "DOWN_1_OUT_OF_SERVICE_1_STARTING_1_UP_2_";
    for format in [Format::Json, Format::Xml] {
        for what in [
            "apps",
            "apps/delta",
            "vips/orders",
            "svips/orders",
            "vips/billing",
            "svips/billing",
        ] {
            let apps = fetch(&http, base, what, format).await;
            assert_eq!(
                apps.apps_hashcode.as_deref(),
                Some(expected),
                "{what} {format}: the hash code of the whole registry"
            );
        }
    }
    let full = http.full(base).await;
    assert_eq!(full.reconcile_hash_code(), expected);
    assert!(full.is_consistent());
    // A VIP answer holds part of the registry but the whole registry's hash code.
    let vip = fetch(&http, base, "vips/billing", Format::Json).await;
    assert_eq!(vip.instance_count(), 2);
    assert!(!vip.is_consistent());
}

#[tokio::test]
async fn delta_retention_lets_old_changes_go() {
    let server = builder()
        .delta_retention(Duration::from_millis(300))
        .bind()
        .await
        .unwrap();
    let http = Http::new(&server);
    let base = "/eureka/";
    let a = instance("orders", 1);
    let b = instance("orders", 2);
    http.register_ok(base, &a).await;
    let mut copy = http.full(base).await;

    eventually("the registration to leave the delta", || async {
        change(&http.delta(base).await, &a).is_none()
    })
    .await;
    assert!(
        http.find(base, &a).await.is_some(),
        "it left the delta only"
    );

    http.register_ok(base, &b).await;
    let delta = sync(&http, base, Format::Json, &mut copy).await;
    assert_eq!(change(&delta, &a), None);
    assert_eq!(change(&delta, &b), Some((ActionType::Added, Status::Up)));
    assert_eq!(delta.instance_count(), 1);
    assert_eq!(copy.instance_count(), 2);
}

#[tokio::test]
async fn an_unrenewed_short_lease_is_evicted_by_the_task() {
    let server = builder()
        .eviction_interval(Duration::from_millis(100))
        .bind()
        .await
        .unwrap();
    let http = Http::new(&server);
    let base = "/eureka/";
    let short = with_lease(instance("orders", 1), 1);
    let long = instance("orders", 2);
    http.register_ok(base, &short).await;
    http.register_ok(base, &long).await;

    eventually("the expired lease to be evicted", || async {
        http.find(base, &short).await.is_none()
    })
    .await;
    assert!(http.find(base, &long).await.is_some(), "a 90 s lease stays");
    let delta = http.delta(base).await;
    assert_eq!(
        change(&delta, &short).map(|(action, _)| action),
        Some(ActionType::Deleted)
    );
    assert_eq!(http.full(base).await.instance_count(), 1);
    // Its heartbeat now gets a 404, the client's cue to register again.
    assert_eq!(
        http.renew(base, &short, "UP").await.status,
        StatusCode::NOT_FOUND
    );
    http.register_ok(base, &short).await;
    assert!(http.find(base, &short).await.is_some());
}

#[tokio::test]
async fn a_renewed_short_lease_stays() {
    let server = builder()
        .eviction_interval(Duration::from_millis(100))
        .bind()
        .await
        .unwrap();
    let http = Http::new(&server);
    let base = "/eureka/";
    let kept = with_lease(instance("orders", 1), 1);
    let control = with_lease(instance("orders", 2), 1);
    http.register_ok(base, &kept).await;
    http.register_ok(base, &control).await;

    // Heartbeats every 300 ms while the unrenewed control expires, and a while after.
    let mut after_control = None;
    let deadline = tokio::time::Instant::now() + common::DEADLINE;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let renewed = http.renew(base, &kept, "UP").await;
        assert_eq!(
            renewed.status,
            StatusCode::OK,
            "the renewed lease was evicted"
        );
        assert!(http.find(base, &kept).await.is_some());
        if after_control.is_none() && http.find(base, &control).await.is_none() {
            after_control = Some(0);
        }
        if let Some(beats) = &mut after_control {
            *beats += 1;
            if *beats > 5 {
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the unrenewed control lease was never evicted"
        );
    }
    let full = http.full(base).await;
    let listed: Vec<String> = statuses(&full).into_keys().collect();
    assert_eq!(listed, [kept.instance_id.as_str()]);
    let lease = http.find(base, &kept).await.unwrap().lease_info.unwrap();
    assert!(lease.last_renewal_timestamp > lease.registration_timestamp);
}

#[tokio::test]
async fn evict_now_removes_only_expired_leases() {
    // The eviction task's interval is 60 s: only evict_now evicts during this test.
    let server = start().await;
    let http = Http::new(&server);
    let base = "/eureka/";
    let short = with_lease(instance("orders", 1), 1);
    let long = instance("orders", 2);
    http.register_ok(base, &short).await;
    http.register_ok(base, &long).await;

    let mut evicted = 0;
    eventually("evict_now to evict the expired lease", || {
        evicted = server.evict_now();
        std::future::ready(evicted > 0)
    })
    .await;
    assert_eq!(evicted, 1, "only the 1 s lease");
    assert!(http.find(base, &short).await.is_none());
    assert!(http.find(base, &long).await.is_some());
    assert_eq!(server.evict_now(), 0, "nothing left to evict");
    assert_eq!(server.applications().instance_count(), 1);
}

#[tokio::test]
async fn an_override_outlives_up_heartbeats_and_registrations_until_removed() {
    for base in BASES {
        let server = start().await;
        let http = Http::new(&server);
        let mut orders = instance("orders", 1);
        http.register_ok(base, &orders).await;
        let status = format!("{}/status", instance_path(base, &orders));
        assert_eq!(
            http.put(&format!("{status}?value=OUT_OF_SERVICE"))
                .await
                .status,
            StatusCode::OK
        );

        for _ in 0..3 {
            assert_eq!(http.renew(base, &orders, "UP").await.status, StatusCode::OK);
            assert_eq!(
                http.status_of(base, &orders).await,
                Status::OutOfService,
                "{base}: an UP heartbeat"
            );
        }
        http.register_ok(base, &orders).await;
        assert_eq!(
            http.status_of(base, &orders).await,
            Status::OutOfService,
            "{base}: registering the same copy again"
        );
        orders.last_dirty_timestamp = DIRTY + 5_000;
        orders.metadata.insert("version".into(), "2".into());
        http.register_ok(base, &orders).await;
        let shown = http.find(base, &orders).await.unwrap();
        assert_eq!(
            (shown.status, shown.overridden_status),
            (Status::OutOfService, Status::OutOfService),
            "{base}: registering a newer copy reporting UP"
        );
        assert_eq!(shown.metadata.get("version").map(String::as_str), Some("2"));
        assert_eq!(http.renew(base, &orders, "UP").await.status, StatusCode::OK);
        let full = http.full(base).await;
        assert_eq!(full.apps_hashcode.as_deref(), Some("OUT_OF_SERVICE_1_"));

        // Removal without a value: UNKNOWN, and (as on real servers) the next heartbeat
        // gets 404, so that the client registers again with its own status.
        assert_eq!(http.delete(&status).await.status, StatusCode::OK);
        let shown = http.find(base, &orders).await.unwrap();
        assert_eq!(
            (shown.status, shown.overridden_status),
            (Status::Unknown, Status::Unknown),
            "{base}"
        );
        let renewal = http.renew(base, &orders, "UP").await;
        assert_eq!(renewal.status, StatusCode::NOT_FOUND, "{base}: {renewal:?}");
        http.register_ok(base, &orders).await;
        assert_eq!(http.status_of(base, &orders).await, Status::Up, "{base}");

        // A DOWN override holds as well; removal with a value takes that value.
        assert_eq!(
            http.put(&format!("{status}?value=DOWN")).await.status,
            StatusCode::OK
        );
        assert_eq!(http.renew(base, &orders, "UP").await.status, StatusCode::OK);
        assert_eq!(http.status_of(base, &orders).await, Status::Down, "{base}");
        assert_eq!(
            http.delete(&format!("{status}?value=STARTING"))
                .await
                .status,
            StatusCode::OK
        );
        assert_eq!(http.status_of(base, &orders).await, Status::Starting);
        assert_eq!(http.renew(base, &orders, "UP").await.status, StatusCode::OK);
        assert_eq!(
            http.status_of(base, &orders).await,
            Status::Starting,
            "{base}: a heartbeat's status changes nothing"
        );
        http.register_ok(base, &orders).await;
        assert_eq!(http.status_of(base, &orders).await, Status::Up, "{base}");

        // Once removed, an override does not come back with a registration.
        http.register_ok(base, &orders).await;
        assert_eq!(http.status_of(base, &orders).await, Status::Up, "{base}");
        let full = http.full(base).await;
        assert_eq!(full.apps_hashcode.as_deref(), Some("UP_1_"));
    }
}

/// On real servers, removing an override that is not there changes nothing (eureka-core's
/// `deleteStatusOverride` only resets the status when an override was removed).
#[tokio::test]
async fn removing_an_absent_override_leaves_the_status_alone() {
    let server = start().await;
    let http = Http::new(&server);
    let base = "/eureka/";
    let orders = instance("orders", 1);
    http.register_ok(base, &orders).await;
    let status = format!("{}/status", instance_path(base, &orders));
    assert_eq!(http.delete(&status).await.status, StatusCode::OK);
    assert_eq!(
        http.status_of(base, &orders).await,
        Status::Up,
        "an UP instance without an override was made UNKNOWN"
    );
}

/// The delta queue keeps at most `delta_capacity` changes: a client that missed some
/// (its last fetch came before them) finds its patched copy's hash code wrong and fetches
/// in full, and ends up with the registry.
#[tokio::test]
async fn a_client_that_missed_changes_dropped_by_count_still_converges() {
    for (base, format) in [("/eureka/", Format::Json), ("/eureka/v2/", Format::Xml)] {
        let server = builder().delta_capacity(5).bind().await.unwrap();
        let http = Http::new(&server);
        let mut copy = fetch(&http, base, "apps", format).await;
        let fleet: Vec<InstanceInfo> = (1..=40).map(|n| instance("orders", n)).collect();
        for i in &fleet {
            http.register_ok(base, i).await;
        }
        let delta = fetch(&http, base, "apps/delta", format).await;
        assert_eq!(delta.instance_count(), 5, "{base}: the latest five only");
        for i in &fleet[35..] {
            assert_eq!(change(&delta, i), Some((ActionType::Added, Status::Up)));
        }

        // What a client does: patch, check the hash code, fetch in full on a mismatch.
        copy.apply_delta(&delta);
        assert!(
            !copy.is_consistent(),
            "{base}: the gap shows in the hash code"
        );
        copy = fetch(&http, base, "apps", format).await;
        assert!(copy.is_consistent());
        assert_eq!(copy.instance_count(), 40, "{base}");
        // From there deltas work again.
        http.delete(&instance_path(base, &fleet[0])).await;
        let delta = sync(&http, base, format, &mut copy).await;
        assert_eq!(
            change(&delta, &fleet[0]).map(|c| c.0),
            Some(ActionType::Deleted)
        );
        assert_eq!(copy.instance_count(), 39);
    }
}
