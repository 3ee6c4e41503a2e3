//! A local Lambda Runtime API (the interface `bootstrap` polls in AWS):
//! `GET /2018-06-01/runtime/invocation/next`, `POST .../invocation/{id}/response`,
//! `POST .../invocation/{id}/error` and `POST .../init/error`.
//! [`RuntimeApi::invoke`] queues an event and waits for the function's answer.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::http::{serve_connection, HttpRequest, HttpResponse};

const PREFIX: &str = "/2018-06-01/runtime";
/// The deadline handed to the function with each event, as Lambda's configured timeout.
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(10);

/// What the function answered for one invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// The body the function posted to `/response`.
    Response(Vec<u8>),
    /// The body the function posted to `/error`.
    Error(Vec<u8>),
}

#[derive(Debug)]
pub enum InvokeError {
    /// The function did not answer in time (it may have crashed, or never started).
    Timeout,
    /// The function reported an init error before it could take events.
    InitFailed(Vec<u8>),
}

#[derive(Default)]
struct State {
    queue: VecDeque<(String, Vec<u8>)>,
    waiting: HashMap<String, Sender<Invocation>>,
    init_error: Option<Vec<u8>>,
    /// When the function first asked for an event: the end of its init phase.
    first_poll: Option<Instant>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    event_ready: Condvar,
}

/// The running Runtime API; it stops with the process.
#[derive(Clone)]
pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    counter: Arc<AtomicU64>,
}

impl RuntimeApi {
    /// Listens on a free loopback port.
    pub fn start() -> io::Result<Self> {
        Self::bind("127.0.0.1:0")
    }

    pub fn bind(addr: &str) -> io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let accept_shared = Arc::clone(&shared);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = Arc::clone(&accept_shared);
                thread::spawn(move || serve_connection(stream, |req| handle(&shared, req)));
            }
        });
        Ok(Self {
            addr,
            shared,
            counter: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`: `host:port`, no scheme.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Environment a function process needs to run against this Runtime API, as Lambda sets it.
    pub fn lambda_environment(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_LAMBDA_RUNTIME_API", self.address()),
            ("AWS_LAMBDA_FUNCTION_NAME", "org-secrets-local".to_owned()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".to_owned()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                "/aws/lambda/org-secrets-local".to_owned(),
            ),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "local".to_owned()),
        ]
    }

    /// Waits until the function first polls `/next` (its init is over) and returns when
    /// that happened; `None` after `timeout`.
    pub fn wait_for_first_poll(&self, timeout: Duration) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        let mut state = lock(&self.shared);
        loop {
            if let Some(at) = state.first_poll {
                return Some(at);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            state = self
                .shared
                .event_ready
                .wait_timeout(state, left)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
    }

    /// Queues `event` and waits up to `timeout` for the function's answer.
    pub fn invoke(&self, event: &[u8], timeout: Duration) -> Result<Invocation, InvokeError> {
        let id = format!(
            "local-invoke-{:08}-{}",
            self.counter.fetch_add(1, Ordering::Relaxed),
            epoch_millis()
        );
        let (sender, receiver): (Sender<Invocation>, Receiver<Invocation>) = mpsc::channel();
        {
            let mut state = lock(&self.shared);
            if let Some(error) = &state.init_error {
                return Err(InvokeError::InitFailed(error.clone()));
            }
            state.waiting.insert(id.clone(), sender);
            state.queue.push_back((id.clone(), event.to_vec()));
        }
        self.shared.event_ready.notify_all();
        let result = receiver.recv_timeout(timeout);
        let mut state = lock(&self.shared);
        state.waiting.remove(&id);
        match result {
            Ok(invocation) => Ok(invocation),
            Err(_) => {
                state.queue.retain(|(queued, _)| queued != &id);
                match &state.init_error {
                    Some(error) => Err(InvokeError::InitFailed(error.clone())),
                    None => Err(InvokeError::Timeout),
                }
            }
        }
    }
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, State> {
    // A panicking connection thread must not take the whole emulator down with it.
    shared
        .state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn epoch_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

fn accepted() -> HttpResponse {
    HttpResponse::json(202, r#"{"status":"OK"}"#)
}

fn handle(shared: &Shared, request: HttpRequest) -> HttpResponse {
    let path = request.path().to_owned();
    let Some(route) = path.strip_prefix(PREFIX) else {
        return HttpResponse::json(404, r#"{"errorMessage":"not found"}"#);
    };
    match (request.method.as_str(), route) {
        ("GET", "/invocation/next") => next_invocation(shared),
        ("POST", "/init/error") => {
            lock(shared).init_error = Some(request.body);
            shared.event_ready.notify_all();
            accepted()
        }
        ("POST", route) => {
            let Some(rest) = route.strip_prefix("/invocation/") else {
                return HttpResponse::json(404, r#"{"errorMessage":"not found"}"#);
            };
            let (id, outcome) = match rest.rsplit_once('/') {
                Some((id, "response")) => (id, Invocation::Response(request.body)),
                Some((id, "error")) => (id, Invocation::Error(request.body)),
                _ => return HttpResponse::json(404, r#"{"errorMessage":"not found"}"#),
            };
            match lock(shared).waiting.get(id) {
                Some(sender) => {
                    let _ = sender.send(outcome);
                    accepted()
                }
                None => {
                    HttpResponse::json(400, r#"{"errorMessage":"unknown or finished invocation"}"#)
                }
            }
        }
        _ => HttpResponse::json(405, r#"{"errorMessage":"method not allowed"}"#),
    }
}

fn next_invocation(shared: &Shared) -> HttpResponse {
    let mut state = lock(shared);
    if state.first_poll.is_none() {
        state.first_poll = Some(Instant::now());
        shared.event_ready.notify_all();
    }
    let (id, event) = loop {
        if let Some(next) = state.queue.pop_front() {
            break next;
        }
        state = shared
            .event_ready
            .wait(state)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
    };
    drop(state);
    let deadline = epoch_millis() + FUNCTION_TIMEOUT.as_millis();
    HttpResponse {
        status: 200,
        headers: vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("lambda-runtime-aws-request-id".to_owned(), id),
            (
                "lambda-runtime-deadline-ms".to_owned(),
                deadline.to_string(),
            ),
            (
                "lambda-runtime-invoked-function-arn".to_owned(),
                "arn:aws:lambda:us-east-1:123456789012:function:org-secrets-local".to_owned(),
            ),
            (
                "lambda-runtime-trace-id".to_owned(),
                "Root=1-00000000-000000000000000000000000;Sampled=0".to_owned(),
            ),
        ],
        body: event,
    }
}
