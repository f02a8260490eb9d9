//! One user of an app: id, provider, tokens, profile, state, and the refresh in flight.
use crate::error::Error;
use crate::flight::Flight;
use crate::platform::Platform;
use appkeys_protocol::wire::Profile;
use appkeys_protocol::TokenKind;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// `user.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserState {
    /// Has a refresh token.
    Active,
    /// Known to the app, but without tokens.
    LoggedOut,
    /// Removed from the app.
    Removed,
}

impl UserState {
    /// The JS spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            UserState::Active => "active",
            UserState::LoggedOut => "logged-out",
            UserState::Removed => "removed",
        }
    }
}

/// The shared outcome of one refresh.
pub(crate) type Refresh<P> = Rc<Flight<Result<(), Error<<P as Platform>::Error>>>>;

/// One user of an app. Shared (`Rc`) by the app's user list, the JS `User` object and the calls in
/// flight. Every field is behind a `Cell`/`RefCell` that is only borrowed for the moment of a read
/// or write, never across an `await`.
pub struct UserCore<P: Platform> {
    id: String,
    provider_type: String,
    pub(crate) access_token: RefCell<Option<String>>,
    pub(crate) refresh_token: RefCell<Option<String>>,
    pub(crate) profile: RefCell<Option<Profile>>,
    pub(crate) device_id: RefCell<Option<String>>,
    pub(crate) removed: Cell<bool>,
    /// The refresh in flight for this user, which concurrent 401s wait for.
    pub(crate) refreshing: RefCell<Option<Refresh<P>>>,
}

/// Shows the id, provider and state only: tokens are secrets and never printed.
impl<P: Platform> std::fmt::Debug for UserCore<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("provider_type", &self.provider_type)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl<P: Platform> UserCore<P> {
    pub(crate) fn new(id: String, provider_type: String) -> Rc<Self> {
        Rc::new(UserCore {
            id,
            provider_type,
            access_token: RefCell::new(None),
            refresh_token: RefCell::new(None),
            profile: RefCell::new(None),
            device_id: RefCell::new(None),
            removed: Cell::new(false),
            refreshing: RefCell::new(None),
        })
    }
    /// User id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// Provider of the first login (`local-userpass`, `api-key`, `anon-user`).
    pub fn provider_type(&self) -> &str {
        &self.provider_type
    }
    /// Current access token.
    pub fn access_token(&self) -> Option<String> {
        self.access_token.borrow().clone()
    }
    /// Current refresh token.
    pub fn refresh_token(&self) -> Option<String> {
        self.refresh_token.borrow().clone()
    }
    /// The profile as last fetched from `GET auth/profile`.
    pub fn profile(&self) -> Option<Profile> {
        self.profile.borrow().clone()
    }
    /// Device id from the last login (never the zero id).
    pub fn device_id(&self) -> Option<String> {
        self.device_id.borrow().clone()
    }
    /// `active` / `logged-out` / `removed`.
    pub fn state(&self) -> UserState {
        if self.removed.get() {
            UserState::Removed
        } else if self.refresh_token.borrow().is_some() {
            UserState::Active
        } else {
            UserState::LoggedOut
        }
    }
    /// Whether a refresh is in flight for this user.
    pub fn is_refreshing(&self) -> bool {
        self.refreshing.borrow().is_some()
    }
    pub(crate) fn token(&self, kind: TokenKind) -> Option<String> {
        match kind {
            TokenKind::None => None,
            TokenKind::Access => self.access_token(),
            TokenKind::Refresh => self.refresh_token(),
        }
    }
}

/// The payload of a JWT as text: its middle part, base64url (padding and the standard alphabet are
/// accepted too). `None` for a token without one or with characters outside base64.
pub fn jwt_payload(token: &str) -> Option<String> {
    let part = token.split('.').nth(1)?;
    let mut bytes = Vec::with_capacity(part.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in part.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            bytes.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    String::from_utf8(bytes).ok()
}
