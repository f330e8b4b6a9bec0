//! Keeping a local registry in step with a server: deltas and the reconcile hash code.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::model::{ActionType, Application, Applications, Status};

/// The reconcile hash code of a registry whose instances have `statuses` (see
/// [`Applications::reconcile_hash_code`]); for holders of a registry in another shape.
pub fn reconcile_hash_code(statuses: impl IntoIterator<Item = Status>) -> String {
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for status in statuses {
        *counts.entry(status.as_str()).or_default() += 1;
    }
    let mut hash = String::new();
    for (status, count) in counts {
        // Writing to a String cannot fail.
        let _ = write!(hash, "{status}_{count}_");
    }
    hash
}

impl Applications {
    /// The reconcile hash code of this registry: for each status present, in alphabetical
    /// order of its name, `STATUS_COUNT_` — e.g. `DOWN_1_UP_5_`; `""` when empty. A client
    /// compares it with the `apps__hashcode` of a delta after applying the delta.
    ///
    /// ```
    /// use sd_eureka::{Applications, Application, InstanceInfo, Status};
    ///
    /// let mut down = InstanceInfo::new("orders", "b", "10.0.0.2", 80);
    /// down.status = Status::Down;
    /// let apps = Applications {
    ///     applications: vec![Application {
    ///         name: "ORDERS".into(),
    ///         instances: vec![InstanceInfo::new("orders", "a", "10.0.0.1", 80), down],
    ///     }],
    ///     ..Applications::default()
    /// };
    /// assert_eq!(apps.reconcile_hash_code(), "DOWN_1_UP_1_");
    /// ```
    pub fn reconcile_hash_code(&self) -> String {
        reconcile_hash_code(self.instances().map(|(_, instance)| instance.status))
    }

    /// Applies a delta (`GET apps/delta`): `ADDED` and `MODIFIED` instances are upserted by
    /// instance id into their app (created if new), `DELETED` ones removed, and an app
    /// whose last instance is removed disappears. Instances without an action type are
    /// treated as `MODIFIED`. App names match case-insensitively.
    ///
    /// The registry's `versions_delta` and `apps_hashcode` become the delta's, so that
    /// [`is_consistent`](Self::is_consistent) can then check the result.
    pub fn apply_delta(&mut self, delta: &Applications) {
        for delta_app in &delta.applications {
            for change in &delta_app.instances {
                let position = self
                    .applications
                    .iter()
                    .position(|a| a.name.eq_ignore_ascii_case(&delta_app.name));
                match change.action_type.unwrap_or(ActionType::Modified) {
                    ActionType::Added | ActionType::Modified => {
                        let index = position.unwrap_or_else(|| {
                            self.applications.push(Application {
                                name: delta_app.name.clone(),
                                instances: Vec::new(),
                            });
                            self.applications.len() - 1
                        });
                        let app = &mut self.applications[index];
                        let mut instance = change.clone();
                        instance.action_type = None;
                        match app
                            .instances
                            .iter_mut()
                            .find(|i| i.instance_id == change.instance_id)
                        {
                            Some(existing) => *existing = instance,
                            None => app.instances.push(instance),
                        }
                    }
                    ActionType::Deleted => {
                        if let Some(p) = position {
                            let app = &mut self.applications[p];
                            app.instances
                                .retain(|i| i.instance_id != change.instance_id);
                            if app.instances.is_empty() {
                                self.applications.remove(p);
                            }
                        }
                    }
                }
            }
        }
        self.versions_delta = delta.versions_delta;
        self.apps_hashcode.clone_from(&delta.apps_hashcode);
    }

    /// True when the registry's own `apps__hashcode` (as last received) matches its
    /// content. After [`apply_delta`](Self::apply_delta) a mismatch means the local copy
    /// drifted and a full fetch is due. A registry without a hash code is not consistent.
    pub fn is_consistent(&self) -> bool {
        self.apps_hashcode
            .as_deref()
            .is_some_and(|hash| hash == self.reconcile_hash_code())
    }

    /// How many instances have each status.
    pub fn status_counts(&self) -> BTreeMap<Status, usize> {
        let mut counts = BTreeMap::new();
        for (_, instance) in self.instances() {
            *counts.entry(instance.status).or_default() += 1;
        }
        counts
    }
}
