//! wasm-bindgen tests in headless Chromium against a real appkeys-server (see scripts/test-wasm.sh).
#![cfg(target_arch = "wasm32")]
mod common;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn full_api_key_flow() {
    common::full_api_key_flow().await;
}

#[wasm_bindgen_test]
async fn api_key_login_is_the_same_user() {
    common::api_key_login_is_the_same_user().await;
}

#[wasm_bindgen_test]
async fn errors_surface_status_and_code() {
    common::errors_surface_status_and_code().await;
}

#[wasm_bindgen_test]
async fn email_password_confirmation_and_reset_calls() {
    common::email_password_confirmation_and_reset_calls().await;
}

#[wasm_bindgen_test]
async fn refresh_and_delete_user() {
    common::refresh_and_delete_user().await;
}

#[wasm_bindgen_test]
async fn browser_restores_users_from_local_storage() {
    common::second_app_instance(true).await;
}

#[wasm_bindgen_test]
async fn custom_jwt_login_and_linking() {
    let Some(token) = option_env!("APPKEYS_TEST_JWT_WEB") else {
        panic!("APPKEYS_TEST_JWT_WEB was not set when the tests were compiled: run scripts/test-wasm.sh");
    };
    common::custom_jwt_and_linking(token).await;
}

#[wasm_bindgen_test]
async fn google_apple_facebook_and_function_credentials() {
    common::social_credentials().await;
}

#[wasm_bindgen_test]
fn handle_auth_redirect_hands_the_result_to_the_opener() {
    common::handle_auth_redirect_stores_the_result();
}
