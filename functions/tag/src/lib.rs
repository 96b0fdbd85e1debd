//! `tag`: proposes tags for a media from its analyses. Today's analyses are technical, so the
//! tags are technical facts read from the probe (resolution class, orientation, silent), each
//! certain (confidence 1.0) and attributed to the probe analyzer and its version. The
//! auto-tagging issue adds learned tags, thresholds and review on the same records.

pub mod rules;

use mvidarr_core::analysis::{AnalyzerKind, Probe};
use mvidarr_core::media::MediaEvent;
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::{AnalysisRepo, MediaRepo, TagRepo};
use mvidarr_core::step::{StepError, StepInput};
use mvidarr_core::tag::{Tag, TagName, TagSource, TagStatus};
use tracing::{info, instrument};

pub struct TagStep<P> {
    platform: P,
}

impl<P: Platform> TagStep<P> {
    pub fn new(platform: P) -> Self {
        Self { platform }
    }

    #[instrument(skip_all, fields(tenant = %input.tenant, media = %input.media_id))]
    pub async fn handle(&self, input: StepInput) -> Result<(), StepError> {
        let table = self.platform.table();
        let media = MediaRepo::new(table)
            .require(input.tenant, input.media_id)
            .await?;
        if media.status.already_past(&MediaEvent::Indexed) {
            return Ok(());
        }
        let probe = AnalysisRepo::new(table)
            .list(input.tenant, input.media_id)
            .await?
            .into_iter()
            .filter(|a| a.kind == AnalyzerKind::Probe)
            .max_by_key(|a| a.version)
            .ok_or_else(|| StepError::Permanent("no probe analysis to tag from".into()))?;
        let parsed: Probe = serde_json::from_value(probe.result)
            .map_err(|e| StepError::Permanent(format!("probe analysis does not decode: {e}")))?;
        let tags = technical_tags(&parsed, probe.version);
        let repo = TagRepo::new(table);
        for tag in &tags {
            repo.propose(input.tenant, input.media_id, tag).await?;
        }
        info!(count = tags.len(), "tags proposed");
        Ok(())
    }
}

/// Facts the probe establishes with certainty.
pub fn technical_tags(probe: &Probe, probe_version: u32) -> Vec<Tag> {
    let source = TagSource::Analyzer {
        name: AnalyzerKind::Probe.as_str().into(),
        version: probe_version,
    };
    let mut names = Vec::new();
    if let Some(v) = probe.video.first() {
        let short_side = v.width.min(v.height);
        names.push(match short_side {
            0..=479 => "resolution/sd",
            480..=719 => "resolution/480p",
            720..=1079 => "resolution/720p",
            1080..=2159 => "resolution/1080p",
            _ => "resolution/2160p",
        });
        names.push(match v.width.cmp(&v.height) {
            std::cmp::Ordering::Greater => "orientation/landscape",
            std::cmp::Ordering::Less => "orientation/portrait",
            std::cmp::Ordering::Equal => "orientation/square",
        });
    }
    if probe.audio.is_empty() {
        names.push("audio/silent");
    }
    names
        .into_iter()
        .map(|n| Tag {
            name: TagName::parse(n).expect("fixed tag names are valid"),
            confidence: 1.0,
            source: source.clone(),
            status: TagStatus::Review,
            evidence: serde_json::json!({ "from": "probe" }),
            decisions: vec![],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mvidarr_core::analysis::VideoStream;

    fn video(w: u32, h: u32) -> VideoStream {
        VideoStream {
            index: 0,
            codec: "h264".into(),
            profile: None,
            pixel_format: None,
            width: w,
            height: h,
            fps: Some(25.0),
            bit_rate: None,
        }
    }

    #[test]
    fn tags_follow_the_probe() {
        let probe = Probe {
            video: vec![video(1080, 1920)],
            ..Default::default()
        };
        let names: Vec<_> = technical_tags(&probe, 1)
            .into_iter()
            .map(|t| t.name.to_string())
            .collect();
        assert_eq!(
            names,
            ["resolution/1080p", "orientation/portrait", "audio/silent"]
        );
    }
}
