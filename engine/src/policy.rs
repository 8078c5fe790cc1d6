//! A campaign's dialing policy: its zone, whose local time counts, its calling hours and its
//! retry rules. This is the part of a campaign's settings that decides *when* a number may be
//! dialed; the actors apply it at dispatch time and `dialer explain` prints it.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::hours::{CallingHours, ZonePolicy, Zones};
use crate::phone::{PhoneNumber, Region};
use crate::retry::RetryPolicy;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignPolicy {
    /// The campaign's own zone: used when the number gives none, or with `zone_policy: campaign`.
    #[serde(default = "default_zone")]
    pub time_zone: Tz,
    #[serde(default)]
    pub zone_policy: ZonePolicy,
    /// The region national numbers in this campaign's lists are read in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_region: Option<Region>,
    #[serde(default)]
    pub calling_hours: CallingHours,
    #[serde(default)]
    pub retry: RetryPolicy,
}

fn default_zone() -> Tz {
    chrono_tz::UTC
}

impl Default for CampaignPolicy {
    fn default() -> Self {
        Self {
            time_zone: default_zone(),
            zone_policy: ZonePolicy::default(),
            default_region: None,
            calling_hours: CallingHours::default(),
            retry: RetryPolicy::default(),
        }
    }
}

impl CampaignPolicy {
    pub fn zones_for(&self, number: &PhoneNumber) -> Zones {
        Zones::resolve(number, self.zone_policy, self.time_zone)
    }

    /// When a call that is due at `due` may actually be dialed: `due` itself inside calling
    /// hours, the next opening otherwise, `None` if they never open for this number.
    pub fn dial_time(&self, number: &PhoneNumber, due: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.calling_hours
            .next_open(self.zones_for(number).as_slice(), due)
    }
}
