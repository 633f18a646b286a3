//! Bad descriptions: each problem is named with `file:line:column` and its field, and every
//! problem of a file is reported at once.

use meterlab_dmc::{DmcDescription, DmcError};

const VALID: &str = r#"format = 1
id = "test-dmc"
title = "Test DMC"
smso = "smso-test"

[dlms]
security_suite = 0
public_client_sap = 16
management_client_sap = 1
hls_client_sap = 48
hdlc_address_size = 4
max_pdu_size = 1024

[esme]
model = "E1"
firmware = "1.0"
logical_address = 2

[[esme.object]]
role = "clock"
class = 8
version = 0
obis = "0.0.1.0.0.255"
public = true

[[esme.object]]
role = "import_register"
class = 3
version = 0
obis = "1.0.1.8.0.255"
scaler = 0
unit = 30

[[esme.object]]
role = "disconnect_control"
class = 70
version = 0
obis = "0.0.96.3.10.255"
unsupported_methods = [2]

[[srv]]
srv = "4.1.1"
devices = ["esme"]

[[variation]]
device = "esme"
object = "disconnect_control"
kind = "unsupported-method"
method = 2
"#;

fn replaced(from: &str, to: &str) -> String {
    assert!(VALID.contains(from), "fixture lacks {from:?}");
    VALID.replacen(from, to, 1)
}

/// The line and column of the `|` in `marked`, a text that occurs once in `text` (without
/// the `|`).
fn line_col_of(text: &str, marked: &str) -> (usize, usize) {
    let bar = marked.find('|').unwrap_or(0);
    let needle = marked.replacen('|', "", 1);
    assert_eq!(text.matches(&needle).count(), 1, "{needle:?} is not unique");
    let offset = text.find(&needle).expect("needle in text") + bar;
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |n| n + 1) + 1;
    (line, column)
}

#[test]
fn the_fixture_is_valid() {
    let dmc = DmcDescription::parse("t.toml", VALID).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(dmc.id, "test-dmc");
    assert_eq!(dmc.variations.len(), 1);
}

