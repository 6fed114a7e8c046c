//! A processor's bounded queue, fair between the providers that feed it: each provider's events
//! wait in their own line (first in, first out), and the worker takes them in turn, one line
//! after the other. A provider with nothing queued may always queue one event, even when a busy
//! provider has filled the queue, so no provider waits behind another's backlog; the queue holds
//! at most its capacity plus one event per other provider.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

/// Why an item was not queued: the receiving side has stopped (the item is handed back).
#[derive(Debug)]
pub struct Closed<T>(pub T);

struct Line<T> {
    from: Arc<str>,
    items: VecDeque<T>,
}

struct State<T> {
    /// One line per provider, in the order they first sent.
    lines: Vec<Line<T>>,
    /// The line the next take starts with.
    next: usize,
    queued: usize,
    /// Every sender is gone: the receiver takes what is left, then ends.
    senders_gone: bool,
    /// The receiver is gone: sends fail.
    receiver_gone: bool,
}

struct Shared<T> {
    capacity: usize,
    state: Mutex<State<T>>,
    /// A sender waits here for room.
    room: Notify,
    /// The receiver waits here for items.
    ready: Notify,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while holding the lock leaves consistent state (every change is one step).
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The sending side (one for all providers); dropping it lets the receiver end once empty.
pub struct Sender<T>(Arc<Shared<T>>);

/// The receiving side (the processor's worker); dropping it makes sends fail.
pub struct Receiver<T>(Arc<Shared<T>>);

/// A queue of `capacity` items (at least 1), fair between senders' providers.
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        capacity: capacity.max(1),
        state: Mutex::new(State {
            lines: Vec::new(),
            next: 0,
            queued: 0,
            senders_gone: false,
            receiver_gone: false,
        }),
        room: Notify::new(),
        ready: Notify::new(),
    });
    (Sender(shared.clone()), Receiver(shared))
}

impl<T> Sender<T> {
    /// Queues `item` in `from`'s line, waiting while the queue is full and `from` already has
    /// an item queued.
    pub async fn send(&self, from: &Arc<str>, item: T) -> Result<(), Closed<T>> {
        // A send that never waits would let a busy source run on without yielding; like
        // tokio's own channels, each send spends a unit of the task's budget.
        tokio::task::consume_budget().await;
        loop {
            let room = self.0.room.notified();
            tokio::pin!(room);
            {
                let mut s = self.0.lock();
                if s.receiver_gone {
                    return Err(Closed(item));
                }
                let line = match s.lines.iter().position(|l| l.from == *from) {
                    Some(i) => i,
                    None => {
                        s.lines.push(Line {
                            from: from.clone(),
                            items: VecDeque::new(),
                        });
                        s.lines.len() - 1
                    }
                };
                if s.queued < self.0.capacity || s.lines[line].items.is_empty() {
                    s.lines[line].items.push_back(item);
                    s.queued += 1;
                    drop(s);
                    self.0.ready.notify_one();
                    return Ok(());
                }
                // Registered before the lock is released, so a take in between still wakes us.
                room.as_mut().enable();
            }
            room.await;
        }
    }

    /// Items queued now, all lines together.
    #[cfg(test)]
    fn queued(&self) -> usize {
        self.0.lock().queued
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.0.lock().senders_gone = true;
        self.0.ready.notify_one();
    }
}

impl<T> Receiver<T> {
    /// Takes up to `max` items into `out`, one from each line in turn, waiting while the queue
    /// is empty; 0 once every sender is gone and nothing is left.
    pub async fn recv_many(&mut self, out: &mut Vec<T>, max: usize) -> usize {
        let max = max.max(1);
        loop {
            let ready = self.0.ready.notified();
            tokio::pin!(ready);
            {
                let mut s = self.0.lock();
                if s.queued > 0 {
                    let n = take(&mut s, out, max);
                    drop(s);
                    self.0.room.notify_waiters();
                    return n;
                }
                if s.senders_gone {
                    return 0;
                }
                ready.as_mut().enable();
            }
            ready.await;
        }
    }
}

