//! The one retry loop of every processor (as Vector's `sinks/util` retry policy): which
//! outcomes are worth another try, exponential backoff with full jitter between tries (capped at
//! [`MAX_WAIT`]), a time budget ([`RETRY_BUDGET`] by default, long enough for a Broker restart or
//! upgrade; attempts are not limited unless configured), and a partial form for batches
//! (Vector's `RetryPartial`) where only the entries that failed are sent again. A transient
//! failure (no connection, a timeout, 408, 409, 429, 5xx) is retried for as long as the budget
//! allows, holding the event (and, through the fan-out, its object's later events and the
//! checkpoint); a refusal the sink will repeat (any other 4xx, 3xx, 1xx) ends at once. Processors only build requests and classify
//! answers into an [`Outcome`]. Each retry is also counted on the processor's stats when the
//! delivery runs inside [`observed`] (the fan-out's worker does that), so /metrics and the
//! console show a failing sink however the processor is written.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::metrics::stats::ComponentStats;

tokio::task_local! {
    static OBSERVER: Arc<ComponentStats>;
}

/// Runs `delivery` with every retry in it counted on `stats`.
pub async fn observed<F: Future>(stats: Arc<ComponentStats>, delivery: F) -> F::Output {
    OBSERVER.scope(stats, delivery).await
}

fn note_retry(detail: &str) {
    let _ = OBSERVER.try_with(|stats| stats.retrying(detail));
}

use rand::Rng;

/// The longest wait between two attempts.
pub const MAX_WAIT: Duration = Duration::from_secs(30);
/// How long a transient failure is retried by default (`maxRetrySeconds`).
pub const RETRY_BUDGET: Duration = Duration::from_secs(crate::config::defaults::RETRY_BUDGET_SECONDS);

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Worth another try: connection error, timeout, 408, 409, 429, 5xx.
    Retryable(String),
    /// The sink will refuse it again: other 4xx (400, 401, 403, 404, 413, 415, 422, ...), 1xx,
    /// 3xx.
    Rejected(String),
}

/// Classifies an HTTP status: transient (408, 409, 429 and 5xx, as the Knative data-plane
/// contract retries them) or a refusal the sink will repeat (404 included: a missing path or
/// Broker does not appear by trying again within a delivery).
pub fn classify_status(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered,
        408 | 409 | 429 | 500..=599 => Outcome::Retryable(format!("HTTP {status}")),
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
    /// 100 ms doubling to [`MAX_WAIT`], no attempt limit, for [`RETRY_BUDGET`].
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: MAX_WAIT,
            max_attempts: u32::MAX,
            max_elapsed: Some(RETRY_BUDGET),
        }
    }
}

