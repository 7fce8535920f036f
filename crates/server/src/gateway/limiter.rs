//! Token-bucket rate limits per app and per (app, operation). Buckets exist only for
//! configured limits, so memory is bounded by the limits in the store, never by traffic.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A configured limit: `rps` tokens per second into a bucket of `burst`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limit {
    pub rps: f64,
    pub burst: f64,
}

#[derive(Debug)]
struct Bucket {
    limit: Limit,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(limit: Limit, now: Instant) -> Self {
        Self {
            limit,
            tokens: limit.burst,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + dt * self.limit.rps).min(self.limit.burst);
        self.at = now;
    }

    /// How long until one token is there (zero when one is).
    fn wait(&self) -> Duration {
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.limit.rps)
        }
    }
}

/// Buckets keyed by (app id, operation or `*`).
#[derive(Default)]
pub struct Limiter {
    buckets: Mutex<HashMap<(String, String), Bucket>>,
}

impl Limiter {
    /// Take one token from every bucket in `limits` (all or none). `Err(wait)` says how
    /// long until the request would be admitted.
    pub fn take(&self, app: &str, limits: &[(&str, Limit)], now: Instant) -> Result<(), Duration> {
        if limits.is_empty() {
            return Ok(());
        }
        let mut m = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait = Duration::ZERO;
        for (op, limit) in limits {
            let b = m
                .entry((app.to_owned(), (*op).to_owned()))
                .or_insert_with(|| Bucket::new(*limit, now));
            if b.limit != *limit {
                // A changed limit applies at once; tokens above the new burst are dropped.
                b.limit = *limit;
                b.tokens = b.tokens.min(limit.burst);
            }
            b.refill(now);
            wait = wait.max(b.wait());
        }
        if wait > Duration::ZERO {
            return Err(wait);
        }
        for (op, _) in limits {
            if let Some(b) = m.get_mut(&(app.to_owned(), (*op).to_owned())) {
                b.tokens -= 1.0;
            }
        }
        Ok(())
    }

    /// Drop buckets whose limit is no longer configured.
    pub fn retain(&self, configured: impl Fn(&str, &str) -> bool) {
        self.buckets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(app, op), _| configured(app, op));
    }

    pub fn len(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `Retry-After` in whole seconds, at least 1 (RFC 9110 §10.2.3 takes integers).
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limit = Limit {
        rps: 2.0,
        burst: 3.0,
    };

    #[test]
    fn burst_then_steady_rate() {
        let l = Limiter::default();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.take("a", &[("*", L)], t0), Ok(()));
        }
        let wait = l.take("a", &[("*", L)], t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-9, "{wait:?}");
        assert_eq!(retry_after_secs(wait), 1);
        // Half a second later exactly one more token is there.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(l.take("a", &[("*", L)], t1), Ok(()));
        assert!(l.take("a", &[("*", L)], t1).is_err());
        // A long quiet spell refills only up to the burst.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(l.take("a", &[("*", L)], t2), Ok(()));
        }
        assert!(l.take("a", &[("*", L)], t2).is_err());
    }

    #[test]
    fn apps_and_operations_have_their_own_buckets() {
        let l = Limiter::default();
        let t = Instant::now();
        let one = Limit {
            rps: 1.0,
            burst: 1.0,
        };
        assert!(l.take("a", &[("*", one)], t).is_ok());
        assert!(l.take("a", &[("*", one)], t).is_err());
        assert!(
            l.take("b", &[("*", one)], t).is_ok(),
            "another app is unaffected"
        );
        // Both the app-wide and the per-operation bucket must admit; a refusal takes nothing.
        let sign = Limit {
            rps: 1.0,
            burst: 5.0,
        };
        let app = Limit {
            rps: 1.0,
            burst: 2.0,
        };
        assert!(l.take("c", &[("*", app), ("sign", sign)], t).is_ok());
        assert!(l.take("c", &[("*", app), ("sign", sign)], t).is_ok());
        assert!(l.take("c", &[("*", app), ("sign", sign)], t).is_err());
        // The sign bucket kept its tokens when the app-wide one refused.
        assert!(l.take("c", &[("sign", sign)], t).is_ok());
        assert!(l.take("c", &[("sign", sign)], t).is_ok());
        assert!(l.take("c", &[("sign", sign)], t).is_ok());
        assert!(l.take("c", &[("sign", sign)], t).is_err());
        assert_eq!(l.take("d", &[], t), Ok(()), "no limits, no bucket");
        assert_eq!(l.len(), 4);
        l.retain(|app, _| app != "c");
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn a_lowered_limit_applies_at_once() {
        let l = Limiter::default();
        let t = Instant::now();
        let big = Limit {
            rps: 100.0,
            burst: 100.0,
        };
        assert!(l.take("a", &[("*", big)], t).is_ok());
        let small = Limit {
            rps: 0.5,
            burst: 1.0,
        };
        assert!(l.take("a", &[("*", small)], t).is_ok());
        let wait = l.take("a", &[("*", small)], t).unwrap_err();
        assert_eq!(retry_after_secs(wait), 2);
    }
}
