//! Scratch harness: a Zoom emulator driven through files in /tmp/qa1/emu.
use std::time::Duration;

use integration_tests::zoom_emulator::{Endpoint, Failure, ZoomEmulator, ZoomUserSpec};

#[tokio::test(flavor = "multi_thread")]
async fn emulator_harness() {
    if std::env::var("QA_EMU_HARNESS").is_err() {
        return;
    }
    let dir = std::path::Path::new("/tmp/qa1/emu");
    let _ = std::fs::remove_file(dir.join("stop"));
    let emu = ZoomEmulator::start().await;
    emu.register_app("cid1", "csecret1");
    emu.register_app("cid2", "csecret2");
    for user in ["u1", "u2", "u3", "u4"] {
        emu.add_user(ZoomUserSpec::active(user));
    }
    let mut inactive = ZoomUserSpec::active("uin");
    inactive.status = "inactive".into();
    emu.add_user(inactive);
    emu.add_meeting("u1", 85012345678, "m1");
    std::fs::write(dir.join("base_url"), emu.base_url()).unwrap();
    let mut n = 0u64;
    loop {
        if dir.join("stop").exists() {
            break;
        }
        // req: "code <client_id> <user_id> <redirect_uri> <scope,scope>" or "fail <endpoint> <kind>"
        if let Ok(req) = std::fs::read_to_string(dir.join("req")) {
            let _ = std::fs::remove_file(dir.join("req"));
            let parts: Vec<&str> = req.split_whitespace().collect();
            let answer = match parts.as_slice() {
                ["code", client, user, redirect, scopes] => {
                    let scopes: Vec<&str> = scopes.split(',').collect();
                    emu.issue_code(client, user, redirect, &scopes, None)
                }
                ["fail", endpoint, kind] => {
                    let endpoint = match *endpoint {
                        "token" => Endpoint::Token,
                        "revoke" => Endpoint::Revoke,
                        "me" => Endpoint::UsersMe,
                        _ => Endpoint::ListMeetings,
                    };
                    let failure = match *kind {
                        "grant" => Failure::InvalidGrant,
                        "client" => Failure::InvalidClient,
                        "slow" => Failure::Delay(Duration::from_secs(20)),
                        other => Failure::Status(other.parse().unwrap_or(500)),
                    };
                    emu.fail_next(endpoint, failure);
                    "ok".into()
                }
                ["secret", client, secret] => {
                    emu.set_app_secret(client, secret);
                    "ok".into()
                }
                ["revoked"] => format!("{:?}", emu.revoked_tokens()),
                _ => "bad".into(),
            };
            n += 1;
            std::fs::write(dir.join("resp.tmp"), answer).unwrap();
            std::fs::rename(dir.join("resp.tmp"), dir.join("resp")).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = n;
}
