//! From the raw API Gateway event to an `http::Request`, without panics.
//!
//! `lambda_http` converts events with `expect`s and `unwrap`s: an `isBase64Encoded` body
//! that is not base64, a query string with characters a URI cannot hold, a `Host` (or
//! domain name) that is not a valid authority (`host:notaport`), an `X-Forwarded-Proto`
//! that is not a scheme, or a path without its leading `/` all panic inside the conversion. The runtime turns that panic into an invocation error and API
//! Gateway answers 502. [`sanitize`] removes those inputs first, so such a request reaches
//! the handler and gets a typed 4xx like any other bad input.

use lambda_http::aws_lambda_events::http::HeaderMap;
use lambda_http::request::LambdaRequest;
use lambda_http::Request;

/// Stands in for a body that claimed to be base64 and was not: it is not JSON either, so
/// the handler answers 422 `json_invalid` and nothing of the original is kept.
const UNDECODABLE_BODY: &str = "\u{FFFD}";

/// Makes an event safe for `lambda_http`'s conversion.
pub fn sanitize(event: &mut LambdaRequest) {
    match event {
        LambdaRequest::ApiGatewayV2(ag) => {
            fix_body(&mut ag.body, &mut ag.is_base64_encoded);
            if let Some(query) = ag.raw_query_string.as_mut() {
                *query = encode_invalid_uri_bytes(query);
            }
            fix_authority(
                &mut ag.headers,
                &mut ag.request_context.domain_name,
                &mut ag.raw_path,
                ag.request_context.stage.as_deref(),
            );
        }
        LambdaRequest::ApiGatewayV1(ag) => {
            fix_body(&mut ag.body, &mut ag.is_base64_encoded);
            fix_authority(
                &mut ag.headers,
                &mut ag.request_context.domain_name,
                &mut ag.path,
                ag.request_context.stage.as_deref(),
            );
        }
        LambdaRequest::Alb(alb) => {
            fix_body(&mut alb.body, &mut alb.is_base64_encoded);
            fix_authority(&mut alb.headers, &mut None, &mut alb.path, None);
        }
        #[allow(unreachable_patterns)]
        _ => {}
    }
}

/// Sanitizes and converts: what the Lambda does with every event, and what tests use.
pub fn into_request(mut event: LambdaRequest) -> Request {
    sanitize(&mut event);
    event.into()
}

fn fix_body(body: &mut Option<String>, is_base64_encoded: &mut bool) {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    if !*is_base64_encoded {
        return;
    }
    if let Some(text) = body.as_deref() {
        if STANDARD.decode(text).is_err() {
            *body = Some(UNDECODABLE_BODY.to_owned());
            *is_base64_encoded = false;
        }
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
/// context's domain name only if the request URI
/// `lambda_http` will build from them (`scheme://host/path`, through the `url` parser, then
/// `http::Uri`) is valid; otherwise they are dropped and it uses `http://localhost` (and, if
/// even the path cannot make a URI, `/`, which routes nowhere).
fn fix_authority(
    headers: &mut HeaderMap,
    domain_name: &mut Option<String>,
    path: &mut Option<String>,
    stage: Option<&str>,
) {
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
    let builds = |host: &str| {
        uri_builds(host, &raw_path) && staged.as_deref().is_none_or(|p| uri_builds(host, p))
    };

    let header_host = headers.get("host").map(|v| v.to_str().map(str::to_owned));
    match header_host {
        Some(Ok(host)) if builds(&host) => return,
        Some(_) => {
            headers.remove("host");
        }
        None => {}
    }
    match domain_name.as_deref() {
        Some(name) if builds(name) => return,
        Some(_) => *domain_name = None,
        None => {}
    }
    if !builds("localhost") {
        *path = Some("/".to_owned());
    }
}

/// The same steps as `lambda_http`'s `build_request_uri`, reporting failure instead of
/// panicking.
fn uri_builds(host: &str, path: &str) -> bool {
    url::Url::parse(&format!("https://{host}{path}"))
        .is_ok_and(|url| lambda_http::http::Uri::try_from(url.as_str()).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_encoding_only_touches_invalid_bytes() {
        assert_eq!(encode_invalid_uri_bytes("a=1&b=%20"), "a=1&b=%20");
        assert_eq!(encode_invalid_uri_bytes("a=x y\"é"), "a=x%20y%22%C3%A9");
    }
}
