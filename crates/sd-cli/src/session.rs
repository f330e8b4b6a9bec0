//! What the `watch` and `register` commands of every backend share: a watch prints each
//! state of an instancer as a dated line until SIGINT or SIGTERM; a registration lives
//! from registering to deregistering around the same signals.

use std::future::Future;
use std::io::Write;
use std::time::SystemTime;

use sd_core::{Event, Instance, Instancer, Registrar};
use sd_eureka::ShutdownSignal as Shutdown;

use crate::error::Error;
use crate::text::one_line;
use crate::time::rfc3339;

/// Prints every state of `instancer` as a line, the time of the change first: the
/// instances as `show` renders each, space-separated, `-` for none, or `error: ` and the
/// error. Returns at SIGINT or SIGTERM, or on a write error.
pub(crate) async fn watch(
    instancer: &impl Instancer,
    out: &mut impl Write,
    show: impl Fn(&Instance) -> String,
) -> Result<(), Error> {
    let mut shutdown = Shutdown::listen().map_err(Error::Signal)?;
    let mut events = instancer.subscribe();
    let print = async {
        while let Some(event) = events.next().await {
            writeln!(
                out,
                "{} {}",
                rfc3339(SystemTime::now()),
                line(&event, &show)
            )
            .and_then(|()| out.flush())
            .map_err(Error::Write)?;
        }
        Ok(())
    };
    tokio::select! {
        result = print => result,
        result = shutdown.wait() => result.map_err(Error::Signal),
    }
}

/// One state without its time.
pub(crate) fn line(event: &Event, show: impl Fn(&Instance) -> String) -> String {
    match event {
        Event::Instances(set) if set.is_empty() => "-".to_owned(),
        Event::Instances(set) => set.iter().map(show).collect::<Vec<_>>().join(" "),
        Event::Error(error) => format!("error: {}", one_line(&error.to_string())),
    }
}

/// An instance by its identity, on one line.
pub(crate) fn id(instance: &Instance) -> String {
    one_line(instance.id()).into_owned()
}

/// Registers with `registrar`, prints `registered ...` (the line `announce` makes), holds
/// the registration until SIGINT or SIGTERM, runs `leave` (a drain; a second signal cuts
/// it short), deregisters and prints `deregistered NAME`. A signal while registering
/// deregisters at once; a first registration that fails is an error, once the registrar
/// (which retries in the background) has been stopped and cleaned up after. `error`
/// turns the registrar's errors into the command's, given what was being done.
pub(crate) async fn hold<R: Registrar>(
    registrar: &R,
    name: &str,
    error: impl Fn(String, R::Error) -> Error,
    out: &mut impl Write,
    announce: impl FnOnce(&R) -> String,
    leave: impl Future<Output = Result<(), Error>>,
) -> Result<(), Error> {
    // Before the announcement: a signal sent as soon as it is read must be caught.
    let mut shutdown = Shutdown::listen().map_err(Error::Signal)?;
    let deregister = || async {
        registrar
            .deregister()
            .await
            .map_err(|source| error(format!("cannot deregister {name}"), source))
    };
    let registered = tokio::select! {
        result = registrar.register() => Some(result),
        result = shutdown.wait() => {
            result.map_err(Error::Signal)?;
            None
        }
    };
    match registered {
        // Stopped while registering: leave no registration behind.
        None => return deregister().await,
        Some(Ok(())) => {}
        Some(Err(source)) => {
            // A registration that timed out may still have reached the server.
            let _ = registrar.deregister().await;
            return Err(error(format!("cannot register {name}"), source));
        }
    }
    let announced = writeln!(out, "{}", announce(registrar))
        .and_then(|()| out.flush())
        .map_err(Error::Write);
    // Without a reader for the announcement, stop at once; deregister either way.
    let stopped = match announced {
        Ok(()) => shutdown.wait().await.map_err(Error::Signal),
        Err(error) => Err(error),
    };
    let left = if stopped.is_ok() {
        tokio::select! {
            result = leave => result,
            _ = shutdown.wait() => Ok(()),
        }
    } else {
        Ok(())
    };
    // Even when the drain failed: nothing may stay registered.
    deregister().await?;
    stopped?;
    left?;
    writeln!(out, "deregistered {name}")
        .and_then(|()| out.flush())
        .map_err(Error::Write)
}

#[cfg(test)]
mod tests {
    use sd_core::{Error, Event, Instances};

    use super::{id, line};

    #[test]
    fn sets_dashes_and_errors() {
        assert_eq!(line(&Event::from(Instances::empty()), id), "-");
        assert_eq!(
            line(&Event::from(Instances::new(["b:1", "a\t:1"])), id),
            "a\\t:1 b:1"
        );
        assert_eq!(
            line(&Event::from(Error::discovery("down\nhard")), id),
            "error: down\\nhard"
        );
    }
}
