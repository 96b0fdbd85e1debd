//! Audio levels from PCM: EBU R128 loudness (integrated, range, true peak) through the
//! `ebur128` crate (a port of libebur128, the library ffmpeg's own meter follows), plus
//! clipping and silence, which R128 does not cover.

use ebur128::{EbuR128, Mode};
use mvidarr_core::analysis::{AudioQuality, Segment};

/// Full scale minus 0.01 dB: a sample this loud is at the rails.
const CLIP_LEVEL: f32 = 0.998_85;
/// Clipping is a run of at least this many samples at the rails in one channel.
const CLIP_RUN: u32 = 3;
/// Silence: every channel below −60 dBFS…
const SILENCE_LEVEL: f32 = 0.001;
/// …for at least this long.
const MIN_SILENCE_SECONDS: f64 = 0.5;

#[derive(Debug, thiserror::Error)]
#[error("loudness meter: {0}")]
pub struct LoudnessError(String);

/// Measures interleaved `f32` PCM fed in any chunk sizes.
pub struct LoudnessMeter {
    meter: EbuR128,
    channels: usize,
    rate: u32,
    frames: u64,
    peak: f32,
    // clipping
    run: Vec<u32>,
    clipped_samples: u64,
    clip_start: Option<u64>,
    clip_last: u64,
    clipping: Vec<(u64, u64)>,
    // silence
    quiet_since: Option<u64>,
    silences: Vec<(u64, u64)>,
}

impl LoudnessMeter {
    pub fn new(channels: u32, rate: u32) -> Result<Self, LoudnessError> {
        let meter = EbuR128::new(
            channels,
            rate,
            Mode::I | Mode::LRA | Mode::TRUE_PEAK | Mode::SAMPLE_PEAK,
        )
        .map_err(|e| LoudnessError(e.to_string()))?;
        Ok(Self {
            meter,
            channels: channels as usize,
            rate,
            frames: 0,
            peak: 0.0,
            run: vec![0; channels as usize],
            clipped_samples: 0,
            clip_start: None,
            clip_last: 0,
            clipping: Vec::new(),
            quiet_since: Some(0),
            silences: Vec::new(),
        })
    }

    /// More samples, interleaved; a trailing partial frame is ignored.
    pub fn push(&mut self, samples: &[f32]) -> Result<(), LoudnessError> {
        let whole = samples.len() / self.channels * self.channels;
        let samples = &samples[..whole];
        self.meter
            .add_frames_f32(samples)
            .map_err(|e| LoudnessError(e.to_string()))?;
        for frame in samples.chunks_exact(self.channels) {
            let index = self.frames;
            let mut quiet = true;
            for (channel, &sample) in frame.iter().enumerate() {
                let level = sample.abs();
                self.peak = self.peak.max(level);
                quiet &= level < SILENCE_LEVEL;
                if level >= CLIP_LEVEL {
                    self.run[channel] += 1;
                    if self.run[channel] == CLIP_RUN {
                        self.clipped_samples += u64::from(CLIP_RUN);
                        self.note_clip(index + 1 - u64::from(CLIP_RUN));
                    } else if self.run[channel] > CLIP_RUN {
                        self.clipped_samples += 1;
                        self.note_clip(index);
                    }
                } else {
                    self.run[channel] = 0;
                }
            }
            match (quiet, self.quiet_since) {
                (true, None) => self.quiet_since = Some(index),
                (false, Some(start)) => {
                    self.silences.push((start, index));
                    self.quiet_since = None;
                }
                _ => {}
            }
            self.frames += 1;
        }
        Ok(())
    }

    fn note_clip(&mut self, frame: u64) {
        // Clipped stretches closer than 50 ms are one segment.
        let gap = u64::from(self.rate) / 20;
        match self.clip_start {
            Some(_) if frame <= self.clip_last + gap => {}
            Some(start) => {
                self.clipping.push((start, self.clip_last + 1));
                self.clip_start = Some(frame);
            }
            None => self.clip_start = Some(frame),
        }
        self.clip_last = self.clip_last.max(frame);
    }

