//! Bytes of a text input to `str`: byte-order marks and UTF-16 handled,
//! bytes that are not UTF-8 replaced rather than refused.

use std::borrow::Cow;

/// Decodes a text input. A UTF-8 byte-order mark is dropped, a UTF-16 one
/// (`FF FE` little-endian, `FE FF` big-endian) selects UTF-16; everything
/// else is read as UTF-8 with invalid bytes replaced by U+FFFD, which is
/// logged once.
pub(crate) fn decode(bytes: &[u8]) -> Cow<'_, str> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return lossy(rest);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        return utf16(rest, u16::from_le_bytes).into();
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        return utf16(rest, u16::from_be_bytes).into();
    }
    lossy(bytes)
}

fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    let text = String::from_utf8_lossy(bytes);
    if let Cow::Owned(_) = text {
        tracing::warn!("replaced bytes that are not UTF-8 with U+FFFD");
    }
    text
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> String {
    let units = bytes.chunks_exact(2).map(|pair| unit([pair[0], pair[1]]));
    char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)).collect()
}

/// True when `bytes` begin like text: a byte-order mark, or a prefix that is
/// valid UTF-8 (up to a cut character at the end) without NUL bytes.
pub(crate) fn looks_like_text(bytes: &[u8]) -> bool {
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return true;
    }
    let head = &bytes[..bytes.len().min(4096)];
    if head.contains(&0) {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        // A multi-byte character cut by the 4096-byte window is fine, and
        // so are a few stray Latin-1 bytes in names.
        Err(e) => {
            let bad = String::from_utf8_lossy(head).matches('\u{FFFD}').count();
            e.error_len().is_none() || bad * 100 < head.len()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boms_and_utf16_decode() {
        assert_eq!(decode(b"\xEF\xBB\xBFa;b 1"), "a;b 1");
        assert_eq!(decode(b"\xFF\xFEa\0;\0b\0 \x001\0"), "a;b 1");
        assert_eq!(decode(b"\xFE\xFF\0a\0;\0b"), "a;b");
        assert_eq!(decode(b"caf\xE9"), "caf\u{FFFD}");
    }
}
