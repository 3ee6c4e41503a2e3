//! From the raw invocation event to an `http::Request`, and from the response back to the
//! shape the caller expects, without a panic or a deserialization error on any input.
//!
//! `lambda_http` deserializes events into typed structs and converts them with `expect`s.
//! Many inputs that a direct invocation can deliver (and a few API Gateway can) end there:
//! ~25,000 header names make `http::HeaderMap` panic; a header value with a control
//! character, a JWT claim that is not a string or a body that is not a string fail the
//! deserialization (an invocation error); a URI over 65,534 bytes, an `isBase64Encoded`
//! body that is not base64, a hostile `Host` or a path without its leading `/` panic inside
//! the conversion. So the function takes the event unparsed ([`parse_event`]):
//!
//! 1. it reads it as JSON (any depth: the runtime hands over raw text);
//! 2. it sanitizes the JSON by class of input ([`sanitize_value`]): header maps bounded and
//!    cleaned, unusable claims marked, body and flags type-checked;
//! 3. it deserializes the sanitized JSON into `lambda_http`'s event type, fixes what the
//!    conversion would panic on ([`sanitize`]), checks the URI it will build, and converts.
//!
//! What cannot be made usable is a [`MalformedEvent`], which the API answers with 400
//! `malformed_event` (a direct invocation's, and a payload that is not an object, end in an
//! invocation error instead). Nothing in this module quotes the input in an error.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use lambda_http::aws_lambda_events::alb::AlbTargetGroupResponse;
use lambda_http::aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayV2httpResponse};
use lambda_http::aws_lambda_events::http::{HeaderMap, HeaderName, HeaderValue};
use lambda_http::aws_lambda_events::query_map::QueryMap;
use lambda_http::http::header::SET_COOKIE;
use lambda_http::request::{LambdaRequest, RequestOrigin};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// Stands in for a body that claimed to be base64 and was not, and for a header value that
/// HTTP cannot carry: it is not JSON, not visible ASCII and not a media type, so every field
/// we validate refuses it (422 for a body or `Idempotency-Key`, 415 for `Content-Type`).
pub(crate) const UNUSABLE_TEXT: &str = "\u{FFFD}";

/// More header names than any API Gateway request can carry (its header section is limited
/// to about 10 KB); far fewer than the ~25,000 (three quarters of its 32,768 slots) at
/// which `http::HeaderMap` panics.
pub(crate) const MAX_HEADER_NAMES: usize = 512;
/// Header values in all, counting each value of a multi-value header.
pub(crate) const MAX_HEADER_VALUES: usize = 2_048;
/// `http::Uri` refuses URIs of 65,535 bytes or more; stay clearly below.
pub(crate) const MAX_URI_BYTES: usize = 65_000;
/// What a URI adds to its host, path and query: `https://` and `?`, rounded up.
const URI_OVERHEAD: usize = 16;

/// Why an event cannot be served as an HTTP request. The reason names the part of the event,
/// never its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct MalformedEvent {
    pub reason: &'static str,
}

impl MalformedEvent {
    const fn new(reason: &'static str) -> Self {
        Self { reason }
    }
}

/// What the sanitizer had to set aside, for the handler to act on. Inserted into the
/// request's extensions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventDefects {
    /// The authorizer data had a shape no authorizer produces (a JWT claim that is not a
    /// string, claims that are not an object): no claim of this event is trusted (401).
    pub malformed_claims: bool,
    /// `requestContext.requestId` was there but not a string (`null` included): the request
    /// id is refused (`invalid_request_id`), never replaced by the Lambda request id.
    pub request_id_not_a_string: bool,
}

/// The top-level event field that marks a direct invocation (`lambda:InvokeFunction` by a
/// provisioning workflow). API Gateway and ALB build the whole event themselves and never
/// emit it, and a client can only reach fields nested inside it (headers, query, body), so
/// no event they deliver can be taken for a direct one.
pub(crate) const DIRECT_INVOCATION_FIELD: &str = "directInvocation";

/// Who sent the event, which decides how a failure is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// API Gateway (REST or HTTP API) or an ALB: every outcome is an HTTP response.
    Gateway,
    /// A direct invocation: success is the HTTP API response, anything else is a Lambda
    /// invocation error, so async retries, failure destinations and Step Functions'
    /// `Retry`/`Catch` see it.
    Direct,
}

impl Caller {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Caller::Gateway => "gateway",
            Caller::Direct => "direct",
        }
    }
}

/// A usable event: the request for the handler, the shape its response must take, and who
/// sent it.
#[derive(Debug)]
pub struct ParsedEvent {
    pub request: Request,
    pub origin: RequestOrigin,
    pub caller: Caller,
}

/// An event that cannot be served, with what is known of its sender.
#[derive(Debug, Clone)]
pub struct UnusableEvent {
    pub malformed: MalformedEvent,
    /// The response shape the sender most likely expects.
    pub origin: RequestOrigin,
    pub caller: Caller,
}

