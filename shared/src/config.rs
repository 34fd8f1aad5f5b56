//! Configuration from environment variables, read once per process. Every missing or
//! invalid variable is collected, so a misconfigured deployment fails at start-up with one
//! message that lists them all.

use crate::adapters::aws::AwsSettings;
use crate::adapters::sqs::QueueUrls;
use crate::secret::SecretString;
use crate::services::Settings;

/// Looks up one variable by name.
type Lookup = Box<dyn Fn(&str) -> Option<String>>;

/// Reads variables and collects the problems found.
pub struct EnvReader {
    lookup: Lookup,
    pub errors: Vec<String>,
}

impl Default for EnvReader {
    fn default() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

impl EnvReader {
    /// Reads from `lookup` instead of the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String> + 'static) -> Self {
        Self {
            lookup: Box::new(lookup),
            errors: Vec::new(),
        }
    }

    /// Returns a variable's value. An empty or blank value counts as unset.
    pub fn optional(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|value| !value.trim().is_empty())
    }

    pub fn required(&mut self, name: &str, what: &str) -> String {
        self.optional(name).unwrap_or_else(|| {
            self.errors.push(format!("{name} is not set: {what}"));
            String::new()
        })
    }

    pub fn bool_or(&mut self, name: &str, default: bool) -> bool {
        match self.optional(name) {
            None => default,
            Some(value) => match value.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => {
                    self.errors
                        .push(format!("{name} must be true or false, got '{value}'"));
                    default
                }
            },
        }
    }

    pub fn positive_u32_or(&mut self, name: &str, default: u32) -> u32 {
        match self.optional(name) {
            None => default,
            Some(value) => value
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .unwrap_or_else(|| {
                    self.errors
                        .push(format!("{name} must be a positive integer, got '{value}'"));
                    default
                }),
        }
    }

    /// Checks an http(s) base URL and returns it without a trailing slash. A query or
    /// fragment is rejected, because paths are appended to the value.
    pub fn url(&mut self, name: &str, value: String) -> String {
        // An empty value was already reported as missing by `required`.
        if value.is_empty() {
            return value;
        }
        let value = value.trim().to_owned();
        match url::Url::parse(&value) {
            Ok(parsed)
                if matches!(parsed.scheme(), "http" | "https")
                    && parsed.host_str().is_some_and(|host| !host.is_empty())
                    && parsed.query().is_none()
                    && parsed.fragment().is_none() =>
            {
                value.trim_end_matches('/').to_owned()
            }
            _ => {
                self.errors.push(format!(
                    "{name} must be an http or https URL with a host and no query, got '{value}'"
                ));
                value
            }
        }
    }

    /// Parses a variable, or returns `default` when it is unset. An unparsable value is
    /// reported.
    pub fn parsed_or<T: std::str::FromStr>(&mut self, name: &str, default: T, what: &str) -> T {
        match self.optional(name) {
            None => default,
            Some(value) => value.trim().parse().unwrap_or_else(|_| {
                self.errors
                    .push(format!("{name} must be {what}, got '{value}'"));
                default
            }),
        }
    }

    pub fn url_or(&mut self, name: &str, default: &str) -> String {
        let value = self.optional(name).unwrap_or_else(|| default.to_owned());
        self.url(name, value)
    }

    pub fn finish(self) -> Result<(), Vec<String>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}

/// Settings common to the Lambda functions and the local server, plus the Zoom API origin.
pub fn read_settings(
    env: &mut EnvReader,
    public_base_url: String,
    allow_private_default: bool,
) -> (Settings, String) {
    let public_base_url = env.url("PUBLIC_BASE_URL", public_base_url);
    let zoom_oauth_base_url = env.url_or("ZOOM_OAUTH_BASE_URL", "https://zoom.us");
    let zoom_api_base_url = env.url_or("ZOOM_API_BASE_URL", "https://api.zoom.us");
    let bot_runner_url = env
        .optional("BOT_RUNNER_URL")
        .map(|url| env.url("BOT_RUNNER_URL", url));
    // A runner URL without a secret is not a start-up error: everything but bot launches
    // works, and a launch then fails with a 400 that names BOT_RUNNER_SECRET.
    let bot_runner_secret = env.optional("BOT_RUNNER_SECRET").map(SecretString::new);
    let settings = Settings {
        public_base_url,
        zoom_oauth_base_url,
        allow_private_urls: env.bool_or("ALLOW_PRIVATE_URLS", allow_private_default),
        bot_runner_url,
        bot_runner_secret,
        delivery_max_attempts: env.positive_u32_or("WEBHOOK_MAX_ATTEMPTS", 5),
    };
    (settings, zoom_api_base_url)
}

