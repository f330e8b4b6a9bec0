//! Arbitrary bytes through the JSON decoder; whatever it accepts must encode and decode again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sd_eureka::{Format, decode};
use sd_eureka_fuzz::check_recode;

fuzz_target!(|data: &[u8]| {
    if let Ok(document) = decode(data, Format::Json) {
        check_recode(&document, Format::Json);
    }
});
