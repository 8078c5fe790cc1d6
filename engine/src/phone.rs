//! Phone numbers: parsing what people paste, E.164 normalization, masking, and candidate zones.
//!
//! Parsing and validation are libphonenumber's rules through the `phonenumber` crate. The
//! number → time-zone table is libphonenumber's own `timezones/map_data.txt` (see
//! [`crate::phone_zones`]). This module owns the `PhoneNumber` value; it never logs a number in
//! the clear (use [`PhoneNumber::masked`]).

use std::fmt;
use std::str::FromStr;

use chrono_tz::Tz;
use phonenumber::country;
use serde::{Deserialize, Serialize};

use crate::phone_zones;

/// A region (ISO 3166-1 alpha-2, as CLDR names it) used to read national numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Region(country::Id);

impl Region {
    /// The ISO 3166 codes of every region the numbering plan knows, sorted.
    pub fn all() -> Vec<String> {
        let mut codes: Vec<String> = phonenumber::metadata::DATABASE
            .iter()
            .map(|m| m.id().to_owned())
            .filter(|id| id.parse::<country::Id>().is_ok())
            .collect();
        codes.sort();
        codes.dedup();
        codes
    }
}

impl FromStr for Region {
    type Err = PhoneError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .to_ascii_uppercase()
            .parse::<country::Id>()
            .map(Self)
            .map_err(|_| PhoneError::UnknownRegion(s.to_owned()))
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_ref())
    }
}

impl Serialize for Region {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_ref())
    }
}

impl<'de> Deserialize<'de> for Region {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Why an input is not a dialable phone number. The messages are written for a data-quality
/// report an operator reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("empty")]
    Empty,
    #[error("no phone number found in the text")]
    NotANumber,
    #[error("no country code: write it as +<country code> or set a default region")]
    MissingCountryCode,
    #[error("unknown country calling code")]
    UnknownCountryCode,
    #[error("too short")]
    TooShort,
    #[error("too long")]
    TooLong,
    #[error("extensions cannot be dialed")]
    HasExtension,
    #[error(
        "not a valid number in its country's numbering plan (wrong length or unassigned prefix)"
    )]
    Invalid,
    #[error("unknown region {0:?} (expected an ISO 3166 code like US or GB)")]
    UnknownRegion(String),
    #[error("not E.164: expected + and 8 to 15 digits")]
    NotE164,
}

/// How numbers are checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneValidation {
    /// The numbering plan: a number must be one its country can assign (libphonenumber).
    #[default]
    Strict,
    /// Syntax only: `+` and 8 to 15 digits, the first not 0 — for test numbers such as the
    /// seed's `+1234567890`. What the plan accepts is still normalized.
    E164,
}

impl FromStr for PhoneValidation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "strict" => Ok(Self::Strict),
            "e164" => Ok(Self::E164),
            other => Err(format!("{other:?} is not strict or e164")),
        }
    }
}

/// How a campaign (or the do-not-call list) reads numbers: national numbers in `region`,
/// checked by `validation`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Numbering {
    pub region: Option<Region>,
    pub validation: PhoneValidation,
}

impl Numbering {
    pub fn parse(&self, input: &str) -> Result<PhoneNumber, PhoneError> {
        let strict = PhoneNumber::parse(input, self.region);
        match self.validation {
            PhoneValidation::Strict => strict,
            PhoneValidation::E164 => strict.or_else(|_| PhoneNumber::e164_syntax(input.trim())),
        }
    }
}

/// What `e164` mode accepts as written (ECMA-262 and Python `re` read it alike).
pub const E164_PATTERN: &str = "^\\+[1-9][0-9]{7,14}$";

/// A valid phone number in E.164 form (`+14155552671`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PhoneNumber {
    e164: Box<str>,
    /// 0 when the digits start with no country calling code that exists (an `e164`-mode number).
    country_code: u16,
}

