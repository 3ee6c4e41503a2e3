//! `examples/provisioning/`: the Express state machine that provisions a new organization's
//! secrets by invoking the function directly, and the SAM template that deploys it.
//!
//! The definition and the template are checked as documents: every transition (in the
//! per-secret Map too), the `Retry` and `Catch` of every Task that invokes the function, the
//! logging and IAM of the template, and the EventBridge rule. Then the payload the
//! definition sends is filled in with sample values and sent to the real handler, with
//! DynamoDB Local behind it: it must be taken as a direct invocation and create the secret.
//! `make lint` also validates the definition with `asl-validator` (scripts/validate-asl.sh).

use std::collections::{BTreeMap, BTreeSet};

use lambda_http::lambda_runtime::Context;
use org_secrets::event::{parse_event, Caller};
use serde_json::{json, Map, Value};

use crate::support::{project_path, yaml_file};

const DEFINITION: &str = "examples/provisioning/statemachine.asl.json";
const TEMPLATE: &str = "examples/provisioning/template.yaml";
const MAIN_TEMPLATE: &str = "template.yaml";

/// The only error code another attempt can fix.
const RETRYABLE_CODE: &str = "storage_unavailable";
/// Every other code a failed direct invocation can end with.
const FINAL_CODES: [&str; 12] = [
    "secret_name_taken",
    "idempotency_key_reused",
    "secret_limit_reached",
    "validation_error",
    "not_authenticated",
    "insufficient_permissions",
    "secret_not_found",
    "malformed_event",
    "route_not_found",
    "method_not_allowed",
    "unsupported_media_type",
    "internal_error",
];
/// Lambda's own transient errors, as Step Functions names them.
const LAMBDA_TRANSIENT: [&str; 5] = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
];

// ---------------------------------------------------------------------------------------
// Reading the files
// ---------------------------------------------------------------------------------------

fn read(relative: &str) -> String {
    std::fs::read_to_string(project_path(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

fn definition_as_written() -> Value {
    serde_json::from_str(&read(DEFINITION)).unwrap_or_else(|e| panic!("{DEFINITION}: {e}"))
}

/// `${Name}` placeholders, as DefinitionSubstitutions fills them.
fn placeholders(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after.find('}').expect("a placeholder is closed");
        found.insert(after[..end].to_owned());
        rest = &after[end + 1..];
    }
    found
}

const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:org-secrets-secrets";
const WORKFLOW: &str = "org-onboarding";
const RESULT_SOURCE: &str = "com.example.org-secrets.provisioning";

/// What a deployment with the template's defaults substitutes.
fn substitutions() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        ("SecretsFunctionArn", FUNCTION_ARN),
        ("WorkflowName", WORKFLOW),
        ("OrgIdClaim", "org_id"),
        ("PermissionsClaim", "permissions"),
        ("SubjectClaim", "sub"),
        ("EventBusName", "default"),
        ("ResultEventSource", RESULT_SOURCE),
    ])
}

fn definition_with(substitutions: &BTreeMap<&str, &str>) -> Value {
    let mut text = read(DEFINITION);
    for (name, value) in substitutions {
        text = text.replace(&format!("${{{name}}}"), value);
    }
    let left = placeholders(&text);
    assert!(left.is_empty(), "placeholders without a value: {left:?}");
    serde_json::from_str(&text).expect("the substituted definition is JSON")
}

fn cloudformation(relative: &str) -> Value {
    yaml_file(&project_path(relative))
}

fn resources_of_type<'a>(template: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    template["Resources"]
        .as_object()
        .expect("Resources")
        .iter()
        .filter(|(_, resource)| resource["Type"] == kind)
        .map(|(name, resource)| (name.as_str(), resource))
        .collect()
}

fn one_resource_of_type<'a>(template: &'a Value, kind: &str) -> (&'a str, &'a Value) {
    let found = resources_of_type(template, kind);
    assert_eq!(found.len(), 1, "one {kind} expected: {found:?}");
    found[0]
}

/// The logical id behind `!GetAtt Id.Arn` or `!Ref Id`.
fn referenced_resource(value: &Value) -> &str {
    if let Some(name) = value["Ref"].as_str() {
        return name;
    }
    match &value["Fn::GetAtt"] {
        Value::String(text) => text.split('.').next().expect("GetAtt target"),
        Value::Array(parts) => parts[0].as_str().expect("GetAtt target"),
        other => panic!("not a reference to a resource: {value} ({other})"),
    }
}

