//! The protobuf wire format at the top level of a profile.proto: walking
//! its fields without decoding them, for detection, error offsets and
//! decoding samples one at a time.

use prost::Message;

use super::proto;

/// The top-level fields of a message: key, start offset and, for
/// length-delimited fields, the body. `Err` holds the offset of a field
/// that does not parse; iteration ends after it.
pub(crate) struct Fields<'a>(pub &'a [u8], pub usize);

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, usize, Option<&'a [u8]>), usize>;

    fn next(&mut self) -> Option<Self::Item> {
        let (bytes, start) = (self.0, self.1);
        if start >= bytes.len() {
            return None;
        }
        let parsed = (|| {
            let (key, used) = varint(&bytes[start..])?;
            let at = start + used;
            let (size, body) = match key & 7 {
                0 => (varint(&bytes[at..])?.1, None),
                1 => (8, None),
                5 => (4, None),
                2 => {
                    let (len, n) = varint(&bytes[at..])?;
                    let len = usize::try_from(len).ok()?;
                    let body = bytes.get(at + n..(at + n).checked_add(len)?)?;
                    (n + len, Some(body))
                }
                _ => return None,
            };
            (at + size <= bytes.len()).then_some((key, at + size, body))
        })();
        match parsed {
            Some((key, end, body)) => {
                self.1 = end;
                Some(Ok((key, start, body)))
            }
            None => {
                self.1 = bytes.len();
                Some(Err(start))
            }
        }
    }
}

/// The length of the (valid) field starting at `start`.
pub(crate) fn field_len(bytes: &[u8], start: usize) -> usize {
    let mut fields = Fields(bytes, start);
    let _ = fields.next();
    fields.1 - start
}

/// True when `bytes` decode as a profile.proto whose string table opens
/// with the empty string, as the format requires.
///
/// Only the top-level fields are walked (numbers and wire types as the
/// schema has them), so detecting a large profile costs no decoding.
pub(crate) fn looks_like_pprof(bytes: &[u8]) -> bool {
    let mut first_string = None;
    for field in Fields(bytes, 0) {
        let Ok((key, _, body)) = field else {
            return false;
        };
        let fits =
            matches!((key >> 3, key & 7), (1..=6 | 11, 2) | (7..=10 | 12 | 14, 0) | (13, 0 | 2));
        if !fits {
            return false;
        }
        if key >> 3 == 6 && first_string.is_none() {
            first_string = body.map(<[u8]>::is_empty);
        }
    }
    first_string == Some(true)
}

/// The offset of the first top-level field of a profile.proto that does
/// not decode, for error messages; `None` when every field does.
pub(crate) fn broken_field(bytes: &[u8]) -> Option<u64> {
    let mut at = 0usize;
    while at < bytes.len() {
        let start = at;
        let Some((key, used)) = varint(&bytes[at..]) else {
            return Some(start as u64);
        };
        at += used;
        let tag = key >> 3;
        let size = match key & 7 {
            0 => varint(&bytes[at..]).map(|(_, n)| n),
            1 => Some(8),
            5 => Some(4),
            2 => varint(&bytes[at..]).and_then(|(len, n)| {
                let len = usize::try_from(len).ok()?;
                let body = bytes.get(at + n..at.checked_add(n)?.checked_add(len)?)?;
                let nested_ok = match tag {
                    1 | 11 => proto::ValueType::decode(body).is_ok(),
                    2 => proto::Sample::decode(body).is_ok(),
                    3 => proto::Mapping::decode(body).is_ok(),
                    4 => proto::Location::decode(body).is_ok(),
                    5 => proto::Function::decode(body).is_ok(),
                    _ => true,
                };
                nested_ok.then_some(n + len)
            }),
            _ => None,
        };
        match size {
            Some(size) if at + size <= bytes.len() => at += size,
            _ => return Some(start as u64),
        }
    }
    None
}

/// A protobuf varint and the bytes it took.
fn varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().take(10).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_field_points_at_the_truncated_field() {
        // Field 6 (string table), length 5, but only 2 bytes follow.
        let bytes = [0x32, 0x00, 0x32, 0x05, b'a', b'b'];
        assert_eq!(broken_field(&bytes), Some(2));
        assert_eq!(broken_field(&[0x32, 0x00]), None);
    }
}
