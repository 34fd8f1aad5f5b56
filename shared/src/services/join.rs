//! One join attempt of a bot: claim it, mint fresh tokens, hand a signed join ticket to the
//! bot runner, and act on the runner's response.
//!
//! Idempotency: the attempt is claimed with a conditional write of the bot record
//! (`last_handled_attempt`) before any token is minted or any ticket is sent. A duplicate
//! or redelivered message, even one handled at the same moment by another worker, either
//! loses that write or finds the attempt already handled, and is dropped. So one attempt
//! number produces at most one ticket.
//!
//! The flip side is at-most-once: a worker that dies after the claim never sends its
//! ticket again. Its message comes back after the queue's visibility timeout. While the
//! claim is recent, the message fails again so it is retried later. Once the claim is older
//! than any attempt can take, the attempt counts as interrupted and the bot fails with
//! sub type `join_attempt_interrupted`, so it never stays `joining` forever.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::bot::{AttemptOutcome, Bot, NextStep, SUB_TYPE_WAIT_TIMEOUT, StateChange};
use crate::domain::metadata::Metadata;
use crate::domain::time::format_timestamp;
use crate::domain::webhook::Trigger;
use crate::ports::outbound::{OutboundError, OutboundRequest};
use crate::ports::queue::Job;
use crate::ports::store::StoreError;
use crate::records::{Versioned, bots};
use crate::services::mint::{self, JoinTokens, is_retryable_status};
use crate::services::{ServiceError, Services, webhooks};
use crate::signing::{canonical_json, sign_body};

/// Maximum time for minting the tokens of one attempt, retries included. With the runner's
/// 30 s it keeps an attempt within the join worker's 75 s function timeout, so a slow Zoom
/// gives a retry rather than an attempt cut off mid-way.
pub const MINT_BUDGET: Duration = Duration::from_secs(30);
/// Maximum time the bot runner has to respond to a join ticket.
pub const RUNNER_TIMEOUT: Duration = Duration::from_secs(30);
/// Header of the ticket signature: base64 of HMAC-SHA256 over the body, keyed with the
/// UTF-8 bytes of `BOT_RUNNER_SECRET`.
pub const SIGNATURE_HEADER: &str = "X-Webhook-Signature";

/// Sub type of a bot whose runner kept timing out or responding with 5xx.
pub const SUB_TYPE_RUNNER_UNAVAILABLE: &str = "bot_runner_unavailable";
/// Sub type of a bot whose runner responded with 4xx, for example to a wrong signature.
pub const SUB_TYPE_RUNNER_REJECTED: &str = "bot_runner_rejected_ticket";
/// Sub type of a bot whose runner responded with 2xx and a body that is not a known outcome.
pub const SUB_TYPE_RUNNER_INVALID_RESPONSE: &str = "bot_runner_invalid_response";
/// Sub type of a bot that was launched while the runner was configured, and found
/// `BOT_RUNNER_URL` or `BOT_RUNNER_SECRET` unset or its URL rejected at attempt time.
pub const SUB_TYPE_RUNNER_NOT_CONFIGURED: &str = "bot_runner_not_configured";
/// Sub type of a bot whose next attempt could not be queued.
pub const SUB_TYPE_QUEUE_FAILED: &str = "join_attempt_queueing_failed";
/// Sub type of a bot whose attempt was claimed by a worker that stopped before storing
/// the outcome.
pub const SUB_TYPE_ATTEMPT_INTERRUPTED: &str = "join_attempt_interrupted";
/// Age of a claim after which its attempt counts as interrupted: twice the longest an
/// attempt can take (30 s token callback plus 30 s runner).
pub const INTERRUPTED_AFTER: Duration = Duration::from_secs(120);

/// Tries of a store write or queue send after a version conflict or an outage.
const WRITE_TRIES: usize = 3;
/// Pause before retrying a store write or queue send that failed with an outage.
const RETRY_PAUSE: Duration = Duration::from_millis(250);
/// Maximum length of a runner's `sub_type`, in characters. It is stored in the bot's
/// events and sent in webhooks, so a runner cannot grow either without bound.
const MAX_SUB_TYPE_CHARS: usize = 100;
/// Maximum length of a runner `message` copied into the log, in characters.
const MAX_LOGGED_MESSAGE_CHARS: usize = 200;

