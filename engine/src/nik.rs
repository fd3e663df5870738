//! NIK (Nomor Induk Kependudukan) parsing and validation.
//!
//! A NIK is 16 decimal digits laid out as `PPRRSSDDMMYYSSSS`:
//!
//! | digits | meaning |
//! |---|---|
//! | `PP` | province code (Kemendagri / Dukcapil code, see [`PROVINCES`]) |
//! | `RR` | regency / city code within the province, never `00` |
//! | `SS` | district (kecamatan) code within the regency, never `00` |
//! | `DDMMYY` | birth date; women have 40 added to the day (`41`..`71`) |
//! | `SSSS` | serial number, never `0000` |
//!
//! The year has two digits only: a date is accepted if it exists in either 19YY or 20YY
//! (so 29 February is accepted whenever YY is a multiple of 4, including `00` for 2000).
//!
//! [`Nik::parse`] never panics, whatever the input. Error messages never contain the NIK
//! itself, and the [`Debug`](std::fmt::Debug) form of a [`Nik`] is masked
//! (see [`Nik::masked`]) so that a NIK printed by accident with `{:?}` does not leak into
//! logs; [`Display`](std::fmt::Display) gives the full 16 digits.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Official Kemendagri province codes (38 provinces, after the 2022 Papua splits), with names.
///
/// Note: these are the *Kemendagri* (Dukcapil) codes used in NIKs, which differ from the BPS
/// statistical codes for Papua (BPS uses 91 Papua Barat, 92 Papua Barat Daya, 94 Papua,
/// 95 Papua Selatan, 96 Papua Tengah, 97 Papua Pegunungan). There is no Kemendagri code 97.
pub const PROVINCES: [(u8, &str); 38] = [
    (11, "Aceh"),
    (12, "Sumatera Utara"),
    (13, "Sumatera Barat"),
    (14, "Riau"),
    (15, "Jambi"),
    (16, "Sumatera Selatan"),
    (17, "Bengkulu"),
    (18, "Lampung"),
    (19, "Kepulauan Bangka Belitung"),
    (21, "Kepulauan Riau"),
    (31, "DKI Jakarta"),
    (32, "Jawa Barat"),
    (33, "Jawa Tengah"),
    (34, "DI Yogyakarta"),
    (35, "Jawa Timur"),
    (36, "Banten"),
    (51, "Bali"),
    (52, "Nusa Tenggara Barat"),
    (53, "Nusa Tenggara Timur"),
    (61, "Kalimantan Barat"),
    (62, "Kalimantan Tengah"),
    (63, "Kalimantan Selatan"),
    (64, "Kalimantan Timur"),
    (65, "Kalimantan Utara"),
    (71, "Sulawesi Utara"),
    (72, "Sulawesi Tengah"),
    (73, "Sulawesi Selatan"),
    (74, "Sulawesi Tenggara"),
    (75, "Gorontalo"),
    (76, "Sulawesi Barat"),
    (81, "Maluku"),
    (82, "Maluku Utara"),
    (91, "Papua"),
    (92, "Papua Barat"),
    (93, "Papua Selatan"),
    (94, "Papua Tengah"),
    (95, "Papua Pegunungan"),
    (96, "Papua Barat Daya"),
];

/// Name of a Kemendagri province code, or `None` if the code is not a province.
pub fn province_name(code: u8) -> Option<&'static str> {
    PROVINCES.iter().find(|(c, _)| *c == code).map(|(_, name)| *name)
}

/// Number of days in `month` (1..=12) for a two-digit year that may be 19YY or 20YY:
/// February has 29 days if either century makes it a leap year (only 2000 of 1900/2000
/// differs, and 2000 is leap, so this is simply `yy % 4 == 0`). Returns 0 for a bad month.
pub fn days_in_month(month: u8, yy: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if yy % 4 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// Why a string is not a valid NIK. Messages never contain the NIK itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NikError {
    /// Not 16 characters long (after trimming whitespace); holds the character count.
    #[error("NIK must have 16 digits, got {0} characters")]
    WrongLength(usize),
    /// Contains something other than the ASCII digits 0-9.
    #[error("NIK must contain only the digits 0-9")]
    NotDigits,
    /// The first two digits are not a Kemendagri province code.
    #[error("NIK has unknown province code {0:02}")]
    UnknownProvince(u8),
    /// Regency / city code (digits 3-4) is 00.
    #[error("NIK has regency code 00")]
    ZeroRegency,
    /// District code (digits 5-6) is 00.
    #[error("NIK has district code 00")]
    ZeroDistrict,
    /// Digits 7-12 are not a real date (day, or day - 40 for women; month; two-digit year).
    #[error("NIK has an invalid birth date")]
    InvalidBirthDate,
    /// Serial number (digits 13-16) is 0000.
    #[error("NIK has serial number 0000")]
    ZeroSerial,
}

