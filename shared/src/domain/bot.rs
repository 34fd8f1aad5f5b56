//! Meeting bots: the stored record, its state machine, and the backoff between join
//! attempts.
//!
//! A bot starts in `joining`. Each join attempt ends with an [`AttemptOutcome`], and
//! [`Bot::apply_outcome`] turns it into state changes and the delay before the next attempt.
//! Nothing here performs I/O, so every rule below is unit-tested with fixed times.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::domain::meeting_url::MeetingNumber;
use crate::domain::metadata::Metadata;
use crate::domain::time::format_timestamp;

/// Default of `authorized_user_not_in_meeting_timeout_seconds`.
pub const DEFAULT_AUTHORIZED_USER_TIMEOUT_SECONDS: u32 = 600;
/// Largest accepted `authorized_user_not_in_meeting_timeout_seconds` (two hours).
pub const MAX_AUTHORIZED_USER_TIMEOUT_SECONDS: u32 = 7200;

/// Delay after the first "authorized user not in meeting" outcome. Later delays double.
pub const WAIT_FIRST_DELAY: Duration = Duration::from_secs(3);
/// Maximum delay between attempts while waiting for the authorized user. Zoom may e-mail
/// the host on each failed join, so the wait polls at most this often once backed off.
pub const WAIT_MAX_DELAY: Duration = Duration::from_secs(30);

/// Delay after the first transient failure (runner timeout or 5xx, Zoom unavailable).
/// Later delays double.
pub const TRANSIENT_FIRST_DELAY: Duration = Duration::from_secs(2);
/// Transient failures in a row that are retried; the next one fails the bot.
pub const MAX_TRANSIENT_RETRIES: u32 = 5;

/// Event type recorded when a bot is launched.
pub const EVENT_JOIN_REQUESTED: &str = "join_requested";
/// Event type of the move to `waiting_for_authorized_user`.
pub const EVENT_AUTHORIZED_USER_NOT_IN_MEETING: &str = "authorized_user_not_in_meeting";
/// Event type of the move to `joined`.
pub const EVENT_JOINED: &str = "bot_joined_meeting";
/// Event type of every move to `fatal_error` during joining. The sub type gives the reason.
pub const EVENT_COULD_NOT_JOIN: &str = "could_not_join";

/// Sub type of a bot whose authorized user did not join before the wait deadline.
pub const SUB_TYPE_WAIT_TIMEOUT: &str = "authorized_user_not_in_meeting_timeout_exceeded";
/// Sub type of a bot whose OBF connection is disconnected or gone.
pub const SUB_TYPE_CONNECTION_DISCONNECTED: &str = "zoom_oauth_connection_disconnected";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BotState {
    Joining,
    WaitingForAuthorizedUser,
    Joined,
    /// The meeting ended for the bot.
    ///
    /// NOTE: nothing sets this state yet, because the runner has no way to report the end
    /// of a meeting to this service.
    Ended,
    FatalError,
}

impl BotState {
    pub fn as_str(self) -> &'static str {
        match self {
            BotState::Joining => "joining",
            BotState::WaitingForAuthorizedUser => "waiting_for_authorized_user",
            BotState::Joined => "joined",
            BotState::Ended => "ended",
            BotState::FatalError => "fatal_error",
        }
    }

    /// Returns whether join attempts still run in this state.
    pub fn is_joining(self) -> bool {
        matches!(self, BotState::Joining | BotState::WaitingForAuthorizedUser)
    }

    fn can_move_to(self, next: BotState) -> bool {
        use BotState::*;
        matches!(
            (self, next),
            (Joining, WaitingForAuthorizedUser | Joined | FatalError)
                | (WaitingForAuthorizedUser, Joined | FatalError)
                | (Joined, Ended | FatalError)
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotEvent {
    #[serde(rename = "type")]
    pub event_type: String,
    pub sub_type: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl BotEvent {
    pub fn to_json(&self) -> Value {
        json!({
            "type": self.event_type,
            "sub_type": self.sub_type,
            "created_at": format_timestamp(self.created_at),
        })
    }
}

/// One state transition, with the event recorded for it. Each one is reported by exactly
/// one `bot.state_change` webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateChange {
    pub old_state: BotState,
    pub new_state: BotState,
    pub event: BotEvent,
}

/// Outcome of one join attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    Joined,
    /// The runner could not join because the authorized user is not in the meeting yet.
    AuthorizedUserNotInMeeting,
    /// The attempt failed for good. `sub_type` comes from the runner or names the failure.
    Failed {
        sub_type: Option<String>,
    },
    /// A failure that may pass (runner timeout or 5xx, Zoom or storage unavailable).
    /// `sub_type` is recorded if the retries run out.
    Transient {
        sub_type: String,
    },
}

/// Next action of the join worker after it records an outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextStep {
    /// No further attempt: the bot joined or failed.
    Stop,
    /// Queue the next attempt with this delay. `Bot::next_attempt_at` is already set.
    Retry(Duration),
}

