//! A circuit breaker for L2: after enough consecutive failures Redis is skipped (requests go on with L1
//! alone) until a single probe, let through after a cooldown that doubles while probes fail, succeeds.
//! One warning is logged per outage and one line when it ends.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longest cooldown between probes.
const MAX_COOLDOWN: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
        cooldown: Duration,
    },
    /// One probe is in flight; another is allowed if it has not reported by `deadline`.
    Probing {
        deadline: Instant,
        cooldown: Duration,
    },
}

/// What a report changed, for the caller to log and count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    None,
    /// The breaker opened: an outage began.
    Opened,
    /// A probe succeeded after an outage of this long.
    Closed(Duration),
}

#[derive(Debug)]
pub struct Breaker {
    state: Mutex<State>,
    threshold: u32,
    base_cooldown: Duration,
    probe_timeout: Duration,
    outage_started: Mutex<Option<Instant>>,
}

impl Breaker {
    pub fn new(threshold: u32, base_cooldown: Duration, probe_timeout: Duration) -> Self {
        Self {
            state: Mutex::new(State::Closed { failures: 0 }),
            threshold: threshold.max(1),
            base_cooldown: base_cooldown.min(MAX_COOLDOWN),
            probe_timeout,
            outage_started: Mutex::new(None),
        }
    }

    /// Whether an operation may go to Redis now.
    pub fn allow(&self) -> bool {
        let mut state = self.lock();
        let now = Instant::now();
        match *state {
            State::Closed { .. } => true,
            State::Open { until, cooldown }
            | State::Probing {
                deadline: until,
                cooldown,
            } => {
                if now >= until {
                    *state = State::Probing {
                        deadline: now + self.probe_timeout * 2,
                        cooldown,
                    };
                    true
                } else {
                    false
                }
            }
        }
    }

    /// Whether the breaker lets operations through (closed).
    pub fn is_closed(&self) -> bool {
        matches!(*self.lock(), State::Closed { .. })
    }

    pub fn success(&self) -> Transition {
        let mut state = self.lock();
        let was_closed = matches!(*state, State::Closed { .. });
        *state = State::Closed { failures: 0 };
        if was_closed {
            return Transition::None;
        }
        let started = self
            .outage_started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        Transition::Closed(started.map_or(Duration::ZERO, |s| s.elapsed()))
    }

    pub fn failure(&self) -> Transition {
        let mut state = self.lock();
        let now = Instant::now();
        match *state {
            State::Closed { failures } if failures + 1 < self.threshold => {
                *state = State::Closed {
                    failures: failures + 1,
                };
                Transition::None
            }
            State::Closed { .. } => {
                *state = State::Open {
                    until: now + self.base_cooldown,
                    cooldown: self.base_cooldown,
                };
                *self
                    .outage_started
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(now);
                Transition::Opened
            }
            State::Open { until, cooldown } => {
                *state = State::Open { until, cooldown };
                Transition::None
            }
            State::Probing { cooldown, .. } => {
                let cooldown = (cooldown * 2).min(MAX_COOLDOWN);
                *state = State::Open {
                    until: now + cooldown,
                    cooldown,
                };
                Transition::None
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_and_probes_after_the_cooldown() {
        let breaker = Breaker::new(3, Duration::from_millis(30), Duration::from_millis(10));
        assert!(breaker.allow());
        assert_eq!(breaker.failure(), Transition::None);
        assert_eq!(breaker.failure(), Transition::None);
        assert!(breaker.is_closed());
        assert_eq!(breaker.failure(), Transition::Opened);
        assert!(!breaker.allow(), "open: skipped");
        assert_eq!(
            breaker.failure(),
            Transition::None,
            "one warning per outage"
        );
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.allow(), "the probe");
        assert!(!breaker.allow(), "only one probe at a time");
        assert_eq!(
            breaker.failure(),
            Transition::None,
            "a failed probe reopens"
        );
        assert!(!breaker.allow());
        std::thread::sleep(Duration::from_millis(70));
        assert!(breaker.allow(), "after the doubled cooldown");
        assert!(
            matches!(breaker.success(), Transition::Closed(d) if d >= Duration::from_millis(100))
        );
        assert!(breaker.is_closed());
        assert!(breaker.allow());
        assert_eq!(breaker.success(), Transition::None);
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let breaker = Breaker::new(2, Duration::from_secs(1), Duration::from_millis(10));
        breaker.failure();
        breaker.success();
        assert_eq!(breaker.failure(), Transition::None);
        assert_eq!(breaker.failure(), Transition::Opened);
    }
}