/// Gender encoded in a NIK (day of birth + 40 for women).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    Male,
    Female,
}

impl fmt::Display for Gender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Gender::Male => "male",
            Gender::Female => "female",
        })
    }
}

/// A validated NIK, stored as one `u64` (16 digits fit; the first digit is never 0 because
/// every province code is at least 11).
///
/// `Display` gives the 16 digits; `Debug` gives the masked form; `Serialize` writes the
/// 16-digit string and `Deserialize` parses and validates one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nik(u64);

impl Nik {
    /// Parse and validate a NIK. Surrounding whitespace is ignored. Never panics.
    pub fn parse(input: &str) -> Result<Nik, NikError> {
        let s = input.trim();
        let len = s.chars().count();
        if len != 16 {
            return Err(NikError::WrongLength(len));
        }
        let mut d = [0u8; 16];
        for (slot, b) in d.iter_mut().zip(s.bytes()) {
            if !b.is_ascii_digit() {
                return Err(NikError::NotDigits);
            }
            *slot = b - b'0';
        }
        // 16 chars but more than 16 bytes means some char was not ASCII.
        if s.len() != 16 {
            return Err(NikError::NotDigits);
        }
        let two = |i: usize| d[i] * 10 + d[i + 1];
        let province = two(0);
        if province_name(province).is_none() {
            return Err(NikError::UnknownProvince(province));
        }
        if two(2) == 0 {
            return Err(NikError::ZeroRegency);
        }
        if two(4) == 0 {
            return Err(NikError::ZeroDistrict);
        }
        let raw_day = two(6);
        let month = two(8);
        let yy = two(10);
        let day = if raw_day > 40 { raw_day - 40 } else { raw_day };
        if day == 0 || day > days_in_month(month, yy) {
            return Err(NikError::InvalidBirthDate);
        }
        if d[12..].iter().all(|&x| x == 0) {
            return Err(NikError::ZeroSerial);
        }
        let value = d.iter().fold(0u64, |acc, &x| acc * 10 + u64::from(x));
        Ok(Nik(value))
    }

    /// The 16 digits, most significant first.
    pub fn digits(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        let mut v = self.0;
        for slot in out.iter_mut().rev() {
            *slot = (v % 10) as u8;
            v /= 10;
        }
        out
    }

    /// Digits `[start, start + n)` as a number (`n` ≤ 4 here, so it fits in u16).
    fn field(&self, start: u32, n: u32) -> u16 {
        // position counted from the right: the field ends at digit index start+n-1.
        let shift = 16 - start - n;
        ((self.0 / 10u64.pow(shift)) % 10u64.pow(n)) as u16
    }

    /// Province code (digits 1-2), e.g. 31 for DKI Jakarta.
    pub fn province_code(&self) -> u8 {
        self.field(0, 2) as u8
    }

    /// Province name from [`PROVINCES`].
    pub fn province_name(&self) -> &'static str {
        province_name(self.province_code()).unwrap_or("?")
    }

    /// Regency / city code within the province (digits 3-4), 1..=99.
    pub fn regency_code(&self) -> u8 {
        self.field(2, 2) as u8
    }

    /// District (kecamatan) code within the regency (digits 5-6), 1..=99.
    pub fn district_code(&self) -> u8 {
        self.field(4, 2) as u8
    }

    /// Birth date as `(day, month, two-digit year)`, with the +40 for women removed.
    pub fn birth_date(&self) -> (u8, u8, u8) {
        let raw_day = self.field(6, 2) as u8;
        let day = if raw_day > 40 { raw_day - 40 } else { raw_day };
        (day, self.field(8, 2) as u8, self.field(10, 2) as u8)
    }

    /// Gender: female if 40 was added to the day of birth.
    pub fn gender(&self) -> Gender {
        if self.field(6, 2) > 40 {
            Gender::Female
        } else {
            Gender::Male
        }
    }

    /// Serial number (last 4 digits), 1..=9999.
    pub fn serial(&self) -> u16 {
        self.field(12, 4)
    }

    /// Province + regency as a 4-digit number (e.g. 3174 for Jakarta Selatan), used as the
    /// shard / region key.
    pub fn region_key(&self) -> u16 {
        self.field(0, 4)
    }

    /// Form for logs: province and regency and the serial stay, the district and birth date
    /// (which reveal gender and date of birth) are masked, e.g. `3174********0001`.
    pub fn masked(&self) -> String {
        format!("{:04}********{:04}", self.region_key(), self.serial())
    }
}

impl fmt::Display for Nik {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016}", self.0)
    }
}

