//! Speech probabilities (one per 512-sample window) into speech segments: the silero-vad
//! package's `get_speech_timestamps_from_probs` (6.2.3), redone as a stream.
//!
//! The rules, as the package applies them (with `max_speech_duration_s` = ∞, its default):
//! a window at or above `threshold` starts speech; while in speech, the first window below
//! `neg_threshold` marks a possible end, confirmed once `min_silence` samples have passed
//! without a window back at `threshold` (a window in between the two thresholds neither ends
//! nor resumes). Speech of `min_speech` samples or less is dropped. Kept segments are then
//! padded by `speech_pad` on each side; when the gap between two is under twice the pad,
//! each gets half of it instead. Speech still open at the end of the audio ends there.
//!
//! The padding of a segment's end depends on the next kept segment, so a segment is handed out
//! once no later segment can come within twice the pad of it (or at [`Hysteresis::finish`]);
//! the result is the package's, sample for sample, whatever the chunking.

use super::{SAMPLE_RATE, SpeechSegment, VadParams, WINDOW_SAMPLES};

const WINDOW: u64 = WINDOW_SAMPLES as u64;

/// Sample counts of the parameters, as the package computes them (`sampling_rate * ms / 1000`,
/// in floating point).
#[derive(Debug, Clone, Copy)]
struct Limits {
    threshold: f32,
    neg_threshold: f32,
    min_speech: f64,
    min_silence: f64,
    pad: f64,
}

impl Limits {
    fn new(params: &VadParams) -> Self {
        let samples = |ms: u32| f64::from(SAMPLE_RATE) * f64::from(ms) / 1000.0;
        Limits {
            threshold: params.threshold,
            neg_threshold: params.neg_threshold,
            min_speech: samples(params.min_speech_ms),
            min_silence: samples(params.min_silence_ms),
            pad: samples(params.speech_pad_ms),
        }
    }
}

/// A kept segment whose end is not padded yet.
#[derive(Debug, Clone, Copy)]
struct Open {
    /// Already padded.
    start: u64,
    raw_end: u64,
}

/// The streaming state machine. Feed it every window's probability in order with
/// [`observe`](Self::observe), then call [`finish`](Self::finish) with the audio's length.
#[derive(Debug, Clone)]
pub(crate) struct Hysteresis {
    limits: Limits,
    /// Windows observed so far.
    windows: u64,
    triggered: bool,
    /// Raw start of the speech in progress (valid while triggered).
    current_start: u64,
    /// Where the silence in progress began, while in speech.
    temp_end: Option<u64>,
    /// Raw end of the last kept segment, for the start padding of the next.
    last_raw_end: Option<u64>,
    /// The last kept segment, waiting for its end padding.
    open: Option<Open>,
}

impl Hysteresis {
    pub(crate) fn new(params: &VadParams) -> Self {
        Hysteresis {
            limits: Limits::new(params),
            windows: 0,
            triggered: false,
            current_start: 0,
            temp_end: None,
            last_raw_end: None,
            open: None,
        }
    }

    /// Takes the next window's speech probability; appends the segments that became final.
    pub(crate) fn observe(&mut self, probability: f32, out: &mut Vec<SpeechSegment>) {
        let cur_sample = self.windows * WINDOW;
        self.windows += 1;
        let l = self.limits;

        if probability >= l.threshold && self.temp_end.is_some() {
            self.temp_end = None;
        }
        if probability >= l.threshold && !self.triggered {
            self.triggered = true;
            self.current_start = cur_sample;
        } else if probability < l.neg_threshold && self.triggered {
            let temp_end = *self.temp_end.get_or_insert(cur_sample);
            if (cur_sample - temp_end) as f64 >= l.min_silence {
                if (temp_end - self.current_start) as f64 > l.min_speech {
                    out.extend(self.kept(self.current_start, temp_end, None));
                }
                self.temp_end = None;
                self.triggered = false;
            }
        }
        out.extend(self.release_if_far());
    }

    /// The end of the audio (its length in samples): returns the segments still held.
    pub(crate) fn finish(mut self, audio_samples: u64) -> Vec<SpeechSegment> {
        let mut out = Vec::new();
        if self.triggered
            && (audio_samples.saturating_sub(self.current_start)) as f64 > self.limits.min_speech
        {
            out.extend(self.kept(self.current_start, audio_samples, Some(audio_samples)));
        }
        if let Some(open) = self.open.take() {
            let end = pad_up(open.raw_end, self.limits.pad).min(audio_samples);
            out.push(SpeechSegment::from_samples(open.start, end));
        }
        out
    }

    /// A segment that passed the minimum length: pads its start, closes the previous one.
    fn kept(&mut self, start: u64, raw_end: u64, audio: Option<u64>) -> Option<SpeechSegment> {
        let pad = self.limits.pad;
        let padded_start = match self.last_raw_end {
            None => pad_down(start, pad),
            Some(prev_end) => {
                let gap = start - prev_end;
                if (gap as f64) < 2.0 * pad {
                    start.saturating_sub(gap / 2)
                } else {
                    pad_down(start, pad)
                }
            }
        };
        let released = self.open.take().map(|previous| {
            let gap = start - previous.raw_end;
            let end = if (gap as f64) < 2.0 * pad {
                previous.raw_end + gap / 2
            } else {
                // The audio reaches at least `start`, beyond this end + 2 pads.
                let padded = pad_up(previous.raw_end, pad);
                audio.map_or(padded, |len| padded.min(len))
            };
            SpeechSegment::from_samples(previous.start, end)
        });
        self.open = Some(Open {
            start: padded_start,
            raw_end,
        });
        self.last_raw_end = Some(raw_end);
        released
    }