/// Parses raw event text into a request. On failure, also says which response shape the
/// caller most likely expects and whether it was a direct invocation.
pub fn parse_event(raw: &str) -> Result<ParsedEvent, UnusableEvent> {
    let mut value: Value = serde_json::from_str(raw).map_err(|_| UnusableEvent {
        malformed: MalformedEvent::new("the event is not JSON this function can read"),
        origin: RequestOrigin::ApiGatewayV2,
        caller: caller_of_unreadable(raw),
    })?;
    let origin = origin_hint(&value);
    let caller = take_caller(&mut value);
    let unusable = |malformed| UnusableEvent {
        malformed,
        origin: origin.clone(),
        caller: caller.unwrap_or(Caller::Direct),
    };
    let caller = caller.map_err(unusable)?;
    // API Gateway's REST events say "1.0" or nothing; a direct event must say what it is.
    if caller == Caller::Direct && value.get("version").and_then(Value::as_str) != Some("2.0") {
        return Err(unusable(MalformedEvent::new(
            "a direct invocation must have version 2.0 (an HTTP API payload 2.0 event)",
        )));
    }
    let parsed = parse_value(&mut value, caller).map_err(unusable)?;
    if caller == Caller::Direct && !matches!(parsed.origin, RequestOrigin::ApiGatewayV2) {
        return Err(unusable(MalformedEvent::new(
            "a direct invocation must be an HTTP API (payload 2.0) event",
        )));
    }
    Ok(parsed)
}

/// Reads and removes the direct-invocation marker: absent is API Gateway, `true` is direct,
/// anything else is a direct caller's mistake (only a direct caller can add the field). A
/// payload that is not an object is a direct caller's mistake too: API Gateway and ALB
/// always send an object.
fn take_caller(value: &mut Value) -> Result<Caller, MalformedEvent> {
    let Some(event) = value.as_object_mut() else {
        return Err(MalformedEvent::new("the event is not a JSON object"));
    };
    match event.remove(DIRECT_INVOCATION_FIELD) {
        None => Ok(Caller::Gateway),
        Some(Value::Bool(true)) => Ok(Caller::Direct),
        Some(_) => Err(MalformedEvent::new(
            "directInvocation must be true when present",
        )),
    }
}

/// Who sent a payload that is JSON (the runtime hands over nothing else) but not one
/// `serde_json::Value` can hold: nested deeper than 128 levels, or with a lone surrogate
/// escape. Its top level is read without descending into it: not an object, or an object
/// with the marker, is direct (as in [`take_caller`]); an object without it, or whose top
/// level cannot be read either, is taken for API Gateway's.
fn caller_of_unreadable(raw: &str) -> Caller {
    if !raw.trim_start().starts_with('{') {
        return Caller::Direct;
    }
    match serde_json::from_str::<HashMap<String, &RawValue>>(raw) {
        Ok(fields) if fields.contains_key(DIRECT_INVOCATION_FIELD) => Caller::Direct,
        _ => Caller::Gateway,
    }
}

fn parse_value(value: &mut Value, caller: Caller) -> Result<ParsedEvent, MalformedEvent> {
    let defects = sanitize_value(value)?;
    let mut event: LambdaRequest = serde_json::from_value(value.take())
        .map_err(|_| MalformedEvent::new("the event is not an API Gateway or ALB request"))?;
    sanitize(&mut event)?;
    let origin = event.request_origin();
    // lambda_http takes the query from `rawQueryString` when there is one and drops
    // `queryStringParameters`; keep them for [`query_values`].
    let set_aside = match &event {
        LambdaRequest::ApiGatewayV2(ag) if ag.raw_query_string.is_some() => {
            Some(SetAsideQueryParameters(ag.query_string_parameters.clone()))
        }
        _ => None,
    };
    // Every input that could make the conversion panic is handled above; this is the last
    // line of defence, so a new one in a future lambda_http answers 400 rather than 502.
    let mut request = catch_unwind(AssertUnwindSafe(|| Request::from(event)))
        .map_err(|_| MalformedEvent::new("the request could not be converted"))?;
    request.extensions_mut().insert(defects);
    if let Some(set_aside) = set_aside {
        request.extensions_mut().insert(set_aside);
    }
    Ok(ParsedEvent {
        request,
        origin,
        caller,
    })
}

/// An HTTP API event's `queryStringParameters` when it also has a `rawQueryString` (from
/// which lambda_http builds the request's query), in the request's extensions.
#[derive(Debug, Clone)]
struct SetAsideQueryParameters(QueryMap);

/// The event's `rawQueryString` and `queryStringParameters` give a query parameter
/// different values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryConflict;

/// Every value of the query parameter `name`, decoded (empty when absent).
///
/// An HTTP API event can carry its query twice: API Gateway fills `rawQueryString` and
/// `queryStringParameters` (decoded, a repeated parameter's values joined by commas) from
/// one URL, so the two always agree; a direct caller may fill either or both. One that does
/// not name the parameter says nothing about it. When both name it, they must agree,
/// compared as API Gateway joins them, else it is a [`QueryConflict`]; the values are those
/// of `rawQueryString` (so `a=x&a=y` is two values, `a=x,y` one).
pub fn query_values<'r>(request: &'r Request, name: &str) -> Result<Vec<&'r str>, QueryConflict> {
    // lambda_http's: from `rawQueryString` when present, else `queryStringParameters`.
    let used = request
        .query_string_parameters_ref()
        .and_then(|query| query.all(name))
        .unwrap_or_default();
    let set_aside = request
        .extensions()
        .get::<SetAsideQueryParameters>()
        .and_then(|SetAsideQueryParameters(query)| query.all(name))
        .unwrap_or_default();
    match (used.is_empty(), set_aside.is_empty()) {
        (_, true) => Ok(used),
        (true, false) => Ok(set_aside),
        (false, false) if used.join(",") == set_aside.join(",") => Ok(used),
        (false, false) => Err(QueryConflict),
    }
}

