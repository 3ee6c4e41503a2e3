//! template.yaml grants the function exactly the DynamoDB actions its code calls, routes
//! every operation the handler serves, and keeps its security settings: the stack's KMS key
//! and who may decrypt with it, the access log, concurrency and throttling, the asynchronous
//! failure destination, and who may invoke the function.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::{json, Value};

use crate::support::{openapi, project_path, python, yaml_file};

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
    // The batch read (src/storage/batch.rs) is the readers' alone: services call it, the
    // function never does, so its BatchGetItem is not the function's to be granted.
    let mut storage: Vec<_> = std::fs::read_dir(project_path("src/storage"))
        .expect("src/storage")
        .map(|entry| entry.expect("src/storage entry").path())
        .filter(|path| !path.ends_with("batch.rs"))
        .collect();
    storage.sort();
    assert!(storage.len() > 1, "src/storage holds the storage modules");
    let function_code = ["src/api", "src/api/routes", "src/bin"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(project_path(dir)).expect(dir))
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .chain(["src/event.rs", "src/publisher.rs"].map(project_path))
        .map(|path| std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}")))
        .collect::<String>();
    assert!(
        !function_code.contains("get_many(") && !function_code.contains("CachingReader"),
        "the function must not use the readers' batch read"
    );
    let source = storage
        .iter()
        .map(|path| std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}")))
        .collect::<String>()
        + &read("src/reader/mod.rs")
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

/// The DynamoDB actions of the API function's policy (SecretsFunctionPolicy); the
/// publisher's stream reads are checked in `change_events_are_wired_with_least_privilege`.
fn actions_granted_by_the_template() -> BTreeSet<String> {
    let template = read("template.yaml");
    let start = template
        .find("\n  SecretsFunctionPolicy:\n")
        .expect("SecretsFunctionPolicy");
    let rest = &template[start + 1..];
    let end = rest
        .lines()
        .skip(1)
        .position(|line| line.starts_with("  ") && !line.starts_with("   ") && line.ends_with(':'))
        .map_or(rest.len(), |n| {
            rest.lines().take(n + 1).map(|line| line.len() + 1).sum()
        });
    rest[..end]
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
    let dynamodb_lines = template
        .lines()
        .filter(|line| line.trim().starts_with("- dynamodb:"))
        .count();
    assert_eq!(
        dynamodb_lines,
        called.len() + 3,
        "the API's actions and the publisher's three stream reads"
    );
    assert!(!template.contains("dynamodb:*"));
    assert!(!template.contains("DynamoDBCrudPolicy"));
}

