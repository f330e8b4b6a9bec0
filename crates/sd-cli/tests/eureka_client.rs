//! `sd eureka apps`, `watch` and `register`, run as real processes against a development
//! registry started in the test process: what they print, what the registry holds while
//! they run, how they stop on SIGTERM, and how they fail against an unreachable registry.
//! The registry URLs come from `--url` (repeated for failover) or from `EUREKA_URL`.

mod process;

use std::net::{IpAddr, TcpListener};
use std::process::ExitStatus;
use std::thread;
use std::time::{Duration, Instant};

use process::Sd;
use sd_eureka::{Applications, Connection, Format, InstanceInfo, Status};
use sd_eureka_server::EurekaServer;
use tokio::runtime::Runtime;

/// The bound on every wait: a line, a registry change, an exit.
const LIMIT: Duration = Duration::from_secs(20);

/// Poll interval of the watchers under test, so that changes show quickly.
const INTERVAL: &str = "0.1";

/// A development registry on a free port, served by a runtime of its own while the test
/// thread runs `sd` processes.
struct Registry {
    server: EurekaServer,
    runtime: Runtime,
    /// The test's own service URL: [`Registry::url`], with the credentials when the
    /// registry wants them.
    client_url: String,
}

impl Registry {
    fn start() -> Self {
        Self::start_with(None)
    }

    /// A registry that answers only requests with HTTP Basic auth as `user`/`password`.
    fn secured(user: &str, password: &str) -> Self {
        Self::start_with(Some((user, password)))
    }

    fn start_with(credentials: Option<(&str, &str)>) -> Self {
        Self::start_from(EurekaServer::builder(), credentials)
    }

    /// A registry from `builder`, on a free loopback port.
    fn start_from(builder: sd_eureka_server::Builder, credentials: Option<(&str, &str)>) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let mut builder = builder.addr("127.0.0.1:0".parse().expect("an address"));
        if let Some((user, password)) = credentials {
            builder = builder.basic_auth(user, password);
        }
        let server = runtime.block_on(builder.bind()).expect("bind the registry");
        let client_url = match credentials {
            Some((user, password)) => with_userinfo(&server.base_url(), user, password),
            None => server.base_url(),
        };
        Self {
            server,
            runtime,
            client_url,
        }
    }

    /// The service URL, without credentials.
    fn url(&self) -> String {
        self.server.base_url()
    }

    /// The instance `id` of `app`, as a full fetch shows it now.
    fn instance(&self, app: &str, id: &str) -> Option<InstanceInfo> {
        find(&self.server.applications(), app, id).cloned()
    }

    /// Waits at most [`LIMIT`] for the registry to satisfy `done`.
    fn wait_until(&self, what: &str, done: impl Fn(&Applications) -> bool) {
        let deadline = Instant::now() + LIMIT;
        while !done(&self.server.applications()) {
            assert!(Instant::now() < deadline, "no {what} after {LIMIT:?}");
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Registers `instance` straight from the test (once: no heartbeats).
    fn register(&self, instance: &InstanceInfo) {
        let connection = Connection::new([&self.client_url]).expect("a connection");
        self.runtime
            .block_on(connection.register(instance))
            .expect("register from the test");
    }

    /// Removes an instance straight from the test.
    fn deregister(&self, app: &str, id: &str) {
        let connection = Connection::new([&self.client_url]).expect("a connection");
        self.runtime
            .block_on(connection.deregister(app, id))
            .expect("deregister from the test");
    }
}

fn find<'a>(registry: &'a Applications, app: &str, id: &str) -> Option<&'a InstanceInfo> {
    registry
        .instances()
        .find(|(name, instance)| *name == app && instance.id() == id)
        .map(|(_, instance)| instance)
}

/// An instance on 127.0.0.1 with the conventional id `127.0.0.1:app:port`.
fn local(app: &str, port: u16, status: Status) -> InstanceInfo {
    let mut instance = InstanceInfo::new(app, "127.0.0.1", "127.0.0.1", port);
    instance.status = status;
    instance
}

/// `url` with `user` and `password` as its userinfo, percent-encoded as a URL needs them.
fn with_userinfo(url: &str, user: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    format!(
        "{scheme}://{}:{}@{rest}",
        percent_encoded(user),
        percent_encoded(password)
    )
}

/// `text` with every byte but ASCII letters and digits percent-encoded.
fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

/// A registry URL where nothing listens: the port of a listener that is closed again.
fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let addr = listener.local_addr().expect("its address");
    format!("http://{addr}/eureka/")
}

