//! Receivers for the product's signed outbound requests: a fake bot runner that responds to join
//! tickets from a script, and a webhook receiver that records deliveries.
//!
//! Both check `X-Webhook-Signature`, which is base64 (standard alphabet, padded) of
//! HMAC-SHA256 over the exact body bytes. They differ in the key: the runner uses the UTF-8
//! bytes of `BOT_RUNNER_SECRET`, a webhook subscription uses the base64-decoded secret.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::Notify;

use crate::local_server::LocalServer;

#[cfg(test)]
mod tests;

/// Name of the header that carries the body signature.
pub const SIGNATURE_HEADER: &str = "X-Webhook-Signature";

/// Computes the `X-Webhook-Signature` value: base64 of HMAC-SHA256(`key`, `body`).
pub fn sign(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Checks a signature header value against `body` in constant time.
fn signature_matches(key: &[u8], body: &[u8], signature: Option<&str>) -> bool {
    let Some(tag) = signature.and_then(|value| STANDARD.decode(value.trim()).ok()) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(body);
    mac.verify_slice(&tag).is_ok()
}

fn signature_header(headers: &HeaderMap) -> Option<String> {
    headers
        .get(SIGNATURE_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under these locks is a single push or assignment, so the data stays
    // consistent even when a handler panicked while holding the lock.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Waits until `count()` reaches `expected`, waking on every `notify` signal.
///
/// # Panics
///
/// Panics when `timeout` passes first, naming `description` and the count reached.
async fn wait_for_count(
    notify: &Notify,
    expected: usize,
    timeout: Duration,
    description: &str,
    count: impl Fn() -> usize,
) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        // Register interest before reading the count, so a signal sent in between is not lost.
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let reached = count();
        if reached >= expected {
            return;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            panic!("expected {expected} {description} within {timeout:?}, but {reached} arrived");
        }
    }
}

/// A scripted response of the fake bot runner to one join ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunnerReply {
    /// Responds 200 with `{"outcome": …, "sub_type": …}`, leaving `sub_type` out when `None`.
    Outcome {
        /// `"joined"`, `"authorized_user_not_in_meeting"` or `"failed"`.
        outcome: String,
        /// Detail of the outcome, such as a Meeting SDK failure name.
        sub_type: Option<String>,
    },
    /// Responds with this HTTP status and an empty body.
    Status(u16),
    /// Waits this long, then sends the inner reply.
    Delay(Duration, Box<RunnerReply>),
}

impl RunnerReply {
    /// Builds the reply of a bot that joined the meeting.
    pub fn joined() -> Self {
        Self::outcome("joined", None)
    }

    /// Builds the reply of a bot that could not join because the authorized user is not in
    /// the meeting yet.
    pub fn not_in_meeting() -> Self {
        Self::outcome("authorized_user_not_in_meeting", None)
    }

    /// Builds a `failed` reply with the given sub type.
    pub fn failed(sub_type: &str) -> Self {
        Self::outcome("failed", Some(sub_type))
    }

    /// Builds a reply with any outcome and sub type.
    pub fn outcome(outcome: &str, sub_type: Option<&str>) -> Self {
        Self::Outcome {
            outcome: outcome.to_owned(),
            sub_type: sub_type.map(str::to_owned),
        }
    }

    /// Wraps this reply so it is sent after `delay`.
    pub fn delayed(self, delay: Duration) -> Self {
        Self::Delay(delay, Box::new(self))
    }
}

/// A fake bot runner: accepts signed join tickets on `POST` to any path and replies to each from
/// a script.
///
/// Dropping it stops its server.
pub struct RunnerFake {
    server: LocalServer,
    shared: Arc<RunnerShared>,
}

struct RunnerShared {
    secret: Vec<u8>,
    script: Vec<RunnerReply>,
    state: Mutex<RunnerState>,
    ticket_arrived: Notify,
}

#[derive(Default)]
struct RunnerState {
    tickets: Vec<Value>,
    rejected: usize,
}

