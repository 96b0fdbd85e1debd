//! The deployment description agrees with the code: `template.yaml` lints clean, the pipeline
//! definition is valid ASL, every Lambda binary has a function resource (and vice versa), every
//! `${...}` placeholder of the definition is substituted with a function of the stack, and the
//! definition's task names are the ones the embedded runner registers, the table has the
//! schema (keys, index, TTL attribute) the DynamoDB adapter uses, and the HTTP API runs every
//! route but the API's public ones through the Lambda authorizer.
//!
//! Needs the project's `.venv` (`scripts/python/venv.sh`) for cfn-lint and statelint.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use mvidarr_api::{Access, route_table};
use mvidarr_core::asl::{ALL_ERRORS, State, StateMachine, TaskState};
use mvidarr_store_aws::dynamodb::{EXPIRES_AT, GSI1_NAME, GSI1_PK, GSI1_SK, TABLE_PK, TABLE_SK};
use mvidarr_store_local::LocalPlatform;
use mvidarr_tests::aws::moto::repo_root;
use serde_json::Value;

/// The binary of the embedded all-in-one `mvidarr` (API, pipeline and workers in one process on
/// local storage). It lives in functions/ but is not a Lambda, so it has no function resource.
const EMBEDDED_BINARY: &str = "mvidarr";

/// The error the task functions report for failures worth retrying.
const TRANSIENT: &str = "Transient";

/// The API's binary, and the Lambda authorizer's.
const API_BINARY: &str = "mvidarr-api";
const AUTHORIZER_BINARY: &str = "mvidarr-auth";

/// What a `main` calls to start the identity service, which needs `TOKEN_ISSUER` and (to open
/// the sealed signing keys) `KMS_KEY_ID`; and to start it as a verifier, which needs only the
/// issuer.
const STARTS_IDENTITY: &str = "identity_from_env(";
const STARTS_VERIFIER: &str = "verifier_from_env(";

fn venv_tool(name: &str) -> PathBuf {
    let path = repo_root().join(".venv/bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/python/venv.sh",
        path.display()
    );
    path
}

fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("running {command:?}: {e}"))
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `template.yaml` as JSON, decoded by cfn-lint (which understands `!GetAtt`, `!Ref`, `!Sub`…:
/// they come out as `{"Fn::GetAtt": [..]}` and so on).
fn template() -> &'static Value {
    static TEMPLATE: OnceLock<Value> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        const DECODE: &str = "import json, sys\n\
            from cfnlint.decode import decode\n\
            template, matches = decode(sys.argv[1])\n\
            if matches:\n    sys.exit('\\n'.join(str(m) for m in matches))\n\
            json.dump(template, sys.stdout)\n";
        let output = run(Command::new(venv_tool("python"))
            .arg("-c")
            .arg(DECODE)
            .arg(repo_root().join("template.yaml")));
        assert!(
            output.status.success(),
            "decoding template.yaml failed:\n{}",
            text(&output)
        );
        serde_json::from_slice(&output.stdout).expect("the decoder prints JSON")
    })
}

fn resources() -> &'static serde_json::Map<String, Value> {
    template()["Resources"]
        .as_object()
        .expect("the template has Resources")
}

/// Logical id → resource, for every resource of `kind`.
fn resources_of(kind: &str) -> BTreeMap<&'static str, &'static Value> {
    resources()
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(id, r)| (id.as_str(), r))
        .collect()
}

/// The logical id in `{"Fn::GetAtt": [id, attribute]}`.
fn get_att<'a>(value: &'a Value, attribute: &str) -> Option<&'a str> {
    let pair = value.get("Fn::GetAtt")?.as_array()?;
    match pair.as_slice() {
        [id, att] if att == attribute => id.as_str(),
        _ => None,
    }
}

/// A function property, from the resource or else from `Globals.Function`.
fn function_property<'a>(function: &'a Value, name: &str) -> Option<&'a Value> {
    function["Properties"]
        .get(name)
        .or_else(|| template()["Globals"]["Function"].get(name))
}

/// The `${Name}` placeholders in a text.
fn placeholders(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after.find('}').expect("an unterminated ${ in the text");
        out.insert(after[..end].to_owned());
        rest = &after[end + 1..];
    }
    out
}

fn pipeline_text() -> String {
    std::fs::read_to_string(repo_root().join("infra/pipeline.asl.json"))
        .expect("read infra/pipeline.asl.json")
}

fn pipeline() -> StateMachine {
    StateMachine::pipeline().expect("infra/pipeline.asl.json parses")
}

fn state_machine_properties() -> &'static Value {
    let machines = resources_of("AWS::Serverless::StateMachine");
    let (id, machine) = machines
        .iter()
        .find(|(_, m)| m["Properties"]["DefinitionUri"] == "infra/pipeline.asl.json")
        .unwrap_or_else(|| {
            panic!(
                "no AWS::Serverless::StateMachine with DefinitionUri infra/pipeline.asl.json \
                 (state machines: {:?})",
                machines.keys().collect::<Vec<_>>()
            )
        });
    assert!(machine["Properties"].is_object(), "{id} has no Properties");
    &machine["Properties"]
}