impl Sd {
    /// Starts `sd` with `args`, and `EUREKA_URL` set to `eureka_url` when given (unset
    /// otherwise, whatever the test's own environment holds).
    fn spawn_with_env(args: &[&str], eureka_url: Option<&str>) -> Self {
        let variables: Vec<_> = eureka_url
            .map(|urls| ("EUREKA_URL", urls))
            .into_iter()
            .collect();
        Self::spawn_with_variables(args, &variables)
    }
}

/// Runs an `sd` command to its end: the status, stdout lines and stderr.
fn run(args: &[&str], eureka_url: Option<&str>) -> (ExitStatus, Vec<String>, String) {
    let mut sd = Sd::spawn_with_env(args, eureka_url);
    let status = sd.wait();
    (status, sd.rest(), sd.stderr())
}

/// Asserts that a command failed as commands fail: status 1, one `error:` line naming
/// `names`, and nothing on stdout.
fn assert_fails(outcome: &(ExitStatus, Vec<String>, String), names: &[&str]) {
    let (status, stdout, stderr) = outcome;
    assert_eq!(status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr}");
    assert!(stderr.starts_with("error: "), "stderr: {stderr}");
    for name in names {
        assert!(stderr.contains(name), "{name:?} missing from: {stderr}");
    }
    assert!(stdout.is_empty(), "stdout: {stdout:?}");
}

/// `sd eureka register` for `app` on 127.0.0.1:`port`, heartbeating every second; returns
/// once it has announced the registration.
fn register_process(url: &str, app: &str, port: u16) -> Sd {
    let port = port.to_string();
    let mut sd = Sd::spawn(&[
        "eureka",
        "register",
        "--app",
        app,
        "--port",
        &port,
        "--ip",
        "127.0.0.1",
        "--url",
        url,
        "--renew",
        "1",
    ]);
    let line = sd.line();
    assert!(line.starts_with("registered "), "announcement: {line:?}");
    sd
}

fn watch(url: &str, app: &str, more: &[&str]) -> Sd {
    let mut args = vec!["eureka", "watch", app, "--url", url, "--interval", INTERVAL];
    args.extend_from_slice(more);
    Sd::spawn(&args)
}

#[test]
fn register_keeps_the_instance_registered_until_sigterm() {
    let registry = Registry::start();
    let url = registry.url();
    let mut sd = Sd::spawn(&[
        "eureka",
        "register",
        "--app",
        "orders",
        "--port",
        "8080",
        "--ip",
        "127.0.0.1",
        "--url",
        &url,
        "--renew",
        "1",
        "--lease",
        "30",
    ]);
    assert_eq!(
        sd.line(),
        format!("registered ORDERS 127.0.0.1:orders:8080 at {url}")
    );

    let instance = registry
        .instance("ORDERS", "127.0.0.1:orders:8080")
        .expect("registered once announced");
    assert_eq!(instance.status, Status::Up);
    assert_eq!(instance.address(), "127.0.0.1:8080");
    assert_eq!(instance.host_name, "127.0.0.1");
    let lease = instance.lease_info.expect("a lease");
    assert_eq!(
        (lease.renewal_interval_in_secs, lease.duration_in_secs),
        (1, 30)
    );
    // Kept alive: the server sees heartbeats, and the instance stays.
    registry.wait_until("heartbeat", |apps| {
        find(apps, "ORDERS", "127.0.0.1:orders:8080")
            .and_then(|i| i.lease_info)
            .is_some_and(|l| l.last_renewal_timestamp > l.registration_timestamp)
    });

    let status = sd.terminate();
    assert_eq!(status.code(), Some(0), "stderr: {}", sd.stderr());
    assert_eq!(sd.rest(), ["deregistered ORDERS 127.0.0.1:orders:8080"]);
    assert_eq!(
        registry.instance("ORDERS", "127.0.0.1:orders:8080"),
        None,
        "deregistered before the exit"
    );
}

