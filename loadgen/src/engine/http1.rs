//! A lean HTTP/1.1 client connection for the hot path: requests go out as
//! prepared bytes, responses are parsed with `httparse` in a buffer the
//! connection reuses, and the body is looked at only when a step needs it.
//!
//! Why not hyper's client: it builds an `http::Request` and a `HeaderMap`
//! per request and hands each through a channel to a connection task. This
//! loop does one write and (usually) one read per request, like wrk.
//!
//! It reads what servers send (RFC 9112): interim 1xx responses are skipped,
//! bodies are framed by `Transfer-Encoding`, then `Content-Length`, else by
//! the end of the connection, and chunked bodies may carry extensions and
//! trailers. Once the buffers have grown, a request allocates nothing.

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
    /// For a chunked body, the end of its encoded form.
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
    /// Header slots for heads the stack array cannot hold. Empty between
    /// parses (the slots borrow the buffer), but it keeps its allocation.
    spare_headers: SpareHeaders,
}

const READ_CHUNK: usize = 16 * 1024;
/// Header slots on the stack: enough for every server here.
const STACK_HEADERS: usize = 48;
/// A head with more headers than this is refused as malformed.
const MAX_HEADERS: usize = 256;

/// A parsed response head.
#[derive(Debug)]
pub struct Head {
    pub status: u16,
    /// Bytes from the status line through the blank line.
    pub length: usize,
    pub close: bool,
    pub framing: Framing,
}

/// How the body after a head ends.
#[derive(Debug, PartialEq, Eq)]
pub enum Framing {
    Empty,
    Length(usize),
    Chunked,
    UntilClose,
}

#[derive(Debug)]
pub enum HeadStatus {
    Partial,
    /// A 1xx response of this many bytes; the final one follows it.
    Interim(usize),
    Final(Head),
}

impl Connection {
    pub async fn connect(address: SocketAddr) -> io::Result<Connection> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            buffer: BytesMut::with_capacity(READ_CHUNK),
            chunked_body: Vec::new(),
            consumed: 0,
            spare_headers: Vec::new(),
        })
    }

    /// Connects to the first of `addresses` that accepts, trying them in
    /// order starting at index `preferred` and wrapping around: a name such
    /// as `localhost` resolves to both `::1` and `127.0.0.1`, and a server
    /// may listen on only one. Returns the connection and the index of the
    /// address that accepted; pass that index back as `preferred` so later
    /// connections go straight to it. If none accepts, returns the last
    /// address's error (`InvalidInput` when `addresses` is empty). Each
    /// attempt waits as long as the OS lets it: callers bound the whole call
    /// with a timeout.
    pub async fn connect_any(
        addresses: &[SocketAddr],
        preferred: usize,
    ) -> io::Result<(Connection, usize)> {
        let start = preferred.checked_rem(addresses.len()).unwrap_or(0);
        let mut last_error =
            io::Error::new(io::ErrorKind::InvalidInput, "no address to connect to");
        for index in (start..addresses.len()).chain(0..start) {
            match Connection::connect(addresses[index]).await {
                Ok(connection) => return Ok((connection, index)),
                Err(error) => last_error = error,
            }
        }
        Err(last_error)
    }

    /// The body of `response`, valid until the next request.
    pub fn body(&self, response: &Response) -> &[u8] {
        if response.chunked {
            &self.chunked_body
        } else {
            &self.buffer[response.body_start..response.body_end]
        }
    }

    /// Sends `request` and reads the whole final response. `head` says the
    /// request was a HEAD, whose response has no body. If the returned
    /// future is dropped before it completes, the connection is mid-response
    /// and must be dropped too.
    pub async fn round_trip(&mut self, request: &[u8], head: bool) -> Result<Response, WireError> {
        self.buffer.advance(self.consumed);
        self.consumed = 0;
        self.stream.write_all(request).await?;
        let final_head = loop {
            match self.parse_head(head)? {
                HeadStatus::Final(final_head) => break final_head,
                HeadStatus::Interim(length) => self.buffer.advance(length),
                HeadStatus::Partial => self.fill_or_reset().await?,
            }
        };
        let mut response = Response {
            status: final_head.status,
            body_start: final_head.length,
            body_end: final_head.length,
            chunked: false,
            close: final_head.close,
        };
        match final_head.framing {
            Framing::Empty => {}
            Framing::Length(length) => {
                response.body_end = final_head
                    .length
                    .checked_add(length)
                    .ok_or(WireError::Malformed)?;
                while self.buffer.len() < response.body_end {
                    self.fill_or_reset().await?;
                }
            }
            Framing::Chunked => {
                response.chunked = true;
                self.chunked_body.clear();
                let mut decoder = ChunkedDecoder::new(final_head.length);
                response.body_end = loop {
                    if let Some(end) = decoder.decode(&self.buffer, &mut self.chunked_body)? {
                        break end;
                    }
                    self.fill_or_reset().await?;
                };
            }
            Framing::UntilClose => {
                while self.fill().await? {}
                response.body_end = self.buffer.len();
                response.close = true;
            }
        }
        self.consumed = response.body_end;
        Ok(response)
    }

    /// Completes when the server closes (or resets) the connection while it
    /// is idle between requests, as servers do with idle keep-alive
    /// connections. Cancel-safe: bytes that arrive meanwhile are kept for
    /// the next response.
    pub async fn closed_by_peer(&mut self) {
        while let Ok(true) = self.fill().await {}
    }

    /// Reads more of the response; `false` once the server has closed.
    async fn fill(&mut self) -> io::Result<bool> {
        self.buffer.reserve(READ_CHUNK);
        Ok(self.stream.read_buf(&mut self.buffer).await? > 0)
    }

    async fn fill_or_reset(&mut self) -> Result<(), WireError> {
        if self.fill().await? {
            Ok(())
        } else {
            Err(WireError::Reset)
        }
    }

    fn parse_head(&mut self, head_request: bool) -> Result<HeadStatus, WireError> {
        parse_head(&self.buffer, &mut self.spare_headers, head_request)
    }
}

