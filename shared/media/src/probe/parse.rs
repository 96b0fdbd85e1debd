//! Reading the input description ffmpeg prints to stderr (`av_dump_format`) into a [`Probe`].
//!
//! The pinned ffmpeg build has no ffprobe, so the human-readable dump is the only description
//! there is. Its shape, from libavformat's `dump.c` and libavcodec's `avcodec_string`:
//!
//! ```text
//! Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'in.mp4':
//!   Metadata:
//!     major_brand     : isom
//!   Duration: 00:00:02.00, start: 0.000000, bitrate: 836 kb/s
//!   Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt709, progressive), 1920x1080 [SAR 1:1 DAR 16:9], 697 kb/s, 25 fps, 25 tbr, 12800 tbn (default)
//!       Metadata:
//!         handler_name    : VideoHandler
//!       Side data:
//!         displaymatrix: rotation of -90.00 degrees
//!   Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, stereo, fltp, 127 kb/s (default)
//! ```
//!
//! Streams may also sit one level deeper, under `Program N` (MPEG-TS). `Metadata:` and
//! `Side data:` blocks hold free text (titles, comments) that could look like anything, so they
//! are skipped by indentation rather than by content.

use mvidarr_core::analysis::{AudioStream, Probe, VideoStream};

/// Why ffmpeg's description could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("no `Input #0, …` line in ffmpeg's output")]
    NoInput,
    #[error("unreadable `Duration:` line: {line:?}")]
    BadDurationLine { line: String },
    #[error("unreadable stream line ({what}): {line:?}")]
    BadStreamLine { what: &'static str, line: String },
}

/// Parse input #0 of ffmpeg's stderr into a [`Probe`]. Output sections, the stream mapping,
/// progress and log lines are ignored. Video streams that are attached pictures (cover art) are
/// not video and are left out.
pub fn parse_input_description(stderr: &str) -> Result<Probe, ParseError> {
    let mut lines = stderr.lines();
    let container = lines
        .by_ref()
        .find_map(|line| line.strip_prefix("Input #0, "))
        .map(container_from_header)
        .ok_or(ParseError::NoInput)?;
    let mut probe = Probe {
        container,
        ..Probe::default()
    };

    // Indentation of the `Metadata:`/`Side data:`/`Chapters:` header whose block we are in.
    let mut skipping_below: Option<usize> = None;
    for line in lines {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        if let Some(block) = skipping_below {
            if indent > block {
                continue;
            }
            skipping_below = None;
        }
        if indent == 0 {
            // Log lines (`[mjpeg @ 0x…] …`) may interleave; anything else at the margin
            // (`Stream mapping:`, `Output #0`, `Input #1`, an error) ends input #0.
            if text.starts_with('[') {
                continue;
            }
            break;
        }
        if matches!(text, "Metadata:" | "Side data:" | "Chapters:") {
            skipping_below = Some(indent);
        } else if let Some(rest) = text.strip_prefix("Duration: ") {
            parse_duration_line(rest, &mut probe).map_err(|()| ParseError::BadDurationLine {
                line: text.to_owned(),
            })?;
        } else if let Some(rest) = text.strip_prefix("Stream #0:") {
            parse_stream_line(rest, &mut probe).map_err(|what| ParseError::BadStreamLine {
                what,
                line: text.to_owned(),
            })?;
        }
        // Anything else (`Program 1`, `No Program`, `Chapter #0:0 …`) carries nothing we keep.
    }
    Ok(probe)
}

/// `mov,mp4,m4a,3gp,3g2,mj2, from 'in.mp4':` → `mov,mp4,m4a,3gp,3g2,mj2`.
fn container_from_header(rest: &str) -> String {
    let names = rest.find(", from '").map_or(rest, |end| &rest[..end]);
    names.trim().to_owned()
}

/// `00:00:02.00, start: 0.000000, bitrate: 836 kb/s` (each field may be `N/A` or missing).
fn parse_duration_line(rest: &str, probe: &mut Probe) -> Result<(), ()> {
    let mut fields = rest.split(", ");
    let duration = fields.next().ok_or(())?.trim();
    probe.duration_seconds = if duration == "N/A" {
        None
    } else {
        Some(parse_clock(duration).ok_or(())?)
    };
    for field in fields {
        if let Some(rate) = field.trim().strip_prefix("bitrate: ") {
            probe.bit_rate = parse_kbps(rate);
        }
    }
    Ok(())
}