/// A bot record. The API shows the fields listed in [`Bot::to_json`]; the rest are
/// internals of the join worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Bot {
    pub id: String,
    pub project_id: String,
    /// The link as the client sent it, without surrounding whitespace.
    pub meeting_url: String,
    pub meeting_number: MeetingNumber,
    pub passcode: Option<String>,
    /// The `tk` query parameter of the link, sent to the runner as `registrant_token`.
    pub registrant_token: Option<String>,
    pub bot_name: String,
    pub metadata: Option<Metadata>,
    /// Zoom user id whose connection mints the OBF token of every attempt.
    pub onbehalf_user_id: Option<String>,
    pub authorized_user_timeout_seconds: u32,
    /// Customer URL that supplies the tokens in place of this service's connections.
    pub zoom_tokens_url: Option<String>,
    /// The Attendee bot settings of the launch request, passed to the runner unchanged:
    /// `zoom_settings`, `automatic_leave_settings`, `callback_settings`, and every other
    /// accepted top-level field.
    pub settings: Map<String, Value>,
    pub state: BotState,
    /// Join tickets sent to the runner, including those that timed out.
    pub join_attempts: u32,
    /// When the pending attempt becomes due; `None` once no attempt is pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Set at the first "authorized user not in meeting" outcome to that time plus the
    /// timeout; no attempt is scheduled after it.
    pub authorized_user_wait_deadline: Option<DateTime<Utc>>,
    pub events: Vec<BotEvent>,
    /// Highest attempt number a worker has claimed. Messages with an attempt number at or
    /// below it are duplicates and are dropped.
    pub last_handled_attempt: u32,
    /// Highest attempt whose outcome is stored. Below `last_handled_attempt` it means that
    /// attempt is still running, or its worker died before storing the outcome.
    #[serde(default)]
    pub last_recorded_attempt: u32,
    /// "Authorized user not in meeting" outcomes so far, which drive the wait backoff.
    pub not_in_meeting_outcomes: u32,
    /// Transient failures in a row since the last response that was not transient.
    pub transient_failures: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Bot {
    /// Returns the API representation, which contains no token.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "meeting_url": self.meeting_url,
            "state": self.state.as_str(),
            "join_attempts": self.join_attempts,
            "next_attempt_at": self.next_attempt_at.map(format_timestamp),
            "authorized_user_wait_deadline": self.authorized_user_wait_deadline.map(format_timestamp),
            "events": self.events.iter().map(BotEvent::to_json).collect::<Vec<_>>(),
            "metadata": self.metadata.as_ref().map(Metadata::to_json),
            "created_at": format_timestamp(self.created_at),
        })
    }

    /// Returns the `bot` object of a join ticket: the API representation plus `bot_name` and the
    /// stored Attendee settings. A setting never replaces one of the API fields.
    pub fn ticket_json(&self) -> Value {
        let mut object = match self.to_json() {
            Value::Object(object) => object,
            _ => unreachable!("to_json builds an object"),
        };
        object.insert("bot_name".into(), Value::String(self.bot_name.clone()));
        for (name, value) in &self.settings {
            object.entry(name.clone()).or_insert_with(|| value.clone());
        }
        Value::Object(object)
    }

    /// Returns the `deadline` of a join ticket: the wait deadline once set, and before that the
    /// earliest it can become (`now` plus the timeout).
    pub fn ticket_deadline(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.authorized_user_wait_deadline
            .unwrap_or_else(|| now + seconds(u64::from(self.authorized_user_timeout_seconds)))
    }

    /// Moves to `new_state` and records the event. Returns `None`, changing nothing, when
    /// the state machine does not allow the move.
    pub fn transition(
        &mut self,
        new_state: BotState,
        event_type: &str,
        sub_type: Option<String>,
        at: DateTime<Utc>,
    ) -> Option<StateChange> {
        if !self.state.can_move_to(new_state) {
            return None;
        }
        let event = BotEvent {
            event_type: event_type.to_owned(),
            sub_type,
            created_at: at,
        };
        let change = StateChange {
            old_state: self.state,
            new_state,
            event: event.clone(),
        };
        self.state = new_state;
        self.events.push(event);
        self.updated_at = at;
        if !new_state.is_joining() {
            self.next_attempt_at = None;
        }
        Some(change)
    }

    fn fail(&mut self, sub_type: Option<String>, at: DateTime<Utc>) -> Option<StateChange> {
        self.transition(BotState::FatalError, EVENT_COULD_NOT_JOIN, sub_type, at)
    }

    /// Records the outcome of the attempt last claimed, at time `now`. Returns the state
    /// changes made (each needs one webhook) and whether to queue another attempt. A bot
    /// that is no longer joining is left unchanged.
    /// Whether the authorized-user wait has a deadline that `now` is past. An attempt that
    /// runs this late sends no ticket.
    pub fn wait_expired(&self, now: DateTime<Utc>) -> bool {
        self.authorized_user_wait_deadline
            .is_some_and(|deadline| now >= deadline)
    }

    pub fn apply_outcome(
        &mut self,
        outcome: AttemptOutcome,
        now: DateTime<Utc>,
    ) -> (Vec<StateChange>, NextStep) {
        if !self.state.is_joining() {
            return (Vec::new(), NextStep::Stop);
        }
        self.updated_at = now;
        let mut changes = Vec::new();

        let delay = match outcome {
            AttemptOutcome::Joined => {
                self.transient_failures = 0;
                changes.extend(self.transition(BotState::Joined, EVENT_JOINED, None, now));
                None
            }
            AttemptOutcome::Failed { sub_type } => {
                self.transient_failures = 0;
                changes.extend(self.fail(sub_type, now));
                None
            }
            AttemptOutcome::AuthorizedUserNotInMeeting => {
                self.transient_failures = 0;
                self.not_in_meeting_outcomes += 1;
                let timeout = seconds(u64::from(self.authorized_user_timeout_seconds));
                let deadline = *self
                    .authorized_user_wait_deadline
                    .get_or_insert(now + timeout);
                changes.extend(self.transition(
                    BotState::WaitingForAuthorizedUser,
                    EVENT_AUTHORIZED_USER_NOT_IN_MEETING,
                    None,
                    now,
                ));
                let delay = wait_delay(self.not_in_meeting_outcomes, now, deadline)
                    .or_else(|| deadline_check_delay(now, deadline));
                if delay.is_none() {
                    changes.extend(self.fail(Some(SUB_TYPE_WAIT_TIMEOUT.into()), now));
                }
                delay
            }
            AttemptOutcome::Transient { sub_type } => {
                self.transient_failures += 1;
                match transient_retry_delay(self.transient_failures) {
                    None => {
                        changes.extend(self.fail(Some(sub_type), now));
                        None
                    }
                    // While waiting, a retry obeys the wait deadline too, and a wait whose
                    // deadline has passed is over whatever the reason of the last failure.
                    Some(delay) => match self.authorized_user_wait_deadline {
                        None => Some(delay),
                        Some(deadline) => {
                            let clipped = clip_to_deadline(delay, now, deadline)
                                .or_else(|| deadline_check_delay(now, deadline));
                            if clipped.is_none() {
                                changes.extend(self.fail(Some(SUB_TYPE_WAIT_TIMEOUT.into()), now));
                            }
                            clipped
                        }
                    },
                }
            }
        };

        match delay {
            Some(delay) => {
                // Only the deadline check can be due after the deadline, because its delay
                // is rounded up to whole seconds. Its due time is the deadline itself.
                let due = now + chrono_duration(delay);
                let due = match self.authorized_user_wait_deadline {
                    Some(deadline) if due > deadline => deadline,
                    _ => due,
                };
                self.next_attempt_at = Some(due);
                (changes, NextStep::Retry(delay))
            }
            None => {
                self.next_attempt_at = None;
                (changes, NextStep::Stop)
            }
        }
    }
}