/// The response shape for an event that could not be parsed, from its most telling fields.
fn origin_hint(value: &Value) -> RequestOrigin {
    let context = value.get("requestContext");
    if context.and_then(|c| c.get("elb")).is_some() {
        RequestOrigin::Alb
    } else if value.get("version").and_then(Value::as_str) == Some("2.0")
        || context.and_then(|c| c.get("http")).is_some()
    {
        RequestOrigin::ApiGatewayV2
    } else if value.get("httpMethod").is_some() {
        RequestOrigin::ApiGatewayV1
    } else {
        RequestOrigin::ApiGatewayV2
    }
}

/// Cleans the JSON event by class of input, before any typed deserialization sees it.
pub fn sanitize_value(value: &mut Value) -> Result<EventDefects, MalformedEvent> {
    let mut defects = EventDefects::default();
    let event = value
        .as_object_mut()
        .ok_or(MalformedEvent::new("the event is not a JSON object"))?;
    sanitize_headers(event)?;
    sanitize_body(event)?;
    // Its invalid bytes are encoded on the typed event (see `sanitize`).
    if !matches!(
        event.get("rawQueryString"),
        None | Some(Value::Null | Value::String(_))
    ) {
        return Err(MalformedEvent::new("rawQueryString is not a string"));
    }
    if let Some(Value::Object(context)) = event.get_mut("requestContext") {
        if context
            .get("requestId")
            .is_some_and(|id| !matches!(id, Value::String(_)))
        {
            context.remove("requestId");
            defects.request_id_not_a_string = true;
        }
        if let Some(Value::Object(authorizer)) = context.get_mut("authorizer") {
            if let Some(jwt) = authorizer.get_mut("jwt") {
                defects.malformed_claims |= sanitize_jwt(jwt);
            }
        }
    }
    Ok(defects)
}

/// Header maps: bounded in size, names HTTP can carry, values HTTP can carry. A name that
/// is not a valid header name is dropped (API Gateway never delivers one); a value that is
/// not a valid header value becomes [`UNUSABLE_TEXT`], so a header we validate refuses it.
fn sanitize_headers(event: &mut Map<String, Value>) -> Result<(), MalformedEvent> {
    let mut names = 0usize;
    let mut values = 0usize;
    for field in ["headers", "multiValueHeaders"] {
        let Some(map) = event.get_mut(field) else {
            continue;
        };
        let map = match map {
            Value::Null => continue,
            Value::Object(map) => map,
            _ => return Err(MalformedEvent::new("a header map is not an object")),
        };
        names += map.len();
        if names > MAX_HEADER_NAMES {
            return Err(MalformedEvent::new("the event has too many headers"));
        }
        map.retain(|name, _| HeaderName::from_bytes(name.as_bytes()).is_ok());
        for value in map.values_mut() {
            match value {
                Value::Array(items) => {
                    values += items.len();
                    items.iter_mut().for_each(clean_header_value);
                }
                other => {
                    values += 1;
                    clean_header_value(other);
                }
            }
            if values > MAX_HEADER_VALUES {
                return Err(MalformedEvent::new("the event has too many header values"));
            }
        }
    }
    Ok(())
}

fn clean_header_value(value: &mut Value) {
    let usable = value
        .as_str()
        .is_some_and(|text| HeaderValue::from_str(text).is_ok());
    if !usable {
        *value = Value::String(UNUSABLE_TEXT.to_owned());
    }
}

/// The body is a string or absent, `isBase64Encoded` a boolean or absent; a body that
/// claims to be base64 and is not becomes [`UNUSABLE_TEXT`] (422 `json_invalid`).
fn sanitize_body(event: &mut Map<String, Value>) -> Result<(), MalformedEvent> {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    let is_base64 = match event.get("isBase64Encoded") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(_) => return Err(MalformedEvent::new("isBase64Encoded is not a boolean")),
    };
    match event.get("body") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::String(text)) => {
            if !is_base64 || STANDARD.decode(text).is_ok() {
                return Ok(());
            }
        }
        Some(_) => return Err(MalformedEvent::new("the body is not a string")),
    }
    event.insert("body".to_owned(), Value::String(UNUSABLE_TEXT.to_owned()));
    event.insert("isBase64Encoded".to_owned(), Value::Bool(false));
    Ok(())
}

/// An HTTP API JWT authorizer delivers every claim as a string (it flattens arrays into
/// `"[a b]"`). Anything else did not come from it: the claims are dropped and the event
/// is marked, so the request is refused as unauthenticated. Returns whether it was marked.
fn sanitize_jwt(jwt: &mut Value) -> bool {
    let Value::Object(jwt) = jwt else {
        *jwt = Value::Null;
        return true;
    };
    let mut malformed = false;
    match jwt.get("claims") {
        None | Some(Value::Null) => {}
        Some(Value::Object(claims)) if claims.values().all(Value::is_string) => {}
        Some(_) => {
            jwt.remove("claims");
            malformed = true;
        }
    }
    match jwt.get("scopes") {
        None | Some(Value::Null) => {}
        Some(Value::Array(scopes)) if scopes.iter().all(Value::is_string) => {}
        Some(_) => {
            jwt.remove("scopes");
            malformed = true;
        }
    }
    malformed
}

