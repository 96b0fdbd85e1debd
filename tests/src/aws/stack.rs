//! One deployment of the stack on moto — bucket with S3 → SQS notifications, table, ingest
//! queue with its dead-letter queue, state machine from `infra/pipeline.asl.json` — with the
//! AWS platform over it, and the moves Lambda's event sources make: deliver S3's notifications
//! from SQS as an `SqsEvent`, acknowledge a batch, invoke a task function.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use mvidarr_core::asl::StateMachine;
use mvidarr_core::ids::{MediaId, TenantId};
use mvidarr_core::keys;
use mvidarr_core::media::MediaStatus;
use mvidarr_core::ports::{BlobStore, ExecutionName, Platform};
use mvidarr_core::repo::MediaRepo;
use mvidarr_core::step::StepInput;
use mvidarr_lambda::invoke_step;
use mvidarr_store_aws::platform::{AwsPlatform, AwsResources};
use mvidarr_store_aws::{AwsSettings, dynamodb, sfn, sqs};
use mvidarr_upload_trigger::{TriggerConfig, UploadTrigger};
use serde_json::{Value, json};

use super::moto::{ACCOUNT, Moto, REGION, unique_name};
use super::step_driver::{Functions, function_arn};
use crate::fixtures;

/// Every resource of one stack, created on moto under names of this test's own.
pub struct Stack {
    pub platform: AwsPlatform,
    /// The names the platform was built from (what a function's environment would say).
    pub resources: AwsResources,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sfn: aws_sdk_sfn::Client,
    pub queue_url: String,
    pub queue_arn: String,
    pub state_machine_arn: String,
    /// What S3 put on the queue when the notification was configured (its `s3:TestEvent`),
    /// taken off so tests see only their own uploads' notifications.
    pub setup_messages: SqsEvent,
}

/// The function each `${…FunctionArn}` placeholder of the definition stands for.
pub fn arn_for(placeholder: &str) -> String {
    function_arn(&format!("mvidarr-{}", placeholder.trim_end_matches("Arn")))
}

impl Stack {
    pub async fn create(moto: &Moto) -> Stack {
        let config = moto.sdk_config().await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        );
        let dynamo = aws_sdk_dynamodb::Client::new(&config);
        let sqs_client = aws_sdk_sqs::Client::new(&config);
        let sfn_client = aws_sdk_sfn::Client::new(&config);