/// `${Name}` of a task's `Resource`.
fn placeholder_of(task: &TaskState) -> &str {
    task.resource
        .strip_prefix("${")
        .and_then(|r| r.strip_suffix('}'))
        .unwrap_or_else(|| {
            panic!(
                "task resource {:?} is not a ${{...}} placeholder",
                task.resource
            )
        })
}

fn differences<T: Ord + std::fmt::Debug>(
    left_name: &str,
    left: &BTreeSet<T>,
    right_name: &str,
    right: &BTreeSet<T>,
) -> String {
    format!(
        "only in {left_name}: {:?}; only in {right_name}: {:?}",
        left.difference(right).collect::<Vec<_>>(),
        right.difference(left).collect::<Vec<_>>()
    )
}

#[test]
fn cfn_lint_finds_nothing() {
    let output = run(Command::new(venv_tool("cfn-lint"))
        .arg("template.yaml")
        .current_dir(repo_root()));
    let findings = text(&output);
    assert!(
        output.status.success() && findings.trim().is_empty(),
        "cfn-lint template.yaml ({}):\n{findings}",
        output.status
    );
}

#[test]
fn statelint_accepts_the_pipeline() {
    // statelint wants URIs as task resources; CloudFormation substitutes the placeholders
    // with function ARNs at deploy time, so lint a copy with ARNs of that shape in place.
    let mut definition = pipeline_text();
    for name in placeholders(&definition) {
        definition = definition.replace(
            &format!("${{{name}}}"),
            &format!("arn:aws:lambda:us-east-1:123456789012:function:mvidarr-{name}"),
        );
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("pipeline.asl.json");
    std::fs::write(&path, &definition).expect("write the substituted definition");
    let output = run(Command::new(venv_tool("statelint")).arg(&path));
    assert!(
        output.status.success(),
        "statelint rejects infra/pipeline.asl.json ({}):\n{}\nsubstituted definition:\n{definition}",
        output.status,
        text(&output)
    );
}

/// A binary target of a crate under functions/.
struct FunctionBinary {
    package: String,
    name: String,
    source: PathBuf,
}

/// The binary targets of the crates under functions/ (and those crates, even without one),
/// from `cargo metadata`.
fn function_targets() -> &'static (BTreeSet<String>, Vec<FunctionBinary>) {
    static TARGETS: OnceLock<(BTreeSet<String>, Vec<FunctionBinary>)> = OnceLock::new();
    TARGETS.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let output = run(Command::new(cargo)
            .args([
                "metadata",
                "--no-deps",
                "--format-version",
                "1",
                "--offline",
            ])
            .current_dir(repo_root()));
        assert!(output.status.success(), "cargo metadata: {}", text(&output));
        let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata JSON");
        let functions_dir =
            std::fs::canonicalize(repo_root().join("functions")).expect("functions/");
        let mut packages = BTreeSet::new();
        let mut binaries = Vec::new();
        for package in metadata["packages"].as_array().expect("packages") {
            let manifest = Path::new(package["manifest_path"].as_str().expect("manifest_path"));
            let manifest = std::fs::canonicalize(manifest).unwrap_or_else(|_| manifest.to_owned());
            if !manifest.starts_with(&functions_dir) {
                continue;
            }
            let name = package["name"].as_str().expect("name").to_owned();
            for target in package["targets"].as_array().expect("targets") {
                if target["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "bin"))
                {
                    binaries.push(FunctionBinary {
                        package: name.clone(),
                        name: target["name"].as_str().expect("target name").to_owned(),
                        source: PathBuf::from(target["src_path"].as_str().expect("src_path")),
                    });
                }
            }
            packages.insert(name);
        }
        (packages, binaries)
    })
}

/// Binary targets per package of the crates under functions/.
fn function_binaries() -> BTreeMap<String, BTreeSet<String>> {
    let (packages, binaries) = function_targets();
    let mut out: BTreeMap<String, BTreeSet<String>> = packages
        .iter()
        .map(|p| (p.clone(), BTreeSet::new()))
        .collect();
    for binary in binaries {
        out.entry(binary.package.clone())
            .or_default()
            .insert(binary.name.clone());
    }
    out
}

/// The Lambda binaries whose `main` starts the identity service, each with whether it opens
/// sealed keys (a full service) or only verifies.
fn identity_binaries() -> BTreeMap<String, bool> {
    function_targets()
        .1
        .iter()
        .filter_map(|b| {
            let source = std::fs::read_to_string(&b.source)
                .unwrap_or_else(|e| panic!("read {}: {e}", b.source.display()));
            let full = source.contains(STARTS_IDENTITY);
            (full || source.contains(STARTS_VERIFIER)).then(|| (b.name.clone(), full))
        })
        .collect()
}

