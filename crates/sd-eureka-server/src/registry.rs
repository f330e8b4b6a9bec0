//! The registry's state: leases, status overrides, the delta queue and the version.
//!
//! Synchronous and given the time by its caller, so every rule is testable without HTTP
//! or a clock; the server wraps it in a mutex.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use sd_eureka::{ActionType, Application, Applications, InstanceInfo, Metadata, Status};

use crate::rate::PerMinute;

/// Milliseconds since the Unix epoch, as Eureka timestamps are.
pub(crate) type Millis = i64;

/// The lease renewal interval of a registration that gives none (or one ≤ 0).
pub(crate) const DEFAULT_RENEWAL_SECS: u32 = 30;
/// The lease duration of a registration that gives none (or one ≤ 0).
pub(crate) const DEFAULT_DURATION_SECS: u32 = 90;

/// Why an operation on an instance did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refused {
    /// No such app or instance (404).
    #[error("instance not registered")]
    NotFound,
    /// The client's copy is newer than the server's: it must register again (404).
    #[error("the client's lastDirtyTimestamp is newer than the server's")]
    Stale,
    /// The instance's status is UNKNOWN, as after its override was removed without a
    /// value: real servers answer its heartbeats 404 so that the client registers again
    /// with its own status.
    #[error("the instance's status is UNKNOWN: register again")]
    Unknown,
}

/// An instance and its lease. The instance is shared with the delta queue's snapshots
/// (copy-on-write when it changes), and renewals touch only `last_renewal`, so a registry
/// holds each instance once and heartbeats never copy one.
#[derive(Debug, Clone)]
struct Lease {
    instance: Arc<InstanceInfo>,
    last_renewal: Millis,
    /// What responses show as `lastRenewalTimestamp`: `last_renewal`, or after a renewal
    /// `last_renewal` plus the lease duration where the registry shows renewals as real
    /// servers do ([`Registry::show_renewals_ahead`]).
    shown_renewal: Millis,
    /// A status set through the override API; survives heartbeats until removed.
    overridden: Option<Status>,
    /// The status the instance itself last registered with. An override replaces the
    /// status every read shows, so the status page keeps this to show both.
    reported: Status,
    /// The last change, shown as the instance's `actionType`.
    action: ActionType,
}

impl Lease {
    /// The instance as responses show it: with its lease's renewal time and last action.
    fn view(&self) -> InstanceInfo {
        let mut instance = InstanceInfo::clone(&self.instance);
        if let Some(lease) = &mut instance.lease_info {
            lease.last_renewal_timestamp = self.shown_renewal;
        }
        instance.action_type = Some(self.action);
        instance
    }
}

/// One change, kept for the delta queue.
#[derive(Debug, Clone)]
struct Change {
    at: Millis,
    app: String,
    instance: Arc<InstanceInfo>,
    action: ActionType,
}

/// The registry.
#[derive(Debug)]
pub(crate) struct Registry {
    /// App name (upper case) → instance id → lease. Ordered, so responses are stable.
    apps: BTreeMap<String, BTreeMap<String, Lease>>,
    recent: VecDeque<Change>,
    delta_retention: Duration,
    /// The most changes the delta queue holds; the oldest go first. A registration loop
    /// would otherwise grow it for the whole retention.
    delta_capacity: usize,
    /// Bumped by every change a full fetch would show (not by plain renewals).
    version: u64,
    /// Accepted heartbeats over the last minute, for the status page.
    renewals: PerMinute,
    /// Whether renewals show as real servers show them (see `show_renewals_ahead`).
    renewals_ahead: bool,
}

/// What the status page shows of the registry. It is taken under the registry's lock and
/// rendered after the lock is released, so heartbeats never wait for the HTML of a large
/// registry; taking it copies pointers, not instances.
#[derive(Debug, Clone, Default)]
pub(crate) struct PageSnapshot {
    /// The apps in name order, each with its instances in id order.
    pub(crate) apps: Vec<(String, Vec<PageLease>)>,
    /// Heartbeats accepted in the last minute.
    pub(crate) renewals_last_minute: u64,
    /// Heartbeats a minute the registered leases ask for.
    pub(crate) expected_renewals_per_minute: f64,
}

/// One instance as the status page shows it.
#[derive(Debug, Clone)]
pub(crate) struct PageLease {
    /// The instance as registered, with the override applied to its `status`.
    pub(crate) instance: Arc<InstanceInfo>,
    /// When its lease was last renewed.
    pub(crate) last_renewal: Millis,
    /// The status set through the override API, if any.
    pub(crate) overridden: Option<Status>,
    /// The status the instance itself last registered with.
    pub(crate) reported: Status,
}

