//! Credentials: secrets never reach the disk, bad tokens fail, enrolment works.

mod common;

use common::*;
use postwatch_fleetstore::Principal;

fn file_bytes(dir: &std::path::Path) -> Vec<u8> {
    // The database and its WAL: a secret must be in neither.
    let mut all = Vec::new();
    for name in ["fleet.db", "fleet.db-wal", "fleet.db-shm"] {
        if let Ok(bytes) = std::fs::read(dir.join(name)) {
            all.extend(bytes);
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn tokens_enrolment_and_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());

    let user = store.create_api_token("alice-laptop").unwrap();
    let enrol = store.create_enrolment_token("fleet").unwrap();
    assert!(user.starts_with("pwu_") && user.len() == 68, "{user}");
    assert!(enrol.starts_with("pwe_") && enrol.len() == 68, "{enrol}");

    assert_eq!(
        store.authenticate(&user).unwrap(),
        Some(Principal::User {
            name: "alice-laptop".into()
        })
    );
    assert_eq!(
        store.authenticate(&enrol).unwrap(),
        Some(Principal::Enrolment)
    );

    // Bad tokens.
    let mut flipped = user.clone();
    let last = if flipped.ends_with('0') { "1" } else { "0" };
    flipped.replace_range(flipped.len() - 1.., last);
    for bad in [
        "",
        "pwu_",
        "Bearer x",
        flipped.as_str(),
        &user[..user.len() - 1],
        &user.replace("pwu_", "pwa_"),
        &user.replace("pwu_", "pwe_"),
    ] {
        assert_eq!(store.authenticate(bad).unwrap(), None, "{bad:?}");
    }

    // Enrolment: only with an enrolment token.
    assert!(store.enrol_agent(&user, "web-1").unwrap().is_none());
    assert!(store.enrol_agent(&flipped, "web-1").unwrap().is_none());
    let agent = store.enrol_agent(&enrol, "web-1").unwrap().unwrap();
    assert!(agent.credential.starts_with("pwa_"));
    assert_eq!(
        store.authenticate(&agent.credential).unwrap(),
        Some(Principal::Agent {
            agent_id: agent.agent_id.clone(),
            hostname: "web-1".into()
        })
    );
    // The enrolment token stays valid for the next host; each agent gets its own id.
    let agent2 = store.enrol_agent(&enrol, "web-2").unwrap().unwrap();
    assert_ne!(agent2.agent_id, agent.agent_id);
    assert_ne!(agent2.credential, agent.credential);
    assert!(store.enrol_agent(&enrol, "").is_err());

    // Nothing secret on disk, before and after a checkpoint.
    for secret in [&user, &enrol, &agent.credential, &agent2.credential] {
        assert!(
            !contains(&file_bytes(dir.path()), secret.as_bytes()),
            "{secret} on disk"
        );
        // Not even the hex body without its prefix.
        assert!(!contains(&file_bytes(dir.path()), &secret.as_bytes()[4..]));
    }
    drop(store);
    let store = open(dir.path());
    for secret in [&user, &enrol, &agent.credential] {
        assert!(!contains(&file_bytes(dir.path()), secret.as_bytes()));
    }
    // Still valid after reopening.
    assert!(store.authenticate(&agent.credential).unwrap().is_some());

    // Listing shows names, never secrets.
    let listed = store.credentials().unwrap();
    assert_eq!(listed.len(), 4);
    let json = serde_json::to_string(&listed).unwrap();
    assert!(!json.contains(&user[4..]));

    // Revocation.
    assert!(store.revoke_agent(&agent.agent_id).unwrap());
    assert!(!store.revoke_agent(&agent.agent_id).unwrap());
    assert_eq!(store.authenticate(&agent.credential).unwrap(), None);
    assert!(store.authenticate(&agent2.credential).unwrap().is_some());
    assert_eq!(store.revoke_token("fleet").unwrap(), 1);
    assert!(store.enrol_agent(&enrol, "web-3").unwrap().is_none());
    assert_eq!(store.authenticate(&enrol).unwrap(), None);
    assert_eq!(store.revoke_token("alice-laptop").unwrap(), 1);
    assert_eq!(store.authenticate(&user).unwrap(), None);

    assert!(store.create_api_token("").is_err());
    assert!(store.create_api_token("a\nb").is_err());
}
