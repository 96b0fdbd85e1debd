//! The cloud pipeline end to end on a real AWS-protocol server (moto), with the real SDK
//! clients and the real Lambda handler functions:
//!
//! presigned PUT to S3 → S3's `ObjectCreated` notification (sent by moto's S3 into SQS) →
//! the SQS message as Lambda's event source mapping delivers it → `upload-trigger` →
//! Step Functions `StartExecution` (recorded by moto) → the state machine Step Functions holds,
//! driven state by state with the Lambda task handlers → the Media record `Indexed` in
//! DynamoDB, with its analysis and tags.
//!
//! moto runs neither Lambdas nor state machines, so `step_driver` plays the Step Functions
//! service: it reads the definition back from moto and walks it with the same ASL interpreter
//! the embedded runner uses.

use mvidarr_core::analysis::{AnalyzerKind, Probe};
use mvidarr_core::asl::{State, StateMachine, Transition};
use mvidarr_core::keys;
use mvidarr_core::media::{MediaStatus, Step};
use mvidarr_core::ports::{BlobStore, Condition, Platform, Table};
use mvidarr_core::repo::{AnalysisRepo, MediaRepo, TagRepo};
use mvidarr_tests::aws::Moto;
use mvidarr_tests::aws::stack::{Stack, upload_and_trigger};
use mvidarr_tests::aws::step_driver;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_to_s3_ends_indexed_in_dynamodb() {
    let stack = Stack::create(Moto::shared()).await;
    let (tenant, media, input) = upload_and_trigger(&stack).await;

    // Step Functions runs the definition it was given: the file in infra/, substituted.
    let machine = stack.deployed_definition().await;
    let task_names = |m: &StateMachine| -> Vec<String> {
        m.happy_path()
            .iter()
            .map(|(name, _)| name.to_string())
            .collect()
    };
    assert_eq!(
        task_names(&machine),
        task_names(&StateMachine::pipeline().unwrap())
    );
    let run = step_driver::run(&machine, &stack.functions(), input, 1).await;
    assert!(
        matches!(run.end, Transition::Succeeded(_)),
        "execution ended {:?} after {:?}",
        run.end,
        run.visited
    );
    assert_eq!(run.visited, ["Analyze", "Tag", "Index", "Done"]);

    let record = MediaRepo::new(stack.platform.table())
        .require(tenant, media)
        .await
        .unwrap();
    assert_eq!(record.status, MediaStatus::Indexed, "{record:?}");
    let analyses = AnalysisRepo::new(stack.platform.table())
        .list(tenant, media)
        .await
        .unwrap();
    assert!(!analyses.is_empty(), "the analysis document is in DynamoDB");
    let tags = TagRepo::new(stack.platform.table())
        .list(tenant, media)
        .await
        .unwrap();
    assert!(!tags.is_empty(), "technical tags were written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_gone_before_analysis_ends_failed_through_catch_and_mark_failed() {
    let stack = Stack::create(Moto::shared()).await;
    let (tenant, media, input) = upload_and_trigger(&stack).await;
    // Analyze reuses the probe validation made; without it, it must read the object again.
    stack
        .platform
        .table()
        .delete(
            &keys::table::media_items_pk(tenant, media),
            &keys::table::analysis_sk(AnalyzerKind::Probe.as_str(), Probe::VERSION),
            Condition::Exists,
        )
        .await
        .unwrap();
    stack
        .platform
        .blobs()
        .delete(&keys::blob::upload(tenant, media))
        .await
        .unwrap();

    let machine = stack.deployed_definition().await;
    let State::Task(analyze) = &machine.states["Analyze"] else {
        panic!("Analyze is a Task state")
    };
    assert!(!analyze.catch.is_empty(), "Analyze has a Catch");
    // Retry delays shortened a thousandfold; the order of states is what is checked.
    let run = step_driver::run(&machine, &stack.functions(), input, 1000).await;
    assert!(
        matches!(&run.end, Transition::Failed { error, .. } if error == "MediaFailed"),
        "ends in the Fail state: {:?} after {:?}",
        run.end,
        run.visited
    );
    assert_eq!(
        run.visited
            .iter()
            .filter(|s| *s != "Analyze")
            .collect::<Vec<_>>(),
        ["AnalyzeFailed", "MarkFailed", "Failed"]
    );
    let record = MediaRepo::new(stack.platform.table())
        .require(tenant, media)
        .await
        .unwrap();
    assert!(
        matches!(&record.status, MediaStatus::Failed { step, .. } if *step == Step::Analyze),
        "{record:?}"
    );
}
