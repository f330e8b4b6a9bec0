//! Arbitrary bytes through format detection and the decoder it picks: an accepted input
//! was in the detected format, and must encode and decode again in it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sd_eureka::{Format, decode_any};
use sd_eureka_fuzz::check_recode;

fuzz_target!(|data: &[u8]| {
    if let Ok((format, document)) = decode_any(data) {
        assert_eq!(
            Format::detect(data),
            Some(format),
            "decoded in an undetected format"
        );
        check_recode(&document, format);
    }
});
