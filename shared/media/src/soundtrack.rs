//! The soundtrack's content from 16 kHz mono PCM: speech (Silero VAD), tempo (autocorrelation
//! of a spectral-flux onset envelope), energy per second, and how much is music.

use std::sync::Arc;

use mvidarr_core::analysis::{AudioProfile, Segment};
use mvidarr_ml::vad::Vad;
use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};

pub const RATE: u32 = 16_000;
/// Onset analysis: a 1024-sample Hann window every 256 samples (62.5 envelope values a second).
const WINDOW: usize = 1024;
const HOP: usize = 256;
const ENVELOPE_RATE: f64 = RATE as f64 / HOP as f64;
/// Tempo search range and the prior's centre (a log-normal around 120 BPM, one octave wide, as
/// common beat trackers use so that half- and double-tempo peaks lose to the likelier one).
const MIN_BPM: f64 = 50.0;
const MAX_BPM: f64 = 220.0;
const PRIOR_BPM: f64 = 120.0;
/// A 100 ms block quieter than this (RMS) is silence.
const SILENT_DBFS: f64 = -50.0;

/// Feeds on 16 kHz mono samples; [`Soundtrack::finish`] gives the profile.
pub struct Soundtrack<'a> {
    vad: &'a mut Vad,
    fft: Arc<dyn Fft<f32>>,
    hann: Vec<f32>,
    /// Samples not yet consumed by the onset analysis (less than one window plus a hop).
    pending: Vec<f32>,
    previous_spectrum: Vec<f32>,
    envelope: Vec<f32>,
    speech: Vec<Segment>,
    samples: u64,
    // per second
    second_sum: f64,
    second_count: u32,
    energy: Vec<f32>,
    // per 100 ms
    block_sum: f64,
    block_count: u32,
    sounding_blocks: Vec<bool>,
}

#[derive(Debug, thiserror::Error)]
#[error("speech detection: {0}")]
pub struct SoundtrackError(String);

fn dbfs(mean_square: f64) -> f64 {
    if mean_square > 0.0 {
        (10.0 * mean_square.log10()).max(-120.0)
    } else {
        -120.0
    }
}

impl<'a> Soundtrack<'a> {
    /// A profile of a new stream, with a speech detector that is reset for it.
    pub fn new(vad: &'a mut Vad) -> Self {
        vad.reset();
        let hann = (0..WINDOW)
            .map(|i| {
                let x = std::f32::consts::PI * 2.0 * i as f32 / WINDOW as f32;
                0.5 - 0.5 * x.cos()
            })
            .collect();
        Self {
            vad,
            fft: FftPlanner::new().plan_fft_forward(WINDOW),
            hann,
            pending: Vec::new(),
            previous_spectrum: vec![0.0; WINDOW / 2 + 1],
            envelope: Vec::new(),
            speech: Vec::new(),
            samples: 0,
            second_sum: 0.0,
            second_count: 0,
            energy: Vec::new(),
            block_sum: 0.0,
            block_count: 0,
            sounding_blocks: Vec::new(),
        }
    }

    pub fn push(&mut self, samples: &[f32]) -> Result<(), SoundtrackError> {
        for segment in self
            .vad
            .push(samples)
            .map_err(|e| SoundtrackError(e.to_string()))?
        {
            self.speech.push(Segment {
                start_seconds: segment.start_s,
                end_seconds: segment.end_s,
            });
        }
        for &sample in samples {
            let square = f64::from(sample) * f64::from(sample);
            self.second_sum += square;
            self.second_count += 1;
            if self.second_count == RATE {
                self.energy
                    .push(dbfs(self.second_sum / f64::from(self.second_count)) as f32);
                (self.second_sum, self.second_count) = (0.0, 0);
            }
            self.block_sum += square;
            self.block_count += 1;
            if self.block_count == RATE / 10 {
                self.sounding_blocks
                    .push(dbfs(self.block_sum / f64::from(self.block_count)) > SILENT_DBFS);
                (self.block_sum, self.block_count) = (0.0, 0);
            }
        }
        self.samples += samples.len() as u64;
        self.pending.extend_from_slice(samples);
        let mut start = 0;
        while self.pending.len() - start >= WINDOW {
            self.onset(start);
            start += HOP;
        }
        self.pending.drain(..start);
        Ok(())
    }

    /// One envelope value: the summed rise of log-magnitude across the spectrum.
    fn onset(&mut self, start: usize) {
        let mut buffer: Vec<Complex32> = self.pending[start..start + WINDOW]
            .iter()
            .zip(&self.hann)
            .map(|(s, w)| Complex32::new(s * w, 0.0))
            .collect();
        self.fft.process(&mut buffer);
        let mut flux = 0.0;
        for (bin, previous) in buffer[..WINDOW / 2 + 1]
            .iter()
            .zip(self.previous_spectrum.iter_mut())
        {
            let magnitude = (1.0 + 100.0 * bin.norm()).ln();
            flux += (magnitude - *previous).max(0.0);
            *previous = magnitude;
        }
        self.envelope.push(flux);
    }

