//! What every fuzz target checks once a decoder has accepted an input.

use sd_eureka::{Document, Format, decode, encode};

/// A document the decoder produced must survive the encoder: whenever it can be written
/// (the encoders legitimately refuse text or metadata keys that XML cannot carry), what
/// is written must decode again, as the same kind of document.
///
/// # Panics
///
/// When the re-encoded document does not decode: that is the bug being fuzzed for.
pub fn check_recode(document: &Document, format: Format) {
    let Ok(bytes) = encode(document, format) else {
        return;
    };
    match decode(&bytes, format) {
        Ok(again) => assert_eq!(
            std::mem::discriminant(&again),
            std::mem::discriminant(document),
            "{format}: re-decoded as another kind of document"
        ),
        Err(e) => panic!(
            "{format}: decoded, encoded, but the encoding does not decode: {e}\nencoded: {}",
            String::from_utf8_lossy(&bytes)
        ),
    }
}
