//! Sealed evidence bundles as one zip: the same content gives the same bytes and verifies; a
//! changed, damaged, missing or extra entry is named; a zip whose entries could leave the bundle,
//! that names an entry twice or that is not a zip is refused, naming the bundle and the entry.

use std::fs;
use std::io::{Cursor, Read as _, Write as _};
use std::path::Path;

use meterlab_report::BundleError;
use meterlab_report::bundle::{
    BundleFile, MANIFEST, Problem, verify_bundle, verify_zip_bytes, write_bundle, write_bundle_zip,
    zip_bundle_bytes,
};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

fn files() -> Vec<BundleFile> {
    vec![
        BundleFile::new("report.md", "# report\n"),
        BundleFile::new("report.html", "<html></html>"),
        BundleFile::new("steps/esme-1/M1.attempt-1.steps.txt", "step 1 ok\n"),
        BundleFile::new(
            "captures/esme-1/M1.attempt-1.traffic.hex",
            "7e a0 07 03 21 93 0f 01 7e\n".repeat(40),
        ),
    ]
}

/// Every entry of a zip, in its order.
fn entries_of(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = ZipArchive::new(Cursor::new(bytes)).expect("a zip");
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).expect("entry");
            let mut content = Vec::new();
            entry.read_to_end(&mut content).expect("content");
            (entry.name().expect("name").to_string(), content)
        })
        .collect()
}

/// A zip of `entries` as a tamperer would write it with any zip tool.
fn zip_of(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    for (name, bytes) in entries {
        zip.start_file(name.as_str(), options).expect("start");
        zip.write_all(bytes).expect("write");
    }
    zip.finish().expect("finish").into_inner()
}

fn kinds(problems: &[Problem]) -> Vec<(&'static str, &str)> {
    problems
        .iter()
        .map(|p| {
            let kind = match p {
                Problem::Changed { .. } => "changed",
                Problem::Missing { .. } => "missing",
                Problem::Extra { .. } => "extra",
                Problem::Damaged { .. } => "damaged",
            };
            (kind, p.name())
        })
        .collect()
}

#[test]
fn a_zip_bundle_round_trips_with_the_same_bytes_and_manifest_as_a_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let zip_path = dir.path().join("b.zip");
    let sealed = write_bundle_zip(&zip_path, &files()).expect("write zip");
    assert_eq!(sealed.files, 4);
    let v = verify_bundle(&zip_path).expect("verify");
    assert!(v.is_intact(), "{:?}", v.problems);
    assert_eq!((v.files, &v.manifest_sha256), (4, &sealed.manifest_sha256));

    // The directory form of the same files seals the same manifest, byte for byte.
    let as_dir = dir.path().join("b");
    let dir_sealed = write_bundle(&as_dir, &files()).expect("write dir");
    assert_eq!(dir_sealed.manifest_sha256, sealed.manifest_sha256);
    let bytes = fs::read(&zip_path).expect("read zip");
    let entries = entries_of(&bytes);
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "captures/esme-1/M1.attempt-1.traffic.hex",
            "report.html",
            "report.md",
            "steps/esme-1/M1.attempt-1.steps.txt",
            MANIFEST,
        ]
    );
    for (name, content) in &entries {
        assert_eq!(
            &fs::read(as_dir.join(name)).expect("dir file"),
            content,
            "{name}"
        );
    }

    // Deterministic: the same content (given in any order) gives the same bytes, at any time.
    let mut reversed = files();
    reversed.reverse();
    let (again, _) = zip_bundle_bytes(&reversed).expect("again");
    assert_eq!(again, bytes);
    let mut archive = ZipArchive::new(Cursor::new(bytes.as_slice())).expect("zip");
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).expect("entry");
        assert_eq!(entry.compression(), CompressionMethod::Deflated);
        let t = entry.last_modified().expect("a timestamp");
        assert_eq!((t.year(), t.month(), t.day(), t.hour()), (1980, 1, 1, 0));
    }

    assert!(matches!(
        write_bundle_zip(&zip_path, &files()),
        Err(BundleError::Exists { .. })
    ));
}

#[test]
fn an_entry_rewritten_in_the_zip_is_named() {
    let (bytes, _) = zip_bundle_bytes(&files()).expect("zip");
    let target = "steps/esme-1/M1.attempt-1.steps.txt";
    let mut entries = entries_of(&bytes);
    let slot = entries
        .iter_mut()
        .find(|(n, _)| n == target)
        .expect("target");
    slot.1[3] ^= 0x01;
    let v = verify_zip_bytes(Path::new("t.zip"), &zip_of(&entries)).expect("verify");
    assert_eq!(kinds(&v.problems), [("changed", target)]);
    assert!(
        v.problems[0]
            .to_string()
            .starts_with(&format!("{target} changed"))
    );
}