/// Runs join attempt number `attempt` (counting from 1) of a bot.
///
/// Drops the job when the bot is gone, no longer joining, or already handled this
/// attempt. Returns an error only while nothing was claimed yet, or when the outcome could
/// not be stored; the queue then delivers the message again.
pub async fn run_attempt(
    services: &Services,
    bot_id: &str,
    attempt: u32,
) -> Result<(), ServiceError> {
    let Some(stored) = bots::get_any(services.store.as_ref(), bot_id).await? else {
        tracing::warn!(bot_id, attempt, "bot not found; dropping the join attempt");
        return Ok(());
    };
    if is_unfinished(&stored.value, attempt) {
        return handle_unfinished(services, stored, attempt).await;
    }
    let Some(claimed) = claim(services, stored, attempt).await? else {
        return Ok(());
    };

    if claimed.value.wait_expired(services.clock.now()) {
        tracing::info!(
            bot_id,
            attempt,
            "the wait deadline passed before this attempt ran; failing the bot without a ticket"
        );
        let mut claimed = claimed;
        // No ticket goes out, so this attempt does not count as one.
        claimed.value.join_attempts -= 1;
        let timed_out = AttemptOutcome::Failed {
            sub_type: Some(SUB_TYPE_WAIT_TIMEOUT.into()),
        };
        return record_outcome(services, claimed, attempt, timed_out).await;
    }

    let bot = &claimed.value;
    let minted = tokio::time::timeout(MINT_BUDGET, mint::mint_tokens(services, bot, attempt)).await;
    let outcome = match minted {
        Err(_elapsed) => {
            tracing::warn!(
                bot_id,
                attempt,
                budget_seconds = MINT_BUDGET.as_secs(),
                "minting the join tokens took too long; retrying later"
            );
            AttemptOutcome::Transient {
                sub_type: mint::SUB_TYPE_ZOOM_UNAVAILABLE.into(),
            }
        }
        Ok(Ok(tokens)) => send_ticket(services, bot, attempt, &tokens).await,
        Ok(Err(error)) => {
            tracing::warn!(bot_id, attempt, sub_type = error.sub_type, transient = error.transient, %error, "minting the join tokens failed");
            if error.transient {
                AttemptOutcome::Transient {
                    sub_type: error.sub_type.into(),
                }
            } else {
                AttemptOutcome::Failed {
                    sub_type: Some(error.sub_type.into()),
                }
            }
        }
    };
    record_outcome(services, claimed, attempt, outcome).await
}

/// Reports whether `attempt` was claimed but its outcome is not stored: it is still running, or
/// its worker stopped.
fn is_unfinished(bot: &Bot, attempt: u32) -> bool {
    bot.state.is_joining()
        && attempt == bot.last_handled_attempt
        && bot.last_recorded_attempt < attempt
}

/// Handles a message for an attempt that another worker claimed and has not finished.
/// Sends no ticket: a recent claim fails the message so the queue retries it later, and a
/// claim older than `INTERRUPTED_AFTER` fails the bot.
async fn handle_unfinished(
    services: &Services,
    stored: Versioned<Bot>,
    attempt: u32,
) -> Result<(), ServiceError> {
    let claim_age = (services.clock.now() - stored.value.updated_at)
        .to_std()
        .unwrap_or_default();
    if claim_age < INTERRUPTED_AFTER {
        tracing::info!(bot_id = %stored.value.id, attempt, claim_age_seconds = claim_age.as_secs(), "the attempt is still running elsewhere; retrying the message later");
        return Err(ServiceError::Unavailable(format!(
            "attempt {attempt} of bot {} is still running",
            stored.value.id
        )));
    }
    tracing::error!(bot_id = %stored.value.id, attempt, claim_age_seconds = claim_age.as_secs(), "the worker of this attempt stopped before storing its outcome; failing the bot");
    let interrupted = AttemptOutcome::Failed {
        sub_type: Some(SUB_TYPE_ATTEMPT_INTERRUPTED.into()),
    };
    write_outcome(services, stored, attempt, interrupted, false).await?;
    Ok(())
}

