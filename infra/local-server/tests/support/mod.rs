//! Starts the local server binary on a free loopback port with its own data folder, and
//! captures everything it logs.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

pub const BINARY: &str = env!("CARGO_BIN_EXE_local-server");

/// A data folder under the system temp folder, removed on drop.
pub struct DataDir(pub PathBuf);

impl DataDir {
    pub fn new() -> Self {
        let name = format!("local-server-test-{}-{}", std::process::id(), rand_suffix());
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).expect("create data folder");
        Self(path)
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{nanos}-{}", COUNTER.fetch_add(1, Ordering::SeqCst))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The secrets `create-project` prints once.
#[derive(Clone, Debug)]
pub struct ProjectKeys {
    pub project_id: String,
    pub api_key: String,
    pub signing_secret: String,
}

pub fn create_project(data_dir: &Path, name: &str) -> ProjectKeys {
    let output = Command::new(BINARY)
        .args(["create-project", "--name", name])
        .env("DATA_DIR", data_dir)
        .env("RUST_LOG", "info")
        .output()
        .expect("run create-project");
    assert!(
        output.status.success(),
        "create-project failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let line: Value =
        serde_json::from_str(stdout.trim()).expect("create-project prints one JSON line");
    ProjectKeys {
        project_id: line["project_id"].as_str().unwrap().to_owned(),
        api_key: line["api_key"].as_str().unwrap().to_owned(),
        signing_secret: line["signing_secret"].as_str().unwrap().to_owned(),
    }
}

pub struct LocalServer {
    child: Child,
    pub base_url: String,
    pub port: u16,
    logs: Arc<Mutex<Vec<String>>>,
}

impl LocalServer {
    /// Starts `local-server serve` and waits until `/health` responds.
    pub async fn start(data_dir: &Path, env: &HashMap<&str, String>) -> Self {
        Self::start_on_port(data_dir, env, free_port()).await
    }

    /// Starts the server on `port`; with 0, reads the port it bound from its start-up log.
    pub async fn start_on_port(data_dir: &Path, env: &HashMap<&str, String>, port: u16) -> Self {
        let mut command = Command::new(BINARY);
        command
            .arg("serve")
            .env("DATA_DIR", data_dir)
            .env("PORT", port.to_string())
            .env("BIND_ADDR", "127.0.0.1")
            .env("RUST_LOG", "debug")
            .env_remove("PUBLIC_BASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("spawn local-server");
        let logs = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    logs.lock().unwrap().push(line);
                }
            });
        }
        let mut port = port;
        for _ in 0..200 {
            if port != 0 {
                break;
            }
            let bound = logs.lock().unwrap().iter().find_map(|line| {
                let start = line.find("address=127.0.0.1:")? + "address=127.0.0.1:".len();
                line[start..].split_whitespace().next()?.parse::<u16>().ok()
            });
            port = bound.unwrap_or(0);
            std::thread::sleep(Duration::from_millis(25));
        }
        let server = Self {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            port,
            logs,
        };
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(response) = client
                .get(format!("{}/health", server.base_url))
                .send()
                .await
                && response.status() == 200
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "local server did not become ready; logs:\n{}",
            server.logs()
        );
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Stops the server and returns everything it logged.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(50));
        self.logs()
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An API client with one project's key.
#[derive(Clone)]
pub struct Api {
    pub base_url: String,
    pub api_key: String,
    pub client: reqwest::Client,
}

impl Api {
    pub fn new(base_url: &str, api_key: &str) -> Self {
        Self {
            base_url: base_url.to_owned(),
            api_key: api_key.to_owned(),
            client: reqwest::Client::new(),
        }
    }

    async fn send(&self, builder: reqwest::RequestBuilder) -> (u16, Value) {
        let response = builder
            .header("Authorization", format!("Token {}", self.api_key))
            .send()
            .await
            .expect("request reaches the local server");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, body)
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base_url)
        }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.client.get(self.url(path))).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(self.client.post(self.url(path)).json(body)).await
    }

    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        self.send(
            self.client
                .post(self.url(path))
                .header("Content-Type", "application/json")
                .body(body),
        )
        .await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(self.client.patch(self.url(path)).json(body))
            .await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(self.client.delete(self.url(path))).await
    }
}

/// Every scope a connection with both capabilities needs.
pub const ALL_SCOPES: &[&str] = &[
    "user:read:user",
    "user:read:zak",
    "meeting:read:list_meetings",
    "meeting:read:local_recording_token",
    "user:read:token",
];

pub const REDIRECT_URI: &str = "https://customer.example/zoom/callback";

/// Signs a Zoom webhook body the way Zoom does: `v0=` + hex HMAC-SHA256 of
/// `v0:{timestamp}:{body}`.
pub fn zoom_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

pub fn now_seconds() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Posts a Zoom delivery signed with `secret` at `timestamp`.
pub async fn send_zoom_event(
    base_url: &str,
    app_id: &str,
    secret: &str,
    timestamp: i64,
    body: &[u8],
) -> (u16, Value) {
    let timestamp = timestamp.to_string();
    let response = reqwest::Client::new()
        .post(format!(
            "{base_url}/external_webhooks/zoom/oauth_apps/{app_id}"
        ))
        .header("content-type", "application/json")
        .header("x-zm-request-timestamp", &timestamp)
        .header("x-zm-signature", zoom_signature(secret, &timestamp, body))
        .header("x-zm-request-id", format!("req-{}", rand_suffix()))
        .header("user-agent", "Zoom Marketplace/1.0a")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

pub fn connection_body(code: &str, app_id: Option<&str>) -> Value {
    let mut body = json!({
        "authorization_code": code,
        "redirect_uri": REDIRECT_URI,
        "is_local_recording_token_supported": true,
        "is_onbehalf_token_supported": true,
    });
    if let Some(app_id) = app_id {
        body["zoom_oauth_app_id"] = json!(app_id);
    }
    body
}

/// Reads a fixture body from the workspace's test data, byte for byte.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/zoom")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}
