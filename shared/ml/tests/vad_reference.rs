//! The segment hysteresis against the silero-vad package's own Python code: thousands of
//! probability sequences (runs near both thresholds, short and long pauses, speech at the very
//! start and end, several parameter sets) through `get_speech_timestamps_from_probs` from the
//! pinned wheel (run by python3 with the wheel's source, torch stubbed out: that function uses
//! none of it) and through [`segments_from_probabilities`], sample for sample.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use mvidarr_ml::vad::{VadParams, WINDOW_SAMPLES, segments_from_probabilities};
use serde_json::{Value, json};

const WHEEL: &str = "silero_vad-6.2.3-py3-none-any.whl";

fn wheel() -> PathBuf {
    let cache = std::env::var_os("MVIDARR_WHEEL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/mvidarr/wheels")
        });
    let wheel = cache.join(WHEEL);
    assert!(
        wheel.is_file(),
        "{} is missing: run `bash layers/fetch-models.sh` (it caches the wheel)",
        wheel.display()
    );
    wheel
}

/// Runs the package's function on every case; returns its segments as (start, end) samples.
fn reference(cases: &[Value]) -> Vec<Vec<(u64, u64)>> {
    const SCRIPT: &str = r#"
import json, sys, types, zipfile
torch = types.ModuleType("torch")
class no_grad:
    def __call__(self, f):
        return f
torch.no_grad = no_grad
torch.Tensor = object
torch.device = lambda *a, **k: None
sys.modules["torch"] = torch
packaging = types.ModuleType("packaging")
packaging.version = types.SimpleNamespace(parse=lambda v: v)
sys.modules["packaging"] = packaging
source = zipfile.ZipFile(sys.argv[1]).read("silero_vad/utils_vad.py").decode()
utils = types.ModuleType("utils_vad")
exec(compile(source, "silero_vad/utils_vad.py", "exec"), utils.__dict__)
out = []
for case in json.load(sys.stdin):
    speeches = utils.get_speech_timestamps_from_probs(
        case["probs"], sampling_rate=16000, threshold=case["threshold"],
        neg_threshold=case["neg_threshold"], min_speech_duration_ms=case["min_speech_ms"],
        min_silence_duration_ms=case["min_silence_ms"], speech_pad_ms=case["pad_ms"],
        audio_length_samples=case["samples"])
    out.append([[s["start"], s["end"]] for s in speeches])
json.dump(out, sys.stdout)
"#;
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(wheel())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let input = serde_json::to_vec(cases).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(output.status.success(), "python3 failed");
    let parsed: Vec<Vec<(f64, f64)>> = serde_json::from_slice(&output.stdout).unwrap();
    parsed
        .into_iter()
        .map(|segs| {
            segs.into_iter()
                .map(|(s, e)| {
                    assert!(s.fract() == 0.0 && e.fract() == 0.0, "{s} {e}");
                    (s as u64, e as u64)
                })
                .collect()
        })
        .collect()
}

/// xorshift64*: deterministic cases without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn probabilities(rng: &mut Rng, params: &VadParams) -> Vec<f32> {
    // Values at, just above and just below both thresholds, and plainly in and out.
    let just = |x: f32, up: bool| {
        if up {
            f32::from_bits(x.to_bits() + 1)
        } else {
            f32::from_bits(x.to_bits() - 1)
        }
    };
    let levels = [
        0.0,
        0.02,
        0.2,
        params.neg_threshold,
        just(params.neg_threshold, false),
        just(params.neg_threshold, true),
        0.42,
        params.threshold,
        just(params.threshold, false),
        just(params.threshold, true),
        0.8,
        0.99,
    ];
    let windows = 1 + rng.below(400) as usize;
    let mut out = Vec::with_capacity(windows);
    while out.len() < windows {
        let level = levels[rng.below(levels.len() as u64) as usize];
        // Mostly short runs (pauses around the minimum silence), some long.
        let run = if rng.below(4) == 0 {
            1 + rng.below(60)
        } else {
            1 + rng.below(8)
        };
        out.extend(std::iter::repeat_n(level, run as usize));
    }
    out.truncate(windows);
    out
}

#[test]
fn hysteresis_matches_the_packages_get_speech_timestamps_from_probs() {
    let parameter_sets = [
        VadParams::default(),
        // Short minimum silence (two windows exactly) and long pads: gaps under two pads are
        // split between segments.
        VadParams {
            min_silence_ms: 64,
            speech_pad_ms: 60,
            ..VadParams::default()
        },
        VadParams {
            threshold: 0.3,
            neg_threshold: 0.15,
            // Exactly two windows, and a minimum silence that is not a whole number of windows.
            min_speech_ms: 64,
            min_silence_ms: 300,
            speech_pad_ms: 0,
        },
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut cases = Vec::new();
    let mut ours = Vec::new();
    for params in &parameter_sets {
        for _ in 0..1500 {
            let probs = probabilities(&mut rng, params);
            // The audio may end anywhere inside the last window.
            let samples = (probs.len() * WINDOW_SAMPLES) as u64 - rng.below(WINDOW_SAMPLES as u64);
            ours.push(
                segments_from_probabilities(&probs, samples, params)
                    .iter()
                    .map(|s| (s.start_sample, s.end_sample))
                    .collect::<Vec<_>>(),
            );
            // f32 → f64 exactly, so Python compares the very same numbers.
            cases.push(json!({
                "probs": probs.iter().map(|&p| f64::from(p)).collect::<Vec<_>>(),
                "threshold": f64::from(params.threshold),
                "neg_threshold": f64::from(params.neg_threshold),
                "min_speech_ms": params.min_speech_ms,
                "min_silence_ms": params.min_silence_ms,
                "pad_ms": params.speech_pad_ms,
                "samples": samples,
            }));
        }
    }
    let expected = reference(&cases);
    assert_eq!(expected.len(), ours.len());
    let mut with_speech = 0;
    for (i, (theirs, ours)) in expected.iter().zip(&ours).enumerate() {
        assert_eq!(ours, theirs, "case {i}: {}", cases[i]);
        with_speech += usize::from(!theirs.is_empty());
    }
    // The cases exercise speech, not just silence.
    assert!(
        with_speech > cases.len() / 2,
        "{with_speech} of {}",
        cases.len()
    );
}