/// API Gateway routes exactly the operations openapi.yaml publishes: one route per path and
/// method, none missing (API Gateway would answer 404 itself) and none extra.
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
    let document = openapi();
    let mut published = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in ["get", "put", "post", "delete", "patch"] {
            if item.get(method).is_some() {
                published.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    let mut sorted = routes.clone();
    sorted.sort();
    published.sort();
    assert_eq!(
        sorted, published,
        "template.yaml's routes against openapi.yaml"
    );
    assert_eq!(routes.len(), 7);
}

/// Change records stay for the history the stack configures, within the code's bounds, and
/// the table has the history index the code queries.
#[test]
fn the_history_index_and_retention_are_the_codes() {
    use org_secrets::domain::HistoryRetention;
    let template = template();
    let environment =
        &resource(&template, "SecretsFunction")["Properties"]["Environment"]["Variables"];
    assert_eq!(
        environment["CHANGE_HISTORY_DAYS"],
        json!({ "Ref": "ChangeHistoryDays" })
    );
    let days = &template["Parameters"]["ChangeHistoryDays"];
    assert_eq!(days["Default"], HistoryRetention::DEFAULT_DAYS);
    assert_eq!(days["MinValue"], HistoryRetention::MIN_DAYS);
    assert_eq!(days["MaxValue"], HistoryRetention::MAX_DAYS);
    let table = &resource(&template, "SecretsTable")["Properties"];
    assert_eq!(
        table["GlobalSecondaryIndexes"],
        json!([{
            "IndexName": org_secrets::storage::HISTORY_INDEX,
            "KeySchema": [
                { "AttributeName": "history_key", "KeyType": "HASH" },
                { "AttributeName": "version", "KeyType": "RANGE" }
            ],
            "Projection": { "ProjectionType": "ALL" }
        }])
    );
}

/// The function's table access covers the table and the history index, and nothing else: a
/// `Query` of a secondary index is authorized against the index's own ARN
/// (`<table arn>/index/<name>`), so without it every history request is denied in AWS
/// (DynamoDB Local and `sam local` check no IAM).
#[test]
fn the_function_may_query_the_table_and_its_history_index_only() {
    let template = template();
    let statements = resource(&template, "SecretsFunctionPolicy")["Properties"]["PolicyDocument"]
        ["Statement"]
        .as_array()
        .expect("statements");
    let access = statements
        .iter()
        .find(|statement| statement["Sid"] == "SecretsTableAccess")
        .expect("SecretsTableAccess");
    assert_eq!(
        access["Resource"],
        json!([
            get_att("SecretsTable", "Arn"),
            { "Fn::Sub": format!("${{SecretsTable.Arn}}/index/{}", org_secrets::storage::HISTORY_INDEX) }
        ])
    );
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

// ---------------------------------------------------------------------------------------
// What CloudFormation makes of the template for given parameter values: enough of its
// intrinsic functions (Ref, Sub, Select, Split, Join, If, GetAtt as a placeholder) and of
// its condition functions to evaluate names, ARNs, and which resources a stack creates.

/// The test stacks' account and region, and another account.
const ACCOUNT: &str = "111122223333";
const OTHER_ACCOUNT: &str = "444455556666";
const REGION: &str = "eu-west-1";
const STACK_UUID: &str = "51af3dc0-da77-11e4-872e-1234567db123";
/// CloudFormation's longest stack name (128 characters).
const LONGEST_STACK_NAME: &str = "org-secrets-with-a-stack-name-as-long-as-cloudformation-allows-which-is-one-hundred-and-twenty-eight-characters-0123456789abcdef";

struct Deployment<'t> {
    template: &'t Value,
    values: BTreeMap<String, String>,
}

impl<'t> Deployment<'t> {
    /// A stack named `stack_name` with the parameters' defaults, except `overrides`.
    fn new(template: &'t Value, stack_name: &str, overrides: &[(&str, &str)]) -> Self {
        let mut values = BTreeMap::new();
        for (name, parameter) in template["Parameters"].as_object().expect("Parameters") {
            if !parameter["Default"].is_null() {
                values.insert(name.clone(), scalar_text(&parameter["Default"]));
            }
        }
        let stack_id =
            format!("arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{stack_name}/{STACK_UUID}");
        for (name, value) in [
            ("AWS::AccountId", ACCOUNT),
            ("AWS::Partition", "aws"),
            ("AWS::Region", REGION),
            ("AWS::URLSuffix", "amazonaws.com"),
            ("AWS::StackName", stack_name),
            ("AWS::StackId", &stack_id),
        ]
        .into_iter()
        .chain(overrides.iter().copied())
        {
            values.insert(name.to_owned(), value.to_owned());
        }
        Self { template, values }
    }

    fn text(&self, expression: &Value) -> String {
        match self.eval(expression) {
            Value::Array(_) | Value::Object(_) | Value::Null => {
                panic!("{expression} is not a string")
            }
            value => scalar_text(&value),
        }
    }

    fn eval(&self, expression: &Value) -> Value {
        if let Value::Array(items) = expression {
            return Value::Array(items.iter().map(|item| self.eval(item)).collect());
        }
        let Some((function, argument)) = intrinsic(expression) else {
            return expression.clone();
        };
        match function {
            "Ref" => self.reference(argument.as_str().expect("Ref name")),
            "Fn::GetAtt" => Value::String(format!(
                "{{{}.{}}}",
                scalar_text(&argument[0]),
                scalar_text(&argument[1])
            )),
            "Fn::Sub" => Value::String(self.substitute(argument)),
            "Fn::Join" => {
                let separator = argument[0].as_str().expect("Join separator");
                let items = self.eval(&argument[1]);
                let items: Vec<String> = items
                    .as_array()
                    .expect("Join list")
                    .iter()
                    .map(scalar_text)
                    .collect();
                Value::String(items.join(separator))
            }
            "Fn::Split" => {
                let separator = argument[0].as_str().expect("Split separator");
                let text = self.text(&argument[1]);
                Value::Array(text.split(separator).map(Value::from).collect())
            }
            "Fn::Select" => {
                let index: usize = scalar_text(&argument[0]).parse().expect("Select index");
                let list = self.eval(&argument[1]);
                list.get(index)
                    .unwrap_or_else(|| panic!("Select {index} out of range in {list}"))
                    .clone()
            }
            "Fn::If" => {
                let name = argument[0].as_str().expect("If condition");
                self.eval(&argument[if self.condition(name) { 1 } else { 2 }])
            }
            other => panic!("the test does not evaluate {other}"),
        }
    }

    fn reference(&self, name: &str) -> Value {
        if name == "AWS::NoValue" {
            return Value::Null;
        }
        if let Some(value) = self.values.get(name) {
            return Value::String(value.clone());
        }
        assert!(
            self.template["Resources"][name].is_object(),
            "Ref to an unknown name {name}"
        );
        Value::String(format!("{{{name}}}"))
    }

    /// `!Sub text` or `!Sub [text, {variables}]`.
    fn substitute(&self, argument: &Value) -> String {
        let (text, variables) = match argument {
            Value::String(text) => (text.as_str(), &Value::Null),
            Value::Array(pair) => (pair[0].as_str().expect("Sub text"), &pair[1]),
            other => panic!("Sub of {other}"),
        };
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').expect("Sub: closing brace");
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str(&format!("${{{literal}}}"));
            } else if !variables[name].is_null() {
                out.push_str(&self.text(&variables[name]));
            } else if let Some((resource, attribute)) = name.split_once('.') {
                out.push_str(&format!("{{{resource}.{attribute}}}"));
            } else {
                out.push_str(&scalar_text(&self.reference(name)));
            }
            rest = &after[end + 1..];
        }
        out + rest
    }

    fn condition(&self, name: &str) -> bool {
        let condition = &self.template["Conditions"][name];
        assert!(!condition.is_null(), "no condition {name}");
        self.holds(condition)
    }

    fn holds(&self, expression: &Value) -> bool {
        let (function, argument) =
            intrinsic(expression).unwrap_or_else(|| panic!("not a condition: {expression}"));
        let each = || argument.as_array().expect("condition list").iter();
        match function {
            "Fn::Equals" => self.text(&argument[0]) == self.text(&argument[1]),
            "Fn::Not" => !self.holds(&argument[0]),
            "Fn::And" => each().all(|item| self.holds(item)),
            "Fn::Or" => each().any(|item| self.holds(item)),
            // `!Condition X` (support::yaml_file's long form) or `{"Condition": "X"}`.
            "Fn::Condition" | "Condition" => self.condition(argument.as_str().expect("name")),
            other => panic!("not a condition function: {other}"),
        }
    }

    /// Whether the stack has this resource (its Condition holds); an absent one it has not.
    fn creates(&self, logical_id: &str) -> bool {
        let resource = &self.template["Resources"][logical_id];
        resource.is_object()
            && resource["Condition"]
                .as_str()
                .is_none_or(|condition| self.condition(condition))
    }
}