/// The Lambda binaries whose crate sends to the events queue (its sources name
/// `events_queue()`): they need its URL and permission to send.
fn event_reporters() -> BTreeSet<String> {
    binaries_mentioning("events_queue()")
}

/// The Lambda binaries whose crate queues report jobs (`reports_queue()`).
fn report_queuers() -> BTreeSet<String> {
    binaries_mentioning("reports_queue()")
}

fn binaries_mentioning(needle: &str) -> BTreeSet<String> {
    fn mentions(dir: &Path, needle: &str) -> bool {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|entry| {
                let path = entry.path();
                if path.is_dir() {
                    mentions(&path, needle)
                } else {
                    path.extension().is_some_and(|e| e == "rs")
                        && std::fs::read_to_string(&path).is_ok_and(|s| s.contains(needle))
                }
            })
    }
    function_targets()
        .1
        .iter()
        .filter(|b| {
            let src = b
                .source
                .ancestors()
                .find(|a| a.ends_with("src"))
                .expect("a binary's source is under src/");
            mentions(src, needle)
        })
        .map(|b| b.name.clone())
        .collect()
}

/// The function resource built from `binary`.
fn function_of(binary: &str) -> (&'static str, &'static Value) {
    resources_of("AWS::Serverless::Function")
        .into_iter()
        .find(|(_, f)| f["Metadata"]["BuildProperties"]["Binary"] == binary)
        .unwrap_or_else(|| panic!("no function resource builds {binary}"))
}