#[test]
fn register_defaults_to_an_outward_address_and_a_conventional_id() {
    let registry = Registry::start();
    let url = registry.url();
    let mut sd = Sd::spawn(&[
        "eureka", "register", "--app", "billing", "--port", "9000", "--url", &url,
    ]);
    let line = sd.line();
    let id = line
        .strip_prefix("registered BILLING ")
        .and_then(|rest| rest.strip_suffix(&format!(" at {url}")))
        .unwrap_or_else(|| panic!("unexpected announcement {line:?}"))
        .to_owned();

    let instance = registry.instance("BILLING", &id).expect("registered");
    let ip: IpAddr = instance.ip_addr.parse().expect("an IP address");
    assert!(!ip.is_unspecified(), "{ip}");
    assert!(!ip.is_loopback() || ip.to_string() == "127.0.0.1", "{ip}");
    assert_eq!(ip, sd_eureka::default_ip(), "the library's detection");
    assert_eq!(instance.host_name, instance.ip_addr, "the host is the IP");
    assert_eq!(id, format!("{ip}:billing:9000"));
    assert_eq!(instance.status, Status::Up);
    let lease = instance.lease_info.expect("a lease");
    assert_eq!(
        (lease.renewal_interval_in_secs, lease.duration_in_secs),
        (30, 90)
    );

    assert_eq!(sd.terminate().code(), Some(0), "stderr: {}", sd.stderr());
    assert_eq!(registry.instance("BILLING", &id), None);
}

#[test]
fn register_takes_the_id_status_and_lease_given() {
    let registry = Registry::start();
    let url = registry.url();
    let mut sd = Sd::spawn(&[
        "eureka",
        "register",
        "--app",
        "billing",
        "--port",
        "9000",
        "--ip",
        "10.1.2.3",
        "--instance-id",
        "billing-1",
        "--status",
        "starting",
        "--lease",
        "15",
        "--metadata",
        "version=1.4",
        "--metadata",
        "query=a=b",
        "--zone",
        "eu-1a",
        "--url",
        &url,
    ]);
    assert_eq!(sd.line(), format!("registered BILLING billing-1 at {url}"));
    let instance = registry
        .instance("BILLING", "billing-1")
        .expect("registered");
    assert_eq!(instance.status, Status::Starting);
    assert_eq!(instance.address(), "10.1.2.3:9000");
    assert_eq!(instance.lease_info.map(|l| l.duration_in_secs), Some(15));
    let metadata: Vec<_> = instance
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        metadata,
        [("query", "a=b"), ("version", "1.4"), ("zone", "eu-1a")]
    );

    assert_eq!(sd.terminate().code(), Some(0), "stderr: {}", sd.stderr());
    assert_eq!(registry.instance("BILLING", "billing-1"), None);
}

/// With `--drain`, SIGTERM takes the instance out of service first, then deregisters it
/// once the drain is over.
#[test]
fn register_with_a_drain_goes_out_of_service_before_it_leaves() {
    let registry = Registry::start();
    let url = registry.url();
    let mut sd = Sd::spawn(&[
        "eureka",
        "register",
        "--app",
        "orders",
        "--port",
        "8080",
        "--ip",
        "127.0.0.1",
        "--url",
        &url,
        "--drain",
        "5",
    ]);
    assert!(sd.line().starts_with("registered "));
    let id = "127.0.0.1:orders:8080";
    sd.signal_terminate();
    registry.wait_until("the instance is OUT_OF_SERVICE", |apps| {
        find(apps, "ORDERS", id).is_some_and(|i| i.status == Status::OutOfService)
    });
    assert_eq!(sd.wait().code(), Some(0), "stderr: {}", sd.stderr());
    assert_eq!(sd.rest(), [format!("deregistered ORDERS {id}")]);
    assert_eq!(registry.instance("ORDERS", id), None);
}

#[test]
fn register_against_an_unreachable_registry_is_one_error_line() {
    let dead = dead_url();
    let outcome = run(
        &[
            "eureka",
            "register",
            "--app",
            "orders",
            "--port",
            "80",
            "--ip",
            "127.0.0.1",
            "--url",
            &dead,
        ],
        None,
    );
    assert_fails(
        &outcome,
        &["cannot register ORDERS 127.0.0.1:orders:80", &dead],
    );
}

#[test]
fn watch_prints_each_change_until_sigterm() {
    let registry = Registry::start();
    let url = registry.url();
    // Another app, which the watcher must leave out.
    registry.register(&local("billing", 7000, Status::Up));
    let mut watcher = watch(&url, "orders", &[]);
    assert_eq!(watcher.entry(), "-", "no instances yet");

    let mut first = register_process(&url, "orders", 9001);
    assert_eq!(watcher.entry(), "127.0.0.1:9001=UP");
    registry.register(&local("orders", 9000, Status::Up));
    assert_eq!(
        watcher.entry(),
        "127.0.0.1:9000=UP 127.0.0.1:9001=UP",
        "sorted"
    );

    assert_eq!(
        first.terminate().code(),
        Some(0),
        "stderr: {}",
        first.stderr()
    );
    assert_eq!(watcher.entry(), "127.0.0.1:9000=UP");
    registry.deregister("ORDERS", "127.0.0.1:orders:9000");
    assert_eq!(watcher.entry(), "-", "empty again");

    let status = watcher.terminate();
    assert_eq!(status.code(), Some(0), "stderr: {}", watcher.stderr());
    assert_eq!(
        watcher.rest(),
        Vec::<String>::new(),
        "no line past the last change"
    );
}

