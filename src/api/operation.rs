//! What a request asks for: the route and the method read together, so that an item
//! operation without an item (or the reverse) cannot be written.

use lambda_http::http::Method;

use super::error::ApiError;
use crate::auth::Permission;

pub(crate) const SECRETS_PATH: &str = "/v1/organizations/secrets";
const COLLECTION_METHODS: &[&str] = &["GET", "POST"];
const ITEM_METHODS: &[&str] = &["DELETE", "GET", "PUT"];
const RESTORE_METHODS: &[&str] = &["POST"];
const RESTORE_SUFFIX: &str = "/restore";
const HISTORY_METHODS: &[&str] = &["GET"];
const HISTORY_SUFFIX: &str = "/history";
/// The list's query parameter that picks live (the default) or deleted secrets.
pub(crate) const STATE_PARAMETER: &str = "state";

/// One of the six operations, with the raw (still percent-encoded) path segment that
/// names the secret for the item operations. The segment is parsed into a `SecretName`
/// only after authorization, so that a 401 or 403 never depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation<'a> {
    List,
    /// `GET .../secrets?state=deleted`: the deleted secrets that can still be restored.
    ListDeleted,
    Create,
    /// `GET .../secrets/{secret_name}`: who made and changed it, when; never its value.
    Describe(&'a str),
    Update(&'a str),
    Delete(&'a str),
    /// `POST .../secrets/{secret_name}/restore`: bring back a deleted or previous value.
    Restore(&'a str),
    /// `GET .../secrets/{secret_name}/history`: the secret's changes, newest first.
    History(&'a str),
}

impl<'a> Operation<'a> {
    /// The operation a resource path and method name: 404 for a path that is not ours, 405
    /// (with the methods the path allows) for a method it does not take.
    pub(crate) fn from_request(path: &'a str, method: &Method) -> Result<Self, ApiError> {
        let rest = path
            .strip_prefix(SECRETS_PATH)
            .ok_or(ApiError::RouteNotFound)?;
        if rest.is_empty() {
            return match *method {
                Method::GET => Ok(Operation::List),
                Method::POST => Ok(Operation::Create),
                _ => Err(ApiError::MethodNotAllowed {
                    allow: COLLECTION_METHODS,
                }),
            };
        }
        let single = |segment: &'a str| {
            Some(segment).filter(|segment| !segment.is_empty() && !segment.contains('/'))
        };
        let rest = rest.strip_prefix('/').ok_or(ApiError::RouteNotFound)?;
        if let Some(segment) = rest.strip_suffix(RESTORE_SUFFIX).and_then(single) {
            return match *method {
                Method::POST => Ok(Operation::Restore(segment)),
                _ => Err(ApiError::MethodNotAllowed {
                    allow: RESTORE_METHODS,
                }),
            };
        }
        if let Some(segment) = rest.strip_suffix(HISTORY_SUFFIX).and_then(single) {
            return match *method {
                Method::GET => Ok(Operation::History(segment)),
                _ => Err(ApiError::MethodNotAllowed {
                    allow: HISTORY_METHODS,
                }),
            };
        }
        let segment = single(rest).ok_or(ApiError::RouteNotFound)?;
        match *method {
            Method::GET => Ok(Operation::Describe(segment)),
            Method::PUT => Ok(Operation::Update(segment)),
            Method::DELETE => Ok(Operation::Delete(segment)),
            _ => Err(ApiError::MethodNotAllowed {
                allow: ITEM_METHODS,
            }),
        }
    }

    /// A list that asks for the deleted secrets (`?state=deleted`, from either query field)
    /// is an operation of its own: it needs ADMIN. Any other `state` stays a list, which
    /// judges it after authorization, so a 401 or 403 never depends on the query.
    pub(crate) fn with_query(self, request: &lambda_http::Request) -> Self {
        match self {
            Operation::List
                if matches!(
                    crate::event::query_values(request, STATE_PARAMETER).as_deref(),
                    Ok(["deleted"])
                ) =>
            {
                Operation::ListDeleted
            }
            other => other,
        }
    }

    /// Whether `path` names one of our routes as it is (used to tell a stage prefix from
    /// a path that only looks like one).
    pub(crate) fn is_our_path(path: &str) -> bool {
        !matches!(
            Operation::from_request(path, &Method::GET),
            Err(ApiError::RouteNotFound)
        )
    }

    /// The name in the audit line.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Operation::Create => "create_secret",
            Operation::List => "list_secrets",
            Operation::ListDeleted => "list_deleted_secrets",
            Operation::Describe(_) => "describe_secret",
            Operation::Update(_) => "update_secret",
            Operation::Delete(_) => "delete_secret",
            Operation::Restore(_) => "restore_secret",
            Operation::History(_) => "secret_history",
        }
    }

    /// What each operation requires. Delete's is not published; secrets are sensitive, so
    /// ADMIN, and restore writes a value back, so ADMIN as well.
    pub(crate) fn required_permission(self) -> Permission {
        match self {
            Operation::List | Operation::Describe(_) => Permission::Read,
            Operation::Create
            | Operation::ListDeleted
            | Operation::Update(_)
            | Operation::Delete(_)
            | Operation::Restore(_)
            | Operation::History(_) => Permission::Admin,
        }
    }

    /// Create and update carry a JSON body; a body of another media type is 415.
    pub(crate) fn takes_json_body(self) -> bool {
        matches!(self, Operation::Create | Operation::Update(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_methods_name_one_operation_or_an_error() {
        let collection = "/v1/organizations/secrets";
        let item = "/v1/organizations/secrets/a%20b";
        let restore = "/v1/organizations/secrets/a%20b/restore";
        let history = "/v1/organizations/secrets/a%20b/history";
        let cases: [(&str, Method, Result<Operation<'_>, &str>); 30] = [
            (collection, Method::GET, Ok(Operation::List)),
            (collection, Method::POST, Ok(Operation::Create)),
            (item, Method::PUT, Ok(Operation::Update("a%20b"))),
            (item, Method::DELETE, Ok(Operation::Delete("a%20b"))),
            (collection, Method::PATCH, Err("GET, POST")),
            (collection, Method::DELETE, Err("GET, POST")),
            (item, Method::GET, Ok(Operation::Describe("a%20b"))),
            (item, Method::POST, Err("DELETE, GET, PUT")),
            (item, Method::PATCH, Err("DELETE, GET, PUT")),
            ("/v1/organizations/secrets/", Method::PUT, Err("404")),
            ("/v1/organizations/secrets/a/b", Method::PUT, Err("404")),
            ("/v1/organizations/secretsx", Method::GET, Err("404")),
            ("/v1/organizations", Method::GET, Err("404")),
            ("/", Method::GET, Err("404")),
            ("", Method::GET, Err("404")),
            (restore, Method::POST, Ok(Operation::Restore("a%20b"))),
            (restore, Method::PUT, Err("POST")),
            (restore, Method::DELETE, Err("POST")),
            // A secret named `restore` is an item like any other.
            (
                "/v1/organizations/secrets/restore",
                Method::DELETE,
                Ok(Operation::Delete("restore")),
            ),
            (
                "/v1/organizations/secrets//restore",
                Method::POST,
                Err("404"),
            ),
            (
                "/v1/organizations/secrets/a/b/restore",
                Method::POST,
                Err("404"),
            ),
            (
                "/v1/organizations/secrets/a/restore/x",
                Method::POST,
                Err("404"),
            ),
            (history, Method::GET, Ok(Operation::History("a%20b"))),
            (history, Method::POST, Err("GET")),
            (history, Method::DELETE, Err("GET")),
            // A secret named `history` is an item like any other.
            (
                "/v1/organizations/secrets/history",
                Method::GET,
                Ok(Operation::Describe("history")),
            ),
            (
                "/v1/organizations/secrets/history/history",
                Method::GET,
                Ok(Operation::History("history")),
            ),
            (
                "/v1/organizations/secrets//history",
                Method::GET,
                Err("404"),
            ),
            (
                "/v1/organizations/secrets/a/b/history",
                Method::GET,
                Err("404"),
            ),
            (
                "/v1/organizations/secrets/a/history/x",
                Method::GET,
                Err("404"),
            ),
        ];
        for (path, method, expected) in cases {
            let got = Operation::from_request(path, &method).map_err(|err| match err {
                ApiError::MethodNotAllowed { allow } => allow.join(", "),
                ApiError::RouteNotFound => "404".to_owned(),
                other => format!("{other:?}"),
            });
            assert_eq!(got, expected.map_err(str::to_owned), "{method} {path}");
        }
        assert!(Operation::is_our_path(collection));
        assert!(Operation::is_our_path(item));
        assert!(Operation::is_our_path(restore));
        assert!(!Operation::is_our_path("/prod/v1/organizations/secrets"));
    }

    #[test]
    fn each_operation_has_its_name_permission_and_body() {
        let table = [
            (Operation::Create, "create_secret", Permission::Admin, true),
            (Operation::List, "list_secrets", Permission::Read, false),
            (
                Operation::Update("n"),
                "update_secret",
                Permission::Admin,
                true,
            ),
            (
                Operation::Delete("n"),
                "delete_secret",
                Permission::Admin,
                false,
            ),
            (
                Operation::Restore("n"),
                "restore_secret",
                Permission::Admin,
                false,
            ),
        ];
        for (operation, name, permission, json_body) in table {
            assert_eq!(operation.name(), name);
            assert_eq!(operation.required_permission(), permission, "{name}");
            assert_eq!(operation.takes_json_body(), json_body, "{name}");
        }
    }
}