impl fmt::Debug for Nik {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nik({})", self.masked())
    }
}

impl FromStr for Nik {
    type Err = NikError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Nik::parse(s)
    }
}

impl TryFrom<&str> for Nik {
    type Error = NikError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Nik::parse(s)
    }
}

impl Serialize for Nik {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Nik {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Nik;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 16-digit NIK string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Nik, E> {
                Nik::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 31 74 01 | 01 01 90 | 0001: DKI Jakarta, regency 74, district 01, male born 1 Jan (19)90.
    const MALE: &str = "3174010101900001";
    // Same place, female born 12 Mar (19)85: day 12 + 40 = 52.
    const FEMALE: &str = "3174015203850123";

    #[test]
    fn parses_valid_male_and_accessors() {
        let nik = Nik::parse(MALE).unwrap();
        assert_eq!(nik.to_string(), MALE);
        assert_eq!(nik.province_code(), 31);
        assert_eq!(nik.province_name(), "DKI Jakarta");
        assert_eq!(nik.regency_code(), 74);
        assert_eq!(nik.district_code(), 1);
        assert_eq!(nik.birth_date(), (1, 1, 90));
        assert_eq!(nik.gender(), Gender::Male);
        assert_eq!(nik.serial(), 1);
        assert_eq!(nik.region_key(), 3174);
        assert_eq!(nik.digits()[0], 3);
        assert_eq!(nik.digits()[15], 1);
    }

    #[test]
    fn parses_valid_female_day_plus_40() {
        let nik = Nik::parse(FEMALE).unwrap();
        assert_eq!(nik.gender(), Gender::Female);
        assert_eq!(nik.birth_date(), (12, 3, 85));
        assert_eq!(nik.serial(), 123);
        // Female day range is 41..=71.
        assert!(Nik::parse("3174014101900001").is_ok());
        assert!(Nik::parse("3174017101900001").is_ok());
        assert_eq!(Nik::parse("3174017201900001"), Err(NikError::InvalidBirthDate));
        assert_eq!(Nik::parse("3174014001900001"), Err(NikError::InvalidBirthDate));
    }

    #[test]
    fn trims_whitespace() {
        assert_eq!(Nik::parse(" \t3174010101900001\n").unwrap().to_string(), MALE);
    }

    #[test]
    fn rejects_wrong_length() {
        assert_eq!(Nik::parse(""), Err(NikError::WrongLength(0)));
        assert_eq!(Nik::parse("317401010190000"), Err(NikError::WrongLength(15)));
        assert_eq!(Nik::parse("31740101019000011"), Err(NikError::WrongLength(17)));
        // Inner whitespace is not trimmed.
        assert_eq!(Nik::parse("3174 0101 0190 0001"), Err(NikError::WrongLength(19)));
    }

    #[test]
    fn rejects_non_digits() {
        assert_eq!(Nik::parse("3174O10101900001"), Err(NikError::NotDigits));
        assert_eq!(Nik::parse("-174010101900001"), Err(NikError::NotDigits));
        assert_eq!(Nik::parse("+174010101900001"), Err(NikError::NotDigits));
        // 16 characters, but one is a non-ASCII digit (Arabic-Indic three).
        assert_eq!(Nik::parse("\u{663}174010101900001"), Err(NikError::NotDigits));
        // Full-width digits.
        assert_eq!(Nik::parse("３１７４０１０１０１９００００１"), Err(NikError::NotDigits));
    }

    #[test]
    fn province_list_is_the_38_kemendagri_codes() {
        let expected = [
            11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 31, 32, 33, 34, 35, 36, 51, 52, 53, 61, 62, 63, 64, 65, 71, 72, 73,
            74, 75, 76, 81, 82, 91, 92, 93, 94, 95, 96,
        ];
        let codes: Vec<u8> = PROVINCES.iter().map(|(c, _)| *c).collect();
        assert_eq!(codes, expected);
        assert_eq!(province_name(93), Some("Papua Selatan"));
        assert_eq!(province_name(94), Some("Papua Tengah"));
        assert_eq!(province_name(95), Some("Papua Pegunungan"));
        assert_eq!(province_name(96), Some("Papua Barat Daya"));
        for code in 0..=99u8 {
            let nik = format!("{code:02}74010101900001");
            match Nik::parse(&nik) {
                Ok(n) => {
                    assert!(expected.contains(&code));
                    assert_eq!(n.province_code(), code);
                }
                Err(e) => {
                    assert!(!expected.contains(&code));
                    assert_eq!(e, NikError::UnknownProvince(code));
                }
            }
        }
    }