impl Registry {
    pub(crate) fn new(delta_retention: Duration, delta_capacity: usize) -> Self {
        Self {
            apps: BTreeMap::new(),
            recent: VecDeque::new(),
            delta_retention,
            delta_capacity,
            version: 0,
            renewals: PerMinute::default(),
            renewals_ahead: false,
        }
    }

    /// Shows each renewal's `lastRenewalTimestamp` a lease duration in the future, as
    /// Netflix's eureka-core stores it (`Lease.renew()` adds the duration: the bug behind
    /// "expires after twice the duration"). Expiry still counts from the real renewal.
    pub(crate) fn show_renewals_ahead(&mut self, ahead: bool) {
        self.renewals_ahead = ahead;
    }

    /// Changes with every registration, cancellation, eviction, status or metadata change.
    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    /// Registers (or re-registers) `instance` under `app`. A status override set earlier
    /// survives re-registration, as on real servers. A registration whose
    /// `lastDirtyTimestamp` is older than the server's copy keeps the server's copy.
    pub(crate) fn register(&mut self, app: &str, mut instance: InstanceInfo, now: Millis) {
        let app = app.to_ascii_uppercase();
        instance.app.clone_from(&app);
        // Real servers date a registration that carries no dirty timestamp at arrival
        // (eureka-js-client sends none).
        if instance.last_dirty_timestamp == 0 {
            instance.last_dirty_timestamp = now;
        }
        let leases = self.apps.entry(app.clone()).or_default();
        let previous = leases.get(&instance.instance_id);
        let mut reported = instance.status;
        if let Some(previous) = previous {
            if previous.instance.last_dirty_timestamp > instance.last_dirty_timestamp {
                instance = InstanceInfo::clone(&previous.instance);
                reported = previous.reported;
            }
        }
        // An override already set wins; else one the body asks for is taken, as on real
        // servers.
        let overridden = previous
            .and_then(|p| p.overridden)
            .or(Some(instance.overridden_status).filter(|s| *s != Status::Unknown));
        let registered_at = previous
            .and_then(|p| p.instance.lease_info)
            .map_or(now, |l| l.registration_timestamp);
        let mut lease_info = instance.lease_info.unwrap_or_default();
        // As real servers: a value ≤ 0 (negative ones arrive as 0) means the default.
        // fargo sends zeros whenever its caller set no lease.
        if lease_info.renewal_interval_in_secs == 0 {
            lease_info.renewal_interval_in_secs = DEFAULT_RENEWAL_SECS;
        }
        if lease_info.duration_in_secs == 0 {
            lease_info.duration_in_secs = DEFAULT_DURATION_SECS;
        }
        lease_info.registration_timestamp = registered_at;
        lease_info.last_renewal_timestamp = now;
        lease_info.eviction_timestamp = 0;
        if instance.status == Status::Up && lease_info.service_up_timestamp == 0 {
            lease_info.service_up_timestamp = now;
        }
        instance.lease_info = Some(lease_info);
        if let Some(status) = overridden {
            instance.status = status;
            instance.overridden_status = status;
        }
        instance.last_updated_timestamp = now;
        instance.action_type = None;
        let id = instance.instance_id.clone();
        let instance = Arc::new(instance);
        leases.insert(
            id,
            Lease {
                instance: Arc::clone(&instance),
                last_renewal: now,
                shown_renewal: now,
                overridden,
                reported,
                action: ActionType::Added,
            },
        );
        self.record(app, instance, ActionType::Added, now);
    }

    /// A heartbeat; `last_dirty` is the client's `lastDirtyTimestamp`.
    ///
    /// The `status` a heartbeat reports changes nothing, as on real servers (which answer
    /// 200 to `?status=BOGUS` and keep the instance UP): a client changes its status by
    /// registering again or through the override call.
    pub(crate) fn renew(
        &mut self,
        app: &str,
        id: &str,
        last_dirty: Option<Millis>,
        now: Millis,
    ) -> Result<(), Refused> {
        let app = app.to_ascii_uppercase();
        let ahead = self.renewals_ahead;
        let lease = self.lease_mut(&app, id)?;
        if last_dirty.is_some_and(|client| client > lease.instance.last_dirty_timestamp) {
            return Err(Refused::Stale);
        }
        if lease.instance.status == Status::Unknown {
            return Err(Refused::Unknown);
        }
        lease.last_renewal = now;
        lease.shown_renewal = if ahead {
            let duration = lease.instance.lease_info.map_or(90, |l| l.duration_in_secs);
            now.saturating_add(i64::from(duration) * 1000)
        } else {
            now
        };
        self.renewals.record(now);
        Ok(())
    }

