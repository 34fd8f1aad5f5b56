//! Join attempts on the embedded store with a manual clock, a queue that records jobs
//! instead of running them, and a scripted runner behind the outbound-HTTP port.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, Value, json};

use super::*;
use crate::adapters::local_secrets::LocalSecretBox;
use crate::adapters::sqlite::{SqliteDb, SqliteStore};
use crate::domain::bot::{BotState, SUB_TYPE_WAIT_TIMEOUT};
use crate::domain::meeting_url::parse_meeting_url;
use crate::domain::webhook::Delivery;
use crate::ports::clock::{Clock, RandomIds};
use crate::ports::outbound::{OutboundHttp, OutboundResponse};
use crate::ports::queue::{JobQueue, QueueError};
use crate::ports::store::{Condition, Item, Key, Page, Query, Store, WriteOp};
use crate::ports::zoom::{
    ClientCredentials, MeetingPage, TokenGrant, UserTokenKind, ZoomApi, ZoomError, ZoomUser,
};
use crate::records::Direction;
use crate::records::webhooks as webhook_records;
use crate::secret::SecretString;
use crate::services::bots::{NewBot, launch};
use crate::services::{Settings, projects};
use crate::signing::verify_body_signature;

const RUNNER_SECRET: &str = "runner-secret";
const MEETING_URL: &str = "https://us02web.zoom.us/j/85012345678?pwd=AbC123.1&tk=registrant-7";

struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap();
        *now += chrono::Duration::from_std(by).unwrap();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

#[derive(Default)]
struct RecordingQueue {
    jobs: Mutex<Vec<(Job, Duration)>>,
    failing: AtomicBool,
}

#[async_trait]
impl JobQueue for RecordingQueue {
    async fn enqueue(&self, job: &Job, delay: Duration) -> Result<(), QueueError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(QueueError::Unavailable("queue down in this test".into()));
        }
        self.jobs.lock().unwrap().push((job.clone(), delay));
        Ok(())
    }
}

/// A Zoom API that fails every call; the bots here name no OBF user, so minting never
/// reaches Zoom.
struct NoZoom;

fn no_zoom() -> ZoomError {
    ZoomError::Unexpected("these tests make no Zoom calls".into())
}

#[async_trait]
impl ZoomApi for NoZoom {
    async fn check_client_credentials(&self, _: &ClientCredentials) -> Result<(), ZoomError> {
        Err(no_zoom())
    }
    async fn exchange_code(
        &self,
        _: &ClientCredentials,
        _: &str,
        _: &str,
        _: Option<&str>,
    ) -> Result<TokenGrant, ZoomError> {
        Err(no_zoom())
    }
    async fn refresh(
        &self,
        _: &ClientCredentials,
        _: &SecretString,
    ) -> Result<TokenGrant, ZoomError> {
        Err(no_zoom())
    }
    async fn revoke(&self, _: &ClientCredentials, _: &SecretString) -> Result<(), ZoomError> {
        Err(no_zoom())
    }
    async fn current_user(&self, _: &SecretString) -> Result<ZoomUser, ZoomError> {
        Err(no_zoom())
    }
    async fn user_token(
        &self,
        _: &SecretString,
        _: UserTokenKind,
        _: Option<&str>,
    ) -> Result<SecretString, ZoomError> {
        Err(no_zoom())
    }
    async fn local_recording_token(
        &self,
        _: &SecretString,
        _: &str,
    ) -> Result<SecretString, ZoomError> {
        Err(no_zoom())
    }
    async fn list_meetings(
        &self,
        _: &SecretString,
        _: Option<&str>,
    ) -> Result<MeetingPage, ZoomError> {
        Err(no_zoom())
    }
}

#[derive(Clone, Debug)]
enum Reply {
    Status(u16, Value),
    Timeout,
}

fn outcome(name: &str) -> Reply {
    Reply::Status(200, json!({"outcome": name}))
}

/// The runner: records every request and responds from a script whose last reply repeats.
struct ScriptedRunner {
    script: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<(OutboundRequest, DateTime<Utc>)>>,
    clock: Arc<ManualClock>,
    pause: Duration,
}

