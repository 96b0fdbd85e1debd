//! Parser tests on stderr captured from the pinned ffmpeg 7.0.2 (short ones inline, longer ones
//! under `probe/testdata/`), plus hand-made lines for shapes lavfi cannot easily produce.

use super::*;

/// libx264 + aac in MP4, `ffmpeg -i a.mp4 -map 0:V:0? -an -sn -dn -frames:v 1 -f null -`.
const H264_AAC_MP4: &str = "\
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'a.mp4':
  Metadata:
    major_brand     : isom
    minor_version   : 512
    compatible_brands: isomiso2avc1mp41
    encoder         : Lavf61.1.100
  Duration: 00:00:02.00, start: 0.000000, bitrate: 836 kb/s
  Stream #0:0[0x1](und): Video: h264 (Constrained Baseline) (avc1 / 0x31637661), yuv420p(progressive), 320x240 [SAR 1:1 DAR 4:3], 697 kb/s, 25 fps, 25 tbr, 12800 tbn (default)
      Metadata:
        handler_name    : VideoHandler
        vendor_id       : [0][0][0][0]
        encoder         : Lavc61.3.100 libx264
  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, stereo, fltp, 127 kb/s (default)
      Metadata:
        handler_name    : SoundHandler
        vendor_id       : [0][0][0][0]
Stream mapping:
  Stream #0:0 -> #0:0 (h264 (native) -> wrapped_avframe (native))
Output #0, null, to 'pipe:':
  Metadata:
    major_brand     : isom
    minor_version   : 512
    compatible_brands: isomiso2avc1mp41
    encoder         : Lavf61.1.100
  Stream #0:0(und): Video: wrapped_avframe, yuv420p(progressive), 320x240 [SAR 1:1 DAR 4:3], q=2-31, 200 kb/s, 25 fps, 25 tbn (default)
      Metadata:
        handler_name    : VideoHandler
        vendor_id       : [0][0][0][0]
        encoder         : Lavc61.3.100 wrapped_avframe