#[test]
fn a_byte_flipped_inside_an_entrys_compressed_data_names_that_entry() {
    let (mut bytes, _) = zip_bundle_bytes(&files()).expect("zip");
    let target = "captures/esme-1/M1.attempt-1.traffic.hex";
    let (start, len) = {
        let mut archive = ZipArchive::new(Cursor::new(bytes.as_slice())).expect("zip");
        let entry = archive.by_name(target).expect("target");
        (
            usize::try_from(entry.data_start().expect("data start")).expect("offset"),
            usize::try_from(entry.compressed_size()).expect("size"),
        )
    };
    bytes[start + len / 2] ^= 0x10;
    let v = verify_zip_bytes(Path::new("t.zip"), &bytes).expect("verify");
    assert_eq!(v.problems.len(), 1, "{:?}", v.problems);
    assert_eq!(v.problems[0].name(), target);
    assert!(
        matches!(
            v.problems[0],
            Problem::Damaged { .. } | Problem::Changed { .. }
        ),
        "{:?}",
        v.problems
    );
    assert!(
        v.problems[0]
            .to_string()
            .starts_with(&format!("{target} changed"))
    );
}

#[test]
fn missing_and_extra_entries_are_named_in_manifest_order() {
    let (bytes, _) = zip_bundle_bytes(&files()).expect("zip");
    let mut entries = entries_of(&bytes);
    entries.retain(|(n, _)| n != "report.html");
    entries.push(("steps/esme-1/planted.txt".to_string(), b"x".to_vec()));
    // A directory entry carries no content and is no problem.
    entries.push(("steps/".to_string(), Vec::new()));
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default();
    for (name, content) in &entries {
        if let Some(dir) = name.strip_suffix('/') {
            zip.add_directory(dir, options).expect("dir");
        } else {
            zip.start_file(name.as_str(), options).expect("start");
            zip.write_all(content).expect("write");
        }
    }
    // A symlink is not a regular file, whatever it points at: extra.
    zip.add_symlink("steps/link", "../report.md", options)
        .expect("symlink");
    let tampered = zip.finish().expect("finish").into_inner();
    let v = verify_zip_bytes(Path::new("t.zip"), &tampered).expect("verify");
    assert_eq!(
        kinds(&v.problems),
        [
            ("missing", "report.html"),
            ("extra", "steps/esme-1/planted.txt"),
            ("extra", "steps/link")
        ]
    );
}

#[test]
fn entries_that_could_leave_the_bundle_are_refused_naming_bundle_and_entry() {
    let (bytes, _) = zip_bundle_bytes(&files()).expect("zip");
    for bad in [
        "../escape.txt",
        "steps/../../escape.txt",
        "/etc/passwd",
        "a\\..\\b",
        "a//b",
    ] {
        let mut entries = entries_of(&bytes);
        entries.insert(0, (bad.to_string(), b"x".to_vec()));
        let err = verify_zip_bytes(Path::new("evil.zip"), &zip_of(&entries))
            .expect_err("a traversal entry is refused");
        match &err {
            BundleError::ZipEntry { bundle, entry, .. } => {
                assert_eq!(
                    (bundle.as_path(), entry.as_str()),
                    (Path::new("evil.zip"), bad)
                );
            }
            other => panic!("{bad}: expected a refused entry, got {other:?}"),
        }
        let text = err.to_string();
        assert!(
            text.starts_with("evil.zip: entry")
                && text.contains(&format!("{bad:?}"))
                && text.contains("refused"),
            "{text}"
        );
    }
}

#[test]
fn an_entry_given_twice_is_refused_and_named() {
    let (bytes, _) = zip_bundle_bytes(&files()).expect("zip");
    let mut entries = entries_of(&bytes);
    entries.push(("report.mX".to_string(), b"# forged\n".to_vec()));
    let mut twice = zip_of(&entries);
    // Rename the second entry in its local header and in the central directory: same length,
    // and no CRC covers a name.
    let (from, to) = (b"report.mX".as_slice(), b"report.md".as_slice());
    let mut renamed = 0;
    for i in 0..twice.len() - from.len() {
        if &twice[i..i + from.len()] == from {
            twice[i..i + from.len()].copy_from_slice(to);
            renamed += 1;
        }
    }
    assert_eq!(renamed, 2);
    match verify_zip_bytes(Path::new("dup.zip"), &twice) {
        Err(BundleError::ZipEntry { entry, message, .. }) => {
            assert_eq!(entry, "report.md");
            assert!(message.contains("twice"), "{message}");
        }
        other => panic!("expected report.md refused as given twice, got {other:?}"),
    }
}

#[test]
fn not_a_zip_and_no_manifest_are_refused_naming_the_bundle() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("junk.zip");
    fs::write(&path, b"PK\x03\x04 this is not a zip").expect("junk");
    match verify_bundle(&path) {
        Err(e @ BundleError::Zip { .. }) => {
            assert!(
                e.to_string().starts_with(&path.display().to_string()),
                "{e}"
            )
        }
        other => panic!("expected a malformed zip error, got {other:?}"),
    }
    let (bytes, _) = zip_bundle_bytes(&files()).expect("zip");
    assert!(matches!(
        verify_zip_bytes(Path::new("cut.zip"), &bytes[..bytes.len() - 30]),
        Err(BundleError::Zip { .. })
    ));
    let mut entries = entries_of(&bytes);
    entries.retain(|(n, _)| n != MANIFEST);
    match verify_zip_bytes(Path::new("bare.zip"), &zip_of(&entries)) {
        Err(BundleError::ZipEntry { entry, .. }) => assert_eq!(entry, MANIFEST),
        other => panic!("expected the missing manifest named, got {other:?}"),
    }
}