    /// Hands out the open segment once no later kept segment can start within two pads of it.
    fn release_if_far(&mut self) -> Option<SpeechSegment> {
        let open = self.open?;
        let earliest_next_start = if self.triggered {
            self.current_start
        } else {
            self.windows * WINDOW
        };
        if ((earliest_next_start - open.raw_end) as f64) < 2.0 * self.limits.pad {
            return None;
        }
        self.open = None;
        // The audio is at least `earliest_next_start` long, so the package's
        // `min(audio_length, end + pad)` is `end + pad`.
        Some(SpeechSegment::from_samples(
            open.start,
            pad_up(open.raw_end, self.limits.pad),
        ))
    }
}

/// `int(max(0, x - pad))` as the package computes it.
fn pad_down(x: u64, pad: f64) -> u64 {
    (x as f64 - pad).max(0.0) as u64
}

/// `int(x + pad)` as the package computes it.
fn pad_up(x: u64, pad: f64) -> u64 {
    (x as f64 + pad) as u64
}

/// The segments for a whole sequence of window probabilities over `audio_samples` samples.
pub(crate) fn segments(
    probabilities: &[f32],
    audio_samples: u64,
    params: &VadParams,
) -> Vec<SpeechSegment> {
    let mut hysteresis = Hysteresis::new(params);
    let mut out = Vec::new();
    for &p in probabilities {
        hysteresis.observe(p, &mut out);
    }
    out.extend(hysteresis.finish(audio_samples));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> VadParams {
        VadParams::default()
    }

    /// Probabilities from (value, windows) runs.
    fn runs(spec: &[(f32, usize)]) -> Vec<f32> {
        spec.iter()
            .flat_map(|&(p, n)| std::iter::repeat_n(p, n))
            .collect()
    }

    fn samples(segments: &[SpeechSegment]) -> Vec<(u64, u64)> {
        segments
            .iter()
            .map(|s| (s.start_sample, s.end_sample))
            .collect()
    }

    #[test]
    fn one_burst_is_padded_on_both_sides() {
        // 20 silent windows, 30 speech windows, 40 silent.
        let probs = runs(&[(0.0, 20), (0.9, 30), (0.0, 40)]);
        let got = segments(&probs, 90 * 512, &params());
        assert_eq!(samples(&got), vec![(20 * 512 - 480, 50 * 512 + 480)]);
    }

    #[test]
    fn speech_no_longer_than_min_speech_is_dropped() {
        // 250 ms = 4000 samples: 7 windows (3584) are dropped, 8 (4096) kept.
        let short = runs(&[(0.0, 10), (0.9, 7), (0.0, 40)]);
        assert!(segments(&short, 57 * 512, &params()).is_empty());
        let long = runs(&[(0.0, 10), (0.9, 8), (0.0, 40)]);
        assert_eq!(segments(&long, 58 * 512, &params()).len(), 1);
    }

    #[test]
    fn a_pause_shorter_than_min_silence_does_not_split() {
        // 100 ms = 1600 samples: 3 quiet windows (the end is confirmed on the 4th, 1536 < 1600).
        let probs = runs(&[(0.9, 20), (0.0, 3), (0.9, 20), (0.0, 40)]);
        assert_eq!(segments(&probs, 83 * 512, &params()).len(), 1);
        let probs = runs(&[(0.9, 20), (0.0, 5), (0.9, 20), (0.0, 40)]);
        assert_eq!(segments(&probs, 85 * 512, &params()).len(), 2);
    }

    #[test]
    fn between_the_thresholds_speech_neither_ends_nor_starts() {
        // 0.4 is below 0.5 (no start) and above 0.35 (no end).
        let probs = runs(&[(0.4, 10), (0.9, 10), (0.4, 50), (0.0, 10)]);
        let got = segments(&probs, 80 * 512, &params());
        assert_eq!(samples(&got), vec![(10 * 512 - 480, 70 * 512 + 480)]);
    }

    #[test]
    fn speech_running_to_the_end_ends_with_the_audio() {
        let probs = runs(&[(0.0, 10), (0.9, 20)]);
        let got = segments(&probs, 30 * 512 - 100, &params());
        assert_eq!(samples(&got), vec![(10 * 512 - 480, 30 * 512 - 100)]);
    }

    #[test]
    fn close_segments_share_the_gap_when_it_is_under_two_pads() {
        // With 10 ms of minimum silence (160 samples) a 2-window gap (1024) is under 2 × 640.
        let p = VadParams {
            min_silence_ms: 10,
            speech_pad_ms: 40,
            ..params()
        };
        let probs = runs(&[(0.9, 20), (0.0, 2), (0.9, 20), (0.0, 40)]);
        let got = segments(&probs, 82 * 512, &p);
        assert_eq!(
            samples(&got),
            vec![(0, 20 * 512 + 512), (22 * 512 - 512, 42 * 512 + 640)]
        );
    }

    #[test]
    fn segments_are_released_as_soon_as_they_are_final() {
        let mut h = Hysteresis::new(&params());
        let mut released_at = None;
        let probs = runs(&[(0.9, 20), (0.0, 30)]);
        let mut out = Vec::new();
        for (i, p) in probs.iter().enumerate() {
            h.observe(*p, &mut out);
            if !out.is_empty() && released_at.is_none() {
                released_at = Some(i);
            }
        }
        // Silence from window 20 is confirmed as the end on window 24 (4 × 512 ≥ 1600 samples),
        // by when more than two pads (960) have passed: released then, not at the end.
        assert_eq!(released_at, Some(24));
        assert_eq!(samples(&out), vec![(0, 20 * 512 + 480)]);
        assert!(h.finish(50 * 512).is_empty());
    }
}
