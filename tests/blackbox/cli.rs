//! The `reelforge` command's operator surface: one JSON object per call.

use reelforge_testkit::server as support;

use support::{cli, temp_dir};

#[test]
fn accounts_and_keys_lifecycle() {
    let data = temp_dir("cli");
    let a = cli(
        &data,
        &["accounts", "create", "--name", "Acme", "--plan", "growth"],
    )
    .unwrap();
    let id = a["account_id"].as_str().unwrap();
    assert!(id.starts_with("acct_"));
    assert_eq!(a["plan"], "growth");
    assert_eq!(a["videos_per_month"], 40);
    let secret = a["webhook_secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_") && secret.len() > 30);

    let k = cli(&data, &["keys", "create", "--account", id]).unwrap();
    let key = k["key"].as_str().unwrap();
    assert!(key.starts_with("sk_live_") && key.len() == 40);
    let key_id = k["id"].as_str().unwrap();
    assert_eq!(key_id.len(), 64, "SHA-256 hex is the id");
    assert_eq!(
        k["display"],
        format!("sk_live_{}…{}", &key[8..12], &key[36..])
    );

    // Growth holds two keys.
    cli(&data, &["keys", "create", "--account", id]).unwrap();
    let err = cli(&data, &["keys", "create", "--account", id]).unwrap_err();
    assert!(
        err["error"].as_str().unwrap().contains("2 active keys"),
        "{err}"
    );

    // Listing never shows a secret, and the store never holds one.
    let list = cli(&data, &["keys", "list", "--account", id]).unwrap();
    assert_eq!(list["keys"].as_array().unwrap().len(), 2);
    assert!(!list.to_string().contains(&key[8..]));
    let db = std::fs::read(data.join("reelforge.db")).unwrap();
    assert!(
        !db.windows(key.len()).any(|w| w == key.as_bytes()),
        "plaintext key in the database"
    );

    // Revoking frees a slot; revoking twice is an error.
    cli(&data, &["keys", "revoke", "--id", key_id]).unwrap();
    assert!(cli(&data, &["keys", "revoke", "--id", key_id]).is_err());
    cli(&data, &["keys", "create", "--account", id]).unwrap();
    let list = cli(&data, &["keys", "list", "--account", id]).unwrap();
    let revoked = list["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| !k["revoked_at"].is_null())
        .count();
    assert_eq!(revoked, 1);
}

#[test]
fn operator_errors_are_json_and_nonzero() {
    let data = temp_dir("cli-err");
    let err = cli(&data, &["keys", "create", "--account", "acct_missing"]).unwrap_err();
    assert_eq!(err["error"], "not found");
    let err = cli(
        &data,
        &[
            "accounts",
            "create",
            "--name",
            "X",
            "--plan",
            "growth",
            "--videos-per-month",
            "5",
        ],
    )
    .unwrap_err();
    assert!(err["error"].as_str().unwrap().contains("enterprise"));
    // Keys may be created on any plan (kept after a downgrade); no cap below growth.
    let a = cli(
        &data,
        &["accounts", "create", "--name", "Free", "--plan", "free"],
    )
    .unwrap();
    let id = a["account_id"].as_str().unwrap();
    for _ in 0..3 {
        cli(&data, &["keys", "create", "--account", id]).unwrap();
    }
    let e = cli(
        &data,
        &[
            "accounts",
            "create",
            "--name",
            "E",
            "--plan",
            "enterprise",
            "--videos-per-month",
            "7",
        ],
    )
    .unwrap();
    assert_eq!(e["videos_per_month"], 7);
}

#[test]
fn set_plan_follows_the_creation_rules() {
    let data = temp_dir("cli-plan");
    let a = cli(
        &data,
        &[
            "accounts",
            "create",
            "--name",
            "E",
            "--plan",
            "enterprise",
            "--videos-per-month",
            "7",
        ],
    )
    .unwrap();
    let id = a["account_id"].as_str().unwrap();
    // Staying on enterprise without the flag keeps the account's own figure.
    let same = cli(
        &data,
        &[
            "accounts",
            "set-plan",
            "--account",
            id,
            "--plan",
            "enterprise",
        ],
    )
    .unwrap();
    assert_eq!(same["videos_per_month"], 7);
    let err = cli(
        &data,
        &[
            "accounts",
            "set-plan",
            "--account",
            id,
            "--plan",
            "growth",
            "--videos-per-month",
            "9",
        ],
    )
    .unwrap_err();
    assert!(err["error"].as_str().unwrap().contains("enterprise"));
    let growth = cli(
        &data,
        &["accounts", "set-plan", "--account", id, "--plan", "growth"],
    )
    .unwrap();
    assert_eq!(growth["videos_per_month"], 40);
    assert!(cli(
        &data,
        &[
            "serve",
            "--webhook-retry-delays",
            "0,5",
            "--addr",
            "127.0.0.1:0"
        ]
    )
    .is_err());
}
