//! Decoding the real 10,000-instance registries (100 apps × 100 instances) a Netflix
//! Eureka server produced: `../shared/fixtures/eureka-netflix/registry-10k.{json,xml}.gz`,
//! decompressed once outside the timed loop. Without `../shared`, a generated registry of
//! the same shape stands in (said on stderr), so the bench always runs.
//!
//! `cargo bench -p sd-eureka --bench decode`

use std::hint::black_box;
use std::io::Read;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sd_eureka::{Format, decode, encode_applications};

#[path = "support/registry.rs"]
mod support;

fn registry_bytes(format: Format) -> Vec<u8> {
    let file = match format {
        Format::Json => "registry-10k.json.gz",
        Format::Xml => "registry-10k.xml.gz",
    };
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/eureka-netflix")
        .join(file);
    if let Ok(compressed) = std::fs::read(&path) {
        let mut bytes = Vec::new();
        if flate2::read::GzDecoder::new(&compressed[..])
            .read_to_end(&mut bytes)
            .is_ok()
        {
            return bytes;
        }
    }
    eprintln!(
        "{} not found: benchmarking a generated registry of the same shape",
        path.display()
    );
    encode_applications(&support::registry(100, 100), format)
        .expect("the generated registry encodes")
}

fn decode_registry(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode 10k registry");
    group.sample_size(20);
    for format in [Format::Json, Format::Xml] {
        let bytes = registry_bytes(format);
        let instances = decode(&bytes, format)
            .expect("the registry decodes")
            .into_applications()
            .instance_count();
        assert_eq!(instances, 10_000);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(format!("{format} ({} bytes)", bytes.len()), |b| {
            // Time the decode, not the freeing of 10,000 decoded instances afterwards.
            b.iter_with_large_drop(|| decode(black_box(&bytes), format));
        });
    }
    group.finish();
}

criterion_group!(benches, decode_registry);
criterion_main!(benches);