/// Header slots kept between parses, for heads too big for the stack.
pub type SpareHeaders = Vec<httparse::Header<'static>>;

/// The response head at the front of `buffer`, if it has all arrived: the
/// parser of every response loadgen reads (and of the micro-benchmarks).
/// `spare_headers` keeps header slots between calls for heads with more
/// headers than fit on the stack; `head_request` says the request was a HEAD.
pub fn parse_head(
    buffer: &[u8],
    spare_headers: &mut SpareHeaders,
    head_request: bool,
) -> Result<HeadStatus, WireError> {
    let mut stack_headers = [httparse::EMPTY_HEADER; STACK_HEADERS];
    let mut parsed = httparse::Response::new(&mut stack_headers);
    match parsed.parse(buffer) {
        Ok(status) => return interpret(&parsed, status, head_request),
        Err(httparse::Error::TooManyHeaders) => {}
        Err(_) => return Err(WireError::Malformed),
    }
    let mut heap_headers = recycle(std::mem::take(spare_headers));
    heap_headers.resize(MAX_HEADERS, httparse::EMPTY_HEADER);
    let mut parsed = httparse::Response::new(&mut heap_headers);
    let outcome = match parsed.parse(buffer) {
        Ok(status) => interpret(&parsed, status, head_request),
        Err(_) => Err(WireError::Malformed),
    };
    *spare_headers = recycle(heap_headers);
    outcome
}

/// Empties `headers` for use with another buffer's lifetime. Collecting into
/// an element type of the same layout reuses the allocation.
fn recycle<'to>(mut headers: Vec<httparse::Header<'_>>) -> Vec<httparse::Header<'to>> {
    headers.clear();
    headers
        .into_iter()
        .map(|_| httparse::EMPTY_HEADER)
        .collect()
}

