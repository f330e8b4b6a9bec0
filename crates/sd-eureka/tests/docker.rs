//! The core scenarios against a real Eureka server — Spring Cloud Netflix, as packaged in
//! the `steeltoeoss/eureka-server` image: an instancer sees 1, 2, then 1 instance as
//! registrars come and go; an instance marked DOWN leaves the set; deregistration removes
//! the instance.
//!
//! Where the server comes from, in this order:
//!
//! * **`SD_EUREKA_URL`**: when set (e.g. `SD_EUREKA_URL=http://localhost:8761/eureka/`),
//!   the tests use that server and start no container. `cargo xtask compose-test` sets it
//!   for the server of the repository's `docker-compose.yml`.
//! * **A Docker engine**: each test starts its own container through `testcontainers`,
//!   with the response cache shortened (see [`SERVER_ENV`]).
//! * **Neither**, or an engine that cannot start the container (the image cannot be
//!   pulled, say): the suite prints one line for all its tests, naming the image and the
//!   reason (`skipping docker tests (steeltoeoss/eureka-server:4): no Docker engine ...`
//!   or `...: cannot pull the image: ...`), and every test passes. With
//!   `SD_REQUIRE_DOCKER=1` each test fails instead, with the same reason: for machines
//!   that are meant to run the suite.
//!
//! Every test uses app names of its own (with the process id), so the tests can share one
//! server and run in parallel.

mod support;

use std::sync::OnceLock;
use std::time::Duration;

use sd_eureka::{Connection, Instancer, Registrar, Status};
use support::{eventually_within, ids, instance, say, wait_until_async};
use testcontainers::core::IntoContainerPort as _;
use testcontainers::core::error::ClientError;
use testcontainers::runners::AsyncRunner as _;
use testcontainers::{ContainerAsync, GenericImage, ImageExt as _, TestcontainersError};

/// The environment variable naming an already running server (its service URL).
const URL_VAR: &str = "SD_EUREKA_URL";

/// The environment variable that turns a skip into a failure: set to anything but empty
/// or `0`, the suite must run.
const REQUIRE_VAR: &str = "SD_REQUIRE_DOCKER";

/// A maintained Spring Cloud Netflix Eureka server image, and its major version tag.
const IMAGE: &str = "steeltoeoss/eureka-server";
const TAG: &str = "4";
/// The port it listens on; its base path is `/eureka/`.
const PORT: u16 = 8761;

/// Spring properties, as environment variables (Spring's relaxed binding). Real servers
/// answer registry reads from a read-only response cache refreshed every 30 s, so a
/// registration can take that long to show; reading through the live cache makes changes
/// visible at once, and the refresh is shortened as well in case the image turns the
/// read-only cache back on. Self-preservation is off so that the server evicts normally
/// with few instances. A cached delta computed while a registration was in flight can
/// hide it until the cache entry expires (180 s by default, protocol doc, "A stale delta
/// can outlive a registration"): entries expire after a second here. The same settings as
/// `docker-compose.yml`.
const SERVER_ENV: &[(&str, &str)] = &[
    ("EUREKA_SERVER_USEREADONLYRESPONSECACHE", "false"),
    ("EUREKA_SERVER_RESPONSECACHEUPDATEINTERVALMS", "1000"),
    ("EUREKA_SERVER_RESPONSECACHEAUTOEXPIRATIONINSECONDS", "1"),
    ("EUREKA_SERVER_ENABLESELFPRESERVATION", "false"),
    ("EUREKA_SERVER_EVICTIONINTERVALTIMERINMS", "5000"),
];

/// How long a container may take to be pulled, started and ready.
const STARTUP: Duration = Duration::from_secs(300);

/// How long a change may take to show through a real server.
const REAL_DEADLINE: Duration = Duration::from_secs(30);

/// How often the suite's instancers fetch the whole registry. A server given by
/// `SD_EUREKA_URL` keeps its own cache settings, so a stale delta may hide a change for
/// minutes; the client's periodic full fetch bounds that well inside [`REAL_DEADLINE`]
/// (this is what made `real_server_one_two_one` fail 2 runs in 18 against eureka-core).
const RESYNC: Duration = Duration::from_secs(3);

/// A real server for one test; a container is removed when this is dropped.
struct Eureka {
    url: String,
    _container: Option<ContainerAsync<GenericImage>>,
}

impl Eureka {
    /// The server named by `SD_EUREKA_URL`, else a fresh container; `None` (having said
    /// so, once for the suite) when no container can be had, unless `SD_REQUIRE_DOCKER`
    /// demands one: then it panics with the reason.
    async fn get() -> Option<Self> {
        if let Some(url) = std::env::var(URL_VAR).ok().filter(|u| !u.trim().is_empty()) {
            let eureka = Self {
                url: url.trim().to_owned(),
                _container: None,
            };
            eureka.wait_ready().await;
            return Some(eureka);
        }
        // Once one test found that no container can be had, the others do not try again.
        if let Some(reason) = UNAVAILABLE.get() {
            return unavailable(reason);
        }
        match Self::start().await {
            Ok(eureka) => {
                eureka.wait_ready().await;
                Some(eureka)
            }
            Err(reason) => unavailable(&reason),
        }
    }

