//! EXPERIMENT (not built by the workspace): embeddings of jittered chips around the refined
//! landmarks. Needs the hooks in hooks.patch; see README.md next to this file.
use ikd_engine::*;
use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let pairs = std::path::PathBuf::from(&args[1]);
    let root = pairs.parent().unwrap().to_path_buf();
    let text = std::fs::read_to_string(&pairs).unwrap();
    let mut images: Vec<String> = text.lines().skip(1).flat_map(|l| l.split(',').take(2).map(String::from).collect::<Vec<_>>()).collect();
    images.sort();
    images.dedup();
    let mut cfg = EngineConfig::default();
    cfg.backend.kind = "onnxruntime".parse().unwrap();
    cfg.flip_augment = false;
    let engine = Engine::new(cfg).unwrap();
    // (scale, dx, dy) in chip pixels
    let jit: [(f32, f32, f32); 7] = [(1.0, 0.0, 0.0), (0.96, 0.0, 0.0), (1.04, 0.0, 0.0), (1.0, 2.0, 0.0), (1.0, -2.0, 0.0), (1.0, 0.0, 2.0), (1.0, 0.0, -2.0)];
    let lines: Vec<String> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2usize)
            .map(|k| {
                let (images, engine, root) = (&images, &engine, &root);
                s.spawn(move || {
                    let mut lines = Vec::new();
                    for (i, name) in images.iter().enumerate().filter(|(i, _)| i % 2 == k) {
                        let bytes = std::fs::read(root.join(name)).unwrap();
                        let Ok(img) = engine.decode(&bytes) else { continue };
                        let dets = engine.detect(&img).unwrap_or_default();
                        let c = Point { x: img.width as f32 / 2.0, y: img.height as f32 / 2.0 };
                        let Some(d) = dets.iter().filter(|d| d.score >= 0.5).min_by(|a, b| {
                            let da = (a.bbox.centre().x - c.x).powi(2) + (a.bbox.centre().y - c.y).powi(2);
                            let db = (b.bbox.centre().x - c.x).powi(2) + (b.bbox.centre().y - c.y).powi(2);
                            da.total_cmp(&db)
                        }) else { continue };
                        let d = engine.refine(&img, d).unwrap();
                        let base = engine.align(&img, &d).unwrap();
                        let t = base.transform;
                        for (j, (f, dx, dy)) in jit.iter().enumerate() {
                            // jitter in chip space: chip point q -> (q - 75) * f + 75 + (dx, dy); move landmarks by the inverse
                            let lm = d.landmarks.map(|p| {
                                let q = t.apply(Point { x: p.x * img.scale, y: p.y * img.scale });
                                let q2 = Point { x: (q.x - 75.0 - dx) / f + 75.0, y: (q.y - 75.0 - dy) / f + 75.0 };
                                let b = t.invert(q2);
                                Point { x: b.x / img.scale, y: b.y / img.scale }
                            });
                            let dj = Detection { landmarks: lm, ..d };
                            let a = engine.align(&img, &dj).unwrap();
                            let e1 = engine.embed_raw(&a).unwrap();
                            let mut fl = a.clone();
                            fl.chip = image::imageops::flip_horizontal(&a.chip);
                            let e2 = engine.embed_raw(&fl).unwrap();
                            let vals: Vec<String> = e1.iter().chain(&e2).map(|x| format!("{x:.6}")).collect();
                            lines.push(format!("{name}\tj{j}\tok\t{}", vals.join(" ")));
                        }
                        if i % 500 == k { eprintln!("{i}"); }
                    }
                    lines
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut f = std::fs::File::create(&args[2]).unwrap();
    for l in lines { writeln!(f, "{l}").unwrap(); }
}
