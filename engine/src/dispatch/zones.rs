//! Which part of a campaign's list is made into calls next.
//!
//! A list comes in the operator's order, its zones mixed. Made into calls in that order, a
//! large list is still being made in the evening, and the contacts of the zones whose calling
//! hours close first (the east, with recipient-local hours) are made after their hours closed:
//! they wait for the next day although the lines had room for them earlier, spent on zones
//! still open for hours. So a list is kept per *zone key* (the zones a number may ring in), each
//! with its own cursor, and the next page is made from the zone whose hours close first among
//! those open now — earliest deadline first. Within a zone, the list's order holds. Zones whose
//! hours close at the same instant (every zone, when the hours are read in the campaign's zone)
//! take turns: the one made least far goes first.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::campaign::CampaignSettings;
use crate::hours::ZonePolicy;
use crate::ids::ContactId;
use crate::phone::PhoneNumber;

/// The key a contact's number is listed under: its zones' names joined by `&`, in the
/// numbering plan's order; empty when the plan says nothing.
pub fn zone_key(number: &PhoneNumber) -> String {
    let zones = number.time_zones();
    let mut key = String::with_capacity(zones.len() * 20);
    for (i, zone) in zones.iter().enumerate() {
        if i > 0 {
            key.push('&');
        }
        key.push_str(zone.name());
    }
    key
}

/// The zones a key's calling hours are read in, as the gate reads them for its numbers: the
/// key's own under the recipient policy, the campaign's otherwise or when the key is empty (or
/// names a zone this build does not know).
pub fn zones_of_key(settings: &CampaignSettings, key: &str) -> Vec<Tz> {
    let parsed: Option<Vec<Tz>> = key.split('&').map(|z| z.parse().ok()).collect();
    match (settings.zone_policy, parsed) {
        (ZonePolicy::Recipient, Some(zones)) if !key.is_empty() => zones,
        _ => vec![settings.time_zone],
    }
}

/// One zone of a list: its key and the last contact of it made into a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListZone {
    pub key: String,
    pub after: Option<ContactId>,
}

/// What [`pick_zone`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZonePick<'a> {
    /// Make the next page of this zone.
    Make(&'a ListZone),
    /// No zone is open now; the first opens then.
    ClosedUntil(DateTime<Utc>),
    /// No zone given.
    Nothing,
}

/// Among `zones`, the one to make contacts of at `now`: open, closing first, then made least
/// far (a zone not started before any other), then by key. A zone whose hours never open is
/// made last, as if open (its calls are blocked at the dial's last check, and recorded so,
/// rather than left unmade).
pub fn pick_zone<'a>(
    settings: &CampaignSettings,
    zones: impl IntoIterator<Item = &'a ListZone>,
    now: DateTime<Utc>,
) -> ZonePick<'a> {
    let hours = &settings.calling_hours;
    let mut best: Option<(Option<DateTime<Utc>>, &'a ListZone)> = None;
    let mut opens: Option<DateTime<Utc>> = None;
    for zone in zones {
        let tz = zones_of_key(settings, &zone.key);
        let closes = match hours.next_open(&tz, now) {
            Some(at) if at <= now => hours.next_close(&tz, now),
            Some(at) => {
                opens = Some(opens.map_or(at, |o| o.min(at)));
                continue;
            }
            None => None,
        };
        // Hours that never close (or never open) sort after any that do.
        let rank = |closes: Option<DateTime<Utc>>, z: &'a ListZone| {
            (closes.is_none(), closes, z.after, z.key.as_str())
        };
        if best.is_none_or(|(c, z)| rank(closes, zone) < rank(c, z)) {
            best = Some((closes, zone));
        }
    }
    match (best, opens) {
        (Some((_, zone)), _) => ZonePick::Make(zone),
        (None, Some(at)) => ZonePick::ClosedUntil(at),
        (None, None) => ZonePick::Nothing,
    }
}

#[cfg(test)]
mod tests;