/// `{"Ref": ...}`, `{"Fn::...": ...}` or `{"Condition": ...}`, as (function, argument).
fn intrinsic(value: &Value) -> Option<(&str, &Value)> {
    let object = value.as_object().filter(|object| object.len() == 1)?;
    let (key, argument) = object.iter().next()?;
    (key == "Ref" || key == "Condition" || key.starts_with("Fn::"))
        .then_some((key.as_str(), argument))
}

/// The function's ARN in a deployment (its FunctionName evaluated).
fn function_arn(deployment: &Deployment) -> String {
    let properties = &resource(deployment.template, "SecretsFunction")["Properties"];
    let name = deployment.text(&properties["FunctionName"]);
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")
}

/// Every `!Sub` in `value`.
fn subs<'v>(value: &'v Value, found: &mut Vec<&'v Value>) {
    match value {
        Value::Object(object) if object.len() == 1 && object.contains_key("Fn::Sub") => {
            found.push(value);
        }
        Value::Object(object) => object.values().for_each(|item| subs(item, found)),
        Value::Array(items) => items.iter().for_each(|item| subs(item, found)),
        _ => {}
    }
}

/// The template as CloudFormation receives it: after the SAM transform, by
/// scripts/sam-transform.py as `make lint` runs it.
fn transformed_template() -> Value {
    let output = std::env::temp_dir().join(format!(
        "org-secrets-deploy-test-{}-{}.json",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos())
    ));
    let run = Command::new(python())
        .arg(project_path("scripts/sam-transform.py"))
        .arg(project_path("template.yaml"))
        .arg(&output)
        .output()
        .expect("run scripts/sam-transform.py");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read_to_string(&output).expect("the transformed template");
    let _ = std::fs::remove_file(&output);
    serde_json::from_str(&text).expect("the transformed template is JSON")
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        other => panic!("not a scalar: {other}"),
    }
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
    let deployment = Deployment::new(&template, "org-secrets", &[]);
    let environment_context = function_arn(&deployment);

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
                deployment.text(&condition["kms:EncryptionContext:aws:lambda:FunctionArn"]),
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
            (!environment.is_null() && deployment.text(environment) == environment_context)
                || via_service(statement).as_deref() == Some("sqs"),
            "{statement}"
        );
    }
}

