//! Retry policy for HTTP sinks: which outcomes are worth another try, and exponential
//! backoff with full jitter between tries.

use std::time::Duration;

use rand::Rng;

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Worth another try: connection error, timeout, 404, 408, 409, 429, 5xx.
    Retryable(String),
    /// Retrying cannot help: other 4xx, 1xx, 3xx.
    Rejected(String),
}

/// Classifies an HTTP status as the Knative data-plane contract does.
pub fn classify_status(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered,
        404 | 408 | 409 | 429 | 500..=599 => Outcome::Retryable(format!("HTTP {status}")),
        _ => Outcome::Rejected(format!("HTTP {status}")),
    }
}

/// Exponential backoff with full jitter.
#[derive(Debug, Clone)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub max_attempts: u32,
    /// Give up once this long has passed since the first attempt, attempts left or not.
    pub max_elapsed: Option<Duration>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
            max_attempts: 5,
            max_elapsed: None,
        }
    }
}

impl Backoff {
    /// Whether to stop after failed attempt `attempt` begun `started` ago.
    pub fn exhausted(&self, attempt: u32, started: std::time::Instant) -> bool {
        attempt >= self.max_attempts || self.max_elapsed.is_some_and(|m| started.elapsed() >= m)
    }

    /// The wait after failed attempt `attempt` (1-based): uniform in [0, min(max, initial*2^(attempt-1))].
    pub fn delay(&self, attempt: u32) -> Duration {
        let cap = self.ceiling(attempt);
        let ms = cap.as_millis() as u64;
        Duration::from_millis(rand::rng().random_range(0..=ms))
    }

    /// The upper bound of the wait after attempt `attempt`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.saturating_sub(1).min(20)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_knative_contract() {
        assert_eq!(classify_status(202), Outcome::Delivered);
        for s in [404, 408, 409, 429, 500, 502, 503] {
            assert!(matches!(classify_status(s), Outcome::Retryable(_)), "{s}");
        }
        for s in [400, 401, 403, 413, 101, 301] {
            assert!(matches!(classify_status(s), Outcome::Rejected(_)), "{s}");
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let b = Backoff::default();
        assert_eq!(b.ceiling(1), Duration::from_millis(100));
        assert_eq!(b.ceiling(3), Duration::from_millis(400));
        assert_eq!(b.ceiling(30), Duration::from_secs(5));
        for a in 1..10 {
            assert!(b.delay(a) <= b.ceiling(a));
        }
    }
}