#[async_trait]
impl OutboundHttp for ScriptedRunner {
    async fn post(&self, request: OutboundRequest) -> Result<OutboundResponse, OutboundError> {
        let timeout = request.timeout;
        self.requests
            .lock()
            .unwrap()
            .push((request, self.clock.now()));
        tokio::time::sleep(self.pause).await;
        let reply = {
            let mut script = self.script.lock().unwrap();
            if script.len() > 1 {
                script.pop_front().unwrap()
            } else {
                script.front().cloned().unwrap_or(outcome("joined"))
            }
        };
        match reply {
            Reply::Status(status, body) => Ok(OutboundResponse {
                status,
                body: serde_json::to_vec(&body).unwrap(),
            }),
            Reply::Timeout => Err(OutboundError::Timeout(timeout)),
        }
    }
}

/// A store that yields to the scheduler before every call, so two attempts running
/// together interleave their reads and writes.
struct YieldingStore(SqliteStore);

#[async_trait]
impl Store for YieldingStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        tokio::task::yield_now().await;
        self.0.get(key).await
    }
    async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        tokio::task::yield_now().await;
        self.0.put(item, condition).await
    }
    async fn delete(&self, key: &Key, condition: Condition) -> Result<bool, StoreError> {
        tokio::task::yield_now().await;
        self.0.delete(key, condition).await
    }
    async fn transact(&self, operations: Vec<WriteOp>) -> Result<(), StoreError> {
        tokio::task::yield_now().await;
        self.0.transact(operations).await
    }
    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        tokio::task::yield_now().await;
        self.0.query(query).await
    }
}

struct Harness {
    services: Services,
    clock: Arc<ManualClock>,
    queue: Arc<RecordingQueue>,
    runner: Arc<ScriptedRunner>,
    project_id: String,
    /// Join jobs already run by `run_queued`.
    jobs_run: usize,
}

fn settings(runner_url: Option<&str>) -> Settings {
    Settings {
        public_base_url: "http://127.0.0.1:3000".into(),
        zoom_oauth_base_url: "http://127.0.0.1:9".into(),
        allow_private_urls: true,
        bot_runner_url: runner_url.map(str::to_owned),
        bot_runner_secret: Some(SecretString::new(RUNNER_SECRET)),
        delivery_max_attempts: 5,
    }
}

async fn harness(script: Vec<Reply>) -> Harness {
    harness_with(
        script,
        settings(Some("http://127.0.0.1:9/runner")),
        Duration::ZERO,
    )
    .await
}

async fn harness_with(script: Vec<Reply>, settings: Settings, runner_pause: Duration) -> Harness {
    let clock = Arc::new(ManualClock(Mutex::new(
        Utc.with_ymd_and_hms(2026, 5, 4, 9, 0, 0).unwrap(),
    )));
    let queue = Arc::new(RecordingQueue::default());
    let runner = Arc::new(ScriptedRunner {
        script: Mutex::new(script.into()),
        requests: Mutex::new(Vec::new()),
        clock: clock.clone(),
        pause: runner_pause,
    });
    let db = SqliteDb::in_memory().unwrap();
    let services = Services {
        store: Arc::new(YieldingStore(db.store())),
        secrets: Arc::new(LocalSecretBox::from_key(&[7u8; 32]).unwrap()),
        queue: queue.clone(),
        zoom: Arc::new(NoZoom),
        outbound: runner.clone(),
        clock: clock.clone(),
        ids: Arc::new(RandomIds),
        settings,
    };
    let project = projects::create_project(&services, "join tests")
        .await
        .unwrap();
    webhooks::create_subscription(
        &services,
        &project.project_id,
        "http://127.0.0.1:9/hook",
        vec![Trigger::BotStateChange],
    )
    .await
    .unwrap();
    Harness {
        services,
        clock,
        queue,
        runner,
        project_id: project.project_id,
        jobs_run: 0,
    }
}

fn new_bot(timeout_seconds: u32) -> NewBot {
    let mut settings = Map::new();
    settings.insert("recording_settings".into(), json!({"format": "mp4"}));
    NewBot {
        meeting_url: MEETING_URL.into(),
        parsed_url: parse_meeting_url(MEETING_URL).unwrap(),
        bot_name: "Notetaker".into(),
        metadata: None,
        onbehalf_user_id: None,
        authorized_user_timeout_seconds: timeout_seconds,
        zoom_tokens_url: None,
        settings,
    }
}