/// Round robin over the lines from `next`; empty lines are dropped (a provider's line comes
/// back with its next send).
fn take<T>(s: &mut State<T>, out: &mut Vec<T>, max: usize) -> usize {
    let mut n = 0;
    while n < max && s.queued > 0 {
        if s.next >= s.lines.len() {
            s.next = 0;
        }
        if let Some(item) = s.lines[s.next].items.pop_front() {
            out.push(item);
            s.queued -= 1;
            n += 1;
        }
        if s.lines[s.next].items.is_empty() {
            s.lines.remove(s.next);
        } else {
            s.next += 1;
        }
    }
    n
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let left = {
            let mut s = self.0.lock();
            s.receiver_gone = true;
            s.queued = 0;
            std::mem::take(&mut s.lines)
        };
        drop(left);
        self.0.room.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn name(s: &str) -> Arc<str> {
        s.into()
    }

    #[tokio::test]
    async fn lines_are_taken_in_turn_each_in_its_own_order() {
        let (tx, mut rx) = channel(100);
        let (busy, quiet) = (name("busy"), name("quiet"));
        for i in 0..5 {
            tx.send(&busy, format!("b{i}")).await.unwrap();
        }
        tx.send(&quiet, "q0".to_string()).await.unwrap();
        tx.send(&quiet, "q1".to_string()).await.unwrap();
        let mut out = Vec::new();
        assert_eq!(rx.recv_many(&mut out, 3).await, 3);
        assert_eq!(out, ["b0", "q0", "b1"]);
        out.clear();
        assert_eq!(rx.recv_many(&mut out, 10).await, 4);
        assert_eq!(out, ["q1", "b2", "b3", "b4"]);
    }

    #[tokio::test]
    async fn a_quiet_provider_never_waits_behind_a_full_queue() {
        let (tx, mut rx) = channel(4);
        let (busy, quiet) = (name("busy"), name("quiet"));
        for i in 0..4 {
            tx.send(&busy, i).await.unwrap();
        }
        // Full for the busy provider: its next send waits.
        let blocked = tokio::time::timeout(Duration::from_millis(50), tx.send(&busy, 4)).await;
        assert!(blocked.is_err(), "the busy provider waits for room");
        // The quiet one is taken at once, and served right after the busy line's head.
        tokio::time::timeout(Duration::from_millis(50), tx.send(&quiet, 100))
            .await
            .expect("the quiet provider does not wait")
            .unwrap();
        assert_eq!(tx.queued(), 5, "capacity plus one per other provider");
        let mut out = Vec::new();
        rx.recv_many(&mut out, 2).await;
        assert_eq!(out, [0, 100]);
    }

    #[tokio::test]
    async fn a_waiting_sender_is_woken_by_a_take_and_the_end_is_seen() {
        let (tx, mut rx) = channel(1);
        let a = name("a");
        tx.send(&a, 1).await.unwrap();
        let tx = Arc::new(tx);
        let waiting = tokio::spawn({
            let (tx, a) = (tx.clone(), a.clone());
            async move { tx.send(&a, 2).await.is_ok() }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        let mut out = Vec::new();
        rx.recv_many(&mut out, 1).await;
        assert!(waiting.await.unwrap(), "woken when room appears");
        drop(Arc::try_unwrap(tx).ok().unwrap());
        out.clear();
        assert_eq!(rx.recv_many(&mut out, 5).await, 1, "what is left is taken");
        assert_eq!(rx.recv_many(&mut out, 5).await, 0, "then the end");
    }

    #[tokio::test]
    async fn sends_fail_with_the_item_once_the_receiver_is_gone() {
        let (tx, rx) = channel(1);
        let a = name("a");
        tx.send(&a, 1).await.unwrap();
        let waiting = tokio::spawn(async move { tx.send(&a, 2).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(rx);
        match waiting.await.unwrap() {
            Err(Closed(item)) => assert_eq!(item, 2),
            Ok(()) => panic!("sent to a stopped receiver"),
        }
    }
}
