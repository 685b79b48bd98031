//! The HTTP API of API.md: one module per resource, each exposing `router()`.

mod auth;
mod events;
pub mod extract;
mod limits;
mod poap;
mod service;
pub(crate) mod stream;
mod watch;

use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use crate::auth::revocation::Revocations;
use crate::auth::tokens::Tokens;
use crate::chain::Chain;
use crate::config::Settings;
use crate::error::ApiError;
use crate::gate::admit::Admitter;
use crate::poap::MinterHandle;
use crate::store::Db;

/// Everything handlers share.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The parts of [`AppState`].
pub struct Shared {
    /// Settings.
    pub settings: Settings,
    /// Database.
    pub db: Db,
    /// Events read lately.
    pub events: Arc<crate::store::events::Cache>,
    /// Media files of folder sources, the recent ones in memory.
    pub media: crate::stream::media::Library,
    /// Origin sources' client and the playlists fetched lately.
    pub origins: crate::stream::origin::Origins,
    /// Session and stream tokens.
    pub tokens: Tokens,
    /// Used sign-in nonces, recorded in batches.
    pub nonces: crate::store::nonces::Ledger,
    /// Revoked sessions.
    pub revocations: Arc<Revocations>,
    /// Chain reads.
    pub chain: Chain,
    /// Gate reads, seats, and the chain follower.
    pub admitter: Admitter,
    /// The minter, when this node mints.
    pub minter: Option<MinterHandle>,
}

impl AppState {
    /// Wraps the shared parts.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(auth::router(&state.settings))
        .merge(events::router())
        .merge(watch::router())
        .merge(stream::router())
        .merge(poap::router())
        .merge(service::router())
        .fallback(|| async { ApiError::not_found("no such resource") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
                "this resource does not answer that method",
            )
            .into_response()
        })
        .with_state(state)
}
