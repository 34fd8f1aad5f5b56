//! Domain types and validation rules. Nothing here performs I/O.

pub mod meeting_url;
pub mod metadata;
pub mod outbound_url;
