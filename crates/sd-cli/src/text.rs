//! Printing text that came from the input, where a stray tab or newline would break the
//! one-line, tab-separated shape of the output.

use std::borrow::Cow;

/// `text` with every control character escaped as in Rust source (`\t`, `\n`,
/// `\u{1b}`...), so it fits on one line and in one column. Other text is unchanged.
pub(crate) fn one_line(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            escaped.extend(c.escape_debug());
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn plain_text_is_unchanged() {
        assert_eq!(one_line("ORDERS a:orders:8080 é"), "ORDERS a:orders:8080 é");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(one_line("a\tb\nc\r\u{1b}d"), r"a\tb\nc\r\u{1b}d");
    }
}