/// Delay before the next attempt after the `outcome_number`-th "authorized user not in
/// meeting" outcome (counting from 1) at `now`: 3 s, 6 s, 12 s, 24 s, then 30 s each time,
/// cut so the attempt is due no later than `deadline`.
///
/// Returns `None` when less than one second is left, which ends the wait. Delays are whole
/// seconds because SQS rounds a delay up to whole seconds, and a fraction rounded up could
/// carry the attempt past the deadline.
pub fn wait_delay(
    outcome_number: u32,
    now: DateTime<Utc>,
    deadline: DateTime<Utc>,
) -> Option<Duration> {
    let doublings = outcome_number.saturating_sub(1).min(16);
    let step = WAIT_FIRST_DELAY
        .saturating_mul(1 << doublings)
        .min(WAIT_MAX_DELAY);
    clip_to_deadline(step, now, deadline)
}

/// Delay before retrying after the `failure_number`-th transient failure in a row
/// (counting from 1): 2 s, 4 s, 8 s, 16 s, 32 s. Returns `None` after
/// [`MAX_TRANSIENT_RETRIES`] retries, which fails the bot.
pub fn transient_retry_delay(failure_number: u32) -> Option<Duration> {
    if failure_number == 0 || failure_number > MAX_TRANSIENT_RETRIES {
        return None;
    }
    Some(TRANSIENT_FIRST_DELAY.saturating_mul(1 << (failure_number - 1)))
}

