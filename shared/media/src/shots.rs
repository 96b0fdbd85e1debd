//! Shot boundaries, black stretches and frozen stretches, from tiny frames of every frame.
//!
//! Every decoded frame arrives as a small RGB image (e.g. 128×72). Three differences are kept per
//! frame: to the previous frame (`d1`, hard cuts and frozen video), to the frame before that
//! (`d2`, to tell a one-frame flash from a cut), and across a window of about one second centred
//! on the frame (`span`, gradual transitions). Only the last window's frames are held, so
//! memory does not grow with the video's length.
//!
//! - **Cut**: `d1` well above its neighbourhood's median and above an absolute floor, not a flash
//!   (the frames either side of it are alike), at least [`Tuning::min_shot_frames`] apart.
//! - **Fade**: a run of black frames entered or left gradually (no cut at its edge) with picture
//!   on both sides; the boundary is the middle of the black.
//! - **Dissolve**: a peak of `span` well above its neighbourhood, with no cut nearby, where the
//!   middle frame lies "between" the two ends (a blend, not motion) and frame-to-frame change
//!   rises inside it (a blend steps from one picture to the other; a steady zoom does not).

use std::collections::VecDeque;

use mvidarr_core::analysis::{Segment, Transition, TransitionKind};

/// Thresholds, on a 0–255 scale of mean absolute difference.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// A cut's `d1` is at least this.
    pub cut_floor: f64,
    /// …and at least this many times the median `d1` around it.
    pub cut_ratio: f64,
    /// Shots shorter than this many frames are merged into their neighbour.
    pub min_shot_frames: u64,
    /// A frame is black when at least this share of its pixels is darker than `black_level`.
    pub black_share: f64,
    pub black_level: u8,
    /// Frames whose luma differs by at most this on average (and `frozen_max` at most
    /// anywhere) from the previous one are frozen.
    pub frozen_mean: f64,
    pub frozen_max: u8,
    pub min_black_seconds: f64,
    pub min_frozen_seconds: f64,
    /// A dissolve's `span` is at least this, and `dissolve_ratio` times its neighbourhood.
    pub dissolve_floor: f64,
    pub dissolve_ratio: f64,
    /// …and its middle frame differs from the average of its ends by at most this share of it.
    pub blend_residual_share: f64,
    /// …and inside its window, frame-to-frame change above the shots' own adds up to at least
    /// this share of it…
    pub blend_steps_share: f64,
    /// …unless a shot's own frame-to-frame change is at least this (the steps drown in it).
    pub blend_steps_blind: f64,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            cut_floor: 12.0,
            cut_ratio: 3.0,
            min_shot_frames: 6,
            black_share: 0.98,
            black_level: 26,
            frozen_mean: 0.1,
            frozen_max: 3,
            min_black_seconds: 0.5,
            min_frozen_seconds: 1.0,
            dissolve_floor: 14.0,
            dissolve_ratio: 1.5,
            blend_residual_share: 0.44,
            blend_steps_share: 0.4,
            blend_steps_blind: 12.0,
        }
    }
}

/// What was measured of one frame.
#[derive(Debug, Clone, Copy, Default)]
struct FrameSignals {
    luma_mean: f64,
    black: bool,
    /// Difference to the previous frame (0 for the first).
    d1: f64,
    /// Difference to the frame two back.
    d2: f64,
    /// Previous frame's luma unchanged (frozen), judged on the tiny frame.
    still: bool,
    /// Difference between the frames `half` before and `half` after this one.
    span: f64,
    /// Difference from the frame `half` before to this one…
    to_start: f64,
    /// …and from this one to the frame `half` after.
    to_end: f64,
    /// How far this frame is from the average of those two: small in the middle of a blend,
    /// large for motion.
    blend_residual: f64,
}

/// Frame-to-frame change around a candidate blend (see [`ShotDetector::blend_steps`]).
struct BlendSteps {
    /// The shots' own change per frame, the larger of before and after the window.
    motion: f64,
    /// Change above that, summed over the window.
    excess: f64,
    /// The centroid of that excess: the blend's middle frame.
    middle: usize,
}

/// One tiny frame converted to planes we compare: luma and two colour differences.
#[derive(Default)]
struct Planes {
    y: Vec<u8>,
    /// The blue difference of every pixel, then the red difference of every pixel.
    chroma: Vec<i16>,
}

/// Elements summed in 32 bits before adding to the 64-bit total: 32-bit sums vectorise, and
/// this many of the largest term (1,020) stay far below their limit.
const CHUNK: usize = 4096;

