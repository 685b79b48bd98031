//! Attendance token claims and token metadata.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::AppState;
use super::events::load;
use super::extract::Session;
use crate::error::{ApiError, ApiResult};
use crate::gate::Dec;
use crate::poap::voucher::Vouchers;
use crate::poap::{Claim, ClaimError, claims, ids};
use crate::store;

/// How long a voucher claim waits for its event to be created on chain.
const VOUCHER_WAIT: Duration = Duration::from_secs(10);

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/events/{id}/claim", post(claim).get(read_claim))
        .route("/api/v1/poap/{token_id}", get(metadata))
}

async fn claim(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let event = load(&state, &id).await?;
    let address = session.address.to_string();
    let watched = store::attendance::watched_ms(&state.db, &id, &address).await? / 1000;
    let now = OffsetDateTime::now_utc();
    claims::check(&event, watched.max(0) as u64, now).map_err(|e| match e {
        ClaimError::NotOpen(d) => {
            ApiError::new(StatusCode::FORBIDDEN, "claim_not_open", "Claim not open", d)
        }
        ClaimError::Closed(d) => {
            ApiError::new(StatusCode::FORBIDDEN, "claim_closed", "Claim closed", d)
        }
        ClaimError::NotEligible(d) => {
            ApiError::new(StatusCode::FORBIDDEN, "not_eligible", "Not eligible", d)
        }
    })?;
    let (row, created) = claims::record(&state.db, &event, &address, now)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "claim_closed",
                "Claim closed",
                format!(
                    "all {} attendance tokens of this event are claimed",
                    event.spec.poap.max_supply.unwrap_or_default()
                ),
            )
        })?;
    if let Some(minter) = &state.minter {
        match row.status.as_str() {
            "pending" if created => minter.wake(),
            // A voucher is only worth handing out once its event exists on chain: the minter
            // creates it within a block, and a claim that outwaits this still gets its
            // voucher (redeemable once the event is there).
            "voucher" => {
                minter.wait_ready(&event.id, VOUCHER_WAIT).await;
            }
            _ => {}
        }
    }
    let claim = Claim::present(row, &event, vouchers(&state));
    let status = if claim.status == "pending" {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(claim)).into_response())
}

async fn read_claim(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> ApiResult<Json<Claim>> {
    let event = load(&state, &id).await?;
    store::claims::get(&state.db, &id, &session.address.to_string())
        .await?
        .map(|c| Json(Claim::present(c, &event, vouchers(&state))))
        .ok_or_else(|| ApiError::not_found("no claim for this wallet at this event"))
}

/// The voucher signer, when this node has the minter's key.
pub(super) fn vouchers(state: &AppState) -> Option<&Vouchers> {
    state.minter.as_ref().map(|m| m.vouchers())
}

async fn metadata(
    State(state): State<AppState>,
    Path(token_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id: Dec = token_id
        .parse()
        .map_err(|e: String| ApiError::invalid_request(format!("token_id: {e}")))?;
    // The token's id names its event and holder; the claim behind it says the rest.
    let (event_prefix, holder) = ids::split_token(id.0);
    let claim = store::claims::by_chain_event(&state.db, &event_prefix, &holder.to_string())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no attendance token {id}")))?;
    let event = load(&state, &claim.event_id).await?;
    let watched_min =
        store::attendance::watched_ms(&state.db, &event.id, &claim.address).await? / 60_000;
    let bucket = match watched_min {
        0..30 => "under 30 minutes",
        30..60 => "30 to 60 minutes",
        60..120 => "1 to 2 hours",
        _ => "over 2 hours",
    };
    let poap = &event.spec.poap;
    let date = event.spec.starts_at.date().to_string();
    Ok(Json(json!({
        "name": poap.name.clone().unwrap_or_else(|| event.spec.title.clone()),
        "description": poap.description.clone().unwrap_or_else(|| event.spec.description.clone()),
        "image": poap.image_url,
        "attributes": [
            { "trait_type": "event", "value": event.spec.title },
            { "trait_type": "event_id", "value": event.id },
            { "trait_type": "date", "value": date },
            { "trait_type": "watched", "value": bucket },
        ],
    })))
}