#[test]
fn watch_starts_with_the_instances_already_registered() {
    let registry = Registry::start();
    registry.register(&local("orders", 9000, Status::Up));
    let mut watcher = watch(&registry.url(), "ORDERS", &[]);
    assert_eq!(
        watcher.entry(),
        "127.0.0.1:9000=UP",
        "not an empty set first"
    );
    assert_eq!(watcher.terminate().code(), Some(0));
}

#[test]
fn watch_follows_up_instances_unless_all_statuses() {
    let registry = Registry::start();
    let url = registry.url();
    let mut up_only = watch(&url, "orders", &[]);
    let mut all = watch(&url, "orders", &["--all-statuses"]);
    assert_eq!(up_only.entry(), "-");
    assert_eq!(all.entry(), "-");

    registry.register(&local("orders", 9002, Status::Down));
    assert_eq!(all.entry(), "127.0.0.1:9002=DOWN");
    registry.register(&local("orders", 9003, Status::Up));
    assert_eq!(all.entry(), "127.0.0.1:9002=DOWN 127.0.0.1:9003=UP");
    assert_eq!(
        up_only.entry(),
        "127.0.0.1:9003=UP",
        "the DOWN instance is left out"
    );
    // A change of status alone is a line.
    registry.register(&local("orders", 9003, Status::OutOfService));
    assert_eq!(
        all.entry(),
        "127.0.0.1:9002=DOWN 127.0.0.1:9003=OUT_OF_SERVICE"
    );
    assert_eq!(up_only.entry(), "-");

    assert_eq!(up_only.terminate().code(), Some(0));
    assert_eq!(all.terminate().code(), Some(0));
}

#[test]
fn watch_reports_an_unreachable_registry_and_still_stops_cleanly() {
    let dead = dead_url();
    let mut watcher = watch(&dead, "orders", &[]);
    let line = watcher.entry();
    assert!(line.starts_with("error: "), "line: {line:?}");
    assert!(line.contains(&dead), "names the URL: {line:?}");
    let status = watcher.terminate();
    assert_eq!(status.code(), Some(0), "stderr: {}", watcher.stderr());
}

/// Registers ORDERS (UP and DOWN) and BILLING instances, straight from the test.
fn populated() -> Registry {
    populate(Registry::start())
}

/// `registry` with two ORDERS instances (one UP, one DOWN) and one BILLING.
fn populate(registry: Registry) -> Registry {
    registry.register(&local("orders", 8080, Status::Up));
    registry.register(&local("orders", 8081, Status::Down));
    registry.register(&local("billing", 9000, Status::Up));
    registry
}

const EXPECTED_ROWS: [[&str; 4]; 3] = [
    ["BILLING", "127.0.0.1:billing:9000", "UP", "127.0.0.1:9000"],
    ["ORDERS", "127.0.0.1:orders:8080", "UP", "127.0.0.1:8080"],
    ["ORDERS", "127.0.0.1:orders:8081", "DOWN", "127.0.0.1:8081"],
];

/// Checks the `apps` table of [`populated`]: header, sorted rows with aligned columns,
/// summary.
fn assert_table(stdout: &[String]) {
    assert_eq!(stdout.len(), 5, "stdout: {stdout:#?}");
    let header = &stdout[0];
    assert!(
        header.starts_with("APP ") && header.contains("INSTANCE") && header.contains("STATUS"),
        "header: {header:?}"
    );
    let status_column = header.find("STATUS").expect("a STATUS column");
    let address_column = header.find("ADDRESS").expect("an ADDRESS column");
    for (line, expected) in stdout[1..4].iter().zip(EXPECTED_ROWS) {
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cells[..4], expected, "row: {line:?}");
        assert_eq!(
            line.find(expected[2]),
            Some(status_column),
            "aligned: {line:?}"
        );
        assert_eq!(
            line.find(expected[3]),
            Some(address_column),
            "aligned: {line:?}"
        );
    }
    assert_eq!(stdout[4], "# apps=2 instances=3 hashcode=DOWN_1_UP_2_");
}

