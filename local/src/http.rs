//! The HTTP/1.1 server side of the local tools, on `hyper`: keep-alive, fixed-length or
//! chunked bodies and `Expect: 100-continue` are hyper's. Handlers stay plain blocking
//! functions: each connection gets its own thread and a current-thread tokio runtime, so a
//! handler that waits (the Runtime API's `/next`) only holds up its own connection.

use std::io;
use std::net::TcpStream;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// Bodies larger than this are refused; API Gateway's own limit is 10 MB.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: String,
    /// The request target as sent: path plus optional `?query`.
    pub target: String,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }
}

#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body: body.into(),
        }
    }
}

/// Serves one connection until the peer closes it, answering each request with `handle`.
pub fn serve_connection(stream: TcpStream, handle: impl Fn(HttpRequest) -> HttpResponse) {
    serve_connection_or_drop(stream, |request| Some(handle(request)));
}

/// As [`serve_connection`], but `handle` may return `None` to close the connection without
/// answering (a fault injector's "the server is gone").
pub fn serve_connection_or_drop(
    stream: TcpStream,
    handle: impl Fn(HttpRequest) -> Option<HttpResponse>,
) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
    else {
        return;
    };
    runtime.block_on(async {
        let Ok(stream) = stream
            .set_nonblocking(true)
            .and_then(|()| tokio::net::TcpStream::from_std(stream))
        else {
            return;
        };
        let service = service_fn(|request: Request<Incoming>| {
            let handle = &handle;
            async move {
                let response = match read_request(request).await {
                    // The handler blocks this connection's own runtime, and only it.
                    Ok(request) => handle(request).ok_or("dropped by the handler")?,
                    Err(_) => bad_request(),
                };
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(to_hyper(response))
            }
        });
        // Errors end the connection, as they did the hand-written loop; nothing to report.
        let _ = http1::Builder::new()
            // A client that shuts down its sending side still gets its answers.
            .half_close(true)
            .serve_connection(TokioIo::new(stream), service)
            .await;
    });
}

async fn read_request(request: Request<Incoming>) -> io::Result<HttpRequest> {
    let (parts, body) = request.into_parts();
    let body = Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?
        .to_bytes();
    let target = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.to_string(), |pq| pq.as_str().to_owned());
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| {
            // Bytes that are not UTF-8 reach the function as U+FFFD, as API Gateway passes
            // such a header on instead of refusing the request; the function's own
            // validation answers it.
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).trim().to_owned(),
            )
        })
        .collect();
    Ok(HttpRequest {
        method: parts.method.as_str().to_owned(),
        target,
        headers,
        body: body.to_vec(),
    })
}

fn to_hyper(response: HttpResponse) -> Response<Full<Bytes>> {
    let mut builder = Response::builder().status(response.status);
    for (name, value) in &response.headers {
        // hyper frames the body itself.
        if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("connection") {
            continue;
        }
        builder = builder.header(name.as_str(), value.as_str());
    }
    // A handler's answer that is not valid HTTP (a bad status or header) is a gateway error.
    builder
        .body(Full::new(Bytes::from(response.body)))
        .unwrap_or_else(|_| {
            to_hyper(HttpResponse::json(
                502,
                r#"{"message":"Internal Server Error"}"#,
            ))
        })
}

/// What a request whose body cannot be read (too large, cut short) gets: the function's
/// `ErrorResponse` envelope, never cached, like every answer of the service. A request
/// hyper cannot parse at all gets hyper's own bare 400, as API Gateway answers such
/// requests itself before any function runs.
pub fn bad_request() -> HttpResponse {
    let mut response = HttpResponse::json(
        400,
        r#"{"success":false,"status":400,"error":{"message":"The request could not be read","type":"BadRequestError","code":"malformed_request"}}"#,
    );
    response
        .headers
        .push(("cache-control".to_owned(), "no-store".to_owned()));
    response
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;
    use std::thread;

    use super::*;

    /// Sends `raw` to a one-connection server; returns what it parsed and what it answered.
    fn exchange(raw: &'static [u8]) -> (Vec<HttpRequest>, String) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (sender, receiver) = mpsc::channel();
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            serve_connection(stream, |request| {
                sender.send(request).unwrap();
                HttpResponse::json(200, "{}")
            });
        });
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(raw).unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        server.join().unwrap();
        (
            receiver.try_iter().collect(),
            String::from_utf8_lossy(&answer).to_ascii_lowercase(),
        )
    }

    #[test]
    fn header_bytes_that_are_not_utf8_pass_through_as_replacement_characters() {
        let (requests, _) = exchange(
            b"POST /v1/organizations/secrets HTTP/1.1\r\nIdempotency-Key: k\xff1\r\n\
              X-Note: \xc3\x28\r\nContent-Type: application/json\xfe\r\n\r\n",
        );
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].header("idempotency-key"), Some("k\u{FFFD}1"));
        assert_eq!(requests[0].header("x-note"), Some("\u{FFFD}("));
        assert_eq!(
            requests[0].header("content-type"),
            Some("application/json\u{FFFD}")
        );
    }

    #[test]
    fn unreadable_requests_get_a_400_and_no_handler_call() {
        let cases: [&[u8]; 3] = [
            b"NONSENSE\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n",
        ];
        for raw in cases {
            let (requests, answer) = exchange(raw);
            assert!(requests.is_empty(), "{raw:?}");
            assert!(answer.starts_with("http/1.1 400"), "{answer}");
        }
        // A body over the limit reaches our own code: the service's error envelope.
        let (_, answer) = exchange(b"POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n");
        assert!(answer.contains("cache-control: no-store"), "{answer}");
        assert!(answer.contains(r#""code":"malformed_request""#), "{answer}");
    }

    #[test]
    fn keep_alive_fixed_length_and_chunked_bodies() {
        let (requests, answer) = exchange(
            b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n\
              POST /a?q=1 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello\
              POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n",
        );
        assert_eq!(requests.len(), 3);
        assert_eq!(answer.matches("http/1.1 200").count(), 3, "{answer}");
        assert_eq!(requests[0].method, "GET");
        assert!(requests[0].body.is_empty());
        assert_eq!(requests[1].path(), "/a");
        assert_eq!(requests[1].query(), "q=1");
        assert_eq!(requests[1].body, b"hello");
        assert_eq!(requests[2].body, b"abcde");
        assert_eq!(requests[2].header("TRANSFER-ENCODING"), Some("chunked"));
    }
}