/// Everything a Lambda function reads from its environment.
pub struct LambdaConfig {
    pub aws: AwsSettings,
    pub table_name: String,
    pub kms_key_id: String,
    pub queues: QueueUrls,
    pub zoom_api_base_url: String,
    pub settings: Settings,
}

impl LambdaConfig {
    pub fn from_env() -> Result<Self, Vec<String>> {
        Self::read(EnvReader::default())
    }

    pub fn read(mut env: EnvReader) -> Result<Self, Vec<String>> {
        let region = env.required("AWS_REGION", "the region of the table, key and queues");
        let aws = AwsSettings {
            region,
            endpoint_url: env.optional("AWS_ENDPOINT_URL"),
        };
        let table_name = env.required("TABLE_NAME", "the DynamoDB table of all records");
        let kms_key_id = env.required("KMS_KEY_ID", "the KMS key that encrypts secrets");
        let join_attempts = env.required("JOIN_QUEUE_URL", "the SQS queue of join attempts");
        let deliveries = env.required("DELIVERY_QUEUE_URL", "the SQS queue of webhook deliveries");
        let public_base_url = env.required(
            "PUBLIC_BASE_URL",
            "the public origin of the HTTP API, used in webhook and redirect URLs",
        );
        let (settings, zoom_api_base_url) = read_settings(&mut env, public_base_url, false);
        env.finish()?;
        Ok(Self {
            aws,
            table_name,
            kms_key_id,
            queues: QueueUrls {
                join_attempts,
                deliveries,
            },
            zoom_api_base_url,
            settings,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn reader(pairs: &[(&str, &str)]) -> EnvReader {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        EnvReader::from_lookup(move |name| map.get(name).cloned())
    }

    #[test]
    fn lambda_config_lists_every_missing_variable() {
        let Err(errors) = LambdaConfig::read(reader(&[("TABLE_NAME", " ")])) else {
            panic!("an empty environment must fail");
        };
        let text = errors.join("\n");
        for name in [
            "AWS_REGION",
            "TABLE_NAME",
            "KMS_KEY_ID",
            "JOIN_QUEUE_URL",
            "DELIVERY_QUEUE_URL",
            "PUBLIC_BASE_URL",
        ] {
            assert!(text.contains(name), "{name} missing from: {text}");
        }
        assert_eq!(errors.len(), 6, "{text}");
    }

    #[test]
    fn lambda_config_reports_invalid_values() {
        let Err(errors) = LambdaConfig::read(reader(&[
            ("AWS_REGION", "us-east-1"),
            ("TABLE_NAME", "records"),
            ("KMS_KEY_ID", "alias/obf"),
            ("JOIN_QUEUE_URL", "https://sqs/join"),
            ("DELIVERY_QUEUE_URL", "https://sqs/delivery"),
            ("PUBLIC_BASE_URL", "obf.example.com"),
            ("ALLOW_PRIVATE_URLS", "maybe"),
            ("WEBHOOK_MAX_ATTEMPTS", "0"),
            ("BOT_RUNNER_URL", "https://runner.example.com"),
        ])) else {
            panic!("invalid values must fail");
        };
        let text = errors.join("\n");
        for name in [
            "PUBLIC_BASE_URL",
            "ALLOW_PRIVATE_URLS",
            "WEBHOOK_MAX_ATTEMPTS",
        ] {
            assert!(text.contains(name), "{name} missing from: {text}");
        }
        assert_eq!(errors.len(), 3, "{text}");
    }

    #[test]
    fn url_rejects_query_and_missing_host() {
        let mut env = reader(&[]);
        for bad in [
            "http://",
            "http://127.0.0.1:1?x=1",
            "https://exa mple.com",
            "ftp://x",
            "example.com",
        ] {
            env.url("PUBLIC_BASE_URL", bad.to_owned());
        }
        assert_eq!(env.errors.len(), 5, "{:?}", env.errors);
        assert_eq!(
            env.url("X", "https://obf.example.com/base/".into()),
            "https://obf.example.com/base"
        );
    }

    #[test]
    fn lambda_config_reads_complete_environment() {
        let config = LambdaConfig::read(reader(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("TABLE_NAME", "records"),
            ("KMS_KEY_ID", "alias/obf"),
            ("JOIN_QUEUE_URL", "https://sqs/join"),
            ("DELIVERY_QUEUE_URL", "https://sqs/delivery"),
            ("PUBLIC_BASE_URL", "https://obf.example.com/"),
        ]))
        .unwrap();
        assert_eq!(config.aws.region, "eu-west-1");
        assert_eq!(
            config.aws.endpoint_url.as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(config.settings.public_base_url, "https://obf.example.com");
        assert_eq!(config.zoom_api_base_url, "https://api.zoom.us");
        assert!(
            !config.settings.allow_private_urls,
            "Lambda defaults to public URLs only"
        );
        assert_eq!(config.settings.delivery_max_attempts, 5);
    }
}
