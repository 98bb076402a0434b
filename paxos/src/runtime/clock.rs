//! The node's own clock: a local time that may run at another rate than the real (or simulated)
//! clock, and jump. Timers are set in local time, so a node whose clock runs fast fires its timers
//! early, and a jump forward fires every pending timer whose local deadline it passes.
//!
//! turmoil has one clock for every host, so per-host skew lives here (ARCHITECTURE.md §5):
//! `local = anchor_local + (t − anchor_t) · rate`, re-anchored at every change, where `t` comes from
//! the clock's time source: the process's monotonic clock for a real node, simulated time in the
//! simulation. The anchor is never a `tokio::time::Instant`: in the simulation every host (and
//! every restart of one) runs its own paused tokio clock whose origin is the real time it was
//! built at, so an instant taken in one runtime, or outside any, means something else in the next
//! and makes a replay depend on the wall clock. An instant to sleep until is computed when it is
//! asked for, from "now" in the caller's runtime.

use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

#[derive(Clone, Copy, Debug)]
struct Anchor {
    /// The time source's reading at the last change.
    global: Duration,
    /// Local seconds at `global`.
    local: f64,
    rate: f64,
}

/// Where a [`Clock`] reads the time that its local time runs against.
pub type TimeSource = Box<dyn Fn() -> Duration + Send + Sync>;

/// A clock with a rate and jumps, shared between a node and whoever skews it.
pub struct Clock {
    anchor: Mutex<Anchor>,
    source: TimeSource,
    changed: watch::Sender<u64>,
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clock").field("anchor", &*self.anchor()).finish_non_exhaustive()
    }
}

impl Clock {
    /// A clock that runs at the real rate, on the process's monotonic clock.
    pub fn new() -> Clock {
        let start = std::time::Instant::now();
        Clock::with_source(Box::new(move || start.elapsed()))
    }

    /// A clock that runs against `source` (a monotonic reading, such as simulated time).
    pub fn with_source(source: TimeSource) -> Clock {
        let global = source();
        Clock {
            anchor: Mutex::new(Anchor { global, local: 0.0, rate: 1.0 }),
            source,
            changed: watch::channel(0).0,
        }
    }

    fn anchor(&self) -> std::sync::MutexGuard<'_, Anchor> {
        self.anchor.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    fn local_at(anchor: &Anchor, global: Duration) -> f64 {
        anchor.local + global.saturating_sub(anchor.global).as_secs_f64() * anchor.rate
    }

    /// Local time now, in seconds since the clock was made (plus its jumps).
    pub fn now(&self) -> f64 {
        let anchor = *self.anchor();
        Clock::local_at(&anchor, (self.source)())
    }

    /// How long, on the source's time, until local time reaches `local`: zero once it has. A
    /// timer is due exactly when this is zero, by the same arithmetic that chose its wake-up, so
    /// that rounding can never leave a wake-up that finds nothing due and sleeps for nothing.
    pub fn until(&self, local: f64) -> Duration {
        let anchor = *self.anchor();
        let ahead = ((local - Clock::local_at(&anchor, (self.source)())) / anchor.rate).max(0.0);
        Duration::from_secs_f64(ahead.min(1e9))
    }

    /// The instant, on the calling runtime's clock, at which local time reaches `local` (now, if
    /// it has).
    pub fn instant_of(&self, local: f64) -> Instant {
        Instant::now() + self.until(local)
    }

    /// Local seconds, `after` from now.
    pub fn deadline(&self, after: Duration) -> f64 {
        self.now() + after.as_secs_f64()
    }

    /// From now on, local time runs `rate` times as fast as the source (must be positive).
    pub fn set_rate(&self, rate: f64) {
        assert!(rate > 0.0 && rate.is_finite(), "a clock rate must be positive");
        let global = (self.source)();
        let mut anchor = self.anchor();
        *anchor = Anchor { global, local: Clock::local_at(&anchor, global), rate };
        drop(anchor);
        self.changed.send_modify(|count| *count += 1);
    }

    /// Local time jumps by `seconds` (negative: backwards).
    pub fn jump(&self, seconds: f64) {
        self.anchor().local += seconds;
        self.changed.send_modify(|count| *count += 1);
    }

    /// Notified at every change of rate or jump.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::new()
    }
}

#[cfg(test)]
mod tests {
    use super::Clock;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    fn manual() -> (Arc<AtomicU64>, Clock) {
        let millis = Arc::new(AtomicU64::new(5_000));
        let reading = millis.clone();
        let clock =
            Clock::with_source(Box::new(move || Duration::from_millis(reading.load(Ordering::SeqCst))));
        (millis, clock)
    }

    #[test]
    fn local_time_follows_the_source_at_its_rate_and_jumps() {
        let (millis, clock) = manual();
        assert_eq!(clock.now(), 0.0);
        millis.fetch_add(2_000, Ordering::SeqCst);
        assert!((clock.now() - 2.0).abs() < 1e-9);
        clock.set_rate(3.0);
        millis.fetch_add(1_000, Ordering::SeqCst);
        assert!((clock.now() - 5.0).abs() < 1e-9, "{}", clock.now());
        clock.jump(-4.0);
        assert!((clock.now() - 1.0).abs() < 1e-9, "{}", clock.now());
        clock.set_rate(0.5);
        millis.fetch_add(2_000, Ordering::SeqCst);
        assert!((clock.now() - 2.0).abs() < 1e-9, "{}", clock.now());
    }

    #[tokio::test(start_paused = true)]
    async fn an_instant_is_reckoned_from_now_at_the_rate() {
        let (_millis, clock) = manual();
        clock.set_rate(2.0);
        let now = tokio::time::Instant::now();
        // Local time reaches 3 s after 1.5 s of source time.
        assert_eq!(clock.instant_of(3.0) - now, Duration::from_millis(1_500));
        // A deadline already passed is due now.
        assert_eq!(clock.instant_of(-1.0), now);
    }
}
