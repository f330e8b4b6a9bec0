//! Opening, preparing and closing ZooKeeper sessions: what the instancer and the
//! registrar share.

use std::time::Duration;

use zookeeper_client::{Acls, Client, CreateMode, SessionState};

use crate::{Config, Error};

/// Opens a session with the ensemble, within the connect timeout. Fails as soon as every
/// server has refused, so that the caller's backoff, not the client's, paces the retries.
pub(crate) async fn open(config: &Config) -> Result<Client, Error> {
    let attempt = Client::connector()
        .with_session_timeout(config.session_timeout())
        .with_fail_eagerly()
        .connect(config.servers());
    match tokio::time::timeout(config.connect_timeout(), attempt).await {
        Ok(Ok(client)) => {
            tracing::debug!(servers = config.servers(), session = %client.session_id(), timeout = ?client.session_timeout(), "ZooKeeper session opened");
            Ok(client)
        }
        Ok(Err(error)) => Err(Error::connect(config.servers(), error)),
        Err(_) => Err(Error::connect_timeout(
            config.servers(),
            config.connect_timeout(),
        )),
    }
}

/// Creates `path` and its missing parents as persistent nodes (`mkdir -p`), as go-kit's
/// `CreateParentNodes` does.
pub(crate) async fn create_parents(client: &Client, path: &str) -> Result<(), Error> {
    client
        .mkdir(path, &CreateMode::Persistent.with_acls(Acls::anyone_all()))
        .await
        .map_err(|error| Error::operation("create", path, error))
}

/// Waits until the session's state is a connected one (`Ok`) or a terminal one (`Err`).
pub(crate) async fn connected(
    states: &mut zookeeper_client::StateWatcher,
) -> Result<(), SessionState> {
    let mut state = states.state();
    loop {
        match state {
            SessionState::SyncConnected | SessionState::ConnectedReadOnly => return Ok(()),
            SessionState::Disconnected => state = states.changed().await,
            terminal => return Err(terminal),
        }
    }
}

/// Closes the session of `client` (the last handle to it), waiting at most `limit` for
/// the server to confirm. Ephemeral nodes go with the session. True when it closed in
/// time; otherwise the server ends the session when it times out.
pub(crate) async fn close(client: Client, limit: Duration) -> bool {
    let mut states = client.state_watcher();
    // Dropping the last handle makes the client send `closeSession`.
    drop(client);
    let closed = async {
        let mut state = states.state();
        while !state.is_terminated() {
            state = states.changed().await;
        }
    };
    tokio::time::timeout(limit, closed).await.is_ok()
}
