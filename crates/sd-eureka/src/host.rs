//! This machine as other machines see it: the IP address of the interface that routes
//! outwards and the host name, the defaults of an instance that registers for real.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};

/// The address of the interface that routes outwards, else `127.0.0.1`: what an
/// instance registers as its IP when nothing names one
/// ([`InstanceBuilder::detect_address`](crate::InstanceBuilder::detect_address)).
pub fn default_ip() -> IpAddr {
    outward_ip().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// The local address the routing table picks to reach a public address. Connecting a UDP
/// socket only looks the route up: nothing is sent. `None` without such a route (an
/// isolated host), or when the route is the loopback.
pub fn outward_ip() -> Option<IpAddr> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    // TEST-NET-1 (RFC 5737): any address behind the default route would do.
    socket.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// This machine's host name, as the kernel (Linux) or the environment (`HOSTNAME`,
/// `COMPUTERNAME`) names it; `None` when neither does. Read without a resolver: a
/// registration must not wait on DNS, and Spring's reverse lookup of the outward IP
/// often names nothing better in containers.
pub fn hostname() -> Option<String> {
    let from_kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
    let from_env = || {
        std::env::var("HOSTNAME")
            .or_else(|_| std::env::var("COMPUTERNAME"))
            .ok()
    };
    from_kernel
        .into_iter()
        .chain(std::iter::from_fn(from_env).take(1))
        .map(|name| name.trim().to_owned())
        .find(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    #[test]
    fn the_default_ip_is_never_unspecified() {
        let ip = super::default_ip();
        assert!(!ip.is_unspecified(), "{ip}");
        assert!(
            !ip.is_loopback() || ip == IpAddr::V4(Ipv4Addr::LOCALHOST),
            "{ip}"
        );
    }

    #[test]
    fn a_hostname_is_never_blank() {
        if let Some(name) = super::hostname() {
            assert!(!name.trim().is_empty() && name.trim() == name, "{name:?}");
        }
    }
}
