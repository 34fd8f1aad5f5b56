//! The local server's settings, read from the environment with local defaults.

use std::net::IpAddr;
use std::path::PathBuf;

use shared::secret::SecretString;
use shared::services::Settings;

pub struct LocalConfig {
    pub bind_addr: IpAddr,
    pub port: u16,
    pub data_dir: PathBuf,
    pub zoom_api_base_url: String,
    pub settings: Settings,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

fn parse_bool(name: &str, value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("{name} must be true or false, got '{value}'")),
    }
}

impl LocalConfig {
    /// Reads every variable and reports all invalid ones at once.
    pub fn from_env() -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let bind_addr = var("BIND_ADDR")
            .unwrap_or_else(|| "127.0.0.1".into())
            .parse::<IpAddr>()
            .map_err(|_| errors.push("BIND_ADDR must be an IP address".into()))
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let port = var("PORT")
            .unwrap_or_else(|| "3000".into())
            .parse::<u16>()
            .map_err(|_| errors.push("PORT must be a port number from 0 to 65535".into()))
            .unwrap_or(3000);
        let allow_private_urls = match var("ALLOW_PRIVATE_URLS") {
            Some(value) => parse_bool("ALLOW_PRIVATE_URLS", &value).unwrap_or_else(|e| {
                errors.push(e);
                true
            }),
            None => true,
        };
        let delivery_max_attempts = match var("WEBHOOK_MAX_ATTEMPTS") {
            Some(value) => value
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .unwrap_or_else(|| {
                    errors.push(format!(
                        "WEBHOOK_MAX_ATTEMPTS must be a positive integer, got '{value}'"
                    ));
                    5
                }),
            None => 5,
        };
        let host = match bind_addr {
            IpAddr::V6(address) => format!("[{address}]"),
            IpAddr::V4(address) => address.to_string(),
        };
        let public_base_url =
            var("PUBLIC_BASE_URL").unwrap_or_else(|| format!("http://{host}:{port}"));
        let zoom_oauth_base_url =
            var("ZOOM_OAUTH_BASE_URL").unwrap_or_else(|| "https://zoom.us".into());
        let zoom_api_base_url =
            var("ZOOM_API_BASE_URL").unwrap_or_else(|| "https://api.zoom.us".into());
        for (name, value) in [
            ("PUBLIC_BASE_URL", &public_base_url),
            ("ZOOM_OAUTH_BASE_URL", &zoom_oauth_base_url),
            ("ZOOM_API_BASE_URL", &zoom_api_base_url),
        ] {
            if !(value.starts_with("http://") || value.starts_with("https://")) {
                errors.push(format!(
                    "{name} must be an http or https URL, got '{value}'"
                ));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }

        Ok(Self {
            bind_addr,
            port,
            data_dir: var("DATA_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(".local-data")),
            zoom_api_base_url: zoom_api_base_url.trim_end_matches('/').to_owned(),
            settings: Settings {
                public_base_url: public_base_url.trim_end_matches('/').to_owned(),
                zoom_oauth_base_url: zoom_oauth_base_url.trim_end_matches('/').to_owned(),
                allow_private_urls,
                bot_runner_url: var("BOT_RUNNER_URL"),
                bot_runner_secret: var("BOT_RUNNER_SECRET").map(SecretString::new),
                delivery_max_attempts,
            },
        })
    }
}