/// Reads framing and connection handling from a parsed head (RFC 9112 §6.3).
fn interpret(
    parsed: &httparse::Response<'_, '_>,
    status: httparse::Status<usize>,
    head_request: bool,
) -> Result<HeadStatus, WireError> {
    let httparse::Status::Complete(length) = status else {
        return Ok(HeadStatus::Partial);
    };
    let status = parsed.code.ok_or(WireError::Malformed)?;
    let mut content_length = None;
    let mut transfer_encoded = false;
    let mut chunked = false;
    let mut close_token = false;
    let mut keep_alive_token = false;
    for header in parsed.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            // Repeats are allowed only if they agree.
            for value in list_elements(header.value) {
                let value = parse_decimal(value).ok_or(WireError::Malformed)?;
                if content_length.is_some_and(|known| known != value) {
                    return Err(WireError::Malformed);
                }
                content_length = Some(value);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoded = true;
            // Codings apply in order, so only the last says how the body ends.
            if let Some(last) = list_elements(header.value).last() {
                chunked = last.eq_ignore_ascii_case(b"chunked");
            }
        } else if name.eq_ignore_ascii_case("connection") {
            for option in list_elements(header.value) {
                close_token |= option.eq_ignore_ascii_case(b"close");
                keep_alive_token |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    let close = close_token || (parsed.version == Some(0) && !keep_alive_token);
    let (framing, close) = match status {
        0..=99 => return Err(WireError::Malformed),
        // The connection now speaks another protocol, which this client does not.
        101 => (Framing::Empty, true),
        100..=199 => return Ok(HeadStatus::Interim(length)),
        204 | 304 => (Framing::Empty, close),
        _ if head_request => (Framing::Empty, close),
        _ if chunked => (Framing::Chunked, close),
        _ if transfer_encoded => (Framing::UntilClose, true),
        _ => match content_length {
            Some(body_length) => (Framing::Length(body_length), close),
            None => (Framing::UntilClose, true),
        },
    };
    Ok(HeadStatus::Final(Head {
        status,
        length,
        close,
        framing,
    }))
}

/// The non-empty elements of a comma-separated header value, without
/// surrounding whitespace.
fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&byte| byte == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|element| !element.is_empty())
}

/// Digits only: `str::parse` would also take a sign.
fn parse_decimal(digits: &[u8]) -> Option<usize> {
    digits.iter().try_fold(0usize, |value, &digit| {
        if !digit.is_ascii_digit() {
            return None;
        }
        value
            .checked_mul(10)?
            .checked_add(usize::from(digit - b'0'))
    })
}

/// Decodes a chunked body as it arrives. Each call resumes where the last
/// stopped, so every byte is decoded once however many reads the body takes;
/// only an incomplete chunk-size or trailer line is looked at again.
struct ChunkedDecoder {
    /// Where in the buffer decoding has reached.
    position: usize,
    state: ChunkState,
}

enum ChunkState {
    /// At a chunk-size line.
    Size,
    /// Inside a chunk's data, with this many bytes still to come.
    Data(usize),
    /// At the CRLF that ends a chunk's data.
    DataEnd,
    /// Past the last chunk: trailer lines, then an empty line.
    Trailers,
}

impl ChunkedDecoder {
    fn new(body_start: usize) -> ChunkedDecoder {
        ChunkedDecoder {
            position: body_start,
            state: ChunkState::Size,
        }
    }

