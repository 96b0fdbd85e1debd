//! `SfnPipeline` against moto, on a state machine made from `infra/pipeline.asl.json`. moto
//! records executions (name, input, status) but runs no state, so these tests check what the
//! adapter asks of Step Functions, not the pipeline's steps.

use mvidarr_core::ids::{MediaId, TenantId};
use mvidarr_core::ports::{ExecutionName, Pipeline, PipelineError, PipelineInput, StartOutcome};
use mvidarr_tests::aws::Moto;
use mvidarr_tests::aws::sfn::{
    fake_lambda_arn, new_state_machine, pipeline_definition, sfn_client, substitute_definition,
    unreachable_pipeline,
};

fn input() -> PipelineInput {
    PipelineInput {
        tenant: TenantId::generate(),
        media_id: MediaId::generate(),
    }
}

fn name_for(input: &PipelineInput, etag: &str) -> ExecutionName {
    ExecutionName::for_media(input.media_id, etag)
}

#[test]
fn substitution_replaces_every_placeholder() {
    let asl = r#"{"a": "${One}", "b": ["${Two}", "${One}"], "c": "$.x", "d": "${open", "e": "${}${a b}${Three}"}"#;
    let out = substitute_definition(asl, |name| format!("arn:{name}"));
    assert_eq!(
        out,
        r#"{"a": "arn:One", "b": ["arn:Two", "arn:One"], "c": "$.x", "d": "${open", "e": "${}${a b}arn:Three"}"#
    );
    assert_eq!(
        substitute_definition("no placeholders", |_| unreachable!()),
        "no placeholders"
    );
}

#[test]
fn the_pipeline_definition_has_fake_lambda_arns_for_every_task() {
    let definition = pipeline_definition();
    assert!(
        !definition.contains("${"),
        "a placeholder is left: {definition}"
    );
    let asl: serde_json::Value = serde_json::from_str(&definition).expect("still JSON");
    let resources: Vec<&str> = asl["States"]
        .as_object()
        .expect("States")
        .values()
        .filter(|state| state["Type"] == "Task")
        .map(|state| state["Resource"].as_str().expect("a Task has a Resource"))
        .collect();
    assert_eq!(resources.len(), 4, "Analyze, Tag, Index, MarkFailed");
    for resource in resources {
        assert!(
            resource.starts_with("arn:aws:lambda:us-east-1:123456789012:function:mvidarr-"),
            "{resource}"
        );
    }
    assert_eq!(
        fake_lambda_arn("AnalyzeFunctionArn"),
        "arn:aws:lambda:us-east-1:123456789012:function:mvidarr-AnalyzeFunction"
    );
}

#[tokio::test]
async fn a_name_starts_one_execution_with_the_pipeline_input() {
    let pipeline = new_state_machine(Moto::shared()).await;
    let input = input();
    let name = name_for(&input, "\"0cc175b9c0f1b6a831c399e269772661\"");
    assert_eq!(pipeline.execution_input(&name).await.unwrap(), None);

    assert_eq!(
        pipeline.start(&name, &input).await.unwrap(),
        StartOutcome::Started
    );
    let info = pipeline
        .describe(&name)
        .await
        .unwrap()
        .expect("the execution exists");
    assert_eq!(info.execution_arn, pipeline.execution_arn(&name).unwrap());
    assert_eq!(info.status, "RUNNING");
    assert_eq!(
        info.input,
        Some(serde_json::to_value(&input).unwrap()),
        "the execution's input is the PipelineInput"
    );
    let recorded: PipelineInput =
        serde_json::from_value(pipeline.execution_input(&name).await.unwrap().unwrap()).unwrap();
    assert_eq!(recorded, input);

    // The same name and input again at once: Step Functions (and moto) answer a STANDARD
    // machine's running execution with success, not ExecutionAlreadyExists.
    assert_eq!(
        pipeline.start(&name, &input).await.unwrap(),
        StartOutcome::AlreadyExists
    );
    // The same name with another input: ExecutionAlreadyExists.
    let other_input = PipelineInput {
        tenant: input.tenant,
        media_id: MediaId::generate(),
    };
    assert_eq!(
        pipeline.start(&name, &other_input).await.unwrap(),
        StartOutcome::AlreadyExists
    );
    assert_eq!(
        pipeline.execution_input(&name).await.unwrap(),
        Some(serde_json::to_value(&input).unwrap()),
        "the first input stays"
    );

    let other = name_for(&input, "\"92eb5ffee6ae2fec3ad71c777531578f\"");
    assert_eq!(
        pipeline.start(&other, &input).await.unwrap(),
        StartOutcome::Started,
        "another name is another execution"
    );
}

#[tokio::test]
async fn a_finished_execution_is_not_started_again() {
    let moto = Moto::shared();
    let pipeline = new_state_machine(moto).await;
    let input = input();
    let name = name_for(&input, "etag");
    assert_eq!(
        pipeline.start(&name, &input).await.unwrap(),
        StartOutcome::Started
    );
    sfn_client(moto)
        .await
        .stop_execution()
        .execution_arn(pipeline.execution_arn(&name).unwrap())
        .send()
        .await
        .expect("stop the execution");
    assert_eq!(
        pipeline.describe(&name).await.unwrap().unwrap().status,
        "ABORTED"
    );
    assert_eq!(
        pipeline.start(&name, &input).await.unwrap(),
        StartOutcome::AlreadyExists
    );
    assert_eq!(
        pipeline.describe(&name).await.unwrap().unwrap().status,
        "ABORTED",
        "nothing was started"
    );
}

#[tokio::test]
async fn an_unreachable_pipeline_is_transient() {
    let pipeline = unreachable_pipeline().await;
    let input = input();
    let started = std::time::Instant::now();
    let outcome = pipeline.start(&name_for(&input, "etag"), &input).await;
    assert!(
        matches!(outcome, Err(PipelineError::Transient(_))),
        "got {outcome:?}"
    );
    let described = pipeline.describe(&name_for(&input, "etag")).await;
    assert!(
        matches!(described, Err(PipelineError::Transient(_))),
        "got {described:?}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "failing took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_missing_state_machine_is_a_backend_error() {
    let moto = Moto::shared();
    let existing = new_state_machine(moto).await;
    let missing = mvidarr_store_aws::sfn::SfnPipeline::new(
        sfn_client(moto).await,
        format!("{}-missing", existing.state_machine_arn()),
    );
    let input = input();
    let outcome = missing.start(&name_for(&input, "etag"), &input).await;
    assert!(
        matches!(outcome, Err(PipelineError::Backend(_))),
        "got {outcome:?}"
    );
}
