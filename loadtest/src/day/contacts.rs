//! The day's contact list: valid US numbers spread over the country's time zones roughly as its
//! people are (Eastern 47%, Central 29%, Mountain 7%, Pacific 16%, Alaska and Hawaii 1%), in a
//! mixed order, as a real list would come.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

/// A zone's share of the list (percent) and area codes in it.
struct Zone {
    name: &'static str,
    percent: u32,
    areas: &'static [u32],
}

const ZONES: [Zone; 6] = [
    Zone {
        name: "Eastern",
        percent: 47,
        areas: &[
            212, 646, 718, 917, 347, 516, 631, 914, 201, 973, 908, 732, 609, 215, 267, 412, 717,
            610, 617, 781, 508, 978, 401, 860, 203, 202, 301, 410, 703, 571, 804, 757, 919, 704,
            336, 803, 843, 404, 770, 678, 305, 786, 954, 561, 407, 813, 727, 904, 313, 248, 734,
            616, 216, 614, 513, 330,
        ],
    },
    Zone {
        name: "Central",
        percent: 29,
        areas: &[
            312, 773, 630, 847, 708, 713, 281, 832, 214, 972, 469, 817, 512, 210, 615, 901, 504,
            225, 314, 816, 612, 651, 414, 262, 608, 402, 405, 918, 316, 501, 205, 601, 515, 319,
        ],
    },
    Zone {
        name: "Mountain",
        percent: 7,
        areas: &[
            303, 720, 970, 801, 385, 505, 575, 406, 307, 602, 480, 623, 520,
        ],
    },
    Zone {
        name: "Pacific",
        percent: 16,
        areas: &[
            213, 310, 323, 424, 818, 626, 714, 949, 562, 909, 951, 619, 858, 760, 415, 510, 408,
            650, 925, 916, 559, 206, 253, 425, 360, 503, 971, 702, 775,
        ],
    },
    Zone {
        name: "Alaska",
        percent: 0,
        areas: &[907],
    },
    Zone {
        name: "Hawaii",
        percent: 1,
        areas: &[808],
    },
];

/// How many contacts of each zone a list of `n` holds.
pub type Spread = Vec<(&'static str, u32)>;

/// Writes `n` contacts as CSV (`phone_number`) to `path`; how they spread over the zones.
/// Numbers are distinct: a per-area counter picks the line and, past 10,000, the exchange.
pub fn write_csv(path: &Path, n: u32, seed: u64) -> std::io::Result<Spread> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "phone_number")?;
    let mut per_area: HashMap<u32, u32> = HashMap::new();
    let mut spread: Vec<(&'static str, u32)> = ZONES.iter().map(|z| (z.name, 0)).collect();
    // Alaska gets a share of Hawaii's percent point: 1 in 4 of the last bucket.
    for _ in 0..n {
        let mut roll = rng.random_range(0..100u32);
        let mut zone = ZONES.len() - 1;
        for (i, z) in ZONES.iter().enumerate() {
            if roll < z.percent {
                zone = i;
                break;
            }
            roll -= z.percent;
        }
        if zone == ZONES.len() - 1 && rng.random_range(0..4u32) == 0 {
            zone = ZONES.len() - 2;
        }
        let areas = ZONES[zone].areas;
        let area = areas[rng.random_range(0..areas.len())];
        let k = per_area.entry(area).or_default();
        let exchange = 555 + *k / 10_000;
        writeln!(out, "+1{area}{exchange}{:04}", *k % 10_000)?;
        *k += 1;
        spread[zone].1 += 1;
    }
    out.flush()?;
    Ok(spread)
}

/// The zone of a number [`write_csv`] wrote, by its area code.
pub fn zone_of(e164: &str) -> Option<&'static str> {
    let area: u32 = e164.strip_prefix("+1")?.get(..3)?.parse().ok()?;
    ZONES
        .iter()
        .find(|z| z.areas.contains(&area))
        .map(|z| z.name)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use dialer_engine::PhoneNumber;

    use super::*;

    #[test]
    fn numbers_are_valid_distinct_and_spread_like_the_country() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.csv");
        let spread = write_csv(&path, 20_000, 1).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let numbers: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(numbers.len(), 20_000);
        assert_eq!(numbers.iter().collect::<HashSet<_>>().len(), 20_000);
        for n in numbers.iter().step_by(97) {
            assert!(PhoneNumber::parse(n, None).is_ok(), "{n}");
        }
        let share = |name: &str| {
            spread
                .iter()
                .find(|(z, _)| *z == name)
                .map_or(0, |(_, c)| *c) as f64
                / 20_000.0
        };
        assert!((share("Eastern") - 0.47).abs() < 0.02);
        let zoned = |name| numbers.iter().filter(|n| zone_of(n) == Some(name)).count() as f64;
        assert!((zoned("Eastern") / 20_000.0 - share("Eastern")).abs() < 1e-9);
        assert_eq!(zone_of("+44207946000"), None);
        assert!((share("Pacific") - 0.16).abs() < 0.02);
        assert!(share("Alaska") > 0.0 && share("Hawaii") > 0.0);
    }
}
