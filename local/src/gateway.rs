//! API Gateway HTTP API (payload format 2.0) in miniature: an HTTP request becomes the event
//! the Lambda receives in AWS, and the Lambda's answer becomes the HTTP response.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};

use crate::http::{HttpRequest, HttpResponse};

/// Dev identities: bearer token -> JWT claims, as a JWT authorizer would pass them on.
#[derive(Debug, Clone, Default)]
pub struct DevAuthorizer {
    identities: BTreeMap<String, Map<String, Value>>,
}

impl DevAuthorizer {
    /// Parses `{"token": {"claim": "value", ...}, ...}`. Claim values are kept as strings,
    /// because HTTP API hands every JWT claim to the function as a string.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let document: Value =
            serde_json::from_str(text).map_err(|e| format!("identities file is not JSON: {e}"))?;
        let Value::Object(entries) = document else {
            return Err("identities file must be an object of token -> claims".to_owned());
        };
        let mut identities = BTreeMap::new();
        for (token, claims) in entries {
            if token.starts_with('_') {
                continue; // comments
            }
            let Value::Object(claims) = claims else {
                return Err(format!("claims for token '{token}' must be an object"));
            };
            let claims = claims
                .into_iter()
                .map(|(k, v)| {
                    let text = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, Value::String(text))
                })
                .collect();
            identities.insert(token, claims);
        }
        Ok(Self { identities })
    }

    /// Claims for `Authorization: Bearer <token>`. In AWS a JWT authorizer rejects a missing
    /// or unknown token before the function runs; here the request goes on without claims,
    /// so the function's own check (401) is what answers.
    pub fn claims_for(&self, authorization: Option<&str>) -> Option<&Map<String, Value>> {
        let token = authorization?.trim().strip_prefix("Bearer ")?.trim();
        self.identities.get(token)
    }

    pub fn tokens(&self) -> impl Iterator<Item = (&String, &Map<String, Value>)> {
        self.identities.iter()
    }
}

static REQUEST_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Builds the payload-2.0 event for `request` on the `$default` stage.
pub fn http_api_event(request: &HttpRequest, claims: Option<&Map<String, Value>>) -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let request_id = format!(
        "local-{now:x}-{:06}",
        REQUEST_COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let mut headers = Map::new();
    for (name, value) in &request.headers {
        let name = name.to_ascii_lowercase();
        match headers.get_mut(&name) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(value);
            }
            _ => {
                headers.insert(name, Value::String(value.clone()));
            }
        }
    }
    let mut query = Map::new();
    for pair in request.query().split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        query.insert(key.to_owned(), Value::String(value.to_owned()));
    }
    let user_agent = request.header("user-agent").unwrap_or("").to_owned();
    let mut context = json!({
        "accountId": "123456789012",
        "apiId": "local",
        "domainName": "127.0.0.1",
        "domainPrefix": "127",
        "http": {
            "method": request.method,
            "path": request.path(),
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": user_agent,
        },
        "requestId": request_id,
        "routeKey": "$default",
        "stage": "$default",
        "time": "",
        "timeEpoch": now as u64,
    });
    if let Some(claims) = claims {
        context["authorizer"] = json!({ "jwt": { "claims": claims, "scopes": null } });
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": request.path(),
        "rawQueryString": request.query(),
        "headers": headers,
        "requestContext": context,
        "isBase64Encoded": false,
    });
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !request.body.is_empty() {
        match std::str::from_utf8(&request.body) {
            Ok(text) => event["body"] = Value::String(text.to_owned()),
            Err(_) => {
                event["body"] = Value::String(STANDARD.encode(&request.body));
                event["isBase64Encoded"] = Value::Bool(true);
            }
        }
    }
    event
}

