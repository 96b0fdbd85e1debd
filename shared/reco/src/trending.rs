//! Trending: what many people played lately, per sliding window (hour, day, week).
//!
//! Each event's weight decays with age (half-life a quarter of the window) and events older than
//! the window count nothing. Anomaly-aware by construction: the decayed sum of one actor on one
//! item is capped at 1, so a client replaying a video 1,000 times counts as one fresh play, and
//! an item needs at least two distinct actors to trend at all.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::topk::{Scored, top_k_of};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    Hour,
    Day,
    Week,
}

impl Window {
    pub const ALL: [Window; 3] = [Window::Hour, Window::Day, Window::Week];

    pub fn seconds(self) -> i64 {
        match self {
            Window::Hour => 3_600,
            Window::Day => 86_400,
            Window::Week => 7 * 86_400,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Window::Hour => "hour",
            Window::Day => "day",
            Window::Week => "week",
        }
    }

    pub fn parse(s: &str) -> Option<Window> {
        Window::ALL.into_iter().find(|w| w.as_str() == s)
    }

    fn half_life(self) -> f64 {
        self.seconds() as f64 / 4.0
    }
}

/// One engagement: who (an actor key: a profile, or the client that posted for nobody), what,
/// when (Unix seconds) and how much it says (a play 1, a like more).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Signal {
    pub item: u32,
    pub actor: u64,
    pub at: i64,
    pub weight: f32,
}

/// The most that one actor's events on one item can add to its score.
const ACTOR_CAP: f64 = 1.0;
/// Distinct actors an item needs before it can trend.
const MIN_ACTORS: usize = 2;
/// Clocks disagree: an event this far ahead of `now` counts as happening now; further, not at all.
const CLOCK_SKEW_SECS: i64 = 300;

/// The `limit` items trending in `window` as of `now`, best first.
pub fn trending(signals: &[Signal], now: i64, window: Window, limit: usize) -> Vec<Scored> {
    let mut per_actor: HashMap<(u32, u64), f64> = HashMap::new();
    let decay = std::f64::consts::LN_2 / window.half_life();
    for s in signals {
        let age = now - s.at;
        if age < -CLOCK_SKEW_SECS || age >= window.seconds() || s.weight <= 0.0 {
            continue;
        }
        let fresh = (-(age.max(0) as f64) * decay).exp();
        *per_actor.entry((s.item, s.actor)).or_default() += f64::from(s.weight) * fresh;
    }
    let mut per_item: HashMap<u32, (f64, usize)> = HashMap::new();
    for ((item, _), score) in per_actor {
        let entry = per_item.entry(item).or_default();
        entry.0 += score.min(ACTOR_CAP);
        entry.1 += 1;
    }
    top_k_of(
        per_item
            .into_iter()
            .filter(|(_, (_, actors))| *actors >= MIN_ACTORS)
            .map(|(item, (score, _))| Scored {
                index: item,
                score: score as f32,
            }),
        limit,
        |_| false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn play(item: u32, actor: u64, secs_ago: i64) -> Signal {
        Signal {
            item,
            actor,
            at: NOW - secs_ago,
            weight: 1.0,
        }
    }

    #[test]
    fn one_client_replaying_a_video_a_thousand_times_does_not_make_it_trend() {
        let mut signals: Vec<Signal> = (0..1000).map(|_| play(1, 99, 60)).collect();
        signals.extend((0..3).map(|actor| play(2, actor, 600)));
        let top = trending(&signals, NOW, Window::Day, 10);
        assert_eq!(top[0].index, 2, "{top:?}");
        // With a second actor the replayed item can trend, but its replays still count once.
        signals.push(play(1, 7, 60));
        let top = trending(&signals, NOW, Window::Day, 10);
        let replayed = top.iter().find(|s| s.index == 1).unwrap();
        assert!(replayed.score <= 2.0, "{top:?}");
    }

    #[test]
    fn recent_plays_outweigh_older_ones_and_the_window_ends() {
        let signals = [
            play(1, 1, 10),
            play(1, 2, 10),
            play(2, 1, 3000),
            play(2, 2, 3000),
            play(3, 1, 4000),
            play(3, 2, 4000),
        ];
        let top: Vec<u32> = trending(&signals, NOW, Window::Hour, 10)
            .iter()
            .map(|s| s.index)
            .collect();
        assert_eq!(top, [1, 2], "item 3 is older than the hour");
        let week: Vec<u32> = trending(&signals, NOW, Window::Week, 10)
            .iter()
            .map(|s| s.index)
            .collect();
        assert_eq!(week, [1, 2, 3]);
    }

    #[test]
    fn events_from_the_future_beyond_clock_skew_count_nothing() {
        let signals = [
            play(1, 1, -60),
            play(1, 2, -60),
            play(2, 1, -86_400),
            play(2, 2, -86_400),
        ];
        let top: Vec<u32> = trending(&signals, NOW, Window::Hour, 10)
            .iter()
            .map(|s| s.index)
            .collect();
        assert_eq!(top, [1]);
    }

    #[test]
    fn nothing_recorded_is_an_empty_list() {
        assert!(trending(&[], NOW, Window::Week, 10).is_empty());
        assert_eq!(Window::parse("day"), Some(Window::Day));
        assert_eq!(Window::parse("month"), None);
    }
}
