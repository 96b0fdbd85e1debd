//! Nudity screening on sampled frames: the detector looks at each new picture — a cut from the
//! frame before, or a picture that has drifted far from the one it last looked at — at its first
//! frame that is not black, and again every [`RECHECK_SECONDS`] within a long shot; never at
//! every frame. The verdict and per-shot scores are put together once the shots are known.

use image::RgbImage;
use mvidarr_core::analysis::{
    LabelledBox, Moderation, ModerationEvidence, ModerationVerdict, Shot, ShotModeration,
};
use mvidarr_ml::nsfw::NudeNet;
use mvidarr_ml::registry::ModelId;

/// Look again after this long even if the picture has not changed much.
const RECHECK_SECONDS: f64 = 10.0;
/// Mean grey change (0–255) on a 32×18 thumbnail from the frame before (half a second earlier):
/// a new picture. Motion within a shot stays below it; a cut between pictures does not.
const CUT: f32 = 25.0;
/// …or from the frame last looked at: the picture has become another one gradually.
const DRIFT: f32 = 30.0;
/// A thumbnail darker than this on average is black: nothing to look at.
const BLACK: f32 = 20.0;
/// Explicit scores from these up are a verdict of `Explicit` / `Review`.
const EXPLICIT_FROM: f32 = 0.6;
const REVIEW_FROM: f32 = 0.3;
const EVIDENCE_FRAMES: usize = 3;

/// What the detector said about one checked frame.
#[derive(Debug, Clone)]
pub struct Check {
    pub seconds: f64,
    pub explicit: f32,
    pub detections: Vec<LabelledBox>,
}

pub struct Screener<'a> {
    detector: &'a mut NudeNet,
    /// The frame before's thumbnail.
    previous: Option<Vec<f32>>,
    /// The thumbnail of the frame last looked at.
    last_signature: Option<Vec<f32>>,
    last_seconds: f64,
    /// Since when a new picture waits to be looked at (it was black).
    pending_since: Option<f64>,
    pub checks: Vec<Check>,
}

fn signature(frame: &RgbImage) -> Vec<f32> {
    let small = image::imageops::thumbnail(frame, 32, 18);
    small
        .pixels()
        .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
        .collect()
}

/// Mean absolute difference of two thumbnails (all the way when their sizes differ).
fn difference(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() || a.is_empty() {
        return f32::INFINITY;
    }
    a.iter().zip(b).map(|(a, b)| (a - b).abs()).sum::<f32>() / a.len() as f32
}

impl<'a> Screener<'a> {
    pub fn new(detector: &'a mut NudeNet) -> Self {
        Self {
            detector,
            previous: None,
            last_signature: None,
            last_seconds: f64::NEG_INFINITY,
            pending_since: None,
            checks: Vec::new(),
        }
    }

    /// A sampled frame at `seconds`: checked if it is a new picture or a recheck is due.
    pub fn offer(&mut self, frame: &RgbImage, seconds: f64) -> Result<(), String> {
        let current = signature(frame);
        let step = self
            .previous
            .as_deref()
            .map_or(f32::INFINITY, |p| difference(p, &current));
        let drift = self
            .last_signature
            .as_deref()
            .map_or(f32::INFINITY, |l| difference(l, &current));
        self.previous = Some(current.clone());
        if step > CUT || drift > DRIFT {
            self.pending_since.get_or_insert(seconds);
        }
        let black = current.iter().sum::<f32>() / (current.len().max(1) as f32) < BLACK;
        let due =
            self.pending_since.is_some() || seconds - self.last_seconds >= RECHECK_SECONDS - 1e-6;
        if !due || black {
            return Ok(());
        }
        let found = self.detector.detect(frame).map_err(|e| e.to_string())?;
        let (w, h) = (frame.width() as f32, frame.height() as f32);
        self.checks.push(Check {
            seconds,
            explicit: found.explicit,
            detections: found
                .detections
                .iter()
                .map(|d| LabelledBox {
                    label: d.class.label().to_string(),
                    score: d.score,
                    x: d.bbox.x / w,
                    y: d.bbox.y / h,
                    width: d.bbox.width / w,
                    height: d.bbox.height / h,
                })
                .collect(),
        });
        self.last_signature = Some(current);
        self.last_seconds = seconds;
        self.pending_since = None;
        Ok(())
    }
}

/// The document from the checks and the shots (one span covering everything when there are
/// no shots).
pub fn moderation(checks: &[Check], shots: &[Shot]) -> Moderation {
    let info = ModelId::NudeNet320n.info();
    let shot_scores: Vec<ShotModeration> = shots
        .iter()
        .map(|shot| ShotModeration {
            shot: shot.index,
            start_seconds: shot.start_seconds,
            end_seconds: shot.end_seconds,
            explicit: checks
                .iter()
                .filter(|c| c.seconds >= shot.start_seconds && c.seconds < shot.end_seconds)
                .map(|c| c.explicit)
                .fold(0.0, f32::max),
        })
        .collect();
    let worst = checks.iter().map(|c| c.explicit).fold(0.0, f32::max);
    let verdict = if worst >= EXPLICIT_FROM {
        ModerationVerdict::Explicit
    } else if worst >= REVIEW_FROM {
        ModerationVerdict::Review
    } else {
        ModerationVerdict::Safe
    };
    let mut ranked: Vec<&Check> = checks.iter().filter(|c| c.explicit > 0.0).collect();
    ranked.sort_by(|a, b| b.explicit.total_cmp(&a.explicit));
    Moderation {
        verdict,
        model: format!("{} {}", info.name, info.version),
        frames_checked: checks.len() as u32,
        shots: shot_scores,
        evidence: ranked
            .into_iter()
            .take(EVIDENCE_FRAMES)
            .map(|c| ModerationEvidence {
                seconds: c.seconds,
                explicit: c.explicit,
                detections: c.detections.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shot(index: u32, start: f64, end: f64) -> Shot {
        Shot {
            index,
            start_frame: (start * 25.0) as u64,
            end_frame: (end * 25.0) as u64,
            start_seconds: start,
            end_seconds: end,
            keyframe_seconds: start,
        }
    }

    fn check(seconds: f64, explicit: f32) -> Check {
        Check {
            seconds,
            explicit,
            detections: Vec::new(),
        }
    }

    #[test]
    fn the_worst_frame_decides_and_is_the_first_evidence() {
        let shots = [shot(0, 0.0, 2.0), shot(1, 2.0, 5.0), shot(2, 5.0, 6.0)];
        let checks = [
            check(0.5, 0.0),
            check(2.5, 0.4),
            check(4.0, 0.7),
            check(5.5, 0.1),
        ];
        let m = moderation(&checks, &shots);
        assert_eq!(m.verdict, ModerationVerdict::Explicit);
        let per_shot: Vec<f32> = m.shots.iter().map(|s| s.explicit).collect();
        assert_eq!(per_shot, [0.0, 0.7, 0.1]);
        let evidence: Vec<f64> = m.evidence.iter().map(|e| e.seconds).collect();
        assert_eq!(evidence, [4.0, 2.5, 5.5]);
        assert_eq!(m.frames_checked, 4);
        assert_eq!(
            moderation(&[check(1.0, 0.35)], &shots).verdict,
            ModerationVerdict::Review
        );
        assert_eq!(
            moderation(&[check(1.0, 0.0)], &shots).verdict,
            ModerationVerdict::Safe
        );
    }
}