/// CloudFormation allows stack names of 128 characters and Lambda function names of 64, so
/// the function's name cannot be the stack's plus a suffix. For any stack name it fits, and
/// every ARN of a function the template writes (its environment's encryption context, in
/// the key policy and in the role's policy) is this function's.
#[test]
fn the_function_name_fits_for_any_stack_name_and_every_reference_names_it() {
    let template = template();
    assert_eq!(LONGEST_STACK_NAME.len(), 128);
    let mut written = Vec::new();
    subs(&template["Resources"], &mut written);
    for stack_name in ["org-secrets", LONGEST_STACK_NAME] {
        let deployment = Deployment::new(&template, stack_name, &[]);
        let arn = function_arn(&deployment);
        let name = arn.rsplit(':').next().unwrap_or_default();
        assert!(
            (1..=64).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "stack {stack_name}: the function name {name:?} has {} characters",
            name.len()
        );
        let function_arns: Vec<String> = written
            .iter()
            .map(|sub| deployment.text(sub))
            .filter(|text| text.contains(":function:"))
            .collect();
        assert_eq!(
            function_arns,
            [arn.clone(), arn.clone()],
            "stack {stack_name}: the key policy's and the role policy's environment context"
        );
        // The other names built from the stack's name stay within their limits.
        for (id, group) in resources_of_type(&template, "AWS::Logs::LogGroup") {
            let group_name = deployment.text(&group["Properties"]["LogGroupName"]);
            assert!(group_name.len() <= 512, "{id}: {group_name}");
        }
        for (id, alias) in resources_of_type(&template, "AWS::KMS::Alias") {
            let alias_name = deployment.text(&alias["Properties"]["AliasName"]);
            assert!(alias_name.len() <= 256, "{id}: {alias_name}");
        }
    }
}