    /// How many heartbeats were accepted in the minute up to `now`.
    pub(crate) fn renewals_last_minute(&self, now: Millis) -> u64 {
        self.renewals.last_minute(now)
    }

    /// How many heartbeats a minute the registered instances should send, by their
    /// leases' renewal intervals (real servers assume 30 s for all).
    pub(crate) fn expected_renewals_per_minute(&self) -> f64 {
        self.apps
            .values()
            .flat_map(BTreeMap::values)
            .map(|lease| {
                let interval = lease
                    .instance
                    .lease_info
                    .map_or(DEFAULT_RENEWAL_SECS, |l| l.renewal_interval_in_secs)
                    .max(1);
                60.0 / f64::from(interval)
            })
            .sum()
    }

    /// The lease of instance `id` of `app` (already upper-cased).
    fn lease_mut(&mut self, app: &str, id: &str) -> Result<&mut Lease, Refused> {
        self.apps
            .get_mut(app)
            .and_then(|leases| leases.get_mut(id))
            .ok_or(Refused::NotFound)
    }

    /// Removes an instance (DELETED in the delta queue).
    pub(crate) fn cancel(&mut self, app: &str, id: &str, now: Millis) -> Result<(), Refused> {
        let app = app.to_ascii_uppercase();
        let leases = self.apps.get_mut(&app).ok_or(Refused::NotFound)?;
        let lease = leases.remove(id).ok_or(Refused::NotFound)?;
        if leases.is_empty() {
            self.apps.remove(&app);
        }
        let mut instance = lease.instance;
        Arc::make_mut(&mut instance).last_updated_timestamp = now;
        self.record(app, instance, ActionType::Deleted, now);
        Ok(())
    }

    /// Sets a status override; it holds through UP heartbeats until removed.
    pub(crate) fn set_override(
        &mut self,
        app: &str,
        id: &str,
        status: Status,
        now: Millis,
    ) -> Result<(), Refused> {
        self.modify(app, id, now, |lease| {
            lease.overridden = Some(status);
            let instance = Arc::make_mut(&mut lease.instance);
            instance.status = status;
            instance.overridden_status = status;
        })
    }

    /// Removes a status override; the instance takes `status` (UNKNOWN when not given, as
    /// on real servers, whose next heartbeat then gets 404 so that the client registers
    /// again with its own status).
    pub(crate) fn remove_override(
        &mut self,
        app: &str,
        id: &str,
        status: Option<Status>,
        now: Millis,
    ) -> Result<(), Refused> {
        let has_override = self
            .lease_mut(&app.to_ascii_uppercase(), id)?
            .overridden
            .is_some();
        if !has_override {
            // As eureka-core: removing an override that is not there changes nothing.
            return Ok(());
        }
        self.modify(app, id, now, |lease| {
            lease.overridden = None;
            let instance = Arc::make_mut(&mut lease.instance);
            instance.overridden_status = Status::Unknown;
            instance.status = status.unwrap_or(Status::Unknown);
        })
    }

    /// Merges `entries` into the instance's metadata.
    pub(crate) fn merge_metadata(
        &mut self,
        app: &str,
        id: &str,
        entries: Metadata,
        now: Millis,
    ) -> Result<(), Refused> {
        self.modify(app, id, now, |lease| {
            Arc::make_mut(&mut lease.instance).metadata.extend(entries);
        })
    }

    fn modify(
        &mut self,
        app: &str,
        id: &str,
        now: Millis,
        change: impl FnOnce(&mut Lease),
    ) -> Result<(), Refused> {
        let app = app.to_ascii_uppercase();
        let lease = self.lease_mut(&app, id)?;
        change(lease);
        Arc::make_mut(&mut lease.instance).last_updated_timestamp = now;
        lease.action = ActionType::Modified;
        let snapshot = Arc::clone(&lease.instance);
        self.record(app, snapshot, ActionType::Modified, now);
        Ok(())
    }