/// `HH:MM:SS.cc` (hours may exceed two digits) → seconds.
fn parse_clock(clock: &str) -> Option<f64> {
    let mut parts = clock.split(':');
    let (hours, minutes, seconds) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let hours: u64 = hours.parse().ok()?;
    let minutes: u64 = minutes.parse().ok()?;
    let seconds: f64 = seconds.parse().ok()?;
    if minutes >= 60 || !(0.0..60.0).contains(&seconds) {
        return None;
    }
    Some((hours * 3600 + minutes * 60) as f64 + seconds)
}

/// `836 kb/s` → 836000 bits/s; `N/A` and anything else → None.
fn parse_kbps(text: &str) -> Option<u64> {
    let kbps: u64 = text.trim().strip_suffix(" kb/s")?.trim().parse().ok()?;
    Some(kbps * 1000)
}

/// `25`, `29.97`, `1k`, `90k` (ffmpeg's `print_fps`) → a rate.
fn parse_rate(number: &str) -> Option<f64> {
    let (digits, scale) = match number.strip_suffix('k') {
        Some(thousands) => (thousands, 1000.0),
        None => (number, 1.0),
    };
    let value: f64 = digits.parse().ok()?;
    (value.is_finite() && value > 0.0).then_some(value * scale)
}

/// Everything after `Stream #0:` on a stream line.
fn parse_stream_line(rest: &str, probe: &mut Probe) -> Result<(), &'static str> {
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let index: u32 = rest[..digits].parse().map_err(|_| "stream index")?;
    // Skip the `[0x1](und)` id and language markers up to the first `: `.
    let after_id = rest[digits..]
        .split_once(": ")
        .map(|(_, kind_and_desc)| kind_and_desc)
        .ok_or("stream type")?;
    let (kind, description) = after_id.split_once(": ").unwrap_or((after_id, ""));
    match kind {
        "Video" => {
            if let Some(video) = parse_video(index, description)? {
                probe.video.push(video);
            }
        }
        "Audio" => probe.audio.push(parse_audio(index, description)?),
        // Subtitle, Data, Attachment and unknown stream types are not probed.
        _ => {}
    }
    Ok(())
}

/// Split at `, ` outside parentheses and brackets: `yuv420p(tv, bt709)` stays one part.
fn split_top_level(description: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    let bytes = description.as_bytes();
    for (i, &byte) in bytes.iter().enumerate() {
        match byte {
            b'(' | b'[' => depth += 1,
            b')' | b']' => depth = depth.saturating_sub(1),
            b',' if depth == 0 && bytes.get(i + 1) == Some(&b' ') => {
                parts.push(description[start..i].trim());
                start = i + 2;
            }
            _ => {}
        }
    }
    parts.push(description[start..].trim());
    parts
}

/// The codec part, `h264 (High) (avc1 / 0x31637661)` or `mp3 (mp3float) (U[0][0][0] / 0x0055)`:
/// the codec name, then optionally the decoder's name when it differs (lower-case identifier),
/// the profile, and the codec tag (`… / 0x…`).
fn parse_codec(part: &str) -> Result<(String, Option<String>), &'static str> {
    let (name, mut rest) = part.split_once(' ').unwrap_or((part, ""));
    if name.is_empty() {
        return Err("codec name");
    }
    let mut profile = None;
    while let Some(inner) = rest.trim_start().strip_prefix('(') {
        let Some(close) = matching_paren(inner) else {
            break;
        };
        let group = &inner[..close];
        rest = &inner[close + 1..];
        let is_codec_tag = group.contains(" / 0x");
        let is_decoder_name = !group.is_empty()
            && group.bytes().any(|b| b.is_ascii_lowercase())
            && group
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !is_codec_tag && !is_decoder_name && profile.is_none() && group != "hq" {
            profile = Some(group.to_owned());
        }
    }
    Ok((name.to_owned(), profile))
}

