//! The node's own clock: a local time that may run at another rate than the real (or simulated)
//! clock, and jump. Timers are set in local time, so a node whose clock runs fast fires its timers
//! early, and a jump forward fires every pending timer whose local deadline it passes.
//!
//! turmoil has one clock for every host, so per-host skew lives here (ARCHITECTURE.md §5):
//! `local = anchor_local + (t − anchor_t) · rate`, re-anchored at every change.

use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

#[derive(Clone, Copy, Debug)]
struct Anchor {
    global: Instant,
    /// Local seconds at `global`.
    local: f64,
    rate: f64,
}

/// A clock with a rate and jumps, shared between a node and whoever skews it.
#[derive(Debug)]
pub struct Clock {
    anchor: Mutex<Anchor>,
    changed: watch::Sender<u64>,
}

impl Clock {
    /// A clock that runs at the real rate.
    pub fn new() -> Clock {
        Clock {
            anchor: Mutex::new(Anchor { global: Instant::now(), local: 0.0, rate: 1.0 }),
            changed: watch::channel(0).0,
        }
    }

    fn anchor(&self) -> std::sync::MutexGuard<'_, Anchor> {
        self.anchor.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// Local time now, in seconds since the clock was made.
    pub fn now(&self) -> f64 {
        let anchor = *self.anchor();
        anchor.local + Instant::now().saturating_duration_since(anchor.global).as_secs_f64() * anchor.rate
    }

    /// The real instant at which local time reaches `local`.
    pub fn instant_of(&self, local: f64) -> Instant {
        let anchor = *self.anchor();
        let ahead = ((local - anchor.local) / anchor.rate).max(0.0);
        anchor.global + Duration::from_secs_f64(ahead.min(1e9))
    }

    /// Local seconds, `after` from now.
    pub fn deadline(&self, after: Duration) -> f64 {
        self.now() + after.as_secs_f64()
    }

    /// From now on, local time runs `rate` times as fast as real time (must be positive).
    pub fn set_rate(&self, rate: f64) {
        assert!(rate > 0.0 && rate.is_finite(), "a clock rate must be positive");
        let now = self.now();
        *self.anchor() = Anchor { global: Instant::now(), local: now, rate };
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
