//! Where users persist: the [`Store`] trait and the storage layout (realm-web's, under an `appkeys:`
//! prefix).
//!
//! Layout, per app id `A` and user id `U` (values are strings):
//! * `appkeys:app(A):userIds` — JSON array of user ids, most recent first;
//! * `appkeys:app(A):deviceId` — the device id of the last login;
//! * `appkeys:app(A):user(U):{providerType,accessToken,refreshToken,deviceId,profile}` — one user's
//!   fields (`profile`: the `GET auth/profile` body as JSON).
//!
//! API keys, passwords and other credentials are never stored.
use std::cell::RefCell;

/// A synchronous key/value store for persisted users (`localStorage`, memory, or the app's own).
/// Failures (a full `localStorage`, say) are the store's to swallow, like realm-web does.
pub trait Store {
    /// Reads a value.
    fn get(&self, key: &str) -> Option<String>;
    /// Writes a value.
    fn set(&self, key: &str, value: &str);
    /// Deletes a value.
    fn remove(&self, key: &str);
}

/// An in-memory [`Store`] (Node and workers by default: users live as long as the `App`).
#[derive(Debug, Default)]
pub struct MemoryStore(RefCell<Vec<(String, String)>>);

impl MemoryStore {
    /// Every entry (for tests).
    pub fn entries(&self) -> Vec<(String, String)> {
        self.0.borrow().clone()
    }
}

impl Store for MemoryStore {
    fn get(&self, key: &str) -> Option<String> {
        let entries = self.0.borrow();
        entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }
    fn set(&self, key: &str, value: &str) {
        self.remove(key);
        self.0.borrow_mut().push((key.to_owned(), value.to_owned()));
    }
    fn remove(&self, key: &str) {
        self.0.borrow_mut().retain(|(k, _)| k != key);
    }
}

/// The storage keys of one app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    prefix: String,
}

/// A user field that is persisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserField {
    /// Provider of the user's first login.
    ProviderType,
    /// Access token.
    AccessToken,
    /// Refresh token.
    RefreshToken,
    /// Device id.
    DeviceId,
    /// The profile (JSON).
    Profile,
}

impl UserField {
    /// The field's storage name.
    pub const fn as_str(self) -> &'static str {
        match self {
            UserField::ProviderType => "providerType",
            UserField::AccessToken => "accessToken",
            UserField::RefreshToken => "refreshToken",
            UserField::DeviceId => "deviceId",
            UserField::Profile => "profile",
        }
    }
}

impl Layout {
    /// The keys of app `app_id`.
    pub fn new(app_id: &str) -> Self {
        Layout {
            prefix: format!("appkeys:app({app_id}):"),
        }
    }

    /// `appkeys:app(<id>):userIds`.
    pub fn user_ids(&self) -> String {
        format!("{}userIds", self.prefix)
    }

    /// `appkeys:app(<id>):deviceId`.
    pub fn device_id(&self) -> String {
        format!("{}deviceId", self.prefix)
    }

    /// `appkeys:app(<id>):deviceSecret(<email>)`: what proves this device to the account of `email`
    /// (given by the server at a password login; see `wire::LoginResponse::device_secret`).
    pub fn device_secret(&self, email: &str) -> String {
        let mut key = self.prefix.clone();
        key.push_str("deviceSecret(");
        key.push_str(&email.to_ascii_lowercase());
        key.push(')');
        key
    }

    /// `appkeys:app(<id>):user(<user id>):<field>`.
    pub fn user(&self, user_id: &str, field: UserField) -> String {
        format!("{}user({user_id}):{}", self.prefix, field.as_str())
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn keys_are_namespaced_by_app_and_user() {
        let l = Layout::new("demo");
        assert_eq!(l.user_ids(), "appkeys:app(demo):userIds");
        assert_eq!(l.device_id(), "appkeys:app(demo):deviceId");
        assert_eq!(
            l.device_secret("Ann@Example.com"),
            "appkeys:app(demo):deviceSecret(ann@example.com)"
        );
        assert_eq!(
            l.user("u1", UserField::RefreshToken),
            "appkeys:app(demo):user(u1):refreshToken"
        );
    }

    #[test]
    fn memory_store_reads_back_what_it_wrote() {
        let s = MemoryStore::default();
        s.set("a", "1");
        s.set("a", "2");
        assert_eq!(s.get("a").as_deref(), Some("2"));
        s.remove("a");
        assert_eq!(s.get("a"), None);
        assert!(s.entries().is_empty());
    }
}
