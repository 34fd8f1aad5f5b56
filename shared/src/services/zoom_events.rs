//! Zoom's signed webhook events: verification, URL validation, meeting mappings and
//! deauthorization.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::domain::app::ZoomOAuthApp;
use crate::domain::connection::{Connection, ConnectionState};
use crate::domain::ids;
use crate::domain::meeting_mapping::{MappingSource, MeetingMapping};
use crate::domain::meeting_url::MeetingNumber;
use crate::records::{apps, connections, meetings, tokens as token_records, zoom_events};
use crate::services::{ServiceError, Services, apps as app_service, tokens};
use crate::signing::{verify_zoom_signature, zoom_url_validation_token};

/// Zoom documents no timestamp tolerance; five minutes is the common choice.
pub const TIMESTAMP_TOLERANCE_SECONDS: i64 = 300;
/// Webhook receipt times are stamped on the app at most this often, so a busy app does
/// not write its record on every event.
const STAMP_INTERVAL_SECONDS: i64 = 300;

/// The parts of a Zoom delivery the handler reads.
pub struct ZoomDelivery<'a> {
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
    pub request_id: Option<&'a str>,
    /// The raw body bytes: the signature covers them, not a re-serialization.
    pub body: &'a [u8],
}

/// Verifies and handles one delivery, and returns the JSON body of the 200 response.
pub async fn handle_delivery(
    services: &Services,
    app_id: &str,
    delivery: ZoomDelivery<'_>,
) -> Result<Value, ServiceError> {
    let unknown_app = || ServiceError::BadRequest(format!("Unknown Zoom OAuth app {app_id}."));
    if !ids::has_shape(app_id, ids::APP) {
        return Err(unknown_app());
    }
    let app = apps::get_any(services.store.as_ref(), app_id)
        .await?
        .ok_or_else(unknown_app)?
        .value;
    let Some(secret) = app_service::webhook_secret(services, &app).await? else {
        return Err(ServiceError::BadRequest(format!(
            "Zoom OAuth app {app_id} has no webhook secret; set one with PATCH /api/v1/zoom_oauth_apps/{app_id}."
        )));
    };

    let now = services.clock.now();
    if let Err(reason) = verify(secret.expose().as_bytes(), &delivery, now) {
        tracing::warn!(app_id, request_id = delivery.request_id, reason = %reason, "Zoom webhook rejected");
        stamp(services, &app, now, false).await;
        return Err(ServiceError::SignatureRejected(reason));
    }
    stamp(services, &app, now, true).await;

    let event: Value = serde_json::from_slice(delivery.body)
        .map_err(|error| ServiceError::BadRequest(format!("Body is not valid JSON: {error}")))?;
    let event_type = event
        .get("event")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();

    if event_type == "endpoint.url_validation" {
        let plain_token = event
            .pointer("/payload/plainToken")
            .and_then(Value::as_str)
            .ok_or_else(|| ServiceError::BadRequest("payload.plainToken is missing.".into()))?;
        tracing::info!(app_id, "Zoom URL validation completed");
        return Ok(json!({
            "plainToken": plain_token,
            "encryptedToken": zoom_url_validation_token(secret.expose().as_bytes(), plain_token),
        }));
    }

    // The marker is written only after the event was handled, so a handler cut short (a
    // timeout, a crash, a store failure) leaves none and Zoom's retry runs it again. Two
    // copies in flight at once may both run, which the handlers tolerate: mappings are
    // plain puts and a disconnection is a conditional write.
    let fingerprint = hex::encode(Sha256::digest(delivery.body));
    let store = services.store.as_ref();
    if zoom_events::is_handled(store, app_id, &fingerprint).await? {
        tracing::info!(app_id, event = %event_type, request_id = delivery.request_id, "Zoom event redelivered; already handled");
        return Ok(json!({"status": "already_handled"}));
    }

    let status = match dispatch(services, &app, &event_type, &event).await {
        Ok(status) => status,
        Err(error) => {
            tracing::error!(app_id, event = %event_type, %error, "handling a Zoom event failed");
            // Zoom retries only on 5xx, so every failure here returns 503.
            return Err(match error {
                ServiceError::Unavailable(message) => ServiceError::Unavailable(message),
                other => ServiceError::Unavailable(other.to_string()),
            });
        }
    };
    if let Err(error) =
        zoom_events::mark_handled(store, app_id, &fingerprint, now.timestamp()).await
    {
        tracing::warn!(app_id, %error, "recording a handled Zoom event failed; a redelivery would run it again");
    }
    tracing::info!(app_id, event = %event_type, request_id = delivery.request_id, outcome = status, "Zoom event handled");
    Ok(json!({"status": status}))
}

