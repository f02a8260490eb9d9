//! wasm-bindgen tests in Node against a real appkeys-server (see scripts/test-wasm.sh).
#![cfg(target_arch = "wasm32")]
mod common;
use wasm_bindgen_test::wasm_bindgen_test;

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
async fn node_keeps_users_in_memory() {
    common::second_app_instance(false).await;
}

#[wasm_bindgen_test]
async fn custom_jwt_login_and_linking() {
    let Some(token) = option_env!("APPKEYS_TEST_JWT_NODE") else {
        panic!("APPKEYS_TEST_JWT_NODE was not set when the tests were compiled: run scripts/test-wasm.sh");
    };
    common::custom_jwt_and_linking(token).await;
}

#[wasm_bindgen_test]
async fn google_apple_facebook_and_function_credentials() {
    common::social_credentials().await;
}

#[wasm_bindgen_test]
async fn the_redirect_flow_needs_a_browser() {
    common::redirect_flow_needs_a_browser().await;
}