/// Makes a typed event safe for `lambda_http`'s conversion, or refuses it.
pub fn sanitize(event: &mut LambdaRequest) -> Result<(), MalformedEvent> {
    match event {
        LambdaRequest::ApiGatewayV2(ag) => {
            if let Some(query) = ag.raw_query_string.as_mut() {
                *query = encode_invalid_uri_bytes(query);
            }
            let query_len = ag.raw_query_string.as_ref().map_or(0, String::len);
            fix_authority(
                &mut ag.headers,
                &mut ag.request_context.domain_name,
                &mut ag.raw_path,
                ag.request_context.stage.as_deref(),
                query_len,
            )
        }
        LambdaRequest::ApiGatewayV1(ag) => {
            let query_len = ag
                .multi_value_query_string_parameters
                .to_query_string()
                .len()
                .max(ag.query_string_parameters.to_query_string().len());
            fix_authority(
                &mut ag.headers,
                &mut ag.request_context.domain_name,
                &mut ag.path,
                ag.request_context.stage.as_deref(),
                query_len,
            )
        }
        LambdaRequest::Alb(alb) => {
            // lambda_http decodes and re-encodes ALB queries; encoding at most triples them.
            let query_len = 3 * alb
                .multi_value_query_string_parameters
                .to_query_string()
                .len()
                .max(alb.query_string_parameters.to_query_string().len());
            fix_authority(&mut alb.headers, &mut None, &mut alb.path, None, query_len)
        }
        #[allow(unreachable_patterns)]
        _ => Err(MalformedEvent::new("the event is not an HTTP request")),
    }
}

