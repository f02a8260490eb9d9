//! Logins and links with identities vouched for by someone else — custom JWTs (`custom-token`), Google,
//! Apple, Facebook and the operator's authentication function — and account linking
//! (`login?link=true`) with every provider.

use appkeys_protocol::{ErrorCode, Provider};
use serde_json::{Map, Value};

use super::super::common::{audit_failure, audit_limit};
use super::{invalid_password, presented_secret, provider_not_found, Login, Opened};
use crate::crypto::custom_jwt::Verified;
use crate::db::accounts::CustomLogin;
use crate::db::identities::Link;
use crate::db::{Session, SERVER_PROVIDER};
use crate::error::AppError;
use crate::http::extract::required_str;
use crate::model::Event;
use crate::service::custom_jwt::CustomJwtError;
use crate::service::ratelimit::Bucket;
use crate::state::AppState;

/// Whether `provider` is configured on this server (email/password, anonymous and API keys always are).
pub(super) fn offered(state: &AppState, provider: Provider) -> bool {
    let social = &state.inner.social;
    match provider {
        Provider::LocalUserpass | Provider::AnonUser | Provider::ApiKey => true,
        Provider::CustomToken => state.inner.custom_jwt.is_some(),
        Provider::Google => social.google.is_some(),
        Provider::Apple => social.apple.is_some(),
        Provider::Facebook => social.facebook.is_some(),
        Provider::Function => social.function.is_some(),
    }
}

