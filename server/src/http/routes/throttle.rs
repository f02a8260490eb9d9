//! The account throttle of password logins: what a login of an account that failed too often meets
//! before any hashing — the owner gets in (a device secret of an earlier login, or the client that
//! completed a reset), clients that failed on it get 429, other devices a growing delay, one at a time.

use super::common::audit_limit;
use crate::db::User;
use crate::error::AppError;
use crate::model::Event;
use crate::service::ratelimit::Bucket;
use crate::state::AppState;

/// One login attempt, as the throttle sees it.
pub(super) struct Attempt<'a> {
    pub(super) state: &'a AppState,
    /// The `login.succeeded` event (refusals are made from it).
    pub(super) event: &'a Event,
    pub(super) app_id: &'a str,
    /// The client's rate-limit key.
    pub(super) ip: &'a str,
}

/// Accounts with an unknown device's login waiting out its delay kept at most (past it: 429).
const MAX_SLOW_LANES: usize = 10_000;

/// The delay of an unknown device's login on an account `ratio` times past its failure limit: 1 s, 2 s,
/// 4 s, at most 8 s.
fn slow_delay(ratio: f64) -> std::time::Duration {
    let doublings = (ratio.floor().max(1.0) as u32 - 1).min(3);
    std::time::Duration::from_secs(1 << doublings)
}

/// The turn of one throttled account's unknown-device login; given back when dropped.
pub(super) struct SlowTurn<'a> {
    state: &'a AppState,
    key: String,
}

impl<'a> SlowTurn<'a> {
    /// The account's turn, unless another login holds it (or too many accounts wait).
    fn take(state: &'a AppState, key: String) -> Option<SlowTurn<'a>> {
        let mut lanes = state
            .inner
            .slow_lane
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if lanes.len() >= MAX_SLOW_LANES || !lanes.insert(key.clone()) {
            return None;
        }
        Some(SlowTurn { state, key })
    }
}

impl Drop for SlowTurn<'_> {
    fn drop(&mut self) {
        let mut lanes = self
            .state
            .inner
            .slow_lane
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        lanes.remove(&self.key);
    }
}

/// What a login of an account that failed too often — from any client, in the window or in the
/// hour — meets before any hashing (unknown addresses alike, so the answer tells nothing):
/// - the owner gets in: a device proving an earlier login with its secret, or the client that
///   completed a password reset of the account within the hour;
/// - a client that failed on the account itself: 429;
/// - past the hourly limit, any other device: 429;
/// - past the per-window limit only, any other device (a new device of the owner, an imported
///   user's first one): a delay that grows with the failures (1, 2, 4, at most 8 s), one such login
///   per account at a time (others: 429). The returned turn is held through the password check.
pub(super) async fn account<'a>(
    at: Attempt<'a>,
    email: &str,
    user: Option<&User>,
    presented: Option<&str>,
) -> Result<Option<SlowTurn<'a>>, AppError> {
    let (state, app_id, ip) = (at.state, at.app_id, at.ip);
    let limits = &state.inner.limits;
    let account = [app_id, email];
    let limiter = &state.inner.limiter;
    let per_account = limits.login_failures_per_account;
    let minute = limiter
        .over(Bucket::LoginFailuresAccount, &account, per_account)
        .await;
    let hour = state
        .inner
        .hourly_limiter
        .over(
            Bucket::LoginFailuresAccountHour,
            &account,
            limits.login_failures_per_account_hour,
        )
        .await;
    if minute.is_none() && hour.is_none() {
        return Ok(None);
    }
    let failed_here = limiter
        .over(Bucket::LoginFailuresAccountIp, &[app_id, email, ip], 1)
        .await;
    if let Some(limited) = failed_here {
        return audit_limit(state, at.event, Err(limited)).await;
    }
    if owner(&at, user, email, presented).await? {
        return Ok(None);
    }
    if let Some(limited) = hour {
        return audit_limit(state, at.event, Err(limited)).await;
    }
    let ratio = limiter
        .load(Bucket::LoginFailuresAccount, &account, per_account)
        .await?
        .unwrap_or(1.0);
    let delay = slow_delay(ratio);
    let Some(turn) = SlowTurn::take(state, format!("{app_id}\0{email}")) else {
        let busy =
            AppError::too_many_requests(delay.as_secs().max(1), "too many attempts; retry later");
        return audit_limit(state, at.event, Err(busy)).await;
    };
    tokio::time::sleep(delay).await;
    Ok(Some(turn))
}

/// Whether this login comes from the owner of throttled `user`: its device sent the secret of an
/// earlier login, or this client completed a password reset of the account within the hour. The same
/// reads are made for an address without an account (it is never the owner), so the time taken tells
/// nothing.
async fn owner(
    at: &Attempt<'_>,
    user: Option<&User>,
    email: &str,
    presented: Option<&str>,
) -> Result<bool, AppError> {
    let state = at.state;
    let user_id = user.map_or("", |u| u.id.as_str());
    if let Some(secret) = presented {
        let store = &state.inner.store;
        let known = store
            .knows_device(user_id, secret)
            .await
            .map_err(AppError::db)?;
        if known && user.is_some() {
            return Ok(true);
        }
    }
    let reset_here = [at.app_id, email, at.ip];
    let hourly = &state.inner.hourly_limiter;
    let reset = hourly.over(Bucket::ResetClientHour, &reset_here, 1).await;
    Ok(reset.is_some() && user.is_some())
}
