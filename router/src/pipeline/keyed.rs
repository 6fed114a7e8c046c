//! Keyed concurrency, as partitions by key are in Kafka: up to `limit` jobs in flight, never two
//! of the same key at once, and each key's jobs started in the order they arrived, so one
//! object's events reach the sink in order while different objects' events proceed in
//! parallel. With a limit of 1 the order is total. [`Scheduler`] is the pure bookkeeping (no
//! I/O, no time), so its rules are tested on their own with random keys and completion orders.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// The order a job keeps: with the earlier jobs of its key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key<K> {
    /// Ordered after the earlier jobs of this key only.
    Of(K),
    /// Ordered after every earlier job, and every later job after it.
    Barrier,
}

/// Jobs waiting and in flight.
#[derive(Debug)]
pub struct Scheduler<K: Eq + Hash + Clone, T> {
    limit: usize,
    /// Arrived, not started: (sequence number, key, job).
    waiting: VecDeque<(u64, Key<K>, T)>,
    /// Jobs in flight per key.
    running: HashMap<K, usize>,
    /// Barriers in flight (at most one, and then nothing else).
    running_barrier: bool,
    in_flight: usize,
    next_seq: u64,
}

impl<K: Eq + Hash + Clone, T> Scheduler<K, T> {
    /// A scheduler with at most `limit` jobs in flight (at least 1).
    pub fn new(limit: usize) -> Scheduler<K, T> {
        Scheduler {
            limit: limit.max(1),
            waiting: VecDeque::new(),
            running: HashMap::new(),
            running_barrier: false,
            in_flight: 0,
            next_seq: 0,
        }
    }

    /// Jobs arrived and not started.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Jobs started and not finished.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Whether nothing waits or runs.
    pub fn is_idle(&self) -> bool {
        self.waiting.is_empty() && self.in_flight == 0
    }

    /// A job arrives; returns its sequence number (arrival order).
    pub fn push(&mut self, key: Key<K>, job: T) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.waiting.push_back((seq, key, job));
        seq
    }

    /// The next job that may start now (the earliest eligible one), marked in flight; `None`
    /// when the limit is reached or every waiting job must wait for an earlier one.
    pub fn start_next(&mut self) -> Option<(u64, Key<K>, T)> {
        if self.in_flight >= self.limit || self.running_barrier {
            return None;
        }
        // The earliest job whose key is not running: an earlier waiting job of the same key
        // was passed over only because its key runs, so it cannot be overtaken.
        let mut pick = None;
        for (i, (_, key, _)) in self.waiting.iter().enumerate() {
            match key {
                Key::Barrier => {
                    // A barrier starts only when it is first and nothing runs; nothing after
                    // it may start before it.
                    if i == 0 && self.in_flight == 0 {
                        pick = Some(i);
                    }
                    break;
                }
                Key::Of(k) if !self.running.contains_key(k) => {
                    pick = Some(i);
                    break;
                }
                Key::Of(_) => {}
            }
        }
        let (seq, key, job) = self.waiting.remove(pick?)?;
        match &key {
            Key::Barrier => self.running_barrier = true,
            Key::Of(k) => *self.running.entry(k.clone()).or_insert(0) += 1,
        }
        self.in_flight += 1;
        Some((seq, key, job))
    }

    /// A started job finished.
    pub fn done(&mut self, key: &Key<K>) {
        self.in_flight = self.in_flight.saturating_sub(1);
        match key {
            Key::Barrier => self.running_barrier = false,
            Key::Of(k) => {
                if let Some(n) = self.running.get_mut(k) {
                    *n -= 1;
                    if *n == 0 {
                        self.running.remove(k);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_key_waits_for_its_earlier_job_and_others_pass() {
        let mut s: Scheduler<&str, u32> = Scheduler::new(2);
        s.push(Key::Of("vm-1"), 1);
        s.push(Key::Of("vm-1"), 2);
        s.push(Key::Of("vm-2"), 3);
        assert_eq!(s.start_next().map(|j| j.2), Some(1));
        assert_eq!(s.start_next().map(|j| j.2), Some(3), "vm-1's second waits; vm-2 passes");
        assert!(s.start_next().is_none(), "the limit");
        s.done(&Key::Of("vm-1"));
        assert_eq!(s.start_next().map(|j| j.2), Some(2));
    }

    #[test]
    fn a_barrier_waits_for_everything_before_and_holds_everything_after() {
        let mut s: Scheduler<&str, u32> = Scheduler::new(4);
        s.push(Key::Of("a"), 1);
        s.push(Key::Barrier, 2);
        s.push(Key::Of("b"), 3);
        assert_eq!(s.start_next().map(|j| j.2), Some(1));
        assert!(
            s.start_next().is_none(),
            "the barrier waits for a; b waits for the barrier"
        );
        s.done(&Key::Of("a"));
        assert_eq!(s.start_next().map(|j| j.2), Some(2));
        assert!(s.start_next().is_none());
        s.done(&Key::Barrier);
        assert_eq!(s.start_next().map(|j| j.2), Some(3));
    }

    /// Random keys (some barriers), a random limit and a random completion order: every job
    /// starts exactly once; never more than the limit in flight; never two of a key at once;
    /// each key's jobs start in arrival order; a barrier starts alone, after everything earlier.
    fn run(limit: usize, keys: Vec<Option<u8>>, choices: Vec<usize>) {
        let mut s: Scheduler<u8, usize> = Scheduler::new(limit);
        for (i, k) in keys.iter().enumerate() {
            s.push(k.map_or(Key::Barrier, Key::Of), i);
        }
        let mut running: Vec<(usize, Key<u8>)> = Vec::new();
        let mut started: Vec<usize> = Vec::new();
        let mut finished = vec![false; keys.len()];
        let mut choice = choices.into_iter().cycle();
        loop {
            while let Some((_, key, job)) = s.start_next() {
                assert!(running.len() < limit.max(1), "over the limit");
                if let Key::Of(k) = &key {
                    assert!(
                        !running.iter().any(|(_, r)| r == &Key::Of(*k)),
                        "two of key {k} at once"
                    );
                    // Every earlier job of the key has finished.
                    assert!((0..job).filter(|&j| keys[j] == Some(*k)).all(|j| finished[j]));
                } else {
                    assert!(running.is_empty(), "a barrier runs alone");
                    assert!((0..job).all(|j| finished[j]), "a barrier after everything earlier");
                }
                // Nothing starts before an earlier barrier finished.
                assert!((0..job).filter(|&j| keys[j].is_none()).all(|j| finished[j]));
                started.push(job);
                running.push((job, key));
            }
            if running.is_empty() {
                break;
            }
            let i = choice.next().unwrap_or(0) % running.len();
            let (job, key) = running.remove(i);
            finished[job] = true;
            s.done(&key);
        }
        assert!(s.is_idle());
        started.sort_unstable();
        assert_eq!(started, (0..keys.len()).collect::<Vec<_>>(), "each job exactly once");
    }

    proptest! {
        #[test]
        fn keyed_order_limit_and_barriers_always_hold(
            limit in 1usize..6,
            keys in proptest::collection::vec(proptest::option::weighted(0.9, 0u8..6), 0..60),
            choices in proptest::collection::vec(0usize..100, 1..40),
        ) {
            run(limit, keys, choices);
        }
    }
}
