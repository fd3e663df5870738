//! The zlib layer between a signed (or encrypted) credential and its Base45 text, and around a
//! status list: compressing with a reused per-thread compressor (or, at level 0, a stored
//! stream written directly) and inflating under a size cap.

use std::io::Read;

use super::CredentialError;

/// zlib-compress `input` into `out` (cleared first), reusing the thread's compressor.
pub(crate) fn deflate(
    slot: &mut Option<(u32, flate2::Compress)>,
    level: u32,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CredentialError> {
    if level == 0 {
        stored_zlib(input, out);
        return Ok(());
    }
    let compressor = match slot {
        Some((l, c)) if *l == level => {
            c.reset();
            c
        }
        _ => {
            &mut slot
                .insert((level, flate2::Compress::new(flate2::Compression::new(level), true)))
                .1
        }
    };
    out.clear();
    out.reserve(input.len() + input.len() / 8 + 64);
    loop {
        let consumed = compressor.total_in() as usize;
        let rest = input.get(consumed..).unwrap_or_default();
        match compressor.compress_vec(rest, out, flate2::FlushCompress::Finish) {
            Ok(flate2::Status::StreamEnd) => return Ok(()),
            Ok(_) => out.reserve(out.capacity().max(64)),
            Err(_) => return Err(CredentialError::Signing),
        }
    }
}

/// Level 0: a zlib stream of stored blocks, written directly (no deflate state to reset).
fn stored_zlib(input: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(input.len() + input.len() / 65535 * 5 + 11);
    out.extend_from_slice(&[0x78, 0x01]);
    let mut blocks = input.chunks(65535).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[0x01, 0x00, 0x00, 0xFF, 0xFF]);
    }
    while let Some(block) = blocks.next() {
        let last = blocks.peek().is_none();
        let len = block.len() as u16;
        out.push(u8::from(last));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in input.chunks(5552) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
}

/// Inflate a zlib stream, refusing output above `cap` bytes and trailing garbage.
pub(crate) fn inflate_capped(input: &[u8], cap: usize) -> Result<Vec<u8>, CredentialError> {
    let mut decoder = flate2::read::ZlibDecoder::new(input);
    let mut out = Vec::with_capacity(input.len().saturating_mul(3).min(cap));
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    (&mut decoder)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|_| CredentialError::BadZlib)?;
    if out.len() > cap {
        return Err(CredentialError::ZlibBomb { limit: cap });
    }
    if decoder.total_in() != input.len() as u64 {
        return Err(CredentialError::BadZlib);
    }
    Ok(out)
}
