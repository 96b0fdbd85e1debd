//! Upload validation rules, the pure part: size limits, recognising a media container from its
//! first bytes, duration limits. Whether ffmpeg can read the file is the media crate's job.

/// Limits an upload must meet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UploadLimits {
    pub max_bytes: u64,
    pub max_duration_seconds: f64,
}

impl Default for UploadLimits {
    fn default() -> Self {
        Self {
            // Music videos are minutes long; 4 GiB covers a long 4K master.
            max_bytes: 4 * 1024 * 1024 * 1024,
            max_duration_seconds: 2.0 * 3600.0,
        }
    }
}

/// How many leading bytes [`sniff_container`] wants.
pub const SNIFF_BYTES: usize = 512;

/// Container families recognised by their magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerFamily {
    /// ISO base media: MP4, MOV, M4V, 3GP (an `ftyp`, `moov`, `mdat`, `free`, `wide` or `skip` box first).
    IsoBmff,
    /// Matroska or WebM (EBML header).
    Matroska,
    /// AVI (RIFF … AVI).
    Avi,
    /// MPEG transport stream (sync byte every 188 bytes).
    MpegTs,
    /// MPEG program stream (pack header).
    MpegPs,
    Flv,
    Ogg,
    /// Windows Media (ASF header GUID).
    Asf,
}

/// Why an upload is refused. The message is shown to the tenant as the quarantine reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rejection {
    #[error("empty file (0 bytes)")]
    Empty,
    #[error("file too large: {size} bytes, the limit is {limit} bytes")]
    TooLarge { size: u64, limit: u64 },
    #[error("not a video container: the first bytes match no known video format")]
    UnknownFormat,
    #[error("ffmpeg cannot read the file: {0}")]
    Unreadable(String),
    #[error("no video stream in the file")]
    NoVideo,
    #[error("duration unknown: the file does not say how long it is")]
    UnknownDuration,
    #[error("duration {seconds:.1} s is over the limit of {limit:.0} s")]
    TooLong { seconds: f64, limit: f64 },
}

pub fn check_size(size: u64, limits: &UploadLimits) -> Result<(), Rejection> {
    match size {
        0 => Err(Rejection::Empty),
        s if s > limits.max_bytes => Err(Rejection::TooLarge {
            size: s,
            limit: limits.max_bytes,
        }),
        _ => Ok(()),
    }
}

pub fn check_duration(seconds: Option<f64>, limits: &UploadLimits) -> Result<(), Rejection> {
    match seconds {
        None => Err(Rejection::UnknownDuration),
        Some(s) if !s.is_finite() || s <= 0.0 => Err(Rejection::UnknownDuration),
        Some(s) if s > limits.max_duration_seconds => Err(Rejection::TooLong {
            seconds: s,
            limit: limits.max_duration_seconds,
        }),
        Some(_) => Ok(()),
    }
}

/// Recognise a container from the first bytes of a file (at least 12; [`SNIFF_BYTES`] is best).
pub fn sniff_container(head: &[u8]) -> Option<ContainerFamily> {
    const ISO_FIRST_BOXES: [&[u8; 4]; 6] = [b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"];
    const ASF_GUID: [u8; 16] = [
        0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11, 0xA6, 0xD9, 0x00, 0xAA, 0x00, 0x62, 0xCE,
        0x6C,
    ];
    if head.len() >= 8 && ISO_FIRST_BOXES.iter().any(|b| &head[4..8] == *b) {
        return Some(ContainerFamily::IsoBmff);
    }
    if head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        return Some(ContainerFamily::Matroska);
    }
    if head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..11] == b"AVI" {
        return Some(ContainerFamily::Avi);
    }
    if head.starts_with(&ASF_GUID) {
        return Some(ContainerFamily::Asf);
    }
    if head.starts_with(b"FLV\x01") {
        return Some(ContainerFamily::Flv);
    }
    if head.starts_with(b"OggS") {
        return Some(ContainerFamily::Ogg);
    }
    if head.starts_with(&[0x00, 0x00, 0x01, 0xBA]) {
        return Some(ContainerFamily::MpegPs);
    }
    // A transport stream needs the sync byte to repeat; one 0x47 alone is too weak a sign.
    if head.len() >= 189 && head[0] == 0x47 && head[188] == 0x47 {
        return Some(ContainerFamily::MpegTs);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_limits() {
        let l = UploadLimits {
            max_bytes: 10,
            max_duration_seconds: 60.0,
        };
        assert_eq!(check_size(0, &l), Err(Rejection::Empty));
        assert_eq!(
            check_size(11, &l),
            Err(Rejection::TooLarge {
                size: 11,
                limit: 10
            })
        );
        assert_eq!(check_size(10, &l), Ok(()));
    }

    #[test]
    fn duration_limits() {
        let l = UploadLimits {
            max_bytes: 10,
            max_duration_seconds: 60.0,
        };
        assert!(check_duration(Some(59.9), &l).is_ok());
        assert!(matches!(
            check_duration(Some(61.0), &l),
            Err(Rejection::TooLong { .. })
        ));
        assert_eq!(check_duration(None, &l), Err(Rejection::UnknownDuration));
        assert_eq!(
            check_duration(Some(0.0), &l),
            Err(Rejection::UnknownDuration)
        );
        assert_eq!(
            check_duration(Some(f64::NAN), &l),
            Err(Rejection::UnknownDuration)
        );
    }

    #[test]
    fn sniffs_known_containers() {
        let mut mp4 = vec![0, 0, 0, 0x20];
        mp4.extend_from_slice(b"ftypisom\0\0\x02\0");
        assert_eq!(sniff_container(&mp4), Some(ContainerFamily::IsoBmff));
        assert_eq!(
            sniff_container(&[0x1A, 0x45, 0xDF, 0xA3, 1, 2]),
            Some(ContainerFamily::Matroska)
        );
        assert_eq!(
            sniff_container(b"RIFF\x10\0\0\0AVI LIST"),
            Some(ContainerFamily::Avi)
        );
        let mut ts = vec![0u8; 376];
        ts[0] = 0x47;
        ts[188] = 0x47;
        assert_eq!(sniff_container(&ts), Some(ContainerFamily::MpegTs));
    }

    #[test]
    fn refuses_text_and_noise() {
        assert_eq!(sniff_container(b"hello, this is a text file\n"), None);
        assert_eq!(sniff_container(b""), None);
        assert_eq!(sniff_container(&[0x47; 100]), None);
    }
}