/// Returns the reason a message for `attempt` is dropped without running, or `None`.
fn skip_reason(bot: &Bot, attempt: u32) -> Option<&'static str> {
    if !bot.state.is_joining() {
        Some("the bot is no longer joining")
    } else if attempt == 0 {
        Some("attempt numbers start at 1")
    } else if attempt <= bot.last_handled_attempt {
        Some("the attempt was already handled")
    } else {
        None
    }
}

/// Marks `attempt` as handled with a conditional write. Returns `None` when the message
/// is to be dropped, because the bot is finished or another worker claimed the attempt.
async fn claim(
    services: &Services,
    mut stored: Versioned<Bot>,
    attempt: u32,
) -> Result<Option<Versioned<Bot>>, ServiceError> {
    let store = services.store.as_ref();
    for _ in 0..WRITE_TRIES {
        if let Some(reason) = skip_reason(&stored.value, attempt) {
            tracing::info!(bot_id = %stored.value.id, attempt, last_handled_attempt = stored.value.last_handled_attempt, state = stored.value.state.as_str(), reason, "dropping the join attempt");
            return Ok(None);
        }
        let mut bot = stored.value.clone();
        bot.last_handled_attempt = attempt;
        bot.join_attempts += 1;
        bot.updated_at = services.clock.now();
        match bots::update(store, &bot, stored.version).await {
            Ok(version) => {
                return Ok(Some(Versioned {
                    value: bot,
                    version,
                }));
            }
            Err(StoreError::ConditionFailed) => match bots::get_any(store, &bot.id).await? {
                Some(current) => stored = current,
                None => return Ok(None),
            },
            Err(error) => return Err(error.into()),
        }
    }
    Err(ServiceError::Conflict(format!(
        "bot {} kept changing while claiming attempt {attempt}",
        stored.value.id
    )))
}

/// Builds, signs and sends the join ticket, and returns the outcome the runner's response
/// means.
async fn send_ticket(
    services: &Services,
    bot: &Bot,
    attempt: u32,
    tokens: &JoinTokens,
) -> AttemptOutcome {
    let settings = &services.settings;
    let (Some(url), Some(secret)) = (&settings.bot_runner_url, &settings.bot_runner_secret) else {
        tracing::error!(bot_id = %bot.id, attempt, "BOT_RUNNER_URL or BOT_RUNNER_SECRET is not set; the bot cannot join");
        return AttemptOutcome::Failed {
            sub_type: Some(SUB_TYPE_RUNNER_NOT_CONFIGURED.into()),
        };
    };

    let ticket = ticket_json(bot, attempt, tokens, services.clock.now());
    let body = canonical_json(&ticket);
    let signature = sign_body(secret.expose().as_bytes(), &body);
    let request = OutboundRequest {
        url: url.clone(),
        body,
        headers: vec![(SIGNATURE_HEADER.into(), signature)],
        timeout: RUNNER_TIMEOUT,
        customer_url: false,
    };
    tracing::info!(bot_id = %bot.id, attempt, "sending the join ticket");
    let response = match services.outbound.post(request).await {
        Ok(response) => response,
        Err(error @ OutboundError::UrlRejected(_)) => {
            tracing::error!(bot_id = %bot.id, attempt, %error, "BOT_RUNNER_URL was rejected as a target; the bot cannot join");
            return AttemptOutcome::Failed {
                sub_type: Some(SUB_TYPE_RUNNER_NOT_CONFIGURED.into()),
            };
        }
        Err(error) => {
            tracing::warn!(bot_id = %bot.id, attempt, %error, "sending the join ticket failed");
            return AttemptOutcome::Transient {
                sub_type: SUB_TYPE_RUNNER_UNAVAILABLE.into(),
            };
        }
    };

    let (outcome, message) = runner_outcome(response.status, &response.body);
    tracing::info!(bot_id = %bot.id, attempt, status = response.status, outcome = ?outcome, runner_message = message.as_deref(), "runner responded to the join ticket");
    outcome
}

