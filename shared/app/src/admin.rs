//! Operator actions behind `reelforge accounts …` and `reelforge keys …`. They talk to the
//! store directly, on either backend, so ops can manage production from a laptop.

use base64::Engine;
use rand::RngCore;
use reelforge_core::clock::Clock;
use reelforge_core::keys::{self, MintedKey};
use reelforge_core::model::{Account, ApiKeyRecord, SCOPE_CAMPAIGNS_CREATE};
use reelforge_core::plans::Plan;
use reelforge_core::ports::{AccountStore, KeyStore, StoreError, StoreResult};

/// `whsec_` + base64 of 24 random bytes: the Standard Webhooks secret form.
pub fn new_webhook_secret() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

pub async fn create_account(
    accounts: &dyn AccountStore,
    clock: &dyn Clock,
    name: &str,
    plan: Plan,
    videos_per_month: Option<u32>,
) -> StoreResult<Account> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(StoreError::Other(
            "account name must be 1 to 200 characters".into(),
        ));
    }
    if videos_per_month.is_some() && plan != Plan::Enterprise {
        return Err(StoreError::Other(
            "--videos-per-month applies to the enterprise plan only".into(),
        ));
    }
    let account = Account {
        id: format!("acct_{}", ulid::Ulid::generate().to_string().to_lowercase()),
        name: name.to_string(),
        plan,
        videos_per_month: match plan {
            Plan::Enterprise => Some(videos_per_month.unwrap_or(plan.videos_per_month())),
            _ => None,
        },
        webhook_secret: new_webhook_secret(),
        previous_webhook_secret: None,
        previous_webhook_secret_expires_at: None,
        created_at: clock.now(),
    };
    accounts.create_account(&account).await?;
    Ok(account)
}

/// Mints a key for the account, refusing past the plan's key cap. The secret is in the
/// returned `MintedKey` only; the store keeps its hash.
pub async fn create_key(
    accounts: &dyn AccountStore,
    keys_store: &dyn KeyStore,
    clock: &dyn Clock,
    account_id: &str,
) -> StoreResult<(MintedKey, ApiKeyRecord)> {
    let account = accounts
        .get_account(account_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    let minted = keys::mint();
    let record = ApiKeyRecord {
        id: minted.hash.clone(),
        account_id: account.id.clone(),
        display: minted.display.clone(),
        scopes: vec![SCOPE_CAMPAIGNS_CREATE.to_string()],
        created_at: clock.now(),
        revoked_at: None,
    };
    keys_store
        .create_key(&record, account.plan.max_keys())
        .await?;
    Ok((minted, record))
}

/// How long the previous webhook secret keeps signing after a rotation.
pub const SECRET_OVERLAP: chrono::Duration = chrono::Duration::hours(24);

/// Issues a new webhook secret; the old one signs beside it for `SECRET_OVERLAP`.
pub async fn rotate_webhook_secret(
    accounts: &dyn AccountStore,
    clock: &dyn Clock,
    account_id: &str,
) -> StoreResult<Account> {
    accounts
        .rotate_webhook_secret(
            account_id,
            &new_webhook_secret(),
            clock.now() + SECRET_OVERLAP,
        )
        .await
}

/// Changes an account's plan with the same rules as creation: `videos_per_month` only
/// on enterprise; moving to (or staying on) enterprise without it keeps the account's
/// own figure, or the default for an account that had none.
pub async fn set_plan(
    accounts: &dyn AccountStore,
    account_id: &str,
    plan: Plan,
    videos_per_month: Option<u32>,
) -> StoreResult<Account> {
    if videos_per_month.is_some() && plan != Plan::Enterprise {
        return Err(StoreError::Other(
            "--videos-per-month applies to the enterprise plan only".into(),
        ));
    }
    let account = accounts
        .get_account(account_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    let videos = match plan {
        Plan::Enterprise => Some(
            videos_per_month
                .or(account.videos_per_month)
                .unwrap_or(plan.videos_per_month()),
        ),
        _ => None,
    };
    accounts.set_plan(account_id, plan, videos).await?;
    accounts
        .get_account(account_id)
        .await?
        .ok_or(StoreError::NotFound)
}