/// The function's role writes to the function's own log group and nowhere else: it has no
/// AWSLambdaBasicExecutionRole (which SAM attaches to a role it generates: log groups and
/// streams anywhere), and every logs: action in what CloudFormation deploys is on that
/// group's ARN.
#[test]
fn the_function_may_write_only_its_own_log_group() {
    let deployed = transformed_template();
    let resources = deployed["Resources"].as_object().expect("Resources");
    let function = &resources["SecretsFunction"]["Properties"];
    assert_eq!(
        function["LoggingConfig"]["LogGroup"],
        json!({ "Ref": "SecretsFunctionLogGroup" })
    );
    assert_eq!(function["Role"], get_att("SecretsFunctionRole", "Arn"));
    let role = &resources["SecretsFunctionRole"];
    assert_eq!(role["Type"], "AWS::IAM::Role");
    assert!(
        role["Properties"]["ManagedPolicyArns"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "the function's role has managed policies: {role}"
    );
    assert!(
        role["Properties"]["Policies"].is_null(),
        "its permissions are all in SecretsFunctionPolicy: {role}"
    );
    assert!(!deployed.to_string().contains("AWSLambdaBasicExecutionRole"));

    let mut log_statements = 0;
    for (id, resource) in resources {
        let documents: Vec<&Value> = match resource["Type"].as_str() {
            Some("AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy") => {
                vec![&resource["Properties"]["PolicyDocument"]]
            }
            Some("AWS::IAM::Role") => resource["Properties"]["Policies"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|policy| &policy["PolicyDocument"])
                .collect(),
            _ => continue,
        };
        let statements = documents
            .into_iter()
            .flat_map(|document| document["Statement"].as_array().into_iter().flatten());
        for statement in statements {
            let actions = strings(&statement["Action"]);
            if !actions.iter().any(|action| {
                action_matches(action, "logs:PutLogEvents")
                    || action.to_ascii_lowercase().starts_with("logs:")
            }) {
                continue;
            }
            assert_eq!(
                actions,
                ["logs:CreateLogStream", "logs:PutLogEvents"],
                "{id}: {statement}"
            );
            // Each function's role writes its own log group only.
            let (role, group) = match id.as_str() {
                "SecretsFunctionPolicy" => ("SecretsFunctionRole", "SecretsFunctionLogGroup"),
                "PublisherFunctionPolicy" => ("PublisherFunctionRole", "PublisherFunctionLogGroup"),
                other => panic!("{other} grants logs: {statement}"),
            };
            assert_eq!(
                statement["Resource"],
                get_att(group, "Arn"),
                "{id}: {statement}"
            );
            assert_eq!(
                resource["Properties"]["Roles"],
                json!([{ "Ref": role }]),
                "{id}"
            );
            log_statements += 1;
        }
    }
    assert_eq!(log_statements, 2);
    let publisher = &resources["PublisherFunction"]["Properties"];
    assert_eq!(
        publisher["LoggingConfig"]["LogGroup"],
        json!({ "Ref": "PublisherFunctionLogGroup" })
    );
    assert_eq!(publisher["Role"], get_att("PublisherFunctionRole", "Arn"));
    let role = &resources["PublisherFunctionRole"]["Properties"];
    assert!(
        role["ManagedPolicyArns"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "{role}"
    );
    assert!(role["Policies"].is_null(), "{role}");
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
    assert_eq!(
        log_groups.len(),
        3,
        "the function's, the access log's and the publisher's"
    );
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

const CLAIM_PARAMETERS: [&str; 3] = ["OrgIdClaim", "PermissionsClaim", "SubjectClaim"];

/// The access log format of a deployment, as JSON.
fn access_log_fields(deployment: &Deployment) -> BTreeMap<String, String> {
    let settings = &resource(deployment.template, "SecretsApi")["Properties"]["AccessLogSettings"];
    assert!(refers_to(&settings["DestinationArn"], "ApiAccessLogGroup"));
    let format = deployment.text(&settings["Format"]);
    serde_json::from_str(&format)
        .unwrap_or_else(|e| panic!("access log format is not JSON ({e}): {format}"))
}

#[test]
fn the_access_log_records_who_what_and_how_fast_but_no_body_or_token() {
    let template = template();
    let fields = access_log_fields(&Deployment::new(&template, "org-secrets", &[]));
    for (field, variable) in [
        ("requestId", "$context.requestId"),
        ("routeKey", "$context.routeKey"),
        ("status", "$context.status"),
        ("integrationLatency", "$context.integrationLatency"),
        ("responseLatency", "$context.responseLatency"),
        ("sourceIp", "$context.identity.sourceIp"),
        ("authorizerError", "$context.authorizer.error"),
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
        // The audit line has the organization and the actor under the same request id.
        assert!(
            !variable.starts_with("$context.authorizer.claims."),
            "{field} logs a claim"
        );
    }
}

/// Claim names are JWT claim names: Cognito's `custom:org_id` and `cognito:groups`, or a
/// namespaced URI. Each claim parameter admits them and refuses what could break a JSON
/// document or a variable, and the access log stays valid for every admitted value because
/// it names no claim (API Gateway refuses `$context.authorizer.claims.custom:org_id`).
#[test]
fn claim_parameters_admit_cognito_and_uri_claim_names_and_the_access_log_stays_valid() {
    let template = template();
    let example = yaml_file(&project_path("examples/provisioning/template.yaml"));
    let admitted = [
        "org_id",
        "custom:org_id",
        "cognito:groups",
        "https://example.com/org",
        "https://example.com/claims#org",
        "sub",
        "permissions",
        "email",
    ];
    let too_long = "a".repeat(129);
    let refused = [
        "",
        "org id",
        " org_id",
        "org\"id",
        "org\\id",
        "org,id",
        "org}id",
        "${OrgIdClaim}",
        "$context.requestId",
        too_long.as_str(),
    ];
    for parameter in CLAIM_PARAMETERS {
        let pattern = template["Parameters"][parameter]["AllowedPattern"]
            .as_str()
            .unwrap_or_else(|| panic!("{parameter} has no AllowedPattern"));
        assert_eq!(
            allowed_pattern_matches(pattern, &admitted),
            vec![true; admitted.len()],
            "{parameter}: {admitted:?}"
        );
        assert_eq!(
            allowed_pattern_matches(pattern, &refused),
            vec![false; refused.len()],
            "{parameter}: {refused:?}"
        );
        assert_eq!(
            example["Parameters"][parameter]["AllowedPattern"], pattern,
            "the provisioning example takes the main stack's {parameter}"
        );
    }
    let mut formats = BTreeSet::new();
    for claim in admitted {
        let overrides = CLAIM_PARAMETERS.map(|parameter| (parameter, claim));
        let fields = access_log_fields(&Deployment::new(&template, "org-secrets", &overrides));
        for (field, variable) in &fields {
            assert!(
                !variable.contains("$context.authorizer.claims."),
                "{claim}: {field} logs a claim: {variable}"
            );
        }
        formats.insert(fields);
    }
    assert_eq!(
        formats.len(),
        1,
        "the access log format depends on no claim parameter"
    );
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
    assert_eq!(
        role["Properties"]["Principal"],
        json!({ "Ref": "ProvisioningPrincipalArn" })
    );
    let rule = permissions["ProvisioningRuleInvokePermission"];
    assert_eq!(rule["Properties"]["Principal"], "events.amazonaws.com");
    assert_eq!(
        rule["Properties"]["SourceArn"],
        json!({ "Ref": "ProvisioningPrincipalArn" })
    );

    // Which permission a value creates (if any), and which values the parameter admits.
    let role_arn = "arn:aws:iam::123456789012:role/service-role/org-onboarding";
    let rule_arn = "arn:aws:events:eu-west-1:123456789012:rule/org-created";
    for (arn, is_role, is_rule) in [
        (role_arn, true, false),
        (rule_arn, false, true),
        ("", false, false),
    ] {
        let deployment = Deployment::new(
            &template,
            "org-secrets",
            &[
                ("ProvisioningPrincipalArn", arn),
                ("ProvisioningPrincipalAccountId", "123456789012"),
            ],
        );
        assert_eq!(
            deployment.creates("ProvisioningRoleInvokePermission"),
            is_role,
            "{arn:?}"
        );
        assert_eq!(
            deployment.creates("ProvisioningRuleInvokePermission"),
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

/// The provisioning principal acts for every organization, so it must be in this account
/// unless ProvisioningPrincipalAccountId names the account it is in. A principal elsewhere
/// gets no permission, and the stack gets a wait condition that nothing signals, so the
/// deploy fails and rolls back.
#[test]
fn the_provisioning_principal_must_be_in_this_account_unless_another_is_named() {
    let template = template();
    let role_here = format!("arn:aws:iam::{ACCOUNT}:role/org-onboarding");
    let rule_here = format!("arn:aws:events:{REGION}:{ACCOUNT}:rule/org-created");
    let role_there = format!("arn:aws:iam::{OTHER_ACCOUNT}:role/org-onboarding");
    let rule_there = format!("arn:aws:events:{REGION}:{OTHER_ACCOUNT}:rule/org-created");
    const ROLE: &str = "ProvisioningRoleInvokePermission";
    const RULE: &str = "ProvisioningRuleInvokePermission";
    const REFUSED: &str = "ProvisioningPrincipalAccountNotAllowed";
    // (ProvisioningPrincipalArn, ProvisioningPrincipalAccountId) -> what the stack has.
    let cases: [(&str, &str, &[&str]); 10] = [
        ("", "", &[]),
        ("", OTHER_ACCOUNT, &[]),
        (&role_here, "", &[ROLE]),
        (&rule_here, "", &[RULE]),
        (&role_here, ACCOUNT, &[ROLE]),
        (&role_there, "", &[REFUSED]),
        (&rule_there, "", &[REFUSED]),
        (&role_there, OTHER_ACCOUNT, &[ROLE]),
        (&rule_there, OTHER_ACCOUNT, &[RULE]),
        (&role_here, OTHER_ACCOUNT, &[REFUSED]),
    ];
    for (arn, account, expected) in cases {
        let deployment = Deployment::new(
            &template,
            "org-secrets",
            &[
                ("ProvisioningPrincipalArn", arn),
                ("ProvisioningPrincipalAccountId", account),
            ],
        );
        let created: Vec<&str> = [ROLE, RULE, REFUSED]
            .into_iter()
            .filter(|id| deployment.creates(id))
            .collect();
        assert_eq!(created, expected, "{arn:?} with account {account:?}");
        let the_account = arn.split(':').nth(4).unwrap_or_default();
        if deployment.creates(ROLE) {
            let properties = &resource(&template, ROLE)["Properties"];
            assert_eq!(deployment.text(&properties["Principal"]), arn);
        }
        if deployment.creates(RULE) {
            let properties = &resource(&template, RULE)["Properties"];
            assert_eq!(
                deployment.text(&properties["Principal"]),
                "events.amazonaws.com"
            );
            assert_eq!(deployment.text(&properties["SourceArn"]), arn);
            assert_eq!(deployment.text(&properties["SourceAccount"]), the_account);
        }
    }

    // The refusal: with a creation policy a wait condition takes no properties; nothing in
    // the stack can signal this one (nothing refers to it), so it fails after a second.
    let refused = resource(&template, REFUSED);
    assert_eq!(refused["Type"], "AWS::CloudFormation::WaitCondition");
    assert!(refused["Properties"].is_null(), "{refused}");
    assert_eq!(refused["CreationPolicy"]["ResourceSignal"]["Count"], 1);
    assert_eq!(
        refused["CreationPolicy"]["ResourceSignal"]["Timeout"],
        "PT1S"
    );
    assert_eq!(read("template.yaml").matches(REFUSED).count(), 1);

    let pattern = template["Parameters"]["ProvisioningPrincipalAccountId"]["AllowedPattern"]
        .as_str()
        .expect("ProvisioningPrincipalAccountId's AllowedPattern");
    assert_eq!(
        template["Parameters"]["ProvisioningPrincipalAccountId"]["Default"],
        ""
    );
    assert_eq!(
        allowed_pattern_matches(
            pattern,
            &[
                "",
                OTHER_ACCOUNT,
                "*",
                "12345678901",
                "1234567890123",
                &role_there
            ]
        ),
        [true, true, false, false, false, false]
    );
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

/// The change events' wiring (docs/operations.md "Change events"): the table's stream, the
/// publisher as the same build in its own role, an event source mapping that reports partial
/// failures, retries a bounded number of times and keeps what it gives up on, filters that
/// let only change records and TTL removals of recovery copies through, a role with exactly
/// what Lambda and the publisher's code call, and alarms on the failure queue and the lag.
/// The API function gains nothing: a write never calls EventBridge.
#[test]
fn change_events_are_wired_with_least_privilege() {
    let template = template();
    let table = &resource(&template, "SecretsTable")["Properties"];
    assert_eq!(
        table["StreamSpecification"],
        json!({ "StreamViewType": "NEW_AND_OLD_IMAGES" })
    );

    // The same build as the API function, in the publisher role, with no key.
    let api = resource(&template, "SecretsFunction");
    let publisher = resource(&template, "PublisherFunction");
    for field in ["CodeUri", "Handler", "Runtime", "Architectures"] {
        assert_eq!(
            publisher["Properties"][field], api["Properties"][field],
            "{field}"
        );
    }
    // SAM builds functions once only when their whole Metadata is equal (checkov skips too).
    assert_eq!(publisher["Metadata"], api["Metadata"]);
    assert_eq!(
        publisher["Properties"]["Environment"]["Variables"],
        json!({
            "ORG_SECRETS_FUNCTION": "publisher",
            "EVENT_BUS_NAME": { "Ref": "EventBusName" },
            "EVENT_SOURCE": { "Ref": "EventSource" },
        })
    );
    assert_eq!(template["Parameters"]["EventBusName"]["Default"], "default");
    assert_eq!(
        template["Parameters"]["EventSource"]["Default"],
        org_secrets::publisher::DEFAULT_EVENT_SOURCE
    );

    // One event source: the table's stream.
    let events = publisher["Properties"]["Events"]
        .as_object()
        .expect("Events");
    assert_eq!(events.len(), 1);
    let mapping = &events["TableStream"];
    assert_eq!(mapping["Type"], "DynamoDB");
    let mapping = &mapping["Properties"];
    assert_eq!(mapping["Stream"], get_att("SecretsTable", "StreamArn"));
    assert_eq!(mapping["StartingPosition"], "TRIM_HORIZON");
    assert_eq!(
        mapping["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
    assert_eq!(mapping["BisectBatchOnFunctionError"], true);
    // Below the stream's 24 hours, leaving time to publish a given-up batch again.
    assert_eq!(mapping["MaximumRecordAgeInSeconds"], 72000);
    assert!(mapping["BatchSize"].as_u64().is_some_and(|n| n <= 100));
    assert_eq!(
        mapping["MaximumRetryAttempts"],
        json!({ "Ref": "EventPublisherMaxRetryAttempts" })
    );
    let retries = &template["Parameters"]["EventPublisherMaxRetryAttempts"];
    assert_eq!(retries["MinValue"], 0, "bounded: never -1 (forever)");
    assert_eq!(retries["MaxValue"], 10000);
    assert_eq!(
        mapping["DestinationConfig"]["OnFailure"]["Destination"],
        get_att("PublisherFailureQueue", "Arn")
    );
    let queue = &resource(&template, "PublisherFailureQueue")["Properties"];
    assert!(!queue["KmsMasterKeyId"].is_null());

    // The filters: change records inserted or modified, and recovery copies replaced or
    // removed (the publisher tells a window's end from the rest).
    let patterns: Vec<Value> = mapping["FilterCriteria"]["Filters"]
        .as_array()
        .expect("filters")
        .iter()
        .map(|filter| {
            serde_json::from_str(filter["Pattern"].as_str().expect("a pattern"))
                .expect("a pattern is JSON")
        })
        .collect();
    assert_eq!(
        patterns,
        [
            json!({
                "eventName": ["INSERT", "MODIFY"],
                "dynamodb": { "Keys": {
                    "org_id": { "S": [{ "prefix": "\u{3}changes:" }] },
                    "secret_name": { "S": [{ "prefix": "request:" }] },
                } },
            }),
            json!({
                "eventName": ["MODIFY", "REMOVE"],
                "dynamodb": { "Keys": { "org_id": { "S": [{ "prefix": "\u{2}recovery:" }] } } },
            }),
        ]
    );

    // The role: exactly what Lambda does with it and what the code calls.
    let source = read("src/publisher.rs");
    let calls: Vec<&str> = source
        .split(".client")
        .skip(1)
        .filter_map(|rest| rest.trim_start().strip_prefix('.'))
        .filter_map(|rest| rest.split('(').next())
        .filter(|call| !call.is_empty())
        .collect();
    assert_eq!(calls, ["put_events"], "the publisher's EventBridge calls");
    let policy = &resource(&template, "PublisherFunctionPolicy")["Properties"];
    assert_eq!(policy["Roles"], json!([{ "Ref": "PublisherFunctionRole" }]));
    let granted: BTreeMap<String, Value> = policy["PolicyDocument"]["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .flat_map(|statement| {
            assert_eq!(statement["Effect"], "Allow");
            assert!(statement["Condition"].is_null());
            strings(&statement["Action"])
                .into_iter()
                .map(|action| (action.to_owned(), statement["Resource"].clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let stream = get_att("SecretsTable", "StreamArn");
    let expected = BTreeMap::from([
        ("dynamodb:DescribeStream".to_owned(), stream.clone()),
        ("dynamodb:GetRecords".to_owned(), stream.clone()),
        ("dynamodb:GetShardIterator".to_owned(), stream),
        (
            "dynamodb:ListStreams".to_owned(),
            json!({ "Fn::Sub": "${SecretsTable.Arn}/stream/*" }),
        ),
        (
            "events:PutEvents".to_owned(),
            json!({ "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}" }),
        ),
        (
            "sqs:SendMessage".to_owned(),
            get_att("PublisherFailureQueue", "Arn"),
        ),
        (
            "logs:CreateLogStream".to_owned(),
            get_att("PublisherFunctionLogGroup", "Arn"),
        ),
        (
            "logs:PutLogEvents".to_owned(),
            get_att("PublisherFunctionLogGroup", "Arn"),
        ),
    ]);
    assert_eq!(granted, expected);
    // SAM adds nothing to it (an explicit role gets no generated policy).
    let deployed = transformed_template();
    for (id, resource) in deployed["Resources"].as_object().expect("Resources") {
        if resource["Type"] == "AWS::IAM::Policy" && id != "PublisherFunctionPolicy" {
            assert!(
                !refers_to(&resource["Properties"]["Roles"][0], "PublisherFunctionRole"),
                "{id}"
            );
        }
    }

    // The write path gains no EventBridge call: not in the API function's policy, not in
    // the code a request runs.
    let api_policy = resource(&template, "SecretsFunctionPolicy").to_string();
    assert!(!api_policy.contains("events:"), "{api_policy}");
    for dir in ["src/api", "src/storage"] {
        let mut stack = vec![project_path(dir)];
        while let Some(path) = stack.pop() {
            if path.is_dir() {
                stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            } else {
                let text = std::fs::read_to_string(&path).unwrap();
                assert!(!text.contains("eventbridge"), "{}", path.display());
            }
        }
    }

    // Alarms: a batch given up on, and events lagging.
    let queue_alarm = &resource(&template, "PublisherFailureQueueNotEmptyAlarm")["Properties"];
    assert_eq!(
        queue_alarm["Dimensions"][0]["Value"],
        get_att("PublisherFailureQueue", "QueueName")
    );
    assert_eq!(
        queue_alarm["MetricName"],
        "ApproximateNumberOfMessagesVisible"
    );
    let lag = &resource(&template, "PublisherIteratorAgeAlarm")["Properties"];
    assert_eq!(lag["MetricName"], "IteratorAge");
    assert_eq!(
        lag["Dimensions"][0]["Value"],
        json!({ "Ref": "PublisherFunction" })
    );
}
