//! The API's own analytics events (`api_call` for every authenticated request, `tag_decision`
//! for every decision), gathered in memory and sent to the events queue in batches, off the
//! request's path: a request never waits on the queue for its metering.
//!
//! A batch goes when [`FLUSH_EVENTS`] events are waiting or the oldest has waited
//! [`FLUSH_AFTER`] (checked as events arrive), and on [`EventReporter::flush`], which `mvidarr
//! serve` calls every second and on shutdown, and the Lambda function after every response
//! (see [`crate::lambda_router`]): a frozen instance keeps nothing unsent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mvidarr_core::analytics::{AnalyticsEvent, report_events};
use mvidarr_core::ids::TenantId;
use mvidarr_core::ports::Platform;

/// Events waiting that make a batch go.
pub const FLUSH_EVENTS: usize = 500;
/// How long the oldest waiting event may wait.
pub const FLUSH_AFTER: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Waiting {
    events: HashMap<TenantId, Vec<AnalyticsEvent>>,
    count: usize,
    since: Option<Instant>,
}

impl Waiting {
    fn take(&mut self) -> HashMap<TenantId, Vec<AnalyticsEvent>> {
        self.count = 0;
        self.since = None;
        std::mem::take(&mut self.events)
    }
}

pub struct EventReporter<P: Platform> {
    platform: P,
    waiting: Mutex<Waiting>,
}

impl<P: Platform> EventReporter<P> {
    pub fn new(platform: P) -> Self {
        Self {
            platform,
            waiting: Mutex::new(Waiting::default()),
        }
    }

    /// Queue an event to be sent; sends the waiting ones in the background when due.
    pub fn report(self: &Arc<Self>, tenant: TenantId, event: AnalyticsEvent) {
        let due = {
            let mut w = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
            w.events.entry(tenant).or_default().push(event);
            w.count += 1;
            let since = *w.since.get_or_insert_with(Instant::now);
            (w.count >= FLUSH_EVENTS || since.elapsed() >= FLUSH_AFTER).then(|| w.take())
        };
        if let Some(due) = due {
            let me = self.clone();
            tokio::spawn(async move { me.send(due).await });
        }
    }

    /// Send every waiting event now.
    pub async fn flush(&self) {
        let due = self
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        self.send(due).await;
    }

    async fn send(&self, due: HashMap<TenantId, Vec<AnalyticsEvent>>) {
        for (tenant, events) in due {
            report_events(self.platform.events_queue(), tenant, events).await;
        }
    }
}
