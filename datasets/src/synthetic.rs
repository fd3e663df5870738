//! A synthetic province for scale measurements: N valid, unique NIKs of one province and, per
//! entry and embedder, a template sampled around a real one.
//!
//! A sample is `normalise(t + sigma * g)` for a real template `t` (unit length, `d` values) and
//! Gaussian noise `g`, with `sigma = sqrt(spread / d)`. Its cosine to `t` is about
//! `1 / sqrt(1 + spread)` and two samples around the same `t` have cosine about
//! `1 / (1 + spread)`: with the default spread of 5, about 0.41 and 0.17, i.e. other people
//! that share a little of a real face's direction, as entries of a real registry do. No
//! synthetic entry matches another one or a real person at the engine's thresholds.

use crate::nik::synthetic_nik;
use crate::rng::DemoRng;

/// Default noise-to-signal energy of a sample (see the module docs).
pub const DEFAULT_SPREAD: f64 = 5.0;

/// `n` unique valid NIKs of `province`, sorted, from `seed`.
pub fn synthetic_niks(province: u8, n: usize, seed: u64) -> Vec<String> {
    let mut rng = DemoRng::derive(seed, "synthetic-niks");
    let mut niks = Vec::with_capacity(n + n / 50 + 16);
    while niks.len() < n {
        let missing = n - niks.len();
        for _ in 0..missing + missing / 50 + 16 {
            let regency = rng.range(1, 99) as u8;
            let district = rng.range(1, 99) as u8;
            let birth = (rng.range(1, 28) as u8, rng.range(1, 12) as u8, rng.range(0, 99) as u8);
            let female = rng.chance(0.5);
            let serial = rng.range(1, 9999) as u16;
            niks.push(synthetic_nik(
                &mut rng, province, regency, district, birth, female, serial,
            ));
        }
        niks.sort_unstable();
        niks.dedup();
    }
    // Dropping random surplus entries (not the tail) keeps the NIKs spread over the range.
    let mut rng = DemoRng::derive(seed, "synthetic-niks-drop");
    let mut dropped = std::collections::HashSet::new();
    while niks.len() - dropped.len() > n {
        dropped.insert(rng.below(niks.len() as u64) as usize);
    }
    niks.into_iter()
        .enumerate()
        .filter(|(i, _)| !dropped.contains(i))
        .map(|(_, s)| s)
        .collect()
}

/// Samples templates around real ones.
pub struct TemplateSampler {
    rng: DemoRng,
    spread: f64,
}

impl TemplateSampler {
    pub fn new(seed: u64, spread: f64) -> Self {
        TemplateSampler {
            rng: DemoRng::derive(seed, "synthetic-templates"),
            spread,
        }
    }

    /// An index in `0..n` (which real entry the next entry is sampled around).
    pub fn pick(&mut self, n: usize) -> usize {
        self.rng.below(n.max(1) as u64) as usize
    }

    fn gaussian(&mut self) -> f64 {
        // Box-Muller; `unit` is in [0, 1), so 1 - u is in (0, 1].
        let (u, v) = (1.0 - self.rng.unit(), self.rng.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// A unit-length sample around `template` (see the module docs).
    pub fn sample(&mut self, template: &[f32]) -> Vec<f32> {
        let norm = template
            .iter()
            .map(|x| f64::from(*x).powi(2))
            .sum::<f64>()
            .sqrt()
            .max(1e-12);
        let sigma = (self.spread / template.len().max(1) as f64).sqrt();
        let v: Vec<f64> = template
            .iter()
            .map(|x| f64::from(*x) / norm + sigma * self.gaussian())
            .collect();
        let n = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
        v.iter().map(|x| (x / n) as f32).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ikd_engine::nik::Nik;

    #[test]
    fn niks_are_valid_unique_sorted_and_of_the_province() {
        let niks = synthetic_niks(33, 5000, 7);
        assert_eq!(niks.len(), 5000);
        assert!(niks.windows(2).all(|w| w[0] < w[1]));
        for n in &niks {
            assert_eq!(Nik::parse(n).unwrap().province_code(), 33);
        }
        assert_eq!(niks, synthetic_niks(33, 5000, 7), "deterministic");
        assert_ne!(niks, synthetic_niks(33, 5000, 8));
    }

    #[test]
    fn samples_share_the_expected_part_of_the_real_template() {
        let d = 128;
        let t: Vec<f32> = (0..d).map(|i| if i % 2 == 0 { 1.0 } else { -0.5 }).collect();
        let tn: f32 = t.iter().map(|x| x * x).sum::<f32>().sqrt();
        let mut s = TemplateSampler::new(1, DEFAULT_SPREAD);
        let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        let (a, b) = (s.sample(&t), s.sample(&t));
        assert!((a.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-4);
        let ca = cos(&a, &t) / tn;
        assert!((0.3..0.55).contains(&ca), "cosine to the template {ca}");
        let cab = cos(&a, &b);
        assert!((0.0..0.35).contains(&cab), "cosine between samples {cab}");
    }
}
