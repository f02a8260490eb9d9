//! Integration tests for appkeys-server. Backend: a fresh temporary SQLite file per test, or — with
//! `APPKEYS_TEST_BACKEND=postgres` and `APPKEYS_TEST_PG_ADMIN_URL=postgres://USER@HOST:PORT/postgres`
//! — a fresh PostgreSQL database per test (`CREATE DATABASE appkeys_test_<random>`).

mod support;

mod abuse;
mod admin;
mod appservices;
mod auth;
mod basics;
mod configfile;
mod customdata;
mod customjwt;
mod email;
mod hardening;
mod import;
mod integrity;
mod keycontrols;
mod keyexpiry;
mod keylogin;
mod keys;
mod linking;
mod owner;
mod process;
mod realm;
mod revocation;
mod social;
mod storage;
mod takeback;
mod tokens;
mod webhooks;
