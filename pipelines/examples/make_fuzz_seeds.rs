//! Writes the seed corpora of the fuzz targets (`fuzz/corpus/<target>/`): small valid inputs of
//! every kind each parser takes, so the fuzzer starts inside the formats rather than at their
//! first byte. Run once; the fuzzer's minimised corpora are committed on top.
//!
//! ```sh
//! cargo run --release -p ikd-pipelines --example make_fuzz_seeds -- fuzz/corpus
//! ```

use anyhow::Context;
use arrow::array::{ArrayRef, RecordBatch, StringArray};
use ikd_engine::credential::fuzzing;
use image::{DynamicImage, ImageFormat};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn put(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(name), bytes).with_context(|| format!("writing {name}"))
}

fn with_prefix(prefix: u8, bytes: &[u8]) -> Vec<u8> {
    [&[prefix][..], bytes].concat()
}

fn main() -> anyhow::Result<()> {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "fuzz/corpus".into()));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");

    // Image intake: one small face in every format the engine reads, EXIF, grey, alpha, 16 bit.
    let images = out.join("image_intake");
    let face = image::open(root.join("datasets/fixtures/faces/portraits/obama.jpg"))?.resize(
        72,
        90,
        image::imageops::FilterType::Triangle,
    );
    let encode = |img: &DynamicImage, format: ImageFormat| -> Option<Vec<u8>> {
        let mut buf = Cursor::new(Vec::new());
        img.write_to(&mut buf, format).ok().map(|_| buf.into_inner())
    };
    for (name, format) in [
        ("face.jpg", ImageFormat::Jpeg),
        ("face.png", ImageFormat::Png),
        ("face.webp", ImageFormat::WebP),
        ("face.gif", ImageFormat::Gif),
        ("face.bmp", ImageFormat::Bmp),
        ("face.tiff", ImageFormat::Tiff),
        ("face.pnm", ImageFormat::Pnm),
    ] {
        match encode(&DynamicImage::ImageRgb8(face.to_rgb8()), format) {
            Some(bytes) => put(&images, name, &bytes)?,
            None => eprintln!("{name}: this build cannot encode {format:?}"),
        }
    }
    let jpeg = encode(&DynamicImage::ImageRgb8(face.to_rgb8()), ImageFormat::Jpeg).context("jpeg")?;
    put(&images, "exif-6.jpg", &ikd_datasets::with_exif_orientation(&jpeg, 6))?;
    put(
        &images,
        "grey.jpg",
        &encode(&DynamicImage::ImageLuma8(face.to_luma8()), ImageFormat::Jpeg).context("grey")?,
    )?;
    put(
        &images,
        "rgba.png",
        &encode(&DynamicImage::ImageRgba8(face.to_rgba8()), ImageFormat::Png).context("rgba")?,
    )?;
    put(
        &images,
        "rgb16.png",
        &encode(&DynamicImage::ImageRgb16(face.to_rgb16()), ImageFormat::Png).context("16")?,
    )?;
    // (A credential portrait: optimised Huffman tables, 4:4:4.)
    let photo = std::fs::read(root.join("credential/tests/fixtures/holder_64x80.jpg"))?;
    put(&images, "holder.jpg", &photo)?;

    // Credentials: signed and encrypted, with and without a photo; their binary layers; JWKS.
    for (i, text) in fuzzing::seed_credentials(Some(&photo)).iter().enumerate() {
        put(
            &out.join("credential_text"),
            &format!("credential-{i}.txt"),
            text.as_bytes(),
        )?;
    }
    for (i, layer) in fuzzing::seed_layers().iter().enumerate() {
        put(&out.join("credential_cbor"), &format!("layer-{i}.bin"), layer)?;
    }
    put(&out.join("jwks"), "fixed.json", fuzzing::seed_jwks().as_bytes())?;
    let mut keys = ikd_engine::credential::KeySet::new();
    for alg in [
        ikd_engine::credential::Algorithm::EdDsa,
        ikd_engine::credential::Algorithm::Es256,
    ] {
        keys.insert(ikd_engine::credential::IssuerKey::generate(alg)?.public_key().clone())?;
    }
    put(&out.join("jwks"), "ed25519-es256.json", keys.to_jwks().as_bytes())?;

    // Requests: the demo's first rows as CSV (selector 0) and as Parquet (selector 1).
    let demo = tempfile::tempdir()?;
    let manifest = ikd_datasets::generate_demo(&ikd_datasets::DemoConfig::default(), demo.path())?;
    let csv = std::fs::read_to_string(&manifest.requests_csv)?;
    let head: String = csv.lines().take(12).map(|l| format!("{l}\n")).collect();
    put(
        &out.join("requests_table"),
        "demo.csv",
        &with_prefix(0, head.as_bytes()),
    )?;
    let crlf = head.replace('\n', "\r\n");
    put(
        &out.join("requests_table"),
        "demo-crlf-bom.csv",
        &with_prefix(0, &[b"\xEF\xBB\xBF", crlf.as_bytes()].concat()),
    )?;
    let mut reader = csv::Reader::from_reader(head.as_bytes());
    let header = reader.headers()?.clone();
    let records: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>()?;
    let columns: Vec<(String, ArrayRef)> = header
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let values: Vec<&str> = records.iter().map(|r| r.get(i).unwrap_or("")).collect();
            (name.to_string(), Arc::new(StringArray::from(values)) as ArrayRef)
        })
        .collect();
    let batch = RecordBatch::try_from_iter(columns)?;
    let mut parquet = Vec::new();
    {
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut parquet, batch.schema(), None)?;
        w.write(&batch)?;
        w.close()?;
    }
    put(&out.join("requests_table"), "demo.parquet", &with_prefix(1, &parquet))?;

    // A gallery part of province 31, as `ikd gallery build` writes it (page index, encodings).
    let mut config = ikd_engine::EngineConfig::default();
    config.quality.min_sharpness = 0.0;
    let engine = ikd_engine::Engine::new(config)?;
    let gallery = demo.path().join("gallery-db");
    ikd_pipelines::batch::gallery::build(
        &engine,
        &ikd_pipelines::batch::gallery::GalleryBuildConfig::new(manifest.gallery_csv.clone(), gallery.clone()),
    )?;
    let part = gallery.join("province=31/part-00000.parquet");
    put(&out.join("gallery_part"), "province-31.parquet", &std::fs::read(&part)?)?;

    // TOML: the bundled manifest (selector 0) and the default engine configuration (selector 1).
    let manifest_toml = std::fs::read(root.join("models/manifest.toml"))?;
    put(
        &out.join("config_toml"),
        "manifest.toml",
        &with_prefix(0, &manifest_toml),
    )?;
    let config = toml::to_string(&ikd_engine::EngineConfig::default())?;
    put(
        &out.join("config_toml"),
        "config.toml",
        &with_prefix(1, config.as_bytes()),
    )?;
    eprintln!("seeds written under {}", out.display());
    Ok(())
}
