//! The clocks that read time — the only module in the workspace allowed to.
//!
//! - [`SystemClock`]: the operating system's wall clock, for production.
//! - [`ScaledClock`]: wall time derived from tokio's clock, `epoch + elapsed × factor`. With
//!   factor 1 under `#[tokio::test(start_paused = true)]` it is the test clock: calendar time and
//!   tokio timers advance together, exactly and instantly. With factor N it runs a demo or the
//!   day benchmark N× faster, and [`Clock::real_duration`] tells actors how long to really sleep.
//!   [`ScaledClock::anchored`] derives it from the system clock instead, so that processes that
//!   share the anchor agree on the time — a fast clock that survives restarts.
//!
//! Both read to the millisecond, the resolution storage keeps: an instant handed to a client
//! when a call is accepted is the same instant it reads back later.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
pub use dialer_engine::clock::{Clock, ManualClock};
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // This is the clock module.
    fn now(&self) -> DateTime<Utc> {
        DateTime::<Utc>::from(std::time::SystemTime::now()).trunc_subsecs(3)
    }
}

#[derive(Debug, Clone)]
pub struct ScaledClock {
    /// What it reads at `start`.
    origin: DateTime<Utc>,
    start: Start,
    factor: u32,
}

/// What elapsed time is measured from.
#[derive(Debug, Clone, Copy)]
enum Start {
    /// Tokio's clock when the clock was made (paused in tests).
    Tokio(Instant),
    /// This real instant on the system clock: the same for every process.
    System(DateTime<Utc>),
}

impl ScaledClock {
    /// A clock that reads `epoch` now and runs `factor`× faster than tokio's clock.
    pub fn new(epoch: DateTime<Utc>, factor: u32) -> Self {
        Self {
            origin: epoch,
            start: Start::Tokio(Instant::now()),
            factor: factor.max(1),
        }
    }

    /// A clock `factor`× faster than real time from the real instant `epoch` on: it reads
    /// `epoch + (real now - epoch) × factor`, in every process given the same `epoch`.
    pub fn anchored(epoch: DateTime<Utc>, factor: u32) -> Self {
        Self::anchored_at(epoch, epoch, factor)
    }

    /// Like [`anchored`](Self::anchored), but reading `reads` at the real instant `epoch`: a
    /// simulated day that starts where a benchmark wants it to.
    pub fn anchored_at(epoch: DateTime<Utc>, reads: DateTime<Utc>, factor: u32) -> Self {
        Self {
            origin: reads,
            start: Start::System(epoch),
            factor: factor.max(1),
        }
    }

    /// Wall time that follows tokio's clock one to one (paused in tests).
    pub fn tokio(epoch: DateTime<Utc>) -> Self {
        Self::new(epoch, 1)
    }

    pub fn factor(&self) -> u32 {
        self.factor
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> DateTime<Utc> {
        let real = match self.start {
            Start::Tokio(start) => start.elapsed(),
            Start::System(epoch) => (SystemClock.now() - epoch)
                .to_std()
                .unwrap_or(Duration::ZERO),
        };
        let wall = real.saturating_mul(self.factor);
        (self.origin + chrono::Duration::from_std(wall).unwrap_or(chrono::Duration::MAX))
            .trunc_subsecs(3)
    }

    fn real_duration(&self, wall: Duration) -> Duration {
        wall / self.factor
    }
}

/// Measures elapsed real time for reports (benchmarks, import progress) — not for logic.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch(std::time::Instant);

impl Stopwatch {
    #[allow(clippy::disallowed_methods)] // This is the clock module.
    pub fn start() -> Self {
        Self(std::time::Instant::now())
    }

    pub fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_tokio_clock_moves_with_paused_time() {
        let epoch = Utc.with_ymd_and_hms(2026, 3, 8, 6, 0, 0).unwrap();
        let clock = ScaledClock::tokio(epoch);
        assert_eq!(clock.now(), epoch);
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert_eq!(clock.now(), epoch + chrono::Duration::hours(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_scaled_clock_runs_faster_and_says_how_long_to_sleep() {
        let epoch = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let clock = ScaledClock::new(epoch, 60);
        assert_eq!(
            clock.real_duration(Duration::from_secs(60)),
            Duration::from_secs(1)
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(clock.now(), epoch + chrono::Duration::minutes(1));
    }
}
