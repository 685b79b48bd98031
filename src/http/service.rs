//! Service endpoints: public configuration, liveness and readiness.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;
use crate::error::{ApiError, ApiResult};
use crate::store;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/config", get(config))
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/readyz", get(readyz))
}

async fn config(State(state): State<AppState>) -> Json<Value> {
    let s = &state.settings;
    Json(json!({
        "domain": s.domain,
        "chain_id": s.chain_id,
        "poap_contract": s.poap_contract.map(|a| a.to_string()),
        "jwks_url": format!("{}/.well-known/jwks.json", s.origin()),
    }))
}

async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    store::ping(&state.db).await?;
    match state.chain.chain_id().await {
        Ok(id) if id == state.settings.chain_id => {
            let follower = state.admitter.follower();
            if !follower.is_fresh() {
                return Err(ApiError::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "chain_unavailable",
                    "Chain unavailable",
                    "the chain's transfers are not being followed yet",
                ));
            }
            let minter = match &state.minter {
                Some(m) if m.leads() => "leader",
                Some(_) => "standby",
                None => "off",
            };
            Ok(Json(json!({
                "database": "ok",
                "chain": "ok",
                "followed_block": follower.block(),
                "minter": minter,
            })))
        }
        Ok(id) => Err(ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "chain_unavailable",
            "Chain unavailable",
            format!("the RPC serves chain {id}, not {}", state.settings.chain_id),
        )),
        Err(_) => Err(ApiError::chain_unavailable()),
    }
}
