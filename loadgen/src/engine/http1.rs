//! A lean HTTP/1.1 client connection for the hot path: requests go out as
//! prepared bytes, responses are parsed with `httparse` in a buffer the
//! connection reuses, and the body is looked at only when a step needs it.
//!
//! Why not hyper's client: it builds an `http::Request` and a `HeaderMap`
//! per request and hands each through a channel to a connection task. This
//! loop does one write and (usually) one read per request, like wrk.

use std::io;
use std::net::SocketAddr;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What went wrong on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The connection closed or was reset before the response was complete.
    Reset,
    /// The bytes were not a valid HTTP/1.1 response.
    Malformed,
}

impl From<io::Error> for WireError {
    fn from(_: io::Error) -> WireError {
        WireError::Reset
    }
}

/// A response: its status, and where its body lies in the connection's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Response {
    pub status: u16,
    body_start: usize,
    body_end: usize,
    chunked: bool,
    /// The server will close the connection after this response.
    pub close: bool,
}

pub struct Connection {
    stream: TcpStream,
    buffer: BytesMut,
    /// De-chunked body, only for chunked responses.
    chunked_body: Vec<u8>,
    /// Bytes of the previous response still at the front of `buffer`.
    consumed: usize,
}

const READ_CHUNK: usize = 16 * 1024;
const MAX_HEADERS: usize = 48;

impl Connection {
    pub async fn connect(address: SocketAddr) -> io::Result<Connection> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            buffer: BytesMut::with_capacity(READ_CHUNK),
            chunked_body: Vec::new(),
            consumed: 0,
        })
    }

    /// The body of `response`, valid until the next request.
    pub fn body(&self, response: &Response) -> &[u8] {
        if response.chunked {
            &self.chunked_body
        } else {
            &self.buffer[response.body_start..response.body_end]
        }
    }

    /// Sends `request` and reads the whole response. `head` says the request
    /// was a HEAD, whose response has no body.
    pub async fn round_trip(&mut self, request: &[u8], head: bool) -> Result<Response, WireError> {
        self.buffer.advance(self.consumed);
        self.consumed = 0;
        self.stream.write_all(request).await?;
        loop {
            if let Some(response) = self.parse(head)? {
                return Ok(response);
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> Result<(), WireError> {
        self.buffer.reserve(READ_CHUNK);
        match self.stream.read_buf(&mut self.buffer).await? {
            0 => Err(WireError::Reset),
            _ => Ok(()),
        }
    }

    /// A complete response at the front of the buffer, if one has arrived.
    fn parse(&mut self, head: bool) -> Result<Option<Response>, WireError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut headers);
        let head_len = match parsed.parse(&self.buffer) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(WireError::Malformed),
        };
        let status = parsed.code.ok_or(WireError::Malformed)?;
        let mut content_length = None;
        let mut chunked = false;
        let mut close = parsed.version == Some(0);
        for header in parsed.headers.iter() {
            if header.name.eq_ignore_ascii_case("content-length") {
                let text = std::str::from_utf8(header.value).map_err(|_| WireError::Malformed)?;
                content_length = Some(
                    text.trim()
                        .parse::<usize>()
                        .map_err(|_| WireError::Malformed)?,
                );
            } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = header.value.eq_ignore_ascii_case(b"chunked");
            } else if header.name.eq_ignore_ascii_case("connection") {
                close = header.value.eq_ignore_ascii_case(b"close");
            }
        }
        let bodyless = head || status == 204 || status == 304 || (100..200).contains(&status);
        if bodyless {
            self.consumed = head_len;
            return Ok(Some(Response {
                status,
                body_start: head_len,
                body_end: head_len,
                chunked: false,
                close,
            }));
        }
        if chunked {
            return match decode_chunked(&self.buffer[head_len..], &mut self.chunked_body)? {
                Some(used) => {
                    self.consumed = head_len + used;
                    Ok(Some(Response {
                        status,
                        body_start: 0,
                        body_end: 0,
                        chunked: true,
                        close,
                    }))
                }
                None => Ok(None),
            };
        }
        // Without a length, the body runs to the end of the connection; this
        // client keeps connections alive, so it asks servers for lengths.
        let length = content_length.ok_or(WireError::Malformed)?;
        let end = head_len + length;
        if self.buffer.len() < end {
            return Ok(None);
        }
        self.consumed = end;
        Ok(Some(Response {
            status,
            body_start: head_len,
            body_end: end,
            chunked: false,
            close,
        }))
    }
}

/// Decodes a complete chunked body from `input` into `out`; returns the bytes
/// used, or `None` if more must be read first.
fn decode_chunked(input: &[u8], out: &mut Vec<u8>) -> Result<Option<usize>, WireError> {
    out.clear();
    let mut position = 0;
    loop {
        match httparse::parse_chunk_size(&input[position..]) {
            Ok(httparse::Status::Complete((used, size))) => {
                position += used;
                let size = usize::try_from(size).map_err(|_| WireError::Malformed)?;
                if size == 0 {
                    // Trailers are not used by any server here: expect the final CRLF.
                    return Ok(match input.get(position..position + 2) {
                        Some(b"\r\n") => Some(position + 2),
                        Some(_) => return Err(WireError::Malformed),
                        None => None,
                    });
                }
                let Some(data) = input.get(position..position + size + 2) else {
                    return Ok(None);
                };
                if &data[size..] != b"\r\n" {
                    return Err(WireError::Malformed);
                }
                out.extend_from_slice(&data[..size]);
                position += size + 2;
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(WireError::Malformed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_chunked_bodies() {
        let mut out = Vec::new();
        let body = b"4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\nNEXT";
        assert_eq!(decode_chunked(body, &mut out), Ok(Some(body.len() - 4)));
        assert_eq!(out, b"Wikipedia");
        assert_eq!(decode_chunked(&body[..10], &mut out), Ok(None));
        assert_eq!(
            decode_chunked(b"4\r\nWikiXX", &mut out),
            Err(WireError::Malformed)
        );
    }
}
