//! On-screen text from sampled frames, reading as little as possible.
//!
//! The detector is the expensive model, so it runs only where text can have appeared, changed or
//! gone, at most once a second. A cheap map of the picture in 16-pixel cells says which cells
//! look like text (dense strong steps both across and down: strokes) and how each cell's pixels
//! compare with when its row was last detected. Rows of cells that changed and look like text
//! (or looked like text before) are detected again as full-width bands — grown through the
//! neighbouring rows that look like text, so a line is never cut — and the boxes found before
//! elsewhere stand. A picture with no cell that looks like text has no text: nothing runs. Every
//! row that looks like text is detected again after [`REDETECT_SECONDS`] whatever the map says.
//! The recogniser reads only boxes whose pixels changed since they were last read. Lines read in
//! consecutive detections at the same place with the same text become one track with a time range.

use std::ops::Range;

use image::RgbImage;
use mvidarr_core::analysis::{OnScreenText, TextTrack};
use mvidarr_ml::ocr::{MIN_TEXT_CONFIDENCE, Ocr, RegionSignature, TextBox};

/// Detection at most this often.
const DETECT_EVERY_SECONDS: f64 = 1.0;
/// …and again after this long even if the picture looks the same.
const REDETECT_SECONDS: f64 = 10.0;
/// …or after this long when the picture has moved (text in a moving picture changes without
/// holding still).
const RECHECK_SECONDS: f64 = 5.0;
/// Mean grey change per cell (0–255) from the frame before that makes a new picture: all rows
/// that look like text are detected again.
const NEW_PICTURE: f32 = 20.0;
/// Side of a map cell, in sampled-frame pixels.
const CELL: usize = 16;
/// A grey step (0–255) between neighbouring map pixels this large is a stroke edge.
const EDGE_STEP: u8 = 40;
/// A cell looks like text when at least these fractions of its pixels are edges across (left to
/// right) and down. Drawn text at any usual size has several strokes in every 16 pixels; a
/// smooth or blurred picture, a gradient or the straight edge of a large shape has not.
const MIN_ACROSS: f32 = 0.08;
const MIN_DOWN: f32 = 0.04;
/// A cell whose pixels moved less than this (mean absolute grey change) from the frame before
/// holds still…
const STILL: f32 = 6.0;
/// …and one whose pixels moved more than this since its row was detected has changed.
const CHANGE: f32 = 8.0;
/// Rows of cells added above and below a band, so that the detector sees a line's surroundings.
const BAND_MARGIN: usize = 1;
/// Bands covering this share of the rows are detected as one whole frame.
const WHOLE_FROM: f64 = 0.6;

/// One cell of the text map.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Cell {
    /// Mean grey of the cell's four quarters.
    quarters: [f32; 4],
    /// Whether its strokes look like text.
    texty: bool,
    /// Looks like text and has not changed since the frame before: overlaid text holds still
    /// while the picture behind it moves.
    stable: bool,
    /// In the reference map: under a box the detector found.
    text: bool,
}

/// The picture in [`CELL`]-pixel cells.
#[derive(Debug, Clone, PartialEq)]
struct TextMap {
    /// The frame's size in pixels.
    size: (u32, u32),
    cols: usize,
    rows: usize,
    cells: Vec<Cell>,
    /// The grey picture the map was measured on, `side` pixels a cell.
    grey: Vec<u8>,
    width: usize,
    side: usize,
}

