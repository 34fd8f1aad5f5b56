//! The local server's settings, read from the environment with local defaults.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use shared::config::{EnvReader, read_settings};
use shared::services::Settings;

pub struct LocalConfig {
    pub bind_addr: IpAddr,
    pub port: u16,
    pub data_dir: PathBuf,
    pub zoom_api_base_url: String,
    /// Whether PUBLIC_BASE_URL was set; otherwise it follows the address actually bound.
    pub public_base_url_is_set: bool,
    pub settings: Settings,
}

/// Returns the default public origin for a listening address.
pub fn local_origin(address: std::net::SocketAddr) -> String {
    match address.ip() {
        IpAddr::V6(ip) => format!("http://[{ip}]:{}", address.port()),
        IpAddr::V4(ip) => format!("http://{ip}:{}", address.port()),
    }
}

impl LocalConfig {
    /// Reads every variable and reports all invalid ones at once.
    pub fn from_env() -> Result<Self, Vec<String>> {
        let mut env = EnvReader::default();
        let bind_addr = env.parsed_or(
            "BIND_ADDR",
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            "an IP address",
        );
        let port = env.parsed_or("PORT", 3000u16, "a port number from 0 to 65535");
        let public_base_url_is_set = env.optional("PUBLIC_BASE_URL").is_some();
        let default_origin = local_origin(std::net::SocketAddr::new(bind_addr, port));
        let public_base_url = env.optional("PUBLIC_BASE_URL").unwrap_or(default_origin);
        let (settings, zoom_api_base_url) = read_settings(&mut env, public_base_url, true);
        let data_dir = env
            .optional("DATA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(".local-data"));
        env.finish()?;
        Ok(Self {
            bind_addr,
            port,
            data_dir,
            zoom_api_base_url,
            public_base_url_is_set,
            settings,
        })
    }
}