/// Index of the `)` closing a group whose `(` was just consumed.
fn matching_paren(text: &str) -> Option<usize> {
    let mut depth = 1usize;
    for (i, byte) in text.bytes().enumerate() {
        match byte {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// `320x240` at the start of a part (possibly followed by ` [SAR …]` or ` (1920x1088)`).
fn parse_resolution(part: &str) -> Option<(u32, u32)> {
    let token = part.split(' ').next()?;
    let (width, height) = token.split_once('x')?;
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(width) || !all_digits(height) {
        return None;
    }
    Some((width.parse().ok()?, height.parse().ok()?))
}

/// `25 fps`, `1k tbr` → the number, if the part is that unit.
fn rate_with_unit(part: &str, unit: &str) -> Option<f64> {
    let (number, found_unit) = part.split_once(' ')?;
    let found_unit = found_unit.split(' ').next()?;
    (found_unit == unit).then(|| parse_rate(number)).flatten()
}

/// A `N kb/s` part (not `max. N kb/s`).
fn stream_bit_rate(parts: &[&str]) -> Option<u64> {
    parts.iter().find_map(|part| {
        let without_disposition = part.split(" (").next().unwrap_or(part);
        parse_kbps(without_disposition)
    })
}

fn parse_video(index: u32, description: &str) -> Result<Option<VideoStream>, &'static str> {
    if description.contains("(attached pic)") {
        return Ok(None);
    }
    let parts = split_top_level(description);
    let (codec, profile) = parse_codec(parts[0])?;
    let Some(size_at) = parts[1..]
        .iter()
        .position(|part| parse_resolution(part).is_some())
    else {
        // ffmpeg could not tell the size; without it there is nothing to analyse.
        tracing::warn!(
            index,
            description,
            "video stream without a resolution, left out"
        );
        return Ok(None);
    };
    let size_at = size_at + 1;
    let (width, height) = parse_resolution(parts[size_at]).ok_or("resolution")?;
    // Between the codec and the size: the pixel format, e.g. `yuv420p(tv, bt709, progressive)`.
    let pixel_format = parts[1..size_at]
        .first()
        .map(|part| part.split('(').next().unwrap_or(part).trim())
        .filter(|name| !name.is_empty() && *name != "none")
        .map(str::to_owned);
    let after_size = &parts[size_at + 1..];
    let fps = after_size
        .iter()
        .find_map(|part| rate_with_unit(part, "fps"))
        .or_else(|| {
            after_size
                .iter()
                .find_map(|part| rate_with_unit(part, "tbr"))
        });
    Ok(Some(VideoStream {
        index,
        codec,
        profile,
        pixel_format,
        width,
        height,
        fps,
        bit_rate: stream_bit_rate(after_size),
    }))
}

fn parse_audio(index: u32, description: &str) -> Result<AudioStream, &'static str> {
    let parts = split_top_level(description);
    let (codec, _profile) = parse_codec(parts[0])?;
    let mut rest = &parts[1..];
    let mut sample_rate = None;
    if let Some(hz) = rest.first().and_then(|part| part.strip_suffix(" Hz")) {
        sample_rate = Some(hz.trim().parse().map_err(|_| "sample rate")?);
        rest = &rest[1..];
    }
    // Then the channel layout, unless the stream has none and the part is already the rate.
    let channel_layout = rest
        .first()
        .filter(|part| parse_kbps(part).is_none())
        .map(|part| part.to_string());
    let channels = channel_layout.as_deref().and_then(channel_count);
    Ok(AudioStream {
        index,
        codec,
        sample_rate,
        channels,
        channel_layout,
        bit_rate: stream_bit_rate(rest),
    })
}

/// How many channels a layout named by ffmpeg has: `mono` 1, `stereo` 2, `5.1(side)` 6,
/// `7.1.4` 12, `3 channels (FL+FR+LFE)` 3, `ambisonic 1` 4.
pub fn channel_count(layout: &str) -> Option<u32> {
    let layout = layout.trim();
    if let Some((count, rest)) = layout.split_once(' ')
        && (rest == "channels" || rest.starts_with("channels "))
    {
        return count.parse().ok();
    }
    if let Some(order) = layout.strip_prefix("ambisonic ") {
        let order: u32 = order.split('+').next()?.trim().parse().ok()?;
        let extra = if layout.contains("+stereo") { 2 } else { 0 };
        return Some((order + 1) * (order + 1) + extra);
    }
    let base = layout.split('(').next().unwrap_or(layout);
    let named = match base {
        "mono" => Some(1),
        "stereo" | "downmix" | "binaural" => Some(2),
        "quad" => Some(4),
        "hexagonal" => Some(6),
        "octagonal" | "cube" => Some(8),
        "hexadecagonal" => Some(16),
        _ => None,
    };
    if named.is_some() {
        return named;
    }
    // `5.1`, `7.1.4`, `22.2`: speakers per plane, summed.
    let mut total = 0u32;
    for speakers in base.split('.') {
        if speakers.is_empty() || !speakers.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        total += speakers.parse::<u32>().ok()?;
    }
    base.contains('.').then_some(total)
}

#[cfg(test)]
mod tests;
