//! Which IANA time zones a phone number may ring in.
//!
//! The table is libphonenumber's `resources/timezones/map_data.txt` (Apache-2.0), stored in
//! `engine/data/phone_timezones.txt` at the same libphonenumber release as the `phonenumber`
//! crate's metadata (9.0.33). It maps E.164 digit prefixes — a country code, or in NANP an area
//! code and sometimes an exchange — to zones; the longest matching prefix wins. To move to a new
//! release, run `engine/data/update_phone_timezones.py <version>` and bump `phonenumber`; the
//! tests below check that every zone in it is one chrono-tz knows.

use std::collections::HashMap;
use std::sync::OnceLock;

use chrono_tz::Tz;

const TABLE: &str = include_str!("../data/phone_timezones.txt");

/// The longest prefix in the table (libphonenumber's `TIMEZONE_LONGEST_PREFIX`).
const LONGEST_PREFIX: usize = 9;

fn table() -> &'static HashMap<&'static str, Box<[Tz]>> {
    static TABLE_MAP: OnceLock<HashMap<&'static str, Box<[Tz]>>> = OnceLock::new();
    TABLE_MAP.get_or_init(|| {
        TABLE
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .filter_map(|line| {
                let (prefix, zones) = line.split_once('|')?;
                // A zone chrono-tz does not know is dropped rather than guessed at; the test
                // `every_zone_in_the_table_is_known` keeps that set empty.
                let zones: Box<[Tz]> = zones.split('&').filter_map(|z| z.parse().ok()).collect();
                Some((prefix, zones))
            })
            .collect()
    })
}

/// The zones for E.164 `digits` (no `+`): the entry of the longest matching prefix, or empty.
pub fn lookup(digits: &str) -> &'static [Tz] {
    let table = table();
    let longest = digits.len().min(LONGEST_PREFIX);
    (1..=longest)
        .rev()
        .find_map(|len| digits.get(..len).and_then(|p| table.get(p)))
        .map_or(&[], |zones| zones)
}

/// Parses the table now rather than on the first call's hot path.
pub fn warm_up() {
    let _ = table();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_zone_in_the_table_is_known() {
        let mut unknown = Vec::new();
        for line in TABLE
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (prefix, zones) = line.split_once('|').unwrap();
            assert!(prefix.len() <= LONGEST_PREFIX);
            assert!(prefix.bytes().all(|b| b.is_ascii_digit()), "{prefix}");
            for zone in zones.split('&') {
                if zone.parse::<Tz>().is_err() {
                    unknown.push(zone.to_owned());
                }
            }
        }
        assert!(
            unknown.is_empty(),
            "zones chrono-tz does not know: {unknown:?}"
        );
        assert!(table().len() > 3000);
    }

    #[test]
    fn the_longest_prefix_wins() {
        // 1 is all of NANP; 1208 (Idaho) splits by exchange.
        assert!(lookup("1").len() > 30);
        assert_eq!(lookup("12125550100").len(), 1);
        assert_eq!(lookup("12082010000")[0].name(), "America/Denver");
        assert!(lookup("").is_empty());
        assert!(lookup("999").is_empty());
    }
}