/// Turns a payload-2.0 Lambda response into the HTTP response API Gateway would send.
pub fn http_response_from_lambda(payload: &[u8]) -> HttpResponse {
    let Ok(Value::Object(response)) = serde_json::from_slice::<Value>(payload) else {
        return HttpResponse::json(502, r#"{"message":"Internal Server Error"}"#);
    };
    let status = response
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(502);
    let mut headers = Vec::new();
    if let Some(Value::Object(map)) = response.get("headers") {
        for (name, value) in map {
            match value {
                Value::String(v) => headers.push((name.clone(), v.clone())),
                Value::Array(values) => {
                    let joined: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
                    headers.push((name.clone(), joined.join(",")));
                }
                _ => {}
            }
        }
    }
    if let Some(Value::Object(map)) = response.get("multiValueHeaders") {
        for (name, values) in map {
            if headers
                .iter()
                .any(|(existing, _)| existing.eq_ignore_ascii_case(name))
            {
                continue;
            }
            if let Value::Array(values) = values {
                let joined: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
                headers.push((name.clone(), joined.join(",")));
            }
        }
    }
    let text = response.get("body").and_then(Value::as_str).unwrap_or("");
    let body = if response.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
        STANDARD.decode(text).unwrap_or_default()
    } else {
        text.as_bytes().to_vec()
    };
    HttpResponse {
        status,
        headers,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: &[u8], headers: &[(&str, &str)]) -> HttpRequest {
        HttpRequest {
            method: "POST".to_owned(),
            target: "/v1/organizations/secrets?a=1&b=".to_owned(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.to_vec(),
        }
    }

    #[test]
    fn event_has_the_http_api_shape_and_claims_only_when_known() {
        let authorizer = DevAuthorizer::from_json(
            r#"{"_comment": "x", "tok": {"org_id": "o", "permissions": "[ADMIN]", "n": 5}}"#,
        )
        .unwrap();
        let claims = authorizer.claims_for(Some("Bearer tok"));
        assert!(claims.is_some());
        assert!(authorizer.claims_for(Some("Bearer nope")).is_none());
        assert!(authorizer.claims_for(Some("tok")).is_none());
        assert!(authorizer.claims_for(None).is_none());
        // Every claim is a string, as HTTP API delivers JWT claims.
        assert_eq!(claims.unwrap()["n"], "5");

        let event = http_api_event(&request(b"{}", &[("X-Dup", "a"), ("x-dup", "b")]), claims);
        assert_eq!(event["version"], "2.0");
        assert_eq!(event["rawPath"], "/v1/organizations/secrets");
        assert_eq!(event["rawQueryString"], "a=1&b=");
        assert_eq!(event["queryStringParameters"]["b"], "");
        assert_eq!(event["headers"]["x-dup"], "a,b");
        assert_eq!(event["requestContext"]["http"]["method"], "POST");
        assert_eq!(
            event["requestContext"]["authorizer"]["jwt"]["claims"]["org_id"],
            "o"
        );
        assert_eq!(event["body"], "{}");
        assert_eq!(event["isBase64Encoded"], false);

        let anonymous = http_api_event(&request(&[0xff, 0x00], &[]), None);
        assert!(anonymous["requestContext"].get("authorizer").is_none());
        assert_eq!(anonymous["isBase64Encoded"], true);
        assert_eq!(anonymous["body"], STANDARD.encode([0xff, 0x00]));
        assert_ne!(
            anonymous["requestContext"]["requestId"],
            event["requestContext"]["requestId"]
        );
    }

    #[test]
    fn lambda_responses_become_http_responses() {
        let response = http_response_from_lambda(
            br#"{"statusCode":405,"headers":{"allow":"POST"},"multiValueHeaders":{"x":["1","2"]},"body":"{}","isBase64Encoded":false}"#,
        );
        assert_eq!(response.status, 405);
        assert!(response
            .headers
            .contains(&("allow".to_owned(), "POST".to_owned())));
        assert!(response
            .headers
            .contains(&("x".to_owned(), "1,2".to_owned())));
        assert_eq!(response.body, b"{}");
        let binary = http_response_from_lambda(
            br#"{"statusCode":200,"body":"AAE=","isBase64Encoded":true}"#,
        );
        assert_eq!(binary.body, [0, 1]);
        assert_eq!(http_response_from_lambda(b"not json").status, 502);
    }
}