    /// A fresh container on the Docker engine, or why there is none.
    async fn start() -> Result<Self, String> {
        if !tokio::task::spawn_blocking(docker_engine)
            .await
            .is_ok_and(|answers| answers)
        {
            return Err(
                "no Docker engine (`docker info` fails and no engine socket answers)".into(),
            );
        }
        let mut image = GenericImage::new(IMAGE, TAG)
            .with_exposed_port(PORT.tcp())
            .with_startup_timeout(STARTUP);
        for (name, value) in SERVER_ENV {
            image = image.with_env_var(*name, *value);
        }
        let container = image.start().await.map_err(|error| match error {
            TestcontainersError::Client(ClientError::PullImage { err, .. }) => {
                format!("cannot pull the image: {err}")
            }
            error => format!("cannot start a container: {error}"),
        })?;
        let no_address =
            |error: TestcontainersError| format!("no address for the container: {error}");
        let host = container.get_host().await.map_err(no_address)?;
        let port = container
            .get_host_port_ipv4(PORT)
            .await
            .map_err(no_address)?;
        Ok(Self {
            url: format!("http://{host}:{port}/eureka/"),
            _container: Some(container),
        })
    }

    /// Waits until the server answers a full fetch (the JVM takes a while to start).
    async fn wait_ready(&self) {
        let conn = self.connection();
        wait_until_async(&format!("{} answers", self.url), STARTUP, || async {
            conn.applications().await.is_ok()
        })
        .await;
    }

    fn connection(&self) -> Connection {
        support::connection_builder(&[&self.url])
            .resync_interval(RESYNC)
            .build()
            .expect("a valid connection")
    }
}

/// Why no container can be had, once a test has found out.
static UNAVAILABLE: OnceLock<String> = OnceLock::new();

/// No server for this test, for `reason`: a skip, said in one line for the whole suite
/// however many tests skip, or a failure when `SD_REQUIRE_DOCKER` demands the suite.
fn unavailable(reason: &str) -> Option<Eureka> {
    let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        !required(),
        "{REQUIRE_VAR} is set, but the Docker suite cannot run ({IMAGE}:{TAG}): {reason}"
    );
    UNAVAILABLE.get_or_init(|| {
        say(&format!("skipping docker tests ({IMAGE}:{TAG}): {reason}"));
        reason
    });
    None
}

/// Whether `SD_REQUIRE_DOCKER` demands the suite.
fn required() -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|value| !matches!(value.trim(), "" | "0"))
}

/// Whether a Docker engine answers: `docker info` succeeds, or (without the CLI) the
/// engine's socket accepts a connection.
fn docker_engine() -> bool {
    let cli = std::process::Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    cli || socket_answers()
}

#[cfg(unix)]
fn socket_answers() -> bool {
    let host = std::env::var("DOCKER_HOST").unwrap_or_default();
    let path = match host.strip_prefix("unix://") {
        Some(path) => path.to_owned(),
        None if host.is_empty() => "/var/run/docker.sock".to_owned(),
        // A TCP engine without the CLI: let testcontainers try.
        None => return true,
    };
    std::os::unix::net::UnixStream::connect(path).is_ok()
}

#[cfg(not(unix))]
fn socket_answers() -> bool {
    std::env::var_os("DOCKER_HOST").is_some()
}

/// An app name no other test (or earlier run) uses.
fn unique_app(scenario: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("sd-it-{scenario}-{}-{nanos}", std::process::id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_server_one_two_one() {
    let Some(eureka) = Eureka::get().await else {
        return;
    };
    let app = unique_app("121");
    let conn = eureka.connection();
    let instancer = Instancer::new(&conn, &app).unwrap();
    let endpointer = ids(&instancer);

    let a = Registrar::new(conn.clone(), instance(&app, 8001));
    a.register().await.unwrap();
    eventually_within(&endpointer, &["127.0.0.1:8001"], REAL_DEADLINE).await;

    let b = Registrar::new(conn.clone(), instance(&app, 8002));
    b.register().await.unwrap();
    eventually_within(
        &endpointer,
        &["127.0.0.1:8001", "127.0.0.1:8002"],
        REAL_DEADLINE,
    )
    .await;

    b.deregister().await.unwrap();
    eventually_within(&endpointer, &["127.0.0.1:8001"], REAL_DEADLINE).await;
    a.deregister().await.unwrap();
    eventually_within(&endpointer, &[], REAL_DEADLINE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_server_down_leaves_the_set() {
    let Some(eureka) = Eureka::get().await else {
        return;
    };
    let app = unique_app("down");
    let conn = eureka.connection();
    let instancer = Instancer::new(&conn, &app).unwrap();
    let endpointer = ids(&instancer);
    let a = Registrar::new(conn.clone(), instance(&app, 8001));
    let b = Registrar::new(conn.clone(), instance(&app, 8002));
    a.register().await.unwrap();
    b.register().await.unwrap();
    eventually_within(
        &endpointer,
        &["127.0.0.1:8001", "127.0.0.1:8002"],
        REAL_DEADLINE,
    )
    .await;

    a.set_status(Status::Down).await.unwrap();
    eventually_within(&endpointer, &["127.0.0.1:8002"], REAL_DEADLINE).await;
    let on_server = conn.application(&app).await.unwrap();
    assert!(
        on_server
            .instances
            .iter()
            .any(|i| i.port.port == 8001 && i.status == Status::Down),
        "the server keeps the DOWN instance: {on_server:?}"
    );

    a.deregister().await.unwrap();
    b.deregister().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_server_deregistration() {
    let Some(eureka) = Eureka::get().await else {
        return;
    };
    let app = unique_app("dereg");
    let conn = eureka.connection();
    let instancer = Instancer::new(&conn, &app).unwrap();
    let endpointer = ids(&instancer);
    let a = Registrar::new(conn.clone(), instance(&app, 8001));
    a.register().await.unwrap();
    eventually_within(&endpointer, &["127.0.0.1:8001"], REAL_DEADLINE).await;

    a.deregister().await.unwrap();
    wait_until_async("the server forgets the instance", REAL_DEADLINE, || async {
        conn.application(&app)
            .await
            .is_ok_and(|gone| gone.instances.is_empty())
    })
    .await;
    eventually_within(&endpointer, &[], REAL_DEADLINE).await;
}