/// `Σ term(a[i], b[i])` over two equally long slices.
fn sum_pairs<T: Copy>(a: &[T], b: &[T], term: impl Fn(T, T) -> u32) -> u64 {
    a.chunks(CHUNK)
        .zip(b.chunks(CHUNK))
        .map(|(a, b)| u64::from(a.iter().zip(b).map(|(x, y)| term(*x, *y)).sum::<u32>()))
        .sum()
}

/// `Σ |2·m[i] − a[i] − b[i]|` over three equally long slices.
fn sum_off_midpoint<T: Copy + Into<i32>>(m: &[T], a: &[T], b: &[T]) -> u64 {
    m.chunks(CHUNK)
        .zip(a.chunks(CHUNK).zip(b.chunks(CHUNK)))
        .map(|(m, (a, b))| {
            u64::from(
                m.iter()
                    .zip(a.iter().zip(b))
                    .map(|(m, (a, b))| (2 * (*m).into() - (*a).into() - (*b).into()).unsigned_abs())
                    .sum::<u32>(),
            )
        })
        .sum()
}

impl Planes {
    /// Fill from packed RGB24, reusing this frame's buffers.
    fn fill_from_rgb(&mut self, rgb: &[u8]) {
        let pixels = rgb.len() / 3;
        self.y.resize(pixels, 0);
        self.chroma.resize(2 * pixels, 0);
        let (u, v) = self.chroma.split_at_mut(pixels);
        for (((px, y), u), v) in rgb.chunks_exact(3).zip(&mut self.y).zip(u).zip(v) {
            let (r, g, b) = (i32::from(px[0]), i32::from(px[1]), i32::from(px[2]));
            let luma = (77 * r + 150 * g + 29 * b) >> 8;
            *y = luma as u8;
            *u = (b - luma) as i16;
            *v = (r - luma) as i16;
        }
    }

    /// Summed absolute differences to `other`: luma, and both colour differences together.
    fn differences(&self, other: &Planes) -> (u64, u64) {
        (
            sum_pairs(&self.y, &other.y, |a, b| u32::from(a.abs_diff(b))),
            sum_pairs(&self.chroma, &other.chroma, |a, b| u32::from(a.abs_diff(b))),
        )
    }

    /// Mean absolute difference, luma weighted twice the colour differences (0–255), from
    /// summed [`Planes::differences`].
    fn weigh(&self, (dy, dc): (u64, u64)) -> f64 {
        let n = self.y.len().max(1) as f64;
        (2.0 * dy as f64 + 0.5 * dc as f64) / (3.0 * n)
    }

    fn difference(&self, other: &Planes) -> f64 {
        self.weigh(self.differences(other))
    }

    /// Mean absolute difference between this frame and the average of `a` and `b`, weighted
    /// as in [`Planes::difference`].
    fn blend_residual(&self, a: &Planes, b: &Planes) -> f64 {
        let dy = sum_off_midpoint(&self.y, &a.y, &b.y);
        let dc = sum_off_midpoint(&self.chroma, &a.chroma, &b.chroma);
        self.weigh((dy, dc)) / 2.0
    }

    /// Whether this frame repeats `previous`, whose summed luma difference to it is `dy`.
    fn still_after(&self, previous: &Planes, dy: u64, tuning: &Tuning) -> bool {
        dy as f64 / self.y.len().max(1) as f64 <= tuning.frozen_mean
            && self
                .y
                .iter()
                .zip(&previous.y)
                .all(|(a, b)| a.abs_diff(*b) <= tuning.frozen_max)
    }
}

/// Feeds on tiny frames in order; [`ShotDetector::finish`] gives the findings.
pub struct ShotDetector {
    fps: f64,
    tuning: Tuning,
    /// Half the gradual-transition window, in frames.
    half: usize,
    /// The last `2 * half + 1` frames.
    window: VecDeque<Planes>,
    signals: Vec<FrameSignals>,
}

/// What the detector found.
#[derive(Debug, Clone, PartialEq)]
pub struct ShotFindings {
    pub frames: u64,
    pub transitions: Vec<Transition>,
    pub black_segments: Vec<Segment>,
    pub frozen_segments: Vec<Segment>,
}

impl ShotDetector {
    pub fn new(fps: f64, tuning: Tuning) -> Self {
        let fps = if fps.is_finite() && fps > 0.0 {
            fps
        } else {
            25.0
        };
        let half = ((fps / 2.0).round() as usize).max(2);
        Self {
            fps,
            tuning,
            half,
            window: VecDeque::with_capacity(2 * half + 2),
            signals: Vec::new(),
        }
    }

