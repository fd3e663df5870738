//! Small, allocation-light encoders: base64url (RFC 4648 §5, no padding), lowercase hex, and a
//! minimal deterministic CBOR writer (RFC 8949 preferred serialisation: shortest heads).

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// base64url without padding.
pub(crate) fn b64url_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b0 = chunk.first().copied().unwrap_or(0);
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        let n = (u32::from(b0) << 16) | (u32::from(b1) << 8) | u32::from(b2);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let idx = ((n >> (18 - 6 * i)) & 63) as usize;
            out.push(char::from(B64URL[idx]));
        }
    }
    out
}

fn b64_value(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => return None,
    } as u32)
}

/// Decode base64url without padding (trailing `=` tolerated). `None` on any bad character or
/// non-canonical trailing bits.
pub(crate) fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.trim_end_matches('=').as_bytes();
    if bytes.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= b64_value(c)? << (18 - 6 * i);
        }
        let produced = chunk.len() - 1;
        let all = n.to_be_bytes();
        // `all` is [0, b0, b1, b2]; keep the `produced` leading data bytes.
        out.extend_from_slice(all.get(1..1 + produced)?);
        // Reject non-zero bits below the last produced byte (non-canonical encodings).
        let leftover_bits = 24 - 8 * produced as u32;
        if leftover_bits < 24 && n & ((1 << leftover_bits) - 1) != 0 {
            return None;
        }
    }
    Some(out)
}

/// Decode hex (either case). `None` on odd length or a bad digit.
pub(crate) fn hex_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if bytes.len() % 2 != 0 {
        return None;
    }
    bytes
        .chunks(2)
        .map(|pair| {
            let hi = char::from(*pair.first()?).to_digit(16)?;
            let lo = char::from(*pair.get(1)?).to_digit(16)?;
            u8::try_from(hi * 16 + lo).ok()
        })
        .collect()
}

/// CBOR major types used here.
pub(crate) const MAJOR_UINT: u8 = 0;
pub(crate) const MAJOR_NINT: u8 = 1;
pub(crate) const MAJOR_BYTES: u8 = 2;
pub(crate) const MAJOR_TEXT: u8 = 3;
pub(crate) const MAJOR_ARRAY: u8 = 4;
pub(crate) const MAJOR_MAP: u8 = 5;
pub(crate) const MAJOR_TAG: u8 = 6;

/// Write a CBOR head (major type + argument) in its shortest form.
pub(crate) fn cbor_head(out: &mut Vec<u8>, major: u8, arg: u64) {
    let m = major << 5;
    if arg < 24 {
        out.push(m | arg as u8);
    } else if let Ok(v) = u8::try_from(arg) {
        out.extend_from_slice(&[m | 24, v]);
    } else if let Ok(v) = u16::try_from(arg) {
        out.push(m | 25);
        out.extend_from_slice(&v.to_be_bytes());
    } else if let Ok(v) = u32::try_from(arg) {
        out.push(m | 26);
        out.extend_from_slice(&v.to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&arg.to_be_bytes());
    }
}

/// Write a signed integer.
pub(crate) fn cbor_int(out: &mut Vec<u8>, v: i64) {
    if v >= 0 {
        cbor_head(out, MAJOR_UINT, v.unsigned_abs());
    } else {
        // -1 - n encoding: argument is |v| - 1.
        cbor_head(out, MAJOR_NINT, v.unsigned_abs() - 1);
    }
}

/// Write a text string.
pub(crate) fn cbor_text(out: &mut Vec<u8>, s: &str) {
    cbor_head(out, MAJOR_TEXT, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Write a byte string.
pub(crate) fn cbor_bytes(out: &mut Vec<u8>, b: &[u8]) {
    cbor_head(out, MAJOR_BYTES, b.len() as u64);
    out.extend_from_slice(b);
}

/// Lower-case hex (the one spelling of hashes in results, logs and the audit trail).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b64url_round_trip_and_known_vectors() {
        assert_eq!(b64url_encode(b""), "");
        assert_eq!(b64url_encode(b"f"), "Zg");
        assert_eq!(b64url_encode(b"fo"), "Zm8");
        assert_eq!(b64url_encode(b"foo"), "Zm9v");
        assert_eq!(b64url_encode(&[0xfb, 0xff]), "-_8");
        for len in 0..70u8 {
            let data: Vec<u8> = (0..len).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(b64url_decode(&b64url_encode(&data)).as_deref(), Some(&data[..]));
        }
        assert!(b64url_decode("Zh").is_none(), "non-canonical trailing bits");
        assert!(b64url_decode("Z").is_none());
        assert!(b64url_decode("Zm9v!").is_none());
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(hex(&[0, 0xab, 0xff]), "00abff");
        assert_eq!(hex_decode("00ABff"), Some(vec![0, 0xab, 0xff]));
        assert!(hex_decode("0").is_none());
        assert!(hex_decode("zz").is_none());
    }

    #[test]
    fn cbor_heads_are_shortest() {
        let mut v = Vec::new();
        cbor_int(&mut v, 23);
        cbor_int(&mut v, 24);
        cbor_int(&mut v, 256);
        cbor_int(&mut v, -8);
        cbor_int(&mut v, 1_700_000_000);
        assert_eq!(
            v,
            [0x17, 0x18, 0x18, 0x19, 0x01, 0x00, 0x27, 0x1a, 0x65, 0x53, 0xf1, 0x00]
        );
    }
}
