//! YAML documents (openapi.yaml, the SAM templates) as JSON values, read with `serde_yaml_ng`.
//! CloudFormation's short-form tags become their long forms, as CloudFormation reads them:
//! `!Ref X` is `{"Ref": "X"}`, `!GetAtt A.B` is `{"Fn::GetAtt": ["A", "B"]}`, `!Sub s` is
//! `{"Fn::Sub": s}`, and so on.

use std::path::Path;

use serde_json::{Map, Value};
use serde_yaml_ng::Value as Yaml;

/// The YAML file at `path` as JSON; panics with the file's name if it cannot be read.
pub fn yaml_file(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let document: Yaml =
        serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    to_json(document)
}

fn to_json(yaml: Yaml) -> Value {
    match yaml {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64().map_or(Value::Null, Value::from)
            }
        }
        Yaml::String(s) => Value::String(s),
        Yaml::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Yaml::Mapping(entries) => Value::Object(
            entries
                .into_iter()
                .map(|(key, value)| (key_text(key), to_json(value)))
                .collect::<Map<_, _>>(),
        ),
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let suffix = tag.trim_start_matches('!');
            let name = if suffix == "Ref" {
                "Ref".to_owned()
            } else {
                format!("Fn::{suffix}")
            };
            let value = match (suffix, to_json(tagged.value)) {
                ("GetAtt", Value::String(target)) => match target.split_once('.') {
                    Some((resource, attribute)) => {
                        Value::Array(vec![resource.into(), attribute.into()])
                    }
                    None => Value::Array(vec![target.into()]),
                },
                (_, value) => value,
            };
            Value::Object(Map::from_iter([(name, value)]))
        }
    }
}

/// JSON keys are strings: a YAML key that is a number or a boolean becomes its text, as
/// Python's `json.dump` writes it.
fn key_text(key: Yaml) -> String {
    match key {
        Yaml::String(s) => s,
        Yaml::Bool(b) => b.to_string(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Null => "null".to_owned(),
        other => panic!("unsupported YAML mapping key: {other:?}"),
    }
}

#[test]
fn short_form_tags_become_long_forms() {
    let document: Yaml = serde_yaml_ng::from_str(
        "a: !Ref X\nb: !GetAtt Fn.Arn\nc: !Sub '${X}'\nd: !If [C, 1, 2]\ne: !Join ['', [!Ref Y]]\n200: x\n",
    )
    .unwrap();
    assert_eq!(
        to_json(document),
        serde_json::json!({
            "a": {"Ref": "X"},
            "b": {"Fn::GetAtt": ["Fn", "Arn"]},
            "c": {"Fn::Sub": "${X}"},
            "d": {"Fn::If": ["C", 1, 2]},
            "e": {"Fn::Join": ["", [{"Ref": "Y"}]]},
            "200": "x",
        })
    );
}

/// openapi.yaml as JSON.
pub fn openapi() -> Value {
    yaml_file(&super::project_path("openapi.yaml"))
}

/// The statuses openapi.yaml declares for `method` on `path`.
pub fn declared(document: &Value, path: &str, method: &str) -> std::collections::BTreeSet<u16> {
    assert_eq!(document["openapi"], "3.1.0");
    document["paths"][path][method]["responses"]
        .as_object()
        .unwrap_or_else(|| panic!("openapi.yaml has no responses for {method} {path}"))
        .keys()
        .map(|code| code.parse().expect("numeric status"))
        .collect()
}

/// Every status in `observed` is declared for `method` on `path`.
pub fn assert_declared(
    document: &Value,
    path: &str,
    method: &str,
    observed: &std::collections::BTreeSet<u16>,
) {
    let declared = declared(document, path, method);
    let missing: Vec<_> = observed.difference(&declared).collect();
    assert!(
        missing.is_empty(),
        "{method} {path}: statuses not declared in openapi.yaml: {missing:?}"
    );
}

/// The property names of the component schema `schema`.
pub fn schema_properties(document: &Value, schema: &str) -> std::collections::BTreeSet<String> {
    document["components"]["schemas"][schema]["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("openapi.yaml has no schema {schema}"))
        .keys()
        .cloned()
        .collect()
}
