//! Which request reaches which operation: paths (stages, percent-decoding), methods
//! (404, 405) and the item route.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn routing_404_405_and_stages() {
    let app = fresh_app().await;
    let mut other_path = admin("org_acme").create_event(&create_body("a", "b"));
    other_path["rawPath"] = json!("/v1/organizations/secretz");
    let answer = app.call(&other_path).await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.json["error"]["type"], "NotFoundError");
    assert_common_headers(&answer);

    for method in ["PUT", "DELETE", "PATCH", "HEAD"] {
        let mut event = admin("org_acme").create_event(&create_body("a", "b"));
        event["requestContext"]["http"]["method"] = json!(method);
        let answer = app.call(&event).await;
        assert_eq!(answer.status, 405, "{method}");
        assert_eq!(answer.headers["allow"], "GET, POST");
        assert_eq!(answer.json["status"], 405);
        assert_common_headers(&answer);
    }

    // A REST event with its stage in requestContext.path still routes on the resource path,
    // even when the stage is named like our first path segment.
    let app = fresh_app().await;
    let mut rest = sample_event("rest-lambda-authorizer-create.json");
    rest["requestContext"]["stage"] = json!("v1");
    assert_eq!(app.call(&rest).await.status, 201);
}

#[tokio::test]
async fn path_names_are_percent_decoded_and_validated() {
    let app = fresh_app().await;
    app.seed("org_acme", "weather key ☃", "v").await;
    let body = update_body("v2");
    let answer = app
        .admin("org_acme")
        .update_body("weather%20key%20%E2%98%83", &body)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json["secret_name"], "weather key ☃");
    for bad in [
        "/%FF",
        "/%zz",
        "/line%0Abreak",
        &format!("/{}", "n".repeat(101)),
    ] {
        let answer = app
            .call(&admin("org_acme").event("DELETE", bad, None))
            .await;
        assert_eq!(answer.status, 422, "{bad}: {}", answer.text);
        assert_eq!(
            answer.json["detail"][0]["loc"],
            json!(["path", "secret_name"])
        );
    }
    let nested = app.admin("org_acme").delete("a/b").await;
    assert_eq!(nested.status, 404);
}

#[tokio::test]
async fn item_route_allows_get_put_and_delete_only() {
    let app = fresh_app().await;
    for method in ["POST", "PATCH", "HEAD"] {
        let answer = app.call(&admin("org_acme").event(method, "/k", None)).await;
        assert_eq!(answer.status, 405, "{method}");
        assert_eq!(answer.headers["allow"], "DELETE, GET, PUT");
    }
}
