//! Speech activity with Silero VAD v6 (`silero-vad` 6.2.3, `silero_vad.onnx`), as that package's
//! `OnnxWrapper` and `get_speech_timestamps` run it.
//!
//! Input: 16 kHz mono `f32` samples in [-1, 1]. The model is run on consecutive 512-sample
//! windows (32 ms); each run sees the window with the previous window's last 64 samples in
//! front (zeros before the first), the recurrent state `[2, 1, 128]` from the previous run
//! (zeros at first) and the sample rate, and returns the window's speech probability. The last
//! partial window is padded with zeros. The probabilities become segments through the package's
//! hysteresis (see [`VadParams`] and `vad/hysteresis.rs`), with its defaults: threshold 0.5,
//! negative threshold 0.35, speech of more than 250 ms, 100 ms of silence to end, 30 ms of
//! padding.
//!
//! Whole buffers go through [`Vad::segments`]; audio that arrives in pieces (a pipe from ffmpeg)
//! through [`Vad::push`] and [`Vad::finish`], which give the same segments for any chunking.
//! A [`Vad`] owns one ONNX session: create it once per process and reuse it (one stream at a
//! time; [`Vad::finish`] and [`Vad::reset`] make it ready for the next).

mod hysteresis;

use ort::session::Session;
use ort::value::TensorRef;

use crate::registry::ModelId;
use crate::runtime::{self, RuntimeError};

use hysteresis::Hysteresis;

/// The sample rate the model is used at.
pub const SAMPLE_RATE: u32 = 16_000;
/// Samples per model run (32 ms at 16 kHz).
pub const WINDOW_SAMPLES: usize = 512;
/// Samples of the previous window put in front of each window (v5 and later).
pub const CONTEXT_SAMPLES: usize = 64;
const STATE_LEN: usize = 2 * 128;

/// The hysteresis that turns window probabilities into segments (the package's parameters).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VadParams {
    /// A window at or above this starts speech.
    pub threshold: f32,
    /// In speech, a window below this starts a possible end (the package: threshold − 0.15).
    pub neg_threshold: f32,
    /// Speech this long or shorter is dropped.
    pub min_speech_ms: u32,
    /// Silence needed to end speech.
    pub min_silence_ms: u32,
    /// Padding added on each side of a segment.
    pub speech_pad_ms: u32,
}

impl Default for VadParams {
    fn default() -> Self {
        VadParams {
            threshold: 0.5,
            neg_threshold: 0.35,
            min_speech_ms: 250,
            min_silence_ms: 100,
            speech_pad_ms: 30,
        }
    }
}

/// A stretch of speech, in samples at 16 kHz and in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeechSegment {
    pub start_sample: u64,
    pub end_sample: u64,
    pub start_s: f64,
    pub end_s: f64,
}

impl SpeechSegment {
    pub(crate) fn from_samples(start_sample: u64, end_sample: u64) -> Self {
        SpeechSegment {
            start_sample,
            end_sample,
            start_s: start_sample as f64 / f64::from(SAMPLE_RATE),
            end_s: end_sample as f64 / f64::from(SAMPLE_RATE),
        }
    }

    pub fn duration_s(&self) -> f64 {
        self.end_s - self.start_s
    }
}

/// Speech segments from window probabilities (one per [`WINDOW_SAMPLES`], as
/// [`Vad::probabilities`] returns them) over audio of `audio_samples` samples.
pub fn segments_from_probabilities(
    probabilities: &[f32],
    audio_samples: u64,
    params: &VadParams,
) -> Vec<SpeechSegment> {
    hysteresis::segments(probabilities, audio_samples, params)
}

#[derive(Debug, thiserror::Error)]
pub enum VadError {
    #[error(transparent)]
    Load(#[from] RuntimeError),
    #[error("Silero VAD inference failed: {0}")]
    Inference(#[from] ort::Error),
    #[error("Silero VAD returned {what} of {got} values, expected {expected}")]
    OutputShape {
        what: &'static str,
        got: usize,
        expected: usize,
    },
}

/// Silero VAD on one stream at a time.
pub struct Vad {
    session: Session,
    params: VadParams,
    /// The recurrent state `[2, 1, 128]`.
    state: Vec<f32>,
    /// Context + window, the model's `input` `[1, 576]`.
    input: Vec<f32>,
    /// Samples waiting for a full window.
    pending: Vec<f32>,
    /// Samples pushed since the stream began.
    samples: u64,
    hysteresis: Hysteresis,
}

impl std::fmt::Debug for Vad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vad")
            .field("params", &self.params)
            .field("samples", &self.samples)
            .finish_non_exhaustive()
    }
}

impl Vad {
    /// Loads the model (a new session: do it once per process) with the package's defaults.
    pub fn new() -> Result<Vad, VadError> {
        Self::with_params(VadParams::default())
    }

    /// Loads the model with other hysteresis parameters.
    pub fn with_params(params: VadParams) -> Result<Vad, VadError> {
        let session = runtime::load(ModelId::SileroVad)?;
        Ok(Vad {
            session,
            params,
            state: vec![0.0; STATE_LEN],
            input: vec![0.0; CONTEXT_SAMPLES + WINDOW_SAMPLES],
            pending: Vec::with_capacity(WINDOW_SAMPLES),
            samples: 0,
            hysteresis: Hysteresis::new(&params),
        })
    }