#[test]
fn apps_lists_the_registry_as_a_table() {
    let registry = populated();
    let (status, stdout, stderr) = run(&["eureka", "apps", "--url", &registry.url()], None);
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert_table(&stdout);
}

#[test]
fn apps_json_is_the_registry() {
    let registry = populated();
    let (status, stdout, stderr) = run(
        &["eureka", "apps", "--json", "--url", &registry.url()],
        None,
    );
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert_eq!(stdout.len(), 1, "one JSON line: {stdout:#?}");
    let decoded = sd_eureka::decode(stdout[0].as_bytes(), Format::Json)
        .expect("JSON that sd-eureka decodes")
        .into_applications();
    let mut rows: Vec<[String; 4]> = decoded
        .instances()
        .map(|(app, i)| {
            [
                app.to_owned(),
                i.id().to_owned(),
                i.status.to_string(),
                i.address(),
            ]
        })
        .collect();
    rows.sort();
    assert_eq!(rows, EXPECTED_ROWS.map(|row| row.map(str::to_owned)));
    assert_eq!(
        decoded,
        registry.server.applications(),
        "the registry as served"
    );
}

#[test]
fn apps_against_an_unreachable_registry_is_one_error_line() {
    let dead = dead_url();
    let outcome = run(&["eureka", "apps", "--url", &dead], None);
    assert_fails(&outcome, &["cannot read the registry", &dead]);
}

/// A real server shows a renewal a lease duration ahead (eureka-core's `Lease.renew()`);
/// `apps` shows how long ago it was, not `0s ago` nor a time to come.
#[test]
fn apps_shows_a_real_servers_renewal_as_past() {
    let registry = Registry::start_from(
        EurekaServer::builder()
            .renewal_timestamps_ahead(true)
            .response_cache_ttl(Duration::ZERO),
        None,
    );
    let url = registry.url();
    let instance = local("orders", 9000, Status::Up);
    registry.register(&instance);
    let connection = Connection::new([&url]).expect("a connection");
    registry
        .runtime
        .block_on(connection.heartbeat("ORDERS", &instance.instance_id, Status::Up, 0))
        .expect("a heartbeat");
    let shown = registry
        .instance("ORDERS", &instance.instance_id)
        .and_then(|i| i.lease_info)
        .expect("a lease")
        .last_renewal_timestamp;
    assert!(
        shown > sd_eureka::now_millis(),
        "the registry shows it ahead"
    );
    // Let the renewal age past a second, so that `0s ago` is wrong.
    let renewed_at = shown - 90_000;
    while sd_eureka::now_millis() < renewed_at + 2_000 {
        thread::sleep(Duration::from_millis(50));
    }

    let (status, stdout, stderr) = run(&["eureka", "apps", "--url", &url], None);
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    let row = stdout
        .iter()
        .find(|line| line.starts_with("ORDERS"))
        .expect("the instance's row");
    let cell = row.rsplit("  ").next().expect("the RENEWED cell").trim();
    let secs: u64 = cell
        .strip_suffix("s ago")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not `Ns ago` in seconds: {row:?}"));
    assert!((2..60).contains(&secs), "renewed {secs}s ago: {row:?}");
}

/// An https registry needs the `tls` feature; with it, the URL is used (here, to meet a
/// closed port), without it, the error says which feature to build with.
#[test]
fn https_urls_follow_the_tls_feature() {
    let dead = dead_url().replace("http://", "https://");
    let outcome = run(&["eureka", "apps", "--url", &dead], None);
    if cfg!(feature = "tls") {
        assert_fails(
            &outcome,
            &["cannot read the registry", "cannot reach the server", &dead],
        );
    } else {
        assert_fails(&outcome, &["https", "`tls` cargo feature", "sd-cli"]);
    }
}

/// The commonest mistake in a service URL: the registry's root instead of its base path.
#[test]
fn a_url_without_the_base_path_is_hinted_at() {
    let registry = populated();
    let root = format!("http://{}/", registry.server.local_addr());
    let outcome = run(&["eureka", "apps", "--url", &root], None);
    assert_fails(&outcome, &["404", "base path", "/eureka/"]);
    // With the base path, a 404 is the registry's own answer: no hint.
    let outcome = run(
        &[
            "eureka",
            "apps",
            "--url",
            &format!("{root}eureka/nothing-here/"),
        ],
        None,
    );
    assert_fails(&outcome, &["404"]);
    assert!(!outcome.2.contains("base path"), "{}", outcome.2);
}

