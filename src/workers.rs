//! The HTTP workers: one single-threaded runtime per core, each serving the connections that
//! one acceptor hands it in turn, as nginx's worker processes and actix-web's workers do.
//!
//! On tokio's shared multi-threaded runtime, a socket's readiness is picked up by whichever
//! thread polls the driver and handed to the others through a queue and a futex. Under a
//! crowd of segment requests (`make bench`, stream) the cores then sat idle 3-4% of the time
//! between those hand-overs. A worker that keeps its connections wakes their tasks on its own
//! thread: idle fell to 0.1-1%, and the futex's 2.7% of the server's CPU went. The calling
//! runtime (the binary's, single-threaded) is the first worker, so the background work spawned
//! on it (chain client, seat writer, minter) stays one thread's: on a separate runtime, each
//! join's two hand-overs to it and back cost 5-8% more CPU per join. Connections are spread by
//! count, not by load, which a screening's many similar viewers make even.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::num::NonZeroUsize;

use axum::extract::Request;
use axum::response::Response;
use axum::serve::IncomingStream;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tower_service::Service;

use crate::stream::zero_copy::Connection;

/// How many workers to run: one per core the process may use.
pub fn count() -> NonZeroUsize {
    std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)
}

/// Serves `app` on `listener` with `count` workers, the calling runtime first, until `stop`
/// resolves; then lets each worker finish the requests in flight. Dropping the returned future
/// stops the workers too. `app` makes each connection's service `S`, told the connection (its
/// peer address).
pub async fn serve<M, S>(
    mut listener: TcpListener,
    app: M,
    count: NonZeroUsize,
    stop: impl Future<Output = ()>,
) -> io::Result<()>
where
    M: for<'a> Service<IncomingStream<'a, Handed>, Response = S, Error = Infallible>
        + Clone
        + Send
        + 'static,
    for<'a> <M as Service<IncomingStream<'a, Handed>>>::Future: Send,
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send,
{
    let local = listener.local_addr()?;
    // Dropped with this future, which the workers also take as the signal to stop.
    let (stopping, stop_rx) = watch::channel(false);
    let mut handed = Vec::with_capacity(count.get());
    let mut finished = Vec::with_capacity(count.get());
    for i in 0..count.get() {
        let (to_worker, connections) = mpsc::unbounded_channel();
        let (done, finished_rx) = oneshot::channel::<()>();
        let work = worker(
            i,
            Handed { connections, local },
            app.clone(),
            stop_rx.clone(),
        );
        if i == 0 {
            // The calling runtime is the first worker: the requests it serves reach the
            // background work spawned on it (chain client, seat writer) without a hand-over
            // between threads.
            tokio::spawn(async move {
                work.await;
                let _ = done.send(());
            });
        } else {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            std::thread::Builder::new()
                .name(format!("marquee-http-{i}"))
                .spawn(move || {
                    runtime.block_on(work);
                    // Whatever the worker's connections had spawned stops with its runtime.
                    drop(runtime);
                    let _ = done.send(());
                })?;
        }
        handed.push(to_worker);
        finished.push(finished_rx);
    }
    tokio::pin!(stop);
    let mut next = 0;
    let outcome = loop {
        let (tcp, peer) = tokio::select! {
            () = &mut stop => break Ok(()),
            accepted = axum::serve::Listener::accept(&mut listener) => accepted,
        };
        let Ok(tcp) = tcp.into_std() else { continue };
        if handed[next].send((tcp, peer)).is_err() {
            break Err(io::Error::other(format!("HTTP worker {next} stopped")));
        }
        next = (next + 1) % handed.len();
    };
    drop(listener);
    let _ = stopping.send(true);
    for worker in finished {
        let _ = worker.await;
    }
    outcome
}

