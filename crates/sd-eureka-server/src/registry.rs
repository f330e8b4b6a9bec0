//! The registry's state: leases, status overrides, the delta queue and the version.
//!
//! Synchronous and given the time by its caller, so every rule is testable without HTTP
//! or a clock; the server wraps it in a mutex.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use sd_eureka::{ActionType, Application, Applications, InstanceInfo, Metadata, Status};

/// Milliseconds since the Unix epoch, as Eureka timestamps are.
pub(crate) type Millis = i64;

/// Why an operation on an instance did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refused {
    /// No such app or instance (404).
    #[error("instance not registered")]
    NotFound,
    /// The client's copy is newer than the server's: it must register again (404).
    #[error("the client's lastDirtyTimestamp is newer than the server's")]
    Stale,
}

/// An instance and its lease. The instance is shared with the delta queue's snapshots
/// (copy-on-write when it changes), and renewals touch only `last_renewal`, so a registry
/// holds each instance once and heartbeats never copy one.
#[derive(Debug, Clone)]
struct Lease {
    instance: Arc<InstanceInfo>,
    last_renewal: Millis,
    /// A status set through the override API; survives heartbeats until removed.
    overridden: Option<Status>,
    /// The last change, shown as the instance's `actionType`.
    action: ActionType,
}

impl Lease {
    /// The instance as responses show it: with its lease's renewal time and last action.
    fn view(&self) -> InstanceInfo {
        let mut instance = InstanceInfo::clone(&self.instance);
        if let Some(lease) = &mut instance.lease_info {
            lease.last_renewal_timestamp = self.last_renewal;
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
    /// Bumped by every change a full fetch would show (not by plain renewals).
    version: u64,
}

impl Registry {
    pub(crate) fn new(delta_retention: Duration) -> Self {
        Self {
            apps: BTreeMap::new(),
            recent: VecDeque::new(),
            delta_retention,
            version: 0,
        }
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
        let leases = self.apps.entry(app.clone()).or_default();
        let previous = leases.get(&instance.instance_id);
        if let Some(previous) = previous {
            if previous.instance.last_dirty_timestamp > instance.last_dirty_timestamp {
                instance = InstanceInfo::clone(&previous.instance);
            }
        }
        let overridden = previous.and_then(|p| p.overridden);
        let registered_at = previous
            .and_then(|p| p.instance.lease_info)
            .map_or(now, |l| l.registration_timestamp);
        let mut lease_info = instance.lease_info.unwrap_or_default();
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
                overridden,
                action: ActionType::Added,
            },
        );
        self.record(app, instance, ActionType::Added, now);
    }

    /// A heartbeat. `status` is what the client reports (ignored while an override is
    /// set); `last_dirty` is the client's `lastDirtyTimestamp`.
    pub(crate) fn renew(
        &mut self,
        app: &str,
        id: &str,
        status: Option<Status>,
        last_dirty: Option<Millis>,
        now: Millis,
    ) -> Result<(), Refused> {
        let app = app.to_ascii_uppercase();
        let lease = self
            .apps
            .get_mut(&app)
            .and_then(|leases| leases.get_mut(id))
            .ok_or(Refused::NotFound)?;
        if last_dirty.is_some_and(|client| client > lease.instance.last_dirty_timestamp) {
            return Err(Refused::Stale);
        }
        lease.last_renewal = now;
        let reported = status.filter(|_| lease.overridden.is_none());
        if let Some(status) = reported.filter(|s| *s != lease.instance.status) {
            let instance = Arc::make_mut(&mut lease.instance);
            instance.status = status;
            instance.last_updated_timestamp = now;
            lease.action = ActionType::Modified;
            let snapshot = Arc::clone(&lease.instance);
            self.record(app, snapshot, ActionType::Modified, now);
        }
        Ok(())
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
    /// on real servers) until its next heartbeat reports one.
    pub(crate) fn remove_override(
        &mut self,
        app: &str,
        id: &str,
        status: Option<Status>,
        now: Millis,
    ) -> Result<(), Refused> {
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
        let lease = self
            .apps
            .get_mut(&app)
            .and_then(|leases| leases.get_mut(id))
            .ok_or(Refused::NotFound)?;
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
                let duration = lease.instance.lease_info.map_or(90, |l| l.duration_in_secs);
                if now - lease.last_renewal > i64::from(duration) * 1000 {
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

    /// `(app, instance, last renewal)` for every instance, for the status page.
    pub(crate) fn leases(&self) -> impl Iterator<Item = (&str, &InstanceInfo, Millis)> + '_ {
        self.apps.iter().flat_map(|(app, leases)| {
            leases
                .values()
                .map(move |l| (app.as_str(), &*l.instance, l.last_renewal))
        })
    }
}