    /// The next frame, as packed RGB24 bytes of a fixed small size.
    pub fn push(&mut self, rgb: &[u8]) {
        // The frame leaving the window lends its buffers to the one arriving.
        let mut planes = if self.window.len() > 2 * self.half {
            self.window.pop_front().unwrap_or_default()
        } else {
            Planes::default()
        };
        planes.fill_from_rgb(rgb);
        let pixels = planes.y.len().max(1) as f64;
        let dark = planes
            .y
            .iter()
            .filter(|&&y| y < self.tuning.black_level)
            .count();
        let luma_total: u64 = planes
            .y
            .chunks(CHUNK)
            .map(|chunk| u64::from(chunk.iter().map(|&y| u32::from(y)).sum::<u32>()))
            .sum();
        let mut signals = FrameSignals {
            luma_mean: luma_total as f64 / pixels,
            black: dark as f64 >= self.tuning.black_share * planes.y.len() as f64,
            ..FrameSignals::default()
        };
        if let Some(previous) = self.window.back() {
            let (dy, dc) = planes.differences(previous);
            signals.d1 = planes.weigh((dy, dc));
            signals.still = planes.still_after(previous, dy, &self.tuning);
        }
        if self.window.len() >= 2 {
            signals.d2 = planes.difference(&self.window[self.window.len() - 2]);
        }
        self.window.push_back(planes);
        self.signals.push(signals);
        // With 2·half+1 frames held, the middle one's span is complete.
        if self.window.len() == 2 * self.half + 1 {
            let (first, middle, last) = (
                &self.window[0],
                &self.window[self.half],
                &self.window[2 * self.half],
            );
            let centre = self.signals.len() - 1 - self.half;
            self.signals[centre].span = first.difference(last);
            self.signals[centre].to_start = first.difference(middle);
            self.signals[centre].to_end = middle.difference(last);
            self.signals[centre].blend_residual = middle.blend_residual(first, last);
        }
    }

    pub fn finish(self) -> ShotFindings {
        if tracing::enabled!(tracing::Level::TRACE) {
            for (i, x) in self.signals.iter().enumerate() {
                tracing::trace!(
                    frame = i,
                    luma = x.luma_mean,
                    d1 = x.d1,
                    d2 = x.d2,
                    span = x.span,
                    to_start = x.to_start,
                    to_end = x.to_end,
                    blend_residual = x.blend_residual,
                    black = x.black,
                    "shot signals"
                );
            }
        }
        let frames = self.signals.len() as u64;
        let cuts = self.cuts();
        let (fades, black_runs) = self.fades(&cuts);
        // A quick fade can jump enough between frames to look like a cut: inside a fade's
        // frames, the fade is the boundary.
        let cuts = cuts
            .into_iter()
            .filter(|cut| {
                !fades.iter().any(|fade| {
                    cut.at_seconds > fade.span.start_seconds
                        && cut.at_seconds < fade.span.end_seconds
                })
            })
            .collect::<Vec<_>>();
        let mut transitions: Vec<Transition> = cuts;
        transitions.extend(fades);
        let dissolves = self.dissolves(&transitions, &black_runs);
        transitions.extend(dissolves);
        transitions.sort_by_key(|t| t.frame);
        let transitions = self.enforce_min_shot(transitions);
        ShotFindings {
            frames,
            black_segments: self.runs_to_segments(&black_runs, self.tuning.min_black_seconds),
            frozen_segments: self.frozen_segments(),
            transitions,
        }
    }

    fn seconds(&self, frame: usize) -> f64 {
        frame as f64 / self.fps
    }

    fn transition(
        &self,
        kind: TransitionKind,
        frame: usize,
        span: (usize, usize),
        score: f64,
    ) -> Transition {
        Transition {
            kind,
            frame: frame as u64,
            at_seconds: self.seconds(frame),
            span: Segment {
                start_seconds: self.seconds(span.0),
                end_seconds: self.seconds(span.1),
            },
            score,
        }
    }

    /// The `q` quantile of `values` (0 for none).
    fn quantile(mut values: Vec<f64>, q: f64) -> f64 {
        if values.is_empty() {
            return 0.0;
        }
        values.sort_by(f64::total_cmp);
        values[((values.len() - 1) as f64 * q).round() as usize]
    }

