//! Rate limits on sign-in (nonce and login): per client IP, and a ceiling for all clients
//! together, by `tower_governor`. Refusals are 429 problem+json with `Retry-After`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use governor::middleware::NoOpMiddleware;
use tower_governor::GovernorError;
use tower_governor::GovernorLayer;
use tower_governor::governor::{GovernorConfig, GovernorConfigBuilder};
use tower_governor::key_extractor::{GlobalKeyExtractor, KeyExtractor, PeerIpKeyExtractor};

use super::AppState;
use crate::config::Settings;
use crate::error::ApiError;

/// How often the per-IP table forgets clients that went quiet.
const FORGET_EVERY: Duration = Duration::from_secs(60);

/// Puts `routes` under the sign-in rate limits of `settings`.
pub(super) fn sign_in(routes: Router<AppState>, settings: &Settings) -> Router<AppState> {
    let per_ip = config(PeerIpKeyExtractor, settings.auth_rate_per_ip);
    let global = config(GlobalKeyExtractor, settings.auth_rate_global);
    let limiter = Arc::clone(&per_ip);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(FORGET_EVERY).await;
            limiter.limiter().retain_recent();
        }
    });
    routes
        .layer(GovernorLayer::new(per_ip).error_handler(refusal))
        .layer(GovernorLayer::new(global).error_handler(refusal))
}

/// `per_second` requests a second, in bursts of up to twice that.
fn config<K: KeyExtractor>(key: K, per_second: u32) -> Arc<GovernorConfig<K, NoOpMiddleware>> {
    let per_second = per_second.max(1);
    let config = GovernorConfigBuilder::default()
        .key_extractor(key)
        .period(Duration::from_secs(1) / per_second)
        .burst_size(per_second.saturating_mul(2))
        .finish()
        .expect("period and burst are positive");
    Arc::new(config)
}

fn refusal(e: GovernorError) -> Response<Body> {
    match e {
        GovernorError::TooManyRequests { wait_time, .. } => {
            let retry_after = wait_time.max(1);
            let mut r = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests",
                format!("too many sign-in requests; try again in {retry_after} s"),
            )
            .into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            r
        }
        // The peer address is always known when served by `app::serve`.
        _ => ApiError::internal().into_response(),
    }
}
