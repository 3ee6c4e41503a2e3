//! Any bytes as an invocation event: read, sanitize, convert to a request, authenticate
//! and parse the body as the handler would. Nothing may panic.
#![no_main]

use lambda_http::RequestExt;
use libfuzzer_sys::fuzz_target;
use org_secrets::api::body::{parse_create_body, parse_update_body};
use org_secrets::auth::authenticate;
use org_secrets::config::ClaimNames;
use org_secrets::event::parse_event;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = parse_event(text) else {
        return;
    };
    let request = parsed.request;
    let names = ClaimNames::default();
    let _ = authenticate(request.request_context_ref(), &names);
    let _ = parse_create_body(request.body().as_ref(), 65_536);
    let _ = parse_update_body(request.body().as_ref(), 65_536);
});