/// (what is replaced, by what, expected field, text the error points at, message fragment)
const CASES: &[(&str, &str, &str, &str, &str)] = &[
    (
        "format = 1",
        "format = 2",
        "format",
        "format = |2",
        "format 2 is not supported",
    ),
    (
        "id = \"test-dmc\"",
        "id = \"a b\"",
        "id",
        "id = |\"a b\"",
        "path separators",
    ),
    (
        "title = \"Test DMC\"",
        "title = \" \"",
        "title",
        "title = |\" \"",
        "must not be empty",
    ),
    (
        "security_suite = 0",
        "security_suite = 1",
        "dlms.security_suite",
        "security_suite = |1",
        "out of range",
    ),
    (
        "public_client_sap = 16",
        "public_client_sap = 0",
        "dlms.public_client_sap",
        "public_client_sap = |0",
        "out of range",
    ),
    (
        "hls_client_sap = 48",
        "hls_client_sap = 1",
        "dlms.hls_client_sap",
        "hls_client_sap = |1",
        "already dlms.management_client_sap",
    ),
    (
        "hdlc_address_size = 4",
        "hdlc_address_size = 3",
        "dlms.hdlc_address_size",
        "hdlc_address_size = |3",
        "not 3",
    ),
    (
        "max_pdu_size = 1024",
        "max_pdu_size = 70000",
        "dlms.max_pdu_size",
        "max_pdu_size = |70000",
        "out of range",
    ),
    (
        "logical_address = 2",
        "logical_address = 0",
        "esme.logical_address",
        "logical_address = |0",
        "out of range",
    ),
    (
        "role = \"clock\"",
        "role = \"clocks\"",
        "esme.object[0].role",
        "role = |\"clocks\"",
        "unknown object role",
    ),
    (
        "class = 8",
        "class = 7",
        "esme.object[0].class",
        "class = |7\n",
        "interface class 8, not 7",
    ),
    (
        "obis = \"0.0.1.0.0.255\"",
        "obis = \"0.0.1.0.0\"",
        "esme.object[0].obis",
        "obis = |\"0.0.1.0.0\"",
        "six dot-separated groups",
    ),
    (
        "obis = \"0.0.1.0.0.255\"",
        "obis = \"1.0.1.8.0.255\"",
        "esme.object[1].obis",
        "version = 0\nobis = |\"1.0.1.8.0.255\"\nscaler",
        "already the clock object",
    ),
    (
        "public = true",
        "public = true\nscaler = 1",
        "esme.object[0].scaler",
        "scaler = |1",
        "only registers have a scaler",
    ),
    (
        "scaler = 0\n",
        "",
        "esme.object[1]",
        "role = |\"import_register\"",
        "needs both scaler and unit",
    ),
    (
        "unit = 30",
        "unit = 300",
        "esme.object[1].unit",
        "unit = |300",
        "out of range",
    ),
    (
        "unsupported_methods = [2]",
        "unsupported_methods = [2, 2]",
        "esme.object[2].unsupported_methods[1]",
        "[2, |2]",
        "listed twice",
    ),
    (
        "unsupported_methods = [2]\n",
        "unsupported_methods = [2]\n\n[[esme.object]]\nrole = \"image_activation_schedule\"\nclass = 9\nversion = 0\nobis = \"0.0.15.0.2.255\"\n",
        "esme.object[3].class",
        "class = |9\n",
        "interface class 22, not 9",
    ),
    (
        "unsupported_methods = [2]\n",
        "unsupported_methods = [2]\n\n[[esme.object]]\nrole = \"image_activation_schedule\"\nclass = 22\nversion = 0\nobis = \"0.0.15.0.2.255\"\n",
        "esme.object[3].role",
        "role = |\"image_activation_schedule\"",
        "needs an image_transfer object on the same device",
    ),
    (
        "srv = \"4.1.1\"",
        "srv = \"4.1.9\"",
        "srv[0].srv",
        "srv = |\"4.1.9\"",
        "unknown SRV",
    ),
    (
        "devices = [\"esme\"]",
        "devices = [\"gsme\"]",
        "srv[0].devices[0]",
        "devices = [|\"gsme\"]",
        "no [gsme] table",
    ),
    (
        "devices = [\"esme\"]",
        "devices = [\"meter\"]",
        "srv[0].devices[0]",
        "devices = [|\"meter\"]",
        "unknown device type",
    ),
    (
        "devices = [\"esme\"]",
        "devices = []",
        "srv[0].devices",
        "devices = |[]",
        "lists no device type",
    ),
    (
        "srv = \"4.1.1\"",
        "srv = \"6.2.7\"",
        "srv[0].devices[0]",
        "devices = [|\"esme\"]",
        "needs the mpxn object",
    ),
    (
        "srv = \"4.1.1\"",
        "srv = \"7.1\"",
        "srv[0].devices[0]",
        "devices = [|\"esme\"]",
        "invokes disconnect_control method 2",
    ),
    (
        "kind = \"unsupported-method\"",
        "kind = \"missing\"",
        "variation[0].kind",
        "kind = |\"missing\"",
        "unknown kind",
    ),
    (
        "method = 2",
        "method = 1",
        "variation[0].method",
        "method = |1",
        "not in esme disconnect_control's unsupported_methods",
    ),
    (
        "kind = \"unsupported-method\"\nmethod = 2",
        "kind = \"unsupported\"",
        "variation[0].object",
        "object = |\"disconnect_control\"",
        "so it is not unsupported",
    ),
    (
        "kind = \"unsupported-method\"\nmethod = 2",
        "kind = \"relocated\"\nobis = \"0.0.96.3.11.255\"",
        "variation[0].obis",
        "obis = |\"0.0.96.3.11.255\"",
        "not 0.0.96.3.11.255",
    ),
    (
        "kind = \"unsupported-method\"\nmethod = 2",
        "kind = \"relocated\"",
        "variation[0].obis",
        "kind = |\"relocated\"",
        "needs the obis",
    ),
    (
        "kind = \"unsupported-method\"\nmethod = 2",
        "kind = \"unsupported\"\nmethod = 2",
        "variation[0].method",
        "method = |2",
        "has no method",
    ),
];

