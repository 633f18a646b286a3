//! DUIS import on requests written from the DUIS structure: every vocabulary SRV maps onto a
//! step, requests outside the vocabulary are reported with their SRV and the reason, and the
//! generated case file loads as it is.

use meterlab_catalog::duis::{self, Mapping};
use meterlab_catalog::{Catalog, ParamValue, Srv, Value};

fn request(variant: &str, reference: &str, body: &str) -> String {
    format!(
        r#"<sr:Request xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway" schemaVersion="5.1">
  <sr:Header>
    <sr:RequestID>90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A3:{variant}</sr:RequestID>
    <sr:CommandVariant>1</sr:CommandVariant>
    <sr:ServiceReference>{reference}</sr:ServiceReference>
    <sr:ServiceReferenceVariant>{variant}</sr:ServiceReferenceVariant>
  </sr:Header>
  <sr:Body>{body}</sr:Body>
</sr:Request>"#
    )
}

/// A test pack: several requests under one wrapper element, in another prefix to show names
/// are resolved by namespace, not by prefix.
fn pack(requests: &[String]) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<pack>\n{}\n</pack>\n",
        requests.join("\n")
    )
}

fn vocabulary_requests() -> Vec<String> {
    vec![
        request("4.1.1", "4.1", "<sr:ReadInstantaneousImportRegisters/>"),
        request(
            "4.6.1",
            "4.6",
            "<sr:RetrieveDailyReadLog><sr:ReadLogPeriod><sr:StartDateTime>2026-12-01T00:00:00Z</sr:StartDateTime><sr:EndDateTime>2026-12-03T00:00:00.00Z</sr:EndDateTime></sr:ReadLogPeriod></sr:RetrieveDailyReadLog>",
        ),
        request(
            "4.8.1",
            "4.8",
            "<sr:ReadProfileData><sr:ReadLogPeriod><sr:StartDateTime>2026-12-05T00:00:00Z</sr:StartDateTime><sr:EndDateTime>2026-12-06T00:00:00Z</sr:EndDateTime></sr:ReadLogPeriod></sr:ReadProfileData>",
        ),
        request("6.2.7", "6.2", "<sr:ReadDeviceConfigurationMPxN/>"),
        request("6.11", "6.11", "<sr:SynchroniseClock/>"),
        request(
            "6.13",
            "6.13",
            "<sr:ReadEventOrSecurityLog><sr:ReadLogPeriod><sr:StartDateTime>2026-12-01T00:00:00Z</sr:StartDateTime><sr:EndDateTime>2026-12-02T00:00:00Z</sr:EndDateTime></sr:ReadLogPeriod><sr:LogToRead>Security</sr:LogToRead></sr:ReadEventOrSecurityLog>",
        ),
        request("7.1", "7.1", "<sr:EnableSupply/>"),
        request("7.2", "7.2", "<sr:DisableSupply></sr:DisableSupply>"),
        request("7.3", "7.3", "<sr:ArmSupply/>"),
        request("7.4", "7.4", "<sr:ReadSupplyStatus/>"),
        request("8.1.1", "8.1", "<sr:CommissionDevice/>"),
        request(
            "11.1",
            "11.1",
            "<sr:UpdateFirmware><sr:FirmwareImage>AAECAw==</sr:FirmwareImage><sr:FirmwareVersion>2.1.0</sr:FirmwareVersion><sr:DeviceIDList>00-DB-12-34-56-78-90-A0</sr:DeviceIDList></sr:UpdateFirmware>",
        ),
        request("11.2", "11.2", "<sr:ReadFirmwareVersion/>"),
        request(
            "11.3",
            "11.3",
            "<sr:ActivateFirmware><sr:FirmwareHash>AA758690730934FF</sr:FirmwareHash></sr:ActivateFirmware>",
        ),
    ]
}

#[test]
fn every_vocabulary_srv_but_key_replacement_maps_onto_a_step() {
    let imported = duis::import("pack.xml", &pack(&vocabulary_requests())).expect("well-formed");
    let mapped: Vec<Srv> = imported.mapped().map(|step| step.srv).collect();
    assert_eq!(mapped.len(), 14, "{imported:#?}");
    assert_eq!(imported.unmapped().count(), 0);
    assert_eq!(mapped[0], Srv::Srv411ReadInstantaneousImportRegisters);
    assert_eq!(mapped[13], Srv::Srv113ActivateFirmware);
}

#[test]
fn the_generated_case_file_loads_and_carries_the_request_parameters() {
    let imported = duis::import("RTDS pack.xml", &pack(&vocabulary_requests())).expect("ok");
    let text = imported.to_case_file();
    let catalog = Catalog::parse_str("imported.toml", &text)
        .unwrap_or_else(|errors| panic!("{errors}\n---\n{text}"));
    assert_eq!(catalog.len(), 14);
    let daily = catalog.get("DUIS-RTDS-pack-002").expect("second request");
    assert_eq!(daily.steps[0].srv, Srv::Srv461RetrieveImportDailyReadLog);
    let value = |case: &meterlab_catalog::Case, name: &str| {
        case.steps[0]
            .params
            .iter()
            .find(|param| param.name == name)
            .map(|param| param.value.clone())
    };
    let literal = |value: Option<ParamValue>| match value {
        Some(ParamValue::Value(meterlab_catalog::Operand::Literal(value))) => value,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        literal(value(daily, "from_ms")),
        Value::Int(1_796_083_200_000)
    );
    assert_eq!(
        literal(value(daily, "to_ms")),
        Value::Int(1_796_256_000_000)
    );
    let log = catalog.get("DUIS-RTDS-pack-006").expect("6.13");
    assert_eq!(
        literal(value(log, "log")),
        Value::Enum("security".to_owned())
    );
    assert!(
        daily
            .title
            .contains("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A3:4.6.1")
    );
}