impl Harness {
    async fn launch(&self, timeout_seconds: u32) -> Bot {
        launch(&self.services, &self.project_id, new_bot(timeout_seconds))
            .await
            .unwrap()
    }

    /// Runs queued join jobs in order, moving the clock by each job's delay plus 200 ms
    /// of handling time, until none is left. Returns (attempt, delay) of each job run.
    async fn run_queued(&mut self) -> Vec<(u32, Duration)> {
        let mut ran = Vec::new();
        loop {
            let next = {
                let jobs = self.queue.jobs.lock().unwrap();
                jobs.iter()
                    .filter(|(job, _)| matches!(job, Job::JoinAttempt { .. }))
                    .nth(self.jobs_run)
                    .cloned()
            };
            let Some((Job::JoinAttempt { bot_id, attempt }, delay)) = next else {
                return ran;
            };
            self.jobs_run += 1;
            self.clock.advance(delay + Duration::from_millis(200));
            run_attempt(&self.services, &bot_id, attempt).await.unwrap();
            ran.push((attempt, delay));
            assert!(ran.len() < 100, "join attempts never stopped");
        }
    }

    fn tickets(&self) -> Vec<Value> {
        self.runner
            .requests
            .lock()
            .unwrap()
            .iter()
            .map(|(request, _)| serde_json::from_slice(&request.body).unwrap())
            .collect()
    }

    async fn bot(&self, bot_id: &str) -> Bot {
        bots::get_any(self.services.store.as_ref(), bot_id)
            .await
            .unwrap()
            .unwrap()
            .value
    }

    /// Bot state-change deliveries, oldest first.
    async fn deliveries(&self) -> Vec<Delivery> {
        let page = webhook_records::list_deliveries(
            self.services.store.as_ref(),
            &self.project_id,
            100,
            None::<(Direction, _)>,
        )
        .await
        .unwrap();
        let mut deliveries = page.records;
        deliveries.reverse();
        deliveries
    }
}

#[tokio::test]
async fn duplicate_message_sends_one_ticket() {
    let h = harness(vec![outcome("authorized_user_not_in_meeting")]).await;
    let bot = h.launch(600).await;

    run_attempt(&h.services, &bot.id, 1).await.unwrap();
    run_attempt(&h.services, &bot.id, 1).await.unwrap();

    assert_eq!(h.tickets().len(), 1);
    let stored = h.bot(&bot.id).await;
    assert_eq!(stored.join_attempts, 1);
    assert_eq!(stored.last_handled_attempt, 1);
    let next_jobs = h
        .queue
        .jobs
        .lock()
        .unwrap()
        .iter()
        .filter(|(job, _)| matches!(job, Job::JoinAttempt { attempt: 2, .. }))
        .count();
    assert_eq!(next_jobs, 1, "attempt 2 is queued once");
}

#[tokio::test]
async fn concurrent_duplicates_send_one_ticket() {
    let h = harness_with(
        vec![outcome("joined")],
        settings(Some("http://127.0.0.1:9/runner")),
        Duration::from_millis(20),
    )
    .await;
    let bot = h.launch(600).await;

    let (first, second) = tokio::join!(
        run_attempt(&h.services, &bot.id, 1),
        run_attempt(&h.services, &bot.id, 1)
    );
    first.unwrap();
    second.unwrap();

    assert_eq!(h.tickets().len(), 1);
    assert_eq!(h.bot(&bot.id).await.state, BotState::Joined);
    assert_eq!(h.deliveries().await.len(), 1, "one transition, one webhook");
}

#[tokio::test]
async fn late_message_after_join_is_dropped() {
    let mut h = harness(vec![outcome("joined")]).await;
    let bot = h.launch(600).await;
    h.run_queued().await;

    run_attempt(&h.services, &bot.id, 2).await.unwrap();
    run_attempt(&h.services, &bot.id, 0).await.unwrap();

    assert_eq!(h.tickets().len(), 1);
}

#[tokio::test]
async fn missing_bot_is_dropped() {
    let h = harness(vec![]).await;
    run_attempt(&h.services, "bot_A1b2C3d4E5f6G7h8", 1)
        .await
        .unwrap();
    assert!(h.tickets().is_empty());
}

