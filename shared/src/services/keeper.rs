//! The scheduled keeper: refreshes connections before their refresh tokens expire and
//! re-syncs meeting lists, a bounded number of connections per run.

use chrono::Duration;

use crate::domain::connection::ConnectionState;
use crate::records::{connections, tokens as token_records};
use crate::services::connections::sync_meetings;
use crate::services::tokens::{self, TokenError};
use crate::services::{Services, webhooks};

/// Zoom documents refresh tokens as lasting 15 years on one page and about 90 days
/// elsewhere. Refreshing after 30 days keeps them alive under the stricter reading.
pub const KEEPALIVE_AGE_DAYS: i64 = 30;
/// Meeting lists are re-read after this long, to catch meetings created before the
/// webhook subscription existed.
pub const SYNC_AGE_HOURS: i64 = 24;
/// Connections handled per run, so one run fits a Lambda timeout of a few minutes.
pub const MAX_PER_RUN: usize = 200;

/// Counts of what one keeper run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct KeeperReport {
    pub refreshed: usize,
    pub synced: usize,
    pub failed: usize,
    pub disconnected: usize,
    /// Pending webhook deliveries whose queue message was lost, queued again.
    pub requeued_deliveries: usize,
}

pub async fn run(services: &Services) -> KeeperReport {
    let mut report = KeeperReport::default();
    let now = services.clock.now();
    let refresh_before = now - Duration::days(KEEPALIVE_AGE_DAYS);
    let sync_before = now - Duration::hours(SYNC_AGE_HOURS);
    let store = services.store.as_ref();

    let mut position = None;
    let mut handled = 0;
    while handled < MAX_PER_RUN {
        let (sets, next) = match token_records::stalest(store, 50, position).await {
            Ok(page) => page,
            Err(error) => {
                tracing::error!(%error, "keeper could not read token sets");
                report.failed += 1;
                break;
            }
        };
        for (connection_id, token_set) in sets {
            handled += 1;
            let Ok(Some(stored)) = connections::get_any(store, &connection_id).await else {
                continue;
            };
            let connection = stored.value;
            if connection.state != ConnectionState::Connected {
                continue;
            }
            if token_set.refreshed_at.is_none_or(|at| at < refresh_before) {
                match tokens::refresh_now(services, &connection).await {
                    Ok(()) => report.refreshed += 1,
                    Err(TokenError::Disconnected(reason)) => {
                        tracing::warn!(connection_id, %reason, "keeper found the connection disconnected");
                        report.disconnected += 1;
                        continue;
                    }
                    Err(error) => {
                        tracing::warn!(connection_id, %error, "keeper refresh failed; retrying next run");
                        report.failed += 1;
                        continue;
                    }
                }
            }
            let sync_due = connection.is_local_recording_token_supported
                && connection
                    .last_attempted_sync_at
                    .is_none_or(|at| at < sync_before);
            if sync_due {
                match tokens::access_token(services, &connection, None).await {
                    Ok(access_token) => {
                        sync_meetings(services, &connection, &access_token, None).await;
                        report.synced += 1;
                    }
                    Err(error) => {
                        tracing::warn!(connection_id, %error, "keeper could not sync meetings");
                        report.failed += 1;
                    }
                }
            }
        }
        match next {
            Some(next) => position = Some(next),
            None => break,
        }
    }
    match webhooks::requeue_lost(services, MAX_PER_RUN).await {
        Ok(count) => report.requeued_deliveries = count,
        Err(error) => {
            tracing::error!(%error, "keeper could not queue lost deliveries again");
            report.failed += 1;
        }
    }
    tracing::info!(
        requeued_deliveries = report.requeued_deliveries,
        refreshed = report.refreshed,
        synced = report.synced,
        failed = report.failed,
        disconnected = report.disconnected,
        "keeper run finished"
    );
    report
}
