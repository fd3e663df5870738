//! The holder's portrait (the credential photo) and the offline face check, on real faces.

use crate::common::{engine, read};
use ikd_engine::portrait::{is_portrait_size, PORTRAIT_SIZES};
use ikd_engine::{Decision, FacePolicy, Reason};

/// Five Essex faces94 people, two photos each: (live, gallery side).
const PEOPLE: [&str; 5] = ["anpage", "asamma", "drbost", "ekavaz", "mbutle"];

fn photo(person: &str, n: u32) -> Vec<u8> {
    read(&format!("essex94/{person}/{person}.{n}.jpg"))
}

#[test]
fn portraits_keep_their_budget_and_geometry() {
    let e = engine();
    let id_photo = read("portraits/obama.jpg");
    for budget in [800, 1200, 1600, 2000] {
        let p = e.portrait(&id_photo, FacePolicy::Single, budget).expect("portrait");
        assert!(p.jpeg.len() <= budget, "{} bytes > {budget}", p.jpeg.len());
        assert!(PORTRAIT_SIZES.contains(&(p.width, p.height)));
        let decoded = image::load_from_memory(&p.jpeg).expect("a JPEG").to_rgb8();
        assert_eq!((decoded.width(), decoded.height()), (p.width, p.height));
        // Two independent decoders (zune-jpeg through `image`, and jpeg-decoder) see the same
        // picture: a verifier's choice of decoder must not change the face.
        let other = jpeg_decoder::Decoder::new(std::io::Cursor::new(&p.jpeg))
            .decode()
            .expect("jpeg-decoder reads it");
        assert_eq!(other.len(), decoded.as_raw().len());
        let diff = other
            .iter()
            .zip(decoded.as_raw())
            .map(|(a, b)| f64::from(a.abs_diff(*b)))
            .sum::<f64>()
            / other.len() as f64;
        assert!(diff < 1.0, "decoders disagree by {diff:.1} per channel at {budget} B");
        assert!(is_portrait_size(p.width, p.height));
    }
    // A generous budget keeps a larger size or a higher quality; a tight one steps down.
    let big = e.portrait(&id_photo, FacePolicy::Single, 2000).unwrap();
    let small = e.portrait(&id_photo, FacePolicy::Single, 800).unwrap();
    assert!(big.width > small.width || big.quality > small.quality);
    assert!(small.jpeg.len() < big.jpeg.len());
    // Below the lowest quality no portrait is made, however small the budget.
    assert!(e.portrait(&id_photo, FacePolicy::Single, 500).is_err());
    // An ID photo without an acceptable face has no portrait, with the engine's reason.
    let err = e
        .portrait(&read("portraits/obama_and_biden.jpg"), FacePolicy::Single, 1000)
        .unwrap_err();
    assert_eq!(err.reason(), Some(Reason::MultipleFaces));
}

#[test]
fn the_same_person_matches_their_portrait_and_others_do_not() {
    let e = engine();
    let portraits: Vec<Vec<u8>> = PEOPLE
        .iter()
        .map(|p| {
            e.portrait(&photo(p, 1), FacePolicy::Single, 800)
                .expect("portrait")
                .jpeg
        })
        .collect();
    for (i, person) in PEOPLE.iter().enumerate() {
        let live = photo(person, 5);
        for (j, portrait) in portraits.iter().enumerate() {
            let c = e.compare_with_portrait(&live, portrait).expect("no engine fault");
            let want = if i == j { Decision::Match } else { Decision::NoMatch };
            assert_eq!(
                c.verdict.decision, want,
                "live {person} vs portrait of {}: score {:?} (threshold {})",
                PEOPLE[j], c.verdict.score, c.verdict.threshold
            );
        }
    }
    // Obama's own photos, across years and lighting.
    let obama = e
        .portrait(&read("portraits/obama.jpg"), FacePolicy::Single, 800)
        .unwrap()
        .jpeg;
    let c = e.compare_with_portrait(&read("portraits/obama2.jpg"), &obama).unwrap();
    assert_eq!(c.verdict.decision, Decision::Match, "score {:?}", c.verdict.score);
    let c = e.compare_with_portrait(&read("portraits/biden.jpg"), &obama).unwrap();
    assert_eq!(c.verdict.decision, Decision::NoMatch, "score {:?}", c.verdict.score);
}

#[test]
fn what_is_not_a_portrait_is_refused_with_a_reason() {
    let e = engine();
    let live = read("portraits/obama2.jpg");
    // A full photo does not have the portrait geometry.
    let c = e.compare_with_portrait(&live, &read("portraits/obama.jpg")).unwrap();
    assert_eq!(c.verdict.decision, Decision::Rejected);
    assert_eq!(c.verdict.reason, Some(Reason::NoPortrait));
    // Garbage and truncated JPEGs are refused, never a panic.
    let good = e
        .portrait(&read("portraits/obama.jpg"), FacePolicy::Single, 800)
        .unwrap()
        .jpeg;
    for bad in [&b"not an image"[..], &good[..good.len() / 2], &[]] {
        let c = e.compare_with_portrait(&live, bad).unwrap();
        assert_eq!(c.verdict.decision, Decision::Rejected);
        assert!(c.verdict.reason.is_some());
    }
    // The live side keeps its gates: two faces are refused.
    let c = e
        .compare_with_portrait(&read("portraits/obama_and_biden.jpg"), &good)
        .unwrap();
    assert_eq!(c.verdict.reason, Some(Reason::MultipleFaces));
}