    /// Removes every instance whose lease has gone `durationInSecs` without a renewal;
    /// returns how many.
    pub(crate) fn evict(&mut self, now: Millis) -> usize {
        let mut expired = Vec::new();
        for (app, leases) in &self.apps {
            for (id, lease) in leases {
                let duration = lease
                    .instance
                    .lease_info
                    .map_or(DEFAULT_DURATION_SECS, |l| l.duration_in_secs);
                if now.saturating_sub(lease.last_renewal) > i64::from(duration) * 1000 {
                    expired.push((app.clone(), id.clone()));
                }
            }
        }
        for (app, id) in &expired {
            tracing::info!(app = %app, instance = %id, "lease expired; evicting");
            // The pair was just found, so removal cannot miss.
            let _ = self.cancel(app, id, now);
        }
        expired.len()
    }

    fn record(
        &mut self,
        app: String,
        instance: Arc<InstanceInfo>,
        action: ActionType,
        now: Millis,
    ) {
        self.version += 1;
        self.recent.push_back(Change {
            at: now,
            app,
            instance,
            action,
        });
        // A client whose last fetch predates a dropped change gets a delta without it; the
        // hash code, which is always the whole registry's, then disagrees with its patched
        // copy and it fetches in full, as after a retention it missed.
        while self.recent.len() > self.delta_capacity {
            self.recent.pop_front();
        }
        self.prune(now);
    }

    fn prune(&mut self, now: Millis) {
        let retention = i64::try_from(self.delta_retention.as_millis()).unwrap_or(i64::MAX);
        while self
            .recent
            .front()
            .is_some_and(|c| now.saturating_sub(c.at) > retention)
        {
            self.recent.pop_front();
        }
    }

    /// The full registry, every status included.
    pub(crate) fn applications(&self) -> Applications {
        self.assemble(
            self.apps
                .iter()
                .map(|(name, leases)| (name.clone(), leases.values().map(Lease::view).collect())),
        )
    }

    /// One app, `None` when unknown (an app with no instances does not exist).
    pub(crate) fn application(&self, app: &str) -> Option<Application> {
        let name = app.to_ascii_uppercase();
        let leases = self.apps.get(&name)?;
        Some(Application {
            name,
            instances: leases.values().map(Lease::view).collect(),
        })
    }

    /// One instance, looked up in one app or (`app` = `None`) in all of them.
    pub(crate) fn instance(&self, app: Option<&str>, id: &str) -> Option<InstanceInfo> {
        match app {
            Some(app) => self
                .apps
                .get(&app.to_ascii_uppercase())?
                .get(id)
                .map(Lease::view),
            None => self
                .apps
                .values()
                .find_map(|leases| leases.get(id))
                .map(Lease::view),
        }
    }

    /// The instances whose VIP (or secure VIP) list names `vip`, case-sensitively.
    pub(crate) fn by_vip(&self, vip: &str, secure: bool) -> Applications {
        self.assemble(self.apps.iter().map(|(name, leases)| {
            let instances = leases
                .values()
                .filter(|l| {
                    let vips = if secure {
                        &l.instance.secure_vip_address
                    } else {
                        &l.instance.vip_address
                    };
                    vips.as_deref()
                        .is_some_and(|v| v.split(',').any(|one| one.trim() == vip))
                })
                .map(Lease::view)
                .collect();
            (name.clone(), instances)
        }))
    }

    /// The changes of the last `delta_retention`, each instance once in its latest state.
    pub(crate) fn delta(&mut self, now: Millis) -> Applications {
        self.prune(now);
        let mut latest: BTreeMap<(&str, &str), &Change> = BTreeMap::new();
        for change in &self.recent {
            latest.insert(
                (change.app.as_str(), change.instance.instance_id.as_str()),
                change,
            );
        }
        let mut apps: BTreeMap<String, Vec<InstanceInfo>> = BTreeMap::new();
        for ((app, _), change) in latest {
            let mut instance = InstanceInfo::clone(&change.instance);
            instance.action_type = Some(change.action);
            apps.entry(app.to_owned()).or_default().push(instance);
        }
        self.assemble(apps.into_iter())
    }

    /// A registry response: the apps given (empty ones dropped), this registry's version
    /// and the hash code of the *whole* registry.
    fn assemble(&self, apps: impl Iterator<Item = (String, Vec<InstanceInfo>)>) -> Applications {
        let applications = apps
            .filter(|(_, instances)| !instances.is_empty())
            .map(|(name, instances)| Application { name, instances })
            .collect();
        Applications {
            versions_delta: Some(i64::try_from(self.version).unwrap_or(i64::MAX)),
            apps_hashcode: Some(self.hash_code()),
            applications,
        }
    }