    /// Appends to `out` the data that `buffer` holds beyond the previous
    /// call; returns where the body ends once all of it has arrived.
    fn decode(&mut self, buffer: &[u8], out: &mut Vec<u8>) -> Result<Option<usize>, WireError> {
        loop {
            let input = &buffer[self.position..];
            match self.state {
                ChunkState::Size => match httparse::parse_chunk_size(input) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        self.position += used;
                        self.state = match size {
                            0 => ChunkState::Trailers,
                            _ => ChunkState::Data(
                                usize::try_from(size).map_err(|_| WireError::Malformed)?,
                            ),
                        };
                    }
                    Ok(httparse::Status::Partial) => return Ok(None),
                    Err(_) => return Err(WireError::Malformed),
                },
                ChunkState::Data(remaining) => {
                    if input.is_empty() {
                        return Ok(None);
                    }
                    let available = remaining.min(input.len());
                    out.extend_from_slice(&input[..available]);
                    self.position += available;
                    self.state = match remaining - available {
                        0 => ChunkState::DataEnd,
                        left => ChunkState::Data(left),
                    };
                }
                ChunkState::DataEnd => match input {
                    [b'\r', b'\n', ..] => {
                        self.position += 2;
                        self.state = ChunkState::Size;
                    }
                    [] | [b'\r'] => return Ok(None),
                    _ => return Err(WireError::Malformed),
                },
                ChunkState::Trailers => {
                    let Some(newline) = input.iter().position(|&byte| byte == b'\n') else {
                        return Ok(None);
                    };
                    self.position += newline + 1;
                    if matches!(&input[..newline], b"" | b"\r") {
                        return Ok(Some(self.position));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use tokio::net::TcpListener;

    use super::*;

    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n";
    const HEAD: &[u8] = b"HEAD / HTTP/1.1\r\nHost: test\r\n\r\n";

    /// Reads one request, through its blank line, from `stream`.
    async fn read_request(stream: &mut TcpStream, received: &mut Vec<u8>) {
        loop {
            if let Some(end) = received.windows(4).position(|window| window == b"\r\n\r\n") {
                received.drain(..end + 4);
                return;
            }
            let mut chunk = [0; 1024];
            let read = stream.read(&mut chunk).await.unwrap();
            assert!(read > 0, "the client closed before sending a request");
            received.extend_from_slice(&chunk[..read]);
        }
    }

    /// Writes `bytes` `piece` bytes at a time, yielding between writes so
    /// the client reads each piece on its own.
    async fn write_in_pieces(stream: &mut TcpStream, bytes: &[u8], piece: usize) {
        for piece in bytes.chunks(piece) {
            stream.write_all(piece).await.unwrap();
            tokio::task::yield_now().await;
        }
    }

    /// A server for one connection: for each of `replies` in turn, it reads
    /// a request and writes the reply in pieces; then it closes.
    async fn serve(replies: Vec<Vec<u8>>, piece: usize) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut received = Vec::new();
            for reply in replies {
                read_request(&mut stream, &mut received).await;
                write_in_pieces(&mut stream, &reply, piece).await;
            }
        });
        address
    }

    /// Status, body and `close` of a GET answered with `reply`.
    async fn get_once(reply: &[u8], piece: usize) -> Result<(u16, Vec<u8>, bool), WireError> {
        let address = serve(vec![reply.to_vec()], piece).await;
        let mut connection = Connection::connect(address).await.unwrap();
        let response = connection.round_trip(GET, false).await?;
        Ok((
            response.status,
            connection.body(&response).to_vec(),
            response.close,
        ))
    }

    /// Status, body and `close` of each request sent in turn on one connection.
    async fn exchanges(
        connection: &mut Connection,
        requests: &[&[u8]],
    ) -> Vec<(u16, Vec<u8>, bool)> {
        let mut results = Vec::new();
        for request in requests {
            let head = request.starts_with(b"HEAD");
            let response = connection.round_trip(request, head).await.unwrap();
            results.push((
                response.status,
                connection.body(&response).to_vec(),
                response.close,
            ));
        }
        results
    }

    fn ok(body: &[u8], close: bool) -> (u16, Vec<u8>, bool) {
        (200, body.to_vec(), close)
    }

    /// `body` encoded in chunks of `chunk_size` bytes, ending with a trailer.
    fn chunked(body: &[u8], chunk_size: usize) -> Vec<u8> {
        let mut encoded = Vec::new();
        for chunk in body.chunks(chunk_size) {
            encoded.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            encoded.extend_from_slice(chunk);
            encoded.extend_from_slice(b"\r\n");
        }
        encoded.extend_from_slice(b"0\r\nX-Trailer: yes\r\n\r\n");
        encoded
    }