    pub fn params(&self) -> &VadParams {
        &self.params
    }

    /// Forgets the stream in progress: state, context, pending samples and open speech.
    pub fn reset(&mut self) {
        self.state.fill(0.0);
        self.input.fill(0.0);
        self.pending.clear();
        self.samples = 0;
        self.hysteresis = Hysteresis::new(&self.params);
    }

    /// Runs one window; returns its speech probability and keeps its state and context.
    fn run_window(&mut self, window: &[f32]) -> Result<f32, VadError> {
        debug_assert_eq!(window.len(), WINDOW_SAMPLES);
        // The context is the previous input's last 64 samples, already in place at its end.
        self.input.copy_within(WINDOW_SAMPLES.., 0);
        self.input[CONTEXT_SAMPLES..].copy_from_slice(window);
        let sample_rate = [i64::from(SAMPLE_RATE)];
        let outputs = self.session.run(ort::inputs![
            "input" => TensorRef::from_array_view(([1usize, CONTEXT_SAMPLES + WINDOW_SAMPLES], &self.input[..]))?,
            "state" => TensorRef::from_array_view(([2usize, 1, 128], &self.state[..]))?,
            "sr" => TensorRef::from_array_view(((), &sample_rate[..]))?,
        ])?;
        let (_, probability) = outputs["output"].try_extract_tensor::<f32>()?;
        let (_, state) = outputs["stateN"].try_extract_tensor::<f32>()?;
        if probability.len() != 1 {
            return Err(VadError::OutputShape {
                what: "output",
                got: probability.len(),
                expected: 1,
            });
        }
        if state.len() != STATE_LEN {
            return Err(VadError::OutputShape {
                what: "stateN",
                got: state.len(),
                expected: STATE_LEN,
            });
        }
        let probability = probability[0];
        self.state.copy_from_slice(state);
        Ok(probability)
    }

    /// Runs every full window of `samples` (after what is pending), calling `each` with every
    /// window's probability; keeps the remainder pending.
    fn feed(
        &mut self,
        mut samples: &[f32],
        mut each: impl FnMut(&mut Self, f32),
    ) -> Result<(), VadError> {
        self.samples += samples.len() as u64;
        if !self.pending.is_empty() {
            let take = (WINDOW_SAMPLES - self.pending.len()).min(samples.len());
            self.pending.extend_from_slice(&samples[..take]);
            samples = &samples[take..];
            if self.pending.len() < WINDOW_SAMPLES {
                return Ok(());
            }
            let window = std::mem::take(&mut self.pending);
            let probability = self.run_window(&window);
            self.pending = window;
            self.pending.clear();
            each(self, probability?);
        }
        let mut windows = samples.chunks_exact(WINDOW_SAMPLES);
        for window in &mut windows {
            let probability = self.run_window(window)?;
            each(self, probability);
        }
        self.pending.extend_from_slice(windows.remainder());
        Ok(())
    }

    /// Runs the zero-padded last partial window, if any.
    fn flush(&mut self) -> Result<Option<f32>, VadError> {
        if self.pending.is_empty() {
            return Ok(None);
        }
        let mut window = std::mem::take(&mut self.pending);
        window.resize(WINDOW_SAMPLES, 0.0);
        let probability = self.run_window(&window);
        window.clear();
        self.pending = window;
        probability.map(Some)
    }

    /// Adds the next samples of the stream; returns the speech segments that became final
    /// (a segment is final once later speech can no longer change its padding).
    pub fn push(&mut self, samples: &[f32]) -> Result<Vec<SpeechSegment>, VadError> {
        let mut out = Vec::new();
        self.feed(samples, |vad, p| vad.hysteresis.observe(p, &mut out))?;
        Ok(out)
    }

    /// Ends the stream: returns the remaining segments, and resets for the next stream.
    pub fn finish(&mut self) -> Result<Vec<SpeechSegment>, VadError> {
        let mut out = Vec::new();
        let flushed = self.flush();
        if let Ok(Some(p)) = flushed {
            self.hysteresis.observe(p, &mut out);
        }
        let hysteresis = std::mem::replace(&mut self.hysteresis, Hysteresis::new(&self.params));
        let audio_samples = self.samples;
        self.reset();
        flushed?;
        out.extend(hysteresis.finish(audio_samples));
        Ok(out)
    }

    /// The speech probability of every 512-sample window of `samples` (a whole stream; the last
    /// partial window zero-padded). Resets before and after.
    pub fn probabilities(&mut self, samples: &[f32]) -> Result<Vec<f32>, VadError> {
        self.reset();
        let mut out = Vec::with_capacity(samples.len().div_ceil(WINDOW_SAMPLES));
        let result = self
            .feed(samples, |_, p| out.push(p))
            .and_then(|()| self.flush());
        self.reset();
        out.extend(result?);
        Ok(out)
    }

    /// The speech segments of a whole stream. Resets before and after.
    pub fn segments(&mut self, samples: &[f32]) -> Result<Vec<SpeechSegment>, VadError> {
        self.reset();
        let mut out = match self.push(samples) {
            Ok(out) => out,
            Err(e) => {
                self.reset();
                return Err(e);
            }
        };
        out.extend(self.finish()?);
        Ok(out)
    }
}