/// Builds the join ticket. It contains tokens, so it is only ever signed and sent.
fn ticket_json(
    bot: &Bot,
    attempt: u32,
    tokens: &JoinTokens,
    now: chrono::DateTime<chrono::Utc>,
) -> Value {
    json!({
        "bot_id": bot.id,
        "attempt": attempt,
        "meeting_url": bot.meeting_url,
        "meeting_number": bot.meeting_number.as_str(),
        "passcode": bot.passcode,
        "bot_name": bot.bot_name,
        "tokens": tokens.ticket_json(),
        "deadline": format_timestamp(bot.ticket_deadline(now)),
        "bot": bot.ticket_json(),
    })
}

/// The runner's 2xx response body. Unknown fields are ignored so the runner can add some.
#[derive(Deserialize)]
struct RunnerResponse {
    outcome: String,
    #[serde(default)]
    sub_type: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// Maps a runner response to an attempt outcome, and returns the runner's `message` cut
/// for the log.
fn runner_outcome(status: u16, body: &[u8]) -> (AttemptOutcome, Option<String>) {
    if is_retryable_status(status) {
        let outcome = AttemptOutcome::Transient {
            sub_type: SUB_TYPE_RUNNER_UNAVAILABLE.into(),
        };
        return (outcome, None);
    }
    let failed = |sub_type: &str| AttemptOutcome::Failed {
        sub_type: Some(sub_type.to_owned()),
    };
    if !(200..300).contains(&status) {
        return (failed(SUB_TYPE_RUNNER_REJECTED), None);
    }
    let Ok(parsed) = serde_json::from_slice::<RunnerResponse>(body) else {
        return (failed(SUB_TYPE_RUNNER_INVALID_RESPONSE), None);
    };
    let message = parsed
        .message
        .map(|text| text.chars().take(MAX_LOGGED_MESSAGE_CHARS).collect());
    let outcome = match parsed.outcome.as_str() {
        "joined" => AttemptOutcome::Joined,
        "authorized_user_not_in_meeting" => AttemptOutcome::AuthorizedUserNotInMeeting,
        "failed" => AttemptOutcome::Failed {
            sub_type: parsed
                .sub_type
                .map(|text| {
                    text.trim()
                        .chars()
                        .take(MAX_SUB_TYPE_CHARS)
                        .collect::<String>()
                })
                .filter(|text| !text.is_empty()),
        },
        _ => failed(SUB_TYPE_RUNNER_INVALID_RESPONSE),
    };
    (outcome, message)
}

/// Stores the outcome of the claimed attempt, sends one webhook per state change, and
/// queues the next attempt when the outcome calls for one.
async fn record_outcome(
    services: &Services,
    claimed: Versioned<Bot>,
    attempt: u32,
    outcome: AttemptOutcome,
) -> Result<(), ServiceError> {
    let Some((stored, next)) = write_outcome(services, claimed, attempt, outcome, false).await?
    else {
        return Ok(());
    };
    let NextStep::Retry(delay) = next else {
        return Ok(());
    };

    let bot_id = stored.value.id.clone();
    let job = Job::JoinAttempt {
        bot_id: bot_id.clone(),
        attempt: attempt + 1,
    };
    for try_number in 1..=WRITE_TRIES {
        match services.queue.enqueue(&job, delay).await {
            Ok(()) => {
                tracing::info!(
                    bot_id,
                    attempt = attempt + 1,
                    delay_seconds = delay.as_secs(),
                    "next join attempt queued"
                );
                return Ok(());
            }
            Err(error) => {
                tracing::warn!(bot_id, attempt = attempt + 1, try_number, %error, "queueing the next join attempt failed");
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
    }
    // The bot would otherwise wait for an attempt that never comes.
    tracing::error!(
        bot_id,
        attempt = attempt + 1,
        "the next join attempt could not be queued; failing the bot"
    );
    let failed = AttemptOutcome::Failed {
        sub_type: Some(SUB_TYPE_QUEUE_FAILED.into()),
    };
    // This replaces the outcome just stored, whose next attempt could not be queued.
    write_outcome(services, stored, attempt, failed, true).await?;
    Ok(())
}

/// Applies `outcome` to the bot and stores it with a conditional write, re-reading and
/// re-applying after a conflict. Sends the state-change webhooks of the write that
/// succeeded. Returns `None` when a later attempt was claimed meanwhile, or when the
/// attempt's outcome is already stored and `replaces_recorded` is false.
async fn write_outcome(
    services: &Services,
    mut current: Versioned<Bot>,
    attempt: u32,
    outcome: AttemptOutcome,
    replaces_recorded: bool,
) -> Result<Option<(Versioned<Bot>, NextStep)>, ServiceError> {
    let store = services.store.as_ref();
    let bot_id = current.value.id.clone();
    let mut last_error = None;
    for try_number in 1..=WRITE_TRIES {
        // A write that timed out may still have been applied; then the outcome is stored
        // and applying it again would repeat its events and webhooks.
        if !replaces_recorded && current.value.last_recorded_attempt >= attempt {
            tracing::info!(
                bot_id,
                attempt,
                "the outcome of this attempt is already stored"
            );
            return Ok(None);
        }
        if current.value.last_handled_attempt != attempt {
            tracing::warn!(
                bot_id,
                attempt,
                last_handled_attempt = current.value.last_handled_attempt,
                "a later attempt was claimed meanwhile; outcome not recorded"
            );
            return Ok(None);
        }
        let mut bot = current.value.clone();
        let (changes, next) = bot.apply_outcome(outcome.clone(), services.clock.now());
        bot.last_recorded_attempt = attempt;
        match bots::update(store, &bot, current.version).await {
            Ok(version) => {
                for change in &changes {
                    tracing::info!(bot_id, attempt, old_state = change.old_state.as_str(), new_state = change.new_state.as_str(), event_type = %change.event.event_type, event_sub_type = change.event.sub_type.as_deref(), "bot state changed");
                    emit_state_change(services, &bot, change).await;
                }
                return Ok(Some((
                    Versioned {
                        value: bot,
                        version,
                    },
                    next,
                )));
            }
            Err(StoreError::ConditionFailed) => {}
            Err(StoreError::Unavailable(message)) => {
                tracing::warn!(bot_id, attempt, try_number, error = %message, "storing the attempt outcome failed");
                last_error = Some(ServiceError::from(StoreError::Unavailable(message)));
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            Err(error) => return Err(error.into()),
        }
        match bots::get_any(store, &bot_id).await? {
            Some(reread) => current = reread,
            None => {
                tracing::warn!(bot_id, attempt, "bot deleted while its attempt ran");
                return Ok(None);
            }
        }
    }
    Err(last_error.unwrap_or_else(|| {
        ServiceError::Conflict(format!(
            "bot {bot_id} kept changing while recording attempt {attempt}"
        ))
    }))
}

/// Builds the envelope fields of a `bot.state_change` webhook, without `idempotency_key`.
fn state_change_fields(bot: &Bot, change: &StateChange) -> Value {
    json!({
        "trigger": Trigger::BotStateChange.as_str(),
        "bot_id": bot.id,
        "bot_metadata": bot.metadata.as_ref().map(Metadata::to_json),
        "data": {
            "old_state": change.old_state.as_str(),
            "new_state": change.new_state.as_str(),
            "event_type": change.event.event_type,
            "event_sub_type": change.event.sub_type,
            "created_at": format_timestamp(change.event.created_at),
        },
    })
}

async fn emit_state_change(services: &Services, bot: &Bot, change: &StateChange) {
    let fields = state_change_fields(bot, change);
    webhooks::emit(services, &bot.project_id, Trigger::BotStateChange, fields).await;
}

#[cfg(test)]
mod tests;