impl RunnerFake {
    /// Starts the runner on a free loopback port.
    ///
    /// `secret` is the runner secret whose UTF-8 bytes key the signature. The n-th accepted
    /// ticket gets `script[n]`. Once the script runs out the last reply repeats, and an empty
    /// script replies [`RunnerReply::joined`] to every ticket.
    ///
    /// # Panics
    ///
    /// Panics when no loopback port can be bound.
    pub async fn start(secret: &str, script: Vec<RunnerReply>) -> Self {
        let shared = Arc::new(RunnerShared {
            secret: secret.as_bytes().to_vec(),
            script,
            state: Mutex::new(RunnerState::default()),
            ticket_arrived: Notify::new(),
        });
        let router = Router::new()
            .fallback(handle_ticket)
            .with_state(shared.clone());
        let server = LocalServer::start("runner-fake", router).await;
        Self { server, shared }
    }

    /// URL to configure as `BOT_RUNNER_URL`, such as `http://127.0.0.1:40123/`.
    pub fn url(&self) -> String {
        format!("{}/", self.server.base_url())
    }

    /// Returns the accepted join tickets, parsed, in arrival order.
    pub fn tickets(&self) -> Vec<Value> {
        lock(&self.shared.state).tickets.clone()
    }

    /// Returns how many requests were rejected: a missing or wrong signature (401), a body that
    /// is not JSON (400) or a method other than `POST` (405).
    pub fn rejected_count(&self) -> usize {
        lock(&self.shared.state).rejected
    }

    /// Waits until at least `count` tickets have been accepted and returns all tickets.
    ///
    /// # Panics
    ///
    /// Panics when `timeout` passes first.
    pub async fn wait_for_tickets(&self, count: usize, timeout: Duration) -> Vec<Value> {
        let shared = &self.shared;
        wait_for_count(
            &shared.ticket_arrived,
            count,
            timeout,
            "join tickets",
            || lock(&shared.state).tickets.len(),
        )
        .await;
        self.tickets()
    }