fn verify(secret: &[u8], delivery: &ZoomDelivery<'_>, now: DateTime<Utc>) -> Result<(), String> {
    let timestamp = delivery
        .timestamp
        .ok_or("Missing x-zm-request-timestamp header.")?;
    let signature = delivery.signature.ok_or("Missing x-zm-signature header.")?;
    let seconds: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| "x-zm-request-timestamp is not an integer number of seconds.".to_owned())?;
    // abs_diff cannot overflow, whatever number the header carries.
    let skew = now.timestamp().abs_diff(seconds);
    if skew > TIMESTAMP_TOLERANCE_SECONDS as u64 {
        return Err(format!(
            "x-zm-request-timestamp is {skew} s away from the current time; at most {TIMESTAMP_TOLERANCE_SECONDS} s is accepted."
        ));
    }
    if !verify_zoom_signature(secret, timestamp, delivery.body, signature) {
        return Err("Invalid x-zm-signature.".into());
    }
    Ok(())
}

/// Records the time of a verified or rejected delivery on the app, at most once per
/// interval. Failures only cost the timestamp, so they are logged.
async fn stamp(services: &Services, app: &ZoomOAuthApp, now: DateTime<Utc>, verified: bool) {
    let current = if verified {
        app.last_verified_webhook_received_at
    } else {
        app.last_unverified_webhook_received_at
    };
    if current.is_some_and(|at| (now - at).num_seconds() < STAMP_INTERVAL_SECONDS) {
        return;
    }
    let Ok(Some(stored)) = apps::get_any(services.store.as_ref(), &app.id).await else {
        return;
    };
    let mut updated = stored.value;
    if verified {
        updated.last_verified_webhook_received_at = Some(now);
    } else {
        updated.last_unverified_webhook_received_at = Some(now);
    }
    if let Err(error) = apps::update(services.store.as_ref(), &updated, stored.version).await {
        tracing::debug!(app_id = %app.id, %error, "stamping the webhook time lost a race");
    }
}

async fn dispatch(
    services: &Services,
    app: &ZoomOAuthApp,
    event_type: &str,
    event: &Value,
) -> Result<&'static str, ServiceError> {
    match event_type {
        "meeting.created" => meeting_created(services, app, event).await,
        "meeting.deleted" => meeting_deleted(services, app, event).await,
        "user.updated" => user_updated(services, app, event).await,
        "app_deauthorized" => app_deauthorized(services, app, event).await,
        _ => Ok("ignored"),
    }
}

fn payload_str<'a>(event: &'a Value, pointer: &str) -> Option<&'a str> {
    event
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Finds the connected connection of the app for the Zoom user, if it can mint local
/// recording tokens.
async fn recording_connection(
    services: &Services,
    app: &ZoomOAuthApp,
    zoom_user_id: Option<&str>,
) -> Result<Option<Connection>, ServiceError> {
    let Some(zoom_user_id) = zoom_user_id else {
        return Ok(None);
    };
    Ok(
        connections::find_by_user(services.store.as_ref(), &app.id, zoom_user_id)
            .await?
            .map(|stored| stored.value)
            .filter(|c| {
                c.state == ConnectionState::Connected && c.is_local_recording_token_supported
            }),
    )
}

async fn map_meeting(
    services: &Services,
    connection: &Connection,
    meeting_number: &MeetingNumber,
    source: MappingSource,
) -> Result<(), ServiceError> {
    let mapping = MeetingMapping {
        project_id: connection.project_id.clone(),
        meeting_id: meeting_number.as_str().to_owned(),
        connection_id: connection.id.clone(),
        source,
        updated_at: services.clock.now(),
    };
    meetings::put(services.store.as_ref(), &mapping).await?;
    tracing::info!(connection_id = %connection.id, meeting_id = %meeting_number, source = source.as_str(), "meeting mapped");
    Ok(())
}

