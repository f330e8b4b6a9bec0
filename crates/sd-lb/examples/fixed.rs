//! sd-core and sd-lb together, with no network: a fixed instancer, an endpointer whose
//! factory makes a (pretend) client per instance, and a round-robin balancer with retry.
//!
//! Run with `cargo run -p sd-lb --example fixed`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sd_core::factory::{Built, closing};
use sd_core::{BoxError, Endpointer, FixedInstancer, Instance};
use sd_lb::{RoundRobin, retry};

/// Stands in for an HTTP client bound to one instance.
#[derive(Clone)]
struct Client {
    addr: String,
    refuses: bool,
}

impl Client {
    async fn get(&self, path: &str) -> Result<String, BoxError> {
        tokio::time::sleep(Duration::from_millis(2)).await;
        if self.refuses {
            Err(format!("{}: connection refused", self.addr).into())
        } else {
            Ok(format!("200 OK from {}{path}", self.addr))
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let instancer = FixedInstancer::new(["10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"]);
    println!("instances: 10.0.0.1:8080 10.0.0.2:8080 10.0.0.3:8080 (the last one refuses)");

    let endpointer = Endpointer::new(
        &instancer,
        closing(|instance: &Instance| {
            let client = Client {
                addr: instance.id().to_owned(),
                refuses: instance.id().starts_with("10.0.0.3"),
            };
            let addr = client.addr.clone();
            Ok(Built::with_closer(client, move || {
                println!("closed endpoint {addr}");
            }))
        }),
    )?;

    let balancer = RoundRobin::new(endpointer.clone());
    let mut retry = retry(3, Duration::from_secs(1), balancer);
    let answered: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();

    for n in 1..=6 {
        let answered = answered.clone();
        let reply = retry
            .call(|client| {
                let answered = answered.clone();
                async move {
                    let result = client.get(&format!("/hello/{n}")).await;
                    match &result {
                        Ok(_) => {
                            *answered
                                .lock()
                                .unwrap()
                                .entry(client.addr.clone())
                                .or_default() += 1;
                        }
                        Err(e) => println!("request {n}: {e}; retrying"),
                    }
                    result
                }
            })
            .await?;
        println!("request {n}: {reply}");
    }

    let spread: Vec<String> = answered
        .lock()
        .unwrap()
        .iter()
        .map(|(addr, count)| format!("{addr}={count}"))
        .collect();
    println!("answered: {}", spread.join(" "));
    endpointer.close();
    Ok(())
}