impl TextMap {
    /// The map of `frame`, measured on its grey picture, halved when the frame is wider than
    /// 1000 pixels (strokes of text that can be read stay a pixel wide or more).
    fn of(frame: &RgbImage) -> TextMap {
        let (fw, fh) = (frame.width() as usize, frame.height() as usize);
        let factor = if fw > 1000 { 2 } else { 1 };
        let (gw, gh) = (fw / factor, fh / factor);
        let grey = grey_reduced(frame, factor, gw, gh);
        let side = CELL / factor;
        let (cols, rows) = (gw.div_ceil(side), gh.div_ceil(side));
        let mut sums = vec![[0u32; 4]; cols * rows];
        let mut counts = vec![[0u32; 4]; cols * rows];
        let mut across = vec![0u32; cols * rows];
        let mut down = vec![0u32; cols * rows];
        for y in 0..gh {
            let row = &grey[y * gw..(y + 1) * gw];
            let below = (y + 1 < gh).then(|| &grey[(y + 1) * gw..(y + 2) * gw]);
            let cy = y / side;
            let qy = usize::from(y % side >= side / 2) * 2;
            for x in 0..gw {
                let cell = cy * cols + x / side;
                let q = qy + usize::from(x % side >= side / 2);
                let v = row[x];
                sums[cell][q] += u32::from(v);
                counts[cell][q] += 1;
                if x + 1 < gw && v.abs_diff(row[x + 1]) >= EDGE_STEP {
                    across[cell] += 1;
                }
                if let Some(below) = below
                    && v.abs_diff(below[x]) >= EDGE_STEP
                {
                    down[cell] += 1;
                }
            }
        }
        let cells = (0..cols * rows)
            .map(|i| {
                let area = counts[i].iter().sum::<u32>().max(1) as f32;
                Cell {
                    quarters: std::array::from_fn(|q| {
                        sums[i][q] as f32 / counts[i][q].max(1) as f32
                    }),
                    texty: across[i] as f32 >= MIN_ACROSS * area
                        && down[i] as f32 >= MIN_DOWN * area,
                    stable: false,
                    text: false,
                }
            })
            .collect();
        TextMap {
            size: (frame.width(), frame.height()),
            cols,
            rows,
            cells,
            grey,
            width: gw,
            side,
        }
    }

    /// Mean absolute grey difference, pixel by pixel, of each cell from `other` (same size).
    fn motion(&self, other: &TextMap) -> Vec<f32> {
        let mut sums = vec![0u32; self.cells.len()];
        let mut counts = vec![0u32; self.cells.len()];
        for (y, (now, then)) in self
            .grey
            .chunks_exact(self.width)
            .zip(other.grey.chunks_exact(self.width))
            .enumerate()
        {
            let row = y / self.side * self.cols;
            for (c, (a, b)) in now
                .chunks(self.side)
                .zip(then.chunks(self.side))
                .enumerate()
            {
                sums[row + c] += a
                    .iter()
                    .zip(b)
                    .map(|(a, b)| u32::from(a.abs_diff(*b)))
                    .sum::<u32>();
                counts[row + c] += a.len() as u32;
            }
        }
        sums.iter()
            .zip(&counts)
            .map(|(&s, &n)| s as f32 / n.max(1) as f32)
            .collect()
    }

    /// Marks the cells that look like text and are unchanged since `before`.
    fn settle(&mut self, before: Option<&TextMap>) {
        let Some(before) = before.filter(|b| b.size == self.size) else {
            return;
        };
        let motion = self.motion(before);
        for ((now, then), moved) in self.cells.iter_mut().zip(&before.cells).zip(motion) {
            now.stable = now.texty && then.texty && moved <= STILL;
        }
    }

    /// Per cell: can text here differ from what it was in `reference` (same size)?
    fn changed_from(&self, reference: &TextMap) -> Vec<bool> {
        let motion = self.motion(reference);
        self.cells
            .iter()
            .zip(&reference.cells)
            .zip(motion)
            .map(|((now, then), moved)| {
                (now.texty || then.texty) && (now.texty != then.texty || moved > CHANGE)
            })
            .collect()
    }

    /// Takes the cells (and grey rows) of cell rows `rows` from `other` (same size).
    fn take_rows(&mut self, other: &TextMap, rows: &Range<usize>) {
        let cells = rows.start * self.cols..rows.end * self.cols;
        self.cells[cells.clone()].copy_from_slice(&other.cells[cells]);
        let grey_rows = rows.start * self.side * self.width
            ..(rows.end * self.side * self.width).min(self.grey.len());
        self.grey[grey_rows.clone()].copy_from_slice(&other.grey[grey_rows]);
    }