/// `delay` cut to the whole seconds left until `deadline`, or `None` when less than one
/// second is left.
/// Returns the delay until the deadline, rounded up to whole seconds, or `None` once it
/// has passed. When too little time is left for another ticket, one last job runs at the
/// deadline. That job finds the wait expired and fails the bot without a ticket, so the
/// bot ends at its deadline rather than before it.
fn deadline_check_delay(now: DateTime<Utc>, deadline: DateTime<Utc>) -> Option<Duration> {
    let left_ms = (deadline - now).num_milliseconds();
    if left_ms <= 0 {
        return None;
    }
    Some(Duration::from_secs((left_ms as u64).div_ceil(1000)))
}

/// Seconds between the last scheduled attempt and the wait deadline.
const DEADLINE_MARGIN_SECONDS: i64 = 1;

fn clip_to_deadline(
    delay: Duration,
    now: DateTime<Utc>,
    deadline: DateTime<Utc>,
) -> Option<Duration> {
    // The attempt is due at least DEADLINE_MARGIN before the deadline, so that the usual
    // lateness of a queue delivery does not carry it past the deadline.
    let left_seconds = (deadline - now).num_seconds() - DEADLINE_MARGIN_SECONDS;
    if left_seconds < 1 {
        return None;
    }
    let left = Duration::from_secs(left_seconds as u64);
    Some(delay.min(left))
}

fn seconds(value: u64) -> chrono::Duration {
    chrono::Duration::seconds(value as i64)
}