/// Reads the meeting number of a meeting event, which Zoom sends as a JSON number or string.
fn meeting_number(event: &Value) -> Option<MeetingNumber> {
    event
        .pointer("/payload/object/id")
        .and_then(|id| MeetingNumber::from_json(id).ok())
}

async fn meeting_created(
    services: &Services,
    app: &ZoomOAuthApp,
    event: &Value,
) -> Result<&'static str, ServiceError> {
    let Some(number) = meeting_number(event) else {
        return Ok("ignored: no valid meeting id");
    };
    // The operator created the meeting, possibly for another host (an assistant scheduling
    // for an executive); when the operator has no connection, the host may.
    let mut connection =
        recording_connection(services, app, payload_str(event, "/payload/operator_id")).await?;
    if connection.is_none() {
        connection =
            recording_connection(services, app, payload_str(event, "/payload/object/host_id"))
                .await?;
    }
    match connection {
        Some(connection) => {
            map_meeting(services, &connection, &number, MappingSource::Webhook).await?;
            Ok("mapped")
        }
        None => Ok("ignored: no connected user"),
    }
}

async fn meeting_deleted(
    services: &Services,
    app: &ZoomOAuthApp,
    event: &Value,
) -> Result<&'static str, ServiceError> {
    let Some(number) = meeting_number(event) else {
        return Ok("ignored: no valid meeting id");
    };
    let removed =
        meetings::delete(services.store.as_ref(), &app.project_id, number.as_str()).await?;
    if removed {
        tracing::info!(app_id = %app.id, meeting_id = %number, "meeting mapping removed");
        Ok("unmapped")
    } else {
        Ok("ignored: no mapping")
    }
}

async fn user_updated(
    services: &Services,
    app: &ZoomOAuthApp,
    event: &Value,
) -> Result<&'static str, ServiceError> {
    let Some(pmi) = event
        .pointer("/payload/object/pmi")
        .filter(|pmi| !pmi.is_null())
    else {
        return Ok("ignored: pmi unchanged");
    };
    let Ok(pmi) = MeetingNumber::from_json(pmi) else {
        return Ok("ignored: invalid pmi");
    };
    match recording_connection(services, app, payload_str(event, "/payload/object/id")).await? {
        Some(connection) => {
            map_meeting(services, &connection, &pmi, MappingSource::Pmi).await?;
            Ok("mapped")
        }
        None => Ok("ignored: no connected user"),
    }
}

async fn app_deauthorized(
    services: &Services,
    app: &ZoomOAuthApp,
    event: &Value,
) -> Result<&'static str, ServiceError> {
    let Some(user_id) = payload_str(event, "/payload/user_id") else {
        return Ok("ignored: no user_id");
    };
    let store = services.store.as_ref();
    let Some(stored) = connections::find_by_user(store, &app.id, user_id).await? else {
        return Ok("ignored: no connection");
    };
    // Zoom retries a delivery for over an hour, so a late copy can arrive after the user
    // authorized again. Such a copy must not undo the newer authorization.
    let deauthorized_at = payload_str(event, "/payload/deauthorization_time")
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
        .map(|at| at.with_timezone(&Utc));
    if let (Some(deauthorized_at), Some(authorized_at)) =
        (deauthorized_at, stored.value.authorized_at)
        && deauthorized_at < authorized_at
    {
        tracing::info!(connection_id = %stored.value.id, "deauthorization predates the latest authorization; ignored");
        return Ok("ignored: authorized again since");
    }

    let changed = tokens::disconnect(services, &stored.value.id, "app_deauthorized").await?;
    // Zoom's Marketplace terms require deleting the user's data on deauthorization, also
    // for a connection that was already disconnected for another reason and kept its
    // tokens.
    token_records::delete(store, &stored.value.id).await?;
    meetings::delete_all_of_connection(store, &stored.value.id).await?;
    Ok(if changed {
        "disconnected"
    } else {
        "tokens deleted: already disconnected"
    })
}