#[test]
fn each_invalid_value_is_named_with_its_field_and_position() {
    for (from, to, field, at, fragment) in CASES {
        let text = replaced(from, to);
        let errors = DmcDescription::parse("dmc.toml", &text)
            .expect_err(&format!("{from:?} -> {to:?} must be refused"));
        let error = errors
            .errors()
            .iter()
            .find(|error| error.field() == Some(field))
            .unwrap_or_else(|| panic!("{to:?}: no error on {field}, got:\n{errors}"));
        let (line, column) = line_col_of(&text, at);
        let location = error.location().expect("a content error has a location");
        assert_eq!(
            (location.line, location.column),
            (line, column),
            "{to:?}: {error}"
        );
        let shown = error.to_string();
        assert!(shown.contains(fragment), "{to:?}: {shown}");
        assert!(
            shown.starts_with(&format!("dmc.toml:{line}:{column}: {field}: ")),
            "{shown}"
        );
    }
}

#[test]
fn syntax_errors_unknown_keys_and_missing_fields_name_the_position() {
    for (from, to, at, fragment) in [
        (
            "public = true",
            "public = true\ncolour = 1",
            "|colour",
            "unknown field `colour`",
        ),
        (
            "title = \"Test DMC\"\n",
            "",
            "|format",
            "missing field `title`",
        ),
        (
            "class = 8",
            "class = \"eight\"",
            "|\"eight\"",
            "invalid type",
        ),
        ("[dlms]", "[dlms", "[dlms|\n", ""),
    ] {
        let text = replaced(from, to);
        let errors = DmcDescription::parse("dmc.toml", &text).expect_err(to);
        assert_eq!(errors.len(), 1);
        let error = &errors.errors()[0];
        assert!(matches!(error, DmcError::Syntax { .. }), "{error}");
        assert!(error.to_string().contains(fragment), "{error}");
        let location = error.location().expect("located");
        let (line, _) = line_col_of(&text, at);
        assert_eq!(location.line, line, "{to:?}: {error}");
    }
}

#[test]
fn every_problem_of_a_file_is_reported_at_once() {
    let text = VALID
        .replacen("format = 1", "format = 9", 1)
        .replacen("class = 8", "class = 1", 1)
        .replacen("srv = \"4.1.1\"", "srv = \"99\"", 1)
        .replacen("method = 2", "method = 3", 1);
    let errors = DmcDescription::parse("dmc.toml", &text).expect_err("four problems");
    let fields: Vec<&str> = errors.errors().iter().filter_map(DmcError::field).collect();
    assert_eq!(
        fields,
        [
            "format",
            "esme.object[0].class",
            "srv[0].srv",
            "variation[0].method"
        ],
        "{errors}"
    );
    assert_eq!(errors.to_string().lines().count(), 4);
}

#[test]
fn a_description_without_devices_is_refused() {
    let cut = VALID.find("[esme]").expect("esme table");
    let text = &VALID[..cut];
    let errors = DmcDescription::parse("dmc.toml", text).expect_err("no devices");
    assert!(
        errors.to_string().contains("describes no device"),
        "{errors}"
    );
}

#[test]
fn an_image_activation_schedule_beside_an_image_transfer_is_the_schedule_role() {
    let text = replaced(
        "unsupported_methods = [2]\n",
        "unsupported_methods = [2]\n\n[[esme.object]]\nrole = \"image_transfer\"\nclass = 18\nversion = 0\nobis = \"0.0.44.0.0.255\"\n\n[[esme.object]]\nrole = \"image_activation_schedule\"\nclass = 22\nversion = 0\nobis = \"0.0.15.0.2.255\"\n",
    );
    let dmc = DmcDescription::parse("t.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    let schedule = dmc
        .object(
            meterlab_dmc::DeviceRole::Esme,
            meterlab_dmc::ObjectRole::ImageActivationSchedule,
        )
        .expect("the schedule is an esme object");
    assert_eq!(schedule.class_id, 22);
    assert_eq!(schedule.obis.to_string(), "0.0.15.0.2.255");
    let rendered = dmc.to_toml();
    assert!(rendered.contains("image_activation_schedule"), "{rendered}");
    assert_eq!(
        DmcDescription::parse("t.toml", &rendered).as_ref().ok(),
        Some(&dmc)
    );
}
