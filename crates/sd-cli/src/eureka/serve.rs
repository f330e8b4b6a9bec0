//! `sd eureka serve`: the development registry of `sd-eureka-server`, until a signal.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use sd_eureka_server::EurekaServer;

use super::signal::Shutdown;
use crate::error::Error;

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
    /// Refuse every registry read with 403 for this many seconds after start, accepting
    /// writes, as a real server that got nothing from its peers does (0: no wait).
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    sync_wait: u64,
    /// Require HTTP Basic auth with this user (needs --password).
    #[arg(long, requires = "password")]
    user: Option<String>,
    /// The Basic auth password (needs --user).
    #[arg(long, requires = "user")]
    password: Option<String>,
}

/// Runs the registry; prints `listening on http://ADDR/eureka/` once it accepts
/// connections, and returns after SIGINT or SIGTERM, once it has stopped.
pub(crate) fn run(args: &Args, out: &mut impl Write) -> Result<(), Error> {
    let serve_error = |source| Error::Serve {
        addr: args.addr.to_string(),
        source,
    };
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
            .sync_wait(Duration::from_secs(args.sync_wait));
        if let (Some(user), Some(password)) = (&args.user, &args.password) {
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
