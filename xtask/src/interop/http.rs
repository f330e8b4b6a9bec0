//! Just enough HTTP/1.1 over a std `TcpStream` to ask the registry for its view and to
//! register and cancel the app the clients discover. Loopback only, every call bounded.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use sd_eureka::{Document, Format, InstanceInfo};

/// The bound on connecting, and on each read and write.
const IO_LIMIT: Duration = Duration::from_secs(5);

/// A response: its status code and (de-chunked) body.
pub(super) struct Reply {
    /// The status code.
    pub(super) status: u16,
    /// The body.
    pub(super) body: Vec<u8>,
}

impl Reply {
    /// The body as text, for messages.
    pub(super) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).trim().to_owned()
    }
}

/// Sends one request (a JSON body when `body` is given) and reads the whole reply.
pub(super) fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> Result<Reply, String> {
    let what = format!("{method} {path}");
    let failed = |e: std::io::Error| format!("{what}: {e}");
    let mut stream = TcpStream::connect_timeout(&addr, IO_LIMIT).map_err(failed)?;
    stream.set_read_timeout(Some(IO_LIMIT)).map_err(failed)?;
    stream.set_write_timeout(Some(IO_LIMIT)).map_err(failed)?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n"
    );
    if let Some(body) = body {
        head.push_str("Content-Type: application/json\r\n");
        // Writing to a String cannot fail.
        let _ = write!(head, "Content-Length: {}\r\n", body.len());
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).map_err(failed)?;
    stream.write_all(body.unwrap_or_default()).map_err(failed)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(failed)?;
    parse(&raw).ok_or_else(|| format!("{what}: not an HTTP response"))
}

/// Splits a raw response into status and body.
fn parse(raw: &[u8]) -> Option<Reply> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let chunked = head.lines().any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("transfer-encoding")
                && value.trim().eq_ignore_ascii_case("chunked")
        })
    });
    let rest = &raw[end + 4..];
    let body = if chunked {
        dechunk(rest)?
    } else {
        rest.to_vec()
    };
    Some(Reply { status, body })
}

/// Joins the chunks of a chunked body.
fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(body);
        }
        let chunk = rest.get(line_end + 2..line_end + 2 + size)?;
        body.extend_from_slice(chunk);
        rest = rest.get(line_end + 4 + size..)?;
    }
}

/// The registry's copy of instance `id` of `app` (`GET apps/{APP}`, JSON), or `None`
/// when it has none (a 404, as real servers answer for an app without instances).
pub(super) fn instance(
    addr: SocketAddr,
    app: &str,
    id: &str,
) -> Result<Option<InstanceInfo>, String> {
    let reply = send(addr, "GET", &format!("/eureka/apps/{app}"), None)?;
    match reply.status {
        404 => Ok(None),
        200 => match sd_eureka::decode(&reply.body, Format::Json) {
            Ok(Document::Application(application)) => Ok(application
                .instances
                .into_iter()
                .find(|instance| instance.id() == id)),
            Ok(_) => Err(format!("GET apps/{app} did not answer an application")),
            Err(e) => Err(format!("GET apps/{app}: undecodable answer: {e}")),
        },
        status => Err(format!(
            "GET apps/{app} answered {status}: {}",
            reply.text()
        )),
    }
}
