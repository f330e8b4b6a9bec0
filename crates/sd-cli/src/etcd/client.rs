//! The etcd cluster a command talks to: `--endpoints`, else `ETCD_ENDPOINTS`, else the
//! local default.

use std::time::Duration;

use sd_etcd::Client;

use crate::error::Error;

/// Where etcd listens when neither `--endpoints` nor `ETCD_ENDPOINTS` says.
pub(crate) const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:2379";

/// The cluster options shared by the `sd etcd` commands.
#[derive(Debug, clap::Args)]
pub(crate) struct Cluster {
    // The help is not a doc comment: rustdoc would want markdown that clap prints as is.
    #[arg(
        long = "endpoints",
        value_name = "URL",
        help = "An etcd client URL (http://host:2379); repeat it or separate URLs with \
                commas [default: $ETCD_ENDPOINTS (comma-separated), else \
                http://127.0.0.1:2379]"
    )]
    endpoints: Vec<String>,
}

impl Cluster {
    /// The endpoints: `--endpoints` values, else `ETCD_ENDPOINTS`, else the default.
    pub(crate) fn endpoints(&self) -> Vec<String> {
        resolve(
            &self.endpoints,
            std::env::var("ETCD_ENDPOINTS").ok().as_deref(),
        )
    }

    /// A client of the cluster; connecting is lazy, so this fails only on bad endpoints.
    pub(crate) async fn connect(&self) -> Result<Client, Error> {
        let endpoints = self.endpoints();
        Client::builder(&endpoints)
            .dial_timeout(Duration::from_secs(3))
            .connect()
            .await
            .map_err(|source| Error::etcd(format!("cannot use {}", endpoints.join(",")), source))
    }
}

/// Every comma-separated value of the flags, else of the variable, else the default.
fn resolve(flags: &[String], variable: Option<&str>) -> Vec<String> {
    let split = |values: &mut dyn Iterator<Item = &str>| -> Vec<String> {
        values
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let from_flags = split(&mut flags.iter().map(String::as_str));
    if !from_flags.is_empty() {
        return from_flags;
    }
    let from_variable = split(&mut variable.into_iter());
    if !from_variable.is_empty() {
        return from_variable;
    }
    vec![DEFAULT_ENDPOINT.to_owned()]
}

/// A runtime for one command.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)
}

#[cfg(test)]
mod tests {
    use super::{DEFAULT_ENDPOINT, resolve};

    #[test]
    fn flags_then_the_variable_then_the_default() {
        let flags = vec![
            "http://a:2379,http://b:2379".to_owned(),
            "c:2379".to_owned(),
        ];
        assert_eq!(
            resolve(&flags, Some("http://x:2379")),
            ["http://a:2379", "http://b:2379", "c:2379"]
        );
        assert_eq!(resolve(&[], Some(" http://x:2379 , ")), ["http://x:2379"]);
        assert_eq!(resolve(&[], Some("")), [DEFAULT_ENDPOINT]);
        assert_eq!(resolve(&[], None), [DEFAULT_ENDPOINT]);
    }
}
