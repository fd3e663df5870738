//! Realistic Indonesian names for synthetic identities.
//!
//! Many Indonesians have a single name or no family name; the demo uses "given + second name"
//! pairs (second names are common patronymic-style or Javanese/Batak/Bugis names), with Balinese
//! birth-order names for people registered in Bali (province 51) and the Bugis noble title
//! "Andi" for some people registered in Sulawesi Selatan (province 73).

use crate::rng::DemoRng;

const GIVEN_MALE: &[&str] = &[
    "Budi", "Agus", "Rizky", "Dedi", "Eko", "Hendra", "Joko", "Slamet", "Bambang", "Wahyu", "Teguh", "Arif", "Fajar",
    "Dimas", "Yusuf", "Ahmad", "Muhammad", "Imam", "Hadi", "Rudi", "Taufik", "Irfan", "Adi", "Bayu", "Gilang", "Hasan",
    "Ilham", "Reza", "Yoga", "Galih",
];

const GIVEN_FEMALE: &[&str] = &[
    "Siti", "Dewi", "Sri", "Ayu", "Rina", "Wulan", "Putri", "Intan", "Nur", "Ratna", "Fitri", "Indah", "Kartika",
    "Ani", "Maya", "Nurul", "Dian", "Anisa", "Citra", "Novi", "Yulia", "Mega", "Ika", "Eka", "Lina", "Tari", "Desi",
    "Rani", "Sinta", "Laras",
];

const SECOND_MALE: &[&str] = &[
    "Santoso",
    "Wijaya",
    "Saputra",
    "Hidayat",
    "Kurniawan",
    "Pratama",
    "Setiawan",
    "Susanto",
    "Gunawan",
    "Nugroho",
    "Hakim",
    "Rahman",
    "Siregar",
    "Nasution",
    "Lubis",
    "Harahap",
    "Simanjuntak",
    "Sinaga",
    "Wibowo",
    "Purnomo",
    "Prasetyo",
    "Hartono",
    "Halim",
    "Firmansyah",
    "Ramadhan",
    "Syahputra",
    "Hutapea",
    "Tanjung",
    "Kusuma",
    "Permana",
];

const SECOND_FEMALE: &[&str] = &[
    "Rahayu",
    "Wulandari",
    "Lestari",
    "Handayani",
    "Pertiwi",
    "Anggraini",
    "Utami",
    "Maharani",
    "Sari",
    "Saputri",
    "Puspitasari",
    "Kusumawati",
    "Rahmawati",
    "Yuliani",
    "Susanti",
    "Permatasari",
    "Safitri",
    "Nasution",
    "Siregar",
    "Lubis",
    "Hasibuan",
    "Kurniasih",
    "Oktaviani",
    "Fitriani",
    "Novitasari",
    "Purnamasari",
    "Amalia",
    "Hidayati",
    "Ramadhani",
    "Larasati",
];

const BALI_MALE: &[&str] = &["I Wayan", "I Made", "I Nyoman", "I Ketut", "I Putu", "I Gede"];
const BALI_FEMALE: &[&str] = &["Ni Luh", "Ni Made", "Ni Nyoman", "Ni Ketut", "Ni Putu", "Ni Wayan"];
const BALI_GIVEN_MALE: &[&str] = &[
    "Suarsana", "Artawan", "Sudiarta", "Wirawan", "Adnyana", "Sutrisna", "Mahendra", "Sukadana",
];
const BALI_GIVEN_FEMALE: &[&str] = &[
    "Ayu Lestari",
    "Sukerti",
    "Puspadewi",
    "Ariani",
    "Yuliantari",
    "Kertiasih",
    "Sriasih",
    "Widiastuti",
];

/// A full name for a synthetic person.
pub fn full_name(rng: &mut DemoRng, female: bool, province: u8) -> String {
    if province == 51 {
        let title = if female { BALI_FEMALE } else { BALI_MALE };
        let title = rng.pick(title).copied().unwrap_or("I Made");
        let given = if female { BALI_GIVEN_FEMALE } else { BALI_GIVEN_MALE };
        let given = rng.pick(given).copied().unwrap_or("Artawan");
        return format!("{title} {given}");
    }
    let (given, second) = if female {
        (GIVEN_FEMALE, SECOND_FEMALE)
    } else {
        (GIVEN_MALE, SECOND_MALE)
    };
    let g = rng.pick(given).copied().unwrap_or("Budi");
    let s = rng.pick(second).copied().unwrap_or("Santoso");
    if province == 73 && rng.chance(0.3) {
        format!("Andi {g} {s}")
    } else {
        format!("{g} {s}")
    }
}

/// `firstname.lastname@example.id` (first and last word of the name, lower-case ASCII).
pub fn email(name: &str) -> String {
    let words: Vec<String> = name
        .split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_ascii_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect();
    match (words.first(), words.last()) {
        (Some(a), Some(b)) if words.len() > 1 => format!("{a}.{b}@example.id"),
        (Some(a), _) => format!("{a}@example.id"),
        _ => "warga@example.id".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(email("Siti Rahayu"), "siti.rahayu@example.id");
        assert_eq!(email("Ni Luh Ayu Lestari"), "ni.lestari@example.id");
        assert_eq!(email("Budi"), "budi@example.id");
        assert_eq!(email(""), "warga@example.id");
    }

    #[test]
    fn names_have_two_or_more_words() {
        let mut rng = DemoRng::new(1);
        for p in [31, 32, 35, 51, 73] {
            for female in [false, true] {
                let n = full_name(&mut rng, female, p);
                assert!(n.split_whitespace().count() >= 2, "{n}");
            }
        }
    }
}