// ---------------------------------------------------------------------------------------
// The definition as a document
// ---------------------------------------------------------------------------------------

struct Scope<'a> {
    name: String,
    start_at: &'a str,
    states: &'a Map<String, Value>,
}

/// The top level and every nested state machine (Map processors, Parallel branches).
fn scopes(machine: &Value) -> Vec<Scope<'_>> {
    fn collect<'a>(machine: &'a Value, name: String, out: &mut Vec<Scope<'a>>) {
        let start_at = machine["StartAt"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no StartAt"));
        let states = machine["States"]
            .as_object()
            .unwrap_or_else(|| panic!("{name}: no States"));
        out.push(Scope {
            name: name.clone(),
            start_at,
            states,
        });
        for (state_name, state) in states {
            match state["Type"].as_str() {
                Some("Map") => {
                    let processor = state
                        .get("ItemProcessor")
                        .or_else(|| state.get("Iterator"))
                        .unwrap_or_else(|| panic!("{state_name}: a Map without ItemProcessor"));
                    collect(processor, format!("{name} > {state_name}"), out);
                }
                Some("Parallel") => {
                    let branches = state["Branches"].as_array().expect("Branches");
                    for (index, branch) in branches.iter().enumerate() {
                        collect(branch, format!("{name} > {state_name}[{index}]"), out);
                    }
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    collect(machine, "top level".to_owned(), &mut out);
    out
}

fn all_states(machine: &Value) -> Vec<(&str, &Value)> {
    scopes(machine)
        .into_iter()
        .flat_map(|scope| scope.states.iter().map(|(n, s)| (n.as_str(), s)))
        .collect()
}

fn transitions(state: &Value) -> Vec<&str> {
    let mut next = Vec::new();
    for field in ["Next", "Default"] {
        if let Some(name) = state.get(field) {
            next.push(name.as_str().expect("a state name"));
        }
    }
    for list in ["Choices", "Catch"] {
        for rule in state
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = rule["Next"].as_str();
            next.push(name.unwrap_or_else(|| panic!("a {list} entry without Next: {rule}")));
        }
    }
    next
}

fn error_names(rule: &Value) -> Vec<&str> {
    rule["ErrorEquals"]
        .as_array()
        .unwrap_or_else(|| panic!("no ErrorEquals: {rule}"))
        .iter()
        .map(|e| e.as_str().expect("an error name"))
        .collect()
}

fn invokes_of_the_function(machine: &Value) -> Vec<(&str, &Value)> {
    all_states(machine)
        .into_iter()
        .filter(|(_, state)| {
            state["Type"] == "Task"
                && state["Resource"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("arn:aws:states:::lambda:invoke"))
        })
        .collect()
}

#[test]
fn every_transition_names_a_state_of_its_scope_and_every_state_is_reachable() {
    let machine = definition_as_written();
    let scopes = scopes(&machine);
    assert!(
        scopes.len() >= 2,
        "the per-secret Map's own states must be walked too"
    );
    for scope in &scopes {
        let here = &scope.name;
        assert!(
            scope.states.contains_key(scope.start_at),
            "{here}: StartAt {} is not a state",
            scope.start_at
        );
        for (name, state) in scope.states {
            for next in transitions(state) {
                assert!(
                    scope.states.contains_key(next),
                    "{here}: {name} goes to {next}, which is not a state of this scope"
                );
            }
            let ends = state.get("End") == Some(&Value::Bool(true));
            let has_next = state.get("Next").is_some();
            match state["Type"].as_str() {
                Some("Choice") => {
                    assert!(
                        !ends && !has_next,
                        "{name}: a Choice uses Choices and Default"
                    );
                    assert!(
                        state["Choices"].as_array().is_some_and(|c| !c.is_empty()),
                        "{name}: no Choices"
                    );
                    assert!(
                        state.get("Default").is_some(),
                        "{name}: without Default, an unmatched input fails the execution"
                    );
                }
                Some("Succeed" | "Fail") => assert!(!ends && !has_next, "{name}"),
                Some("Pass" | "Task" | "Map" | "Parallel" | "Wait") => {
                    assert!(ends != has_next, "{name}: exactly one of Next and End")
                }
                other => panic!("{name}: unknown state type {other:?}"),
            }
        }
        let mut seen = BTreeSet::new();
        let mut queue = vec![scope.start_at];
        while let Some(name) = queue.pop() {
            if seen.insert(name) {
                queue.extend(transitions(&scope.states[name]));
            }
        }
        let unreachable: Vec<&String> = scope
            .states
            .keys()
            .filter(|name| !seen.contains(name.as_str()))
            .collect();
        assert!(
            unreachable.is_empty(),
            "{here}: unreachable {unreachable:?}"
        );
    }
}

#[test]
fn every_invoke_of_the_function_retries_what_is_transient_and_catches_the_rest() {
    let machine = definition_as_written();
    let invokes = invokes_of_the_function(&machine);
    assert!(!invokes.is_empty(), "no Task invokes the function");
    let main = cloudformation(MAIN_TEMPLATE);
    let function_timeout = main["Resources"]["SecretsFunction"]["Properties"]["Timeout"]
        .as_u64()
        .expect("the main stack's function has a Timeout");
    for (name, task) in invokes {
        assert_eq!(
            task["Resource"], "arn:aws:states:::lambda:invoke",
            "{name}: request-response, so a failure comes back to Catch"
        );
        let parameters = &task["Parameters"];
        assert_eq!(
            parameters["FunctionName"], "${SecretsFunctionArn}",
            "{name}"
        );
        assert!(
            parameters
                .get("InvocationType")
                .is_none_or(|t| t == "RequestResponse"),
            "{name}: an Event invoke would send failures, value included, to the function's \
             on-failure queue instead of this Catch"
        );
        let timeout = task["TimeoutSeconds"].as_u64().expect("TimeoutSeconds");
        assert!(
            timeout > function_timeout && timeout <= 60,
            "{name}: TimeoutSeconds {timeout} should let the function ({function_timeout} s) \
             answer first, and stay well inside the 5 minutes of an Express execution"
        );

        let retriers = task["Retry"].as_array().expect("Retry");
        let storage: Vec<&Value> = retriers
            .iter()
            .filter(|r| error_names(r).contains(&RETRYABLE_CODE))
            .collect();
        assert_eq!(storage.len(), 1, "{name}: one retrier for {RETRYABLE_CODE}");
        let storage = storage[0];
        assert_eq!(
            error_names(storage),
            [RETRYABLE_CODE],
            "{name}: its own retrier, so its attempts are its own"
        );
        assert!(storage["BackoffRate"].as_f64().is_some_and(|b| b > 1.0));
        assert!(storage["IntervalSeconds"].as_u64().is_some_and(|s| s >= 1));
        assert!(storage["MaxAttempts"]
            .as_u64()
            .is_some_and(|a| (1..=10).contains(&a)));
        assert_eq!(storage["JitterStrategy"], "FULL", "{name}");
        for error in LAMBDA_TRANSIENT {
            assert!(
                retriers.iter().any(|r| error_names(r).contains(&error)
                    && r["BackoffRate"].as_f64().is_some_and(|b| b > 1.0)
                    && r["MaxAttempts"]
                        .as_u64()
                        .is_some_and(|a| (1..=10).contains(&a))),
                "{name}: {error} is not retried with a bounded backoff"
            );
        }
        for retrier in retriers {
            for error in error_names(retrier) {
                assert!(
                    !FINAL_CODES.contains(&error)
                        && error != "States.ALL"
                        && error != "States.TaskFailed",
                    "{name}: retries {error}, which another attempt cannot fix"
                );
            }
        }

        let catchers = task["Catch"].as_array().expect("Catch");
        let last = catchers.last().expect("a catcher");
        assert_eq!(
            error_names(last),
            ["States.ALL"],
            "{name}: the last catcher takes everything the retriers gave up on"
        );
        let taken = catchers
            .iter()
            .position(|c| error_names(c).contains(&"secret_name_taken"))
            .expect("secret_name_taken has its own catcher");
        assert!(taken + 1 < catchers.len());
        assert_ne!(catchers[taken]["Next"], last["Next"], "{name}");

        // The body is built from one node, and the result and every catcher overwrite it.
        let node = task["ResultPath"]
            .as_str()
            .expect("a ResultPath that overwrites the node holding the value");
        assert!(node.starts_with("$.") && node != "$", "{name}: {node}");
        assert_eq!(
            parameters["Payload"]["body.$"],
            format!("States.JsonToString({node})"),
            "{name}: the body must come from the node the result overwrites"
        );
        assert!(
            task.get("ResultSelector").is_some(),
            "{name}: keep the status only"
        );
        for catcher in catchers {
            assert_eq!(
                catcher["ResultPath"].as_str(),
                Some(node),
                "{name}: a catcher that does not overwrite {node} passes the value on"
            );
        }
    }
}

#[test]
fn every_task_has_a_timeout() {
    let machine = definition_as_written();
    let tasks: Vec<_> = all_states(&machine)
        .into_iter()
        .filter(|(_, s)| s["Type"] == "Task")
        .collect();
    assert!(tasks.len() >= 4, "{}", tasks.len());
    for (name, task) in tasks {
        assert!(
            task["TimeoutSeconds"].as_u64().is_some_and(|t| t > 0),
            "{name}: a Task without TimeoutSeconds waits up to the execution's limit"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The template
// ---------------------------------------------------------------------------------------

#[test]
fn the_state_machine_is_express_and_never_logs_execution_data() {
    let template = cloudformation(TEMPLATE);
    let (_, machine) = one_resource_of_type(&template, "AWS::Serverless::StateMachine");
    let properties = &machine["Properties"];
    assert_eq!(
        properties["Type"], "EXPRESS",
        "a Standard workflow keeps every state's input and output, the value included, in its \
         execution history"
    );
    assert_eq!(properties["DefinitionUri"], "statemachine.asl.json");
    assert!(properties.get("Definition").is_none());

    let logging = &properties["Logging"];
    assert!(
        matches!(logging["Level"].as_str(), Some("ERROR" | "ALL")),
        "{logging}"
    );
    assert_eq!(
        logging["IncludeExecutionData"],
        Value::Bool(false),
        "execution data is the state input and output, the value included"
    );
    let destinations = logging["Destinations"].as_array().expect("Destinations");
    assert_eq!(destinations.len(), 1);
    let log_group_id =
        referenced_resource(&destinations[0]["CloudWatchLogsLogGroup"]["LogGroupArn"]);
    let log_group = &template["Resources"][log_group_id];
    assert_eq!(log_group["Type"], "AWS::Logs::LogGroup");
    assert_eq!(log_group["DeletionPolicy"], "Retain");
    assert!(log_group["Properties"]["RetentionInDays"].is_object());
    let key_id = referenced_resource(&log_group["Properties"]["KmsKeyId"]);
    assert_eq!(template["Resources"][key_id]["Type"], "AWS::KMS::Key");
    assert_eq!(
        template["Resources"][key_id]["Properties"]["EnableKeyRotation"],
        true
    );

    let substituted: BTreeSet<String> = properties["DefinitionSubstitutions"]
        .as_object()
        .expect("DefinitionSubstitutions")
        .keys()
        .cloned()
        .collect();
    assert_eq!(placeholders(&read(DEFINITION)), substituted);
    assert_eq!(
        properties["DefinitionSubstitutions"]["SecretsFunctionArn"],
        json!({"Ref": "SecretsFunctionArn"})
    );
    let defaults: BTreeSet<String> = substitutions().keys().map(|k| k.to_string()).collect();
    assert_eq!(
        defaults, substituted,
        "the tests substitute what the template does"
    );
}

/// IAM actions for the Task resources the definition uses.
fn actions_the_definition_calls(machine: &Value) -> BTreeSet<String> {
    all_states(machine)
        .into_iter()
        .filter(|(_, state)| state["Type"] == "Task")
        .map(|(name, state)| {
            let resource = state["Resource"].as_str().expect("Resource");
            let integration = resource
                .strip_prefix("arn:aws:states:::")
                .unwrap_or_else(|| panic!("{name}: not a service integration: {resource}"));
            let parts: Vec<&str> = integration.split(':').collect();
            let (service, api) = match parts.as_slice() {
                ["lambda", "invoke"] => ("lambda", "invokeFunction"),
                ["aws-sdk", service, api] => (*service, *api),
                [service, api] => (*service, *api),
                _ => panic!("{name}: unexpected integration {resource}"),
            };
            let mut chars = api.chars();
            let first = chars.next().expect("an API name").to_ascii_uppercase();
            format!("{service}:{first}{}", chars.as_str())
        })
        .collect()
}

const LOG_DELIVERY: [&str; 8] = [
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
];
const TRACING: [&str; 4] = [
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
];

fn statements(document: &Value) -> Vec<&Value> {
    match &document["Statement"] {
        Value::Array(list) => list.iter().collect(),
        single @ Value::Object(_) => vec![single],
        other => panic!("no Statement: {other}"),
    }
}

fn actions(statement: &Value) -> Vec<&str> {
    match &statement["Action"] {
        Value::String(one) => vec![one.as_str()],
        Value::Array(list) => list.iter().map(|a| a.as_str().expect("action")).collect(),
        other => panic!("no Action: {other}"),
    }
}

#[test]
fn the_state_machine_role_grants_exactly_what_the_definition_calls() {
    let template = cloudformation(TEMPLATE);
    let machine = definition_as_written();
    let (_, state_machine) = one_resource_of_type(&template, "AWS::Serverless::StateMachine");
    let role_id = referenced_resource(&state_machine["Properties"]["Role"]);
    let role = &template["Resources"][role_id];
    assert_eq!(role["Type"], "AWS::IAM::Role");
    assert_eq!(
        role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"],
        "states.amazonaws.com"
    );

    // Inline policies of the role, and role policies attached to it (the conditional one).
    let mut documents: Vec<&Value> = role["Properties"]["Policies"]
        .as_array()
        .expect("Policies")
        .iter()
        .map(|p| &p["PolicyDocument"])
        .collect();
    for (name, policy) in resources_of_type(&template, "AWS::IAM::RolePolicy") {
        if referenced_resource(&policy["Properties"]["RoleName"]) == role_id {
            assert!(
                policy["Condition"].is_string(),
                "{name} is for one setup only"
            );
            documents.push(&policy["Properties"]["PolicyDocument"]);
        }
    }
    assert!(
        resources_of_type(&template, "AWS::IAM::Policy").is_empty()
            && resources_of_type(&template, "AWS::IAM::ManagedPolicy").is_empty()
            && role["Properties"].get("ManagedPolicyArns").is_none()
    );

    let mut scoped = BTreeSet::new();
    let mut unscoped = BTreeSet::new();
    for statement in documents.iter().flat_map(|d| statements(d)) {
        assert_eq!(statement["Effect"], "Allow");
        for action in actions(statement) {
            assert!(!action.contains('*'), "a wildcard action: {action}");
            if statement["Resource"] == "*" {
                unscoped.insert(action.to_owned());
            } else {
                scoped.insert(action.to_owned());
            }
            match action {
                "lambda:InvokeFunction" => assert_eq!(
                    statement["Resource"],
                    json!({"Ref": "SecretsFunctionArn"}),
                    "exactly the secrets function"
                ),
                "secretsmanager:GetSecretValue" | "secretsmanager:DeleteSecret" => {
                    let arn = statement["Resource"]["Fn::Sub"].as_str().expect("Fn::Sub");
                    assert!(
                        arn.ends_with(":secret:${StagingSecretPrefix}*"),
                        "{action} beyond the staging prefix: {arn}"
                    );
                }
                "kms:Decrypt" => assert!(
                    statement["Condition"]["StringEquals"]["kms:ViaService"].is_object(),
                    "kms:Decrypt only through Secrets Manager"
                ),
                _ => {}
            }
        }
    }
    let mut expected = actions_the_definition_calls(&machine);
    assert!(expected.contains("lambda:InvokeFunction"), "{expected:?}");
    assert!(
        expected.contains("secretsmanager:GetSecretValue"),
        "{expected:?}"
    );
    expected.insert("kms:Decrypt".to_owned());
    assert_eq!(scoped, expected, "actions scoped to resources");
    let documented: BTreeSet<String> = LOG_DELIVERY
        .iter()
        .chain(TRACING.iter())
        .map(|a| a.to_string())
        .collect();
    assert_eq!(
        unscoped, documented,
        "only log delivery and X-Ray take \"*\""
    );
}

/// Every key and string in a JSON value (object keys included), lower-cased.
fn words(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                out.push(key.to_lowercase());
                words(inner, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| words(item, out)),
        Value::String(text) => out.push(text.to_lowercase()),
        _ => {}
    }
}

#[test]
fn the_rule_starts_the_state_machine_on_names_and_arns_only() {
    let template = cloudformation(TEMPLATE);
    let (_, rule) = one_resource_of_type(&template, "AWS::Events::Rule");
    let (machine_id, _) = one_resource_of_type(&template, "AWS::Serverless::StateMachine");
    let properties = &rule["Properties"];
    let pattern = &properties["EventPattern"];
    assert_eq!(pattern["source"], json!([{"Ref": "OnboardingEventSource"}]));
    assert_eq!(pattern["detail-type"], json!(["OrganizationCreated"]));
    let mut found = Vec::new();
    words(pattern, &mut found);
    assert!(found.contains(&"source_secret_arn".to_owned()), "{found:?}");
    for word in &found {
        assert!(
            !word.contains("value") && !word.contains("secretstring"),
            "the event pattern mentions a value ({word}): events must never carry one"
        );
    }

    let targets = properties["Targets"].as_array().expect("Targets");
    assert_eq!(targets.len(), 1);
    let target = &targets[0];
    assert_eq!(referenced_resource(&target["Arn"]), machine_id);
    for field in ["Input", "InputPath", "InputTransformer"] {
        assert!(
            target.get(field).is_none(),
            "{field}: the state machine reads the event itself"
        );
    }
    assert!(target["DeadLetterConfig"]["Arn"].is_object());
    let role = &template["Resources"][referenced_resource(&target["RoleArn"])];
    assert_eq!(
        role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"],
        "events.amazonaws.com"
    );
    let granted: Vec<&Value> = role["Properties"]["Policies"]
        .as_array()
        .expect("Policies")
        .iter()
        .flat_map(|p| statements(&p["PolicyDocument"]))
        .collect();
    assert_eq!(granted.len(), 1);
    assert_eq!(actions(granted[0]), ["states:StartExecution"]);
    assert_eq!(referenced_resource(&granted[0]["Resource"]), machine_id);
}

// ---------------------------------------------------------------------------------------
// The payload, as the function receives it
// ---------------------------------------------------------------------------------------

/// The definition's `Payload` with each `.$` field replaced by what Step Functions would put
/// there for one sample secret (intrinsics included), and the sample value sent.
fn filled_payload(template: &Value, sample: &BTreeMap<&str, Value>) -> Value {
    match template {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, inner) in map {
                match key.strip_suffix(".$") {
                    Some(field) => {
                        let filled = sample
                            .get(field)
                            .unwrap_or_else(|| panic!("no sample for the path field {key}"));
                        out.insert(field.to_owned(), filled.clone());
                    }
                    None => {
                        out.insert(key.clone(), filled_payload(inner, sample));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| filled_payload(item, sample))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[tokio::test]
async fn the_payload_the_definition_sends_is_a_direct_create_the_function_accepts() {
    use crate::support::{app_on, fresh_store};
    let machine = definition_with(&substitutions());
    let invokes = invokes_of_the_function(&machine);
    assert_eq!(invokes.len(), 1, "one Task invokes the function");
    let payload = &invokes[0].1["Parameters"]["Payload"];
    let value = "whsec_from_the_staging_secret";
    let sample: BTreeMap<&str, Value> = [
        // States.Format('{}:{}', event id, States.Hash(name, 'SHA-256'))
        (
            "idempotency-key",
            json!("7c1a8f5e-2b44-4d1e-9a0f-3e6b1d2c4a55:5af9f145d97ccc21c925a045d1d743190ea8b60222d0a3939b4f33db4e5782b0"),
        ),
        ("org_id", json!("org_onboarded")),
        // States.JsonToString($.create)
        (
            "body",
            json!(json!({"secret_name": "webhook_signing_secret", "secret_value": value}).to_string()),
        ),
    ]
    .into_iter()
    .collect();
    let event = filled_payload(payload, &sample);
    assert_eq!(event["directInvocation"], true);

    let parsed = parse_event(&event.to_string()).expect("the payload is a usable event");
    assert_eq!(parsed.caller, Caller::Direct);

    let store = fresh_store().await;
    let app = app_on(store, &[]);
    let mut context = Context::default();
    context.request_id = "sfn-attempt-1".to_owned();
    let response = app
        .handle_event(&event.to_string(), Some(context.clone()))
        .await
        .expect("the create succeeds");
    assert_eq!(response["statusCode"], 201, "{response}");
    assert_eq!(
        app.stored_value("org_onboarded", "webhook_signing_secret")
            .await,
        value
    );
    // A Step Functions retry (another attempt, same payload) is answered 201 again.
    context.request_id = "sfn-attempt-2".to_owned();
    let again = app
        .handle_event(&event.to_string(), Some(context))
        .await
        .expect("the retried create succeeds");
    assert_eq!(again["statusCode"], 201, "{again}");
}