    fn patterned(length: usize) -> Vec<u8> {
        (0..length).map(|index| (index % 251) as u8).collect()
    }

    #[tokio::test]
    async fn skips_100_continue() {
        let reply =
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(get_once(reply, 1).await, Ok(ok(b"hello", false)));
    }

    #[tokio::test]
    async fn skips_103_early_hints() {
        let reply = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n\
            HTTP/1.1 103 Early Hints\r\nLink: </b.js>; rel=preload\r\n\r\n\
            HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(get_once(reply, 7).await, Ok(ok(b"ok", false)));
    }

    #[tokio::test]
    async fn switching_protocols_is_final_and_closes() {
        let reply = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n\x00\x00";
        assert_eq!(get_once(reply, 100).await, Ok((101, Vec::new(), true)));
    }

    #[tokio::test]
    async fn chunked_body_with_extensions_and_trailers() {
        let first = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
            4;name=value\r\nWiki\r\n5;a;b=\"c d\"\r\npedia\r\n0;last\r\n\
            Expires: never\r\nX-Checksum: abc\r\n\r\n";
        let second = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext";
        let address = serve(vec![first.to_vec(), second.to_vec()], 1).await;
        let mut connection = Connection::connect(address).await.unwrap();
        // The second response parses only if the trailers were consumed.
        assert_eq!(
            exchanges(&mut connection, &[GET, GET]).await,
            [ok(b"Wikipedia", false), ok(b"next", false)]
        );
    }

    #[tokio::test]
    async fn last_transfer_coding_chunked_means_chunked() {
        let listed = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
            3\r\nabc\r\n0\r\n\r\n";
        // Repeated headers form one list, and chunked wins over Content-Length.
        let repeated = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 99\r\n\
            transfer-encoding: CHUNKED\r\n\r\n3\r\ndef\r\n0\r\n\r\n";
        let address = serve(vec![listed.to_vec(), repeated.to_vec()], 5).await;
        let mut connection = Connection::connect(address).await.unwrap();
        assert_eq!(
            exchanges(&mut connection, &[GET, GET]).await,
            [ok(b"abc", false), ok(b"def", false)]
        );
    }

    #[tokio::test]
    async fn transfer_coding_not_ending_in_chunked_runs_until_close() {
        let reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\
            Content-Length: 2\r\n\r\nnot two bytes";
        assert_eq!(get_once(reply, 4).await, Ok(ok(b"not two bytes", true)));
    }

    #[tokio::test]
    async fn close_among_connection_options_closes() {
        let reply =
            b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(get_once(reply, 3).await, Ok(ok(b"ok", true)));
    }

    #[tokio::test]
    async fn http_1_0_closes_unless_kept_alive() {
        let plain = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(get_once(plain, 3).await, Ok(ok(b"ok", true)));

        let kept = b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok";
        let address = serve(vec![kept.to_vec(), kept.to_vec()], 3).await;
        let mut connection = Connection::connect(address).await.unwrap();
        assert_eq!(
            exchanges(&mut connection, &[GET, GET]).await,
            [ok(b"ok", false), ok(b"ok", false)]
        );
    }

    #[tokio::test]
    async fn body_without_length_runs_until_close() {
        let body = patterned(10_000);
        let mut reply = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n".to_vec();
        reply.extend_from_slice(&body);
        assert_eq!(get_once(&reply, 700).await, Ok(ok(&body, true)));
    }

    #[tokio::test]
    async fn more_headers_than_the_stack_holds() {
        let mut reply = b"HTTP/1.1 200 OK\r\n".to_vec();
        for index in 0..100 {
            reply.extend_from_slice(format!("X-Header-{index}: value {index}\r\n").as_bytes());
        }
        reply.extend_from_slice(b"Content-Length: 2\r\n\r\nok");
        let address = serve(vec![reply.clone(), reply], 64).await;
        let mut connection = Connection::connect(address).await.unwrap();
        assert_eq!(
            exchanges(&mut connection, &[GET, GET]).await,
            [ok(b"ok", false), ok(b"ok", false)]
        );
        assert!(connection.spare_headers.capacity() >= MAX_HEADERS);
    }

