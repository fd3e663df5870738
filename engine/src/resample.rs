//! Resampling for the hot path: box-filter downscaling (averages each output pixel's whole
//! footprint: no aliasing, several times cheaper than a general-purpose resize of a large
//! photo) and bilinear upscaling.

use image::RgbImage;

/// Resamples `image` to `nw` x `nh` as RGB8.
pub fn resize(image: &RgbImage, nw: u32, nh: u32) -> RgbImage {
    let mut out = RgbImage::new(nw, nh);
    let stride = nw as usize * 3;
    let buf: &mut [u8] = &mut out;
    resample_into(image, nw as usize, nh as usize, |x, y, px| {
        let at = y * stride + x * 3;
        for c in 0..3 {
            buf[at + c] = px[c].round().clamp(0.0, 255.0) as u8;
        }
    });
    out
}

/// Resamples `image` to `nw` x `nh` and hands every output pixel (as f32 RGB) to `put`.
/// Downscaling averages each output pixel's whole footprint (a box filter: no aliasing, and
/// several times cheaper than a general-purpose resize of a large photo); upscaling is bilinear.
pub fn resample_into(image: &RgbImage, nw: usize, nh: usize, mut put: impl FnMut(usize, usize, [f32; 3])) {
    let (w, h) = (image.width() as usize, image.height() as usize);
    if w == 0 || h == 0 || nw == 0 || nh == 0 {
        return;
    }
    let src = image.as_raw();
    let (kx, ky) = (w as f32 / nw as f32, h as f32 / nh as f32);
    if kx >= 1.0 && ky >= 1.0 {
        let span = |i: usize, k: f32, n: usize| {
            let a = ((i as f32 * k) as usize).min(n - 1);
            let b = (((i + 1) as f32 * k).ceil() as usize).clamp(a + 1, n);
            (a, b)
        };
        let xs: Vec<(usize, usize)> = (0..nw).map(|x| span(x, kx, w)).collect();
        for y in 0..nh {
            let (y0, y1) = span(y, ky, h);
            for (x, &(x0, x1)) in xs.iter().enumerate() {
                let mut acc = [0u32; 3];
                for row in y0..y1 {
                    let line = &src[(row * w + x0) * 3..(row * w + x1) * 3];
                    for px in line.chunks_exact(3) {
                        acc[0] += u32::from(px[0]);
                        acc[1] += u32::from(px[1]);
                        acc[2] += u32::from(px[2]);
                    }
                }
                let n = ((y1 - y0) * (x1 - x0)) as f32;
                put(x, y, acc.map(|v| v as f32 / n));
            }
        }
    } else {
        for y in 0..nh {
            let fy = ((y as f32 + 0.5) * ky - 0.5).clamp(0.0, (h - 1) as f32);
            let (y0, wy) = (fy as usize, fy.fract());
            let y1 = (y0 + 1).min(h - 1);
            for x in 0..nw {
                let fx = ((x as f32 + 0.5) * kx - 0.5).clamp(0.0, (w - 1) as f32);
                let (x0, wx) = (fx as usize, fx.fract());
                let x1 = (x0 + 1).min(w - 1);
                let p = |xx: usize, yy: usize, c: usize| f32::from(src[(yy * w + xx) * 3 + c]);
                let v = std::array::from_fn(|c| {
                    let top = p(x0, y0, c) * (1.0 - wx) + p(x1, y0, c) * wx;
                    let bottom = p(x0, y1, c) * (1.0 - wx) + p(x1, y1, c) * wx;
                    top * (1.0 - wy) + bottom * wy
                });
                put(x, y, v);
            }
        }
    }
}
