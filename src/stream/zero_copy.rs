//! Held segments sent with `sendfile(2)`: the kernel hands the page cache to the socket, so a
//! segment's bytes are not copied from our memory into every viewer's socket.
//!
//! hyper cannot send a file (hyperium/hyper#3026): it writes a body as buffers. So the buffer
//! of a held media file is registered with the open file it was read from, and the
//! connection's writer, when hyper hands it a slice of such a buffer, sends the same bytes from
//! the file instead. Everything else is written as usual, and the buffer itself stays the
//! fallback (a file cut short since, a platform without `sendfile`). Written by hand: no crate
//! does this for hyper.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, RwLock};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use rustix::io::Errno;
#[cfg(target_os = "linux")]
use rustix::net::SendFlags;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// A registered buffer: where it ends, and the file its bytes were read from (offset 0 at the
/// buffer's start).
struct Region {
    end: usize,
    file: Arc<File>,
}

/// Registered buffers by start address. An entry lives exactly as long as its buffer: it is
/// removed before the buffer is freed, so an address found here is that buffer's. The entry
/// holds the file open, so a file replaced on disk (renamed over) is still the one sent.
static REGIONS: LazyLock<RwLock<BTreeMap<usize, Region>>> = LazyLock::new(RwLock::default);
/// How many buffers are registered: with none, writes skip the lookup.
static REGISTERED: AtomicUsize = AtomicUsize::new(0);

/// Smallest file sent from its file: below this a copy costs less than the extra system call.
const SMALLEST: usize = 16 * 1024;
/// Most files held open for sending at once, so held files never take the descriptors that
/// connections need; files beyond it are sent from memory.
const MOST_OPEN: usize = 256;

/// The bytes of `file`, read whole into `bytes`, as a buffer that connections send from the
/// file.
pub fn file_backed(bytes: Vec<u8>, file: File) -> Bytes {
    let open = REGISTERED.load(Ordering::Relaxed);
    if bytes.len() < SMALLEST || open >= MOST_OPEN || !cfg!(target_os = "linux") {
        return Bytes::from(bytes);
    }
    let bytes = bytes.into_boxed_slice();
    let start = bytes.as_ptr() as usize;
    let region = Region {
        end: start + bytes.len(),
        file: Arc::new(file),
    };
    regions_mut().insert(start, region);
    REGISTERED.fetch_add(1, Ordering::Relaxed);
    Bytes::from_owner(FileBacked(bytes))
}

/// The owner of a registered buffer.
struct FileBacked(Box<[u8]>);

impl AsRef<[u8]> for FileBacked {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for FileBacked {
    fn drop(&mut self) {
        regions_mut().remove(&(self.0.as_ptr() as usize));
        REGISTERED.fetch_sub(1, Ordering::Relaxed);
    }
}

fn regions_mut() -> std::sync::RwLockWriteGuard<'static, BTreeMap<usize, Region>> {
    // Every change is one map operation, so a panic elsewhere leaves the map whole.
    REGIONS.write().unwrap_or_else(|p| p.into_inner())
}

/// The file and offset holding `buf`'s bytes, if `buf` lies within a registered buffer.
fn file_of(buf: &[u8]) -> Option<(Arc<File>, u64)> {
    if buf.is_empty() || REGISTERED.load(Ordering::Relaxed) == 0 {
        return None;
    }
    let at = buf.as_ptr() as usize;
    let regions = REGIONS.read().unwrap_or_else(|p| p.into_inner());
    let (start, region) = regions.range(..=at).next_back()?;
    (at + buf.len() <= region.end).then(|| (region.file.clone(), (at - start) as u64))
}

/// A TCP connection whose writer sends slices of registered buffers with `sendfile`.
pub struct Connection {
    tcp: TcpStream,
}

impl Connection {
    /// A connection on `tcp`.
    pub fn new(tcp: TcpStream) -> Self {
        Self { tcp }
    }

