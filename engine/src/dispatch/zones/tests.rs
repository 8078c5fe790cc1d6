use chrono::TimeZone;
use proptest::prelude::*;

use super::*;

fn number(e164: &str) -> PhoneNumber {
    PhoneNumber::parse(e164, None).unwrap()
}

/// Numbers in New York, Chicago, Denver, Los Angeles and Honolulu, and a US toll-free one.
const NUMBERS: [&str; 6] = [
    "+12125550100",
    "+13125550100",
    "+13035550100",
    "+12135550100",
    "+18085550100",
    "+18005550100",
];

fn zone(e164: &str, after: Option<i64>) -> ListZone {
    ListZone {
        key: zone_key(&number(e164)),
        after: after.map(|a| ContactId::new(a).unwrap()),
    }
}

/// Monday 2026-12-07 at `h:m` UTC.
fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, h, m, 0).unwrap()
}

#[test]
fn a_number_is_listed_under_its_zones_and_read_back_in_them() {
    let s = CampaignSettings::default();
    assert_eq!(zone_key(&number(NUMBERS[0])), "America/New_York");
    assert_eq!(
        zones_of_key(&s, "America/New_York"),
        vec![chrono_tz::America::New_York]
    );
    // A toll-free number may ring anywhere in the plan: it is listed under all of its zones.
    let toll_free = zone_key(&number(NUMBERS[5]));
    assert!(toll_free.contains("America/New_York&") && toll_free.contains("Pacific/Honolulu"));
    // No zone, an unknown name, or the campaign's policy: the campaign's zone.
    for key in ["", "Mars/Olympus_Mons", "America/New_York&Nowhere"] {
        assert_eq!(zones_of_key(&s, key), vec![s.time_zone], "{key:?}");
    }
    let campaign = CampaignSettings {
        zone_policy: ZonePolicy::Campaign,
        ..CampaignSettings::default()
    };
    assert_eq!(
        zones_of_key(&campaign, "America/New_York"),
        vec![campaign.time_zone]
    );
}

#[test]
fn the_zone_whose_hours_close_first_is_made_first() {
    let s = CampaignSettings::default();
    let zones: Vec<ListZone> = NUMBERS[..5].iter().map(|n| zone(n, None)).collect();
    let picked = |now| match pick_zone(&s, &zones, now) {
        ZonePick::Make(z) => z.key.clone(),
        other => panic!("{other:?} at {now}"),
    };
    // 12:00 UTC: 07:00 in New York, nothing open; the east opens first, at 13:00.
    assert_eq!(
        pick_zone(&s, &zones, at(12, 0)),
        ZonePick::ClosedUntil(at(13, 0))
    );
    // 13:00: only New York is open. 18:00: all of the mainland is, and New York closes first.
    assert_eq!(picked(at(13, 0)), "America/New_York");
    assert_eq!(picked(at(18, 0)), "America/New_York");
    // 03:30 the next day: New York and Chicago have closed; Denver closes before Los Angeles.
    assert_eq!(
        picked(at(3, 30) + chrono::Duration::days(1)),
        "America/Denver"
    );
    // Without the east, the next to close goes first.
    assert_eq!(
        match pick_zone(&s, &zones[1..], at(18, 0)) {
            ZonePick::Make(z) => z.key.as_str(),
            _ => "",
        },
        "America/Chicago"
    );
    assert_eq!(pick_zone(&s, &[], at(18, 0)), ZonePick::Nothing);
}

#[test]
fn zones_closing_together_take_turns_by_how_far_each_was_made() {
    // Hours read in the campaign's zone: every zone closes at once.
    let s = CampaignSettings {
        zone_policy: ZonePolicy::Campaign,
        ..CampaignSettings::default()
    };
    let zones = [
        zone(NUMBERS[0], Some(900)),
        zone(NUMBERS[3], Some(40)),
        zone(NUMBERS[1], None),
    ];
    let now = Utc.with_ymd_and_hms(2026, 12, 7, 15, 0, 0).unwrap();
    let ZonePick::Make(first) = pick_zone(&s, &zones, now) else {
        panic!("open at 15:00 UTC");
    };
    assert_eq!(first.key, zones[2].key, "a zone not started goes first");
    let ZonePick::Make(next) = pick_zone(&s, &zones[..2], now) else {
        panic!("open at 15:00 UTC");
    };
    assert_eq!(next.key, zones[1].key, "then the one made least far");
}

proptest! {
    /// Whatever the zones and the time: the pick is open, and no open zone closes before it;
    /// with none open, the answer is the first opening.
    #[test]
    fn the_pick_is_open_and_none_open_closes_sooner(
        picks in proptest::collection::vec((0usize..NUMBERS.len(), proptest::option::of(1i64..1000)), 0..8),
        minutes in 0i64..(7 * 24 * 60),
    ) {
        let s = CampaignSettings::default();
        let zones: Vec<ListZone> = picks.iter().map(|(n, a)| zone(NUMBERS[*n], *a)).collect();
        let now = at(0, 0) + chrono::Duration::minutes(minutes);
        let hours = &s.calling_hours;
        let open = |z: &ListZone| hours.next_open(&zones_of_key(&s, &z.key), now) == Some(now);
        match pick_zone(&s, &zones, now) {
            ZonePick::Make(z) => {
                prop_assert!(open(z));
                let closes = |z: &ListZone| hours.next_close(&zones_of_key(&s, &z.key), now);
                for other in zones.iter().filter(|o| open(o)) {
                    prop_assert!(closes(z) <= closes(other), "{} before {}", other.key, z.key);
                }
            }
            ZonePick::ClosedUntil(t) => {
                prop_assert!(!zones.iter().any(open));
                let first = zones.iter().filter_map(|z| hours.next_open(&zones_of_key(&s, &z.key), now)).min();
                prop_assert_eq!(Some(t), first);
            }
            ZonePick::Nothing => prop_assert!(zones.is_empty()),
        }
    }
}
