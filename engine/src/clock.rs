//! The wall clock as an interface.
//!
//! Pure logic takes `now` as an argument; what hands it `now` holds a [`Clock`]. This crate only
//! defines the trait and a [`ManualClock`] for tests and tools; the clocks that read real or
//! tokio time live in `dialer_actors::clock`, the only place allowed to read time.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current wall time.
    fn now(&self) -> DateTime<Utc>;

    /// How much real (tokio) time passes while this clock advances by `wall`: the same for a
    /// real clock, `wall / N` for a clock running N× faster.
    fn real_duration(&self, wall: Duration) -> Duration {
        wall
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock {
    millis: AtomicI64,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            millis: AtomicI64::new(start.timestamp_millis()),
        }
    }

    pub fn set(&self, t: DateTime<Utc>) {
        self.millis.store(t.timestamp_millis(), Ordering::SeqCst);
    }

    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.millis.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.millis.load(Ordering::SeqCst)).unwrap_or_default()
    }
}

/// Milliseconds since the Unix epoch, the timing wheel's unit; instants before 1970 map to 0.
pub fn unix_ms(t: DateTime<Utc>) -> u64 {
    u64::try_from(t.timestamp_millis()).unwrap_or(0)
}

/// The inverse of [`unix_ms`].
pub fn from_unix_ms(ms: u64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(i64::try_from(ms).unwrap_or(i64::MAX)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let c = ManualClock::new(start);
        assert_eq!(c.now(), start);
        c.advance(Duration::from_millis(1500));
        assert_eq!(c.now(), start + chrono::Duration::milliseconds(1500));
        assert_eq!(from_unix_ms(unix_ms(c.now())), c.now());
    }
}