/// Worker `i`: serves `app` on the connections `handed` to it until `stop` says so or its
/// sender is gone.
async fn worker<M, S>(i: usize, handed: Handed, app: M, mut stop: watch::Receiver<bool>)
where
    M: for<'a> Service<IncomingStream<'a, Handed>, Response = S, Error = Infallible>
        + Send
        + 'static,
    for<'a> <M as Service<IncomingStream<'a, Handed>>>::Future: Send,
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send,
{
    let stop = async move { _ = stop.wait_for(|stop| *stop).await };
    if let Err(e) = axum::serve(handed, app).with_graceful_shutdown(stop).await {
        tracing::error!(error = %e, worker = i, "HTTP worker failed");
    }
}

/// A worker's side of the acceptor: the connections handed to it.
pub struct Handed {
    connections: mpsc::UnboundedReceiver<(StdTcpStream, SocketAddr)>,
    local: SocketAddr,
}

impl axum::serve::Listener for Handed {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Connection, SocketAddr) {
        loop {
            let Some((tcp, peer)) = self.connections.recv().await else {
                // The acceptor has stopped; so will this worker, on the stop signal.
                return std::future::pending().await;
            };
            // Registers the socket with this worker's runtime.
            match TcpStream::from_std(tcp) {
                Ok(tcp) => {
                    // Small responses must not wait for Nagle's algorithm (~25 ms each else).
                    let _ = tcp.set_nodelay(true);
                    return (Connection::new(tcp), peer);
                }
                Err(e) => tracing::warn!(error = %e, "could not take over a connection"),
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::Router;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::Notify;

    use super::*;

    /// Serves `app` with two workers on a free port: its address, the trigger of its stop, and
    /// the task that serves.
    async fn start(
        app: Router,
    ) -> (
        SocketAddr,
        oneshot::Sender<()>,
        tokio::task::JoinHandle<io::Result<()>>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let app = app.into_make_service();
        let two = NonZeroUsize::new(2).unwrap();
        let serving = tokio::spawn(serve(listener, app, two, async {
            _ = stopped.await;
        }));
        (addr, stop, serving)
    }

    /// `GET path` on a new connection of its own: the status line and the body.
    async fn get_alone(addr: SocketAddr, path: &str) -> (String, String) {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        tcp.read_to_string(&mut response).await.unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        (head.lines().next().unwrap().into(), body.into())
    }

    fn thread_name() -> String {
        std::thread::current().name().unwrap_or_default().into()
    }

    #[tokio::test]
    async fn connections_are_handed_to_the_workers_in_turn() {
        let app = Router::new().route("/thread", get(|| async { thread_name() }));
        let (addr, _stop, _serving) = start(app).await;
        let mut served = Vec::new();
        for _ in 0..4 {
            served.push(get_alone(addr, "/thread").await.1);
        }
        let this = thread_name();
        assert_eq!(served, [&this, "marquee-http-1", &this, "marquee-http-1"]);
    }

    #[tokio::test]
    async fn a_stop_refuses_new_connections_and_lets_requests_in_flight_finish() {
        let (started, mut has_started) = mpsc::channel::<()>(1);
        let release = Arc::new(Notify::new());
        let app = Router::new().route(
            "/slow",
            get({
                let release = Arc::clone(&release);
                move || {
                    let (started, release) = (started.clone(), Arc::clone(&release));
                    async move {
                        started.send(()).await.unwrap();
                        release.notified().await;
                        "done"
                    }
                }
            }),
        );
        let (addr, stop, serving) = start(app).await;
        let in_flight = tokio::spawn(get_alone(addr, "/slow"));
        has_started.recv().await.unwrap();
        stop.send(()).unwrap();
        // The acceptor lets go of the port once it has seen the stop.
        while TcpStream::connect(addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
        assert!(!serving.is_finished(), "a request is still in flight");
        release.notify_one();
        let (status, body) = in_flight.await.unwrap();
        assert_eq!(
            (status.as_str(), body.as_str()),
            ("HTTP/1.1 200 OK", "done")
        );
        serving.await.unwrap().unwrap();
    }
}