impl PhoneNumber {
    /// Parses the forms people paste: `+1 (415) 555-2671`, `0044 20 7946 0958`, `tel:+44...`,
    /// or a national number read in `default_region`.
    pub fn parse(input: &str, default_region: Option<Region>) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        let parsed = match parse_raw(trimmed, default_region) {
            Ok(number) if phonenumber::is_valid(&number) => number,
            // "00" is the international prefix in most of the world. When the default region
            // uses another one (NANP dials 011), read "00 44 ..." as "+44 ..." before giving up.
            first => match strip_double_zero(trimmed).map(|intl| parse_raw(&intl, None)) {
                Some(Ok(number)) if phonenumber::is_valid(&number) => number,
                _ => first?,
            },
        };
        if parsed.extension().is_some() {
            return Err(PhoneError::HasExtension);
        }
        if !phonenumber::is_valid(&parsed) {
            return Err(PhoneError::Invalid);
        }
        let e164 = parsed.format().mode(phonenumber::Mode::E164).to_string();
        Ok(Self {
            e164: e164.into_boxed_str(),
            country_code: parsed.code().value(),
        })
    }

    /// The E.164 text, `+` and digits.
    pub fn as_str(&self) -> &str {
        &self.e164
    }

    /// The digits after the `+`.
    pub fn digits(&self) -> &str {
        &self.e164[1..]
    }

    /// The country calling code; `None` for an `e164`-mode number whose digits start with none.
    pub fn country_code(&self) -> Option<u16> {
        (self.country_code != 0).then_some(self.country_code)
    }

    /// A form safe for logs: the first three characters and the last two digits.
    pub fn masked(&self) -> String {
        let chars: Vec<char> = self.e164.chars().collect();
        let keep_end = 2.min(chars.len());
        let keep_start = 3.min(chars.len() - keep_end);
        let mut out: String = chars[..keep_start].iter().collect();
        out.extend(std::iter::repeat_n(
            '*',
            chars.len() - keep_start - keep_end,
        ));
        out.extend(&chars[chars.len() - keep_end..]);
        out
    }

    /// The IANA zones the number may ring in: one for most numbers, several for a country or
    /// area code that spans zones, empty when the numbering plan says nothing.
    pub fn time_zones(&self) -> &'static [Tz] {
        phone_zones::lookup(self.digits())
    }

    /// `+` and 8 to 15 digits, the first not 0, and nothing else: the OpenAPI document's
    /// pattern [`E164_PATTERN`] in `e164` mode.
    fn e164_syntax(text: &str) -> Result<Self, PhoneError> {
        let digits = text.strip_prefix('+').ok_or(PhoneError::NotE164)?;
        if !(8..=15).contains(&digits.len())
            || digits.starts_with('0')
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(PhoneError::NotE164);
        }
        Self::from_stored(text)
    }

    /// Reads back an E.164 number this system stored itself: checks its shape and looks up its
    /// country code but skips the full numbering-plan parse, which costs microseconds per number
    /// when a page of calls or a restart's worth of pending work is loaded. (A number accepted
    /// in `e164` mode may start with no country code that exists.)
    pub fn from_stored(e164: &str) -> Result<Self, PhoneError> {
        let digits = e164.strip_prefix('+').ok_or(PhoneError::NotANumber)?;
        if !(7..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PhoneError::NotANumber);
        }
        // Country calling codes form a prefix code: at most one of the 1-3 digit prefixes is one.
        let country_code = (1..=3)
            .filter_map(|n| digits.get(..n)?.parse::<u16>().ok())
            .find(|code| phonenumber::metadata::DATABASE.region(code).is_some())
            .unwrap_or(0);
        Ok(Self {
            e164: e164.into(),
            country_code,
        })
    }
}

fn parse_raw(text: &str, region: Option<Region>) -> Result<phonenumber::PhoneNumber, PhoneError> {
    use phonenumber::ParseError as P;
    let has_plus = text
        .trim_start_matches("tel:")
        .trim_start()
        .starts_with('+');
    phonenumber::parse(region.map(|r| r.0), text).map_err(|err| match err {
        P::NoNumber if !has_plus && region.is_none() && looks_numeric(text) => {
            PhoneError::MissingCountryCode
        }
        P::NoNumber => PhoneError::NotANumber,
        P::InvalidCountryCode if !has_plus && region.is_none() => PhoneError::MissingCountryCode,
        P::InvalidCountryCode => PhoneError::UnknownCountryCode,
        P::TooShortAfterIdd | P::TooShortNsn => PhoneError::TooShort,
        P::TooLong => PhoneError::TooLong,
        _ => PhoneError::NotANumber,
    })
}

fn looks_numeric(text: &str) -> bool {
    let digits = text.chars().filter(char::is_ascii_digit).count();
    digits >= 3
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || " ()-./".contains(c))
}

fn strip_double_zero(text: &str) -> Option<String> {
    let compact: String = text.chars().filter(|c| !" ()-./".contains(*c)).collect();
    compact.strip_prefix("00").map(|rest| format!("+{rest}"))
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.e164)
    }
}

/// `Debug` masks the number, so that a `?number` in a log line never leaks it.
impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

impl FromStr for PhoneNumber {
    type Err = PhoneError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s, None)
    }
}

impl Serialize for PhoneNumber {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.e164)
    }
}

