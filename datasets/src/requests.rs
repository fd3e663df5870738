//! The requests of a demo: genuine ones (another photo of the NIK's owner), impostors (someone
//! else's photo for a gallery NIK, of the same gender when possible) and the bad rows, shuffled.

use std::collections::HashSet;

use crate::bad_rows;
use crate::config::DemoConfig;
use crate::expected::Expected;
use crate::people::Identity;
use crate::planned::{genuine_selfie, Planned};
use crate::rng::DemoRng;

/// Every request row of a demo, in file order.
pub(crate) fn plan_requests(config: &DemoConfig, ids: &[Identity], used: &mut HashSet<String>) -> Vec<Planned> {
    let mut rng = DemoRng::derive(config.seed, "requests");
    let mut plan = Vec::new();
    let exif_rate = config.exif_rotation_rate.clamp(0.0, 1.0);

    // Genuine.
    for id in ids {
        if id.others.is_empty() {
            continue;
        }
        let start = rng.below(id.others.len() as u64) as usize;
        for k in 0..config.requests_per_identity {
            let photo = id.others[(start + k) % id.others.len()].clone();
            let note = format!("genuine: {}", photo.label);
            plan.push(Planned {
                claim: id.claim(),
                selfie: genuine_selfie(&mut rng, photo, exif_rate),
                expected: Expected::Match,
                note,
            });
        }
    }
    let genuine = plan.len();

    // Impostors: another person of the same gender when possible.
    let impostors = (genuine as f64 * config.impostor_rate.clamp(0.0, 10.0)).round() as usize;
    if ids.len() >= 2 {
        for _ in 0..impostors {
            let a = rng.below(ids.len() as u64) as usize;
            let same: Vec<usize> = (0..ids.len())
                .filter(|&b| b != a && ids[b].female == ids[a].female)
                .collect();
            let b = match rng.pick(&same) {
                Some(&b) => b,
                None => (a + 1) % ids.len(),
            };
            let photo = rng
                .pick(&ids[b].others)
                .cloned()
                .unwrap_or_else(|| ids[b].gallery.clone());
            let note = format!("impostor: {} claims {}", photo.label, ids[a].gallery.label);
            plan.push(Planned {
                claim: ids[a].claim(),
                selfie: genuine_selfie(&mut rng, photo, exif_rate),
                expected: Expected::NoMatch,
                note,
            });
        }
    }

    if config.bad_rows && !ids.is_empty() {
        bad_rows::plan_bad_rows(config, ids, used, &mut rng, &mut plan);
    }
    rng.shuffle(&mut plan);
    plan
}
