//! Use cases, written against the ports.

pub mod apps;
pub mod bots;
pub mod connect_sessions;
pub mod connections;
pub mod crypto;
pub mod error;
pub mod jobs;
pub mod join;
pub mod keeper;
pub mod mint;
pub mod projects;
pub mod tokens;
pub mod webhooks;
pub mod zoom_events;

use std::sync::Arc;

use crate::ports::clock::{Clock, IdGenerator};
use crate::ports::outbound::OutboundHttp;
use crate::ports::queue::JobQueue;
use crate::ports::secrets::SecretBox;
use crate::ports::store::Store;
use crate::ports::zoom::ZoomApi;
use crate::secret::SecretString;

pub use error::{FieldErrors, ServiceError};

/// Deployment settings the use cases read.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Origin of this deployment as Zoom and customers reach it, without a trailing slash.
    pub public_base_url: String,
    /// Origin of Zoom's OAuth pages, for authorize URLs.
    pub zoom_oauth_base_url: String,
    /// Whether customer URLs may point at loopback and private addresses, and use http.
    pub allow_private_urls: bool,
    pub bot_runner_url: Option<String>,
    pub bot_runner_secret: Option<SecretString>,
    /// Attempts per outgoing webhook delivery before it is marked failed.
    pub delivery_max_attempts: u32,
}

/// Everything a use case needs, built once per process.
#[derive(Clone)]
pub struct Services {
    pub store: Arc<dyn Store>,
    pub secrets: Arc<dyn SecretBox>,
    pub queue: Arc<dyn JobQueue>,
    pub zoom: Arc<dyn ZoomApi>,
    pub outbound: Arc<dyn OutboundHttp>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGenerator>,
    pub settings: Settings,
}
