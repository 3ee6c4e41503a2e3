//! Fault injection, one mechanism: [`FaultyDynamoDb`] is the SDK's HTTP client in this
//! process. It counts every request and applies a [`Fault`] plan to each one: forward it to
//! DynamoDB Local, answer a DynamoDB error, never answer, or drop the connection. The
//! compiled `bootstrap` (another process) reaches the same client through
//! [`FaultyDynamoDb::serve`], a hyper server (`org_secrets_local::http`) in front of it.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_smithy_http_client::Connector;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use org_secrets::storage::{SecretStore, StoreSettings};

use super::{dynamodb_endpoint, fast_fail_settings, unique_table_name};

/// What happens to one DynamoDB request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forwarded to DynamoDB Local.
    Pass,
    /// Answered with this DynamoDB error `__type` (JSON 1.0 protocol) and its HTTP status:
    /// 500 for `InternalServerError`, 400 for every other type.
    Error(&'static str),
    /// Never answered: a stuck endpoint; only a timeout ends the call.
    Hang,
    /// The connection closes without an answer: DynamoDB is gone.
    Drop,
    /// A `BatchGetItem` answered with every key it asked for unprocessed (as DynamoDB does
    /// when throttled), and no item.
    AllUnprocessed,
}

impl Fault {
    fn status(error_type: &str) -> u16 {
        if error_type == "InternalServerError" {
            500
        } else {
            400
        }
    }
}

type Plan = dyn Fn(u64) -> Fault + Send + Sync;

/// The SDK's HTTP client with a fault plan: request `n` (0-based, counted over every call
/// of every store built on it) gets `plan(n)`.
#[derive(Clone)]
pub struct FaultyDynamoDb {
    plan: Arc<Plan>,
    requests: Arc<AtomicU64>,
    hung: Arc<AtomicU64>,
    upstream: SharedHttpConnector,
}

impl std::fmt::Debug for FaultyDynamoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultyDynamoDb")
            .field("requests", &self.request_count())
            .finish_non_exhaustive()
    }
}

impl FaultyDynamoDb {
    pub fn new(plan: impl Fn(u64) -> Fault + Send + Sync + 'static) -> Self {
        Self {
            plan: Arc::new(plan),
            requests: Arc::new(AtomicU64::new(0)),
            hung: Arc::new(AtomicU64::new(0)),
            upstream: SharedHttpConnector::new(Connector::builder().build_http()),
        }
    }

    /// Every request gets `fault`.
    pub fn always(fault: Fault) -> Self {
        Self::new(move |_| fault)
    }