fn chrono_duration(delay: Duration) -> chrono::Duration {
    chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(second: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + second, 0).unwrap()
    }

    fn bot(timeout_seconds: u32) -> Bot {
        Bot {
            id: "bot_A1b2C3d4E5f6G7h8".into(),
            project_id: "proj_A1b2C3d4E5f6G7h8".into(),
            meeting_url: "https://zoom.us/j/85012345678?pwd=x".into(),
            meeting_number: MeetingNumber::parse("85012345678").unwrap(),
            passcode: Some("x".into()),
            registrant_token: None,
            bot_name: "Notes".into(),
            metadata: None,
            onbehalf_user_id: Some("user-1".into()),
            authorized_user_timeout_seconds: timeout_seconds,
            zoom_tokens_url: None,
            settings: Map::new(),
            state: BotState::Joining,
            join_attempts: 0,
            next_attempt_at: Some(at(0)),
            authorized_user_wait_deadline: None,
            events: Vec::new(),
            last_handled_attempt: 0,
            last_recorded_attempt: 0,
            not_in_meeting_outcomes: 0,
            transient_failures: 0,
            created_at: at(0),
            updated_at: at(0),
        }
    }

    fn secs(value: u64) -> Duration {
        Duration::from_secs(value)
    }

    #[test]
    fn wait_delay_doubles_to_cap() {
        let deadline = at(10_000);
        let delays: Vec<_> = (1..=7).map(|n| wait_delay(n, at(0), deadline)).collect();
        assert_eq!(
            delays,
            [3, 6, 12, 24, 30, 30, 30].map(|s| Some(secs(s))).to_vec()
        );
    }

    #[test]
    fn wait_delay_clipped_to_deadline() {
        // Due one second before the deadline at the latest.
        assert_eq!(wait_delay(5, at(0), at(7)), Some(secs(6)));
        assert_eq!(wait_delay(1, at(0), at(2)), Some(secs(1)));
        assert_eq!(wait_delay(1, at(0), at(1)), None);
    }

    #[test]
    fn wait_delay_ends_under_one_second() {
        let deadline = at(10);
        let almost = deadline - chrono::Duration::milliseconds(400);
        assert_eq!(wait_delay(1, almost, deadline), None);
        assert_eq!(wait_delay(1, deadline, deadline), None);
        assert_eq!(wait_delay(1, at(11), deadline), None);
    }

    #[test]
    fn wait_delay_rounds_fraction_down() {
        let deadline = at(10);
        let now = at(7) - chrono::Duration::milliseconds(500);
        assert_eq!(wait_delay(4, now, deadline), Some(secs(2)));
    }

    #[test]
    fn wait_delay_large_outcome_number() {
        assert_eq!(wait_delay(u32::MAX, at(0), at(1000)), Some(secs(30)));
    }

    #[test]
    fn transient_delay_doubles_then_stops() {
        let delays: Vec<_> = (1..=6).map(transient_retry_delay).collect();
        let mut expected: Vec<_> = [2, 4, 8, 16, 32].map(|s| Some(secs(s))).to_vec();
        expected.push(None);
        assert_eq!(delays, expected);
        assert_eq!(transient_retry_delay(0), None);
    }

    #[test]
    fn joined_outcome_moves_to_joined() {
        let mut bot = bot(600);
        let (changes, next) = bot.apply_outcome(AttemptOutcome::Joined, at(1));
        assert_eq!(next, NextStep::Stop);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].old_state, BotState::Joining);
        assert_eq!(changes[0].new_state, BotState::Joined);
        assert_eq!(changes[0].event.event_type, EVENT_JOINED);
        assert_eq!(bot.state, BotState::Joined);
        assert_eq!(bot.next_attempt_at, None);
    }

    #[test]
    fn first_not_in_meeting_sets_deadline() {
        let mut bot = bot(600);
        let (changes, next) = bot.apply_outcome(AttemptOutcome::AuthorizedUserNotInMeeting, at(5));
        assert_eq!(next, NextStep::Retry(secs(3)));
        assert_eq!(bot.authorized_user_wait_deadline, Some(at(605)));
        assert_eq!(bot.next_attempt_at, Some(at(8)));
        assert_eq!(bot.state, BotState::WaitingForAuthorizedUser);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].new_state, BotState::WaitingForAuthorizedUser);
    }

    #[test]
    fn later_not_in_meeting_keeps_deadline() {
        let mut bot = bot(600);
        bot.apply_outcome(AttemptOutcome::AuthorizedUserNotInMeeting, at(0));
        let (changes, next) = bot.apply_outcome(AttemptOutcome::AuthorizedUserNotInMeeting, at(3));
        assert!(changes.is_empty(), "staying in the same state is no change");
        assert_eq!(next, NextStep::Retry(secs(6)));
        assert_eq!(bot.authorized_user_wait_deadline, Some(at(600)));
    }

    #[test]
    fn not_in_meeting_at_deadline_fails() {
        let mut bot = bot(5);
        bot.apply_outcome(AttemptOutcome::AuthorizedUserNotInMeeting, at(0));
        let (changes, next) = bot.apply_outcome(AttemptOutcome::AuthorizedUserNotInMeeting, at(5));
        assert_eq!(next, NextStep::Stop);
        assert_eq!(bot.state, BotState::FatalError);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].old_state, BotState::WaitingForAuthorizedUser);
        assert_eq!(changes[0].event.event_type, EVENT_COULD_NOT_JOIN);
        assert_eq!(
            changes[0].event.sub_type.as_deref(),
            Some(SUB_TYPE_WAIT_TIMEOUT)
        );
        assert_eq!(bot.next_attempt_at, None);
    }

    #[test]
    fn wait_never_schedules_past_deadline() {
        for timeout in [1, 2, 5, 7, 60, 601] {
            let mut bot = bot(timeout);
            let mut now = at(0);
            let mut attempts = 1;
            loop {
                let (_, next) = bot.apply_outcome(AttemptOutcome::AuthorizedUserNotInMeeting, now);
                let deadline = bot.authorized_user_wait_deadline.unwrap();
                match next {
                    NextStep::Retry(delay) => {
                        now += chrono_duration(delay) + chrono::Duration::milliseconds(250);
                        let due = bot.next_attempt_at.unwrap();
                        if bot.wait_expired(now) {
                            // The deadline check: the join worker fails the bot here
                            // without a ticket.
                            assert_eq!(due, deadline);
                            bot.apply_outcome(
                                AttemptOutcome::Failed {
                                    sub_type: Some(SUB_TYPE_WAIT_TIMEOUT.into()),
                                },
                                now,
                            );
                            break;
                        }
                        assert!(due <= deadline, "timeout {timeout}: {due} > {deadline}");
                        attempts += 1;
                    }
                    NextStep::Stop => break,
                }
            }
            assert_eq!(bot.state, BotState::FatalError, "timeout {timeout}");
            if timeout >= 3 {
                assert!(attempts >= 2, "timeout {timeout}: {attempts} attempts");
            }
        }
    }

    #[test]
    fn failed_outcome_keeps_runner_sub_type() {
        let mut bot = bot(600);
        let outcome = AttemptOutcome::Failed {
            sub_type: Some("UNABLE_TO_JOIN_EXTERNAL_MEETING".into()),
        };
        let (changes, next) = bot.apply_outcome(outcome, at(1));
        assert_eq!(next, NextStep::Stop);
        assert_eq!(
            changes[0].event.sub_type.as_deref(),
            Some("UNABLE_TO_JOIN_EXTERNAL_MEETING")
        );
        assert_eq!(bot.state, BotState::FatalError);
    }

    #[test]
    fn transient_failures_retry_then_fail() {
        let mut bot = bot(600);
        let transient = || AttemptOutcome::Transient {
            sub_type: "bot_runner_unavailable".into(),
        };
        for expected in [2, 4, 8, 16, 32] {
            let (changes, next) = bot.apply_outcome(transient(), at(0));
            assert!(changes.is_empty());
            assert_eq!(next, NextStep::Retry(secs(expected)));
        }
        let (changes, next) = bot.apply_outcome(transient(), at(0));
        assert_eq!(next, NextStep::Stop);
        assert_eq!(
            changes[0].event.sub_type.as_deref(),
            Some("bot_runner_unavailable")
        );
    }

    #[test]
    fn response_resets_transient_count() {
        let mut bot = bot(600);
        let transient = AttemptOutcome::Transient {
            sub_type: "bot_runner_unavailable".into(),
        };
        bot.apply_outcome(transient.clone(), at(0));
        bot.apply_outcome(transient.clone(), at(2));
        bot.apply_outcome(AttemptOutcome::AuthorizedUserNotInMeeting, at(6));
        assert_eq!(bot.transient_failures, 0);
        let (_, next) = bot.apply_outcome(transient, at(9));
        assert_eq!(next, NextStep::Retry(secs(2)));
    }

    #[test]
    fn transient_while_waiting_obeys_deadline() {
        let mut bot = bot(10);
        bot.apply_outcome(AttemptOutcome::AuthorizedUserNotInMeeting, at(0));
        let transient = AttemptOutcome::Transient {
            sub_type: "bot_runner_unavailable".into(),
        };
        let (_, next) = bot.apply_outcome(transient.clone(), at(8));
        assert_eq!(next, NextStep::Retry(secs(1)));
        // Too close for another ticket: one last job runs at the deadline.
        let (_, next) = bot.apply_outcome(transient.clone(), at(9));
        assert_eq!(next, NextStep::Retry(secs(1)));
        assert_eq!(bot.next_attempt_at, Some(at(10)));
        let (changes, next) = bot.apply_outcome(transient, at(10));
        assert_eq!(next, NextStep::Stop);
        assert_eq!(
            changes[0].event.sub_type.as_deref(),
            Some(SUB_TYPE_WAIT_TIMEOUT)
        );
    }

    #[test]
    fn finished_bot_ignores_outcomes() {
        let mut bot = bot(600);
        bot.apply_outcome(AttemptOutcome::Joined, at(1));
        let events = bot.events.len();
        let (changes, next) = bot.apply_outcome(AttemptOutcome::AuthorizedUserNotInMeeting, at(2));
        assert!(changes.is_empty());
        assert_eq!(next, NextStep::Stop);
        assert_eq!(bot.state, BotState::Joined);
        assert_eq!(bot.events.len(), events);
    }

    #[test]
    fn transition_rejects_disallowed_moves() {
        let mut bot = bot(600);
        assert!(
            bot.transition(BotState::Ended, "meeting_ended", None, at(1))
                .is_none()
        );
        bot.state = BotState::FatalError;
        assert!(
            bot.transition(BotState::Joined, EVENT_JOINED, None, at(1))
                .is_none()
        );
        assert!(bot.events.is_empty());
    }

    #[test]
    fn json_has_contract_fields_only() {
        let mut bot = bot(600);
        bot.settings
            .insert("recording_settings".into(), json!({"format": "mp4"}));
        let json = bot.to_json();
        let mut keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "authorized_user_wait_deadline",
                "created_at",
                "events",
                "id",
                "join_attempts",
                "meeting_url",
                "metadata",
                "next_attempt_at",
                "state"
            ]
        );
        assert_eq!(json["state"], "joining");
    }

    #[test]
    fn ticket_json_adds_settings() {
        let mut bot = bot(600);
        bot.settings
            .insert("recording_settings".into(), json!({"format": "mp4"}));
        bot.settings.insert("state".into(), json!("forged"));
        let json = bot.ticket_json();
        assert_eq!(json["recording_settings"]["format"], "mp4");
        assert_eq!(json["bot_name"], "Notes");
        assert_eq!(
            json["state"], "joining",
            "settings never replace API fields"
        );
    }

    #[test]
    fn ticket_deadline_before_and_after_wait() {
        let mut bot = bot(600);
        assert_eq!(bot.ticket_deadline(at(4)), at(604));
        bot.apply_outcome(AttemptOutcome::AuthorizedUserNotInMeeting, at(10));
        assert_eq!(bot.ticket_deadline(at(20)), at(610));
    }

    #[test]
    fn record_round_trips_through_json() {
        let mut bot = bot(600);
        bot.apply_outcome(AttemptOutcome::AuthorizedUserNotInMeeting, at(10));
        let value = serde_json::to_value(&bot).unwrap();
        let back: Bot = serde_json::from_value(value).unwrap();
        assert_eq!(back.to_json(), bot.to_json());
        assert_eq!(back.not_in_meeting_outcomes, 1);
    }
}
