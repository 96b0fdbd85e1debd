//! Multi-shot test videos with known shot boundaries: a list of shots, each drawn by one of
//! ffmpeg's `lavfi` sources, joined by cuts, fades through black or dissolves, rendered in one
//! ffmpeg run. The boundaries are known by construction, so the shot detector (and anything
//! else measured per shot) has ground truth.

use std::path::Path;
use std::time::Duration;

use crate::ffmpeg::Ffmpeg;
use crate::synth::SynthError;

/// What a shot shows. Every look moves, except [`Look::Black`] and [`Look::Still`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Look {
    /// `testsrc2`, its hue turned by this many degrees (0 = as is).
    TestPattern { hue: u16 },
    /// A Mandelbrot zoom, starting at one of a few places.
    Mandelbrot { place: u8 },
    /// Slowly turning colour gradients.
    Gradients { seed: u8 },
    /// A scrolling cellular automaton.
    CellAuto { rule: u8 },
    /// SMPTE HD colour bars panning sideways.
    PanningBars,
    /// Solid black.
    Black,
    /// The first frame of `testsrc2` held still, its hue turned.
    Still { hue: u16 },
}

impl Look {
    /// The looks that move, in an order where neighbours differ clearly.
    pub const MOVING: [Look; 8] = [
        Look::TestPattern { hue: 0 },
        Look::Mandelbrot { place: 0 },
        Look::Gradients { seed: 1 },
        Look::CellAuto { rule: 30 },
        Look::TestPattern { hue: 150 },
        Look::Mandelbrot { place: 1 },
        Look::PanningBars,
        Look::Gradients { seed: 9 },
    ];

    fn source(self, width: u32, height: u32, fps: u32, seconds: f64) -> String {
        let size = format!("s={width}x{height}:r={fps}");
        match self {
            Look::TestPattern { hue } => format!("testsrc2={size}:d={seconds},hue=h={hue}"),
            Look::Mandelbrot { place } => {
                let (x, y) = [
                    (-0.743643887037151, 0.131825904205330),
                    (-0.1011, 0.9563),
                    (0.2549, 0.0005),
                ][usize::from(place) % 3];
                format!(
                    "mandelbrot={size}:start_x={x}:start_y={y}:start_scale=0.3:end_scale=0.001:end_pts=400"
                )
            }
            // Points and colours spelled out: left to the filter, they differ from run to run
            // whatever the seed, and so would every test drawn with them.
            Look::Gradients { seed } => {
                const PALETTE: [&str; 8] = [
                    "red",
                    "navy",
                    "gold",
                    "teal",
                    "orchid",
                    "darkgreen",
                    "orange",
                    "slateblue",
                ];
                let s = usize::from(seed);
                let colour = |k: usize| PALETTE[(s * 3 + k * 5) % PALETTE.len()];
                let (x0, y0) = (
                    width * (1 + u32::from(seed) % 3) / 8,
                    height * (1 + u32::from(seed) % 2) / 6,
                );
                let (x1, y1) = (width - x0, height - y0);
                format!(
                    "gradients={size}:seed={seed}:speed=0.03:nb_colors=3:x0={x0}:y0={y0}:x1={x1}:y1={y1}:c0={}:c1={}:c2={}",
                    colour(0),
                    colour(1),
                    colour(2)
                )
            }
            // A fixed seed: the same video every time (the default seed is random).
            Look::CellAuto { rule } => {
                format!("cellauto={size}:rule={rule}:scroll=1:full=1:seed={rule}")
            }
            Look::PanningBars => format!("smptehdbars={size},scroll=horizontal=0.0015"),
            Look::Black => format!("color=c=black:{size}"),
            Look::Still { hue } => {
                format!("testsrc2={size}:d=0.04,hue=h={hue},trim=end_frame=1,loop=loop=-1:size=1")
            }
        }
    }
}

/// How a shot gives way to the next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Join {
    Cut,
    /// Fade out to black and in from it, over this many seconds in all.
    FadeThroughBlack(f64),
    /// Blend into the next shot over this many seconds.
    Dissolve(f64),
}

/// A video made of shots.
#[derive(Debug, Clone, PartialEq)]
pub struct Storyboard {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Each shot's look and length in seconds (rounded to whole frames).
    pub shots: Vec<(Look, f64)>,
    /// `shots.len() - 1` joins.
    pub joins: Vec<Join>,
    /// H.264 bit rate in bits per second; `None` for a constant quality (CRF 23).
    pub bit_rate: Option<u64>,
    /// A sine tone under the whole video: frequency in Hz and amplitude (0–1).
    pub tone: Option<(f64, f64)>,
    /// Extra video filters after the joins (e.g. `gblur=sigma=3`, `pad=…`).
    pub finish: Option<String>,
}

