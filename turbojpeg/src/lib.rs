//! libjpeg-turbo's TurboJPEG decoder (`libturbojpeg.so.0`, Debian's package `libturbojpeg0`),
//! loaded at run time.
//!
//! Its SIMD decode of a phone photo is about three times as fast as the pure-Rust decoder, and
//! decoding is the largest single cost of a verification request. Loading with `dlopen` keeps
//! the build free of C and lets a machine without the library fall back to `jpeg-decoder`
//! (the engine's `intake`). This crate holds the project's only FFI, so that `ikd-engine` can
//! keep `#![forbid(unsafe_code)]`; every `unsafe` block says what it relies on.
//!
//! `IKD_JPEG_DECODER=rust` keeps the library unloaded (for A/B measurements and to test the
//! fallback).

use libloading::Library;
use std::ffi::{c_int, c_uchar, c_ulong, c_void};
use std::fmt;
use std::sync::OnceLock;

/// The shared object this crate loads.
pub const SONAME: &str = "libturbojpeg.so.0";

type Handle = *mut c_void;

const TJPF_RGB: c_int = 0;
const TJCS_CMYK: c_int = 3;
const TJCS_YCCK: c_int = 4;
/// Warnings (corrupt data that libjpeg would paper over) become errors: the caller's other
/// decoder decides those images.
const TJFLAG_STOPONWARNING: c_int = 8192;
/// Refuses progressive JPEGs with more than 500 scans, a known decompression-time attack.
const TJFLAG_LIMITSCANS: c_int = 32768;

/// Why this decoder declined an image. The caller's fallback decoder names the error users see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The header could not be read.
    Header,
    /// CMYK and YCCK JPEGs, which this path does not convert to RGB.
    Cmyk,
    /// The image is too large for the C API's integer types.
    TooLarge,
    /// The scale is not one of 1, 2, 4 or 8.
    Scale(u32),
    /// The decoder reported an error or a warning about corrupt data.
    Data,
    /// The library could not create a decompressor (out of memory).
    Init,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Header => write!(f, "unreadable JPEG header"),
            DecodeError::Cmyk => write!(f, "CMYK JPEG"),
            DecodeError::TooLarge => write!(f, "image too large"),
            DecodeError::Scale(s) => write!(f, "unsupported scale 1/{s}"),
            DecodeError::Data => write!(f, "corrupt JPEG data"),
            DecodeError::Init => write!(f, "could not create a decompressor"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// A JPEG's size, from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub width: u32,
    pub height: u32,
}

/// Packed RGB8 pixels, `width * height * 3` bytes, rows top to bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbPixels {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

type HeaderFn =
    unsafe extern "C" fn(Handle, *const c_uchar, c_ulong, *mut c_int, *mut c_int, *mut c_int, *mut c_int) -> c_int;
type DecompressFn =
    unsafe extern "C" fn(Handle, *const c_uchar, c_ulong, *mut c_uchar, c_int, c_int, c_int, c_int, c_int) -> c_int;

/// The loaded library. Thread-safe: each call makes its own decompressor instance.
pub struct TurboJpeg {
    init_decompress: unsafe extern "C" fn() -> Handle,
    decompress_header3: HeaderFn,
    decompress2: DecompressFn,
    destroy: unsafe extern "C" fn(Handle) -> c_int,
    // Keeps the function pointers above valid; the library is never unloaded.
    _library: Library,
}

impl fmt::Debug for TurboJpeg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TurboJpeg")
    }
}

impl TurboJpeg {
    /// The process's library, loaded on first use; `None` when the machine lacks it or
    /// `IKD_JPEG_DECODER=rust` is set.
    pub fn get() -> Option<&'static TurboJpeg> {
        static LIBRARY: OnceLock<Option<TurboJpeg>> = OnceLock::new();
        LIBRARY
            .get_or_init(|| {
                if std::env::var("IKD_JPEG_DECODER").as_deref() == Ok("rust") {
                    return None;
                }
                TurboJpeg::load().ok()
            })
            .as_ref()
    }

    /// Loads [`SONAME`], resolving the four functions used.
    pub fn load() -> Result<TurboJpeg, libloading::Error> {
        // SAFETY: loading libturbojpeg runs no initialiser with preconditions, and the symbol
        // types are those declared in turbojpeg.h (ABI stable since libjpeg-turbo 1.2).
        unsafe {
            let library = Library::new(SONAME)?;
            let init_decompress = *library.get::<unsafe extern "C" fn() -> Handle>(b"tjInitDecompress\0")?;
            let decompress_header3 = *library.get::<HeaderFn>(b"tjDecompressHeader3\0")?;
            let decompress2 = *library.get::<DecompressFn>(b"tjDecompress2\0")?;
            let destroy = *library.get::<unsafe extern "C" fn(Handle) -> c_int>(b"tjDestroy\0")?;
            Ok(TurboJpeg {
                init_decompress,
                decompress_header3,
                decompress2,
                destroy,
                _library: library,
            })
        }
    }

    fn decompressor(&self) -> Result<Decompressor<'_>, DecodeError> {
        // SAFETY: tjInitDecompress has no preconditions; a null handle is refused here.
        let handle = unsafe { (self.init_decompress)() };
        if handle.is_null() {
            return Err(DecodeError::Init);
        }
        Ok(Decompressor { api: self, handle })
    }

    /// The image's size from its header.
    pub fn header(&self, jpeg: &[u8]) -> Result<Header, DecodeError> {
        self.decompressor()?.header(jpeg)
    }

    /// Decodes `jpeg` at 1/`scale` of its size (`scale` 1, 2, 4 or 8, done in the inverse DCT;
    /// each side rounded up) into RGB8.
    pub fn decode_rgb(&self, jpeg: &[u8], scale: u32) -> Result<RgbPixels, DecodeError> {
        if !matches!(scale, 1 | 2 | 4 | 8) {
            return Err(DecodeError::Scale(scale));
        }
        let decompressor = self.decompressor()?;
        let header = decompressor.header(jpeg)?;
        let width = header.width.div_ceil(scale);
        let height = header.height.div_ceil(scale);
        let pitch = usize::try_from(width)
            .ok()
            .and_then(|w| w.checked_mul(3))
            .ok_or(DecodeError::TooLarge)?;
        let len = usize::try_from(height)
            .ok()
            .and_then(|h| h.checked_mul(pitch))
            .ok_or(DecodeError::TooLarge)?;
        let as_int = |v: usize| c_int::try_from(v).map_err(|_| DecodeError::TooLarge);
        let (c_width, c_pitch, c_height) = (as_int(width as usize)?, as_int(pitch)?, as_int(height as usize)?);
        let size = c_ulong::try_from(jpeg.len()).map_err(|_| DecodeError::TooLarge)?;
        let mut data = vec![0u8; len];
        // SAFETY: `jpeg` is valid for `size` bytes and `data` holds `pitch * height` bytes,
        // exactly what tjDecompress2 writes for this width, pitch, height and TJPF_RGB (the
        // requested size is TJSCALED(header, 1/scale), so the library picks that scale).
        let status = unsafe {
            (self.decompress2)(
                decompressor.handle,
                jpeg.as_ptr(),
                size,
                data.as_mut_ptr(),
                c_width,
                c_pitch,
                c_height,
                TJPF_RGB,
                TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS,
            )
        };
        if status != 0 {
            return Err(DecodeError::Data);
        }
        Ok(RgbPixels { width, height, data })
    }
}