    /// Mean grey change per cell from `other` (same size).
    fn difference(&self, other: &TextMap) -> f32 {
        let mean = |c: &Cell| c.quarters.iter().sum::<f32>() / 4.0;
        self.cells
            .iter()
            .zip(&other.cells)
            .map(|(a, b)| (mean(a) - mean(b)).abs())
            .sum::<f32>()
            / self.cells.len().max(1) as f32
    }

    /// Marks the cells under `boxes` as holding text.
    fn mark_text(&mut self, boxes: &[TextBox], rows: &Range<usize>) {
        for text_box in boxes {
            let [x0, y0, x1, y1] = text_box.quad.bounds();
            let cell = |v: f32, n: usize| ((v.max(0.0) as usize) / CELL).min(n.saturating_sub(1));
            let (c0, c1) = (cell(x0, self.cols), cell(x1, self.cols));
            let (r0, r1) = (cell(y0, self.rows), cell(y1, self.rows));
            for r in r0.max(rows.start)..=r1.min(rows.end.saturating_sub(1)) {
                for c in c0..=c1 {
                    self.cells[r * self.cols + c].text = true;
                }
            }
        }
    }

    fn row(&self, row: usize) -> &[Cell] {
        &self.cells[row * self.cols..(row + 1) * self.cols]
    }

    fn texty_row(&self, row: usize) -> bool {
        self.row(row).iter().any(|c| c.texty)
    }

    fn any_texty(&self) -> bool {
        self.cells.iter().any(|c| c.texty)
    }

    /// Frame rows covered by cell rows `rows`.
    fn frame_rows(&self, rows: &Range<usize>) -> Range<u32> {
        let end = (rows.end * CELL).min(self.size.1 as usize);
        (rows.start * CELL) as u32..end as u32
    }

    /// Bands (ranges of cell rows) to detect: each marked row, grown through the neighbouring
    /// rows that look like text, then by [`BAND_MARGIN`]; overlapping bands merged.
    fn bands(&self, marked: &[bool]) -> Vec<Range<usize>> {
        let mut bands: Vec<Range<usize>> = Vec::new();
        let mut row = 0;
        while row < self.rows {
            if !marked[row] {
                row += 1;
                continue;
            }
            let mut start = row;
            while start > 0 && self.texty_row(start - 1) {
                start -= 1;
            }
            let mut end = row + 1;
            while end < self.rows && (marked[end] || self.texty_row(end)) {
                end += 1;
            }
            row = end;
            let band = start.saturating_sub(BAND_MARGIN)..(end + BAND_MARGIN).min(self.rows);
            match bands.last_mut() {
                Some(last) if last.end >= band.start => last.end = last.end.max(band.end),
                _ => bands.push(band),
            }
        }
        bands
    }
}

/// Grey levels (BT.601 luma, 0–255) of `frame`, box-averaged down by `factor`.
fn grey_reduced(frame: &RgbImage, factor: usize, gw: usize, gh: usize) -> Vec<u8> {
    let fw = frame.width() as usize;
    let raw = frame.as_raw();
    let luma = |i: usize| -> u32 {
        let p = &raw[i * 3..i * 3 + 3];
        77 * u32::from(p[0]) + 150 * u32::from(p[1]) + 29 * u32::from(p[2])
    };
    let mut grey = Vec::with_capacity(gw * gh);
    for y in 0..gh {
        for x in 0..gw {
            let mut sum = 0;
            for dy in 0..factor {
                let row = (y * factor + dy) * fw + x * factor;
                for dx in 0..factor {
                    sum += luma(row + dx);
                }
            }
            grey.push((sum / (256 * (factor * factor) as u32)) as u8);
        }
    }
    grey
}

/// A region read earlier and what it said.
struct Known {
    signature: RegionSignature,
    text: String,
    confidence: f32,
}