    fn hash_code(&self) -> String {
        sd_eureka::reconcile_hash_code(
            self.apps
                .values()
                .flat_map(BTreeMap::values)
                .map(|l| l.instance.status),
        )
    }

    /// How many instances are registered.
    pub(crate) fn instance_count(&self) -> usize {
        self.apps.values().map(BTreeMap::len).sum()
    }

    /// What the status page shows, as of `now`.
    pub(crate) fn page_snapshot(&self, now: Millis) -> PageSnapshot {
        let apps = self
            .apps
            .iter()
            .map(|(app, leases)| {
                let leases = leases
                    .values()
                    .map(|l| PageLease {
                        instance: Arc::clone(&l.instance),
                        last_renewal: l.last_renewal,
                        overridden: l.overridden,
                        reported: l.reported,
                    })
                    .collect();
                (app.clone(), leases)
            })
            .collect();
        PageSnapshot {
            apps,
            renewals_last_minute: self.renewals_last_minute(now),
            expected_renewals_per_minute: self.expected_renewals_per_minute(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Millis = 1_700_000_000_000;

    /// An UP instance of ORDERS with `lastDirtyTimestamp` T0.
    fn orders(n: u16) -> InstanceInfo {
        let mut instance = InstanceInfo::new("orders", &format!("host-{n}"), "10.0.0.1", 8000 + n);
        instance.last_dirty_timestamp = T0;
        instance
    }

    fn with_lease(mut instance: InstanceInfo, secs: u32) -> InstanceInfo {
        let mut lease = instance.lease_info.unwrap_or_default();
        lease.duration_in_secs = secs;
        instance.lease_info = Some(lease);
        instance
    }

    fn registry() -> Registry {
        Registry::new(Duration::from_secs(180), 1000)
    }

    fn shown(registry: &Registry, instance: &InstanceInfo) -> InstanceInfo {
        registry
            .instance(Some("ORDERS"), &instance.instance_id)
            .expect("registered")
    }

    /// `(id, action, status)` of every delta entry, in the delta's order.
    fn entries(delta: &Applications) -> Vec<(String, ActionType, Status)> {
        delta
            .instances()
            .map(|(_, i)| {
                let action = i.action_type.expect("delta entries have an action");
                (i.instance_id.clone(), action, i.status)
            })
            .collect()
    }

    #[test]
    fn reregistration_keeps_the_override() {
        let mut registry = registry();
        let a = orders(1);
        let id = a.instance_id.clone();
        registry.register("orders", a.clone(), T0);
        registry
            .set_override("ORDERS", &id, Status::OutOfService, T0 + 1)
            .unwrap();

        for (dirty, now) in [(T0, T0 + 10), (T0 + 5, T0 + 20)] {
            let mut again = a.clone();
            again.status = Status::Up;
            again.last_dirty_timestamp = dirty;
            registry.register("ORDERS", again, now);
            let instance = shown(&registry, &a);
            assert_eq!(
                (instance.status, instance.overridden_status),
                (Status::OutOfService, Status::OutOfService),
                "re-registered with dirty timestamp {dirty}"
            );
            assert_eq!(instance.last_dirty_timestamp, dirty);
        }
        registry.renew("ORDERS", &id, None, T0 + 30).unwrap();
        assert_eq!(shown(&registry, &a).status, Status::OutOfService);
        assert_eq!(registry.hash_code(), "OUT_OF_SERVICE_1_");

        registry
            .remove_override("ORDERS", &id, None, T0 + 40)
            .unwrap();
        assert_eq!(shown(&registry, &a).status, Status::Unknown);
        // Removed, the override no longer holds on the next registration.
        let mut again = a.clone();
        again.last_dirty_timestamp = T0 + 50;
        registry.register("ORDERS", again, T0 + 50);
        let instance = shown(&registry, &a);
        assert_eq!(
            (instance.status, instance.overridden_status),
            (Status::Up, Status::Unknown)
        );
    }

    #[test]
    fn an_older_registration_keeps_the_server_copy() {
        let mut registry = registry();
        let mut newer = orders(1);
        newer.last_dirty_timestamp = T0 + 100;
        newer.metadata.insert("version".into(), "2".into());
        registry.register("ORDERS", newer.clone(), T0);

        let mut older = orders(1);
        older.status = Status::Down;
        older.metadata.insert("version".into(), "1".into());
        older.home_page_url = Some("http://old/".into());
        registry.register("ORDERS", older, T0 + 10);
        let instance = shown(&registry, &newer);
        assert_eq!(instance.status, Status::Up);
        assert_eq!(instance.last_dirty_timestamp, T0 + 100);
        assert_eq!(
            instance.metadata.get("version").map(String::as_str),
            Some("2")
        );
        assert_eq!(instance.home_page_url, newer.home_page_url);
        let lease = instance.lease_info.unwrap();
        assert_eq!(lease.registration_timestamp, T0, "registered once");
        assert_eq!(lease.last_renewal_timestamp, T0 + 10, "but renewed");

        // An equal or newer timestamp replaces the server's copy.
        let mut equal = newer.clone();
        equal.status = Status::Down;
        registry.register("ORDERS", equal, T0 + 20);
        assert_eq!(shown(&registry, &newer).status, Status::Down);
        let mut newest = newer.clone();
        newest.last_dirty_timestamp = T0 + 200;
        newest.status = Status::Starting;
        registry.register("ORDERS", newest, T0 + 30);
        let instance = shown(&registry, &newer);
        assert_eq!(instance.status, Status::Starting);
        assert_eq!(instance.last_dirty_timestamp, T0 + 200);
        assert_eq!(registry.instance_count(), 1);
    }

    /// As eureka-core: a renewal shows a lease duration ahead, a registration as it is, and
    /// expiry counts from the real renewal.
    #[test]
    fn renewals_can_show_a_lease_ahead() {
        let mut registry = registry();
        registry.show_renewals_ahead(true);
        let a = orders(1);
        let id = a.instance_id.as_str();
        registry.register("ORDERS", a.clone(), T0);
        let shown_at = |r: &Registry| shown(r, &a).lease_info.unwrap().last_renewal_timestamp;
        assert_eq!(shown_at(&registry), T0, "a registration is not a renewal");
        assert_eq!(registry.renew("ORDERS", id, None, T0 + 5), Ok(()));
        assert_eq!(shown_at(&registry), T0 + 5 + 90_000);
        assert_eq!(registry.evict(T0 + 5 + 90_000), 0);
        assert_eq!(
            registry.evict(T0 + 5 + 90_001),
            1,
            "expired from the real renewal"
        );
    }

    #[test]
    fn renew_with_a_newer_dirty_timestamp_is_stale() {
        let mut registry = registry();
        let a = orders(1);
        let id = a.instance_id.as_str();
        registry.register("ORDERS", a.clone(), T0);

        assert_eq!(
            registry.renew("ORDERS", id, Some(T0 + 1), T0 + 5),
            Err(Refused::Stale)
        );
        assert_eq!(
            shown(&registry, &a).status,
            Status::Up,
            "a refused heartbeat"
        );
        assert_eq!(registry.renew("ORDERS", id, Some(T0), T0 + 6), Ok(()));
        assert_eq!(registry.renew("orders", id, Some(T0 - 1), T0 + 7), Ok(()));
        assert_eq!(registry.renew("ORDERS", id, None, T0 + 8), Ok(()));
        let lease = shown(&registry, &a).lease_info.unwrap();
        assert_eq!(lease.last_renewal_timestamp, T0 + 8);
        assert_eq!(
            registry.renew("ORDERS", "nobody", None, T0 + 9),
            Err(Refused::NotFound)
        );
        assert_eq!(
            registry.renew("BILLING", id, None, T0 + 9),
            Err(Refused::NotFound)
        );
    }

    #[test]
    fn plain_renewals_change_neither_the_version_nor_the_delta() {
        let mut registry = registry();
        let a = orders(1);
        registry.register("ORDERS", a.clone(), T0);
        let version = registry.version();
        for k in 1..=3 {
            registry
                .renew("ORDERS", &a.instance_id, Some(T0), T0 + k)
                .unwrap();
        }
        assert_eq!(registry.version(), version);
        assert_eq!(
            entries(&registry.delta(T0 + 4)),
            [(a.instance_id.clone(), ActionType::Added, Status::Up)]
        );
        // Nor does the status a heartbeat reports: real servers ignore it.
        assert_eq!(
            registry.renew("ORDERS", &a.instance_id, None, T0 + 5),
            Ok(())
        );
        assert_eq!(registry.version(), version);
    }

    #[test]
    fn delta_keeps_each_instance_once_in_its_latest_state() {
        let mut registry = registry();
        let (a, b, c, d) = (orders(1), orders(2), orders(3), orders(4));
        for (k, instance) in (0..).zip([&a, &b, &c]) {
            registry.register("ORDERS", instance.clone(), T0 + k);
        }
        let mut b_down = b.clone();
        b_down.status = Status::Down;
        registry.register("ORDERS", b_down, T0 + 10);
        registry
            .set_override("ORDERS", &a.instance_id, Status::OutOfService, T0 + 11)
            .unwrap();
        let metadata: Metadata = [("k".to_owned(), "v".to_owned())].into_iter().collect();
        registry
            .merge_metadata("ORDERS", &a.instance_id, metadata.clone(), T0 + 12)
            .unwrap();
        registry.cancel("ORDERS", &c.instance_id, T0 + 13).unwrap();
        registry.register("ORDERS", d.clone(), T0 + 14);
        registry.cancel("ORDERS", &d.instance_id, T0 + 15).unwrap();
        registry.register("ORDERS", d.clone(), T0 + 16);

        let delta = registry.delta(T0 + 20);
        assert_eq!(
            entries(&delta),
            [
                (
                    a.instance_id.clone(),
                    ActionType::Modified,
                    Status::OutOfService
                ),
                (b.instance_id.clone(), ActionType::Added, Status::Down),
                (c.instance_id.clone(), ActionType::Deleted, Status::Up),
                (d.instance_id.clone(), ActionType::Added, Status::Up),
            ]
        );
        let a_entry = delta
            .instances()
            .find(|(_, i)| i.instance_id == a.instance_id)
            .unwrap()
            .1;
        assert_eq!(
            a_entry.metadata, metadata,
            "the latest state: override and metadata"
        );
        assert_eq!(a_entry.last_updated_timestamp, T0 + 12);
        assert_eq!(
            delta.apps_hashcode.as_deref(),
            Some("DOWN_1_OUT_OF_SERVICE_1_UP_1_")
        );
        assert_eq!(delta.apps_hashcode, registry.applications().apps_hashcode);

        // The delta brings a copy taken before any of it to the registry's state.
        let mut copy = Applications::default();
        copy.apply_delta(&delta);
        assert!(copy.is_consistent());
        assert_eq!(copy.instance_count(), 3);
    }

    #[test]
    fn delta_forgets_changes_older_than_the_retention() {
        let mut registry = Registry::new(Duration::from_secs(1), 1000);
        let (a, b) = (orders(1), orders(2));
        registry.register("ORDERS", a.clone(), T0);
        registry.register("ORDERS", b.clone(), T0 + 600);
        assert_eq!(entries(&registry.delta(T0 + 1000)).len(), 2);
        assert_eq!(
            entries(&registry.delta(T0 + 1001)),
            [(b.instance_id.clone(), ActionType::Added, Status::Up)]
        );
        assert!(entries(&registry.delta(T0 + 1601)).is_empty());
        let delta = registry.delta(T0 + 1601);
        assert_eq!(delta.apps_hashcode.as_deref(), Some("UP_2_"));
        assert_eq!(
            registry.applications().instance_count(),
            2,
            "only the delta forgets"
        );
    }

    #[test]
    fn evict_removes_only_leases_older_than_their_duration() {
        let mut registry = registry();
        let a = with_lease(orders(1), 1);
        let b = orders(2); // 90 s
        let c = with_lease(orders(3), 10);
        for instance in [&a, &b, &c] {
            registry.register("ORDERS", instance.clone(), T0);
        }
        assert_eq!(
            registry.evict(T0 + 1000),
            0,
            "exactly the duration is not over"
        );
        assert_eq!(registry.evict(T0 + 1001), 1);
        assert!(registry.instance(None, &a.instance_id).is_none());

        registry
            .renew("ORDERS", &c.instance_id, None, T0 + 9000)
            .unwrap();
        assert_eq!(registry.evict(T0 + 10_001), 0, "renewed at T0 + 9 s");
        assert_eq!(registry.evict(T0 + 19_000), 0);
        assert_eq!(registry.evict(T0 + 19_001), 1);
        assert_eq!(registry.evict(T0 + 90_000), 0);
        assert_eq!(registry.instance_count(), 1);
        assert_eq!(registry.evict(T0 + 90_001), 1);
        assert_eq!(registry.instance_count(), 0);
        assert!(registry.applications().applications.is_empty());

        let delta = registry.delta(T0 + 90_001);
        let evicted: Vec<_> = entries(&delta)
            .into_iter()
            .map(|(id, action, _)| (id, action))
            .collect();
        assert_eq!(
            evicted,
            [
                (a.instance_id.clone(), ActionType::Deleted),
                (b.instance_id.clone(), ActionType::Deleted),
                (c.instance_id.clone(), ActionType::Deleted),
            ]
        );
        assert_eq!(delta.apps_hashcode.as_deref(), Some(""));
    }

    /// `(status shown, override, status the instance reported)` of instance `id`.
    fn page_view(registry: &Registry, id: &str) -> (Status, Option<Status>, Status) {
        let snapshot = registry.page_snapshot(T0);
        let lease = snapshot
            .apps
            .iter()
            .flat_map(|(_, leases)| leases)
            .find(|l| l.instance.instance_id == id)
            .expect("registered");
        (lease.instance.status, lease.overridden, lease.reported)
    }

    #[test]
    fn the_page_sees_an_override_beside_the_reported_status() {
        let mut registry = registry();
        let a = orders(1);
        let id = a.instance_id.clone();
        registry.register("ORDERS", a.clone(), T0);
        assert_eq!(page_view(&registry, &id), (Status::Up, None, Status::Up));
        registry
            .set_override("ORDERS", &id, Status::OutOfService, T0 + 1)
            .unwrap();
        let overridden = (Status::OutOfService, Some(Status::OutOfService), Status::Up);
        assert_eq!(page_view(&registry, &id), overridden);
        // The instance registers again as DOWN: the override still wins, the page sees DOWN.
        let mut down = a.clone();
        down.status = Status::Down;
        registry.register("ORDERS", down.clone(), T0 + 2);
        let shown = (
            Status::OutOfService,
            Some(Status::OutOfService),
            Status::Down,
        );
        assert_eq!(page_view(&registry, &id), shown);
        // An older registration keeps the server's copy, and so what it reported.
        let mut older = a.clone();
        older.last_dirty_timestamp = T0 - 1;
        registry.register("ORDERS", older, T0 + 3);
        assert_eq!(page_view(&registry, &id), shown);
    }

    #[test]
    fn accepted_heartbeats_are_counted_for_the_last_minute() {
        let mut registry = registry();
        let (a, b) = (orders(1), with_lease(orders(2), 90));
        registry.register("ORDERS", a.clone(), T0);
        let mut fast = b.lease_info.unwrap();
        fast.renewal_interval_in_secs = 10;
        let mut b = b;
        b.lease_info = Some(fast);
        registry.register("ORDERS", b.clone(), T0);
        // 60/30 + 60/10 heartbeats a minute.
        assert!((registry.expected_renewals_per_minute() - 8.0).abs() < 1e-9);
        assert_eq!(
            registry.renewals_last_minute(T0),
            0,
            "registrations are no renewals"
        );
        for k in 1..=4 {
            registry
                .renew("ORDERS", &a.instance_id, None, T0 + k * 10_000)
                .unwrap();
        }
        // Refused heartbeats are not counted.
        assert!(registry.renew("ORDERS", "nobody", None, T0 + 1).is_err());
        assert!(
            registry
                .renew("ORDERS", &b.instance_id, Some(T0 + 1), T0 + 1)
                .is_err()
        );
        assert_eq!(registry.renewals_last_minute(T0 + 40_000), 4);
        assert_eq!(registry.renewals_last_minute(T0 + 70_000), 3);
        assert_eq!(registry.renewals_last_minute(T0 + 100_000), 0);
    }

    #[test]
    fn the_delta_queue_is_bounded_by_count_too() {
        let mut registry = Registry::new(Duration::from_secs(180), 3);
        for n in 1..=50 {
            registry.register("ORDERS", orders(n), T0 + i64::from(n));
        }
        assert_eq!(registry.recent.len(), 3);
        let kept: Vec<String> = entries(&registry.delta(T0 + 60))
            .into_iter()
            .map(|(id, _, _)| id)
            .collect();
        let latest: Vec<String> = (48..=50).map(|n| orders(n).instance_id).collect();
        assert_eq!(kept, latest, "the latest changes");
        // A loop over one instance is bounded as well.
        for k in 0..50 {
            registry.register("ORDERS", orders(1), T0 + 100 + k);
        }
        assert_eq!(registry.recent.len(), 3);
        assert_eq!(registry.instance_count(), 50);

        let mut none = Registry::new(Duration::from_secs(180), 0);
        none.register("ORDERS", orders(1), T0);
        assert!(none.recent.is_empty());
        assert!(entries(&none.delta(T0)).is_empty());
    }
}
