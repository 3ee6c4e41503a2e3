//! A minimal HTTP/1.1 server side: enough for the Lambda runtime client (hyper, keep-alive,
//! fixed-length or chunked bodies) and for curl (including `Expect: 100-continue`).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;

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

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_owned())
}

fn read_line(reader: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let read = reader.take(64 * 1024).read_until(b'\n', &mut line)?;
    if read == 0 {
        return Ok(None);
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    // Bytes that are not UTF-8 reach the function as U+FFFD, as API Gateway passes such a
    // header on instead of refusing the request; the function's own validation answers it.
    Ok(Some(String::from_utf8_lossy(&line).into_owned()))
}

/// Reads one request; `Ok(None)` when the peer closed the connection between requests.
pub fn read_request(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
) -> io::Result<Option<HttpRequest>> {
    let request_line = loop {
        match read_line(reader)? {
            None => return Ok(None),
            Some(line) if line.is_empty() => continue,
            Some(line) => break line,
        }
    };
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(invalid("malformed request line"));
    };
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?.ok_or_else(|| invalid("connection closed in headers"))?;
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let mut request = HttpRequest {
        method: method.to_owned(),
        target: target.to_owned(),
        headers,
        body: Vec::new(),
    };
    if request
        .header("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    if request
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        request.body = read_chunked(reader)?;
    } else if let Some(length) = request.header("content-length") {
        let length: usize = length.parse().map_err(|_| invalid("bad content-length"))?;
        if length > MAX_BODY_BYTES {
            return Err(invalid("body too large"));
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        request.body = body;
    }
    Ok(Some(request))
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let size_line = read_line(reader)?.ok_or_else(|| invalid("closed in chunk size"))?;
        let size_hex = size_line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| invalid("bad chunk size"))?;
        if size == 0 {
            // Trailers, then the blank line.
            while let Some(line) = read_line(reader)? {
                if line.is_empty() {
                    break;
                }
            }
            return Ok(body);
        }
        if body.len() + size > MAX_BODY_BYTES {
            return Err(invalid("body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        read_line(reader)?;
    }
}

pub fn write_response(stream: &mut TcpStream, response: &HttpResponse) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason(response.status)
    );
    for (name, value) in &response.headers {
        if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("connection") {
            continue;
        }
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", response.body.len()));
    stream.write_all(head.as_bytes())?;
    stream.write_all(&response.body)?;
    stream.flush()
}

/// Serves one connection until the peer closes it, answering each request with `handle`.
pub fn serve_connection(stream: TcpStream, handle: impl Fn(HttpRequest) -> HttpResponse) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    loop {
        match read_request(&mut reader, &mut writer) {
            Ok(Some(request)) => {
                let response = handle(request);
                if write_response(&mut writer, &response).is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(_) => {
                let _ = write_response(&mut writer, &bad_request());
                return;
            }
        }
    }
}

/// What a request this server cannot parse gets: the function's `ErrorResponse` envelope,
/// never cached, like every answer of the service.
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

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::thread;

    use super::*;

    /// Sends `raw` to a one-connection server and returns what it parsed.
    fn parse(raw: &'static [u8]) -> Vec<HttpRequest> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = thread::spawn(move || {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream.write_all(raw).unwrap();
            stream.shutdown(std::net::Shutdown::Write).unwrap();
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer);
            answer
        });
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        let mut requests = Vec::new();
        while let Ok(Some(request)) = read_request(&mut reader, &mut writer) {
            requests.push(request);
        }
        // Both handles refer to the socket; the client reads until both are gone.
        drop(writer);
        drop(reader);
        client.join().unwrap();
        requests
    }

    #[test]
    fn header_bytes_that_are_not_utf8_pass_through_as_replacement_characters() {
        let requests = parse(
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
    fn unreadable_requests_get_the_error_envelope_and_no_store() {
        let cases: [&[u8]; 3] = [
            b"NONSENSE\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n",
        ];
        for raw in cases {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = thread::spawn(move || {
                let (stream, _) = listener.accept().unwrap();
                serve_connection(stream, |_| HttpResponse::json(200, "{}"));
            });
            let mut stream = TcpStream::connect(addr).unwrap();
            stream.write_all(raw).unwrap();
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer);
            server.join().unwrap();
            let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
            assert!(answer.starts_with("http/1.1 400"), "{answer}");
            assert!(answer.contains("cache-control: no-store"), "{answer}");
            assert!(answer.contains(r#""code":"malformed_request""#), "{answer}");
            assert!(answer.contains(r#""success":false"#), "{answer}");
        }
    }

    #[test]
    fn keep_alive_fixed_length_and_chunked_bodies() {
        let requests = parse(
            b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n\
              POST /a?q=1 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello\
              POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n",
        );
        assert_eq!(requests.len(), 3);
        assert_eq!(requests[0].method, "GET");
        assert!(requests[0].body.is_empty());
        assert_eq!(requests[1].path(), "/a");
        assert_eq!(requests[1].query(), "q=1");
        assert_eq!(requests[1].body, b"hello");
        assert_eq!(requests[2].body, b"abcde");
        assert_eq!(requests[2].header("TRANSFER-ENCODING"), Some("chunked"));
    }
}
