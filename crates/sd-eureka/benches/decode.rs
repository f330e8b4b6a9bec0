//! Decode benchmarks (written next).
fn main() {}