/// In a Spring service's container, `sd` finds the registry from the service's variables
/// (the zone order itself is `sd_eureka::Config`'s, tested there).
#[test]
fn spring_variables_name_the_registry_when_eureka_url_is_absent() {
    let registry = populated();
    let variables = [
        ("EUREKA_CLIENT_AVAILABILITYZONES_US_EAST_1", "far,near"),
        ("EUREKA_CLIENT_SERVICEURL_FAR", "http://127.0.0.1:1/eureka/"),
        ("EUREKA_CLIENT_SERVICEURL_NEAR", &registry.url()),
        ("EUREKA_INSTANCE_METADATAMAP_ZONE", "near"),
    ];
    let mut sd = Sd::spawn_with_variables(&["eureka", "apps"], &variables);
    let status = sd.wait();
    assert_eq!(status.code(), Some(0), "stderr: {}", sd.stderr());
    assert_table(&sd.rest());
}

#[test]
fn eureka_url_names_the_registry_when_url_is_absent() {
    let registry = populated();
    // A comma-separated list, whose first URL is dead.
    let urls = format!("{},{}", dead_url(), registry.url());
    let (status, stdout, stderr) = run(&["eureka", "apps"], Some(&urls));
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert_table(&stdout);

    let mut watcher = Sd::spawn_with_env(
        &["eureka", "watch", "orders", "--interval", INTERVAL],
        Some(&urls),
    );
    assert_eq!(watcher.entry(), "127.0.0.1:8080=UP");
    assert_eq!(watcher.terminate().code(), Some(0));
}

#[test]
fn url_wins_over_eureka_url() {
    let registry = populated();
    let dead = dead_url();
    let (status, stdout, stderr) = run(&["eureka", "apps", "--url", &registry.url()], Some(&dead));
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert_table(&stdout);
}

#[test]
fn several_urls_fail_over_to_a_live_one() {
    let registry = populated();
    let (dead, live) = (dead_url(), registry.url());
    let (status, stdout, stderr) = run(&["eureka", "apps", "--url", &dead, "--url", &live], None);
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert_table(&stdout);

    let mut watcher = watch(&dead, "orders", &["--url", &live]);
    assert_eq!(watcher.entry(), "127.0.0.1:8080=UP");

    let mut sd = Sd::spawn(&[
        "eureka",
        "register",
        "--app",
        "payments",
        "--port",
        "7000",
        "--ip",
        "127.0.0.1",
        "--url",
        &dead,
        "--url",
        &live,
    ]);
    assert_eq!(
        sd.line(),
        format!("registered PAYMENTS 127.0.0.1:payments:7000 at {dead},{live}")
    );
    assert!(
        registry
            .instance("PAYMENTS", "127.0.0.1:payments:7000")
            .is_some()
    );
    assert_eq!(sd.terminate().code(), Some(0), "stderr: {}", sd.stderr());
    assert_eq!(
        registry.instance("PAYMENTS", "127.0.0.1:payments:7000"),
        None
    );
    assert_eq!(watcher.terminate().code(), Some(0));
}

/// URLs that answer, but uselessly: a node still waiting for its peers (403 to every
/// read, as a restarted real server does), a URL without the base path (404), one that
/// accepts connections and never answers. `apps`, `watch` and `register` get past each to
/// the live registry, and `register` still deregisters on SIGTERM.
#[test]
fn unusable_urls_fail_over_for_apps_watch_and_register() {
    let registry = populated();
    let live = registry.url();
    let gated = registry
        .runtime
        .block_on(
            EurekaServer::builder()
                .addr("127.0.0.1:0".parse().expect("an address"))
                .sync_wait(Duration::from_secs(600))
                .bind(),
        )
        .expect("bind the gated registry");
    let gated_url = gated.base_url();
    // The live registry's root: every Eureka path there is a 404.
    let no_base = format!("http://{}/", registry.server.local_addr());
    // Accepts (the kernel completes the handshake) and never answers.
    let hole = TcpListener::bind("127.0.0.1:0").expect("bind a blackhole");
    let hole_url = format!("http://{}/eureka/", hole.local_addr().expect("its address"));

    for bad in [&gated_url, &no_base] {
        let (status, stdout, stderr) = run(&["eureka", "apps", "--url", bad, "--url", &live], None);
        assert_eq!(status.code(), Some(0), "{bad}: stderr: {stderr}");
        assert_table(&stdout);

        let mut watcher = watch(bad, "orders", &["--url", &live]);
        assert_eq!(watcher.entry(), "127.0.0.1:8080=UP", "{bad}");
        assert_eq!(watcher.terminate().code(), Some(0));
    }

    let mut sd = Sd::spawn(&[
        "eureka",
        "register",
        "--app",
        "payments",
        "--port",
        "7000",
        "--ip",
        "127.0.0.1",
        "--url",
        &hole_url,
        "--url",
        &live,
    ]);
    assert!(sd.line().starts_with("registered PAYMENTS"));
    assert!(
        registry
            .instance("PAYMENTS", "127.0.0.1:payments:7000")
            .is_some()
    );
    assert_eq!(sd.terminate().code(), Some(0), "stderr: {}", sd.stderr());
    assert_eq!(
        registry.instance("PAYMENTS", "127.0.0.1:payments:7000"),
        None
    );
    drop(hole);
}

