//! Where the wasm build keeps users: `localStorage` (web-sys) in browsers, the app's own `storage`
//! option, or memory (Node, workers, and pages whose `localStorage` is unusable).
use crate::storage::{MemoryStore, Store};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen]
extern "C" {
    /// The `storage` option of `new App({ … })`: `get(key)`, `set(key, value)`, `remove(key)`.
    pub type CustomStorage;

    #[wasm_bindgen(method, catch)]
    fn get(this: &CustomStorage, key: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn set(this: &CustomStorage, key: &str, value: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn remove(this: &CustomStorage, key: &str) -> Result<JsValue, JsValue>;
}

impl CustomStorage {
    /// `value` as a storage, if it has the three methods.
    pub fn from_option(value: JsValue) -> Option<CustomStorage> {
        let has = |name: &str| {
            js_sys::Reflect::get(&value, &JsValue::from_str(name)).is_ok_and(|f| f.is_function())
        };
        (has("get") && has("set") && has("remove")).then(|| value.unchecked_into())
    }
}

/// One app's store. Failures of `localStorage` or a custom storage (full, denied) are ignored, as
/// realm-web does: the SDK keeps working from memory for the rest of the page.
pub enum JsStore {
    /// `window.localStorage`.
    Local(web_sys::Storage),
    /// The app's `storage` option.
    Custom(CustomStorage),
    /// Memory (users live as long as the `App`).
    Memory(MemoryStore),
}

impl JsStore {
    /// `localStorage` where there is a window with a usable one (not in Node, not in workers, not
    /// when access throws, e.g. in sandboxed frames), else memory.
    pub fn default_for_platform() -> Self {
        let local = web_sys::window()
            .and_then(|w| w.local_storage().ok().flatten())
            .filter(|s| s.get_item("appkeys:probe").is_ok());
        match local {
            Some(storage) => JsStore::Local(storage),
            None => JsStore::Memory(MemoryStore::default()),
        }
    }
}

impl Store for JsStore {
    fn get(&self, key: &str) -> Option<String> {
        match self {
            JsStore::Local(s) => s.get_item(key).ok().flatten(),
            JsStore::Custom(s) => s.get(key).ok().and_then(|v| v.as_string()),
            JsStore::Memory(s) => s.get(key),
        }
    }
    fn set(&self, key: &str, value: &str) {
        match self {
            JsStore::Local(s) => drop(s.set_item(key, value)),
            JsStore::Custom(s) => drop(s.set(key, value)),
            JsStore::Memory(s) => s.set(key, value),
        }
    }
    fn remove(&self, key: &str) {
        match self {
            JsStore::Local(s) => drop(s.remove_item(key)),
            JsStore::Custom(s) => drop(s.remove(key)),
            JsStore::Memory(s) => s.remove(key),
        }
    }
}
