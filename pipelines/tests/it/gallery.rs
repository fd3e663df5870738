use crate::common::{engine, fixture, gallery_engine, read_table};
use ikd_pipelines::batch::gallery::{build, GalleryBuildConfig};
use ikd_pipelines::batch::index::GalleryIndex;
use std::collections::BTreeSet;

#[test]
fn gallery_is_partitioned_by_province_and_indexed() {
    let f = fixture();
    let rows = read_table(&f.gallery);
    assert_eq!(rows.len(), f.demo.gallery_count, "every demo gallery photo is embedded");
    let mut provinces = BTreeSet::new();
    for p in std::fs::read_dir(&f.gallery).unwrap().flatten() {
        let name = p.file_name().to_string_lossy().into_owned();
        if let Some(code) = name.strip_prefix("province=") {
            provinces.insert(code.parse::<u8>().unwrap());
            let t = read_table(&p.path());
            assert!(
                t.iter().all(|r| r["nik"].starts_with(code)),
                "rows of {name} belong to it"
            );
        }
    }
    let one = *provinces.iter().next().unwrap();
    let idx = GalleryIndex::load(&f.gallery, &BTreeSet::from([one]), engine().embedding_dims()).unwrap();
    let in_one = rows
        .iter()
        .filter(|r| r["nik"].starts_with(&format!("{one:02}")))
        .count();
    assert_eq!(idx.len(), in_one, "only the asked province is loaded");
    for r in rows.iter().filter(|r| r["nik"].starts_with(&format!("{one:02}"))) {
        let key: u64 = r["nik"].parse().unwrap();
        let e = idx.get(key).expect("lookup");
        assert_eq!(e.embedding.len(), engine().embedding_dims());
        assert_eq!(ikd_pipelines::batch::hex(e.photo_sha256), r["photo_sha256"]);
    }
    assert!(idx.get(1).is_none());
}

#[test]
fn gallery_rebuild_adds_only_new_niks_and_rejects_bad_rows() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let src = std::fs::read_to_string(&f.demo.gallery_csv).unwrap();
    let lines: Vec<&str> = src.lines().collect();
    let photos_dir = f.demo.gallery_csv.parent().unwrap();
    // Paths stay relative to the CSV: write the CSVs next to the demo gallery.csv.
    let first = photos_dir.join("it-first.csv");
    let second = photos_dir.join("it-second.csv");
    std::fs::write(&first, lines[..5].join("\n") + "\n").unwrap();
    let mut more = lines[..9].to_vec();
    more.push("1234,photos/none.jpg,Bad Nik,1990-01-01,male");
    more.push("3171014101900001,photos/does-not-exist.jpg,Missing,1990-01-01,female");
    std::fs::write(&second, more.join("\n") + "\n").unwrap();
    let out = dir.path().join("g");
    let r1 = build(gallery_engine(), &GalleryBuildConfig::new(first, out.clone())).unwrap();
    assert_eq!((r1.added, r1.already_present, r1.rejected), (4, 0, 0));
    let before: Vec<_> = r1
        .files_written
        .iter()
        .map(|p| (p.clone(), std::fs::read(p).unwrap()))
        .collect();
    let r2 = build(gallery_engine(), &GalleryBuildConfig::new(second, out.clone())).unwrap();
    assert_eq!((r2.added, r2.already_present, r2.rejected), (4, 4, 2));
    assert_eq!(r2.rejects_by_reason.get("invalid_nik"), Some(&1));
    assert_eq!(r2.rejects_by_reason.get("file_not_found"), Some(&1));
    for (p, bytes) in before {
        assert_eq!(
            std::fs::read(&p).unwrap(),
            bytes,
            "existing part files are not rewritten"
        );
    }
    let all: Vec<_> = read_table(&out)
        .into_iter()
        .filter(|r| r.contains_key("embedding"))
        .collect();
    assert_eq!(all.len(), 8);
    let niks: BTreeSet<_> = all.iter().map(|r| r["nik"].clone()).collect();
    assert_eq!(niks.len(), 8, "no NIK embedded twice");
    let rejects = read_table(&out.join("rejects"));
    assert_eq!(rejects.len(), 2);
    let r3 = build(
        gallery_engine(),
        &GalleryBuildConfig::new(photos_dir.join("it-first.csv"), out),
    )
    .unwrap();
    assert_eq!((r3.added, r3.already_present), (0, 4));
}