#[tokio::test]
async fn waits_then_joins() {
    let mut h = harness(vec![
        outcome("authorized_user_not_in_meeting"),
        outcome("authorized_user_not_in_meeting"),
        outcome("joined"),
    ])
    .await;
    let bot = h.launch(600).await;

    let ran = h.run_queued().await;

    let secs = Duration::from_secs;
    assert_eq!(ran, vec![(1, secs(0)), (2, secs(3)), (3, secs(6))]);
    let attempts: Vec<_> = h.tickets().iter().map(|t| t["attempt"].clone()).collect();
    assert_eq!(attempts, [json!(1), json!(2), json!(3)]);
    let stored = h.bot(&bot.id).await;
    assert_eq!(stored.state, BotState::Joined);
    assert_eq!(stored.join_attempts, 3);
    assert_eq!(stored.next_attempt_at, None);
    let event_types: Vec<_> = stored
        .events
        .iter()
        .map(|e| e.event_type.as_str())
        .collect();
    assert_eq!(
        event_types,
        [
            "join_requested",
            "authorized_user_not_in_meeting",
            "bot_joined_meeting"
        ]
    );

    let deliveries = h.deliveries().await;
    let transitions: Vec<_> = deliveries
        .iter()
        .map(|d| {
            (
                d.envelope["data"]["old_state"].as_str().unwrap().to_owned(),
                d.envelope["data"]["new_state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        transitions,
        [
            (
                "joining".to_owned(),
                "waiting_for_authorized_user".to_owned()
            ),
            (
                "waiting_for_authorized_user".to_owned(),
                "joined".to_owned()
            ),
        ]
    );
    assert_eq!(deliveries[1].envelope["trigger"], "bot.state_change");
    assert_eq!(deliveries[1].envelope["bot_id"], bot.id.as_str());
    assert_eq!(
        deliveries[1].envelope["data"]["event_type"],
        "bot_joined_meeting"
    );
}

#[tokio::test]
async fn wait_timeout_fails_bot_once() {
    let mut h = harness(vec![outcome("authorized_user_not_in_meeting")]).await;
    let bot = h.launch(5).await;

    let ran = h.run_queued().await;

    let stored = h.bot(&bot.id).await;
    assert_eq!(stored.state, BotState::FatalError);
    let last = stored.events.last().unwrap();
    assert_eq!(last.event_type, "could_not_join");
    assert_eq!(last.sub_type.as_deref(), Some(SUB_TYPE_WAIT_TIMEOUT));
    assert!(ran.len() >= 2, "ran {ran:?}");

    let deadline = stored.authorized_user_wait_deadline.unwrap();
    let requests = h.runner.requests.lock().unwrap().clone();
    for (request, sent_at) in &requests {
        assert!(
            *sent_at <= deadline,
            "ticket sent at {sent_at}, deadline {deadline}"
        );
        let ticket: Value = serde_json::from_slice(&request.body).unwrap();
        if let Some(due) = ticket["bot"]["next_attempt_at"].as_str() {
            let due: DateTime<Utc> = due.parse().unwrap();
            assert!(due <= deadline, "attempt due at {due}, deadline {deadline}");
        }
    }

    let timeouts: Vec<_> = h
        .deliveries()
        .await
        .into_iter()
        .filter(|d| d.envelope["data"]["event_sub_type"] == SUB_TYPE_WAIT_TIMEOUT)
        .collect();
    assert_eq!(timeouts.len(), 1);
    assert_eq!(timeouts[0].envelope["data"]["new_state"], "fatal_error");
}

#[tokio::test]
async fn runner_outages_retry_then_fail() {
    let mut h = harness(vec![Reply::Timeout, Reply::Status(503, json!({}))]).await;
    let bot = h.launch(600).await;

    let ran = h.run_queued().await;

    let delays: Vec<_> = ran.iter().map(|(_, delay)| delay.as_secs()).collect();
    assert_eq!(delays, [0, 2, 4, 8, 16, 32]);
    let stored = h.bot(&bot.id).await;
    assert_eq!(stored.state, BotState::FatalError);
    assert_eq!(
        stored.events.last().unwrap().sub_type.as_deref(),
        Some(SUB_TYPE_RUNNER_UNAVAILABLE)
    );
    assert_eq!(stored.join_attempts, 6);
}

#[tokio::test]
async fn runner_recovers_after_outage() {
    let mut h = harness(vec![
        Reply::Status(502, json!({})),
        Reply::Timeout,
        outcome("joined"),
    ])
    .await;
    let bot = h.launch(600).await;
    h.run_queued().await;
    assert_eq!(h.bot(&bot.id).await.state, BotState::Joined);
    assert_eq!(h.tickets().len(), 3);
}

#[tokio::test]
async fn runner_rejection_is_fatal() {
    let mut h = harness(vec![Reply::Status(401, json!({}))]).await;
    let bot = h.launch(600).await;
    h.run_queued().await;
    let stored = h.bot(&bot.id).await;
    assert_eq!(stored.state, BotState::FatalError);
    assert_eq!(
        stored.events.last().unwrap().sub_type.as_deref(),
        Some(SUB_TYPE_RUNNER_REJECTED)
    );
    assert_eq!(h.tickets().len(), 1);
}

#[tokio::test]
async fn runner_failure_keeps_sub_type() {
    let mut h = harness(vec![Reply::Status(
        200,
        json!({"outcome": "failed", "sub_type": "UNABLE_TO_JOIN_EXTERNAL_MEETING", "message": "app not published"}),
    )])
    .await;
    let bot = h.launch(600).await;
    h.run_queued().await;
    let stored = h.bot(&bot.id).await;
    assert_eq!(stored.state, BotState::FatalError);
    assert_eq!(
        stored.events.last().unwrap().sub_type.as_deref(),
        Some("UNABLE_TO_JOIN_EXTERNAL_MEETING")
    );
    let deliveries = h.deliveries().await;
    assert_eq!(deliveries.len(), 1);
    assert_eq!(
        deliveries[0].envelope["data"]["event_sub_type"],
        "UNABLE_TO_JOIN_EXTERNAL_MEETING"
    );
}

#[tokio::test]
async fn ticket_is_signed_and_complete() {
    let mut h = harness(vec![outcome("joined")]).await;
    let bot = h.launch(600).await;
    h.run_queued().await;

    let (request, sent_at) = h.runner.requests.lock().unwrap()[0].clone();
    assert_eq!(request.url, "http://127.0.0.1:9/runner");
    assert_eq!(request.timeout, RUNNER_TIMEOUT);
    let signature = request
        .headers
        .iter()
        .find(|(name, _)| name == SIGNATURE_HEADER)
        .map(|(_, value)| value.clone())
        .unwrap();
    assert!(verify_body_signature(
        RUNNER_SECRET.as_bytes(),
        &request.body,
        &signature
    ));

    let ticket: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        request.body,
        canonical_json(&ticket),
        "body is canonical JSON"
    );
    let mut keys: Vec<_> = ticket.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "attempt",
            "bot",
            "bot_id",
            "bot_name",
            "deadline",
            "meeting_number",
            "meeting_url",
            "passcode",
            "tokens"
        ]
    );
    assert_eq!(ticket["bot_id"], bot.id.as_str());
    assert_eq!(ticket["attempt"], 1);
    assert_eq!(ticket["meeting_url"], MEETING_URL);
    assert_eq!(ticket["meeting_number"], "85012345678");
    assert_eq!(ticket["passcode"], "AbC123.1");
    assert_eq!(ticket["bot_name"], "Notetaker");
    assert_eq!(ticket["tokens"]["registrant_token"], "registrant-7");
    assert!(ticket["tokens"]["onbehalf_token"].is_null());
    let deadline: DateTime<Utc> = ticket["deadline"].as_str().unwrap().parse().unwrap();
    assert_eq!(deadline, sent_at + chrono::Duration::seconds(600));
    assert_eq!(ticket["bot"]["id"], bot.id.as_str());
    assert_eq!(ticket["bot"]["state"], "joining");
    assert_eq!(ticket["bot"]["join_attempts"], 1);
    assert_eq!(ticket["bot"]["recording_settings"]["format"], "mp4");
}

