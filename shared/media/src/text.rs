//! On-screen text from sampled frames, reading as little as possible: the detector runs once a
//! second and only when the picture changed since it last ran; the recogniser reads only regions
//! whose pixels changed since they were last read. Lines read in consecutive detections at the
//! same place with the same text become one track with a time range.

use image::RgbImage;
use mvidarr_core::analysis::{OnScreenText, TextTrack};
use mvidarr_ml::ocr::{MIN_TEXT_CONFIDENCE, Ocr, RegionSignature, TextBox};

/// Detection at most this often.
const DETECT_EVERY_SECONDS: f64 = 1.0;
/// …and again after this long even if the picture looks the same.
const REDETECT_SECONDS: f64 = 10.0;
/// Mean grey change (0–255) on a 32×18 thumbnail that counts as a changed picture.
const CHANGED: f32 = 3.0;

/// A region read earlier and what it said.
struct Known {
    signature: RegionSignature,
    text: String,
    confidence: f32,
}

struct Open {
    track: TextTrack,
    /// Seen in the latest detection.
    seen: bool,
}

pub struct TextReader<'a> {
    ocr: &'a mut Ocr,
    last_detect: f64,
    last_picture: Option<Vec<f32>>,
    known: Vec<Known>,
    open: Vec<Open>,
    done: Vec<TextTrack>,
    frames_detected: u32,
    regions_detected: u32,
    regions_read: u32,
}

fn picture(frame: &RgbImage) -> Vec<f32> {
    image::imageops::thumbnail(frame, 32, 18)
        .pixels()
        .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
        .collect()
}

impl<'a> TextReader<'a> {
    pub fn new(ocr: &'a mut Ocr) -> Self {
        Self {
            ocr,
            last_detect: f64::NEG_INFINITY,
            last_picture: None,
            known: Vec::new(),
            open: Vec::new(),
            done: Vec::new(),
            frames_detected: 0,
            regions_detected: 0,
            regions_read: 0,
        }
    }

    /// A sampled frame at `seconds`.
    pub fn offer(&mut self, frame: &RgbImage, seconds: f64) -> Result<(), String> {
        if seconds - self.last_detect < DETECT_EVERY_SECONDS - 1e-6 {
            return Ok(());
        }
        let current = picture(frame);
        let changed = match &self.last_picture {
            Some(last) if last.len() == current.len() => {
                last.iter()
                    .zip(&current)
                    .map(|(a, b)| (a - b).abs())
                    .sum::<f32>()
                    / current.len() as f32
                    > CHANGED
            }
            _ => true,
        };
        if !changed && seconds - self.last_detect < REDETECT_SECONDS {
            // The same picture: what was on screen still is.
            for open in &mut self.open {
                open.track.end_seconds = seconds + DETECT_EVERY_SECONDS;
            }
            return Ok(());
        }
        self.last_picture = Some(current);
        self.last_detect = seconds;
        self.frames_detected += 1;
        let boxes = self.ocr.detect(frame).map_err(|e| e.to_string())?;
        self.regions_detected += boxes.len() as u32;
        // Reuse what unchanged regions said; read the rest.
        let mut to_read: Vec<TextBox> = Vec::new();
        let mut lines: Vec<(String, f32, [f32; 4])> = Vec::new();
        for text_box in &boxes {
            match self
                .known
                .iter()
                .find(|k| k.signature.covers(&text_box.quad) && k.signature.unchanged_in(frame))
            {
                Some(known) => {
                    lines.push((known.text.clone(), known.confidence, text_box.quad.bounds()))
                }
                None => to_read.push(*text_box),
            }
        }
        if !to_read.is_empty() {
            self.regions_read += to_read.len() as u32;
            for line in self
                .ocr
                .recognize(frame, &to_read)
                .map_err(|e| e.to_string())?
            {
                self.known.push(Known {
                    signature: RegionSignature::of(frame, &line.quad),
                    text: line.text.clone(),
                    confidence: line.confidence,
                });
                lines.push((line.text, line.confidence, line.quad.bounds()));
            }
        }
        // Keep the memory of regions bounded to what is on screen now.
        self.known
            .retain(|k| boxes.iter().any(|b| k.signature.covers(&b.quad)));
        let (w, h) = (frame.width() as f32, frame.height() as f32);
        for open in &mut self.open {
            open.seen = false;
        }
        for (text, confidence, [x0, y0, x1, y1]) in lines {
            if confidence < MIN_TEXT_CONFIDENCE || text.trim().is_empty() {
                continue;
            }
            let bounds = [x0 / w, y0 / h, x1 / w, y1 / h];
            let continuing = self.open.iter_mut().find(|o| {
                !o.seen && o.track.text == text && overlap(&o.track.bounds, &bounds) > 0.5
            });
            match continuing {
                Some(open) => {
                    open.seen = true;
                    open.track.end_seconds = seconds + DETECT_EVERY_SECONDS;
                    open.track.confidence = open.track.confidence.max(confidence);
                }
                None => self.open.push(Open {
                    track: TextTrack {
                        text,
                        confidence,
                        start_seconds: seconds,
                        end_seconds: seconds + DETECT_EVERY_SECONDS,
                        bounds,
                    },
                    seen: true,
                }),
            }
        }
        // Lines not seen now ended at this detection.
        let (ended, still): (Vec<Open>, Vec<Open>) = self.open.drain(..).partition(|o| !o.seen);
        self.open = still;
        self.done.extend(ended.into_iter().map(|mut o| {
            o.track.end_seconds = o.track.end_seconds.min(seconds);
            o.track
        }));
        Ok(())
    }

    pub fn finish(mut self, duration: f64) -> OnScreenText {
        self.done.extend(self.open.drain(..).map(|mut o| {
            o.track.end_seconds = o.track.end_seconds.min(duration.max(o.track.start_seconds));
            o.track
        }));
        self.done
            .sort_by(|a, b| a.start_seconds.total_cmp(&b.start_seconds));
        OnScreenText {
            lines: self.done,
            frames_detected: self.frames_detected,
            regions_detected: self.regions_detected,
            regions_read: self.regions_read,
        }
    }
}

/// Intersection over union of two `[x0, y0, x1, y1]` boxes.
fn overlap(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}
