//! Counts the join attempts that a wait for the authorized user costs with the join
//! worker's backoff, for several timeouts.
//!
//! Run with `cargo run -p shared --example join_backoff`. The figures come from the bot
//! state machine itself (`Bot::apply_outcome`) on a simulated clock. Every attempt ends
//! with "authorized user not in meeting" and the runner's response takes a fixed time.
//! The results are exact for that assumption, and no network or real waiting is involved.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Map;
use shared::domain::bot::{AttemptOutcome, Bot, BotState, NextStep};
use shared::domain::meeting_url::MeetingNumber;

const TIMEOUTS_SECONDS: [u32; 5] = [60, 300, 600, 1800, 7200];
/// Assumed time from sending a ticket to the runner's response, in seconds.
const RESPONSE_SECONDS: [i64; 2] = [0, 5];

fn waiting_bot(timeout_seconds: u32, created_at: DateTime<Utc>) -> Bot {
    Bot {
        id: "bot_BenchmarkBot0001".into(),
        project_id: "proj_Benchmark00001".into(),
        meeting_url: "https://zoom.us/j/85012345678".into(),
        meeting_number: MeetingNumber::parse("85012345678").expect("valid meeting number"),
        passcode: None,
        registrant_token: None,
        bot_name: "Benchmark".into(),
        metadata: None,
        onbehalf_user_id: None,
        authorized_user_timeout_seconds: timeout_seconds,
        zoom_tokens_url: None,
        settings: Map::new(),
        state: BotState::Joining,
        join_attempts: 0,
        next_attempt_at: Some(created_at),
        authorized_user_wait_deadline: None,
        events: Vec::new(),
        last_handled_attempt: 0,
        last_recorded_attempt: 0,
        not_in_meeting_outcomes: 0,
        transient_failures: 0,
        created_at,
        updated_at: created_at,
    }
}

/// Start times of every attempt of a wait in which the user never joins, in seconds after the
/// first attempt.
fn attempt_times(timeout_seconds: u32, response_seconds: i64) -> Vec<f64> {
    let start = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("valid start time");
    let mut bot = waiting_bot(timeout_seconds, start);
    let mut sent_at = start;
    let mut times = Vec::new();
    loop {
        // A job that runs at or after the deadline fails the bot without a ticket.
        if bot.wait_expired(sent_at) {
            return times;
        }
        times.push((sent_at - start).num_milliseconds() as f64 / 1000.0);
        let responded_at = sent_at + chrono::Duration::seconds(response_seconds);
        let (_, next) = bot.apply_outcome(AttemptOutcome::AuthorizedUserNotInMeeting, responded_at);
        match next {
            NextStep::Retry(delay) => {
                sent_at = responded_at + chrono::Duration::from_std(delay).expect("delay fits");
            }
            NextStep::Stop => return times,
        }
    }
}

fn main() {
    for response_seconds in RESPONSE_SECONDS {
        println!("runner response time {response_seconds} s");
        println!(
            "{:>9}  {:>8}  {:>12}  {:>15}",
            "timeout s", "attempts", "mean gap s", "last attempt s"
        );
        for timeout in TIMEOUTS_SECONDS {
            let times = attempt_times(timeout, response_seconds);
            let last = *times.last().expect("at least one attempt");
            let mean_gap = last / (times.len() - 1) as f64;
            println!(
                "{timeout:>9}  {:>8}  {mean_gap:>12.1}  {last:>15.1}",
                times.len()
            );
        }
        println!();
    }
}
