//! The error every use case returns, and the field errors of invalid input.

use std::collections::BTreeMap;

use crate::ports::queue::QueueError;
use crate::ports::secrets::SecretError;
use crate::ports::store::StoreError;
use crate::ports::zoom::ZoomError;

/// Field name to messages, written as `{"<field>": ["…"]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldErrors(pub BTreeMap<String, Vec<String>>);

impl FieldErrors {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_owned())
            .or_default()
            .push(message.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn single(field: &str, message: impl Into<String>) -> Self {
        let mut errors = Self::default();
        errors.add(field, message);
        errors
    }

    /// Returns `Err` when any error was collected.
    pub fn into_result(self) -> Result<(), ServiceError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(ServiceError::Invalid(self))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// 400 with field errors.
    #[error("invalid fields: {0:?}")]
    Invalid(FieldErrors),
    /// 400 with `{"error": …}`.
    #[error("{0}")]
    BadRequest(String),
    /// 401 with `{"detail": …}`.
    #[error("{0}")]
    Unauthenticated(String),
    /// 401 with `{"error": …}`, for a Zoom webhook whose signature or timestamp fails.
    #[error("{0}")]
    SignatureRejected(String),
    /// 404 with `{"error": "<Thing> not found"}`.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 409 with `{"error": …}`.
    #[error("{0}")]
    Conflict(String),
    /// 413.
    #[error("request body exceeds {0} bytes")]
    TooLarge(usize),
    /// 503: a dependency failed and the caller may retry.
    #[error("{0}")]
    Unavailable(String),
    /// 500: stored data is unreadable or an invariant broke.
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::ConditionFailed => {
                ServiceError::Conflict("The record was changed by another request; retry.".into())
            }
            StoreError::Unavailable(message) => {
                ServiceError::Unavailable(format!("storage unavailable: {message}"))
            }
            StoreError::InvalidPosition => {
                ServiceError::Invalid(FieldErrors::single("cursor", "Invalid cursor."))
            }
            StoreError::Corrupt(message) => {
                ServiceError::Internal(format!("stored data: {message}"))
            }
        }
    }
}

impl From<SecretError> for ServiceError {
    fn from(error: SecretError) -> Self {
        match error {
            SecretError::Decrypt => ServiceError::Internal(error.to_string()),
            SecretError::Unavailable(message) => {
                ServiceError::Unavailable(format!("key service unavailable: {message}"))
            }
        }
    }
}

impl From<QueueError> for ServiceError {
    fn from(error: QueueError) -> Self {
        ServiceError::Unavailable(error.to_string())
    }
}

impl From<ZoomError> for ServiceError {
    fn from(error: ZoomError) -> Self {
        if error.is_transient() {
            ServiceError::Unavailable(error.to_string())
        } else {
            ServiceError::BadRequest(error.to_string())
        }
    }
}