#[test]
fn every_function_crate_has_a_resource_and_vice_versa() {
    let by_package = function_binaries();
    // Every crate directory is a workspace member cargo knows about.
    let dirs: BTreeSet<String> = std::fs::read_dir(repo_root().join("functions"))
        .expect("read functions/")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        dirs.len(),
        by_package.len(),
        "crates in functions/ {dirs:?} vs workspace packages there {:?}",
        by_package.keys().collect::<Vec<_>>()
    );
    for (package, bins) in &by_package {
        assert!(!bins.is_empty(), "{package} has no binary target");
    }
    let lambdas: BTreeSet<String> = by_package
        .values()
        .flatten()
        .filter(|bin| bin.as_str() != EMBEDDED_BINARY)
        .cloned()
        .collect();
    assert!(
        by_package.values().flatten().any(|b| b == EMBEDDED_BINARY),
        "the embedded binary {EMBEDDED_BINARY:?} is gone: update EMBEDDED_BINARY"
    );

    let mut in_template = BTreeSet::new();
    let mut problems = Vec::new();
    for (id, function) in resources_of("AWS::Serverless::Function") {
        let binary = function["Metadata"]["BuildProperties"]["Binary"].as_str();
        match binary {
            Some(b) => {
                if !in_template.insert(b.to_owned()) {
                    problems.push(format!("{id}: binary {b} is built by two resources"));
                }
            }
            None => problems.push(format!("{id}: no Metadata.BuildProperties.Binary")),
        }
        if function["Metadata"]["BuildMethod"] != "rust-cargolambda" {
            problems.push(format!(
                "{id}: Metadata.BuildMethod is not rust-cargolambda"
            ));
        }
        let expect = |name: &str, want: Value| {
            let got = function_property(function, name);
            (got != Some(&want)).then(|| format!("{id}: {name} is {got:?}, want {want}"))
        };
        problems.extend(expect("Runtime", "provided.al2023".into()));
        problems.extend(expect("Handler", "bootstrap".into()));
        problems.extend(expect("Architectures", serde_json::json!(["arm64"])));
        if function_property(function, "LoggingConfig").map(|l| &l["LogFormat"])
            != Some(&Value::from("JSON"))
        {
            problems.push(format!("{id}: LoggingConfig.LogFormat is not JSON"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(
        lambdas,
        in_template,
        "Lambda binaries in functions/ vs function resources in template.yaml: {}",
        differences("functions/", &lambdas, "template.yaml", &in_template)
    );
}

#[test]
fn functions_get_the_environment_the_code_reads() {
    let globals = &template()["Globals"]["Function"]["Environment"]["Variables"];
    let identity = identity_binaries();
    assert!(
        identity.get(API_BINARY) == Some(&true) && identity.get(AUTHORIZER_BINARY) == Some(&false),
        "the api starts the identity service with {STARTS_IDENTITY}..) and the authorizer \
         with {STARTS_VERIFIER}..): {identity:?}"
    );
    let reporters = event_reporters();
    assert!(
        reporters.contains("mvidarr-api") && reporters.contains("mvidarr-upload-trigger"),
        "{reporters:?}"
    );
    let report_queuers = report_queuers();
    assert!(
        report_queuers.contains("mvidarr-api") && report_queuers.contains("mvidarr-report-jobs"),
        "{report_queuers:?}"
    );
    let mut problems = Vec::new();
    let mut issuers = BTreeMap::new();
    for (id, function) in resources_of("AWS::Serverless::Function") {
        let own = &function["Properties"]["Environment"]["Variables"];
        let value = |name: &str| own.get(name).or_else(|| globals.get(name));
        let has = |name: &str| value(name).is_some();
        let binary = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_default();
        let trigger = binary == "mvidarr-upload-trigger";
        if let Some(&full) = identity.get(binary) {
            // A verifier opens no sealed key: it needs no key service.
            let needed: &[&str] = if full {
                &["TOKEN_ISSUER", "KMS_KEY_ID"]
            } else {
                &["TOKEN_ISSUER"]
            };
            for name in needed {
                if !has(name) {
                    problems.push(format!("{id}: no {name} (it starts the identity service)"));
                }
            }
        } else if has("TOKEN_ISSUER") {
            problems.push(format!(
                "{id}: TOKEN_ISSUER given to a function that does not start the identity service"
            ));
        }
        if let Some(issuer) = value("TOKEN_ISSUER") {
            issuers.insert(id, issuer);
        }
        for name in ["MEDIA_BUCKET", "TABLE_NAME", "RUST_LOG"] {
            if !has(name) {
                problems.push(format!("{id}: no {name}"));
            }
        }
        let reports = reporters.contains(binary);
        if has("EVENTS_QUEUE_URL") != reports {
            problems.push(format!(
                "{id}: EVENTS_QUEUE_URL {}",
                if reports {
                    "missing (its code reports analytics events)"
                } else {
                    "given to a function that reports no events"
                }
            ));
        }
        let may_send_to = |queue: &str| {
            function["Properties"]["Policies"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| {
                    get_att(&p["SQSSendMessagePolicy"]["QueueName"], "QueueName") == Some(queue)
                })
        };
        let may_send = may_send_to("EventsQueue");
        if may_send != reports {
            problems.push(format!(
                "{id}: may send to the events queue: {may_send}, reports events: {reports}"
            ));
        }
        let queues_reports = report_queuers.contains(binary);
        if has("REPORTS_QUEUE_URL") != queues_reports
            || may_send_to("ReportsQueue") != queues_reports
        {
            problems.push(format!(
                "{id}: REPORTS_QUEUE_URL given: {}, may send to the reports queue: {}, its code queues report jobs: {queues_reports}",
                has("REPORTS_QUEUE_URL"),
                may_send_to("ReportsQueue"),
            ));
        }
        for name in ["INGEST_QUEUE_URL", "STATE_MACHINE_ARN"] {
            if has(name) != trigger {
                problems.push(format!(
                    "{id}: {name} {}",
                    if trigger {
                        "missing"
                    } else {
                        "given to a function that is not the upload-trigger"
                    }
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // Tokens the api signs are verified by the authorizer: one issuer for both.
    let distinct: BTreeSet<String> = issuers.values().map(|v| v.to_string()).collect();
    assert_eq!(
        distinct.len(),
        1,
        "every function must get the same TOKEN_ISSUER: {issuers:#?}"
    );
}

#[test]
fn every_queue_has_a_dead_letter_queue_with_an_alarm() {
    let queues = resources_of("AWS::SQS::Queue");
    let dead_letter: BTreeSet<&str> = queues
        .values()
        .filter_map(|q| {
            get_att(
                &q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"],
                "Arn",
            )
        })
        .collect();
    let alarmed: BTreeSet<&str> = resources_of("AWS::CloudWatch::Alarm")
        .values()
        .filter(|a| {
            let p = &a["Properties"];
            p["Namespace"] == "AWS/SQS"
                && p["MetricName"] == "ApproximateNumberOfMessagesVisible"
                && p["ComparisonOperator"] == "GreaterThanThreshold"
                && p["Threshold"].as_f64() == Some(0.0)
        })
        .flat_map(|a| {
            a["Properties"]["Dimensions"]
                .as_array()
                .into_iter()
                .flatten()
        })
        .filter(|d| d["Name"] == "QueueName")
        .filter_map(|d| get_att(&d["Value"], "QueueName"))
        .collect();
    let mut problems = Vec::new();
    for (id, queue) in &queues {
        let p = &queue["Properties"];
        if p["SqsManagedSseEnabled"] != true && p.get("KmsMasterKeyId").is_none() {
            problems.push(format!("{id}: not encrypted"));
        }
        if dead_letter.contains(id) {
            if !alarmed.contains(id) {
                problems.push(format!(
                    "{id}: dead-letter queue without an ApproximateNumberOfMessagesVisible > 0 alarm"
                ));
            }
            continue;
        }
        match get_att(&p["RedrivePolicy"]["deadLetterTargetArn"], "Arn") {
            Some(dlq) if queues.contains_key(dlq) => {}
            other => problems.push(format!(
                "{id}: dead-letter target {other:?} is not a queue here"
            )),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // SQS event sources: the queue's visibility timeout is at least 6x the consumer's timeout.
    for (id, function) in resources_of("AWS::Serverless::Function") {
        let events = function["Properties"]["Events"].as_object();
        for event in events.into_iter().flat_map(|e| e.values()) {
            if event["Type"] != "SQS" {
                continue;
            }
            let queue_id = get_att(&event["Properties"]["Queue"], "Arn")
                .unwrap_or_else(|| panic!("{id}: SQS event queue is not a GetAtt of a queue"));
            let visibility = queues[queue_id]["Properties"]["VisibilityTimeout"]
                .as_u64()
                .unwrap_or(30);
            let timeout = function_property(function, "Timeout")
                .and_then(Value::as_u64)
                .unwrap_or(3);
            assert!(
                visibility >= 6 * timeout,
                "{queue_id}: VisibilityTimeout {visibility} < 6 x {id}'s Timeout {timeout}"
            );
        }
    }
}

#[test]
fn state_machine_placeholders_are_all_substituted() {
    let in_definition = placeholders(&pipeline_text());
    let properties = state_machine_properties();
    let substitutions = properties["DefinitionSubstitutions"]
        .as_object()
        .expect("the state machine has DefinitionSubstitutions");
    let substituted: BTreeSet<String> = substitutions.keys().cloned().collect();
    assert_eq!(
        in_definition,
        substituted,
        "placeholders vs DefinitionSubstitutions: {}",
        differences(
            "infra/pipeline.asl.json",
            &in_definition,
            "DefinitionSubstitutions",
            &substituted
        )
    );

    let functions = resources_of("AWS::Serverless::Function");
    let mut targets = BTreeSet::new();
    for (name, value) in substitutions {
        let function = get_att(value, "Arn")
            .unwrap_or_else(|| panic!("{name} is {value}, not !GetAtt <Function>.Arn"));
        assert!(
            functions.contains_key(function),
            "{name} names {function}, which is not an AWS::Serverless::Function here \
             (functions: {:?})",
            functions.keys().collect::<Vec<_>>()
        );
        targets.insert(function);
    }

    // The state machine may invoke exactly those functions.
    let mut invocable = BTreeSet::new();
    for policy in properties["Policies"].as_array().into_iter().flatten() {
        for statement in policy["Statement"].as_array().into_iter().flatten() {
            let actions = match &statement["Action"] {
                Value::Array(a) => a.clone(),
                one => vec![one.clone()],
            };
            if !actions.iter().any(|a| a == "lambda:InvokeFunction") {
                continue;
            }
            for resource in statement["Resource"].as_array().into_iter().flatten() {
                if let Some(id) = get_att(resource, "Arn") {
                    invocable.insert(id);
                } else if let Some(sub) = resource["Fn::Sub"].as_str() {
                    let id = sub
                        .strip_prefix("${")
                        .and_then(|s| s.split_once(".Arn}"))
                        .map(|(id, _)| id)
                        .unwrap_or_else(|| panic!("unexpected invoke resource {resource}"));
                    invocable.insert(id);
                } else {
                    panic!("unexpected invoke resource {resource}");
                }
            }
        }
    }
    assert_eq!(
        targets,
        invocable,
        "substituted functions vs functions the state machine may invoke: {}",
        differences("DefinitionSubstitutions", &targets, "Policies", &invocable)
    );
}

/// The registered task names in functions/mvidarr/src/workers.rs `task_registry`. The tests
/// crate cannot link the `mvidarr` crate (it is a dev-dependency of that crate), so read it.
fn registered_tasks() -> BTreeSet<String> {
    let source = std::fs::read_to_string(repo_root().join("functions/mvidarr/src/workers.rs"))
        .expect("read functions/mvidarr/src/workers.rs");
    let start = source
        .find("pub fn task_registry")
        .expect("workers.rs has task_registry");
    let body = &source[start..];
    let body = &body[..body.find("\n}\n").map_or(body.len(), |e| e + 2)];
    body.split(".register(\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').expect("a closing quote")].to_owned())
        .collect()
}

/// Follows Pass states from `state` to the first state of another kind.
fn through_passes<'a>(machine: &'a StateMachine, mut state: &'a str) -> &'a str {
    for _ in 0..=machine.states.len() {
        match machine.states.get(state) {
            Some(State::Pass(p)) => state = p.next.as_deref().expect("a Pass state with Next"),
            Some(_) => return state,
            None => panic!("no state {state}"),
        }
    }
    panic!("a loop of Pass states through {state}");
}

#[test]
fn asl_tasks_match_the_local_runner() {
    let machine = pipeline();
    let tasks: BTreeMap<&str, &TaskState> = machine
        .states
        .iter()
        .filter_map(|(name, s)| match s {
            State::Task(t) => Some((name.as_str(), t)),
            _ => None,
        })
        .collect();

    // The happy path is the step list; every step retries Transient and catches everything
    // into the one failure handler.
    let steps: Vec<&str> = machine.happy_path().iter().map(|(n, _)| *n).collect();
    assert_eq!(steps, ["Analyze", "Tag", "Index"], "the pipeline's steps");
    let mut problems = Vec::new();
    let mut handlers = BTreeSet::new();
    for step in &steps {
        let task = tasks[step];
        if !task
            .retry
            .iter()
            .any(|r| r.error_equals.iter().any(|e| e == TRANSIENT) && r.max_attempts > 0)
        {
            problems.push(format!("{step}: no retrier for {TRANSIENT}"));
        }
        match task
            .catch
            .iter()
            .find(|c| c.error_equals.iter().any(|e| e == ALL_ERRORS))
        {
            Some(c) => {
                handlers.insert(through_passes(&machine, &c.next));
            }
            None => problems.push(format!("{step}: no catcher for {ALL_ERRORS}")),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(
        handlers,
        BTreeSet::from(["MarkFailed"]),
        "every step's catcher must lead (through Pass states) to MarkFailed"
    );
    // The failure handler keeps trying (it records the failure), then the execution fails.
    let mark_failed = tasks["MarkFailed"];
    assert!(
        mark_failed.retry.iter().any(|r| r
            .error_equals
            .iter()
            .any(|e| e == ALL_ERRORS || e == TRANSIENT)),
        "MarkFailed does not retry"
    );
    let after = through_passes(
        &machine,
        mark_failed.next.as_deref().expect("MarkFailed has Next"),
    );
    assert!(
        matches!(machine.states[after], State::Fail { .. }),
        "MarkFailed leads to {after}, not a Fail state"
    );
    // Every task state is a step or the failure handler.
    let reachable: BTreeSet<&str> = steps.iter().copied().chain(handlers).collect();
    let all: BTreeSet<&str> = tasks.keys().copied().collect();
    assert_eq!(
        all,
        reachable,
        "{}",
        differences("Task states", &all, "steps + MarkFailed", &reachable)
    );

    // The embedded runner registers a handler under each task's placeholder name, and the
    // template substitutes the same names.
    let resources: BTreeSet<String> = tasks
        .values()
        .map(|t| placeholder_of(t).to_owned())
        .collect();
    let registered = registered_tasks();
    assert_eq!(
        resources,
        registered,
        "task resources vs the local runner's task_registry: {}",
        differences(
            "infra/pipeline.asl.json",
            &resources,
            "functions/mvidarr/src/workers.rs",
            &registered
        )
    );
    let substituted: BTreeSet<String> = state_machine_properties()["DefinitionSubstitutions"]
        .as_object()
        .map(|s| s.keys().cloned().collect())
        .unwrap_or_default();
    assert_eq!(
        resources,
        substituted,
        "task resources vs the template's DefinitionSubstitutions: {}",
        differences(
            "infra/pipeline.asl.json",
            &resources,
            "template.yaml",
            &substituted
        )
    );
}

#[test]
fn the_table_has_the_adapters_keys_index_and_ttl_attribute() {
    let tables = resources_of("AWS::DynamoDB::Table");
    let [(id, table)] = tables.into_iter().collect::<Vec<_>>()[..] else {
        panic!("one DynamoDB table in the template");
    };
    let properties = &table["Properties"];
    let key_schema = |schema: &Value| -> Vec<(String, String)> {
        schema
            .as_array()
            .unwrap_or_else(|| panic!("{id}: a KeySchema list"))
            .iter()
            .map(|k| (k["AttributeName"].to_string(), k["KeyType"].to_string()))
            .collect()
    };
    let pair = |name: &str, kind: &str| (format!("{name:?}"), format!("{kind:?}"));
    assert_eq!(
        key_schema(&properties["KeySchema"]),
        [pair(TABLE_PK, "HASH"), pair(TABLE_SK, "RANGE")],
        "{id}: table keys"
    );
    let [index] = properties["GlobalSecondaryIndexes"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    else {
        panic!("{id}: one global secondary index");
    };
    assert_eq!(index["IndexName"], GSI1_NAME, "{id}");
    assert_eq!(
        key_schema(&index["KeySchema"]),
        [pair(GSI1_PK, "HASH"), pair(GSI1_SK, "RANGE")],
        "{id}: index keys"
    );
    // The adapter hides expired items itself; TTL is what finally deletes them.
    let ttl = &properties["TimeToLiveSpecification"];
    assert_eq!(ttl["AttributeName"], EXPIRES_AT, "{id}: TTL attribute");
    assert_eq!(ttl["Enabled"], true, "{id}: TTL enabled");
}

/// The logical ids a template value refers to: `Ref`, `Fn::GetAtt` and `${Id}` / `${Id.Att}`
/// in `Fn::Sub` (pseudo parameters, `${AWS::…}`, are not resources).
fn referenced_ids(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("Ref", Value::String(id)) => {
                        out.insert(id.clone());
                    }
                    ("Fn::GetAtt", Value::Array(pair)) => {
                        out.extend(pair.first().and_then(Value::as_str).map(str::to_owned));
                    }
                    ("Fn::Sub", Value::String(text)) => {
                        out.extend(sub_ids(text));
                    }
                    ("Fn::Sub", Value::Array(parts)) => {
                        if let Some(text) = parts.first().and_then(Value::as_str) {
                            out.extend(sub_ids(text));
                        }
                        parts.iter().skip(1).for_each(|v| referenced_ids(v, out));
                    }
                    _ => referenced_ids(inner, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| referenced_ids(v, out)),
        _ => {}
    }
}

fn sub_ids(text: &str) -> impl Iterator<Item = String> {
    placeholders(text)
        .into_iter()
        .filter(|p| !p.starts_with('!') && !p.starts_with("AWS::"))
        .map(|p| p.split('.').next().unwrap_or_default().to_owned())
}

/// The API's routes integrate the api function and its authorizer is the auth function, so the
/// API depends on both: a function that referred to the API (say, for its URL as the token
/// issuer) would be a dependency cycle CloudFormation refuses. Only an event's `ApiId` may name it.
#[test]
fn no_function_refers_to_the_http_api() {
    let apis = resources_of("AWS::Serverless::HttpApi");
    assert!(!apis.is_empty(), "the template has an HTTP API");
    let mut problems = Vec::new();
    for (id, function) in resources_of("AWS::Serverless::Function") {
        let mut outside_events = function.clone();
        if let Some(properties) = outside_events["Properties"].as_object_mut() {
            properties.remove("Events");
        }
        let mut ids = BTreeSet::new();
        referenced_ids(&outside_events, &mut ids);
        referenced_ids(&template()["Globals"]["Function"], &mut ids);
        for api in apis.keys().filter(|api| ids.contains(**api)) {
            problems.push(format!("{id} refers to {api}: a dependency cycle"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The statements of a function's `Policies`; SAM policy templates (`DynamoDBCrudPolicy`…)
/// are returned by name.
fn policy_statements(function: &Value) -> (Vec<&Value>, Vec<String>) {
    let mut statements = Vec::new();
    let mut templates = Vec::new();
    for policy in function["Properties"]["Policies"]
        .as_array()
        .into_iter()
        .flatten()
    {
        match policy.get("Statement") {
            Some(Value::Array(list)) => statements.extend(list),
            Some(one) => statements.push(one),
            None => templates.extend(
                policy
                    .as_object()
                    .into_iter()
                    .flat_map(|o| o.keys().cloned()),
            ),
        }
    }
    (statements, templates)
}

fn actions(statement: &Value) -> Vec<&str> {
    match &statement["Action"] {
        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
        one => one.as_str().into_iter().collect(),
    }
}

/// Blob reads each function's code makes, as the object keys it reads (`keys::blob`): the
/// function's policies must allow `s3:GetObject` on a resource pattern covering each. Without
/// it S3 answers AccessDenied, which the code takes as a permanent error (a tag silently
/// missing, a training run failing every hour), and no local test would notice.
const BLOB_READS: &[(&str, &[&str])] = &[
    (
        "mvidarr-tag",
        &[
            "t/T/models/tags/live/000001-0123456789abcdef.bin",
            "t/T/media/M/fingerprint.json",
        ],
    ),
    (
        "mvidarr-recommend",
        &[
            "t/T/models/reco/000001-0123456789abcdef.bin",
            "t/T/models/tags/live/000001-0123456789abcdef.bin",
        ],
    ),
];

/// Whether an IAM resource pattern (`*` any run of characters) matches `key`.
fn covers(pattern: &str, key: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = parts.split_first().expect("split yields one part at least");
    let Some(mut tail) = key.strip_prefix(first) else {
        return false;
    };
    for (i, part) in rest.iter().enumerate() {
        if i == rest.len() - 1 {
            return tail.ends_with(part);
        }
        match tail.find(part) {
            Some(at) => tail = &tail[at + part.len()..],
            None => return false,
        }
    }
    tail.is_empty()
}

#[test]
fn functions_may_read_the_objects_their_code_reads() {
    let mut problems = Vec::new();
    for (binary, keys) in BLOB_READS {
        let (id, function) = function_of(binary);
        let (statements, _) = policy_statements(function);
        let patterns: Vec<String> = statements
            .iter()
            .filter(|s| s["Effect"] == "Allow" && actions(s).contains(&"s3:GetObject"))
            .flat_map(|s| match &s["Resource"] {
                Value::Array(list) => list.clone(),
                one => vec![one.clone()],
            })
            .filter_map(|r| r["Fn::Sub"].as_str().map(str::to_owned))
            .filter_map(|r| r.strip_prefix("${MediaBucket.Arn}/").map(str::to_owned))
            .collect();
        for key in *keys {
            if !patterns.iter().any(|p| covers(p, key)) {
                problems.push(format!("{id} ({binary}) may not read {key}: {patterns:?}"));
            }
        }
    }
    assert!(covers("t/*/models/*", "t/T/models/reco/x.bin"));
    assert!(!covers("t/*/models/tags/*", "t/T/models/reco/x.bin"));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_http_api_authorizes_with_the_auth_function_cached_per_credential() {
    let (authorizer_id, authorizer_function) = function_of(AUTHORIZER_BINARY);
    let apis = resources_of("AWS::Serverless::HttpApi");
    assert_eq!(apis.len(), 1, "one HTTP API: {:?}", apis.keys());
    let (api_id, api) = apis.into_iter().next().expect("an HTTP API");
    let auth = &api["Properties"]["Auth"];
    let default = auth["DefaultAuthorizer"]
        .as_str()
        .unwrap_or_else(|| panic!("{api_id}: no Auth.DefaultAuthorizer"));
    let authorizer = &auth["Authorizers"][default];
    assert_eq!(
        get_att(&authorizer["FunctionArn"], "Arn"),
        Some(authorizer_id),
        "{api_id}: the default authorizer is {authorizer_id}"
    );
    assert_eq!(authorizer["AuthorizerPayloadFormatVersion"], "2.0");
    assert_eq!(
        authorizer["EnableSimpleResponses"], true,
        "the function answers {{isAuthorized, context}}"
    );
    assert_eq!(
        authorizer["EnableFunctionDefaultPermissions"], true,
        "without it API Gateway may not invoke the authorizer"
    );
    // The answer depends on the credential alone, so it is cached under it alone.
    let identity = &authorizer["Identity"];
    assert_eq!(identity["Headers"], serde_json::json!(["Authorization"]));
    for source in ["QueryStrings", "StageVariables", "Context"] {
        assert!(
            identity.get(source).is_none(),
            "{api_id}: {source} in the identity"
        );
    }
    let ttl = identity["ReauthorizeEvery"].as_u64().unwrap_or(0);
    assert!(
        (1..=3600).contains(&ttl),
        "{api_id}: ReauthorizeEvery {ttl} (HTTP APIs cache 1–3600 s)"
    );

    // It faces every credential sent to the API: it may read the table, nothing else.
    let (statements, templates) = policy_statements(authorizer_function);
    assert!(
        templates.is_empty(),
        "{authorizer_id}: policy templates grant more than reads: {templates:?}"
    );
    let granted: BTreeSet<&str> = statements.iter().flat_map(|s| actions(s)).collect();
    assert_eq!(
        granted,
        BTreeSet::from(["dynamodb:GetItem", "dynamodb:Query"]),
        "{authorizer_id}: its actions"
    );
}

/// The routes the API declares `Public` are exactly the template's routes without the
/// authorizer: a new public route without its own event would be refused by API Gateway, and
/// an event opening any other route would skip the authorizer.
#[test]
fn exactly_the_apis_public_routes_skip_the_authorizer() {
    let public: BTreeSet<(String, String)> = route_table::<LocalPlatform>()
        .into_iter()
        .filter(|r| r.access == Access::Public)
        .map(|r| (r.method.as_str().to_owned(), r.path.to_owned()))
        .collect();
    assert!(
        public.contains(&("GET".into(), "/healthz".into())),
        "{public:?}"
    );

    let (api_function, _) = function_of(API_BINARY);
    let mut unauthorized = BTreeSet::new();
    let mut problems = Vec::new();
    for (id, function) in resources_of("AWS::Serverless::Function") {
        let events = function["Properties"]["Events"].as_object();
        for (name, event) in events.into_iter().flatten() {
            if event["Type"] != "HttpApi" {
                continue;
            }
            let properties = &event["Properties"];
            match properties["Auth"]["Authorizer"].as_str() {
                None => {}
                Some("NONE") if id == api_function => {
                    let method = properties["Method"].as_str().unwrap_or("ANY");
                    let path = properties["Path"].as_str().unwrap_or_default();
                    if !unauthorized.insert((method.to_ascii_uppercase(), path.to_owned())) {
                        problems.push(format!("{id}.{name}: {method} {path} twice"));
                    }
                }
                Some(other) => problems.push(format!(
                    "{id}.{name}: Auth.Authorizer {other:?} (only the api's public routes \
                     override the default authorizer, with NONE)"
                )),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(
        public,
        unauthorized,
        "Public routes vs events with Authorizer: NONE: {}",
        differences(
            "route_table (Access::Public)",
            &public,
            "template.yaml",
            &unauthorized
        )
    );
}

#[test]
fn the_bucket_notifies_the_same_keys_as_the_local_blob_store() {
    let bucket = &resources()["MediaBucket"]["Properties"];
    let configs = bucket["NotificationConfiguration"]["QueueConfigurations"]
        .as_array()
        .expect("queue notifications");
    assert_eq!(configs.len(), 1);
    let rules = configs[0]["Filter"]["S3Key"]["Rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert_eq!(rules[0]["Name"], "prefix");
    // `LocalPlatform` filters its notifications on this prefix; the analytics events files
    // (under `analytics/`) must notify neither.
    assert_eq!(
        rules[0]["Value"],
        mvidarr_core::keys::blob::TENANT_KEYS_PREFIX
    );
    assert!(
        !mvidarr_core::keys::blob::ANALYTICS_EVENTS_PREFIX
            .starts_with(mvidarr_core::keys::blob::TENANT_KEYS_PREFIX)
    );
}
