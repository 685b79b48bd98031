//! Assembling and running a Marquee node: database, keys, chain, minter, background tasks, HTTP.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use axum::routing::future::RouteFuture;
use axum::serve::IncomingStream;
use futures_util::future::{BoxFuture, Either};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::auth::keys::KeyRing;
use crate::auth::revocation::Revocations;
use crate::auth::tokens::Tokens;
use crate::chain::Head;
use crate::chain::{Chain, deploy};
use crate::config::Settings;
use crate::gate::GateChecker;
use crate::gate::admit::Admitter;
use crate::gate::follow::Follower;
use crate::http::{AppState, Shared};
use crate::poap::minter::{Minter, MinterConfig};
use crate::store;
use crate::stream::media::Library;
use crate::time_util::now_ms;
use crate::workers;

/// Largest request body accepted.
const BODY_LIMIT: usize = 64 * 1024;

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Database unreachable or migrations failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// Database migration failed.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Signing keys unusable.
    #[error("signing keys: {0}")]
    Keys(#[from] crate::auth::keys::KeyError),
    /// Minter key unusable.
    #[error("minter: {0}")]
    Minter(#[from] deploy::DeployError),
    /// Listening failed.
    #[error("listen: {0}")]
    Io(#[from] std::io::Error),
}

/// Builds the node's state and starts its background work (revocations, nonce purge, minter).
pub async fn build(settings: Settings) -> Result<AppState, StartError> {
    let db = store::connect(&settings.database_url).await?;
    let ring = Arc::new(KeyRing::load_or_create(&db).await?);
    ring.follow(db.clone(), settings.key_lifetimes());
    let tokens = Tokens::new(ring, settings.origin());
    let revocations = Arc::new(Revocations::new(settings.stream_token_ttl));
    revocations.follow(db.clone()).await?;
    let chain = Chain::connect_batching(&settings.rpc_url, settings.rpc_batch);
    let minter = match (&settings.minter_key, settings.poap_contract) {
        (Some(key), Some(poap)) => {
            let signer = deploy::signer(key.expose_secret())?;
            tracing::info!(minter = %signer.address(), %poap, "minting attendance tokens");
            let config = MinterConfig {
                signer,
                chain_id: settings.chain_id,
                poap,
                bump_after: settings.mint_bump,
            };
            Some(Minter::new(db.clone(), chain.provider.clone(), config).spawn())
        }
        _ => None,
    };
    spawn_purge(db.clone());
    let nonces = store::nonces::Ledger::spawn(db.clone());
    let seater = store::grants::Seater::spawn(&db)?;
    let head = Arc::new(Head::default());
    let gates = GateChecker::new(
        chain.clone(),
        settings.multicall3,
        settings.delegate_registry,
        Arc::clone(&head),
    );
    let follower = Follower::spawn(
        db.clone(),
        chain.clone(),
        gates.clone(),
        Arc::clone(&revocations),
        head,
        settings.chain_poll,
        settings.poap_contract,
    );
    Ok(AppState::new(Shared {
        nonces,
        admitter: Admitter::new(
            db.clone(),
            seater,
            gates,
            follower,
            Arc::clone(&revocations),
        ),
        db,
        events: Default::default(),
        media: Library::new(settings.media_root.clone(), settings.media_cache_bytes),
        origins: Default::default(),
        tokens,
        revocations,
        chain,
        minter,
        settings,
    }))
}

/// The HTTP application: stream requests straight to their handler, the rest through the
/// router and its middleware. It makes each connection's [`Front`].
pub fn app(state: AppState) -> MakeFront {
    let api = crate::http::router(state.clone())
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        // Spans name the path only: query strings carry stream tokens, which must not reach logs.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::extract::Request| {
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
        }));
    MakeFront { state, api }
}

/// See [`app`]: makes each connection's [`Front`], told its peer, as axum's
/// `into_make_service_with_connect_info` would.
#[derive(Clone)]
pub struct MakeFront {
    state: AppState,
    api: Router,
}

impl<'a, L> tower_service::Service<IncomingStream<'a, L>> for MakeFront
where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    type Response = Front;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Front, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, connection: IncomingStream<'a, L>) -> Self::Future {
        std::future::ready(Ok(Front {
            state: self.state.clone(),
            api: self.api.clone(),
            peer: *connection.remote_addr(),
        }))
    }
}

/// One connection's side of [`app`].
#[derive(Clone)]
pub struct Front {
    state: AppState,
    api: Router,
    peer: SocketAddr,
}

impl tower_service::Service<Request> for Front {
    type Response = Response;
    type Error = Infallible;
    type Future = Either<BoxFuture<'static, Result<Response, Infallible>>, RouteFuture<Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The router is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        if crate::http::stream::is_direct(&request) {
            return Either::Left(crate::http::stream::direct(self.state.clone(), request));
        }
        // The peer address keys the per-client rate limits. Only the router's requests are
        // told it: on a segment request it would be an allocation that nothing reads.
        request.extensions_mut().insert(ConnectInfo(self.peer));
        Either::Right(self.api.call(request))
    }
}

/// Serves `state` on `listener`, with a worker per core, until the process is asked to stop.
pub async fn serve(listener: TcpListener, state: AppState) -> Result<(), StartError> {
    workers::serve(listener, app(state), workers::count(), shutdown_signal()).await?;
    Ok(())
}

/// Forgets used nonces, revoked sessions and grants once they could not be presented anyway.
fn spawn_purge(db: store::Db) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            let now = now_ms();
            let done = async {
                store::nonces::purge_expired(&db, now).await?;
                store::sessions::purge_expired(&db, now).await?;
                store::grants::purge_expired(&db, now).await
            }
            .await;
            if let Err(e) = done {
                tracing::warn!(error = %e, "purge of expired nonces, sessions and grants failed");
            }
        }
    });
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
}