    fn cuts(&self) -> Vec<Transition> {
        let s = &self.signals;
        let reach = self.half.max(3);
        let mut cuts = Vec::new();
        for i in 1..s.len() {
            let d1 = s[i].d1;
            if d1 < self.tuning.cut_floor {
                continue;
            }
            // The neighbourhood, leaving out this frame and the one after (a flash's return).
            let around: Vec<f64> = (i.saturating_sub(reach)..(i + reach + 1).min(s.len()))
                .filter(|&j| j != i && j != i + 1 && j >= 1)
                .map(|j| s[j].d1)
                .collect();
            let local = Self::quantile(around, 0.5).max(1.0);
            if d1 < self.tuning.cut_ratio * local {
                continue;
            }
            // The end of a flash: this frame looks like the one before the flash.
            if s[i].d2 < 0.4 * d1 {
                continue;
            }
            // A flash: the frame after this one looks like the one before it.
            if i + 1 < s.len() && s[i + 1].d2 < 0.4 * d1 && s[i + 1].d1 >= 0.6 * d1 {
                continue;
            }
            cuts.push(self.transition(TransitionKind::Cut, i, (i, i), d1 / local));
        }
        cuts
    }

    /// Runs of consecutive frames where `holds` is true, as `(first, end_exclusive)`.
    fn runs(&self, holds: impl Fn(&FrameSignals) -> bool) -> Vec<(usize, usize)> {
        let mut runs = Vec::new();
        let mut start = None;
        for (i, s) in self.signals.iter().enumerate() {
            match (holds(s), start) {
                (true, None) => start = Some(i),
                (false, Some(first)) => {
                    runs.push((first, i));
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(first) = start {
            runs.push((first, self.signals.len()));
        }
        runs
    }

    /// Runs of black frames as `(first, end_exclusive)`.
    fn black_runs(&self) -> Vec<(usize, usize)> {
        self.runs(|s| s.black)
    }

    fn fades(&self, cuts: &[Transition]) -> (Vec<Transition>, Vec<(usize, usize)>) {
        let runs = self.black_runs();
        // A cut is one big step between small ones. In a quick fade every step is big enough to
        // pass for a cut: those steps are the fade's, not a cut beside it.
        let s = &self.signals;
        let lone = |k: usize| {
            let d1 = s[k].d1;
            (k < 1 || s[k - 1].d1 < 0.5 * d1) && s.get(k + 1).is_none_or(|next| next.d1 < 0.5 * d1)
        };
        let cut_at = |frame: usize| {
            cuts.iter()
                .any(|c| (c.frame as i64 - frame as i64).abs() <= 1 && lone(c.frame as usize))
        };
        let mut fades = Vec::new();
        for &(first, end) in &runs {
            // Picture on both sides: a fade in at the start or out at the end is no boundary.
            if first == 0 || end >= self.signals.len() {
                continue;
            }
            // A cut at either edge already marks the boundary (a black shot between two cuts,
            // or a fade out ended by a cut).
            if cut_at(first) || cut_at(end) {
                continue;
            }
            // Where the fade's frames begin and end: the luma slope either side of the black.
            let mut from = first;
            while from > 0
                && self.signals[from - 1].luma_mean > self.signals[from].luma_mean + 0.2
                && !self.signals[from - 1].black
            {
                from -= 1;
            }
            let mut to = end;
            while to + 1 < self.signals.len()
                && self.signals[to + 1].luma_mean > self.signals[to].luma_mean + 0.2
            {
                to += 1;
            }
            let middle = first + (end - first) / 2;
            let score = (self.signals[from].luma_mean.max(self.signals[to].luma_mean)
                - self.signals[middle].luma_mean)
                .max(0.0);
            fades.push(self.transition(TransitionKind::Fade, middle, (from, to), score));
        }
        (fades, runs)
    }

    fn dissolves(&self, found: &[Transition], black_runs: &[(usize, usize)]) -> Vec<Transition> {
        let s = &self.signals;
        let h = self.half;
        let context = (3.0 * self.fps) as usize;
        let mut dissolves = Vec::new();
        if s.len() < 2 * h + 1 {
            return dissolves;
        }
        let near_other = |c: usize| {
            found
                .iter()
                .any(|t| (t.frame as i64 - c as i64).unsigned_abs() as usize <= h + 2)
                || black_runs
                    .iter()
                    .any(|&(first, end)| c + h + 2 >= first && c <= end + h + 2)
        };
        for c in h..s.len() - h {
            let span = s[c].span;
            if span < self.tuning.dissolve_floor {
                continue;
            }
            // A local maximum over the window.
            let (lo, hi) = (c - h, (c + h).min(s.len() - h - 1));
            if (lo..=hi).any(|j| s[j].span > span || (s[j].span == span && j < c)) {
                continue;
            }
            // The shot's own level of change: away from this peak and from every window that
            // straddles another boundary (those are high by construction), low quantile.
            let around: Vec<f64> = (c.saturating_sub(context)..(c + context).min(s.len() - h))
                .filter(|&j| j >= h && (j as i64 - c as i64).unsigned_abs() as usize > h)
                .filter(|&j| {
                    !found
                        .iter()
                        .any(|t| (t.frame as i64 - j as i64).unsigned_abs() as usize <= h + 1)
                })
                .map(|j| s[j].span)
                .collect();
            let local = Self::quantile(around, 0.3).max(1.0);
            let residual = s[c].blend_residual;
            tracing::debug!(peak = c, span, local, residual, "dissolve peak");
            if span < self.tuning.dissolve_ratio * local {
                continue;
            }
            // The middle of a blend is the average of its ends; moving pictures are not.
            if residual > self.tuning.blend_residual_share * span {
                continue;
            }
            // A blend lies on the straight path between its ends; motion wanders off it.
            let path = s[c].to_start + s[c].to_end;
            if path > 0.0 && span / path < 0.7 {
                continue;
            }
            // A blend's steps add up to much of its span; steady motion (a zoom, drifting
            // colours) reaches a high span with no rise in frame-to-frame change. Where a shot's
            // own change is as large as a cut's, the steps drown in it and tell nothing.
            let steps = self.blend_steps(c);
            if steps.motion < self.tuning.blend_steps_blind
                && steps.excess < self.tuning.blend_steps_share * span
            {
                continue;
            }
            // No frame-to-frame jump inside: that would be a cut (handled) or a flash.
            if (lo..=c + h).any(|j| j < s.len() && s[j].d1 >= self.tuning.cut_floor.max(span * 0.6))
            {
                continue;
            }
            if near_other(c) {
                continue;
            }
            let middle = self.blend_middle(c).unwrap_or(steps.middle);
            tracing::debug!(
                peak = c,
                middle,
                centroid = steps.middle,
                span,
                local,
                "dissolve candidate"
            );
            if dissolves
                .last()
                .is_some_and(|d: &Transition| d.frame as usize + h >= middle)
            {
                continue;
            }
            dissolves.push(self.transition(
                TransitionKind::Dissolve,
                middle,
                (middle - h, middle + h),
                span / local,
            ));
        }
        dissolves
    }

    /// How frame-to-frame change behaves in the window centred on `c`. Inside a blend every
    /// frame steps from one shot towards the other, so frame-to-frame change rises above what
    /// each shot's own motion gives, and those steps add up to about the whole difference
    /// between the shots. The motion level is taken from just before and just after the
    /// window and graded across it; the middle is the centroid of the excess. (The window is
    /// longer than most blends, so `c` itself lies anywhere on a plateau.)
    fn blend_steps(&self, c: usize) -> BlendSteps {
        let s = &self.signals;
        let h = self.half;
        let (lo, hi) = (c - h, (c + h).min(s.len() - 1));
        let before = Self::quantile((lo.saturating_sub(h)..lo).map(|j| s[j].d1).collect(), 0.5);
        let after = Self::quantile(
            (hi + 1..(hi + 1 + h).min(s.len()))
                .map(|j| s[j].d1)
                .collect(),
            0.5,
        );
        let (mut weight, mut moment) = (0.0, 0.0);
        for (j, signals) in s.iter().enumerate().take(hi + 1).skip(lo) {
            let t = (j - lo) as f64 / (hi - lo).max(1) as f64;
            let excess = (signals.d1 - (before + t * (after - before))).max(0.0);
            weight += excess;
            moment += excess * j as f64;
        }
        BlendSteps {
            motion: before.max(after),
            excess: weight,
            middle: if weight > 0.0 {
                (moment / weight).round() as usize
            } else {
                c
            },
        }
    }

    /// The blend's middle near the peak `c`: the frame as far from the picture `half` frames
    /// before it as from the one `half` after, where `to_start − to_end` turns from negative to
    /// positive (the nearest such turn to `c`). Unlike the centroid of frame-to-frame change,
    /// it is not pulled towards the shot with more motion of its own: that motion adds to both
    /// sides alike. `None` without such a turn in the window.
    fn blend_middle(&self, c: usize) -> Option<usize> {
        let s = &self.signals;
        let h = self.half;
        let (lo, hi) = (
            c.saturating_sub(h).max(h),
            (c + h).min(s.len().saturating_sub(h + 1)),
        );
        let lean = |j: usize| s[j].to_start - s[j].to_end;
        (lo..hi)
            .filter(|&j| lean(j) < 0.0 && lean(j + 1) >= 0.0)
            .map(|j| {
                // The nearer of the two frames to where the lean crosses zero.
                let (a, b) = (lean(j), lean(j + 1));
                if -a <= b { j } else { j + 1 }
            })
            .min_by_key(|&j| (j as i64 - c as i64).unsigned_abs())
    }

    /// Drop boundaries that would leave a shot shorter than the minimum, keeping the stronger.
    fn enforce_min_shot(&self, transitions: Vec<Transition>) -> Vec<Transition> {
        let min = self.tuning.min_shot_frames;
        let mut kept: Vec<Transition> = Vec::new();
        for t in transitions {
            if t.frame < min {
                continue;
            }
            match kept.last() {
                Some(last) if t.frame - last.frame < min => {
                    if t.score > last.score {
                        kept.pop();
                        kept.push(t);
                    }
                }
                _ => kept.push(t),
            }
        }
        let frames = self.signals.len() as u64;
        while kept.last().is_some_and(|t| frames - t.frame < min) {
            kept.pop();
        }
        kept
    }

    fn runs_to_segments(&self, runs: &[(usize, usize)], min_seconds: f64) -> Vec<Segment> {
        runs.iter()
            .map(|&(first, end)| Segment {
                start_seconds: self.seconds(first),
                end_seconds: self.seconds(end),
            })
            .filter(|segment| segment.duration() + 1e-9 >= min_seconds)
            .collect()
    }

    fn frozen_segments(&self) -> Vec<Segment> {
        // A frozen stretch starts at the frame that the following ones repeat.
        // A still frame repeats the one before it: the stretch starts one frame earlier.
        let runs: Vec<(usize, usize)> = self
            .runs(|s| s.still && !s.black)
            .into_iter()
            .map(|(first, end)| (first.saturating_sub(1), end))
            .collect();
        self.runs_to_segments(&runs, self.tuning.min_frozen_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame of pseudo-random pixels.
    fn noise(pixels: usize, seed: u64) -> Vec<u8> {
        let mut state = seed | 1;
        (0..pixels * 3)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 56) as u8
            })
            .collect()
    }

    fn planes(rgb: &[u8]) -> Planes {
        let mut planes = Planes::default();
        planes.fill_from_rgb(rgb);
        planes
    }

    #[test]
    fn differences_are_the_weighted_mean_of_absolute_differences() {
        let (a, b, m) = (noise(9216, 1), noise(9216, 2), noise(9216, 3));
        let (pa, pb, pm) = (planes(&a), planes(&b), planes(&m));
        // The definitions, one pixel at a time.
        let yuv = |px: &[u8]| {
            let (r, g, b) = (f64::from(px[0]), f64::from(px[1]), f64::from(px[2]));
            let y = ((77.0 * r + 150.0 * g + 29.0 * b) / 256.0).floor();
            [y, b - y, r - y]
        };
        let (mut difference, mut residual) = (0.0, 0.0);
        for ((a, b), m) in a.chunks(3).zip(b.chunks(3)).zip(m.chunks(3)) {
            let (a, b, m) = (yuv(a), yuv(b), yuv(m));
            for (k, weight) in [2.0, 0.5, 0.5].into_iter().enumerate() {
                difference += weight * (a[k] - b[k]).abs();
                residual += weight * (m[k] - (a[k] + b[k]) / 2.0).abs();
            }
        }
        let pixels = 3.0 * 9216.0;
        assert!((pa.difference(&pb) - difference / pixels).abs() < 1e-9);
        assert!((pm.blend_residual(&pa, &pb) - residual / pixels).abs() < 1e-9);
        assert_eq!(pa.difference(&pa), 0.0);
    }

    #[test]
    fn a_reused_frame_buffer_holds_only_the_new_frame() {
        let mut reused = planes(&noise(64, 4));
        reused.fill_from_rgb(&noise(16, 5));
        let fresh = planes(&noise(16, 5));
        assert_eq!((reused.y, reused.chroma), (fresh.y, fresh.chroma));
    }
}