#[tokio::test]
async fn queue_outage_fails_bot() {
    let h = harness(vec![outcome("authorized_user_not_in_meeting")]).await;
    let bot = h.launch(600).await;
    h.queue.failing.store(true, Ordering::SeqCst);

    run_attempt(&h.services, &bot.id, 1).await.unwrap();

    let stored = h.bot(&bot.id).await;
    assert_eq!(stored.state, BotState::FatalError);
    assert_eq!(
        stored.events.last().unwrap().sub_type.as_deref(),
        Some(SUB_TYPE_QUEUE_FAILED)
    );
}

#[tokio::test]
async fn launch_requires_runner_url() {
    let h = harness_with(vec![], settings(None), Duration::ZERO).await;
    let error = launch(&h.services, &h.project_id, new_bot(600))
        .await
        .unwrap_err();
    let ServiceError::BadRequest(message) = error else {
        panic!("expected 400, got {error:?}");
    };
    assert!(message.contains("BOT_RUNNER_URL"), "{message}");
    assert!(h.queue.jobs.lock().unwrap().is_empty());
}

#[tokio::test]
async fn launch_rejects_unknown_onbehalf_user() {
    let h = harness(vec![]).await;
    let mut new = new_bot(600);
    new.onbehalf_user_id = Some("user-nobody".into());
    let error = launch(&h.services, &h.project_id, new).await.unwrap_err();
    let ServiceError::BadRequest(message) = error else {
        panic!("expected 400, got {error:?}");
    };
    assert!(message.contains("user-nobody"), "{message}");
    assert!(message.contains("No Zoom OAuth connection"), "{message}");
}