/// Where the shot boundaries are, by construction.
#[derive(Debug, Clone, PartialEq)]
pub struct Truth {
    /// Boundary times in seconds (the middle of a fade or dissolve).
    pub boundaries: Vec<f64>,
    pub joins: Vec<Join>,
    pub duration: f64,
}

impl Storyboard {
    /// `count` moving shots of `seconds` each at `width`×`height`, with `joins` cycled.
    pub fn cycling(
        width: u32,
        height: u32,
        fps: u32,
        count: usize,
        seconds: f64,
        joins: &[Join],
    ) -> Self {
        Storyboard {
            width,
            height,
            fps,
            shots: (0..count)
                .map(|i| (Look::MOVING[i % Look::MOVING.len()], seconds))
                .collect(),
            joins: (0..count.saturating_sub(1))
                .map(|i| joins[i % joins.len()])
                .collect(),
            bit_rate: None,
            tone: None,
            finish: None,
        }
    }

    /// The same board with captions drawn over it — `(text, from, to, y)`: white text on a
    /// dark box, centred, its top at `y`, shown from `from` to `to` seconds — after any
    /// `finish` it had. Text with known strings at known times, for reading it back.
    pub fn with_captions(mut self, captions: &[(&str, f64, f64, u32)]) -> Self {
        let drawn = captions.iter().map(|(text, from, to, y)| {
            format!(
                "drawtext=text='{text}':fontcolor=white:fontsize=34:box=1:boxcolor=black@0.6:\
                 boxborderw=8:x=(w-text_w)/2:y={y}:enable='between(t\\,{from}\\,{to})'"
            )
        });
        let filters: Vec<String> = self.finish.take().into_iter().chain(drawn).collect();
        self.finish = Some(filters.join(","));
        self
    }

    fn frames(&self, seconds: f64) -> f64 {
        (seconds * f64::from(self.fps)).round() / f64::from(self.fps)
    }

    /// The filter graph (ending in `[v]`, and `[a]` with a tone) and the ground truth.
    pub fn graph(&self) -> Result<(String, Truth), SynthError> {
        if self.shots.is_empty() || self.joins.len() + 1 != self.shots.len() {
            return Err(SynthError::InvalidSpec(format!(
                "{} shots need {} joins, got {}",
                self.shots.len(),
                self.shots.len().saturating_sub(1),
                self.joins.len()
            )));
        }
        let mut parts = Vec::new();
        for (i, (look, seconds)) in self.shots.iter().enumerate() {
            let seconds = self.frames(*seconds);
            // A fade through black is this shot fading out and the next fading in, each over
            // half the time, joined by a cut: symmetric, so its middle is the boundary.
            let mut fades = String::new();
            if let Some(Join::FadeThroughBlack(t)) = i.checked_sub(1).map(|j| self.joins[j]) {
                fades.push_str(&format!(",fade=t=in:st=0:d={}", self.frames(t / 2.0)));
            }
            if let Some(Join::FadeThroughBlack(t)) = self.joins.get(i) {
                let half = self.frames(t / 2.0);
                fades.push_str(&format!(",fade=t=out:st={}:d={half}", seconds - half));
            }
            parts.push(format!(
                "{},trim=duration={seconds},setpts=PTS-STARTPTS,format=yuv420p,fps={fps},settb=AVTB,setsar=1{fades}[s{i}]",
                look.source(self.width, self.height, self.fps, seconds + 1.0),
                fps = self.fps,
            ));
        }
        let mut length = self.frames(self.shots[0].1);
        let mut boundaries = Vec::new();
        let mut current = "s0".to_string();
        for (i, join) in self.joins.iter().enumerate() {
            let next = format!("s{}", i + 1);
            let out = format!("j{}", i + 1);
            let shot = self.frames(self.shots[i + 1].1);
            match *join {
                Join::Cut | Join::FadeThroughBlack(_) => {
                    parts.push(format!("[{current}][{next}]concat=n=2:v=1:a=0[{out}]"));
                    boundaries.push(length);
                    length += shot;
                }
                Join::Dissolve(t) => {
                    let t = self.frames(t);
                    let offset = length - t;
                    parts.push(format!(
                        "[{current}][{next}]xfade=transition=fade:duration={t}:offset={offset}[{out}]"
                    ));
                    boundaries.push(offset + t / 2.0);
                    length += shot - t;
                }
            }
            current = out;
        }
        match &self.finish {
            Some(filters) => parts.push(format!("[{current}]{filters},format=yuv420p[v]")),
            // Pinned 4:2:0: left to negotiation, libx264 picks 4:4:4 (High 4:4:4 Predictive),
            // which real uploads almost never are and which decodes slower.
            None => parts.push(format!("[{current}]format=yuv420p[v]")),
        }
        if let Some((hz, amplitude)) = self.tone {
            parts.push(format!(
                "sine=f={hz}:sample_rate=48000:d={length},volume={amplitude},aformat=channel_layouts=stereo[a]"
            ));
        }
        Ok((
            parts.join(";"),
            Truth {
                boundaries,
                joins: self.joins.clone(),
                duration: length,
            },
        ))
    }

