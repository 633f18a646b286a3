//! A device target printed with `{:?}` (logs, panics) names its session parameters but never
//! shows their values: they carry the device's passwords and keys in clear.
#![allow(clippy::unwrap_used)]

mod support;

#[test]
fn debug_of_a_target_names_parameters_but_never_shows_secrets() {
    let mut target = support::target("esme-1", 500);
    let secret_key = "00112233445566778899aabbccddeeff";
    let password = "Lls-P4ssw0rd";
    target
        .session
        .parameters
        .insert("encryption_key".to_owned(), secret_key.to_owned());
    target
        .session
        .parameters
        .insert("password".to_owned(), password.to_owned());

    let printed = format!("{target:?}");
    assert!(printed.contains("esme-1"), "{printed}");
    assert!(printed.contains("encryption_key"), "{printed}");
    assert!(printed.contains("password"), "{printed}");
    assert!(!printed.contains(secret_key), "{printed}");
    assert!(!printed.contains(password), "{printed}");
    let pretty = format!("{target:#?}");
    assert!(!pretty.contains(secret_key) && !pretty.contains(password));
}
