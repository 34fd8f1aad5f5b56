//! Launching bots, and reading them back.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::domain::bot::{Bot, BotEvent, BotState, EVENT_JOIN_REQUESTED};
use crate::domain::ids;
use crate::domain::meeting_url::MeetingUrl;
use crate::domain::metadata::Metadata;
use crate::ports::queue::Job;
use crate::ports::store::Position;
use crate::records::{Direction, RecordPage, bots};
use crate::services::mint;
use crate::services::{ServiceError, Services};

/// A validated launch request.
#[derive(Clone, Debug)]
pub struct NewBot {
    /// The link as sent, without surrounding whitespace.
    pub meeting_url: String,
    pub parsed_url: MeetingUrl,
    pub bot_name: String,
    pub metadata: Option<Metadata>,
    /// `zoom_settings.onbehalf_token.zoom_oauth_connection_user_id`.
    pub onbehalf_user_id: Option<String>,
    /// `automatic_leave_settings.authorized_user_not_in_meeting_timeout_seconds`.
    pub authorized_user_timeout_seconds: u32,
    /// `callback_settings.zoom_tokens_url`, already checked as an outbound URL.
    pub zoom_tokens_url: Option<String>,
    /// Settings passed to the runner unchanged; see `Bot::settings`.
    pub settings: Map<String, Value>,
}

/// Checks that bots can be launched at all: the runner URL and secret are configured.
fn require_runner(services: &Services) -> Result<(), ServiceError> {
    let settings = &services.settings;
    if settings.bot_runner_url.is_none() {
        return Err(ServiceError::BadRequest(
            "Bot launches are disabled because BOT_RUNNER_URL is not set. The operator must set BOT_RUNNER_URL to the bot runner's URL and restart the service.".into(),
        ));
    }
    if settings
        .bot_runner_secret
        .as_ref()
        .is_none_or(|secret| secret.is_blank())
    {
        return Err(ServiceError::BadRequest(
            "Bot launches are disabled because BOT_RUNNER_SECRET is not set. The operator must set BOT_RUNNER_SECRET, the key that signs join tickets, and restart the service.".into(),
        ));
    }
    Ok(())
}

/// Stores a new bot in state `joining` and queues its first join attempt at once.
///
/// Fails with 400 when the runner is not configured, or when the named OBF user has no
/// connection in this project, a disconnected one, or one without OBF support.
pub async fn launch(
    services: &Services,
    project_id: &str,
    new: NewBot,
) -> Result<Bot, ServiceError> {
    require_runner(services)?;
    if let Some(user_id) = &new.onbehalf_user_id
        && let Some(problem) = mint::onbehalf_connection(services, project_id, user_id)
            .await?
            .problem(user_id)
    {
        return Err(ServiceError::BadRequest(problem));
    }

    let now = services.clock.now();
    let bot = Bot {
        id: services.ids.object_id(ids::BOT),
        project_id: project_id.to_owned(),
        meeting_url: new.meeting_url,
        meeting_number: new.parsed_url.meeting_number,
        passcode: new.parsed_url.passcode,
        registrant_token: new.parsed_url.registrant_token,
        bot_name: new.bot_name,
        metadata: new.metadata,
        onbehalf_user_id: new.onbehalf_user_id,
        authorized_user_timeout_seconds: new.authorized_user_timeout_seconds,
        zoom_tokens_url: new.zoom_tokens_url,
        settings: new.settings,
        state: BotState::Joining,
        join_attempts: 0,
        next_attempt_at: Some(now),
        authorized_user_wait_deadline: None,
        events: vec![BotEvent {
            event_type: EVENT_JOIN_REQUESTED.into(),
            sub_type: None,
            created_at: now,
        }],
        last_handled_attempt: 0,
        last_recorded_attempt: 0,
        not_in_meeting_outcomes: 0,
        transient_failures: 0,
        created_at: now,
        updated_at: now,
    };
    let store = services.store.as_ref();
    bots::insert(store, &bot).await?;

    let job = Job::JoinAttempt {
        bot_id: bot.id.clone(),
        attempt: 1,
    };
    if let Err(error) = services.queue.enqueue(&job, Duration::ZERO).await {
        // Without its first attempt the bot would wait in `joining` forever, so it is
        // removed and the client may launch again.
        if let Err(delete_error) = bots::delete(store, &bot.id).await {
            tracing::error!(project_id, bot_id = %bot.id, error = %delete_error, "removing a bot whose first attempt could not be queued failed");
        }
        return Err(error.into());
    }
    tracing::info!(
        project_id,
        bot_id = %bot.id,
        meeting_number = %bot.meeting_number,
        onbehalf = bot.onbehalf_user_id.is_some(),
        zoom_tokens_url = bot.zoom_tokens_url.is_some(),
        "bot launched; first join attempt queued"
    );
    Ok(bot)
}

pub async fn get_bot(
    services: &Services,
    project_id: &str,
    bot_id: &str,
) -> Result<Bot, ServiceError> {
    if !ids::has_shape(bot_id, ids::BOT) {
        return Err(ServiceError::NotFound("Bot"));
    }
    bots::get(services.store.as_ref(), project_id, bot_id)
        .await?
        .map(|stored| stored.value)
        .ok_or(ServiceError::NotFound("Bot"))
}

pub async fn list_bots(
    services: &Services,
    project_id: &str,
    page_size: usize,
    start: Option<(Direction, Position)>,
) -> Result<RecordPage<Bot>, ServiceError> {
    Ok(bots::list(services.store.as_ref(), project_id, page_size, start).await?)
}