impl<'de> Deserialize<'de> for PhoneNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us() -> Option<Region> {
        Some("US".parse().unwrap())
    }

    #[test]
    fn pasted_forms_normalize_to_e164() {
        let cases: &[(&str, Option<Region>, &str)] = &[
            ("+1 (415) 555-2671", None, "+14155552671"),
            ("+14155552671", None, "+14155552671"),
            ("tel:+1-415-555-2671", None, "+14155552671"),
            ("(415) 555-2671", us(), "+14155552671"),
            ("415.555.2671", us(), "+14155552671"),
            ("1 415 555 2671", us(), "+14155552671"),
            ("011 44 20 7946 0958", us(), "+442079460958"),
            ("0044 20 7946 0958", None, "+442079460958"),
            ("0044 20 7946 0958", us(), "+442079460958"),
            (
                "020 7946 0958",
                Some("gb".parse().unwrap()),
                "+442079460958",
            ),
            ("+91 98765 43210", None, "+919876543210"),
            ("+61 2 9374 4000", None, "+61293744000"),
        ];
        for (input, region, want) in cases {
            let got = PhoneNumber::parse(input, *region)
                .unwrap_or_else(|e| panic!("{input:?} ({region:?}): {e}"));
            assert_eq!(got.as_str(), *want, "{input:?}");
        }
    }

    #[test]
    fn bad_input_is_rejected_with_its_reason() {
        let cases: &[(&str, Option<Region>, PhoneError)] = &[
            ("", None, PhoneError::Empty),
            ("   ", None, PhoneError::Empty),
            ("hello", None, PhoneError::NotANumber),
            ("415 555 2671", None, PhoneError::MissingCountryCode),
            ("+999 1234 5678", None, PhoneError::UnknownCountryCode),
            ("+1 415", None, PhoneError::Invalid),
            ("+44 1", None, PhoneError::TooShort),
            ("+1 415 555 2671 99999999", None, PhoneError::TooLong),
            ("+1 415 555 2671 ext. 12", None, PhoneError::HasExtension),
            // 555-01xx is reserved for fiction, but 123 is not an assigned NANP area code.
            ("+1 123 555 0100", None, PhoneError::Invalid),
        ];
        for (input, region, want) in cases {
            let got = PhoneNumber::parse(input, *region).unwrap_err();
            assert_eq!(&got, want, "{input:?}");
        }
        assert!(matches!(
            "XX".parse::<Region>(),
            Err(PhoneError::UnknownRegion(_))
        ));
    }

    #[test]
    fn masked_and_debug_forms_hide_the_middle_digits() {
        let n: PhoneNumber = "+14155552671".parse().unwrap();
        assert_eq!(n.masked(), "+14*******71");
        assert_eq!(format!("{n:?}"), "PhoneNumber(+14*******71)");
        assert!(!format!("{n:?}").contains("5552671"));
    }

    #[test]
    fn numbers_map_to_their_zones() {
        let zones = |s: &str| -> Vec<String> {
            s.parse::<PhoneNumber>()
                .unwrap()
                .time_zones()
                .iter()
                .map(|z| z.name().to_owned())
                .collect()
        };
        assert_eq!(zones("+12125550100"), ["America/New_York"]);
        assert_eq!(zones("+14155552671"), ["America/Los_Angeles"]);
        assert_eq!(zones("+13125550100"), ["America/Chicago"]);
        assert_eq!(zones("+919876543210"), ["Asia/Calcutta"]);
        assert!(zones("+442079460958").contains(&"Europe/London".to_owned()));
        // Australia's +61 2 covers New South Wales and Lord Howe Island.
        assert!(zones("+61293744000").contains(&"Australia/Sydney".to_owned()));
    }

    #[test]
    fn stored_numbers_read_back_without_a_full_parse() {
        for text in [
            "+14155552671",
            "+442079460958",
            "+919876543210",
            "+61293744000",
        ] {
            let full: PhoneNumber = text.parse().unwrap();
            let stored = PhoneNumber::from_stored(text).unwrap();
            assert_eq!(stored, full);
        }
        assert!(PhoneNumber::from_stored("14155552671").is_err());
        assert!(PhoneNumber::from_stored("+1415x552671").is_err());
        let unknown = PhoneNumber::from_stored("+9991234567").unwrap();
        assert_eq!(unknown.country_code(), None);
        assert_eq!(unknown.as_str(), "+9991234567");
    }

    #[test]
    fn serde_uses_the_e164_text() {
        let n: PhoneNumber = serde_json::from_str("\"+1 415 555 2671\"").unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"+14155552671\"");
        assert!(serde_json::from_str::<PhoneNumber>("\"12\"").is_err());
    }
}
