//! Property tests of the sealed bundle: whatever files are sealed, an untouched bundle verifies,
//! and flipping any one byte of any one file names exactly that file.

use meterlab_report::bundle::{BundleFile, Problem, verify_bundle, write_bundle};
use proptest::prelude::*;

fn files() -> impl Strategy<Value = Vec<BundleFile>> {
    let name =
        "[a-z0-9_-]{1,8}(/[a-z0-9_.-]{1,8}){0,2}".prop_filter("no dot segments", |n: &String| {
            n.split('/')
                .all(|p| p != "." && p != ".." && !p.starts_with('.'))
        });
    proptest::collection::btree_map(name, proptest::collection::vec(any::<u8>(), 1..64), 1..6)
        .prop_filter("no file is also a directory", |m| {
            m.keys()
                .all(|a| !m.keys().any(|b| b.starts_with(&format!("{a}/"))))
        })
        .prop_map(|m| m.into_iter().map(|(n, b)| BundleFile::new(n, b)).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn one_flipped_byte_is_named(files in files(), pick in any::<prop::sample::Index>(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let dir = tempfile::tempdir().expect("temp dir");
        let bundle = dir.path().join("b");
        write_bundle(&bundle, &files).expect("write");
        prop_assert!(verify_bundle(&bundle).expect("verify").is_intact());

        let target = &files[pick.index(files.len())];
        let path = bundle.join(&target.name);
        let mut bytes = std::fs::read(&path).expect("read");
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        std::fs::write(&path, bytes).expect("tamper");
        let v = verify_bundle(&bundle).expect("verify");
        prop_assert_eq!(v.problems.len(), 1);
        let named_changed = matches!(v.first_problem(), Some(Problem::Changed { name, .. }) if name == &target.name);
        prop_assert!(named_changed, "{:?}", v.problems);
    }
}