impl Login<'_> {
    /// `custom-token`, `oauth2-google`, `oauth2-apple`, `oauth2-facebook`, `custom-function`: a new
    /// session of the identity's user (created at its first login).
    pub(super) async fn external(
        &self,
        provider: Provider,
        body: &Map<String, Value>,
    ) -> Result<Opened, AppError> {
        let verified = self.verify_external(provider, body).await?;
        self.open_identity(provider, &verified).await
    }

    /// A new session of the user of `verified`'s identity of `provider` (created at its first login),
    /// within the per-user-and-client ceiling, audited in aggregate, the user's sessions trimmed to the
    /// cap (a login request, or the callback of the web redirect flow).
    pub(in crate::http::routes) async fn open_identity(
        &self,
        provider: Provider,
        verified: &Verified,
    ) -> Result<Opened, AppError> {
        self.ceiling(&format!("{provider}\0{}", verified.sub))
            .await?;
        let store = &self.state.inner.store;
        let opened = store
            .identity_login(
                self.app_id,
                (provider.as_str(), &verified.sub),
                verified.data.as_deref(),
                &self.device,
            )
            .await
            .map_err(AppError::db)?;
        match opened {
            CustomLogin::Opened(user_id, session, _) => {
                self.state.user_logged_in(&user_id);
                self.audit_success(&user_id, None);
                Ok(Opened::session(user_id, session))
            }
            CustomLogin::Disabled(user_id) => {
                let refused = self.event.clone().user(&user_id);
                audit_failure(self.state, &refused, "user_disabled").await;
                Err(AppError::new(
                    ErrorCode::UserDisabled,
                    "the user is disabled",
                ))
            }
        }
    }

    /// The identity that a login or link body of `provider` proves. Failures count against the
    /// client's failed-login limit (as wrong passwords do) and are audited; a provider that cannot be
    /// reached is 503 with `Retry-After`.
    async fn verify_external(
        &self,
        provider: Provider,
        body: &Map<String, Value>,
    ) -> Result<Verified, AppError> {
        let (state, ip, app_id) = (self.state, self.ip.as_str(), self.app_id);
        let social = &state.inner.social;
        let (limiter, per_ip) = (
            &state.inner.limiter,
            state.inner.limits.login_failures_per_ip,
        );
        let over = limiter.check(Bucket::LoginFailuresIp, &[ip], per_ip).await;
        audit_limit(state, &self.event, over).await?;
        let checked = match provider {
            Provider::CustomToken => {
                let jwt = state
                    .inner
                    .custom_jwt
                    .as_ref()
                    .ok_or_else(provider_not_found)?;
                jwt.verify(required_str(body, "token")?, app_id).await
            }
            Provider::Google => {
                let google = social.google.as_ref().ok_or_else(provider_not_found)?;
                google.verify(body, app_id).await
            }
            Provider::Apple => {
                let apple = social.apple.as_ref().ok_or_else(provider_not_found)?;
                apple.verify(required_str(body, "id_token")?, app_id).await
            }
            Provider::Facebook => {
                let facebook = social.facebook.as_ref().ok_or_else(provider_not_found)?;
                facebook.verify(body).await
            }
            Provider::Function => {
                let function = social.function.as_ref().ok_or_else(provider_not_found)?;
                function.verify(body).await
            }
            Provider::LocalUserpass | Provider::AnonUser | Provider::ApiKey => {
                return Err(provider_not_found())
            }
        };
        match checked {
            Ok(verified) => Ok(verified),
            Err(CustomJwtError::Unavailable(secs)) => Err(AppError::unavailable(
                secs,
                "the identity provider cannot be reached now; try again later",
            )),
            Err(CustomJwtError::Refused(why)) => {
                audit_failure(state, &self.event, "invalid_token").await;
                if per_ip > 0 {
                    limiter.record(Bucket::LoginFailuresIp, &[ip], 0).await?;
                }
                let what = match provider {
                    Provider::CustomToken => "invalid custom JWT".to_owned(),
                    other => format!("invalid {other} credentials"),
                };
                Err(AppError::new(
                    ErrorCode::AuthError,
                    format!("{what}: {why}"),
                ))
            }
        }
    }

    /// `login?link=true`: adds the credentials' identity to the user of `session` (an access token's).
    pub(super) async fn link(
        &self,
        provider: Provider,
        body: &Map<String, Value>,
        session: &Session,
    ) -> Result<(), AppError> {
        if session.app_id != self.app_id {
            return Err(AppError::new(
                ErrorCode::BadRequest,
                "the access token is of another app",
            ));
        }
        if session.api_key_id.is_some() || session.user_provider == SERVER_PROVIDER {
            return Err(AppError::new(
                ErrorCode::LinkForbidden,
                "a session opened with an API key cannot link credentials",
            ));
        }
        let store = &self.state.inner.store;
        let user = session.user_id.as_str();
        let event = Event {
            event: "user.linked",
            ..self.event.clone()
        };
        let outcome = match provider {
            Provider::LocalUserpass => {
                let account = self.password_user(body, presented_secret(body)).await?;
                store
                    .join_userpass_account(user, &account.id, account.auth_epoch, &event)
                    .await
            }
            Provider::CustomToken
            | Provider::Google
            | Provider::Apple
            | Provider::Facebook
            | Provider::Function => {
                let verified = self.verify_external(provider, body).await?;
                let identity = (provider.as_str(), verified.sub.as_str());
                store
                    .link_identity(
                        user,
                        self.app_id,
                        identity,
                        verified.data.as_deref(),
                        &event,
                    )
                    .await
            }
            Provider::AnonUser | Provider::ApiKey => {
                return Err(AppError::new(
                    ErrorCode::BadRequest,
                    "anonymous and API-key credentials cannot be linked to a user",
                ))
            }
        }
        .map_err(AppError::db)?;
        match outcome {
            Link::Linked => {
                self.state.record(&event.user(user));
                Ok(())
            }
            Link::AlreadyLinked => Ok(()),
            Link::Taken => Err(AppError::new(
                ErrorCode::IdentityAlreadyLinked,
                "these credentials belong to another user",
            )),
            Link::ProviderTaken => Err(AppError::new(
                ErrorCode::IdentityAlreadyLinked,
                format!("the user already has a {provider} identity"),
            )),
            Link::Changed => Err(invalid_password()),
            Link::Unproven => Err(AppError::new(
                ErrorCode::UserNotConfirmed,
                "the account's address is not proven yet: open a link emailed to it (confirm/send or \
                 reset/send) before linking it",
            )),
        }
    }
}
