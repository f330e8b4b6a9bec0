//! `sd eureka serve`: the development registry of `sd-eureka-server`, until a signal.

use std::fmt;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use sd_eureka_server::EurekaServer;

use crate::error::Error;
use sd_eureka::ShutdownSignal as Shutdown;

/// Arguments of `sd eureka serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8761")]
    addr: SocketAddr,
    /// Seconds between evictions of expired leases.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    eviction_interval: u64,
    /// Seconds a change stays in the delta queue.
    #[arg(long, value_name = "SECS", default_value_t = 180)]
    delta_retention: u64,
    /// Seconds a full-registry answer (`GET apps`) may be served from the cache while only
    /// renewals happened: lease timestamps in it are up to this old. Registrations,
    /// cancellations and status changes refresh it at once. 0 answers live.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    response_cache_ttl: u64,
    /// Refuse every registry read with 403 for this many seconds after start, accepting
    /// writes, as a real server that got nothing from its peers does (0: no wait).
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    sync_wait: u64,
    /// The most connections open at once; at the cap a new connection closes the one
    /// that has waited longest for a request.
    #[arg(long, value_name = "N", default_value_t = 512)]
    max_connections: usize,
    /// Seconds a client may take to send a request's headers, and an HTTP/1 connection may
    /// wait for its next request (0: no limit).
    #[arg(long, value_name = "SECS", default_value_t = 20)]
    header_read_timeout: u64,
    /// Seconds a connection may stay open without a request being handled (0: no limit).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    idle_timeout: u64,
    /// Require HTTP Basic auth with this user; the password comes from --password-file,
    /// --password-env or --password.
    #[arg(long, requires = "password_source")]
    user: Option<String>,
    /// Read the Basic auth password from the first line of this file (needs --user).
    #[arg(
        long,
        value_name = "PATH",
        group = "password_source",
        requires = "user"
    )]
    password_file: Option<PathBuf>,
    /// Read the Basic auth password from this environment variable (needs --user).
    #[arg(long, value_name = "VAR", group = "password_source", requires = "user")]
    password_env: Option<String>,
    /// The Basic auth password (needs --user). Any user of the machine can read it with
    /// `ps`: prefer --password-file or --password-env.
    #[arg(long, group = "password_source", requires = "user")]
    password: Option<Password>,
}

/// A password given on the command line; `Debug` does not show it.
#[derive(Clone)]
struct Password(String);

impl std::str::FromStr for Password {
    type Err = std::convert::Infallible;

    fn from_str(password: &str) -> Result<Self, Self::Err> {
        Ok(Self(password.to_owned()))
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Args {
    /// The password, from whichever source was given; `None` without `--user`.
    fn password(&self) -> Result<Option<String>, Error> {
        if let Some(path) = &self.password_file {
            let read_error = |source| Error::Read {
                input: format!("the password file {}", path.display()),
                source,
            };
            let text = std::fs::read_to_string(path).map_err(read_error)?;
            // The first line, without its line ending: `echo secret > file` must work.
            let line = text.lines().next().unwrap_or_default();
            return Ok(Some(line.to_owned()));
        }
        if let Some(variable) = &self.password_env {
            return match std::env::var(variable) {
                Ok(password) => Ok(Some(password)),
                Err(error) => Err(Error::Read {
                    input: format!("the password variable {variable}"),
                    source: io::Error::new(io::ErrorKind::NotFound, error),
                }),
            };
        }
        Ok(self.password.as_ref().map(|p| p.0.clone()))
    }
}

/// Runs the registry; prints `listening on http://ADDR/eureka/` once it accepts
/// connections, and returns after SIGINT or SIGTERM, once it has stopped.
pub(crate) fn run(args: &Args, out: &mut impl Write) -> Result<(), Error> {
    let serve_error = |source| Error::Serve {
        addr: args.addr.to_string(),
        source,
    };
    // Read before anything starts: a missing file is a plain error, not a half-started
    // server.
    let password = args.password()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(serve_error)?;
    runtime.block_on(async {
        // Before the announcement: a signal sent as soon as it is read must be caught.
        let mut shutdown = Shutdown::listen().map_err(serve_error)?;
        let mut builder = EurekaServer::builder()
            .addr(args.addr)
            .eviction_interval(Duration::from_secs(args.eviction_interval))
            .delta_retention(Duration::from_secs(args.delta_retention))
            .response_cache_ttl(Duration::from_secs(args.response_cache_ttl))
            .sync_wait(Duration::from_secs(args.sync_wait))
            .max_connections(args.max_connections)
            .header_read_timeout(Duration::from_secs(args.header_read_timeout))
            .idle_timeout(Duration::from_secs(args.idle_timeout));
        if let (Some(user), Some(password)) = (&args.user, password) {
            builder = builder.basic_auth(user, password);
        }
        let server = builder.bind().await.map_err(serve_error)?;
        writeln!(out, "listening on {}", server.base_url())
            .and_then(|()| out.flush())
            .map_err(Error::Write)?;
        let stopped = shutdown.wait().await;
        server.shutdown().await;
        stopped.map_err(serve_error)
    })
}