/// One decompressor instance, destroyed on every path out.
struct Decompressor<'a> {
    api: &'a TurboJpeg,
    handle: Handle,
}

impl Decompressor<'_> {
    fn header(&self, jpeg: &[u8]) -> Result<Header, DecodeError> {
        let size = c_ulong::try_from(jpeg.len()).map_err(|_| DecodeError::TooLarge)?;
        let (mut width, mut height, mut subsampling, mut colorspace) = (0, 0, 0, 0);
        // SAFETY: `jpeg` is valid for `size` bytes and the out-pointers are live locals.
        let status = unsafe {
            (self.api.decompress_header3)(
                self.handle,
                jpeg.as_ptr(),
                size,
                &mut width,
                &mut height,
                &mut subsampling,
                &mut colorspace,
            )
        };
        if status != 0 {
            return Err(DecodeError::Header);
        }
        if colorspace == TJCS_CMYK || colorspace == TJCS_YCCK {
            return Err(DecodeError::Cmyk);
        }
        match (u32::try_from(width), u32::try_from(height)) {
            (Ok(width), Ok(height)) if width > 0 && height > 0 => Ok(Header { width, height }),
            _ => Err(DecodeError::Header),
        }
    }
}

impl Drop for Decompressor<'_> {
    fn drop(&mut self) {
        // SAFETY: `handle` came from tjInitDecompress and is destroyed exactly once.
        unsafe {
            (self.api.destroy)(self.handle);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo() -> Vec<u8> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../datasets/fixtures/faces/portraits/obama.jpg"
        );
        std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// `None` only where the library is absent; CI installs it and sets
    /// `IKD_REQUIRE_TURBOJPEG=1`, so there these tests cannot pass by skipping.
    fn library() -> Option<&'static TurboJpeg> {
        let library = TurboJpeg::get();
        if library.is_none() {
            assert!(
                std::env::var_os("IKD_REQUIRE_TURBOJPEG").is_none(),
                "IKD_REQUIRE_TURBOJPEG is set but {SONAME} did not load"
            );
            eprintln!("{SONAME} is not on this machine: skipped");
        }
        library
    }

    #[test]
    fn decodes_a_real_photo_at_every_scale() {
        let Some(tj) = library() else { return };
        let jpeg = photo();
        let header = tj.header(&jpeg).unwrap();
        for scale in [1, 2, 4, 8] {
            let pixels = tj.decode_rgb(&jpeg, scale).unwrap();
            assert_eq!(pixels.width, header.width.div_ceil(scale));
            assert_eq!(pixels.height, header.height.div_ceil(scale));
            assert_eq!(pixels.data.len(), (pixels.width * pixels.height * 3) as usize);
            // A photo, not a blank buffer: its pixels vary.
            let (lo, hi) = pixels.data.iter().fold((255, 0), |(lo, hi), &v| (v.min(lo), v.max(hi)));
            assert!(hi - lo > 100, "scale {scale}: pixel range {lo}..{hi}");
        }
        assert_eq!(tj.decode_rgb(&jpeg, 3), Err(DecodeError::Scale(3)));
    }

    #[test]
    fn damaged_data_is_declined() {
        let Some(tj) = library() else { return };
        let jpeg = photo();
        assert_eq!(tj.decode_rgb(b"not a jpeg", 1), Err(DecodeError::Header));
        assert_eq!(tj.decode_rgb(&[], 1), Err(DecodeError::Header));
        assert_eq!(tj.decode_rgb(&jpeg[..jpeg.len() / 2], 1), Err(DecodeError::Data));
        let mut scribbled = jpeg.clone();
        let middle = scribbled.len() / 2;
        scribbled[middle..middle + 64].fill(0xFF);
        assert_eq!(tj.decode_rgb(&scribbled, 2), Err(DecodeError::Data));
    }
}