impl Backoff {
    /// The default policy with a processor's `maxAttempts` and `maxRetrySeconds` (unset: no
    /// attempt limit, and [`RETRY_BUDGET`]).
    pub fn configured(max_attempts: Option<u32>, max_retry_seconds: Option<u64>) -> Backoff {
        Backoff {
            max_attempts: max_attempts.unwrap_or(u32::MAX).max(1),
            max_elapsed: Some(max_retry_seconds.map_or(RETRY_BUDGET, Duration::from_secs)),
            ..Backoff::default()
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

/// How a retried delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Final {
    Delivered,
    /// Refused for good on attempt `attempts`.
    Rejected {
        attempts: u32,
        detail: String,
    },
    /// Still failing when the attempts or the time ran out.
    Exhausted {
        attempts: u32,
        last: String,
    },
}

/// Runs `attempt` (given the attempt number, from 1) until it delivers, is refused, or
/// `backoff` is spent; `on_retry(attempt, detail, wait)` is told of each retry before the wait.
pub async fn run<Fut>(
    backoff: &Backoff,
    mut attempt: impl FnMut(u32) -> Fut,
    mut on_retry: impl FnMut(u32, &str, Duration),
) -> Final
where
    Fut: Future<Output = Outcome>,
{
    let started = Instant::now();
    let mut n = 0;
    loop {
        n += 1;
        match attempt(n).await {
            Outcome::Delivered => return Final::Delivered,
            Outcome::Rejected(detail) => return Final::Rejected { attempts: n, detail },
            Outcome::Retryable(last) if backoff.exhausted(n, started) => return Final::Exhausted { attempts: n, last },
            Outcome::Retryable(detail) => {
                let wait = backoff.delay(n);
                note_retry(&detail);
                on_retry(n, &detail, wait);
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// A batch call that failed as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFailed {
    pub last: String,
    /// Another call will fail the same way (no permission, a malformed request): every item
    /// ends refused. Otherwise (no connection, throttled, 5xx) every item is tried again.
    pub permanent: bool,
}

/// The batch form: `attempt` sends the items still pending and answers an outcome for each
/// (in any order), or `Err` when the whole call failed (every pending item is then refused, or
/// tried again, as [`CallFailed::permanent`] says). Delivered and refused items are final; only
/// the retryable ones go again, together, until `backoff` is spent. `on_retry(attempt, failed,
/// first detail, wait)` is told of each retry.
pub async fn run_partial<T, Fut>(
    backoff: &Backoff,
    items: Vec<T>,
    mut attempt: impl FnMut(u32, &[T]) -> Fut,
    mut on_retry: impl FnMut(u32, usize, &str, Duration),
) -> Vec<(T, Final)>
where
    Fut: Future<Output = Result<Vec<(usize, Outcome)>, CallFailed>>,
{
    let started = Instant::now();
    let mut done = Vec::new();
    let mut pending = items;
    let mut n = 0;
    while !pending.is_empty() {
        n += 1;
        let outcomes = match attempt(n, &pending).await {
            Ok(o) => o,
            Err(CallFailed { last, permanent: true }) => {
                done.extend(pending.into_iter().map(|t| {
                    (
                        t,
                        Final::Rejected {
                            attempts: n,
                            detail: last.clone(),
                        },
                    )
                }));
                break;
            }
            Err(CallFailed { last, .. }) => (0..pending.len())
                .map(|i| (i, Outcome::Retryable(last.clone())))
                .collect(),
        };
        let mut by_index: Vec<Option<Outcome>> = vec![None; pending.len()];
        for (i, o) in outcomes {
            if let Some(slot) = by_index.get_mut(i) {
                *slot = Some(o);
            }
        }
        let spent = backoff.exhausted(n, started);
        let mut again = Vec::new();
        let mut first = String::new();
        for (t, o) in pending.into_iter().zip(by_index) {
            match o.unwrap_or_else(|| Outcome::Retryable("no result for the entry".into())) {
                Outcome::Delivered => done.push((t, Final::Delivered)),
                Outcome::Rejected(detail) => done.push((t, Final::Rejected { attempts: n, detail })),
                Outcome::Retryable(last) if spent => done.push((t, Final::Exhausted { attempts: n, last })),
                Outcome::Retryable(last) => {
                    if first.is_empty() {
                        first = last;
                    }
                    again.push(t);
                }
            }
        }
        if !again.is_empty() {
            let wait = backoff.delay(n);
            note_retry(&first);
            on_retry(n, again.len(), &first, wait);
            tokio::time::sleep(wait).await;
        }
        pending = again;
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_knative_contract() {
        assert_eq!(classify_status(202), Outcome::Delivered);
        for s in [408, 409, 429, 500, 502, 503] {
            assert!(matches!(classify_status(s), Outcome::Retryable(_)), "{s}");
        }
        for s in [400, 401, 403, 404, 413, 415, 422, 101, 301] {
            assert!(matches!(classify_status(s), Outcome::Rejected(_)), "{s}");
        }
    }

    fn quick(attempts: u32) -> Backoff {
        Backoff {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(2),
            max_attempts: attempts,
            max_elapsed: None,
        }
    }

    #[tokio::test]
    async fn run_retries_until_delivered_refused_or_spent() {
        let mut answers = vec![Outcome::Retryable("503".into()), Outcome::Delivered].into_iter();
        let mut retries = Vec::new();
        let end = run(
            &quick(5),
            |_| std::future::ready(answers.next().unwrap()),
            |n, d, _| retries.push((n, d.to_string())),
        )
        .await;
        assert_eq!(end, Final::Delivered);
        assert_eq!(retries, [(1, "503".to_string())]);

        let end = run(
            &quick(5),
            |_| std::future::ready(Outcome::Rejected("HTTP 400".into())),
            |_, _, _| {},
        )
        .await;
        assert_eq!(
            end,
            Final::Rejected {
                attempts: 1,
                detail: "HTTP 400".into()
            },
            "a refusal is not retried"
        );

        let end = run(
            &quick(3),
            |n| std::future::ready(Outcome::Retryable(format!("try {n}"))),
            |_, _, _| {},
        )
        .await;
        assert_eq!(
            end,
            Final::Exhausted {
                attempts: 3,
                last: "try 3".into()
            }
        );

        let timed = Backoff {
            max_elapsed: Some(Duration::ZERO),
            ..quick(100)
        };
        let end = run(
            &timed,
            |_| std::future::ready(Outcome::Retryable("x".into())),
            |_, _, _| {},
        )
        .await;
        assert_eq!(
            end,
            Final::Exhausted {
                attempts: 1,
                last: "x".into()
            },
            "the time limit counts too"
        );
    }

    #[tokio::test]
    async fn run_partial_sends_only_the_failed_entries_again() {
        let mut calls: Vec<Vec<char>> = Vec::new();
        let results = run_partial(
            &quick(3),
            vec!['a', 'b', 'c', 'd'],
            |_, pending: &[char]| {
                calls.push(pending.to_vec());
                let out = pending
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let o = match c {
                            'a' => Outcome::Delivered,
                            'b' => Outcome::Rejected("MalformedDetail".into()),
                            'c' if calls.len() < 2 => Outcome::Retryable("ThrottlingException".into()),
                            'c' => Outcome::Delivered,
                            _ => Outcome::Retryable("InternalFailure".into()),
                        };
                        (i, o)
                    })
                    .collect();
                std::future::ready(Ok(out))
            },
            |_, _, _, _| {},
        )
        .await;
        assert_eq!(calls, [vec!['a', 'b', 'c', 'd'], vec!['c', 'd'], vec!['d']]);
        let get = |c: char| results.iter().find(|(t, _)| *t == c).map(|(_, f)| f.clone()).unwrap();
        assert_eq!(get('a'), Final::Delivered);
        assert_eq!(
            get('b'),
            Final::Rejected {
                attempts: 1,
                detail: "MalformedDetail".into()
            }
        );
        assert_eq!(get('c'), Final::Delivered);
        assert_eq!(
            get('d'),
            Final::Exhausted {
                attempts: 3,
                last: "InternalFailure".into()
            }
        );

        // A whole call refused for good ends every pending entry refused at once.
        let results = run_partial(
            &quick(3),
            vec![1, 2],
            |_, _: &[i32]| {
                std::future::ready(Err(CallFailed {
                    last: "AccessDenied".to_string(),
                    permanent: true,
                }))
            },
            |_, _, _, _| {},
        )
        .await;
        assert!(results.iter().all(|(_, f)| *f
            == Final::Rejected {
                attempts: 1,
                detail: "AccessDenied".into()
            }));
        // A whole call that failed for now is tried again with every entry, until it works.
        let mut calls = 0;
        let results = run_partial(
            &quick(5),
            vec![1, 2],
            |_, pending: &[i32]| {
                calls += 1;
                let answer = if calls < 3 {
                    Err(CallFailed {
                        last: "dispatch failure".to_string(),
                        permanent: false,
                    })
                } else {
                    Ok((0..pending.len()).map(|i| (i, Outcome::Delivered)).collect())
                };
                std::future::ready(answer)
            },
            |_, _, _, _| {},
        )
        .await;
        assert_eq!(calls, 3);
        assert!(results.iter().all(|(_, f)| *f == Final::Delivered));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let b = Backoff::default();
        assert_eq!(b.ceiling(1), Duration::from_millis(100));
        assert_eq!(b.ceiling(3), Duration::from_millis(400));
        assert_eq!(b.ceiling(30), Duration::from_secs(30), "at most 30 s between attempts");
        assert_eq!(
            (b.max_attempts, b.max_elapsed),
            (u32::MAX, Some(Duration::from_secs(3600)))
        );
        let set = Backoff::configured(Some(3), Some(60));
        assert_eq!((set.max_attempts, set.max_elapsed), (3, Some(Duration::from_secs(60))));
        for a in 1..10 {
            assert!(b.delay(a) <= b.ceiling(a));
        }
    }
}
