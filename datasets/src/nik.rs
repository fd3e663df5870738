//! NIKs: synthetic ones that always pass [`ikd_engine::nik::Nik::parse`], and the unique NIK
//! (and birth date) of each demo identity in one of the demo's regions.

use ikd_engine::nik::{days_in_month, province_name, PROVINCES};

use std::collections::HashSet;

use crate::rng::DemoRng;

/// Build a synthetic NIK `PPRRSSDDMMYYSSSS` from its parts.
///
/// The result is guaranteed to pass [`ikd_engine::nik::Nik::parse`]: every part that would make
/// it invalid is replaced by a random valid value drawn from `rng` (an unknown `province` by a
/// random Kemendagri code, a `regency`/`district` of 0 or above 99 by one in 1..=99, an
/// impossible `birth = (day, month, yy)` by a random real date in the same two-digit year,
/// a `serial` of 0 or above 9999 by one in 1..=9999). Valid parts are used unchanged, and then
/// `rng` is not touched. `female` adds 40 to the day.
pub fn synthetic_nik(
    rng: &mut DemoRng,
    province: u8,
    regency: u8,
    district: u8,
    birth: (u8, u8, u8),
    female: bool,
    serial: u16,
) -> String {
    let province = if province_name(province).is_some() {
        province
    } else {
        rng.pick(&PROVINCES).map(|(c, _)| *c).unwrap_or(31)
    };
    let mut two_digit = |v: u8| {
        if (1..=99).contains(&v) {
            v
        } else {
            rng.range(1, 99) as u8
        }
    };
    let regency = two_digit(regency);
    let district = two_digit(district);
    let (mut day, mut month, mut yy) = birth;
    if yy > 99 {
        yy %= 100;
    }
    if !(1..=12).contains(&month) {
        month = rng.range(1, 12) as u8;
    }
    if day == 0 || day > days_in_month(month, yy) {
        day = rng.range(1, u32::from(days_in_month(month, yy))) as u8;
    }
    let day = if female { day + 40 } else { day };
    let serial = if (1..=9999).contains(&serial) {
        serial
    } else {
        rng.range(1, 9999) as u16
    };
    format!("{province:02}{regency:02}{district:02}{day:02}{month:02}{yy:02}{serial:04}")
}

/// Regions used for the demo: province code and a few real regency / city codes.
pub(crate) const REGIONS: [(u8, &[u8]); 5] = [
    (31, &[71, 72, 73, 74, 75]), // DKI Jakarta: the five kota administrasi
    (32, &[1, 4, 73, 75]),       // Jawa Barat: Kab. Bogor, Kab. Bandung, Kota Bandung, Kota Bekasi
    (35, &[7, 15, 73, 78]),      // Jawa Timur: Kab. Malang, Sidoarjo, Kota Malang, Kota Surabaya
    (51, &[3, 4, 71]),           // Bali: Badung, Gianyar, Kota Denpasar
    (73, &[6, 71]),              // Sulawesi Selatan: Gowa, Kota Makassar
];

fn days_in(month: u8, year: u16) -> u8 {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A unique, valid synthetic NIK plus its birth date.
pub(crate) fn new_person_nik(
    rng: &mut DemoRng,
    used: &mut HashSet<String>,
    province: u8,
    regency: u8,
    female: bool,
) -> (String, (u16, u8, u8)) {
    let year = rng.range(1955, 2006) as u16;
    let month = rng.range(1, 12) as u8;
    let day = rng.range(1, u32::from(days_in(month, year))) as u8;
    let district = rng.range(1, 24) as u8;
    loop {
        let serial = rng.range(1, 2999) as u16;
        let nik = synthetic_nik(
            rng,
            province,
            regency,
            district,
            (day, month, (year % 100) as u8),
            female,
            serial,
        );
        if used.insert(nik.clone()) {
            return (nik, (year, month, day));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ikd_engine::nik::{Gender, Nik};

    #[test]
    fn valid_parts_are_kept() {
        let mut rng = DemoRng::new(1);
        let s = synthetic_nik(&mut rng, 31, 74, 5, (12, 3, 85), true, 123);
        assert_eq!(s, "3174055203850123");
        let nik = Nik::parse(&s).unwrap();
        assert_eq!(nik.gender(), Gender::Female);
        assert_eq!(nik.birth_date(), (12, 3, 85));
        let s = synthetic_nik(&mut rng, 51, 71, 2, (29, 2, 0), false, 9999);
        assert_eq!(s, "5171022902009999");
    }

    #[test]
    fn always_parses_even_from_invalid_parts() {
        let mut rng = DemoRng::new(42);
        for _ in 0..20_000 {
            let province = rng.below(256) as u8;
            let regency = rng.below(256) as u8;
            let district = rng.below(256) as u8;
            let birth = (rng.below(256) as u8, rng.below(256) as u8, rng.below(256) as u8);
            let female = rng.chance(0.5);
            let serial = rng.below(65536) as u16;
            let s = synthetic_nik(&mut rng, province, regency, district, birth, female, serial);
            let nik = Nik::parse(&s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(nik.to_string(), s);
            assert_eq!(nik.gender() == Gender::Female, female);
        }
    }
}
