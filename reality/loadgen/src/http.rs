//! One HTTP/1.1 request on a fresh connection, the way the gateway's clients make it: gunicorn's
//! sync workers close every connection after its response, so nothing is pooled.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// What one request sends.
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// Extra header lines, each ending in `\r\n`.
    pub headers: &'a str,
    /// A JSON body (`POST`), or none.
    pub body: Option<&'a str>,
}

/// Sends `request` to `addr` and reads the whole response; returns its status code, or 0 when
/// the connection failed or the response did not arrive within `timeout` of the call.
pub fn send(addr: SocketAddr, host: &str, request: &Request, timeout: Duration) -> u16 {
    let deadline = Instant::now() + timeout;
    exchange(addr, host, request, deadline).unwrap_or(0)
}

fn exchange(addr: SocketAddr, host: &str, r: &Request, deadline: Instant) -> io::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, remaining(deadline)?)?;
    stream.set_nodelay(true)?;
    let mut text = format!(
        "{} {} HTTP/1.1\r\nHost: {host}\r\nAccept: */*\r\nConnection: close\r\n{}",
        r.method, r.path, r.headers
    );
    match r.body {
        Some(body) => text.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )),
        None => text.push_str("\r\n"),
    }
    stream.set_write_timeout(Some(remaining(deadline)?))?;
    stream.write_all(text.as_bytes())?;
    read_response(&mut stream, deadline)
}

/// Reads the status line, the headers and the body (by `Content-Length`, or to the end of the
/// connection without one).
fn read_response(stream: &mut TcpStream, deadline: Instant) -> io::Result<u16> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let mut head_end = None;
    loop {
        stream.set_read_timeout(Some(remaining(deadline)?))?;
        let n = stream.read(&mut chunk)?;
        buf.extend_from_slice(&chunk[..n]);
        if head_end.is_none() {
            head_end = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
        }
        if let Some(end) = head_end {
            let head = std::str::from_utf8(&buf[..end]).map_err(invalid)?;
            let status = status_code(head)?;
            match content_length(head) {
                Some(len) if buf.len() >= end + len => return Ok(status),
                None if n == 0 => return Ok(status),
                _ => {}
            }
        }
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "response cut short",
            ));
        }
    }
}

fn remaining(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"))
    } else {
        Ok(left)
    }
}

fn invalid<E: std::fmt::Display>(e: E) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// `HTTP/1.1 201 CREATED` → 201.
fn status_code(head: &str) -> io::Result<u16> {
    head.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid("no status line"))
}

fn content_length(head: &str) -> Option<usize> {
    head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::io::BufRead;
    use std::net::TcpListener;

    /// A server on 127.0.0.1 that reads one request, answers `reply` (if any) and closes;
    /// returns its address and the request it read.
    fn server(reply: Option<&'static str>) -> (SocketAddr, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = io::BufReader::new(stream);
            let mut head = String::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                head.push_str(&line);
                if line == "\r\n" {
                    break;
                }
            }
            match reply {
                Some(reply) => reader.get_mut().write_all(reply.as_bytes()).unwrap(),
                None => std::thread::sleep(Duration::from_millis(300)),
            }
            head
        });
        (addr, handle)
    }

    #[test]
    fn a_request_gets_its_status_and_carries_its_headers() {
        let (addr, handle) = server(Some(
            "HTTP/1.1 201 CREATED\r\nContent-Length: 11\r\n\r\n{\"id\": 7}\n\n",
        ));
        let request = Request {
            method: "POST",
            path: "/order",
            headers: "X-B3-TraceId: 00ff\r\n",
            body: Some("{}"),
        };
        assert_eq!(
            send(addr, "127.0.0.1:1", &request, Duration::from_secs(5)),
            201
        );
        let head = handle.join().unwrap();
        assert!(head.starts_with("POST /order HTTP/1.1\r\n"), "{head}");
        assert!(head.contains("X-B3-TraceId: 00ff\r\n") && head.contains("Content-Length: 2\r\n"));
    }

    #[test]
    fn a_silent_server_times_out_as_status_0() {
        let (addr, handle) = server(None);
        let request = Request {
            method: "GET",
            path: "/user/1",
            headers: "",
            body: None,
        };
        let started = Instant::now();
        assert_eq!(
            send(addr, "127.0.0.1:1", &request, Duration::from_millis(100)),
            0
        );
        assert!(
            started.elapsed() < Duration::from_millis(290),
            "{:?}",
            started.elapsed()
        );
        handle.join().unwrap();
    }

    #[test]
    fn reads_status_and_length() {
        let head = "HTTP/1.1 201 CREATED\r\nServer: gunicorn\r\ncontent-length: 27\r\n\r\n";
        assert_eq!(status_code(head).unwrap(), 201);
        assert_eq!(content_length(head), Some(27));
        assert_eq!(content_length("HTTP/1.1 200 OK\r\n\r\n"), None);
        assert!(status_code("garbage").is_err());
    }
}