#[test]
fn runner_responses_map_to_outcomes() {
    let cases: Vec<(u16, &str, AttemptOutcome)> = vec![
        (200, r#"{"outcome":"joined"}"#, AttemptOutcome::Joined),
        (
            200,
            r#"{"outcome":"authorized_user_not_in_meeting","extra":1}"#,
            AttemptOutcome::AuthorizedUserNotInMeeting,
        ),
        (
            200,
            r#"{"outcome":"failed","sub_type":"MEETING_FAIL_APP_PRIVILEGE_TOKEN_ERROR"}"#,
            AttemptOutcome::Failed {
                sub_type: Some("MEETING_FAIL_APP_PRIVILEGE_TOKEN_ERROR".into()),
            },
        ),
        (
            200,
            r#"{"outcome":"failed","sub_type":" "}"#,
            AttemptOutcome::Failed { sub_type: None },
        ),
        (
            200,
            r#"{"outcome":"maybe"}"#,
            AttemptOutcome::Failed {
                sub_type: Some(SUB_TYPE_RUNNER_INVALID_RESPONSE.into()),
            },
        ),
        (
            200,
            "not json",
            AttemptOutcome::Failed {
                sub_type: Some(SUB_TYPE_RUNNER_INVALID_RESPONSE.into()),
            },
        ),
        (
            503,
            "",
            AttemptOutcome::Transient {
                sub_type: SUB_TYPE_RUNNER_UNAVAILABLE.into(),
            },
        ),
        (
            429,
            "",
            AttemptOutcome::Transient {
                sub_type: SUB_TYPE_RUNNER_UNAVAILABLE.into(),
            },
        ),
        (
            403,
            "",
            AttemptOutcome::Failed {
                sub_type: Some(SUB_TYPE_RUNNER_REJECTED.into()),
            },
        ),
    ];
    for (status, body, expected) in cases {
        let (outcome, _) = runner_outcome(status, body.as_bytes());
        assert_eq!(outcome, expected, "HTTP {status} {body}");
    }
}

#[test]
fn runner_message_is_cut_for_log() {
    let long = "x".repeat(1000);
    let body = json!({"outcome": "joined", "message": long}).to_string();
    let (_, message) = runner_outcome(200, body.as_bytes());
    assert_eq!(message.unwrap().chars().count(), MAX_LOGGED_MESSAGE_CHARS);
}

/// Marks attempt 1 as claimed without an outcome, as a worker that stopped right after
/// its claim leaves it.
async fn leave_claimed_attempt(h: &Harness, bot_id: &str) {
    let store = h.services.store.as_ref();
    let stored = crate::records::bots::get_any(store, bot_id)
        .await
        .unwrap()
        .unwrap();
    let mut bot = stored.value;
    bot.last_handled_attempt = 1;
    bot.join_attempts = 1;
    bot.updated_at = h.clock.now();
    crate::records::bots::update(store, &bot, stored.version)
        .await
        .unwrap();
}

#[tokio::test]
async fn running_attempt_defers_redelivery() {
    let h = harness(vec![outcome("joined")]).await;
    let bot = h.launch(600).await;
    leave_claimed_attempt(&h, &bot.id).await;

    h.clock.advance(Duration::from_secs(30));
    let error = run_attempt(&h.services, &bot.id, 1).await.unwrap_err();
    assert!(matches!(error, ServiceError::Unavailable(_)), "{error:?}");
    assert!(h.tickets().is_empty());
    assert_eq!(h.bot(&bot.id).await.state, BotState::Joining);
}

#[tokio::test]
async fn interrupted_attempt_fails_bot_without_ticket() {
    let h = harness(vec![outcome("joined")]).await;
    let bot = h.launch(600).await;
    leave_claimed_attempt(&h, &bot.id).await;

    h.clock.advance(INTERRUPTED_AFTER + Duration::from_secs(1));
    run_attempt(&h.services, &bot.id, 1).await.unwrap();

    assert!(
        h.tickets().is_empty(),
        "no second ticket for a claimed attempt"
    );
    let stored = h.bot(&bot.id).await;
    assert_eq!(stored.state, BotState::FatalError);
    let last = stored.events.last().unwrap();
    assert_eq!(last.sub_type.as_deref(), Some(SUB_TYPE_ATTEMPT_INTERRUPTED));

    // A further redelivery changes nothing.
    run_attempt(&h.services, &bot.id, 1).await.unwrap();
    assert_eq!(h.bot(&bot.id).await.events.len(), stored.events.len());
}

#[tokio::test]
async fn late_attempt_sends_no_ticket() {
    let h = harness(vec![outcome("authorized_user_not_in_meeting")]).await;
    let bot = h.launch(5).await;
    run_attempt(&h.services, &bot.id, 1).await.unwrap();
    assert_eq!(h.tickets().len(), 1);

    // The queue delivers attempt 2 only after the deadline.
    h.clock.advance(Duration::from_secs(10));
    run_attempt(&h.services, &bot.id, 2).await.unwrap();

    assert_eq!(h.tickets().len(), 1, "no ticket after the deadline");
    let stored = h.bot(&bot.id).await;
    assert_eq!(stored.state, BotState::FatalError);
    assert_eq!(stored.join_attempts, 1);
    let last = stored.events.last().unwrap();
    assert_eq!(last.sub_type.as_deref(), Some(SUB_TYPE_WAIT_TIMEOUT));
}

#[tokio::test]
async fn long_runner_sub_type_is_cut() {
    let long = "S".repeat(30_000);
    let mut h = harness(vec![Reply::Status(
        200,
        json!({"outcome": "failed", "sub_type": long}),
    )])
    .await;
    let bot = h.launch(600).await;
    h.run_queued().await;
    let stored = h.bot(&bot.id).await;
    let sub_type = stored.events.last().unwrap().sub_type.clone().unwrap();
    assert_eq!(sub_type.len(), MAX_SUB_TYPE_CHARS);
}

#[tokio::test]
async fn tokens_url_without_tokens_fails_bot() {
    let mut h = harness(vec![Reply::Status(
        200,
        json!({"onbehalf_token": " , ", "zak_token": 5}),
    )])
    .await;
    let mut new = new_bot(600);
    new.zoom_tokens_url = Some("http://127.0.0.1:9/tokens".into());
    let bot = launch(&h.services, &h.project_id, new).await.unwrap();
    h.run_queued().await;

    let requests = h.runner.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1, "only the token callback was called");
    assert_eq!(requests[0].0.url, "http://127.0.0.1:9/tokens");
    let stored = h.bot(&bot.id).await;
    assert_eq!(stored.state, BotState::FatalError);
    assert_eq!(
        stored.events.last().unwrap().sub_type.as_deref(),
        Some(crate::services::mint::SUB_TYPE_TOKENS_URL_FAILED)
    );
}
