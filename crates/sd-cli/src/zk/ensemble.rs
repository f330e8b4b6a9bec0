//! What the `sd zk` commands share: which ensemble to talk to (`--servers`), the session
//! timeout asked for (`--session-timeout`), and the runtime the session runs on.

use std::time::Duration;

use sd_zk::Config;

use crate::error::Error;
use crate::time::parse_secs;

/// The ensemble arguments, flattened into each `sd zk` command.
#[derive(Debug, clap::Args)]
pub(crate) struct Ensemble {
    #[arg(
        long = "servers",
        help = "A ZooKeeper server as HOST:PORT; repeat it (or separate servers with commas) \
                for an ensemble",
        value_name = "HOST:PORT",
        value_delimiter = ',',
        default_value = "127.0.0.1:2181"
    )]
    servers: Vec<String>,
    /// The session timeout to ask for, in seconds (decimals allowed); the server may
    /// grant another within its bounds.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = parse_secs)]
    session_timeout: Duration,
}

impl Ensemble {
    /// The servers as one connect string, for messages.
    pub(crate) fn describe(&self) -> String {
        self.servers.join(",")
    }

    /// The library's configuration for these arguments.
    pub(crate) fn config(&self) -> Result<Config, Error> {
        Config::builder(self.servers.iter().map(|s| s.trim().to_owned()))
            .session_timeout(self.session_timeout)
            .build()
            .map_err(|source| Error::zk(format!("cannot use {}", self.describe()), source))
    }
}

/// The runtime a command runs its session on.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;

    use super::Ensemble;

    #[derive(Debug, Parser)]
    struct Command {
        #[command(flatten)]
        ensemble: Ensemble,
    }

    #[test]
    fn servers_repeat_or_split_on_commas() {
        let parsed =
            Command::try_parse_from(["x", "--servers", "a:1,b:2", "--servers", "c:3"]).unwrap();
        assert_eq!(parsed.ensemble.describe(), "a:1,b:2,c:3");
        assert!(parsed.ensemble.config().is_ok());
        let default = Command::try_parse_from(["x"]).unwrap();
        assert_eq!(default.ensemble.describe(), "127.0.0.1:2181");
        assert_eq!(default.ensemble.session_timeout, Duration::from_secs(5));
        let bad = Command::try_parse_from(["x", "--servers", "a:1/root"]).unwrap();
        assert!(bad.ensemble.config().is_err());
    }
}
