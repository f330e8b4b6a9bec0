//! A registry shaped like the real 10,000-instance one in `../shared/fixtures/eureka-netflix`:
//! shared by the decode bench (when `../shared` is absent) and the allocation test.

use sd_eureka::{Application, Applications, InstanceInfo, LeaseInfo, Metadata};

/// `apps` apps of `per_app` UP instances each, every instance with two metadata keys, a
/// lease and the usual URLs, as a real server lists them.
pub(crate) fn registry(apps: usize, per_app: usize) -> Applications {
    let applications = (0..apps)
        .map(|a| {
            let name = format!("APP{a:03}");
            let instances = (0..per_app)
                .map(|i| {
                    let n = a * per_app + i;
                    let ip = format!("10.0.{}.{}", n / 256, n % 256);
                    let mut instance = InstanceInfo::new(&name, &ip, &ip, 8080);
                    instance.instance_id =
                        format!("{}-{n}:{}:8080", name.to_lowercase(), name.to_lowercase());
                    instance.lease_info = Some(LeaseInfo {
                        duration_in_secs: 900,
                        registration_timestamp: 1_795_289_864_711,
                        last_renewal_timestamp: 1_795_290_779_117,
                        service_up_timestamp: 1_795_289_864_711,
                        ..LeaseInfo::default()
                    });
                    instance.metadata = Metadata::from([
                        ("zone".to_owned(), format!("z{}", n % 3)),
                        ("management.port".to_owned(), "8081".to_owned()),
                    ]);
                    instance.last_updated_timestamp = 1_795_289_864_711;
                    instance.last_dirty_timestamp = 1_795_289_864_711;
                    instance.action_type = Some(sd_eureka::ActionType::Added);
                    instance
                })
                .collect();
            Application { name, instances }
        })
        .collect();
    let mut registry = Applications {
        versions_delta: Some(1),
        apps_hashcode: None,
        applications,
    };
    registry.apps_hashcode = Some(registry.reconcile_hash_code());
    registry
}
