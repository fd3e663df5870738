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
        if let Some(out) = buf.get_mut(at..at + 3) {
            // Values lie in 0..=255: adding 0.5 and truncating is `round()` without the libm
            // call that took 5 % of a phone-photo run (`as` saturates, so no clamp is needed).
            for (o, v) in out.iter_mut().zip(px) {
                *o = (v + 0.5) as u8;
            }
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
        let xs: Vec<(usize, usize, f32)> = (0..nw)
            .map(|x| {
                let (a, b) = span(x, kx, w);
                (a, b, 1.0 / (b - a) as f32)
            })
            .collect();
        // Sum the footprint's rows once per output row (column sums), then each output pixel
        // adds up its few columns: each source pixel is read once per output row it feeds.
        let mut columns = vec![0u32; w * 3];
        for y in 0..nh {
            let (y0, y1) = span(y, ky, h);
            columns.fill(0);
            for row in src[y0 * w * 3..y1 * w * 3].chunks_exact(w * 3) {
                for (acc, &v) in columns.iter_mut().zip(row) {
                    *acc += u32::from(v);
                }
            }
            let inv_rows = 1.0 / (y1 - y0) as f32;
            for (x, &(x0, x1, inv_cols)) in xs.iter().enumerate() {
                let mut acc = [0u32; 3];
                for px in columns[x0 * 3..x1 * 3].chunks_exact(3) {
                    acc[0] += px[0];
                    acc[1] += px[1];
                    acc[2] += px[2];
                }
                let inv = inv_rows * inv_cols;
                put(x, y, acc.map(|v| v as f32 * inv));
            }
        }
    } else {
        for y in 0..nh {
            let fy = ((y as f32 + 0.5) * ky - 0.5).clamp(0.0, (h - 1) as f32);
            // fy >= 0: truncation is floor, and no libm call per pixel as with `fract()`.
            let y0 = fy as usize;
            let wy = fy - y0 as f32;
            let y1 = (y0 + 1).min(h - 1);
            for x in 0..nw {
                let fx = ((x as f32 + 0.5) * kx - 0.5).clamp(0.0, (w - 1) as f32);
                let x0 = fx as usize;
                let wx = fx - x0 as f32;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_downscale_averages_each_footprint() {
        // 4x2 -> 2x1: each output pixel is the mean of a 2x2 block.
        let mut img = RgbImage::new(4, 2);
        for (x, y, px) in img.enumerate_pixels_mut() {
            *px = image::Rgb([(10 * x + 100 * y) as u8, 7, 200]);
        }
        let mut seen = Vec::new();
        resample_into(&img, 2, 1, |x, y, px| seen.push((x, y, px)));
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0], (0, 0, [55.0, 7.0, 200.0]));
        assert_eq!(seen[1], (1, 0, [75.0, 7.0, 200.0]));
    }

    #[test]
    fn resize_keeps_a_flat_image_flat() {
        let img = RgbImage::from_pixel(37, 53, image::Rgb([12, 34, 56]));
        for (w, h) in [(10, 14), (37, 53), (80, 100)] {
            let out = resize(&img, w, h);
            assert_eq!(out.dimensions(), (w, h));
            assert!(out.pixels().all(|p| p.0 == [12, 34, 56]), "{w}x{h}");
        }
    }
}