    pub fn finish(mut self) -> Result<AudioProfile, SoundtrackError> {
        for segment in self
            .vad
            .finish()
            .map_err(|e| SoundtrackError(e.to_string()))?
        {
            self.speech.push(Segment {
                start_seconds: segment.start_s,
                end_seconds: segment.end_s,
            });
        }
        if self.second_count > 0 {
            self.energy
                .push(dbfs(self.second_sum / f64::from(self.second_count)) as f32);
        }
        if self.block_count > 0 {
            self.sounding_blocks
                .push(dbfs(self.block_sum / f64::from(self.block_count)) > SILENT_DBFS);
        }
        let duration = self.samples as f64 / f64::from(RATE);
        let speech_seconds: f64 = self.speech.iter().fold(0.0, |t, s| t + s.duration());
        let sounding = self.sounding_blocks.iter().filter(|s| **s).count() as f64 / 10.0;
        let (tempo_bpm, tempo_confidence) = estimate_tempo(&self.envelope);
        let ratio = |seconds: f64| {
            if duration > 0.0 {
                (seconds / duration).clamp(0.0, 1.0)
            } else {
                0.0
            }
        };
        Ok(AudioProfile {
            duration_seconds: duration,
            speech_ratio: ratio(speech_seconds),
            music_ratio: ratio((sounding - speech_seconds).max(0.0)),
            speech_segments: self.speech,
            speech_seconds,
            tempo_bpm,
            tempo_confidence,
            energy_dbfs: self.energy,
        })
    }
}

/// Tempo from an onset envelope at [`ENVELOPE_RATE`]: the autocorrelation's best lag in the
/// tempo range, weighted by the prior, refined by a parabola through its neighbours. `None`
/// when the pulse is weak (or the audio too short to tell).
pub fn estimate_tempo(envelope: &[f32]) -> (Option<f64>, f64) {
    let min_lag = (60.0 * ENVELOPE_RATE / MAX_BPM).floor() as usize;
    let max_lag = (60.0 * ENVELOPE_RATE / MIN_BPM).ceil() as usize;
    if envelope.len() < 4 * max_lag {
        return (None, 0.0);
    }
    // Remove the slow trend (a 1 s moving average) and keep the rises.
    let half = ENVELOPE_RATE as usize / 2;
    let mut prefix = vec![0.0f64; envelope.len() + 1];
    for (i, v) in envelope.iter().enumerate() {
        prefix[i + 1] = prefix[i] + f64::from(*v);
    }
    let detrended: Vec<f64> = (0..envelope.len())
        .map(|i| {
            let (lo, hi) = (i.saturating_sub(half), (i + half + 1).min(envelope.len()));
            let mean = (prefix[hi] - prefix[lo]) / (hi - lo) as f64;
            (f64::from(envelope[i]) - mean).max(0.0)
        })
        .collect();
    let energy: f64 = detrended.iter().map(|v| v * v).sum();
    if energy <= f64::EPSILON {
        return (None, 0.0);
    }
    let acf = |lag: usize| -> f64 {
        let n = detrended.len() - lag;
        detrended[..n]
            .iter()
            .zip(&detrended[lag..])
            .map(|(a, b)| a * b)
            .sum::<f64>()
            / energy
            * (detrended.len() as f64 / n as f64)
    };
    let values: Vec<f64> = (min_lag..=max_lag + 1).map(acf).collect();
    let weight = |lag: f64| {
        let bpm = 60.0 * ENVELOPE_RATE / lag;
        (-0.5 * (bpm / PRIOR_BPM).log2().powi(2)).exp()
    };
    let (best, _) = (min_lag + 1..=max_lag)
        .map(|lag| (lag, values[lag - min_lag] * weight(lag as f64)))
        .fold((min_lag + 1, f64::MIN), |best, candidate| {
            if candidate.1 > best.1 {
                candidate
            } else {
                best
            }
        });
    let (left, centre, right) = (
        values[best - 1 - min_lag],
        values[best - min_lag],
        values[best + 1 - min_lag],
    );
    let curvature = left - 2.0 * centre + right;
    let offset = if curvature < 0.0 {
        (0.5 * (left - right) / curvature).clamp(-0.5, 0.5)
    } else {
        0.0
    };
    let confidence = centre.clamp(0.0, 1.0);
    if confidence < 0.1 {
        return (None, confidence);
    }
    (
        Some(60.0 * ENVELOPE_RATE / (best as f64 + offset)),
        confidence,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An onset envelope with a pulse every `period` seconds.
    fn pulses(bpm: f64, seconds: f64) -> Vec<f32> {
        let period = 60.0 / bpm * ENVELOPE_RATE;
        (0..(seconds * ENVELOPE_RATE) as usize)
            .map(|i| {
                let phase = (i as f64 / period).fract() * period;
                if phase < 1.0 { 10.0 } else { 0.5 }
            })
            .collect()
    }

    #[test]
    fn tempo_of_a_regular_pulse() {
        for bpm in [72.0, 95.0, 120.0, 128.0, 140.0, 150.0] {
            let (found, confidence) = estimate_tempo(&pulses(bpm, 30.0));
            let found = found.unwrap();
            assert!((found - bpm).abs() / bpm < 0.02, "{bpm}: {found}");
            assert!(confidence > 0.3, "{bpm}: {confidence}");
        }
        // Far from the prior's centre a pulse is as good at half its rate: an octave error,
        // which every autocorrelation tempo estimator shares; either reading is accepted.
        let found = estimate_tempo(&pulses(174.0, 30.0)).0.unwrap();
        assert!(
            (found - 174.0).abs() < 3.0 || (found - 87.0).abs() < 1.5,
            "174: {found}"
        );
    }

    #[test]
    fn no_tempo_without_a_pulse() {
        assert_eq!(estimate_tempo(&vec![1.0; 2000]).0, None);
        assert_eq!(estimate_tempo(&[]).0, None);
    }
}
