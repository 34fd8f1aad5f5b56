//! Domain types and validation rules. Nothing here performs I/O, except the DNS lookup of
//! `outbound_url::check_outbound_url`.

pub mod app;
pub mod bot;
pub mod connection;
pub mod ids;
pub mod meeting_mapping;
pub mod meeting_url;
pub mod metadata;
pub mod outbound_url;
pub mod project;
pub mod time;
pub mod webhook;
