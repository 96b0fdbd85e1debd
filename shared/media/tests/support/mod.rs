//! What the media test binaries share: the pinned ffmpeg, and running it to success.

use std::time::Duration;

use mvidarr_media::Ffmpeg;

pub fn ffmpeg() -> Ffmpeg {
    Ffmpeg::locate().expect("ffmpeg: run layers/fetch-ffmpeg.sh")
}

/// Run ffmpeg with `args`, fail the test unless it succeeds; its log (stderr).
pub async fn ffmpeg_ok(args: &[&str]) -> String {
    let output = ffmpeg()
        .run(args, Duration::from_secs(300))
        .await
        .expect("ffmpeg runs");
    assert!(
        output.status.success(),
        "ffmpeg {args:?}: {}",
        output.stderr
    );
    output.stderr
}