    /// Stops the server and waits until requests in progress have been handled.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

async fn handle_ticket(
    State(shared): State<Arc<RunnerShared>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != Method::POST {
        lock(&shared.state).rejected += 1;
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let signature = signature_header(&headers);
    if !signature_matches(&shared.secret, &body, signature.as_deref()) {
        lock(&shared.state).rejected += 1;
        tracing::warn!(
            signature_present = signature.is_some(),
            "runner fake: rejected a join ticket with a missing or wrong signature"
        );
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let ticket = match serde_json::from_slice::<Value>(&body) {
        Ok(ticket) => ticket,
        Err(err) => {
            lock(&shared.state).rejected += 1;
            tracing::warn!(error = %err, "runner fake: rejected a join ticket that is not JSON");
            return StatusCode::BAD_REQUEST.into_response();
        }
    };

    let reply = {
        let mut state = lock(&shared.state);
        state.tickets.push(ticket);
        let index = state.tickets.len() - 1;
        shared
            .script
            .get(index)
            .or_else(|| shared.script.last())
            .cloned()
            .unwrap_or_else(RunnerReply::joined)
    };
    shared.ticket_arrived.notify_waiters();
    send_reply(reply).await
}

async fn send_reply(mut reply: RunnerReply) -> Response {
    loop {
        match reply {
            RunnerReply::Delay(delay, inner) => {
                tokio::time::sleep(delay).await;
                reply = *inner;
            }
            RunnerReply::Status(status) => {
                let status = StatusCode::from_u16(status).unwrap_or_else(|_| {
                    panic!("RunnerReply::Status({status}) is not a valid HTTP status code")
                });
                return status.into_response();
            }
            RunnerReply::Outcome { outcome, sub_type } => {
                let mut body = json!({ "outcome": outcome });
                if let Some(sub_type) = sub_type {
                    body["sub_type"] = json!(sub_type);
                }
                return axum::Json(body).into_response();
            }
        }
    }
}

/// One request received by a [`WebhookReceiver`].
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedDelivery {
    /// Body parsed as JSON, or `Value::Null` when it is not JSON.
    pub body: Value,
    /// Exact body bytes, as signed.
    pub raw: Vec<u8>,
    /// Value of the `X-Webhook-Signature` header, if present.
    pub signature: Option<String>,
    /// Whether the signature matched the secret known when the delivery arrived. It is always
    /// `false` while no secret is set.
    pub signature_valid: bool,
}

impl ReceivedDelivery {
    /// Checks the signature against a base64-encoded secret, for deliveries that arrived before
    /// the secret was known.
    ///
    /// # Panics
    ///
    /// Panics when `secret_base64` is not valid base64.
    pub fn verify(&self, secret_base64: &str) -> bool {
        let key = decode_secret(secret_base64);
        signature_matches(&key, &self.raw, self.signature.as_deref())
    }
}

/// A webhook subscriber: records signed deliveries sent by `POST` to any path.
///
/// Dropping it stops its server.
pub struct WebhookReceiver {
    server: LocalServer,
    shared: Arc<ReceiverShared>,
}

struct ReceiverShared {
    state: Mutex<ReceiverState>,
    delivery_arrived: Notify,
}

struct ReceiverState {
    /// Decoded subscription secret, or `None` until it is known.
    key: Option<Vec<u8>>,
    status: StatusCode,
    deliveries: Vec<ReceivedDelivery>,
}

impl WebhookReceiver {
    /// Starts a receiver that verifies signatures with `secret_base64`, the subscription secret
    /// as the product shows it (base64 of the key bytes).
    ///
    /// # Panics
    ///
    /// Panics when `secret_base64` is not valid base64 or no loopback port can be bound.
    pub async fn start(secret_base64: &str) -> Self {
        Self::start_with_key(Some(decode_secret(secret_base64))).await
    }

    /// Starts a receiver whose secret is not known yet, because a subscription secret exists
    /// only after the subscription, which needs this receiver's URL, has been created.
    /// Deliveries count as unsigned until [`WebhookReceiver::set_secret`] is called.
    ///
    /// # Panics
    ///
    /// Panics when no loopback port can be bound.
    pub async fn start_unverified() -> Self {
        Self::start_with_key(None).await
    }

    async fn start_with_key(key: Option<Vec<u8>>) -> Self {
        let shared = Arc::new(ReceiverShared {
            state: Mutex::new(ReceiverState {
                key,
                status: StatusCode::OK,
                deliveries: Vec::new(),
            }),
            delivery_arrived: Notify::new(),
        });
        let router = Router::new()
            .fallback(handle_delivery)
            .with_state(shared.clone());
        let server = LocalServer::start("webhook-receiver", router).await;
        Self { server, shared }
    }

    /// URL to register as the webhook target, such as `http://127.0.0.1:40123/webhook`.
    pub fn url(&self) -> String {
        format!("{}/webhook", self.server.base_url())
    }

    /// Sets the base64-encoded secret that later deliveries are verified with.
    ///
    /// # Panics
    ///
    /// Panics when `secret_base64` is not valid base64.
    pub fn set_secret(&self, secret_base64: &str) {
        lock(&self.shared.state).key = Some(decode_secret(secret_base64));
    }

    /// Sets the HTTP status of later answers, for example 500 to make the product retry.
    ///
    /// # Panics
    ///
    /// Panics when `status` is not a valid HTTP status code.
    pub fn set_status(&self, status: u16) {
        let status = StatusCode::from_u16(status)
            .unwrap_or_else(|_| panic!("{status} is not a valid HTTP status code"));
        lock(&self.shared.state).status = status;
    }

    /// Returns every delivery received so far, in arrival order.
    pub fn deliveries(&self) -> Vec<ReceivedDelivery> {
        lock(&self.shared.state).deliveries.clone()
    }

    /// Waits until at least `count` deliveries have arrived and returns all deliveries.
    ///
    /// # Panics
    ///
    /// Panics when `timeout` passes first.
    pub async fn wait_for_deliveries(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Vec<ReceivedDelivery> {
        let shared = &self.shared;
        wait_for_count(
            &shared.delivery_arrived,
            count,
            timeout,
            "deliveries",
            || lock(&shared.state).deliveries.len(),
        )
        .await;
        self.deliveries()
    }

    /// Stops the server and waits until requests in progress have been handled.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

async fn handle_delivery(
    State(shared): State<Arc<ReceiverShared>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != Method::POST {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let signature = signature_header(&headers);
    let status = {
        let mut state = lock(&shared.state);
        let signature_valid = state
            .key
            .as_deref()
            .is_some_and(|key| signature_matches(key, &body, signature.as_deref()));
        state.deliveries.push(ReceivedDelivery {
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            raw: body.to_vec(),
            signature,
            signature_valid,
        });
        state.status
    };
    shared.delivery_arrived.notify_waiters();
    status.into_response()
}

fn decode_secret(secret_base64: &str) -> Vec<u8> {
    STANDARD
        .decode(secret_base64.trim())
        .unwrap_or_else(|err| panic!("the webhook secret is not valid base64: {err}"))
}