        let bucket = unique_name("media");
        let table = unique_name("items");
        s3.create_bucket().bucket(&bucket).send().await.unwrap();
        dynamodb::create_table(&dynamo, &table).await.unwrap();
        let (queue_url, _dlq_url) =
            sqs::create_queue_with_dead_letter(&sqs_client, &unique_name("ingest"), 5)
                .await
                .unwrap();
        let (events_queue_url, _) =
            sqs::create_queue_with_dead_letter(&sqs_client, &unique_name("events"), 5)
                .await
                .unwrap();
        let (reports_queue_url, _) =
            sqs::create_queue_with_dead_letter(&sqs_client, &unique_name("reports"), 3)
                .await
                .unwrap();
        let queue_arn = sqs_client
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes()
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                    .cloned()
            })
            .expect("queue ARN");
        // The bucket notification the stack declares: uploads under `t/` go to the queue.
        s3.put_bucket_notification_configuration()
            .bucket(&bucket)
            .notification_configuration(
                aws_sdk_s3::types::NotificationConfiguration::builder()
                    .queue_configurations(
                        aws_sdk_s3::types::QueueConfiguration::builder()
                            .queue_arn(&queue_arn)
                            .events(aws_sdk_s3::types::Event::from("s3:ObjectCreated:*"))
                            .filter(
                                aws_sdk_s3::types::NotificationConfigurationFilter::builder()
                                    .key(
                                        aws_sdk_s3::types::S3KeyFilter::builder()
                                            .filter_rules(
                                                aws_sdk_s3::types::FilterRule::builder()
                                                    .name(aws_sdk_s3::types::FilterRuleName::Prefix)
                                                    .value("t/")
                                                    .build(),
                                            )
                                            .build(),
                                    )
                                    .build(),
                            )
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let definition =
            sfn::substitute_definition(mvidarr_core::asl::PIPELINE_DEFINITION, arn_for);
        let state_machine_arn = sfn::create_state_machine(
            &sfn_client,
            &unique_name("pipeline"),
            &definition,
            &format!("arn:aws:iam::{ACCOUNT}:role/pipeline"),
        )
        .await
        .unwrap();

        let resources = AwsResources {
            bucket,
            table,
            ingest_queue_url: Some(queue_url.clone()),
            events_queue_url: Some(events_queue_url),
            reports_queue_url: Some(reports_queue_url),
            state_machine_arn: Some(state_machine_arn.clone()),
            kms_key_id: Some(super::kms::new_key(moto).await),
        };
        let platform = AwsPlatform::connect(
            &AwsSettings {
                endpoint_url: Some(moto.endpoint.clone()),
                region: Some(REGION.into()),
                static_credentials: Some(("testing".into(), "testing".into())),
            },
            &resources,
        )
        .await;
        let mut stack = Stack {
            platform,
            resources,
            s3,
            sqs: sqs_client,
            sfn: sfn_client,
            queue_url,
            queue_arn,
            state_machine_arn,
            setup_messages: SqsEvent::default(),
        };
        stack.setup_messages = stack.receive_event(1).await;
        stack.acknowledge(&stack.setup_messages).await;
        stack
    }

    /// Receive what S3 sent to the ingest queue and shape it as the `SqsEvent` Lambda's event
    /// source mapping would invoke upload-trigger with.
    pub async fn next_sqs_event(&self) -> SqsEvent {
        self.receive_event(5).await
    }

    /// Up to 10 messages, waiting at most `wait_seconds` for the first.
    pub async fn receive_event(&self, wait_seconds: i32) -> SqsEvent {
        let received = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_seconds)
            .visibility_timeout(60)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        let records: Vec<Value> = received
            .messages()
            .iter()
            .map(|m| {
                let attributes: serde_json::Map<String, Value> = m
                    .attributes()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.as_str().to_owned(), Value::String(v.clone())))
                    .collect();
                json!({
                    "messageId": m.message_id(),
                    "receiptHandle": m.receipt_handle(),
                    "body": m.body(),
                    "attributes": attributes,
                    "messageAttributes": {},
                    "md5OfBody": m.md5_of_body(),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue_arn,
                    "awsRegion": REGION,
                })
            })
            .collect();
        serde_json::from_value(json!({ "Records": records })).expect("a valid SqsEvent")
    }

    /// After a successful invocation the event source mapping deletes the batch.
    pub async fn acknowledge(&self, event: &SqsEvent) {
        for record in &event.records {
            self.sqs
                .delete_message()
                .queue_url(&self.queue_url)
                .receipt_handle(record.receipt_handle.clone().unwrap())
                .send()
                .await
                .unwrap();
        }
    }

    /// The state machine's task functions, each the real handler behind its Lambda main.
    pub fn functions(&self) -> Functions {
        let analyze = Arc::new(mvidarr_analyze::Analyze::new(
            self.platform.clone(),
            fixtures::ffmpeg(),
        ));
        let tag = Arc::new(mvidarr_tag::TagStep::new(self.platform.clone()));
        let (p1, p2) = (self.platform.clone(), self.platform.clone());
        Functions::default()
            .register(arn_for("AnalyzeFunctionArn"), move |event| {
                let analyze = analyze.clone();
                async move {
                    invoke_step("analyze", &|input: StepInput| analyze.handle(input), event).await
                }
            })
            .register(arn_for("TagFunctionArn"), move |event| {
                let tag = tag.clone();
                async move { invoke_step("tag", &|input: StepInput| tag.handle(input), event).await }
            })
            .register(arn_for("IndexFunctionArn"), move |event| {
                let p = p1.clone();
                async move {
                    invoke_step("index", &|input| mvidarr_index::index(&p, input), event).await
                }
            })
            .register(arn_for("MarkFailedFunctionArn"), move |event| {
                let p = p2.clone();
                async move {
                    invoke_step("mark-failed", &|input| mvidarr_index::mark_failed(&p, input), event)
                        .await
                }
            })
    }

    /// The definition Step Functions holds for this stack's state machine.
    pub async fn deployed_definition(&self) -> StateMachine {
        let described = self
            .sfn
            .describe_state_machine()
            .state_machine_arn(&self.state_machine_arn)
            .send()
            .await
            .unwrap();
        StateMachine::parse(described.definition()).expect("the deployed definition parses")
    }

    /// The input Step Functions recorded for the execution of this media's content.
    pub async fn execution_input(&self, name: &ExecutionName) -> Value {
        let (_, machine_name) = self.state_machine_arn.rsplit_once(':').unwrap();
        let execution_arn = format!(
            "arn:aws:states:{REGION}:{ACCOUNT}:execution:{machine_name}:{}",
            name.as_str()
        );
        let described = self
            .sfn
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await
            .expect("upload-trigger started the execution");
        serde_json::from_str(described.input().expect("execution input")).unwrap()
    }
}

/// One upload through a presigned PUT, delivered S3 → SQS → upload-trigger as Lambda would:
/// returns the tenant, media and the input Step Functions recorded for its execution.
pub async fn upload_and_trigger(stack: &Stack) -> (TenantId, MediaId, Value) {
    let tenant = TenantId::generate();
    let media = MediaId::generate();
    let key = keys::blob::upload(tenant, media);

    let dir = tempfile::tempdir().unwrap();
    let video = fixtures::make(dir.path(), "clip.mp4", &Default::default()).await;
    let presigned = stack
        .platform
        .blobs()
        .presign_put(&key, "video/mp4", Duration::from_secs(300))
        .await
        .unwrap();
    let mut put = reqwest::Client::new()
        .put(&presigned.url)
        .body(std::fs::read(&video).unwrap());
    for (name, value) in &presigned.headers {
        put = put.header(name, value);
    }
    let response = put.send().await.unwrap();
    assert!(
        response.status().is_success(),
        "presigned PUT: {}",
        response.status()
    );

    let event = stack.next_sqs_event().await;
    assert_eq!(event.records.len(), 1, "one notification for one upload");
    let trigger = UploadTrigger::new(
        stack.platform.clone(),
        fixtures::ffmpeg(),
        TriggerConfig::default(),
    );
    let response = trigger.handle_sqs_event(event.clone()).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "upload-trigger reported failures: {response:?}"
    );
    stack.acknowledge(&event).await;

    let record = MediaRepo::new(stack.platform.table())
        .require(tenant, media)
        .await
        .unwrap();
    assert_eq!(record.status, MediaStatus::Analyzing, "{record:?}");
    let etag = stack.platform.blobs().head(&key).await.unwrap().etag;
    let input = stack
        .execution_input(&ExecutionName::for_media(media, &etag))
        .await;
    assert_eq!(
        input,
        json!({ "tenant": tenant.to_string(), "media_id": media.to_string() })
    );
    (tenant, media, input)
}
