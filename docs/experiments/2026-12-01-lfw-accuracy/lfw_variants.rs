//! EXPERIMENT (not built by the workspace): per-image raw embeddings under several landmark
//! strategies. Needs the hooks in hooks.patch; see README.md next to this file.
use ikd_engine::*;
use image::RgbImage;
use std::io::Write;

fn mirror_det(d: &Detection, w: f32) -> Detection {
    let m = |p: Point| Point { x: w - 1.0 - p.x, y: p.y };
    let l = d.landmarks;
    Detection {
        bbox: BoundingBox { x: w - d.bbox.x - d.bbox.width, y: d.bbox.y, width: d.bbox.width, height: d.bbox.height },
        score: d.score,
        landmarks: [m(l[1]), m(l[0]), m(l[2]), m(l[4]), m(l[3])],
    }
}

fn nearest(dets: &[Detection], c: Point) -> Option<Detection> {
    dets.iter()
        .filter(|d| d.score >= 0.5)
        .min_by(|a, b| {
            let da = (a.bbox.centre().x - c.x).powi(2) + (a.bbox.centre().y - c.y).powi(2);
            let db = (b.bbox.centre().x - c.x).powi(2) + (b.bbox.centre().y - c.y).powi(2);
            da.total_cmp(&db)
        })
        .copied()
}

fn avg(a: &[Point; 5], b: &[Point; 5]) -> [Point; 5] {
    std::array::from_fn(|i| Point { x: (a[i].x + b[i].x) / 2.0, y: (a[i].y + b[i].y) / 2.0 })
}

fn as_decoded(px: RgbImage) -> DecodedImage {
    let (w, h) = (px.width(), px.height());
    DecodedImage { pixels: px, format: "x", width: w, height: h, scale: 1.0, exif_orientation: 1 }
}

/// Re-detect on a canonical crop: the dlib template scaled by `s` centred in a 320 canvas.
fn refine(engine: &Engine, img: &DecodedImage, lm: &[Point; 5], tmpl: &[[f32; 2]; 5], s: f32, flip: bool) -> Option<[Point; 5]> {
    let off = (320.0 - 150.0 * s) / 2.0;
    let canon: [[f32; 2]; 5] = std::array::from_fn(|i| [tmpl[i][0] * s + off, tmpl[i][1] * s + off]);
    let crop = ikd_engine::align_chip(&img.pixels, lm, &canon, 320, 320)?;
    let t = crop.transform;
    let dec = as_decoded(crop.chip.clone());
    let centre = Point { x: 160.0, y: 160.0 };
    let d = nearest(&engine.detect(&dec).ok()?, centre)?;
    let mut l = d.landmarks;
    if flip {
        let fl = as_decoded(image::imageops::flip_horizontal(&crop.chip));
        let dm = nearest(&engine.detect(&fl).ok()?, centre)?;
        l = avg(&l, &mirror_det(&dm, 320.0).landmarks);
    }
    Some(l.map(|p| t.invert(p)))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let pairs = std::path::PathBuf::from(&args[1]);
    let out = &args[2];
    let root = pairs.parent().unwrap().to_path_buf();
    let text = std::fs::read_to_string(&pairs).unwrap();
    let mut images: Vec<String> = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        images.push(f[0].into());
        images.push(f[1].into());
    }
    images.sort();
    images.dedup();
    let mut cfg = EngineConfig::default();
    cfg.refine_landmarks = false;
    cfg.backend.kind = std::env::var("BACKEND").unwrap_or("onnxruntime".into()).parse().unwrap();
    let engine = Engine::new(cfg).unwrap();
    let tmpl: [[f32; 2]; 5] = [[45.665, 44.616], [101.416, 44.485], [73.359, 77.171], [49.511, 99.806], [99.002, 99.750]];
    let variants = ["base", "fliplm", "re1.5", "re2.0", "re2.0f", "re2.5"];
    let lines: Vec<String> = std::thread::scope(|s| {
        let n = 2;
        let hs: Vec<_> = (0..n)
            .map(|k| {
                let (images, engine, root) = (&images, &engine, &root);
                s.spawn(move || {
                    let mut lines = Vec::new();
                    for (i, name) in images.iter().enumerate().filter(|(i, _)| i % n == k) {
                        let bytes = std::fs::read(root.join(name)).unwrap();
                        let Ok(img) = engine.decode(&bytes) else { lines.push(format!("{name}\tdecode")); continue };
                        let dets = engine.detect(&img).unwrap_or_default();
                        let c = Point { x: img.width as f32 / 2.0, y: img.height as f32 / 2.0 };
                        let Some(d0) = nearest(&dets, c) else { lines.push(format!("{name}\tnoface")); continue };
                        let d = d0.scaled(img.scale);
                        let mut lms: Vec<Option<[Point; 5]>> = vec![Some(d.landmarks)];
                        let fl = as_decoded(image::imageops::flip_horizontal(&img.pixels));
                        let w = img.pixels.width() as f32;
                        let mc = mirror_det(&d, w).bbox.centre();
                        lms.push(engine.detect(&fl).ok().and_then(|ds| nearest(&ds, mc)).map(|m| avg(&d.landmarks, &mirror_det(&m, w).landmarks)));
                        lms.push(refine(engine, &img, &d.landmarks, &tmpl, 1.5, false));
                        lms.push(refine(engine, &img, &d.landmarks, &tmpl, 2.0, false));
                        lms.push(refine(engine, &img, &d.landmarks, &tmpl, 2.0, true));
                        lms.push(refine(engine, &img, &d.landmarks, &tmpl, 2.5, false));
                        for (v, lm) in variants.iter().zip(&lms) {
                            let Some(lm) = lm else { lines.push(format!("{name}\t{v}\tfail")); continue };
                            let Some(a) = ikd_engine::align_chip(&img.pixels, lm, &tmpl, 150, 150) else { continue };
                            let e1 = engine.embed_raw(&a).unwrap();
                            let mut f = a.clone();
                            f.chip = image::imageops::flip_horizontal(&a.chip);
                            let e2 = engine.embed_raw(&f).unwrap();
                            let vals: Vec<String> = e1.iter().chain(&e2).map(|x| format!("{x:.6}")).collect();
                            lines.push(format!("{name}\t{v}\tok\t{}", vals.join(" ")));
                        }
                        if i % 200 == k { eprintln!("{i}/{}", images.len()); }
                    }
                    lines
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut f = std::fs::File::create(out).unwrap();
    for l in lines { writeln!(f, "{l}").unwrap(); }
}