/// A line on screen as of the latest detection of its rows.
struct Line {
    text_box: TextBox,
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
    /// When every row that looks like text was last detected.
    last_whole: f64,
    /// The map as it was when each row was last detected.
    reference: Option<TextMap>,
    /// The previous frame's map.
    previous: Option<TextMap>,
    /// A new picture (a cut, mostly) since the last whole detection.
    new_picture: bool,
    on_screen: Vec<Line>,
    known: Vec<Known>,
    open: Vec<Open>,
    done: Vec<TextTrack>,
    frames_detected: u32,
    regions_detected: u32,
    regions_read: u32,
}

impl<'a> TextReader<'a> {
    pub fn new(ocr: &'a mut Ocr) -> Self {
        Self {
            ocr,
            last_detect: f64::NEG_INFINITY,
            last_whole: f64::NEG_INFINITY,
            reference: None,
            previous: None,
            new_picture: false,
            on_screen: Vec::new(),
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
        let mut map = TextMap::of(frame);
        let previous = self.previous.take().filter(|p| p.size == map.size);
        map.settle(previous.as_ref());
        if previous.is_none_or(|p| map.difference(&p) > NEW_PICTURE) {
            self.new_picture = true;
        }
        self.previous = Some(map.clone());
        if seconds - self.last_detect < DETECT_EVERY_SECONDS - 1e-6 {
            return Ok(());
        }
        if !map.any_texty() {
            // Nothing looks like text: whatever was on screen has gone.
            if !self.on_screen.is_empty() || !self.open.is_empty() {
                self.on_screen.clear();
                self.update_tracks(frame, seconds);
            }
            self.new_picture = false;
            self.reference = Some(map);
            return Ok(());
        }
        let reference = self.reference.as_ref().filter(|r| r.size == map.size);
        let since_whole = seconds - self.last_whole;
        let changed = reference.map(|r| map.changed_from(r));
        let moved = changed.as_ref().is_some_and(|c| c.iter().any(|&c| c));
        let whole = reference.is_none()
            || self.new_picture
            || since_whole >= REDETECT_SECONDS - 1e-6
            || (moved && since_whole >= RECHECK_SECONDS - 1e-6);
        let marked: Vec<bool> = (0..map.rows)
            .map(|row| match (reference, &changed) {
                _ if whole => map.texty_row(row),
                // Where text was found and changed, or text that holds still changed.
                (Some(reference), Some(changed)) => {
                    let cells = row * map.cols..(row + 1) * map.cols;
                    map.cells[cells.clone()]
                        .iter()
                        .zip(&reference.cells[cells.clone()])
                        .zip(&changed[cells])
                        .any(|((now, then), &changed)| (then.text || now.stable) && changed)
                }
                _ => true,
            })
            .collect();
        let bands = map.bands(&marked);
        if bands.is_empty() {
            // Nothing that can be text changed: what was on screen still is.
            for open in &mut self.open {
                open.track.end_seconds = seconds + DETECT_EVERY_SECONDS;
            }
            return Ok(());
        }
        // A line seen before that reaches into a band is detected again whole.
        let mut rows: Vec<Range<u32>> = bands.iter().map(|b| map.frame_rows(b)).collect();
        for line in &self.on_screen {
            let [_, y0, _, y1] = line.text_box.quad.bounds();
            for band in &mut rows {
                if y0 < band.end as f32 && y1 > band.start as f32 {
                    band.start = band.start.min(y0.max(0.0) as u32);
                    band.end = band.end.max((y1.ceil() as u32 + 1).min(map.size.1));
                }
            }
        }
        rows.sort_by_key(|r| r.start);
        let mut merged: Vec<Range<u32>> = Vec::new();
        for band in rows {
            match merged.last_mut() {
                Some(last) if last.end >= band.start => last.end = last.end.max(band.end),
                _ => merged.push(band),
            }
        }
        let covered: u32 = merged.iter().map(|r| r.len() as u32).sum();
        if f64::from(covered) >= WHOLE_FROM * f64::from(map.size.1) {
            merged = std::iter::once(0..map.size.1).collect();
        }
        self.last_detect = seconds;
        if whole {
            self.last_whole = seconds;
            self.new_picture = false;
        }
        self.frames_detected += 1;
        let mut boxes = Vec::new();
        for band in &merged {
            boxes.extend(
                self.ocr
                    .detect_rows(frame, band.clone())
                    .map_err(|e| e.to_string())?,
            );
        }
        self.regions_detected += boxes.len() as u32;
        tracing::debug!(seconds, whole, new_picture = self.new_picture, bands = ?merged, boxes = boxes.len(), "text detection");
        // Lines outside every band stand; the bands' lines are what the detector found now.
        let inside = |text_box: &TextBox| {
            let [_, y0, _, y1] = text_box.quad.bounds();
            merged
                .iter()
                .any(|b| y0 < b.end as f32 && y1 > b.start as f32)
        };
        if whole {
            // Every row that looks like text was detected: lines elsewhere have gone.
            self.on_screen.clear();
        } else {
            self.on_screen.retain(|line| !inside(&line.text_box));
        }
        self.read(frame, &boxes)?;
        // The map now holds for the rows just detected.
        let reference = match self.reference.take() {
            Some(reference) if reference.size == map.size => reference,
            _ => map.clone(),
        };
        let mut reference = reference;
        for band in &merged {
            let cells =
                band.start as usize / CELL..(band.end as usize).div_ceil(CELL).min(map.rows);
            reference.take_rows(&map, &cells);
            reference.mark_text(&boxes, &cells);
        }
        self.reference = Some(reference);
        self.update_tracks(frame, seconds);
        Ok(())
    }

    /// Adds the lines in `boxes` to those on screen: the text of regions read before and
    /// unchanged since, the recogniser's reading of the others.
    fn read(&mut self, frame: &RgbImage, boxes: &[TextBox]) -> Result<(), String> {
        let mut to_read: Vec<TextBox> = Vec::new();
        for text_box in boxes {
            match self
                .known
                .iter()
                .find(|k| k.signature.covers(&text_box.quad) && k.signature.unchanged_in(frame))
            {
                Some(known) => self.on_screen.push(Line {
                    text_box: *text_box,
                    text: known.text.clone(),
                    confidence: known.confidence,
                }),
                None => to_read.push(*text_box),
            }
        }
        if !to_read.is_empty() {
            self.regions_read += to_read.len() as u32;
            let lines = self
                .ocr
                .recognize(frame, &to_read)
                .map_err(|e| e.to_string())?;
            for (line, text_box) in lines.into_iter().zip(to_read) {
                self.known.push(Known {
                    signature: RegionSignature::of(frame, &line.quad),
                    text: line.text.clone(),
                    confidence: line.confidence,
                });
                self.on_screen.push(Line {
                    text_box,
                    text: line.text,
                    confidence: line.confidence,
                });
            }
        }
        // Keep the memory of regions bounded to what is on screen now.
        let on_screen = &self.on_screen;
        self.known.retain(|k| {
            on_screen
                .iter()
                .any(|l| k.signature.covers(&l.text_box.quad))
        });
        Ok(())
    }

    /// The tracks after a detection at `seconds` that left `on_screen` as it is.
    fn update_tracks(&mut self, frame: &RgbImage, seconds: f64) {
        let (w, h) = (frame.width() as f32, frame.height() as f32);
        for open in &mut self.open {
            open.seen = false;
        }
        for line in &self.on_screen {
            if line.confidence < MIN_TEXT_CONFIDENCE || line.text.trim().is_empty() {
                continue;
            }
            let [x0, y0, x1, y1] = line.text_box.quad.bounds();
            let bounds = [x0 / w, y0 / h, x1 / w, y1 / h];
            let continuing = self.open.iter_mut().find(|o| {
                !o.seen
                    && same_line(&o.track.text, &line.text)
                    && overlap(&o.track.bounds, &bounds) > 0.5
            });
            match continuing {
                Some(open) => {
                    open.seen = true;
                    open.track.end_seconds = seconds + DETECT_EVERY_SECONDS;
                    // The same line read again: keep the better reading (the recogniser
                    // drops spaces more often than it invents them).
                    let spaced = line.text.chars().count() > open.track.text.chars().count();
                    if line.confidence > open.track.confidence + 0.02
                        || (spaced && line.confidence + 0.02 >= open.track.confidence)
                    {
                        open.track.text = line.text.clone();
                    }
                    open.track.confidence = open.track.confidence.max(line.confidence);
                }
                None => self.open.push(Open {
                    track: TextTrack {
                        text: line.text.clone(),
                        confidence: line.confidence,
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

/// Whether two readings at one place are the same line: equal but for spaces, or long lines
/// (10 characters or more) one character apart — the recogniser misreading over a changing
/// background, not a new line.
fn same_line(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let (a, b): (Vec<char>, Vec<char>) = (
        a.chars().filter(|c| !c.is_whitespace()).collect(),
        b.chars().filter(|c| !c.is_whitespace()).collect(),
    );
    if a == b {
        return true;
    }
    if a.len().min(b.len()) < 10 {
        return false;
    }
    strsim::generic_levenshtein(&a, &b) <= 1
}

/// Intersection over union of two `[x0, y0, x1, y1]` boxes.
fn overlap(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame of `w × h` grey `background` with white bars (strokes) in `rows`.
    fn frame(w: u32, h: u32, strokes: Option<Range<u32>>) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let on = strokes
                .as_ref()
                .is_some_and(|r| r.contains(&y) && (x / 3) % 3 == 0 && (y / 3) % 4 != 0);
            let v = if on { 250 } else { 40 + (x / 16) as u8 };
            image::Rgb([v, v, v])
        })
    }

    #[test]
    fn smooth_pictures_have_no_cell_that_looks_like_text() {
        assert!(!TextMap::of(&frame(640, 360, None)).any_texty());
        assert!(!TextMap::of(&frame(1280, 720, None)).any_texty());
    }

    #[test]
    fn strokes_look_like_text_only_where_they_are() {
        for (w, h) in [(640, 360), (1280, 720)] {
            let map = TextMap::of(&frame(w, h, Some(64..96)));
            let texty: Vec<usize> = (0..map.rows).filter(|&r| map.texty_row(r)).collect();
            assert_eq!(texty, [4, 5], "{w}×{h}");
        }
    }

    #[test]
    fn a_band_grows_through_rows_that_look_like_text_and_by_a_margin() {
        let map = TextMap::of(&frame(640, 360, Some(64..112)));
        let mut marked = vec![false; map.rows];
        marked[5] = true;
        let bands = map.bands(&marked);
        assert_eq!((bands.len(), bands[0].clone()), (1, 3..8));
    }

    #[test]
    fn text_that_holds_still_is_stable_and_a_change_is_seen() {
        let before = TextMap::of(&frame(640, 360, Some(64..96)));
        let mut now = TextMap::of(&frame(640, 360, Some(64..96)));
        now.settle(Some(&before));
        assert!(now.cells.iter().filter(|c| c.texty).all(|c| c.stable));
        let moved = TextMap::of(&frame(640, 360, Some(160..192)));
        let changed = moved.changed_from(&before);
        let rows: Vec<usize> = (0..moved.rows)
            .filter(|&r| {
                changed[r * moved.cols..(r + 1) * moved.cols]
                    .iter()
                    .any(|&c| c)
            })
            .collect();
        assert_eq!(rows, [4, 5, 10, 11]);
    }

    #[test]
    fn a_long_line_misread_by_one_character_is_the_same_line() {
        assert!(same_line("Track 3 - Night Drive", "Track 3 -Night Drive"));
        assert!(same_line(
            "Track 3 - Night Drive 2026",
            "Track 3-Night Drive2026"
        ));
        assert!(same_line(
            "Track 3 - Night Drive 2026",
            "Track 3 -Night Driue 2026"
        ));
        assert!(!same_line("Track 3", "Track 4"));
        assert!(!same_line("Night Drive 2026", "Morning Walk 2026"));
    }
}