#[test]
fn requests_outside_the_vocabulary_say_which_srv_and_why() {
    let requests = vec![
        request("1.1.1", "1.1", "<sr:UpdateImportTariffPrimaryElement/>"),
        request("6.15.1", "6.15", "<sr:UpdateSecurityCredentials/>"),
        request("7.2", "7.2", "<sr:EnableSupply/>"),
        request("4.6.1", "4.6", "<sr:RetrieveDailyReadLog><sr:ReadLogPeriod><sr:StartDateTime>2026-12-03T00:00:00Z</sr:StartDateTime><sr:EndDateTime>2026-12-01T00:00:00Z</sr:EndDateTime></sr:ReadLogPeriod></sr:RetrieveDailyReadLog>"),
        request("4.6.1", "4.6", "<sr:RetrieveDailyReadLog><sr:ReadLogPeriod><sr:StartDateTime>yesterday</sr:StartDateTime><sr:EndDateTime>2026-12-01T00:00:00Z</sr:EndDateTime></sr:ReadLogPeriod></sr:RetrieveDailyReadLog>"),
        request("7.4", "7.4", ""),
        "<sr:Request xmlns:sr=\"http://www.dccinterface.co.uk/ServiceUserGateway\"><sr:Body><sr:DisableSupply/></sr:Body></sr:Request>".to_owned(),
        request("7.1", "7.1", "<sr:EnableSupply/>"),
    ];
    let imported = duis::import("mixed.xml", &pack(&requests)).expect("well-formed");
    let outcomes: Vec<(String, String)> = imported
        .requests
        .iter()
        .map(|mapping| match mapping {
            Mapping::Mapped(step) => (step.srv.number().to_owned(), "mapped".to_owned()),
            Mapping::Unmapped(unmapped) => (unmapped.srv.clone(), unmapped.reason.clone()),
        })
        .collect();
    let expect = [
        ("1.1.1", "not in the adapter vocabulary"),
        ("6.15.1", "replaces certificates"),
        (
            "7.2",
            "is carried by <sr:DisableSupply>, not <sr:EnableSupply>",
        ),
        ("4.6.1", "the range starts after it ends"),
        ("4.6.1", "\"yesterday\" is not a date-time"),
        ("7.4", "exactly one body element in sr:Body, found 0"),
        ("?", "the request has no sr:Header"),
        ("7.1", "mapped"),
    ];
    assert_eq!(outcomes.len(), expect.len());
    for ((srv, reason), (expected_srv, expected_reason)) in outcomes.iter().zip(expect) {
        assert_eq!(srv, expected_srv);
        assert!(reason.contains(expected_reason), "{srv}: {reason}");
    }
    // The unmapped ones are listed in the generated file, which still loads.
    let text = imported.to_case_file();
    assert_eq!(text.matches("# not imported:").count(), 7);
    assert_eq!(
        Catalog::parse_str("mixed.toml", &text).map(|c| c.len()),
        Ok(1)
    );
}

#[test]
fn elements_in_another_namespace_are_not_duis() {
    let foreign = request("7.2", "7.2", "<sr:DisableSupply/>").replace(
        "http://www.dccinterface.co.uk/ServiceUserGateway",
        "urn:other",
    );
    let error = duis::import("foreign.xml", &foreign).expect_err("no DUIS request");
    assert!(error.message.contains("no sr:Request element"), "{error}");
    // Another prefix bound to the DUIS namespace is the same element.
    let other_prefix = request("7.2", "7.2", "<sr:DisableSupply/>")
        .replace("sr:", "d:")
        .replace("xmlns:sr", "xmlns:d");
    let imported = duis::import("prefix.xml", &other_prefix).expect("ok");
    assert_eq!(imported.mapped().count(), 1);
}

#[test]
fn malformed_xml_is_an_error_with_its_location() {
    let cases = [
        (
            "<sr:Request xmlns:sr=\"x\">\n  <sr:Header>\n</sr:Request>",
            "bad.xml:3:1: not well-formed XML",
        ),
        ("<a>\n<b:c/>\n</a>", "namespace prefix"),
        ("", "no root element"),
        ("<a/><b/>", "a second root element"),
        ("<a>\n<b>\n", "never closed"),
        ("<a>&bogus;</a>", "unknown entity"),
    ];
    for (xml, expected) in cases {
        let error = duis::import("bad.xml", xml).expect_err(xml);
        let text = error.to_string();
        assert!(text.starts_with("bad.xml:"), "{text}");
        assert!(text.contains(expected), "{xml:?}: {text}");
    }
}

proptest::proptest! {
    /// Whatever a request's header holds, the generated case file loads.
    #[test]
    fn the_case_file_loads_whatever_the_header_holds(
        request_id in "\\PC*",
        variant in proptest::sample::select(vec!["7.2", "4.1.1", "1.1.1", "6.15.1", "", "7.2\n"]),
        version in "\\PC{0,12}",
    ) {
        let escape = |text: &str| text.replace('&', "&amp;").replace('<', "&lt;");
        let body = format!(
            "<sr:DisableSupply/><sr:UpdateFirmware><sr:FirmwareVersion>{}</sr:FirmwareVersion></sr:UpdateFirmware>",
            escape(&version)
        );
        let xml = request(&escape(variant), "x", &body)
            .replace("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A3:", &escape(&request_id));
        if let Ok(imported) = duis::import("p\n\"q.xml", &xml) {
            let text = imported.to_case_file();
            proptest::prop_assert!(Catalog::parse_str("out.toml", &text).is_ok(), "{}", text);
        }
    }
}
