//! Time and id generation, behind traits so tests can fix them.

use chrono::{DateTime, Utc};
use rand::Rng;
use rand::distr::Alphanumeric;

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

pub trait IdGenerator: Send + Sync {
    /// Returns `prefix` followed by 16 alphanumeric characters.
    fn object_id(&self, prefix: &str) -> String;
    /// Returns `len` random alphanumeric characters from the operating system's CSPRNG.
    fn token(&self, len: usize) -> String;
    fn bytes(&self, len: usize) -> Vec<u8>;
}

/// Ids from the thread-local CSPRNG (ChaCha, seeded from the operating system).
pub struct RandomIds;

impl IdGenerator for RandomIds {
    fn object_id(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.token(16))
    }

    fn token(&self, len: usize) -> String {
        rand::rng()
            .sample_iter(&Alphanumeric)
            .take(len)
            .map(char::from)
            .collect()
    }

    fn bytes(&self, len: usize) -> Vec<u8> {
        let mut bytes = vec![0u8; len];
        rand::rng().fill(bytes.as_mut_slice());
        bytes
    }
}
