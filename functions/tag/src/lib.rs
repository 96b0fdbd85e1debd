//! `tag`: proposes tags for a media: the analyzers' tags ([`rules`]), genres its metadata
//! states, and the tenant's learned heads ([`heads`]); each named by the tenant's vocabulary
//! and placed by its thresholds ([`proposals`]): applied, sent to review, or kept hidden.
//! People's decisions are never overwritten. [`training`] trains the heads from those
//! decisions (`mvidarr train-tags` and the scheduled training run).

pub mod heads;
pub mod proposals;
pub mod rules;
pub mod training;

use std::time::Duration;

use mvidarr_core::media::MediaEvent;
use mvidarr_core::ports::Platform;
use mvidarr_core::repo::{
    AnalysisRepo, Duplicate, MediaRepo, ModelFileError, TagRepo, VocabularyRepo, find_duplicates,
};
use mvidarr_core::step::{StepError, StepInput};
use tracing::{info, instrument, warn};

use heads::HeadCache;
use proposals::{DecodedAnalyses, MediaFacts};

/// How stale a warm function's view of the promoted heads may be.
pub const HEAD_REFRESH: Duration = Duration::from_secs(60);

pub struct TagStep<P> {
    platform: P,
    heads: HeadCache<P>,
}

impl<P: Platform> TagStep<P> {
    pub fn new(platform: P) -> Self {
        Self {
            heads: HeadCache::new(platform.clone(), HEAD_REFRESH),
            platform,
        }
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
        let analyses = AnalysisRepo::new(table)
            .list(input.tenant, input.media_id)
            .await?;
        let decoded = DecodedAnalyses::new(&analyses);
        if !decoded.has_probe() {
            return Err(StepError::Permanent("no probe analysis to tag from".into()));
        }
        let vocabulary = VocabularyRepo::new(table).get(input.tenant).await?.record;
        let duplicates = self.duplicates(&input).await?;
        let heads = self.heads.heads(input.tenant).await.map_err(|e| match e {
            ModelFileError::Repo(e) => StepError::from(e),
            e if e.is_transient() => StepError::Transient(e.to_string()),
            e => StepError::Permanent(e.to_string()),
        })?;
        let facts = MediaFacts {
            analyses: &analyses,
            metadata: &media.metadata,
            // A new upload has no plays yet, so neither an embedding nor an audience.
            embedding: None,
            embedding_source: None,
            audience: 0,
            duplicates: &duplicates,
        };
        let proposals =
            proposals::propose(&facts, &decoded, &heads, &vocabulary, &Default::default());
        let repo = TagRepo::new(table);
        let mut written = 0;
        for p in &proposals {
            if repo
                .propose(input.tenant, input.media_id, &p.tag, p.impact)
                .await?
            {
                written += 1;
            }
        }
        info!(
            proposed = proposals.len(),
            written,
            heads = heads.len(),
            "tags proposed"
        );
        Ok(())
    }

    /// The media's duplicates among the tenant's others. A fingerprint that cannot be read
    /// (corrupt) loses only the duplicate tag; a store that fails for now fails the step, to
    /// be retried.
    async fn duplicates(&self, input: &StepInput) -> Result<Vec<Duplicate>, StepError> {
        match find_duplicates(
            &self.platform,
            input.tenant,
            input.media_id,
            DUPLICATE_MIN_SCORE,
            DUPLICATES_READ,
        )
        .await
        {
            Ok(found) => Ok(found.unwrap_or_default()),
            Err(e) if e.is_transient() => Err(StepError::Transient(e.to_string())),
            Err(e) => {
                warn!(error = %e, "duplicates not checked; the media gets no duplicate tag");
                Ok(Vec::new())
            }
        }
    }
}

/// Matches below this share of material are not duplicates (the duplicate index's "nearly
/// all" is 0.8).
const DUPLICATE_MIN_SCORE: f64 = 0.8;
/// Matches read per media (the best one is tagged).
const DUPLICATES_READ: usize = 5;