    /// How many requests the SDK has sent so far (retries included).
    pub fn request_count(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// How many of them were left unanswered ([`Fault::Hang`]): a test on a paused clock
    /// checks this, since a timeout would fire there before a real answer, too.
    pub fn hung_count(&self) -> u64 {
        self.hung.load(Ordering::SeqCst)
    }

    /// A store on a fresh table name through this client, with `settings`. With
    /// `create_table`, the table is first created in DynamoDB Local directly (not counted).
    pub async fn store_with(&self, settings: &StoreSettings, create_table: bool) -> SecretStore {
        let table = unique_table_name();
        if create_table {
            let direct = super::local_sdk_config(&dynamodb_endpoint()).await;
            SecretStore::from_sdk_config(&direct, table.clone(), &StoreSettings::default())
                .create_table_if_missing()
                .await
                .expect("create test table in DynamoDB Local");
        }
        let sdk = super::local_sdk_config_through(self.clone()).await;
        SecretStore::from_sdk_config(&sdk, table, settings)
    }

    /// A store on a fresh, existing table with short timeouts (`fast_fail_settings`).
    pub async fn store(&self) -> SecretStore {
        self.store_with(&fast_fail_settings(), true).await
    }

    /// As [`FaultyDynamoDb::store`], on a table that does not exist (for a plan that never
    /// forwards, or to meet a missing table).
    pub async fn store_without_table(&self) -> SecretStore {
        self.store_with(&fast_fail_settings(), false).await
    }
}

impl HttpConnector for FaultyDynamoDb {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let n = self.requests.fetch_add(1, Ordering::SeqCst);
        match (self.plan)(n) {
            Fault::Pass => self.upstream.call(request),
            Fault::Error(error_type) => {
                let body = format!(
                    r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{error_type}","message":"injected fault"}}"#
                );
                let status = StatusCode::try_from(Fault::status(error_type)).expect("status");
                let mut response = HttpResponse::new(status, SdkBody::from(body));
                response
                    .headers_mut()
                    .insert("content-type", "application/x-amz-json-1.0");
                response.headers_mut().insert("x-amzn-requestid", "FAULT");
                HttpConnectorFuture::ready(Ok(response))
            }
            Fault::Hang => {
                self.hung.fetch_add(1, Ordering::SeqCst);
                HttpConnectorFuture::new(std::future::pending())
            }
            Fault::Drop => HttpConnectorFuture::ready(Err(ConnectorError::io(
                "injected fault: connection closed without an answer".into(),
            ))),
            Fault::AllUnprocessed => {
                let asked: serde_json::Value = request
                    .body()
                    .bytes()
                    .and_then(|body| serde_json::from_slice(body).ok())
                    .expect("a BatchGetItem request body");
                let body = serde_json::json!({
                    "Responses": {},
                    "UnprocessedKeys": asked["RequestItems"],
                });
                let mut response = HttpResponse::new(
                    StatusCode::try_from(200).expect("status"),
                    SdkBody::from(body.to_string()),
                );
                response
                    .headers_mut()
                    .insert("content-type", "application/x-amz-json-1.0");
                response.headers_mut().insert("x-amzn-requestid", "FAULT");
                HttpConnectorFuture::ready(Ok(response))
            }
        }
    }
}

impl HttpClient for FaultyDynamoDb {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

impl FaultyDynamoDb {
    /// This client as a network endpoint (its URL), for the compiled `bootstrap`: a hyper
    /// server hands each request to this same client (plan and counter included), on a
    /// runtime of its own, and sends its answer back; a dropped request's connection is
    /// closed, and a hung one is never answered.
    pub fn serve(&self) -> String {
        use org_secrets_local::http::{serve_connection_or_drop, HttpResponse as Answer};
        let runtime = Arc::new(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("fault server runtime"),
        );
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let upstream = dynamodb_endpoint();
        let client = self.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (runtime, client, upstream) =
                    (Arc::clone(&runtime), client.clone(), upstream.clone());
                std::thread::spawn(move || {
                    serve_connection_or_drop(stream, |request| {
                        let mut call = HttpRequest::new(SdkBody::from(request.body));
                        call.set_uri(format!("{upstream}{}", request.target)).ok()?;
                        call.set_method(&request.method).ok()?;
                        for (name, value) in request.headers {
                            // hyper frames the forwarded body itself.
                            if !matches!(
                                name.as_str(),
                                "content-length" | "connection" | "transfer-encoding" | "expect"
                            ) {
                                call.headers_mut().insert(name, value);
                            }
                        }
                        let (done, answer) = std::sync::mpsc::channel();
                        let client = client.clone();
                        runtime.spawn(async move {
                            let response = match client.call(call).await {
                                Ok(response) => {
                                    let status = response.status().as_u16();
                                    let headers = response
                                        .headers()
                                        .iter()
                                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                                        .collect();
                                    aws_smithy_types::byte_stream::ByteStream::new(
                                        response.into_body(),
                                    )
                                    .collect()
                                    .await
                                    .ok()
                                    .map(|body| Answer {
                                        status,
                                        headers,
                                        body: body.to_vec(),
                                    })
                                }
                                Err(_) => None,
                            };
                            let _ = done.send(response);
                        });
                        answer.recv().ok().flatten()
                    })
                });
            }
        });
        endpoint
    }
}