    #[tokio::test]
    async fn more_headers_than_the_limit_are_malformed() {
        let mut reply = b"HTTP/1.1 200 OK\r\n".to_vec();
        for index in 0..=MAX_HEADERS {
            reply.extend_from_slice(format!("X-Header-{index}: value\r\n").as_bytes());
        }
        reply.extend_from_slice(b"Content-Length: 0\r\n\r\n");
        assert_eq!(get_once(&reply, 4096).await, Err(WireError::Malformed));
    }

    #[test]
    fn recycled_header_slots_keep_their_allocation() {
        let mut headers = vec![httparse::EMPTY_HEADER; MAX_HEADERS];
        headers[0].name = "Borrowed";
        let allocation = headers.as_ptr() as usize;
        let recycled: Vec<httparse::Header<'static>> = recycle(headers);
        assert!(recycled.is_empty());
        assert_eq!(recycled.as_ptr() as usize, allocation);
        assert!(recycled.capacity() >= MAX_HEADERS);
    }

    #[tokio::test]
    async fn zero_content_length() {
        let empty = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        let next = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext";
        let address = serve(vec![empty.to_vec(), next.to_vec()], 2).await;
        let mut connection = Connection::connect(address).await.unwrap();
        assert_eq!(
            exchanges(&mut connection, &[GET, GET]).await,
            [ok(b"", false), ok(b"next", false)]
        );
    }

    #[tokio::test]
    async fn back_to_back_responses_with_leftover_bytes() {
        let first = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst".to_vec();
        let second = b"HTTP/1.1 201 Created\r\nContent-Length: 6\r\n\r\nsecond".to_vec();
        // The second response starts arriving with the first.
        let (early, late) = second.split_at(15);
        let address = serve(vec![[first, early.to_vec()].concat(), late.to_vec()], 1000).await;
        let mut connection = Connection::connect(address).await.unwrap();
        assert_eq!(
            exchanges(&mut connection, &[GET, GET]).await,
            [ok(b"first", false), (201, b"second".to_vec(), false)]
        );
    }

    #[tokio::test]
    async fn closed_by_peer_keeps_early_bytes_and_notices_the_close() {
        let first = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst".to_vec();
        let second = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond".to_vec();
        let (early, late) = second.split_at(20);
        let address = serve(vec![[first, early.to_vec()].concat(), late.to_vec()], 4).await;
        let mut connection = Connection::connect(address).await.unwrap();
        assert_eq!(
            exchanges(&mut connection, &[GET]).await,
            [ok(b"first", false)]
        );
        // Still open: the wait is cut short, and what arrived during it kept.
        let waited = tokio::time::timeout(Duration::from_millis(50), connection.closed_by_peer());
        assert!(waited.await.is_err());
        assert_eq!(
            exchanges(&mut connection, &[GET]).await,
            [ok(b"second", false)]
        );
        // The server closes after its last reply.
        let waited = tokio::time::timeout(Duration::from_secs(5), connection.closed_by_peer());
        assert!(waited.await.is_ok());
    }

    #[tokio::test]
    async fn head_204_and_304_have_no_body() {
        let replies = [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"[..],
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\ncontent-length: 2\r\n\r\nok",
        ];
        let address = serve(replies.map(<[u8]>::to_vec).to_vec(), 3).await;
        let mut connection = Connection::connect(address).await.unwrap();
        assert_eq!(
            exchanges(&mut connection, &[HEAD, GET, GET, GET]).await,
            [
                ok(b"", false),
                (204, Vec::new(), false),
                (304, Vec::new(), false),
                ok(b"ok", false),
            ]
        );
    }

    #[tokio::test]
    async fn conflicting_content_lengths_are_malformed() {
        let repeated = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc";
        assert_eq!(get_once(repeated, 100).await, Err(WireError::Malformed));
        let listed = b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nabc";
        assert_eq!(get_once(listed, 100).await, Err(WireError::Malformed));
    }

