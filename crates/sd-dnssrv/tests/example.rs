//! The example as a test: `examples/dns_quickstart.rs` compiled in as a module, run from
//! start to finish (three services, a DNS zone, the client following a removed record).

#[path = "../examples/dns_quickstart.rs"]
#[expect(dead_code, reason = "the example's main")]
mod dns_quickstart;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_client_example_runs_to_the_end() {
    let mut out = Vec::new();
    dns_quickstart::run(&mut out).await.unwrap();
    let report = String::from_utf8(out).unwrap();
    eprintln!("{report}");
    let spreads: Vec<&str> = report.lines().filter(|l| l.starts_with("spread")).collect();
    assert_eq!(spreads.len(), 2, "{report}");
    // First over three services, then over the two left in the zone.
    assert_eq!(spreads[0].matches(", ").count(), 2, "{report}");
    assert_eq!(spreads[1].matches(", ").count(), 1, "{report}");
    assert!(report.contains("done"), "{report}");
}
