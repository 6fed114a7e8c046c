//! The live view's feed: every event a source hands to the processors, as its CloudEvent JSON,
//! to whoever watches. A bounded broadcast: a slow or closed browser loses its oldest events
//! (it is told how many) and never slows delivery; with nobody watching, nothing is even
//! serialised.

use std::sync::Arc;

use cloudevents::Event;
use tokio::sync::broadcast;

/// Events one watcher may fall behind by before it loses the oldest.
pub const BACKLOG: usize = 256;

/// The feed, shared by the fan-out (which publishes) and the console (which subscribes).
pub struct LiveEvents {
    tx: broadcast::Sender<Arc<str>>,
}

impl Default for LiveEvents {
    fn default() -> Self {
        LiveEvents {
            tx: broadcast::channel(BACKLOG).0,
        }
    }
}

impl LiveEvents {
    /// Sends the event to every watcher; free when there is none.
    pub fn publish(&self, event: &Event) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        if let Ok(json) = serde_json::to_string(event) {
            let _ = self.tx.send(json.into());
        }
    }

    /// A new watcher: events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.tx.subscribe()
    }

    /// How many watch now.
    pub fn watchers(&self) -> usize {
        self.tx.receiver_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::{EventBuilder, EventBuilderV10};

    fn event(id: &str) -> Event {
        EventBuilderV10::new().id(id).source("s").ty("t").build().unwrap()
    }

    #[tokio::test]
    async fn a_slow_watcher_loses_the_oldest_and_nobody_watching_costs_nothing() {
        let live = LiveEvents::default();
        live.publish(&event("0"));
        let mut rx = live.subscribe();
        for i in 1..=(BACKLOG + 10) {
            live.publish(&event(&i.to_string()));
        }
        match rx.recv().await {
            Err(broadcast::error::RecvError::Lagged(n)) => assert_eq!(n, 10),
            other => panic!("expected a lag, got {other:?}"),
        }
        let next = rx.recv().await.unwrap();
        assert!(next.contains("\"id\":\"11\""), "{next}");
        drop(rx);
        assert_eq!(live.watchers(), 0);
    }
}