    #[tokio::test]
    async fn large_chunked_body_in_small_writes() {
        let body = patterned(1 << 20);
        let mut reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        reply.extend_from_slice(&chunked(&body, 4096));
        let address = serve(vec![reply], 1000).await;
        let mut connection = Connection::connect(address).await.unwrap();
        let response = connection.round_trip(GET, false).await.unwrap();
        assert_eq!(response.status, 200);
        assert!(connection.body(&response) == body, "the body differs");
    }

    #[test]
    fn decodes_chunked_bodies() {
        let body = b"4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\nNEXT";
        let mut out = Vec::new();
        let mut decoder = ChunkedDecoder::new(0);
        assert_eq!(decoder.decode(&body[..10], &mut out), Ok(None));
        assert_eq!(decoder.decode(body, &mut out), Ok(Some(body.len() - 4)));
        assert_eq!(out, b"Wikipedia");

        for malformed in [&b"4\r\nWikiXX"[..], b"x\r\n", b"3\r\nabc\n"] {
            let mut decoder = ChunkedDecoder::new(0);
            let mut out = Vec::new();
            let complete = [malformed, b"\r\n\r\n"].concat();
            assert_eq!(
                decoder.decode(&complete, &mut out),
                Err(WireError::Malformed),
                "{:?}",
                String::from_utf8_lossy(malformed)
            );
        }
    }

    /// Fed a byte at a time, the decoder leaves behind only the incomplete
    /// line it is in, so no byte is examined more than a line's length times.
    #[test]
    fn chunked_decoding_is_linear() {
        let body = patterned(1 << 20);
        let encoded = chunked(&body, 4096);
        let longest_line = b"X-Trailer: yes\r\n".len();
        let mut decoder = ChunkedDecoder::new(0);
        let mut out = Vec::new();
        let started = Instant::now();
        let mut end = None;
        for arrived in 1..=encoded.len() {
            end = decoder.decode(&encoded[..arrived], &mut out).unwrap();
            assert!(arrived - decoder.position < longest_line);
        }
        assert_eq!(end, Some(encoded.len()));
        assert!(out == body, "the body differs");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    /// A port that refuses connections: one nothing listens on.
    fn refusing_address() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], schema::free_port(None).unwrap()))
    }

    #[tokio::test]
    async fn connect_any_moves_past_a_refusing_address() {
        let refusing = refusing_address();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let accepting = listener.local_addr().unwrap();

        let (_, index) = Connection::connect_any(&[refusing, accepting], 0)
            .await
            .unwrap();
        assert_eq!(index, 1);
        // Starting at the preferred index, and wrapping around past the end.
        let (_, index) = Connection::connect_any(&[refusing, accepting], 1)
            .await
            .unwrap();
        assert_eq!(index, 1);
        let (_, index) = Connection::connect_any(&[accepting, refusing], 1)
            .await
            .unwrap();
        assert_eq!(index, 0);
    }

    #[tokio::test]
    async fn connect_any_fails_when_no_address_accepts() {
        let error = Connection::connect_any(&[refusing_address()], 0)
            .await
            .err()
            .unwrap();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
        let error = Connection::connect_any(&[], 0).await.err().unwrap();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    }

    #[tokio::test]
    async fn malformed_status_line() {
        let reply = b"HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(get_once(reply, 5).await, Err(WireError::Malformed));
    }

    #[tokio::test]
    async fn reset_mid_body() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            read_request(&mut stream, &mut Vec::new()).await;
            let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part";
            write_in_pieces(&mut stream, reply, 8).await;
            // Closing with a zero linger sends a reset rather than a FIN.
            stream.set_zero_linger().unwrap();
        });
        let mut connection = Connection::connect(address).await.unwrap();
        assert_eq!(
            connection.round_trip(GET, false).await.err(),
            Some(WireError::Reset)
        );
    }
}