// Credentials (a registry behind HTTP Basic auth) and logs (`RUST_LOG`).

/// The user of the secured registries.
const USER: &str = "admin";
/// Their password: every character a URL's userinfo reserves, and one outside ASCII.
const PASSWORD: &str = "pa/ss,w@rd:%?#é";

/// A [`populate`]d registry that wants [`USER`] and [`PASSWORD`].
fn secured() -> Registry {
    populate(Registry::secured(USER, PASSWORD))
}

/// Runs `sd` to its end with these environment variables: status, stdout lines, stderr.
fn run_with(args: &[&str], variables: &[(&str, &str)]) -> (ExitStatus, Vec<String>, String) {
    let mut sd = Sd::spawn_with_variables(args, variables);
    let status = sd.wait();
    (status, sd.rest(), sd.stderr())
}

/// Asserts that `output` shows `password` in none of the forms it could leak in: as is,
/// percent-encoded as in the URL, or inside a Basic `Authorization` header.
fn assert_no_secret(output: &str, user: &str, password: &str) {
    use base64::Engine as _;

    let header = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    for secret in [password, &percent_encoded(password), &header] {
        assert!(
            !output.contains(secret),
            "{secret:?} leaked into the output:\n{output}"
        );
    }
}

#[test]
fn eureka_url_gives_apps_watch_and_register_their_credentials() {
    let registry = secured();
    // The credentials only in the environment, so `ps` shows none; a dead URL first, so
    // the failover carries its own.
    let urls = format!(
        "{},{}",
        with_userinfo(&dead_url(), USER, PASSWORD),
        registry.client_url
    );
    let variables = [("EUREKA_URL", urls.as_str())];
    // Everything the commands print.
    let mut seen: Vec<String> = Vec::new();

    let (status, stdout, stderr) = run_with(&["eureka", "apps"], &variables);
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert_table(&stdout);
    seen.extend(stdout);
    seen.push(stderr);

    let mut watcher = Sd::spawn_with_variables(
        &["eureka", "watch", "orders", "--interval", INTERVAL],
        &variables,
    );
    assert_eq!(watcher.entry(), "127.0.0.1:8080=UP");

    let mut sd = Sd::spawn_with_variables(
        &[
            "eureka",
            "register",
            "--app",
            "payments",
            "--port",
            "7000",
            "--ip",
            "127.0.0.1",
            "--renew",
            "1",
        ],
        &variables,
    );
    let announcement = sd.line();
    assert!(
        announcement.starts_with("registered PAYMENTS 127.0.0.1:payments:7000 at "),
        "announcement: {announcement:?}"
    );
    assert!(
        registry
            .instance("PAYMENTS", "127.0.0.1:payments:7000")
            .is_some()
    );
    assert_eq!(sd.terminate().code(), Some(0), "stderr: {}", sd.stderr());
    assert_eq!(
        registry.instance("PAYMENTS", "127.0.0.1:payments:7000"),
        None
    );
    seen.push(announcement);
    seen.extend(sd.rest());
    seen.push(sd.stderr());
    assert_eq!(watcher.terminate().code(), Some(0));
    seen.extend(watcher.rest());
    seen.push(watcher.stderr());

    assert_no_secret(&seen.join("\n"), USER, PASSWORD);
}

#[test]
fn a_secured_registry_refuses_sd_without_its_credentials() {
    let registry = secured();
    let outcome = run(&["eureka", "apps", "--url", &registry.url()], None);
    assert_fails(&outcome, &["cannot read the registry", "401"]);

    let wrong = with_userinfo(&registry.url(), USER, "not-the-password");
    let outcome = run(&["eureka", "apps"], Some(&wrong));
    assert_fails(&outcome, &["cannot read the registry", "401"]);
    assert_no_secret(&outcome.2, USER, "not-the-password");
}