    /// The socket.
    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// Sends `buf`, whose bytes are at `offset` in `file`, from the file; from `buf` when the
    /// file no longer has them or the platform cannot.
    fn poll_send_file(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
        file: &File,
        offset: u64,
    ) -> Poll<io::Result<usize>> {
        match ready!(self.poll_call(cx, |tcp| send_file(tcp, file, offset, buf.len()))) {
            Some(done) => {
                if matches!(done, Ok(n) if n == buf.len()) {
                    // The body's end: out it goes, with the headers corked before it.
                    cork(&self.tcp, false);
                }
                Poll::Ready(done)
            }
            None => {
                cork(&self.tcp, false);
                Pin::new(&mut self.tcp).poll_write(cx, buf)
            }
        }
    }

    /// Writes `bufs` (the headers before a body sent from a file) with the socket corked until
    /// the body's last byte is sent, as nginx's `tcp_nopush` does, so headers and body leave in
    /// full packets. `MSG_MORE` alone did not: in `make bench`, stream (200 KB segments at 128
    /// connections) each request took 6.3-6.4 TCP segments (both ways, on loopback) against
    /// nginx's 6.1; corked, 6.1, and the server's CPU per segment fell by a tenth.
    fn poll_write_more(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        cork(&self.tcp, true);
        match ready!(self.poll_call(cx, |tcp| send_more(tcp, bufs))) {
            Some(done) => Poll::Ready(done),
            None => Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs),
        }
    }

    /// Makes the write `call` once the socket is writable (again after a spurious wake-up or
    /// an interruption); `None` when it sent nothing and a plain write must do instead: the
    /// file no longer has the bytes, or the platform cannot.
    fn poll_call(
        &self,
        cx: &mut Context<'_>,
        call: impl Fn(&TcpStream) -> io::Result<usize>,
    ) -> Poll<Option<io::Result<usize>>> {
        loop {
            ready!(self.tcp.poll_write_ready(cx))?;
            match self.tcp.try_io(Interest::WRITABLE, || call(&self.tcp)) {
                Ok(0) => return Poll::Ready(None),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if fall_back(&e) => return Poll::Ready(None),
                done => return Poll::Ready(Some(done)),
            }
        }
    }
}

/// Errors after which a plain write does the job.
fn fall_back(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Unsupported
        || Errno::from_io_error(e)
            .is_some_and(|no| [Errno::INVAL, Errno::NOSYS, Errno::OPNOTSUPP].contains(&no))
}

#[cfg(target_os = "linux")]
fn send_file(socket: &TcpStream, file: &File, offset: u64, len: usize) -> io::Result<usize> {
    let mut offset = offset;
    Ok(rustix::fs::sendfile(socket, file, Some(&mut offset), len)?)
}

#[cfg(target_os = "linux")]
fn send_more(socket: &TcpStream, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    let flags = SendFlags::MORE | SendFlags::NOSIGNAL;
    Ok(rustix::net::sendmsg(
        socket,
        bufs,
        &mut Default::default(),
        flags,
    )?)
}

/// Sets or clears `TCP_CORK` (best effort: a socket that refuses sends uncorked).
#[cfg(target_os = "linux")]
fn cork(socket: &TcpStream, on: bool) {
    let _ = rustix::net::sockopt::set_tcp_cork(socket, on);
}

#[cfg(not(target_os = "linux"))]
fn cork(_: &TcpStream, _: bool) {}