    pub fn finish(mut self) -> Result<AudioQuality, LoudnessError> {
        if let Some(start) = self.clip_start.take() {
            self.clipping.push((start, self.clip_last + 1));
        }
        if let Some(start) = self.quiet_since.take() {
            self.silences.push((start, self.frames));
        }
        let rate = f64::from(self.rate);
        let segment = |(start, end): (u64, u64)| Segment {
            start_seconds: start as f64 / rate,
            end_seconds: end as f64 / rate,
        };
        let integrated = self
            .meter
            .loudness_global()
            .map_err(|e| LoudnessError(e.to_string()))?;
        let range = self
            .meter
            .loudness_range()
            .map_err(|e| LoudnessError(e.to_string()))?;
        let mut true_peak = 0.0f64;
        for channel in 0..self.channels as u32 {
            true_peak = true_peak.max(
                self.meter
                    .true_peak(channel)
                    .map_err(|e| LoudnessError(e.to_string()))?,
            );
        }
        let db = |linear: f64| {
            if linear > 0.0 {
                20.0 * linear.log10()
            } else {
                f64::NEG_INFINITY
            }
        };
        Ok(AudioQuality {
            integrated_lufs: integrated.is_finite().then_some(integrated),
            loudness_range_lu: if range.is_finite() { range } else { 0.0 },
            true_peak_dbtp: db(true_peak).max(-200.0),
            sample_peak_dbfs: db(f64::from(self.peak)).max(-200.0),
            clipped_samples: self.clipped_samples,
            clipping_segments: self.clipping.into_iter().map(segment).collect(),
            silence_segments: self
                .silences
                .into_iter()
                .map(segment)
                .filter(|s| s.duration() >= MIN_SILENCE_SECONDS)
                .collect(),
            duration_seconds: self.frames as f64 / rate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, seconds: f64, amplitude: f32, hz: f32) -> Vec<f32> {
        (0..(f64::from(rate) * seconds) as usize)
            .map(|i| amplitude * (2.0 * std::f32::consts::PI * hz * i as f32 / rate as f32).sin())
            .collect()
    }

    #[test]
    fn a_full_scale_997_hz_sine_in_mono_reads_minus_3_lufs() {
        // The EBU Tech 3341 reference: a 0 dBFS 997 Hz sine in one channel is −3.01 LUFS.
        let mut meter = LoudnessMeter::new(1, 48_000).unwrap();
        meter.push(&sine(48_000, 5.0, 1.0, 997.0)).unwrap();
        let q = meter.finish().unwrap();
        let lufs = q.integrated_lufs.unwrap();
        assert!((lufs + 3.01).abs() < 0.1, "{lufs}");
        assert!(q.true_peak_dbtp.abs() < 0.2, "{}", q.true_peak_dbtp);
        assert!(q.silence_segments.is_empty());
    }

    #[test]
    fn clipping_and_silence_are_located() {
        let rate = 8_000;
        let mut samples = sine(rate, 1.0, 0.5, 440.0);
        samples.extend(std::iter::repeat_n(0.0, rate as usize)); // 1 s of silence
        let mut loud = sine(rate, 1.0, 2.0, 440.0);
        for s in &mut loud {
            *s = s.clamp(-1.0, 1.0); // hard-clipped
        }
        samples.extend(loud);
        let mut meter = LoudnessMeter::new(1, rate).unwrap();
        for chunk in samples.chunks(777) {
            meter.push(chunk).unwrap();
        }
        let q = meter.finish().unwrap();
        assert_eq!(q.silence_segments.len(), 1);
        let silence = q.silence_segments[0];
        assert!(
            (silence.start_seconds - 1.0).abs() < 0.01 && (silence.end_seconds - 2.0).abs() < 0.01
        );
        assert!(q.clipped_samples > 1000);
        assert_eq!(q.clipping_segments.len(), 1);
        assert!((q.clipping_segments[0].start_seconds - 2.0).abs() < 0.01);
        assert!((q.duration_seconds - 3.0).abs() < 1e-9);
    }

    #[test]
    fn pure_silence_has_no_integrated_loudness() {
        let mut meter = LoudnessMeter::new(2, 48_000).unwrap();
        meter.push(&vec![0.0; 96_000]).unwrap();
        let q = meter.finish().unwrap();
        assert_eq!(q.integrated_lufs, None);
        assert_eq!(q.silence_segments.len(), 1);
    }
}
