//! Object id prefixes and the check that a path or body id has the right shape.

pub const PROJECT: &str = "proj_";
pub const APP: &str = "zoa_";
pub const CONNECTION: &str = "zoc_";
pub const BOT: &str = "bot_";
pub const WEBHOOK: &str = "whk_";
pub const DELIVERY: &str = "dlv_";

/// Length of the random part of every object id.
pub const RANDOM_LEN: usize = 16;

/// Whether `id` is `prefix` followed by 16 ASCII alphanumerics. Ids that fail this check
/// cannot exist, so callers answer "not found" without a storage read.
pub fn has_shape(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix).is_some_and(|rest| {
        rest.len() == RANDOM_LEN && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_accepts_generated_form() {
        assert!(has_shape("zoc_A1b2C3d4E5f6G7h8", CONNECTION));
    }

    #[test]
    fn shape_rejects_other_prefix_and_length() {
        assert!(!has_shape("zoa_A1b2C3d4E5f6G7h8", CONNECTION));
        assert!(!has_shape("zoc_A1b2", CONNECTION));
        assert!(!has_shape("zoc_A1b2C3d4E5f6G7h!", CONNECTION));
    }
}
