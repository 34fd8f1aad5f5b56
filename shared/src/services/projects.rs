//! Creating projects and authenticating API keys.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::domain::ids;
use crate::domain::project::{ApiKeyRecord, Project, api_key_hash};
use crate::ports::secrets::EncryptionContext;
use crate::records::projects;
use crate::secret::SecretString;
use crate::services::crypto::{open, purpose, seal};
use crate::services::{ServiceError, Services};

/// A new project with the two secrets shown to its owner only once.
#[derive(Debug)]
pub struct CreatedProject {
    pub project_id: String,
    pub api_key: SecretString,
    pub signing_secret: SecretString,
}

pub async fn create_project(
    services: &Services,
    name: &str,
) -> Result<CreatedProject, ServiceError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ServiceError::BadRequest(
            "Project name must not be blank.".into(),
        ));
    }
    let now = services.clock.now();
    let project_id = services.ids.object_id(ids::PROJECT);
    let api_key = SecretString::new(services.ids.token(40));
    let signing_secret = SecretString::new(STANDARD.encode(services.ids.bytes(32)));

    let context = EncryptionContext::new(&project_id, &project_id, purpose::SIGNING_SECRET);
    let project = Project {
        id: project_id.clone(),
        name: name.to_owned(),
        created_at: now,
        signing_secret_ciphertext: seal(services.secrets.as_ref(), &context, &signing_secret)
            .await?,
    };
    let key_record = ApiKeyRecord {
        project_id: project_id.clone(),
        created_at: now,
        disabled: false,
    };
    projects::insert(
        services.store.as_ref(),
        &project,
        &api_key_hash(api_key.expose()),
        &key_record,
    )
    .await?;
    tracing::info!(project_id = %project_id, "project created");

    Ok(CreatedProject {
        project_id,
        api_key,
        signing_secret,
    })
}

/// Resolves the value of an `Authorization` header to the project id of its API key.
pub async fn authenticate(
    services: &Services,
    authorization: Option<&str>,
) -> Result<String, ServiceError> {
    let Some(header) = authorization else {
        return Err(ServiceError::Unauthenticated(
            "Authentication credentials were not provided.".into(),
        ));
    };
    // The keyword is matched in any case, as Django REST framework's token
    // authentication does, so clients written for it work unchanged.
    let key = header
        .split_once(' ')
        .filter(|(keyword, _)| keyword.eq_ignore_ascii_case("token"))
        .map(|(_, key)| key.trim());
    let Some(key) = key else {
        return Err(ServiceError::Unauthenticated(
            "Invalid Authorization header. Use 'Authorization: Token <api key>'.".into(),
        ));
    };
    if key.is_empty() || key.contains(char::is_whitespace) {
        return Err(ServiceError::Unauthenticated(
            "Invalid Authorization header. Use 'Authorization: Token <api key>'.".into(),
        ));
    }
    match projects::find_api_key(services.store.as_ref(), &api_key_hash(key)).await? {
        Some(record) if !record.value.disabled => Ok(record.value.project_id),
        Some(_) => Err(ServiceError::Unauthenticated("API key is disabled.".into())),
        None => Err(ServiceError::Unauthenticated("Invalid API key.".into())),
    }
}

/// Decrypts the project's signing secret, the HMAC key of its outbound token-callback
/// requests.
pub async fn signing_secret(
    services: &Services,
    project_id: &str,
) -> Result<SecretString, ServiceError> {
    let project = projects::get(services.store.as_ref(), project_id)
        .await?
        .ok_or(ServiceError::NotFound("Project"))?;
    let context = EncryptionContext::new(project_id, project_id, purpose::SIGNING_SECRET);
    open(
        services.secrets.as_ref(),
        &context,
        &project.signing_secret_ciphertext,
    )
    .await
}
