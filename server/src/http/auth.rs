//! Authentication of requests: the bearer token, its session row, and the API-key management rules.

use appkeys_protocol::{ErrorCode, Provider, TokenKind};
use axum::http::{header, HeaderMap};

use crate::crypto::token::{Claims, TokenError};
use crate::db::Session;
use crate::error::AppError;
use crate::state::AppState;
use crate::util::{now_ms, now_secs};

/// The bearer token of `Authorization`: `None` without the header, `Err` for another scheme.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<Result<&str, ()>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty());
    Some(token.ok_or(()))
}

fn token_error(e: TokenError, kind: TokenKind) -> AppError {
    match (e, kind) {
        (TokenError::Expired, TokenKind::Access) => {
            AppError::invalid_session("invalid session: access token expired")
        }
        (TokenError::Expired, _) => {
            AppError::invalid_session("invalid session: refresh token expired")
        }
        (TokenError::WrongType, TokenKind::Refresh) => {
            AppError::invalid_session("invalid session: expected a refresh token")
        }
        (TokenError::WrongType, _) => {
            AppError::invalid_session("invalid session: expected an access token")
        }
        (TokenError::Malformed, _) => AppError::invalid_session("invalid session"),
    }
}

impl AppState {
    /// Verifies the bearer token of the given kind and that its session still exists, belongs to an
    /// app that is still served, and has not outlived the refresh-token lifetime.
    pub(crate) async fn authenticate(
        &self,
        headers: &HeaderMap,
        kind: TokenKind,
    ) -> Result<Session, AppError> {
        let token = match bearer(headers) {
            None => return Err(AppError::invalid_session("must authenticate first")),
            Some(Err(())) => {
                return Err(AppError::invalid_session(
                    "expected Authorization header with JWT (Bearer schema)",
                ))
            }
            Some(Ok(t)) => t,
        };
        Ok(self.session_of(token, kind).await?.0)
    }

    /// The live session of a token of `kind` (signature, kind, expiry, session row, app still served,
    /// session not older than the refresh-token lifetime), with the token's claims.
    pub(crate) async fn session_of(
        &self,
        token: &str,
        kind: TokenKind,
    ) -> Result<(Session, Claims), AppError> {
        let claims = self
            .inner
            .signer
            .verify(token, kind, now_secs())
            .map_err(|e| token_error(e, kind))?;
        let session_id = claims.session_id().unwrap_or_default();
        let ended = || AppError::invalid_session("invalid session: the session has ended");
        let session = self
            .inner
            .store
            .session(session_id)
            .await
            .map_err(AppError::db)?
            .filter(|s| s.user_id == claims.sub)
            .ok_or_else(ended)?;
        if !self.serves(&session.app_id) {
            return Err(AppError::invalid_session(
                "invalid session: the app is no longer served",
            ));
        }
        if session
            .created_at
            .saturating_add(self.inner.refresh_ttl.saturating_mul(1000))
            <= now_ms()
        {
            return Err(ended());
        }
        Ok((session, claims))
    }

    /// Authenticates an API-key management request: refresh token of a normal (non-anonymous)
    /// user whose session was not opened with an API key.
    pub(crate) async fn key_manager(&self, headers: &HeaderMap) -> Result<Session, AppError> {
        let session = self.authenticate(headers, TokenKind::Refresh).await?;
        if session.user_provider == Provider::AnonUser.as_str() {
            return Err(AppError::new(
                ErrorCode::APIKeyManagementForbidden,
                "anonymous users cannot manage API keys",
            ));
        }
        if session.api_key_id.is_some() {
            return Err(AppError::new(
                ErrorCode::APIKeyManagementForbidden,
                "sessions opened with an API key cannot manage API keys",
            ));
        }
        Ok(session)
    }
}
