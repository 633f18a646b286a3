//! The serve config parser on arbitrary input: it never panics, and every problem it reports
//! names the file and a line:col inside the text.

use std::path::Path;

use meterlab_server::ConfigError;
use meterlab_server::serve_config::ServeConfig;
use proptest::prelude::*;

/// Fragments of real configs, so generated inputs reach the semantic checks, not only syntax.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("[[principal]]\n".to_owned()),
        Just("[tls]\ncert = \"c\"\nkey = \"k\"\n".to_owned()),
        Just("client_ca = \"ca\"\n".to_owned()),
        Just("[limits]\nstreams_per_principal = 0\n".to_owned()),
        "[a-z_]{1,12} = \"[ -~]{0,12}\"\n",
        "name = \"[a-z]{0,3}\"\n",
        "role = \"[a-z-]{0,13}\"\n",
        "token_sha256 = \"[0-9a-f]{0,66}\"\n",
        "subject_cn = \"[a-z]{0,4}\"\n",
        "expires = 20[0-9]{2}-0[1-9]-1[0-9](T00:00:00(Z|\\+01:00)?)?\n",
        "listen = \"[0-9.:]{0,21}\"\n",
        "[ -~\n]{0,20}",
    ]
}

proptest! {
    #[test]
    fn problems_always_point_inside_the_file(parts in prop::collection::vec(fragment(), 0..12)) {
        let text: String = parts.concat();
        match ServeConfig::parse(Path::new("lab.toml"), &text) {
            Ok(_) => {}
            Err(ConfigError::Invalid(problems)) => {
                prop_assert!(!problems.is_empty());
                let lines = text.split('\n').collect::<Vec<_>>();
                for p in &problems {
                    prop_assert_eq!(&p.file, "lab.toml");
                    prop_assert!(p.line >= 1 && p.line <= lines.len(), "{p} in {text:?}");
                    prop_assert!(p.col >= 1 && p.col <= lines[p.line - 1].len() + 1, "{p} in {text:?}");
                    prop_assert!(!p.message.is_empty());
                }
            }
            Err(other) => prop_assert!(false, "unexpected {other}"),
        }
    }
}