[out#0/null @ 0x21fb1140] video:0KiB audio:0KiB subtitle:0KiB other streams:0KiB global headers:0KiB muxing overhead: unknown
frame=    1 fps=0.0 q=-0.0 Lsize=N/A time=00:00:00.04 bitrate=N/A speed=16.2x    
";

/// libvpx-vp9 + libopus in WebM: stream SAR printed as its own `, SAR 1:1 DAR 4:3` part, no
/// stream bit rates.
const VP9_OPUS_WEBM: &str = "\
Input #0, matroska,webm, from 'vp9.webm':
  Metadata:
    ENCODER         : Lavf61.1.100
  Duration: 00:00:02.01, start: -0.007000, bitrate: 494 kb/s
  Stream #0:0: Video: vp9 (Profile 0), yuv420p(tv, progressive), 320x240, SAR 1:1 DAR 4:3, 25 fps, 25 tbr, 1k tbn
      Metadata:
        ENCODER         : Lavc61.3.100 libvpx-vp9
        DURATION        : 00:00:02.000000000
  Stream #0:1: Audio: opus, 48000 Hz, mono, fltp
      Metadata:
        ENCODER         : Lavc61.3.100 libopus
        DURATION        : 00:00:02.008000000
Stream mapping:
";

/// mpeg4 + mp3 in AVI: the `(mp3float)` group is the decoder's name, not a profile.
const MPEG4_MP3_AVI: &str = "\
Input #0, avi, from 'm4.avi':
  Metadata:
    software        : Lavf61.1.100
  Duration: 00:00:02.04, start: 0.000000, bitrate: 586 kb/s
  Stream #0:0: Video: mpeg4 (Simple Profile) (FMP4 / 0x34504D46), yuv420p, 320x240 [SAR 1:1 DAR 4:3], 480 kb/s, 25 fps, 25 tbr, 25 tbn
  Stream #0:1: Audio: mp3 (mp3float) (U[0][0][0] / 0x0055), 44100 Hz, mono, fltp, 64 kb/s
Stream mapping:
";

/// An audio-only file: `-map 0:V:0?` maps nothing and ffmpeg refuses to open the output.
const MP3_ONLY: &str = "\
Input #0, mp3, from 's.mp3':
  Metadata:
    encoder         : Lavf61.1.100
  Duration: 00:00:02.04, start: 0.025057, bitrate: 64 kb/s
  Stream #0:0: Audio: mp3 (mp3float), 44100 Hz, mono, fltp, 64 kb/s
Output #0, null, to 'pipe:':
[out#0/null @ 0x42addac0] Output file does not contain any stream
Error opening output file -.
Error opening output files: Invalid argument
";

/// 1000 fps prints as `1k fps`.
const KILO_FPS: &str = "\
Input #0, matroska,webm, from 'k.mkv':
  Metadata:
    ENCODER         : Lavf61.1.100
  Duration: 00:00:00.10, start: 0.000000, bitrate: 4834 kb/s
  Stream #0:0: Video: h264 (Constrained Baseline), yuv420p(progressive), 160x120 [SAR 1:1 DAR 4:3], 1k fps, 1k tbr, 1k tbn
";

#[test]
fn h264_aac_mp4() {
    let probe = parse_input_description(H264_AAC_MP4).unwrap();
    assert_eq!(
        probe,
        Probe {
            container: "mov,mp4,m4a,3gp,3g2,mj2".into(),
            duration_seconds: Some(2.0),
            bit_rate: Some(836_000),
            video: vec![VideoStream {
                index: 0,
                codec: "h264".into(),
                profile: Some("Constrained Baseline".into()),
                pixel_format: Some("yuv420p".into()),
                width: 320,
                height: 240,
                fps: Some(25.0),
                bit_rate: Some(697_000),
            }],
            audio: vec![AudioStream {
                index: 1,
                codec: "aac".into(),
                sample_rate: Some(48_000),
                channels: Some(2),
                channel_layout: Some("stereo".into()),
                bit_rate: Some(127_000),
            }],
        }
    );
}

#[test]
fn vp9_opus_webm_without_stream_bit_rates() {
    let probe = parse_input_description(VP9_OPUS_WEBM).unwrap();
    assert_eq!(probe.container, "matroska,webm");
    assert_eq!(probe.duration_seconds, Some(2.01));
    let video = &probe.video[0];
    assert_eq!(
        (video.codec.as_str(), video.profile.as_deref()),
        ("vp9", Some("Profile 0"))
    );
    assert_eq!(video.pixel_format.as_deref(), Some("yuv420p"));
    assert_eq!(
        (video.width, video.height, video.fps),
        (320, 240, Some(25.0))
    );
    assert_eq!(video.bit_rate, None);
    let audio = &probe.audio[0];
    assert_eq!((audio.index, audio.codec.as_str()), (1, "opus"));
    assert_eq!((audio.channels, audio.bit_rate), (Some(1), None));
}

#[test]
fn decoder_names_are_not_profiles() {
    let probe = parse_input_description(MPEG4_MP3_AVI).unwrap();
    assert_eq!(probe.video[0].profile.as_deref(), Some("Simple Profile"));
    assert_eq!(probe.video[0].pixel_format.as_deref(), Some("yuv420p"));
    assert_eq!(probe.audio[0].codec, "mp3");
    assert_eq!(probe.audio[0].sample_rate, Some(44_100));
    assert_eq!(probe.audio[0].bit_rate, Some(64_000));
    assert_eq!(parse_codec("mp3 (mp3float)").unwrap(), ("mp3".into(), None));
    assert_eq!(
        parse_codec("av1 (libdav1d) (Main) (av01 / 0x31307661)").unwrap(),
        ("av1".into(), Some("Main".into()))
    );
    assert_eq!(
        parse_codec("prores (HQ) (apch / 0x68637061)").unwrap(),
        ("prores".into(), Some("HQ".into()))
    );
    assert_eq!(
        parse_codec("mpeg2video (4:2:2) ([2][0][0][0] / 0x0002)").unwrap(),
        ("mpeg2video".into(), Some("4:2:2".into()))
    );
}

#[test]
fn audio_only_output_error_still_describes_the_input() {
    let probe = parse_input_description(MP3_ONLY).unwrap();
    assert_eq!(probe.container, "mp3");
    assert!(probe.video.is_empty());
    assert_eq!(probe.audio.len(), 1);
    assert_eq!(probe.duration_seconds, Some(2.04));
}

#[test]
fn kilo_fps() {
    let probe = parse_input_description(KILO_FPS).unwrap();
    assert_eq!(probe.video[0].fps, Some(1000.0));
    assert_eq!((probe.video[0].width, probe.video[0].height), (160, 120));
}

#[test]
fn metadata_and_chapters_cannot_fake_streams_or_durations() {
    // A comment and chapter titles that read like stream and duration lines.
    let probe = parse_input_description(include_str!("../testdata/tricky_mkv.stderr.txt")).unwrap();
    assert_eq!(probe.duration_seconds, Some(1.0));
    assert_eq!(probe.bit_rate, Some(798_000));
    assert_eq!(probe.video.len(), 1);
    assert_eq!(probe.audio.len(), 1);
    assert_eq!(probe.video[0].fps, Some(23.98));
    let audio = &probe.audio[0];
    assert_eq!(
        (audio.codec.as_str(), audio.channel_layout.as_deref()),
        ("vorbis", Some("7.1"))
    );
    assert_eq!(audio.channels, Some(8));
}

#[test]
fn subtitles_attachments_languages_and_side_layouts() {
    let probe = parse_input_description(include_str!("../testdata/edge_mkv.stderr.txt")).unwrap();
    assert_eq!(probe.video.len(), 1);
    let video = &probe.video[0];
    // `yuv420p(tv, bt709, progressive)`: commas inside the pixel format's parentheses.
    assert_eq!(video.pixel_format.as_deref(), Some("yuv420p"));
    assert_eq!((video.width, video.height), (320, 240));
    assert_eq!(video.fps, Some(29.97));
    assert_eq!(probe.audio.len(), 1);
    let audio = &probe.audio[0];
    assert_eq!(audio.index, 1);
    assert_eq!(audio.codec, "ac3");
    assert_eq!(audio.channel_layout.as_deref(), Some("5.1(side)"));
    assert_eq!(audio.channels, Some(6));
    assert_eq!(audio.bit_rate, Some(448_000));
}

#[test]
fn mpegts_program_streams_and_side_data() {
    let probe = parse_input_description(include_str!("../testdata/m2_ts.stderr.txt")).unwrap();
    assert_eq!(probe.container, "mpegts");
    assert_eq!(probe.duration_seconds, Some(2.0));
    assert_eq!(probe.video.len(), 1);
    let video = &probe.video[0];
    assert_eq!(
        (video.codec.as_str(), video.profile.as_deref()),
        ("mpeg2video", Some("Main"))
    );
    assert_eq!(video.fps, Some(25.0));
}

#[test]
fn data_streams_are_ignored() {
    let probe = parse_input_description(include_str!("../testdata/tc_mov.stderr.txt")).unwrap();
    assert_eq!(probe.video.len(), 1);
    assert_eq!(probe.audio.len(), 1);
    assert_eq!(probe.audio[0].codec, "pcm_s16le");
    assert_eq!(probe.audio[0].sample_rate, Some(22_050));
    // Rotated at encode time: the stored size is portrait.
    assert_eq!((probe.video[0].width, probe.video[0].height), (240, 320));
}

#[test]
fn cover_art_is_not_video() {
    let probe = parse_input_description(include_str!("../testdata/cover_mp3.stderr.txt")).unwrap();
    assert!(probe.video.is_empty(), "{:?}", probe.video);
    assert_eq!(probe.audio.len(), 1);
}

#[test]
fn hand_made_shapes() {
    // Unknown duration and bit rate, fps missing (tbr used), a `Side data:` block, a second
    // video stream, an input #1 and log lines between the streams.
    let stderr = "\
[h264 @ 0x55] non-existing PPS 0 referenced
Input #0, h264, from 'raw.h264':
  Duration: N/A, bitrate: N/A
  Stream #0:0: Video: h264 (High), yuv420p10le(tv, bt2020nc/bt2020/smpte2084, progressive), 3840x2160, 59.94 tbr, 1200k tbn
      Side data:
        displaymatrix: rotation of -90.00 degrees
        Stream #0:9: Audio: fake, 1 Hz, mono
[h264 @ 0x56] concealing 10 DC errors
  Stream #0:1: Video: mjpeg, none(pc), 640x480 (640x496) [SAR 1:1 DAR 4:3], 1200 kb/s, 0.0010 fps
  Stream #0:2: Audio: pcm_s24le, 96000 Hz, 3 channels (FL+FR+LFE), s32 (24 bit), 6912 kb/s
  Stream #0:3: Audio: aac, 0 channels
Input #1, lavfi, from 'sine':
  Duration: 00:00:05.00, start: 0.000000, bitrate: N/A
  Stream #1:0: Audio: pcm_s16le, 44100 Hz, mono, s16, 705 kb/s
";
    let probe = parse_input_description(stderr).unwrap();
    assert_eq!(probe.container, "h264");
    assert_eq!((probe.duration_seconds, probe.bit_rate), (None, None));
    assert_eq!(probe.video.len(), 2);
    let hdr = &probe.video[0];
    assert_eq!(hdr.pixel_format.as_deref(), Some("yuv420p10le"));
    assert_eq!((hdr.width, hdr.height), (3840, 2160));
    assert_eq!(hdr.fps, Some(59.94));
    let mjpeg = &probe.video[1];
    assert_eq!(mjpeg.index, 1);
    assert_eq!(mjpeg.pixel_format, None);
    assert_eq!((mjpeg.width, mjpeg.height), (640, 480));
    assert_eq!(mjpeg.bit_rate, Some(1_200_000));
    assert_eq!(mjpeg.fps, Some(0.001));
    assert_eq!(probe.audio.len(), 2, "input #1 must be ignored");
    let pcm = &probe.audio[0];
    assert_eq!(
        pcm.channel_layout.as_deref(),
        Some("3 channels (FL+FR+LFE)")
    );
    assert_eq!(pcm.channels, Some(3));
    assert_eq!(pcm.bit_rate, Some(6_912_000));
    let silent = &probe.audio[1];
    assert_eq!((silent.sample_rate, silent.channels), (None, Some(0)));
}

#[test]
fn long_durations() {
    let stderr = "Input #0, matroska,webm, from 'x':\n  Duration: 123:04:05.50, start: 0.0, bitrate: 1 kb/s\n";
    let probe = parse_input_description(stderr).unwrap();
    assert_eq!(
        probe.duration_seconds,
        Some(123.0 * 3600.0 + 4.0 * 60.0 + 5.5)
    );
}

#[test]
fn errors() {
    assert_eq!(parse_input_description(""), Err(ParseError::NoInput));
    assert_eq!(
        parse_input_description(
            "Error opening input files: Invalid data found when processing input\n"
        ),
        Err(ParseError::NoInput)
    );
    let bad_duration = "Input #0, mp3, from 'x':\n  Duration: soon, bitrate: N/A\n";
    assert!(matches!(
        parse_input_description(bad_duration),
        Err(ParseError::BadDurationLine { .. })
    ));
    let bad_stream = "Input #0, mp3, from 'x':\n  Stream #0:x: Audio: mp3\n";
    assert!(matches!(
        parse_input_description(bad_stream),
        Err(ParseError::BadStreamLine {
            what: "stream index",
            ..
        })
    ));
}

#[test]
fn channel_counts() {
    for (layout, count) in [
        ("mono", 1),
        ("stereo", 2),
        ("2.1", 3),
        ("quad(side)", 4),
        ("5.0(side)", 5),
        ("5.1", 6),
        ("5.1(side)", 6),
        ("6.1(back)", 7),
        ("7.1(wide-side)", 8),
        ("5.1.2", 8),
        ("7.1.4", 12),
        ("22.2", 24),
        ("hexagonal", 6),
        ("downmix", 2),
        ("2 channels", 2),
        ("6 channels (FL+FR+FC+LFE+BL+BR)", 6),
        ("ambisonic 1", 4),
        ("ambisonic 2+stereo", 11),
    ] {
        assert_eq!(channel_count(layout), Some(count), "{layout}");
    }
    for layout in ["", "fltp", "1", "5.x", "unknown"] {
        assert_eq!(channel_count(layout), None, "{layout}");
    }
}

#[test]
fn top_level_split_respects_nesting() {
    assert_eq!(
        split_top_level(
            "h264 (High), yuv420p(tv, bt709, progressive), 1920x1080 [SAR 1:1 DAR 16:9], 25 fps"
        ),
        vec![
            "h264 (High)",
            "yuv420p(tv, bt709, progressive)",
            "1920x1080 [SAR 1:1 DAR 16:9]",
            "25 fps"
        ]
    );
}
