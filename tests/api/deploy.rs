//! template.yaml grants the function exactly the DynamoDB actions its code calls, routes
//! every operation the handler serves, and keeps its security settings: the stack's KMS key
//! and who may decrypt with it, the access log, concurrency and throttling, the asynchronous
//! failure destination, and who may invoke the function.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::{json, Value};

use crate::support::{project_path, python, yaml_file};

fn read(relative: &str) -> String {
    std::fs::read_to_string(project_path(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// SDK calls (`.put_item()` and the like) in the files the function and reader use, as
/// IAM action names.
fn actions_called_by_the_function() -> BTreeSet<String> {
    // Every DynamoDB operation a client call could name, as `.method()` and IAM action.
    const OPERATIONS: [(&str, &str); 12] = [
        ("put_item", "PutItem"),
        ("get_item", "GetItem"),
        ("query", "Query"),
        ("update_item", "UpdateItem"),
        ("delete_item", "DeleteItem"),
        ("scan", "Scan"),
        ("describe_table", "DescribeTable"),
        ("create_table", "CreateTable"),
        ("batch_write_item", "BatchWriteItem"),
        ("batch_get_item", "BatchGetItem"),
        ("transact_write_items", "TransactWriteItems"),
        ("transact_get_items", "TransactGetItems"),
    ];
    // Operator-only calls: table setup for local runs and the rotate-keys scan. The
    // function never makes them, so the template must not grant them.
    const OPERATOR_ONLY: [&str; 3] = ["Scan", "DescribeTable", "CreateTable"];
    // IAM has no TransactWriteItems action: a transaction is authorized as the item
    // actions it contains (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html).
    const TRANSACTION_ITEMS: [(&str, &str); 4] = [
        ("Put::builder()", "PutItem"),
        ("Update::builder()", "UpdateItem"),
        ("Delete::builder()", "DeleteItem"),
        ("ConditionCheck::builder()", "ConditionCheckItem"),
    ];
    let mut storage: Vec<_> = std::fs::read_dir(project_path("src/storage"))
        .expect("src/storage")
        .map(|entry| entry.expect("src/storage entry").path())
        .collect();
    storage.sort();
    assert!(storage.len() > 1, "src/storage holds the storage modules");
    let source = storage
        .iter()
        .map(|path| std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}")))
        .collect::<String>()
        + &read("src/reader.rs")
        + &read("src/api/mod.rs");
    let transacts = source.contains(".transact_write_items()");
    OPERATIONS
        .iter()
        .filter(|(method, _)| source.contains(&format!(".{method}()")))
        .map(|(_, action)| *action)
        .filter(|action| *action != "TransactWriteItems")
        .chain(
            TRANSACTION_ITEMS
                .iter()
                .filter(|(builder, _)| transacts && source.contains(builder))
                .map(|(_, action)| *action),
        )
        .filter(|action| !OPERATOR_ONLY.contains(action))
        .map(String::from)
        .collect()
}

fn actions_granted_by_the_template() -> BTreeSet<String> {
    read("template.yaml")
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- dynamodb:"))
        .map(|rest| rest.split_whitespace().next().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn template_grants_exactly_the_dynamodb_actions_the_code_calls() {
    let called = actions_called_by_the_function();
    assert_eq!(
        called,
        BTreeSet::from(
            ["DeleteItem", "GetItem", "PutItem", "Query", "UpdateItem"].map(String::from)
        ),
        "the scan of src/storage/ should find every operation"
    );
    assert_eq!(actions_granted_by_the_template(), called);
    let template = read("template.yaml");
    assert!(!template.contains("dynamodb:*"));
    assert!(!template.contains("DynamoDBCrudPolicy"));
}

#[test]
fn template_routes_every_operation() {
    let template = read("template.yaml");
    let routes: Vec<(String, String)> = template
        .lines()
        .zip(template.lines().skip(1))
        .filter_map(|(method, path)| {
            let method = method.trim().strip_prefix("Method: ")?;
            let path = path.trim().strip_prefix("Path: ")?;
            Some((method.to_owned(), path.to_owned()))
        })
        .collect();
    for (method, path) in [
        ("POST", "/v1/organizations/secrets"),
        ("GET", "/v1/organizations/secrets"),
        ("PUT", "/v1/organizations/secrets/{secret_name}"),
        ("DELETE", "/v1/organizations/secrets/{secret_name}"),
        ("POST", "/v1/organizations/secrets/{secret_name}/restore"),
    ] {
        assert!(
            routes.contains(&(method.to_owned(), path.to_owned())),
            "template.yaml does not route {method} {path}: {routes:?}"
        );
    }
    assert_eq!(routes.len(), 5);
}

/// Recovery copies expire through the table's TTL on the attribute the code writes, after
/// the window the stack configures, within the code's bounds.
#[test]
fn recovery_copies_expire_through_ttl_after_the_configured_window() {
    use org_secrets::domain::RecoveryWindow;
    use org_secrets::storage::EXPIRY_ATTRIBUTE;
    let template = template();
    let table = &resource(&template, "SecretsTable")["Properties"];
    assert_eq!(
        table["TimeToLiveSpecification"],
        json!({ "AttributeName": EXPIRY_ATTRIBUTE, "Enabled": true })
    );
    let environment =
        &resource(&template, "SecretsFunction")["Properties"]["Environment"]["Variables"];
    assert_eq!(
        environment["RECOVERY_WINDOW_DAYS"],
        json!({ "Ref": "RecoveryWindowDays" })
    );
    let window = &template["Parameters"]["RecoveryWindowDays"];
    assert_eq!(window["Default"], RecoveryWindow::DEFAULT_DAYS);
    assert_eq!(window["MinValue"], 0);
    assert_eq!(window["MaxValue"], RecoveryWindow::MAX_DAYS);
}

// ---------------------------------------------------------------------------------------
// The template as data (support::yaml_file: CloudFormation's short-form tags in their long
// forms, `!Ref X` is {"Ref": "X"}, `!GetAtt A.B` is {"Fn::GetAtt": ["A", "B"]}, and so on).

fn run_python(script: &str, args: &[&str]) -> Vec<u8> {
    let output = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn template() -> Value {
    yaml_file(&project_path("template.yaml"))
}

fn resource<'t>(template: &'t Value, logical_id: &str) -> &'t Value {
    let resource = &template["Resources"][logical_id];
    assert!(
        resource.is_object(),
        "template.yaml has no resource {logical_id}"
    );
    resource
}

fn resources_of_type<'t>(template: &'t Value, kind: &str) -> Vec<(&'t str, &'t Value)> {
    template["Resources"]
        .as_object()
        .expect("Resources")
        .iter()
        .filter(|(_, resource)| resource["Type"] == kind)
        .map(|(id, resource)| (id.as_str(), resource))
        .collect()
}

/// `!Ref id` or `!GetAtt id.<attribute>`.
fn refers_to(value: &Value, logical_id: &str) -> bool {
    value == &json!({ "Ref": logical_id }) || value["Fn::GetAtt"][0] == logical_id
}

fn get_att(logical_id: &str, attribute: &str) -> Value {
    json!({ "Fn::GetAtt": [logical_id, attribute] })
}

fn sub_text(value: &Value) -> &str {
    value["Fn::Sub"]
        .as_str()
        .unwrap_or_else(|| panic!("expected a !Sub string, got {value}"))
}

/// A string or a list of strings, as IAM writes Action and the like.
fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// IAM's action matching: case-insensitive, `*` for any run of characters.
fn action_matches(pattern: &str, action: &str) -> bool {
    fn matches(pattern: &[u8], text: &[u8]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some((b'*', rest)) => (0..=text.len()).any(|skip| matches(rest, &text[skip..])),
            Some((first, rest)) => text
                .split_first()
                .is_some_and(|(c, tail)| c.eq_ignore_ascii_case(first) && matches(rest, tail)),
        }
    }
    matches(pattern.as_bytes(), action.as_bytes())
}

fn allows(statement: &Value, action: &str) -> bool {
    statement["Effect"] == "Allow"
        && strings(&statement["Action"])
            .iter()
            .any(|pattern| action_matches(pattern, action))
}

fn key_policy_statements(template: &Value) -> Vec<&Value> {
    let key = resource(template, "StackKey");
    key["Properties"]["KeyPolicy"]["Statement"]
        .as_array()
        .expect("StackKey has a key policy")
        .iter()
        .collect()
}

fn account_root() -> Value {
    json!({ "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root" })
}

/// The service a statement is limited to by `kms:ViaService`, e.g. "sqs".
fn via_service(statement: &Value) -> Option<String> {
    let via = &statement["Condition"]["StringEquals"]["kms:ViaService"];
    if via.is_null() {
        return None;
    }
    let text = sub_text(via);
    assert!(
        text.ends_with(".${AWS::Region}.amazonaws.com"),
        "kms:ViaService must name this region's endpoint: {text}"
    );
    Some(text.split('.').next().unwrap_or_default().to_owned())
}

/// What the key does, as opposed to managing it. `kms:CreateGrant` belongs here: a grant can
/// hand out Decrypt.
const CRYPTOGRAPHIC_ACTIONS: [&str; 7] = [
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:CreateGrant",
];

#[test]
fn the_stack_key_rotates_and_outlives_the_stack() {
    let template = template();
    let key = resource(&template, "StackKey");
    assert_eq!(key["Type"], "AWS::KMS::Key");
    assert_eq!(key["Properties"]["EnableKeyRotation"], true);
    // The table and log groups are retained; their key must be too, or they become
    // unreadable once the key's deletion window ends.
    assert_eq!(key["DeletionPolicy"], "Retain");
    assert_eq!(key["UpdateReplacePolicy"], "Retain");
    assert_eq!(
        resource(&template, "SecretsTable")["DeletionPolicy"],
        "Retain"
    );
    let aliases = resources_of_type(&template, "AWS::KMS::Alias");
    assert_eq!(aliases.len(), 1);
    assert!(refers_to(
        &aliases[0].1["Properties"]["TargetKeyId"],
        "StackKey"
    ));
    assert!(refers_to(
        &template["Outputs"]["KmsKeyArn"]["Value"],
        "StackKey"
    ));
}

#[test]
fn the_function_environment_is_encrypted_with_the_stack_key() {
    let template = template();
    let function = resource(&template, "SecretsFunction");
    assert!(
        refers_to(&function["Properties"]["KmsKeyArn"], "StackKey"),
        "KmsKeyArn: {}",
        function["Properties"]["KmsKeyArn"]
    );
    assert!(
        function["Properties"]["Environment"]["Variables"]["ENCRYPTION_KEY"]["Fn::Sub"]
            .as_str()
            .is_some_and(|value| value.starts_with("{{resolve:secretsmanager:")),
        "ENCRYPTION_KEY stays a Secrets Manager dynamic reference"
    );
}

/// Outside a service acting for its caller, only the function's role may decrypt with the
/// stack key, and only its own environment: `lambda:GetFunctionConfiguration` (which
/// decrypts as the caller, through Lambda) shows ENCRYPTION_KEY to nobody else.
#[test]
fn only_the_function_role_may_decrypt_outside_a_service() {
    let template = template();
    let role_arn = get_att("SecretsFunctionRole", "Arn");
    let function_name =
        sub_text(&resource(&template, "SecretsFunction")["Properties"]["FunctionName"]).to_owned();
    let environment_context =
        format!("arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:{function_name}");

    let mut role_decrypts = 0;
    let mut services = BTreeSet::new();
    for statement in key_policy_statements(&template) {
        let sid = statement["Sid"].as_str().unwrap_or("(no Sid)");
        assert_eq!(statement["Effect"], "Allow", "{sid}");
        for action in strings(&statement["Action"]) {
            assert!(action != "*" && action != "kms:*", "{sid} grants {action}");
        }
        let principal = &statement["Principal"];
        if principal["AWS"] == "*" {
            // Only a service on behalf of this account's callers.
            assert!(
                via_service(statement).is_some(),
                "{sid}: '*' without kms:ViaService"
            );
            assert_eq!(
                statement["Condition"]["StringEquals"]["kms:CallerAccount"],
                json!({ "Ref": "AWS::AccountId" }),
                "{sid}: '*' without kms:CallerAccount"
            );
        }
        if statement["Condition"].is_null() {
            for action in CRYPTOGRAPHIC_ACTIONS {
                assert!(
                    !allows(statement, action),
                    "{sid} grants {action} without a condition"
                );
            }
        }
        if !allows(statement, "kms:Decrypt") {
            continue;
        }
        if let Some(service) = via_service(statement) {
            services.insert(service);
        } else if principal["Service"].is_object() {
            assert_eq!(
                sub_text(&principal["Service"]),
                "logs.${AWS::Region}.amazonaws.com",
                "{sid}"
            );
            assert!(
                !statement["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"].is_null(),
                "{sid}: CloudWatch Logs must be limited to this stack's log groups"
            );
        } else {
            // The one plain Decrypt: the function's role, for its own environment.
            assert_eq!(principal["AWS"], account_root(), "{sid}");
            let condition = &statement["Condition"]["StringEquals"];
            assert_eq!(
                condition["aws:PrincipalArn"], role_arn,
                "{sid} must be the function's role"
            );
            assert_eq!(
                sub_text(&condition["kms:EncryptionContext:aws:lambda:FunctionArn"]),
                environment_context,
                "{sid} must be limited to the function's own environment"
            );
            assert_eq!(strings(&statement["Action"]), ["kms:Decrypt"], "{sid}");
            role_decrypts += 1;
        }
    }
    assert_eq!(
        role_decrypts, 1,
        "exactly one statement lets the role decrypt its environment"
    );
    assert_eq!(
        services,
        BTreeSet::from(["dynamodb".to_owned(), "sqs".to_owned()]),
        "services that decrypt for their callers"
    );

    // The account (IAM) administers the key, without using it.
    let administration: Vec<_> = key_policy_statements(&template)
        .into_iter()
        .filter(|s| s["Principal"]["AWS"] == account_root() && s["Condition"].is_null())
        .collect();
    assert_eq!(administration.len(), 1);
    assert!(allows(administration[0], "kms:PutKeyPolicy"));
    assert!(allows(administration[0], "kms:ScheduleKeyDeletion"));

    // The role's own IAM side grants the same, on this key only.
    let policy = resource(&template, "SecretsFunctionPolicy");
    assert_eq!(
        policy["Properties"]["Roles"],
        json!([{ "Ref": "SecretsFunctionRole" }])
    );
    let decrypts: Vec<_> = policy["Properties"]["PolicyDocument"]["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .filter(|s| allows(s, "kms:Decrypt"))
        .collect();
    assert!(!decrypts.is_empty());
    for statement in decrypts {
        assert!(refers_to(&statement["Resource"], "StackKey"), "{statement}");
        let condition = &statement["Condition"]["StringEquals"];
        let environment = &condition["kms:EncryptionContext:aws:lambda:FunctionArn"];
        assert!(
            (!environment.is_null() && sub_text(environment) == environment_context)
                || via_service(statement).as_deref() == Some("sqs"),
            "{statement}"
        );
    }
}

#[test]
fn the_table_log_groups_and_queue_are_encrypted_with_the_stack_key() {
    let template = template();
    let sse = &resource(&template, "SecretsTable")["Properties"]["SSESpecification"];
    assert_eq!(sse["SSEEnabled"], true);
    assert_eq!(sse["SSEType"], "KMS");
    assert!(refers_to(&sse["KMSMasterKeyId"], "StackKey"), "{sse}");

    // Every log group, and the key policy lets CloudWatch Logs use the key for exactly them.
    let logs_statement = key_policy_statements(&template)
        .into_iter()
        .find(|s| s["Principal"]["Service"].is_object())
        .expect("a statement for CloudWatch Logs");
    let allowed: BTreeSet<&str> = logs_statement["Condition"]["ArnLike"]
        ["kms:EncryptionContext:aws:logs:arn"]
        .as_array()
        .expect("log group ARNs")
        .iter()
        .map(sub_text)
        .collect();
    let log_groups = resources_of_type(&template, "AWS::Logs::LogGroup");
    assert_eq!(log_groups.len(), 2, "the function's and the access log's");
    let mut named = BTreeSet::new();
    for (id, group) in log_groups {
        let properties = &group["Properties"];
        assert!(refers_to(&properties["KmsKeyId"], "StackKey"), "{id}");
        assert_eq!(
            properties["RetentionInDays"],
            json!({ "Ref": "LogRetentionDays" }),
            "{id}"
        );
        let arn = format!(
            "arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:{}",
            sub_text(&properties["LogGroupName"])
        );
        assert!(
            allowed.contains(arn.as_str()),
            "{id}: {arn} not in {allowed:?}"
        );
        named.insert(arn);
    }
    assert_eq!(
        named.len(),
        allowed.len(),
        "the key policy names no other log group"
    );

    let queue = resource(&template, "FailureQueue");
    assert!(refers_to(
        &queue["Properties"]["KmsMasterKeyId"],
        "StackKey"
    ));
}

/// The access log format with the claim parameters at their defaults, as JSON.
fn access_log_fields(template: &Value) -> BTreeMap<String, String> {
    let settings = &resource(template, "SecretsApi")["Properties"]["AccessLogSettings"];
    assert!(refers_to(&settings["DestinationArn"], "ApiAccessLogGroup"));
    let mut format = sub_text(&settings["Format"]).to_owned();
    for parameter in ["SubjectClaim", "OrgIdClaim"] {
        let default = template["Parameters"][parameter]["Default"]
            .as_str()
            .expect("claim default");
        format = format.replace(&format!("${{{parameter}}}"), default);
    }
    assert!(
        !format.contains("${"),
        "unresolved !Sub variable in {format}"
    );
    serde_json::from_str(&format)
        .unwrap_or_else(|e| panic!("access log format is not JSON ({e}): {format}"))
}

#[test]
fn the_access_log_records_who_what_and_how_fast_but_no_body_or_token() {
    let template = template();
    let fields = access_log_fields(&template);
    for (field, variable) in [
        ("requestId", "$context.requestId"),
        ("routeKey", "$context.routeKey"),
        ("status", "$context.status"),
        ("integrationLatency", "$context.integrationLatency"),
        ("responseLatency", "$context.responseLatency"),
        ("sourceIp", "$context.identity.sourceIp"),
        ("subject", "$context.authorizer.claims.sub"),
        ("org", "$context.authorizer.claims.org_id"),
    ] {
        assert_eq!(
            fields.get(field).map(String::as_str),
            Some(variable),
            "{field}"
        );
    }
    for (field, variable) in &fields {
        assert!(variable.starts_with("$context."), "{field}: {variable}");
        let lower = variable.to_ascii_lowercase();
        for forbidden in [
            "body",
            "header",
            "authorization",
            "token",
            "requestoverride",
        ] {
            assert!(!lower.contains(forbidden), "{field} logs {variable}");
        }
        if variable.starts_with("$context.authorizer.claims.") {
            assert!(
                ["subject", "org"].contains(&field.as_str()),
                "{field} logs a claim"
            );
        }
    }
}

#[test]
fn concurrency_and_throttling_are_wired_to_their_parameters() {
    let template = template();
    let function = &resource(&template, "SecretsFunction")["Properties"];
    assert_eq!(
        function["ReservedConcurrentExecutions"],
        json!({ "Fn::If": ["HasReservedConcurrency", { "Ref": "ReservedConcurrency" }, { "Ref": "AWS::NoValue" }] })
    );
    assert_eq!(
        template["Conditions"]["HasReservedConcurrency"],
        json!({ "Fn::Not": [{ "Fn::Equals": [{ "Ref": "ReservedConcurrency" }, "-1"] }] })
    );
    let reserved = &template["Parameters"]["ReservedConcurrency"];
    assert_eq!(reserved["Default"], 50);
    assert_eq!(reserved["MinValue"], -1);

    let routes = &resource(&template, "SecretsApi")["Properties"]["DefaultRouteSettings"];
    assert_eq!(
        routes["ThrottlingRateLimit"],
        json!({ "Ref": "ApiThrottlingRateLimit" })
    );
    assert_eq!(
        routes["ThrottlingBurstLimit"],
        json!({ "Ref": "ApiThrottlingBurstLimit" })
    );
    assert_eq!(
        template["Parameters"]["ApiThrottlingRateLimit"]["Default"],
        50
    );
    assert_eq!(
        template["Parameters"]["ApiThrottlingBurstLimit"]["Default"],
        100
    );
}

#[test]
fn async_failures_are_retried_a_bounded_number_of_times_then_kept_encrypted() {
    let template = template();
    let configs = resources_of_type(&template, "AWS::Lambda::EventInvokeConfig");
    assert_eq!(configs.len(), 1);
    let config = configs[0].1;
    let properties = &config["Properties"];
    assert!(refers_to(&properties["FunctionName"], "SecretsFunction"));
    assert_eq!(properties["Qualifier"], "$LATEST");

    assert_eq!(
        properties["MaximumRetryAttempts"],
        json!({ "Ref": "ProvisioningMaxRetryAttempts" })
    );
    let retries = &template["Parameters"]["ProvisioningMaxRetryAttempts"];
    assert_eq!(
        (retries["MinValue"].as_i64(), retries["MaxValue"].as_i64()),
        (Some(0), Some(2))
    );
    assert_eq!(retries["Default"], 2);
    assert_eq!(
        properties["MaximumEventAgeInSeconds"],
        json!({ "Ref": "ProvisioningMaxEventAgeSeconds" })
    );
    let age = &template["Parameters"]["ProvisioningMaxEventAgeSeconds"];
    assert!(age["MaxValue"].as_i64().is_some_and(|max| max <= 21_600));

    assert_eq!(
        properties["DestinationConfig"]["OnFailure"]["Destination"],
        get_att("FailureQueue", "Arn")
    );
    let queue = &resource(&template, "FailureQueue")["Properties"];
    assert!(refers_to(&queue["KmsMasterKeyId"], "StackKey"));
    assert_eq!(queue["MessageRetentionPeriod"], 1_209_600);

    // The role sends to exactly that queue, and Lambda sees that before the config exists.
    let policy = resource(&template, "SecretsFunctionPolicy");
    let sends: Vec<_> = policy["Properties"]["PolicyDocument"]["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .filter(|s| allows(s, "sqs:SendMessage"))
        .collect();
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0]["Resource"], get_att("FailureQueue", "Arn"));
    assert_eq!(strings(&sends[0]["Action"]), ["sqs:SendMessage"]);
    assert_eq!(config["DependsOn"], "SecretsFunctionPolicy");
}

/// Evaluates `!Equals [!Select [2, !Split [":", !Join ["", [!Ref P, ":::"]]]], service]`.
fn arn_service_condition(template: &Value, condition: &str, arn: &str) -> bool {
    let equals = &template["Conditions"][condition]["Fn::Equals"];
    let select = &equals[0]["Fn::Select"];
    assert_eq!(select[0], 2, "{condition}");
    let split = &select[1]["Fn::Split"];
    assert_eq!(split[0], ":", "{condition}");
    assert_eq!(
        split[1],
        json!({ "Fn::Join": ["", [{ "Ref": "ProvisioningPrincipalArn" }, ":::"]] }),
        "{condition}"
    );
    let service = equals[1].as_str().expect("service name");
    format!("{arn}:::").split(':').nth(2) == Some(service)
}

fn allowed_pattern_matches(pattern: &str, candidates: &[&str]) -> Vec<bool> {
    let script = "import json, re, sys\n\
                  print(json.dumps([re.fullmatch(sys.argv[1], c) is not None for c in sys.argv[2:]]))";
    let mut args = vec![pattern];
    args.extend_from_slice(candidates);
    serde_json::from_slice(&run_python(script, &args)).expect("JSON list")
}

#[test]
fn only_api_gateway_and_the_provisioning_principal_may_invoke_the_function() {
    let template = template();
    // API Gateway: SAM adds one permission per HttpApi event, scoped to this API.
    let events = resource(&template, "SecretsFunction")["Properties"]["Events"]
        .as_object()
        .expect("events");
    for (name, event) in events {
        assert_eq!(event["Type"], "HttpApi", "{name}");
        assert_eq!(
            event["Properties"]["ApiId"],
            json!({ "Ref": "SecretsApi" }),
            "{name}"
        );
    }
    assert!(resource(&template, "SecretsFunction")["Properties"]["FunctionUrlConfig"].is_null());

    let permissions: BTreeMap<&str, &Value> =
        resources_of_type(&template, "AWS::Lambda::Permission")
            .into_iter()
            .collect();
    assert_eq!(
        permissions.keys().copied().collect::<Vec<_>>(),
        [
            "ProvisioningRoleInvokePermission",
            "ProvisioningRuleInvokePermission"
        ]
    );
    for (id, permission) in &permissions {
        let properties = &permission["Properties"];
        assert_eq!(properties["Action"], "lambda:InvokeFunction", "{id}");
        assert!(
            refers_to(&properties["FunctionName"], "SecretsFunction"),
            "{id}"
        );
    }
    let role = permissions["ProvisioningRoleInvokePermission"];
    assert_eq!(role["Condition"], "ProvisioningPrincipalIsRole");
    assert_eq!(
        role["Properties"]["Principal"],
        json!({ "Ref": "ProvisioningPrincipalArn" })
    );
    let rule = permissions["ProvisioningRuleInvokePermission"];
    assert_eq!(rule["Condition"], "ProvisioningPrincipalIsEventBridgeRule");
    assert_eq!(rule["Properties"]["Principal"], "events.amazonaws.com");
    assert_eq!(
        rule["Properties"]["SourceArn"],
        json!({ "Ref": "ProvisioningPrincipalArn" })
    );
    assert_eq!(
        rule["Properties"]["SourceAccount"],
        json!({ "Ref": "AWS::AccountId" })
    );

    // Which permission a value creates (if any), and which values the parameter admits.
    let role_arn = "arn:aws:iam::123456789012:role/service-role/org-onboarding";
    let rule_arn = "arn:aws:events:eu-west-1:123456789012:rule/org-created";
    for (arn, is_role, is_rule) in [
        (role_arn, true, false),
        (rule_arn, false, true),
        ("", false, false),
    ] {
        assert_eq!(
            arn_service_condition(&template, "ProvisioningPrincipalIsRole", arn),
            is_role,
            "{arn:?}"
        );
        assert_eq!(
            arn_service_condition(&template, "ProvisioningPrincipalIsEventBridgeRule", arn),
            is_rule,
            "{arn:?}"
        );
    }
    let parameter = &template["Parameters"]["ProvisioningPrincipalArn"];
    assert_eq!(parameter["Default"], "");
    let candidates = [
        role_arn,
        rule_arn,
        "",
        "*",
        "123456789012",
        "arn:aws:iam::123456789012:root",
        "arn:aws:iam::123456789012:user/alice",
        "arn:aws:sts::123456789012:assumed-role/org-onboarding/session",
        "events.amazonaws.com",
        "arn:aws:lambda:eu-west-1:123456789012:function:other",
        "arn:aws:events:eu-west-1:123456789012:event-bus/default",
    ];
    let pattern = parameter["AllowedPattern"]
        .as_str()
        .expect("AllowedPattern");
    let admitted: Vec<&str> = candidates
        .iter()
        .zip(allowed_pattern_matches(pattern, &candidates))
        .filter(|(_, ok)| *ok)
        .map(|(candidate, _)| *candidate)
        .collect();
    assert_eq!(admitted, [role_arn, rule_arn, ""]);
}

#[test]
fn alarms_watch_errors_throttles_5xx_table_throttles_and_the_failure_queue() {
    let template = template();
    let alarms = resources_of_type(&template, "AWS::CloudWatch::Alarm");
    let metrics: BTreeSet<(String, String)> = alarms
        .iter()
        .flat_map(|(_, alarm)| {
            let properties = &alarm["Properties"];
            let single = (!properties["MetricName"].is_null()).then(|| properties.clone());
            let stats = properties["Metrics"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| m["MetricStat"]["Metric"].clone())
                .filter(|metric| !metric.is_null());
            single.into_iter().chain(stats).collect::<Vec<_>>()
        })
        .map(|m| {
            (
                m["Namespace"].as_str().unwrap_or_default().to_owned(),
                m["MetricName"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    for (namespace, metric) in [
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/ApiGateway", "5xx"),
        ("AWS/DynamoDB", "ReadThrottleEvents"),
        ("AWS/DynamoDB", "WriteThrottleEvents"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    ] {
        assert!(
            metrics.contains(&(namespace.to_owned(), metric.to_owned())),
            "no alarm on {namespace} {metric}: {metrics:?}"
        );
    }
    let topic = json!({ "Fn::If": ["HasAlarmTopic", [{ "Ref": "AlarmTopicArn" }], { "Ref": "AWS::NoValue" }] });
    for (id, alarm) in &alarms {
        assert_eq!(alarm["Properties"]["AlarmActions"], topic, "{id}");
    }
    let queue_alarm = resource(&template, "FailureQueueNotEmptyAlarm")["Properties"].clone();
    assert_eq!(
        queue_alarm["Dimensions"][0]["Value"],
        get_att("FailureQueue", "QueueName")
    );
    assert_eq!(queue_alarm["ComparisonOperator"], "GreaterThanThreshold");
    assert_eq!(queue_alarm["Threshold"], 0);
}