#[test]
fn a_password_with_an_unencoded_comma_shows_no_part_of_it() {
    // The comma splits the list inside the password: `http://admin:s3cret` and
    // `tail@127.0.0.1:1/eureka/`.
    let variables = [
        ("EUREKA_URL", "http://admin:s3cret,tail@127.0.0.1:1/eureka/"),
        ("RUST_LOG", "trace"),
    ];
    for command in [&["eureka", "apps"][..], &["eureka", "watch", "orders"]] {
        let (status, stdout, stderr) = run_with(command, &variables);
        assert_eq!(status.code(), Some(1), "stderr: {stderr}");
        assert!(stdout.is_empty(), "stdout: {stdout:?}");
        assert!(stderr.starts_with("error: cannot use "), "stderr: {stderr}");
        assert!(stderr.contains("percent-encode"), "stderr: {stderr}");
        for part in ["s3cret", "tail"] {
            assert!(!stderr.contains(part), "{part:?} leaked: {stderr}");
        }
    }
}

#[test]
fn rust_log_logs_to_stderr_and_never_credentials() {
    let registry = secured();
    let dead = with_userinfo(&dead_url(), USER, PASSWORD);
    let urls = format!("{dead},{}", registry.client_url);
    let variables = [("EUREKA_URL", urls.as_str()), ("RUST_LOG", "trace")];
    let mut logs = String::new();

    let (status, stdout, stderr) = run_with(&["eureka", "apps"], &variables);
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert_table(&stdout);
    // The failover from the dead URL is logged, naming it without its credentials.
    assert!(
        stderr.lines().any(|line| line.contains(" sd_eureka::")),
        "no log line from sd_eureka:\n{stderr}"
    );
    logs += &stderr;

    let mut watcher = Sd::spawn_with_variables(
        &["eureka", "watch", "orders", "--interval", INTERVAL],
        &variables,
    );
    assert_eq!(watcher.entry(), "127.0.0.1:8080=UP");
    let mut sd = Sd::spawn_with_variables(
        &[
            "eureka",
            "register",
            "--app",
            "payments",
            "--port",
            "7000",
            "--ip",
            "127.0.0.1",
            "--renew",
            "1",
        ],
        &variables,
    );
    assert!(sd.line().starts_with("registered "));
    // A heartbeat or two, logged as well.
    registry.wait_until("a heartbeat", |apps| {
        find(apps, "PAYMENTS", "127.0.0.1:payments:7000")
            .and_then(|instance| instance.lease_info.as_ref())
            .is_some_and(|lease| lease.last_renewal_timestamp > lease.registration_timestamp)
    });
    assert_eq!(sd.terminate().code(), Some(0), "stderr: {}", sd.stderr());
    logs += &sd.stderr();
    assert_eq!(watcher.terminate().code(), Some(0));
    logs += &watcher.stderr();

    // An error, logged and reported, with a wrong password in the URL.
    let wrong = with_userinfo(&registry.url(), USER, "not-the-password");
    let (status, _, stderr) = run_with(
        &["eureka", "apps"],
        &[("EUREKA_URL", wrong.as_str()), ("RUST_LOG", "trace")],
    );
    assert_eq!(status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("\nerror: ") || stderr.starts_with("error: "));
    assert_no_secret(&stderr, USER, "not-the-password");

    assert_no_secret(&logs, USER, PASSWORD);
}

#[test]
fn without_rust_log_nothing_is_logged() {
    let registry = populated();
    // A failover, which RUST_LOG=warn would log.
    let urls = format!("{},{}", dead_url(), registry.url());
    let (status, stdout, stderr) = run(&["eureka", "apps"], Some(&urls));
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert_table(&stdout);
    assert_eq!(stderr, "");
}

#[test]
fn a_rust_log_that_does_not_parse_is_one_warning() {
    let registry = populated();
    let (status, stdout, stderr) = run_with(
        &["eureka", "apps", "--url", &registry.url()],
        &[("RUST_LOG", "sd_eureka=loudest")],
    );
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
    assert_table(&stdout);
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr}");
    assert!(
        stderr.starts_with("warning: ignoring RUST_LOG=sd_eureka=loudest: "),
        "stderr: {stderr}"
    );
}
