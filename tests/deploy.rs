//! template.yaml grants the function exactly the DynamoDB actions its code calls, and
//! routes every operation the handler serves.

mod support;

use std::collections::BTreeSet;

use support::project_path;

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
    let source = read("src/storage.rs") + &read("src/reader.rs") + &read("src/api/mod.rs");
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
        "the scan of src/storage.rs should find every operation"
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
    ] {
        assert!(
            routes.contains(&(method.to_owned(), path.to_owned())),
            "template.yaml does not route {method} {path}: {routes:?}"
        );
    }
    assert_eq!(routes.len(), 4);
}
