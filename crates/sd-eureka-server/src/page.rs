//! The HTML status page at `/`: apps, their instances, status, address and lease age.

use std::fmt::Write as _;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Response};
use http_body_util::Full;
use quick_xml::escape::escape;

use crate::registry::{Millis, Registry};

pub(crate) fn render(registry: &Registry, now: Millis) -> Response<Full<Bytes>> {
    let mut html = String::with_capacity(4096);
    let count = registry.instance_count();
    // Writing to a String cannot fail.
    let _ = write!(
        html,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>sd eureka registry</title>\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:4px 10px;text-align:left}}th{{background:#eee}}\
         .UP{{color:#080}}.DOWN,.OUT_OF_SERVICE{{color:#b00}}.STARTING,.UNKNOWN{{color:#a60}}</style>\
         </head><body><h1>sd eureka registry</h1>\
         <p>{count} instance(s) registered. API: <code>/eureka/apps</code> (also under <code>/eureka/v2/</code>).</p>\
         <table><tr><th>Application</th><th>Instance</th><th>Status</th><th>Address</th><th>Last renewal</th></tr>"
    );
    for (app, instance, last_renewal) in registry.leases() {
        let age = (now - last_renewal).max(0) / 1000;
        let status = instance.status.as_str();
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td class=\"{status}\">{status}</td><td>{}</td><td>{age} s ago</td></tr>",
            escape(app),
            escape(&instance.instance_id),
            escape(instance.address()),
        );
    }
    if count == 0 {
        html.push_str("<tr><td colspan=\"5\">No instances registered.</td></tr>");
    }
    html.push_str("</table></body></html>");
    let mut reply = Response::new(Full::new(Bytes::from(html)));
    reply.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    reply
}