#[cfg(not(target_os = "linux"))]
fn send_file(_: &TcpStream, _: &File, _: u64, _: usize) -> io::Result<usize> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(not(target_os = "linux"))]
fn send_more(_: &TcpStream, _: &[IoSlice<'_>]) -> io::Result<usize> {
    Err(io::ErrorKind::Unsupported.into())
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let from_file = bufs
            .iter()
            .enumerate()
            .find_map(|(i, b)| file_of(b).map(|f| (i, f)));
        match from_file {
            None => Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs),
            Some((0, (file, offset))) => this.poll_send_file(cx, &bufs[0], &file, offset),
            Some((i, (file, offset))) => {
                let head = &bufs[..i];
                let sent = ready!(this.poll_write_more(cx, head))?;
                if sent < head.iter().map(|b| b.len()).sum() {
                    return Poll::Ready(Ok(sent));
                }
                // The body follows in the same call, which spares a turn through hyper's
                // writer. What it cannot send now (a full socket, a failed send) is left to
                // the next call, which waits for it or reports it.
                match this.poll_send_file(cx, &bufs[i], &file, offset) {
                    Poll::Ready(Ok(n)) => Poll::Ready(Ok(sent + n)),
                    _ => Poll::Ready(Ok(sent)),
                }
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::io::{IoSlice, Read};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A connection and the client's end of it.
    async fn connected() -> (Connection, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (accepted, client) = tokio::join!(listener.accept(), client);
        (Connection::new(accepted.unwrap().0), client.unwrap())
    }

    /// A held buffer read from a new file of `len` bytes of `fill`, and the file's path.
    fn held(len: usize, fill: u8) -> (Bytes, tempfile::TempPath) {
        let path = tempfile::NamedTempFile::new().unwrap().into_temp_path();
        std::fs::write(&path, vec![fill; len]).unwrap();
        let mut file = File::open(&path).unwrap();
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).unwrap();
        (file_backed(bytes, file), path)
    }

    /// Writes `head` then `body` the way hyper does (vectored, resuming after partial writes)
    /// and returns what the client read.
    async fn send(head: &[u8], body: &[u8]) -> Vec<u8> {
        let (mut conn, mut client) = connected().await;
        let total = head.len() + body.len();
        let writer = async move {
            let mut done = 0;
            while done < total {
                let bufs: Vec<IoSlice> = if done < head.len() {
                    vec![IoSlice::new(&head[done..]), IoSlice::new(body)]
                } else {
                    vec![IoSlice::new(&body[done - head.len()..])]
                };
                done += conn.write_vectored(&bufs).await.unwrap();
            }
            // Nothing is left corked once the body is out.
            assert!(!rustix::net::sockopt::tcp_cork(conn.tcp()).unwrap());
            conn.shutdown().await.unwrap();
        };
        let mut read = Vec::new();
        let reader = client.read_to_end(&mut read);
        let (_, n) = tokio::join!(writer, reader);
        assert_eq!(n.unwrap(), total);
        read
    }

    #[tokio::test]
    async fn a_held_segment_is_sent_from_its_file_after_the_headers() {
        let (bytes, path) = held(300_000, b'a');
        // The file changes in place after it was read: what arrives is the file's, which shows
        // the body went by sendfile rather than from the buffer.
        std::fs::write(&path, vec![b'b'; 300_000]).unwrap();
        let got = send(b"HTTP/1.1 200 OK\r\n\r\n", &bytes[1000..]).await;
        assert_eq!(&got[..19], b"HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(got.len(), 19 + 299_000);
        assert!(got[19..].iter().all(|&b| b == b'b'));
    }

    #[tokio::test]
    async fn headers_and_a_held_body_leave_in_one_write_and_uncorked() {
        let (bytes, _path) = held(SMALLEST, b'a');
        let (mut conn, mut client) = connected().await;
        let head = b"HTTP/1.1 200 OK\r\n\r\n";
        let bufs = [IoSlice::new(head), IoSlice::new(&bytes)];
        let n = conn.write_vectored(&bufs).await.unwrap();
        assert_eq!(n, head.len() + bytes.len());
        assert!(!rustix::net::sockopt::tcp_cork(conn.tcp()).unwrap());
        let mut got = vec![0; n];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(
            (&got[..head.len()], &got[head.len()..]),
            (&head[..], &bytes[..])
        );
    }

    #[tokio::test]
    async fn a_file_cut_short_since_is_sent_from_memory() {
        let (bytes, path) = held(100_000, b'a');
        std::fs::write(&path, b"").unwrap();
        let got = send(b"head", &bytes).await;
        assert_eq!(&got[..4], b"head");
        assert!(got[4..].iter().all(|&b| b == b'a'));
    }

    #[tokio::test]
    async fn other_buffers_are_written_as_they_are() {
        let (big, _path) = held(SMALLEST, b'a');
        let body = vec![b'c'; 50_000];
        assert!(file_of(&big[2..8]).is_some());
        let (small, _path) = held(SMALLEST - 1, b'a');
        assert!(
            file_of(&small).is_none(),
            "a small file is sent from memory"
        );
        assert!(file_of(&body).is_none());
        let got = send(b"head", &body).await;
        assert_eq!(&got[4..], &body[..]);
    }
}