    /// Render to an MP4 (H.264, AAC if there is a tone) at `out_path`.
    pub async fn render(&self, ffmpeg: &Ffmpeg, out_path: &Path) -> Result<Truth, SynthError> {
        let (graph, truth) = self.graph()?;
        let mut args: Vec<String> = vec![
            "-loglevel".into(),
            "error".into(),
            "-filter_complex".into(),
            graph,
        ];
        args.extend([
            "-map".into(),
            "[v]".into(),
            "-c:v".into(),
            "libx264".into(),
            "-preset".into(),
            "veryfast".into(),
        ]);
        match self.bit_rate {
            Some(rate) => args.extend([
                "-b:v".into(),
                rate.to_string(),
                "-maxrate".into(),
                rate.to_string(),
                "-bufsize".into(),
                (rate * 2).to_string(),
            ]),
            None => args.extend(["-crf".into(), "23".into()]),
        }
        if self.tone.is_some() {
            args.extend([
                "-map".into(),
                "[a]".into(),
                "-c:a".into(),
                "aac".into(),
                "-b:a".into(),
                "128k".into(),
            ]);
        }
        args.extend([
            "-t".into(),
            truth.duration.to_string(),
            "-f".into(),
            "mp4".into(),
            "-y".into(),
        ]);
        args.push(format!("file:{}", out_path.display()));
        let timeout = Duration::from_secs(120) + Duration::from_secs_f64(truth.duration * 20.0);
        let output = ffmpeg.run(&args, timeout).await?;
        if !output.status.success() {
            return Err(SynthError::Failed {
                path: out_path.to_path_buf(),
                status: output.status.to_string(),
                stderr_tail: output.stderr_tail(),
            });
        }
        Ok(truth)
    }
}

/// Precision, recall and F1 of `found` boundary times against `truth`, matching each true
/// boundary to at most one found within `tolerance` seconds.
pub fn boundary_f1(truth: &[f64], found: &[f64], tolerance: f64) -> (f64, f64, f64) {
    let mut used = vec![false; found.len()];
    let mut hits = 0usize;
    for t in truth {
        let best = found
            .iter()
            .enumerate()
            .filter(|(i, f)| !used[*i] && (*f - t).abs() <= tolerance)
            .min_by(|a, b| (a.1 - t).abs().total_cmp(&(b.1 - t).abs()));
        if let Some((i, _)) = best {
            used[i] = true;
            hits += 1;
        }
    }
    let precision = if found.is_empty() {
        1.0
    } else {
        hits as f64 / found.len() as f64
    };
    let recall = if truth.is_empty() {
        1.0
    } else {
        hits as f64 / truth.len() as f64
    };
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    (precision, recall, f1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_are_known_by_construction() {
        let board = Storyboard {
            width: 64,
            height: 36,
            fps: 25,
            shots: vec![
                (Look::PanningBars, 2.0),
                (Look::Black, 1.0),
                (Look::Gradients { seed: 1 }, 2.0),
                (Look::PanningBars, 2.0),
            ],
            joins: vec![Join::Cut, Join::Dissolve(0.4), Join::FadeThroughBlack(0.8)],
            bit_rate: None,
            tone: None,
            finish: None,
        };
        let (_, truth) = board.graph().unwrap();
        // Cut at 2.0; dissolve 0.4 s ending the 1 s black shot: middle at 3.0 - 0.2;
        // fade out and in, joined at the end of the third shot (4.6).
        let expected = [2.0, 2.8, 4.6];
        for (got, want) in truth.boundaries.iter().zip(expected) {
            assert!((got - want).abs() < 1e-9, "{:?}", truth.boundaries);
        }
        assert!((truth.duration - 6.6).abs() < 1e-9);
    }

    #[test]
    fn f1_matches_within_tolerance_once() {
        let (p, r, f1) = boundary_f1(&[1.0, 2.0, 3.0], &[1.05, 2.5, 3.0, 3.02], 0.08);
        assert_eq!((p, r), (0.5, 2.0 / 3.0));
        assert!((f1 - 4.0 / 7.0).abs() < 1e-9);
        assert!(
            Storyboard {
                joins: vec![],
                ..Storyboard::cycling(64, 36, 25, 2, 1.0, &[Join::Cut])
            }
            .graph()
            .is_err()
        );
    }
}