    #[test]
    fn rejects_unknown_province() {
        assert_eq!(Nik::parse("9974010101900001"), Err(NikError::UnknownProvince(99)));
        assert_eq!(Nik::parse("9774010101900001"), Err(NikError::UnknownProvince(97)));
        assert_eq!(Nik::parse("0074010101900001"), Err(NikError::UnknownProvince(0)));
        assert_eq!(Nik::parse("2074010101900001"), Err(NikError::UnknownProvince(20)));
    }

    #[test]
    fn rejects_zero_regency_and_district() {
        assert_eq!(Nik::parse("3100010101900001"), Err(NikError::ZeroRegency));
        assert_eq!(Nik::parse("3174000101900001"), Err(NikError::ZeroDistrict));
        assert!(Nik::parse("3199990101900001").is_ok());
    }

    #[test]
    fn rejects_invalid_birth_dates() {
        let with_date = |ddmmyy: &str| Nik::parse(&format!("317401{ddmmyy}0001"));
        for bad in [
            "000190", "320190", "310490", "300290", "290201", "010090", "011390", "019990", "400190", "720190",
            "990190", "690291", "710490",
        ] {
            assert_eq!(with_date(bad), Err(NikError::InvalidBirthDate), "{bad}");
        }
        for good in [
            "310190", "300490", "280201", "290200", "290296", "290204", "311299", "010100", "690296", "700490",
            "710190", "681201",
        ] {
            assert!(with_date(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn leap_day_valid_if_leap_in_either_century() {
        // YY=00: 1900 not leap, 2000 leap -> valid.
        assert_eq!(Nik::parse("3174012902000001").unwrap().birth_date(), (29, 2, 0));
        // YY=04: 1904 and 2004 leap.
        assert!(Nik::parse("3174016902040001").is_ok());
        // YY=03: neither.
        assert_eq!(Nik::parse("3174012902030001"), Err(NikError::InvalidBirthDate));
    }

    #[test]
    fn rejects_zero_serial() {
        assert_eq!(Nik::parse("3174010101900000"), Err(NikError::ZeroSerial));
        assert!(Nik::parse("3174010101909999").is_ok());
    }

    #[test]
    fn masking_hides_district_and_birth_date() {
        let nik = Nik::parse("3174055203850123").unwrap();
        assert_eq!(nik.masked(), "3174********0123");
        assert_eq!(format!("{nik:?}"), "Nik(3174********0123)");
        assert!(!format!("{nik:?}").contains("520385"));
        assert_eq!(nik.masked().len(), 16);
    }

    #[test]
    fn error_messages_never_contain_the_nik() {
        let inputs = [
            "3174010101900000",
            "9974010101900001",
            "3100010101900001",
            "3174000101900001",
            "3174013201900001",
            "3174O10101900001",
            "31740101019000011",
        ];
        for input in inputs {
            let err = Nik::parse(input).unwrap_err();
            let msg = err.to_string();
            assert!(!msg.contains(input), "{msg}");
            assert!(!msg.contains(&input[..12]), "{msg}");
            assert!(!format!("{err:?}").contains(&input[..12]));
        }
    }

    #[test]
    fn serde_round_trip_as_string() {
        let nik = Nik::parse(FEMALE).unwrap();
        let json = serde_json::to_string(&nik).unwrap();
        assert_eq!(json, format!("\"{FEMALE}\""));
        let back: Nik = serde_json::from_str(&json).unwrap();
        assert_eq!(back, nik);
        assert!(serde_json::from_str::<Nik>("\"3174010101900000\"").is_err());
        assert!(serde_json::from_str::<Nik>("3174010101900001").is_err());
        assert_eq!(serde_json::to_string(&Gender::Female).unwrap(), "\"female\"");
    }

    #[test]
    fn from_str_and_try_from() {
        let a: Nik = MALE.parse().unwrap();
        let b = Nik::try_from(MALE).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn no_panic_on_arbitrary_input() {
        // Deterministic pseudo-random fuzzing over bytes that form valid UTF-8, plus edge cases.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet: Vec<char> = "0123456789 \t\n-+é٣１\u{0}\u{FEFF}a".chars().collect();
        for _ in 0..20_000 {
            let len = (next() % 20) as usize;
            let s: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let _ = Nik::parse(&s);
            // Mostly-digit strings of exactly 16 characters reach the deeper rules.
            let digits: String = (0..16).map(|_| char::from(b'0' + (next() % 10) as u8)).collect();
            if let Ok(n) = Nik::parse(&digits) {
                assert_eq!(n.to_string(), digits);
                let _ = (n.masked(), n.birth_date(), n.gender(), n.province_name());
            }
        }
        let _ = Nik::parse(&"9".repeat(1 << 16));
        let _ = Nik::parse("\u{10FFFF}".repeat(16).as_str());
    }
}
