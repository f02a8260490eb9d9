//! Registering an email/password account (`local-userpass/register`), with its rate limits and, when
//! confirmation is on, the confirmation email.

use appkeys_protocol::{wire, ErrorCode, Provider};
use axum::{
    extract::{FromRequest, Path, Request, State},
    http::StatusCode,
};

use super::common::{audit_limit, token_row, userpass_event};
use crate::crypto::link_token;
use crate::db::CreateUserError;
use crate::error::AppError;
use crate::http::extract::{missing, required_str, JsonObject};
use crate::model::{email, password, Client, Purpose};
use crate::service::ratelimit::{client_key, Bucket};
use crate::state::AppState;

#[utoipa::path(post, path = "/api/client/v2.0/app/{app_id}/auth/providers/local-userpass/register", tag = "auth",
    params(("app_id" = String, Path, description = "App id")),
    request_body = wire::RegisterRequest,
    responses((status = 201, description = "Registered (log in next)")))]
pub(crate) async fn register(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    client: Client,
    req: Request,
) -> Result<StatusCode, AppError> {
    state.check_app(&app_id)?;
    let JsonObject(body) = JsonObject::from_request(req, &state).await?;
    let email = required_str(&body, "email")?.trim().to_lowercase();
    let password = required_str(&body, "password")?.to_owned();
    if email.is_empty() {
        return Err(missing("email"));
    }
    email::check(&email)?;
    password::check(&password, state.inner.min_password_length)?;
    let event = userpass_event("user.registered", &app_id, &client);
    let attempt = state
        .inner
        .limiter
        .attempt(
            Bucket::RegistrationsIp,
            &[&client_key(client.ip)],
            state.inner.limits.registrations_per_ip,
        )
        .await;
    audit_limit(&state, &event, attempt).await?;
    if state.inner.confirmation {
        // A confirmation email counts against the email limits like the send routes' do: one client
        // cannot fill an inbox (or the mail queue) with `+tag` registrations.
        let (limiter, limits, ip) = (
            &state.inner.limiter,
            &state.inner.limits,
            client_key(client.ip),
        );
        let per_ip = limiter
            .attempt(Bucket::EmailsIp, &[&ip], limits.emails_per_ip)
            .await;
        audit_limit(&state, &event, per_ip).await?;
        let sends = limits.emails_per_address.saturating_mul(2);
        let (inbox, bucket) = (inbox_of(&email), Bucket::EmailsSentAddress);
        let per_address = limiter.attempt(bucket, &[&app_id, &inbox], sends).await;
        audit_limit(&state, &event, per_address).await?;
    }
    let store = &state.inner.store;
    if store
        .user_by_email(&app_id, &email)
        .await
        .map_err(AppError::db)?
        .is_some()
    {
        return Err(name_in_use());
    }
    let phc = state
        .inner
        .hasher
        .hash(&client_key(client.ip), password)
        .await?;
    // With confirmation on, the account starts unconfirmed and its token is stored with it.
    let token = state.inner.confirmation.then(link_token::new_token);
    let confirmation = token
        .as_ref()
        .map(|(id, _, hash)| token_row(&state, id, hash, Purpose::Confirm));
    store
        .create_user(
            &app_id,
            Provider::LocalUserpass.as_str(),
            Some(&email),
            Some(&phc),
            confirmation,
            &event,
        )
        .await
        .map_err(|e| match e {
            CreateUserError::EmailTaken => name_in_use(),
            CreateUserError::Db(e) => AppError::db(e),
        })?;
    if let (Some((id, secret, _)), Some(mailer)) = (&token, &state.inner.mailer) {
        mailer.send(Purpose::Confirm, &app_id, &email, id, secret);
    }
    Ok(StatusCode::CREATED)
}

/// The mailbox an address reaches: `+tag` suffixes of the local part dropped (`a+x@b` and `a+y@b` fill one
/// inbox), for the per-address email limit of registrations.
fn inbox_of(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            format!("{}@{domain}", local.split('+').next().unwrap_or(local))
        }
        None => email.to_owned(),
    }
}

fn name_in_use() -> AppError {
    AppError::new(ErrorCode::AccountNameInUse, "name already in use")
}