/// Percent-encodes what `http::Uri` refuses in a query (spaces, quotes, non-ASCII, ...).
fn encode_invalid_uri_bytes(query: &str) -> String {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%[]".contains(&b);
    if query.bytes().all(allowed) {
        return query.to_owned();
    }
    let mut encoded = String::with_capacity(query.len() + 8);
    for byte in query.bytes() {
        if allowed(byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// Restores the path's leading `/`, and keeps `X-Forwarded-Proto`, `Host` and the
/// context's domain name only if the request URI `lambda_http` will build from them
/// (`scheme://host/path`, through the `url` parser, then `http::Uri`) is valid; otherwise
/// they are dropped and it uses `localhost`. If even that URI cannot be built, or the whole
/// URI with its query would be too long for `http::Uri`, the event is refused.
fn fix_authority(
    headers: &mut HeaderMap,
    domain_name: &mut Option<String>,
    path: &mut Option<String>,
    stage: Option<&str>,
    query_len: usize,
) -> Result<(), MalformedEvent> {
    let proto_ok = headers
        .get("x-forwarded-proto")
        .is_none_or(|proto| matches!(proto.to_str(), Ok("http" | "https")));
    if !proto_ok {
        headers.remove("x-forwarded-proto");
    }
    // lambda_http glues the path after `scheme://host`; without a leading `/` it would
    // become part of the authority.
    if let Some(path) = path.as_mut().filter(|path| !path.starts_with('/')) {
        path.insert(0, '/');
    }
    let raw_path = path.clone().unwrap_or_default();
    // lambda_http puts a named stage in front of the path; then check that form too.
    let staged = stage
        .filter(|stage| *stage != "$default")
        .map(|stage| format!("/{stage}{raw_path}"));
    let longest_path = staged.as_ref().map_or(raw_path.len(), String::len);
    // The URI's length, bounded from above: `https://` and `?` (9 bytes, rounded up to 16),
    // the host, the path (percent-encoding triples it at most) and the query.
    let builds = |host: &str| {
        URI_OVERHEAD + host.len() + 3 * longest_path + query_len <= MAX_URI_BYTES
            && uri_builds(host, &raw_path)
            && staged.as_deref().is_none_or(|p| uri_builds(host, p))
    };

    let header_host = headers.get("host").map(|v| v.to_str().map(str::to_owned));
    match header_host {
        Some(Ok(host)) if builds(&host) => return Ok(()),
        Some(_) => {
            headers.remove("host");
        }
        None => {}
    }
    match domain_name.as_deref() {
        Some(name) if builds(name) => return Ok(()),
        Some(_) => *domain_name = None,
        None => {}
    }
    if builds("localhost") {
        Ok(())
    } else {
        Err(MalformedEvent::new(
            "the request URI is too long or its path cannot form a URI",
        ))
    }
}

/// The same steps as `lambda_http`'s `build_request_uri`, reporting failure instead of
/// panicking.
fn uri_builds(host: &str, path: &str) -> bool {
    url::Url::parse(&format!("https://{host}{path}"))
        .is_ok_and(|url| lambda_http::http::Uri::try_from(url.as_str()).is_ok())
}

/// The Lambda response for `response` in the shape `origin` expects: what `lambda_http`
/// does for its own handlers (API Gateway REST: multi-value headers only; HTTP API:
/// `Set-Cookie` moved to `cookies`; ALB: both header maps and a status description).
pub fn lambda_response(origin: &RequestOrigin, response: Response<Body>) -> Value {
    let (parts, body) = response.into_parts();
    let (is_base64_encoded, body) = match body {
        text @ Body::Text(_) => (false, Some(text)),
        bytes @ Body::Binary(_) => (true, Some(bytes)),
        // Body::Empty (and any kind a later lambda_http adds): no body.
        _ => (false, None),
    };
    let status_code = i64::from(parts.status.as_u16());
    let mut headers = parts.headers;
    let serialized = match origin {
        RequestOrigin::ApiGatewayV1 => {
            let mut out = ApiGatewayProxyResponse::default();
            out.status_code = status_code;
            out.is_base64_encoded = is_base64_encoded;
            out.body = body;
            out.multi_value_headers = headers;
            serde_json::to_value(out)
        }
        RequestOrigin::Alb => {
            let mut out = AlbTargetGroupResponse::default();
            out.status_code = status_code;
            out.status_description = Some(format!(
                "{} {}",
                parts.status.as_u16(),
                parts.status.canonical_reason().unwrap_or_default()
            ));
            out.is_base64_encoded = is_base64_encoded;
            out.body = body;
            out.headers = headers.clone();
            out.multi_value_headers = headers;
            serde_json::to_value(out)
        }
        _ => {
            let mut out = ApiGatewayV2httpResponse::default();
            out.cookies = headers
                .get_all(SET_COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_owned))
                .collect();
            headers.remove(SET_COOKIE);
            out.status_code = status_code;
            out.is_base64_encoded = is_base64_encoded;
            out.body = body;
            out.headers = headers;
            serde_json::to_value(out)
        }
    };
    // Our responses are JSON text with ASCII header values; serializing them cannot fail.
    // Should it ever, a bare 500 still answers the invocation.
    serialized.unwrap_or_else(|_| serde_json::json!({ "statusCode": 500 }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_encoding_only_touches_invalid_bytes() {
        assert_eq!(encode_invalid_uri_bytes("a=1&b=%20"), "a=1&b=%20");
        assert_eq!(encode_invalid_uri_bytes("a=x y\"é"), "a=x%20y%22%C3%A9");
    }

    fn headers_event(headers: Value) -> Value {
        serde_json::json!({ "headers": headers })
    }

    #[test]
    fn header_maps_are_bounded_and_cleaned() {
        use serde_json::json;
        let names = |n: usize| -> Value {
            Value::Object((0..n).map(|i| (format!("x-{i}"), json!("v"))).collect())
        };
        assert!(sanitize_value(&mut headers_event(names(MAX_HEADER_NAMES))).is_ok());
        assert!(sanitize_value(&mut headers_event(names(MAX_HEADER_NAMES + 1))).is_err());
        // The two maps count together.
        let mut split = json!({ "headers": names(300), "multiValueHeaders": names(300) });
        assert!(sanitize_value(&mut split).is_err());
        let values = |n: usize| json!({ "multiValueHeaders": { "x": vec!["v"; n] } });
        assert!(sanitize_value(&mut values(MAX_HEADER_VALUES)).is_ok());
        assert!(sanitize_value(&mut values(MAX_HEADER_VALUES + 1)).is_err());
        // Single values count as one each, together with the lists.
        let mut mixed = values(MAX_HEADER_VALUES);
        mixed["headers"] = json!({ "x-one": "v" });
        assert!(sanitize_value(&mut mixed).is_err());
        assert!(sanitize_value(&mut headers_event(json!(["host"]))).is_err());
        // Both maps count together: 200 + 313 names are over the limit.
        let mut three = json!({ "headers": names(200), "multiValueHeaders": names(200) });
        assert!(sanitize_value(&mut three).is_ok());
        three["multiValueHeaders"] = names(313);
        assert!(sanitize_value(&mut three).is_err());
        assert!(sanitize_value(&mut headers_event(Value::Null)).is_ok());

        let mut event = headers_event(json!({
            "bad name": "v",
            "ok": "fine\tvalue",
            "esc": "a\u{1b}b",
            "nul": "\u{0}",
            "del": "\u{7f}",
            "number": 5,
            "list": ["ok", "b\u{1}d", 7],
            "utf8": "caf\u{e9}",
        }));
        sanitize_value(&mut event).unwrap();
        let headers = &event["headers"];
        assert!(headers.get("bad name").is_none());
        assert_eq!(headers["ok"], "fine\tvalue");
        for cleaned in ["esc", "nul", "del", "number"] {
            assert_eq!(headers[cleaned], UNUSABLE_TEXT, "{cleaned}");
        }
        assert_eq!(headers["list"], json!(["ok", UNUSABLE_TEXT, UNUSABLE_TEXT]));
        assert_eq!(headers["utf8"], "caf\u{e9}");
    }

    #[test]
    fn bodies_and_flags_are_type_checked() {
        use serde_json::json;
        let check = |event: Value| {
            let mut event = event;
            sanitize_value(&mut event).map(|_| event)
        };
        assert!(check(json!({ "body": 5 })).is_err());
        assert!(check(json!({ "body": {} })).is_err());
        assert!(check(json!({ "isBase64Encoded": "yes" })).is_err());
        assert!(check(json!({ "rawQueryString": 7 })).is_err());
        assert!(check(json!([])).is_err());
        let fine = check(json!({ "body": "e30=", "isBase64Encoded": true })).unwrap();
        assert_eq!(fine["body"], "e30=");
        assert_eq!(fine["isBase64Encoded"], true);
        let bad = check(json!({ "body": "%%%", "isBase64Encoded": true })).unwrap();
        assert_eq!(bad["body"], UNUSABLE_TEXT);
        assert_eq!(bad["isBase64Encoded"], false);
        let plain = check(json!({ "body": "%%%", "isBase64Encoded": false })).unwrap();
        assert_eq!(plain["body"], "%%%");
        let unflagged = check(json!({ "body": "%%%" })).unwrap();
        assert_eq!(unflagged["body"], "%%%");
        assert!(check(json!({ "rawQueryString": null })).is_ok());
        assert!(check(json!({ "rawQueryString": "a=x y" })).is_ok());
    }

    #[test]
    fn jwt_claims_that_are_not_strings_mark_the_event() {
        use serde_json::json;
        let defects = |jwt: Value| {
            let mut event = json!({ "requestContext": { "authorizer": { "jwt": jwt } } });
            let defects = sanitize_value(&mut event).unwrap();
            (defects.malformed_claims, event)
        };
        assert!(!defects(json!({ "claims": { "org_id": "o" }, "scopes": ["a"] })).0);
        assert!(!defects(json!({ "claims": null, "scopes": null })).0);
        assert!(!defects(json!({})).0);
        for bad in [
            json!({ "claims": { "org_id": 5 } }),
            json!({ "claims": { "org_id": "o", "groups": ["a"] } }),
            json!({ "claims": { "x": null } }),
            json!({ "claims": "org_id=o" }),
            json!({ "scopes": 5 }),
            json!({ "scopes": [1] }),
            json!([]),
            json!("jwt"),
        ] {
            let (marked, event) = defects(bad.clone());
            assert!(marked, "{bad}");
            // What remains deserializes: no claims, no scopes.
            let jwt = &event["requestContext"]["authorizer"]["jwt"];
            assert!(
                jwt.get("claims").is_none() || jwt["claims"].is_object(),
                "{bad}"
            );
            assert!(
                jwt.get("scopes").is_none() || jwt["scopes"].is_array(),
                "{bad}"
            );
        }
    }

    fn http_api_event(path: &str, query: &str) -> String {
        serde_json::json!({
            "version": "2.0",
            "rawPath": path,
            "rawQueryString": query,
            "headers": { "host": "example.com" },
            "requestContext": { "http": { "method": "GET", "path": path }, "stage": "$default" },
        })
        .to_string()
    }

    #[test]
    fn the_uri_bound_is_exact() {
        // No host: lambda_http uses "localhost" (9). Path "/" counts 3 times; then the query.
        let room = MAX_URI_BYTES - URI_OVERHEAD - "localhost".len() - 3;
        let event = |stage: &str, query_len: usize| {
            let mut event: Value = serde_json::from_str(&http_api_event(
                "/",
                &format!("q={}", "a".repeat(query_len - 2)),
            ))
            .unwrap();
            event["headers"] = serde_json::json!({});
            event["requestContext"]["stage"] = serde_json::json!(stage);
            event.to_string()
        };
        assert!(parse_event(&event("$default", room)).is_ok());
        assert!(parse_event(&event("$default", room + 1)).is_err());
        // A named stage is part of the path lambda_http builds: "/prod" costs 3 x 5 more.
        assert!(parse_event(&event("prod", room - 15)).is_ok());
        assert!(parse_event(&event("prod", room - 14)).is_err());
    }

    #[test]
    fn uris_are_checked_before_they_are_built() {
        assert!(parse_event(&http_api_event("/v1/organizations/secrets", "a=1")).is_ok());
        // Bytes a URI cannot hold in the query are percent-encoded, not fatal.
        let spaced = parse_event(&http_api_event("/x", "a=x y\"")).unwrap();
        assert_eq!(spaced.request.uri().query(), Some("a=x%20y%22"));
        let long_query = format!("q={}", "a".repeat(MAX_URI_BYTES));
        assert!(parse_event(&http_api_event("/", &long_query)).is_err());
        let long_path = format!("/{}", "p".repeat(MAX_URI_BYTES / 3));
        assert!(parse_event(&http_api_event(&long_path, "")).is_err());
        let fits = format!("/{}", "p".repeat(MAX_URI_BYTES / 4));
        assert!(parse_event(&http_api_event(&fits, "")).is_ok());
        // A path without its leading '/' gets one.
        let parsed = parse_event(&http_api_event("v1/x", "")).unwrap();
        assert_eq!(parsed.request.uri().path(), "/v1/x");
        // A host lambda_http cannot use is dropped, not fatal.
        let mut event: Value = serde_json::from_str(&http_api_event("/x", "")).unwrap();
        event["headers"]["host"] = serde_json::json!("bad host:port`");
        let parsed = parse_event(&event.to_string()).unwrap();
        assert_eq!(parsed.request.uri().path(), "/x");
        assert!(parsed.request.headers().get("host").is_none());
    }

    fn direct_event(version: Option<Value>) -> Value {
        let mut event: Value = serde_json::from_str(&http_api_event("/x", "")).unwrap();
        event[DIRECT_INVOCATION_FIELD] = Value::Bool(true);
        match version {
            Some(version) => event["version"] = version,
            None => {
                event.as_object_mut().unwrap().remove("version");
            }
        }
        event
    }

    #[test]
    fn a_direct_event_must_say_version_2_0() {
        use serde_json::json;
        assert!(parse_event(&direct_event(Some(json!("2.0"))).to_string()).is_ok());
        for version in [
            None,
            Some(json!("1.0")),
            Some(json!(2)),
            Some(json!(2.0)),
            Some(json!("2.0 ")),
            Some(json!("2")),
            Some(Value::Null),
        ] {
            let event = direct_event(version.clone());
            let err = parse_event(&event.to_string()).unwrap_err();
            assert_eq!(err.caller, Caller::Direct, "{version:?}");
            // Without the marker the field is not checked (REST events say "1.0" or
            // nothing): the rest of the event decides its shape, and a version that is
            // not a string is unreadable like any mistyped field, answered as a response.
            let mut gateway = event;
            gateway
                .as_object_mut()
                .unwrap()
                .remove(DIRECT_INVOCATION_FIELD);
            let caller = match parse_event(&gateway.to_string()) {
                Ok(parsed) => parsed.caller,
                Err(unusable) => {
                    assert!(version.as_ref().is_some_and(Value::is_number));
                    unusable.caller
                }
            };
            assert_eq!(caller, Caller::Gateway, "{version:?}");
        }
    }

    #[test]
    fn a_payload_that_is_not_an_object_is_direct() {
        let deep_array = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
        let deep = |marker: &str| {
            format!(
                r#"{{{marker}"version": "2.0", "x": {}1{}}}"#,
                "[".repeat(10_000),
                "]".repeat(10_000)
            )
        };
        let cases = [
            ("[]", Caller::Direct),
            ("[1, 2]", Caller::Direct),
            ("null", Caller::Direct),
            (" 7", Caller::Direct),
            ("-1", Caller::Direct),
            (r#""text""#, Caller::Direct),
            ("true", Caller::Direct),
            ("false", Caller::Direct),
            (&deep_array, Caller::Direct),
            // Objects: the marker decides, readable or not.
            ("{}", Caller::Gateway),
            (&deep(""), Caller::Gateway),
            (&deep(r#""directInvocation": true, "#), Caller::Direct),
            (&deep(r#""directInvocation": "yes", "#), Caller::Direct),
            (
                r#"{"directInvocation": true, "body": "\ud800"}"#,
                Caller::Direct,
            ),
            (r#"{"body": "\ud800"}"#, Caller::Gateway),
        ];
        for (raw, caller) in cases {
            let label = &raw[..raw.len().min(40)];
            let readable = serde_json::from_str::<Value>(raw).is_ok();
            assert_eq!(
                readable,
                raw.len() < 100 && !raw.contains("ud800"),
                "{label}"
            );
            let err = parse_event(raw).unwrap_err();
            assert_eq!(err.caller, caller, "{label}");
        }
    }

    #[test]
    fn query_values_come_from_either_field_and_must_agree() {
        use serde_json::json;
        let event = |raw: Option<&str>, params: Value| {
            let mut event: Value = serde_json::from_str(&http_api_event("/x", "")).unwrap();
            match raw {
                Some(raw) => event["rawQueryString"] = json!(raw),
                None => {
                    event.as_object_mut().unwrap().remove("rawQueryString");
                }
            }
            event["queryStringParameters"] = params;
            parse_event(&event.to_string()).unwrap().request
        };
        let values = |raw, params| {
            query_values(&event(raw, params), "v")
                .map(|values| values.into_iter().map(str::to_owned).collect::<Vec<_>>())
        };
        let ok =
            |values: &[&str]| -> Values { Ok(values.iter().map(|v| (*v).to_owned()).collect()) };
        type Values = Result<Vec<String>, QueryConflict>;
        let cases: [(Option<&str>, Value, Values); 19] = [
            (None, Value::Null, ok(&[])),
            (Some(""), Value::Null, ok(&[])),
            (Some("v=a"), Value::Null, ok(&["a"])),
            (None, json!({ "v": "a" }), ok(&["a"])),
            (Some(""), json!({ "v": "a" }), ok(&["a"])),
            (Some("w=1"), json!({ "v": "a" }), ok(&["a"])),
            (Some("v=a"), json!({ "w": "1" }), ok(&["a"])),
            (Some("v=a"), json!({ "v": "a" }), ok(&["a"])),
            (Some("v=a"), json!({ "v": ["a"] }), ok(&["a"])),
            (Some("v=a"), json!({ "v": "b" }), Err(QueryConflict)),
            (Some("v=a&v=b"), json!({ "v": "a,b" }), ok(&["a", "b"])),
            (Some("v=a&v=b"), json!({ "v": "b,a" }), Err(QueryConflict)),
            (Some("v=a,b"), json!({ "v": "a,b" }), ok(&["a,b"])),
            (None, json!({ "v": "a,b" }), ok(&["a", "b"])),
            (Some("v=%61"), json!({ "v": "a" }), ok(&["a"])),
            (Some("v=a"), json!({ "v": "%61" }), Err(QueryConflict)),
            (Some("v="), json!({ "v": "" }), ok(&[""])),
            (Some("v="), json!({ "v": "a" }), Err(QueryConflict)),
            (
                Some("w=1&v=a&x=2"),
                json!({ "w": "9", "v": "a" }),
                ok(&["a"]),
            ),
        ];
        for (raw, params, expected) in cases {
            assert_eq!(values(raw, params.clone()), expected, "{raw:?} {params}");
        }
    }

    fn rest_event(query: Value) -> String {
        serde_json::json!({
            "httpMethod": "GET",
            "path": "/v1/organizations/secrets",
            "headers": { "Host": "example.com", "X-Forwarded-Proto": "gopher" },
            "queryStringParameters": query.clone(),
            "multiValueQueryStringParameters": query.as_object().map(|q| {
                q.iter().map(|(k, v)| (k.clone(), serde_json::json!([v]))).collect::<Map<_, _>>()
            }),
            "requestContext": { "httpMethod": "GET", "requestId": "r", "stage": "prod", "domainName": "api.example.com" },
        })
        .to_string()
    }

    fn alb_event(query: Value) -> String {
        serde_json::json!({
            "httpMethod": "GET",
            "path": "/v1/organizations/secrets",
            "queryStringParameters": query,
            "headers": { "host": "lb.example" },
            "requestContext": { "elb": { "targetGroupArn": "arn" } },
        })
        .to_string()
    }

    #[test]
    fn rest_and_alb_query_lengths_are_checked_too() {
        use serde_json::json;
        let short = json!({ "q": "1" });
        let long = json!({ "q": "c".repeat(MAX_URI_BYTES) });
        let third = json!({ "q": "c".repeat(MAX_URI_BYTES / 3 + 10) });
        let rest = parse_event(&rest_event(short.clone())).unwrap();
        assert_eq!(format!("{:?}", rest.origin), "ApiGatewayV1");
        // A scheme lambda_http cannot use is dropped; the stage goes in front of the path.
        assert_eq!(rest.request.uri().scheme_str(), Some("https"));
        assert_eq!(rest.request.uri().path(), "/prod/v1/organizations/secrets");
        assert!(parse_event(&rest_event(long.clone())).is_err());
        let alb = parse_event(&alb_event(short)).unwrap();
        assert_eq!(format!("{:?}", alb.origin), "Alb");
        assert!(parse_event(&alb_event(long)).is_err());
        // ALB queries are re-encoded by lambda_http, so a third of the limit is refused.
        assert!(parse_event(&alb_event(third)).is_err());
    }

    #[test]
    fn a_bad_host_falls_back_to_the_domain_name() {
        let mut event: Value = serde_json::from_str(&http_api_event("/x", "")).unwrap();
        event["headers"]["host"] = serde_json::json!("bad host");
        event["requestContext"]["domainName"] = serde_json::json!("api.example.com");
        let parsed = parse_event(&event.to_string()).unwrap();
        assert_eq!(parsed.request.uri().host(), Some("api.example.com"));
        event["requestContext"]["domainName"] = serde_json::json!("bad domain");
        let parsed = parse_event(&event.to_string()).unwrap();
        assert_eq!(parsed.request.uri().host(), None);
        assert_eq!(parsed.request.uri().path(), "/x");
        // A good host is kept as it is.
        let parsed = parse_event(&http_api_event("/x", "")).unwrap();
        assert_eq!(parsed.request.uri().host(), Some("example.com"));
    }

    #[test]
    fn empty_and_binary_bodies_keep_their_kind() {
        let empty = lambda_response(&RequestOrigin::ApiGatewayV2, Response::new(Body::Empty));
        assert!(
            empty.get("body").is_none() || empty["body"].is_null(),
            "{empty}"
        );
        assert_eq!(empty["isBase64Encoded"], false);
        let binary = lambda_response(
            &RequestOrigin::ApiGatewayV2,
            Response::new(Body::Binary(vec![0xff, 0x00])),
        );
        assert_eq!(binary["isBase64Encoded"], true);
        assert_eq!(binary["body"], "/wA=");
    }

    #[test]
    fn responses_take_the_callers_shape() {
        let response = || {
            let mut response = Response::new(Body::Text("{}".to_owned()));
            *response.status_mut() = lambda_http::http::StatusCode::CREATED;
            response
                .headers_mut()
                .insert("cache-control", HeaderValue::from_static("no-store"));
            response
                .headers_mut()
                .insert(SET_COOKIE, HeaderValue::from_static("a=b"));
            response
        };
        let v2 = lambda_response(&RequestOrigin::ApiGatewayV2, response());
        assert_eq!(v2["statusCode"], 201);
        assert_eq!(v2["body"], "{}");
        assert_eq!(v2["isBase64Encoded"], false);
        assert_eq!(v2["headers"]["cache-control"], "no-store");
        assert!(v2["headers"].get("set-cookie").is_none());
        assert_eq!(v2["cookies"], serde_json::json!(["a=b"]));
        let v1 = lambda_response(&RequestOrigin::ApiGatewayV1, response());
        assert_eq!(v1["statusCode"], 201);
        assert_eq!(
            v1["multiValueHeaders"]["cache-control"],
            serde_json::json!(["no-store"])
        );
        assert_eq!(v1["headers"], serde_json::json!({}));
        let alb = lambda_response(&RequestOrigin::Alb, response());
        assert_eq!(alb["statusDescription"], "201 Created");
        assert_eq!(alb["headers"]["cache-control"], "no-store");
        assert_eq!(
            alb["multiValueHeaders"]["cache-control"],
            serde_json::json!(["no-store"])
        );
    }

    #[test]
    fn origin_hint_follows_the_event_shape() {
        let hint = |v: Value| format!("{:?}", origin_hint(&v));
        assert_eq!(
            hint(serde_json::json!({"requestContext": {"elb": {}}})),
            "Alb"
        );
        assert_eq!(hint(serde_json::json!({"version": "2.0"})), "ApiGatewayV2");
        assert_eq!(
            hint(serde_json::json!({"httpMethod": "GET"})),
            "ApiGatewayV1"
        );
        assert_eq!(
            hint(serde_json::json!({"httpMethod": "GET", "requestContext": {"http": {}}})),
            "ApiGatewayV2"
        );
        assert_eq!(hint(serde_json::json!([])), "ApiGatewayV2");
        // An unreadable event of each shape is answered in that shape.
        let rest = r#"{"httpMethod": "POST", "body": 5}"#;
        assert_eq!(
            format!("{:?}", parse_event(rest).unwrap_err().origin),
            "ApiGatewayV1"
        );
        let http = r#"{"version": "2.0", "body": 5}"#;
        assert_eq!(
            format!("{:?}", parse_event(http).unwrap_err().origin),
            "ApiGatewayV2"
        );
        assert_eq!(
            format!("{:?}", parse_event("not json").unwrap_err().origin),
            "ApiGatewayV2"
        );
    }
}
