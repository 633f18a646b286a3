//! What a peer must have read, computed from the scenario ([`super::scenario`]) and the devices
//! document the emulator printed — never from the emulator's own code.

use serde_json::Value;

use super::scenario::{BAUD, HISTORY_DAYS, INITIAL_REGISTER, LLS_PASSWORD, LOAD_WATTS, START_UNIX};
use super::{CLIENT_MAX_PDU, Emulator, HDLC_MAX_INFO, Peer, PeerResult, Transport};

const HALF_HOUR_MS: i64 = 30 * 60 * 1000;
/// Blue Book unit 30: Wh.
const UNIT_WATT_HOUR: i64 = 30;

/// Milliseconds since the Unix epoch of `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`, as the scripts print.
pub fn unix_millis(text: &str) -> Option<i64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut date = date.split('-').map(str::parse::<i64>);
    let (year, month, day) = (date.next()?.ok()?, date.next()?.ok()?, date.next()?.ok()?);
    let (clock, fraction) = time.split_once('.').unwrap_or((time, "0"));
    let mut clock = clock.split(':').map(str::parse::<i64>);
    let (hour, minute, second) = (
        clock.next()?.ok()?,
        clock.next()?.ok()?,
        clock.next()?.ok()?,
    );
    let micros: i64 = format!("{fraction:0<6}").get(..6)?.parse().ok()?;
    // Days from civil (proleptic Gregorian), after H. Hinnant.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((((days * 24 + hour) * 60 + minute) * 60 + second) * 1000 + micros / 1000)
}

/// Commissioning: the scenario's history runs from here to its start.
fn commissioning_ms() -> i64 {
    (START_UNIX - HISTORY_DAYS * 86_400) * 1000
}

/// The import register (Wh) at `at_ms`, from the scenario's constant load.
fn register_at(at_ms: i64) -> u64 {
    let elapsed_ms = u64::try_from(at_ms - commissioning_ms()).unwrap();
    INITIAL_REGISTER + LOAD_WATTS * elapsed_ms / 3_600_000
}

/// The logical device name the devices document implies: its system title is the
/// three-letter manufacturer id, the device type letter and a serial number, which the name
/// spells out (`MLBE000000000001` for title `4d4c424500000001`).
pub fn expected_logical_device_name(device: &Value) -> String {
    let title = hex_bytes(device["system_title"].as_str().unwrap());
    assert_eq!(title.len(), 8, "system title of {device:#}");
    let prefix = String::from_utf8(title[..4].to_vec()).unwrap();
    let serial = u32::from_be_bytes(title[4..].try_into().unwrap());
    format!("{prefix}{serial:012}")
}

fn hex_bytes(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&text[at..at + 2], 16).unwrap())
        .collect()
}

impl PeerResult {
    fn context(&self, emulator: &Emulator) -> String {
        format!(
            "{} over {}\nresult: {:#}\npeer stderr:\n{}\nemulator log:\n{}",
            self.peer.name(),
            self.transport.name(),
            self.result,
            self.stderr,
            emulator.stderr()
        )
    }

    fn int(&self, key: &str) -> i64 {
        self.result[key]
            .as_i64()
            .unwrap_or_else(|| panic!("{key} is not an integer in {:#}", self.result))
    }

    /// Every check of one run; each names the peer and transport when it fails.
    pub fn assert_all(&self, emulator: &Emulator) {
        let context = self.context(emulator);
        assert!(
            self.result.get("error").is_none(),
            "the peer failed: {context}"
        );
        assert_eq!(self.result["associated"], true, "{context}");
        assert_eq!(self.result["released"], true, "{context}");
        self.assert_lls_was_checked(emulator, &context);
        self.assert_identity(emulator, &context);
        self.assert_clock(&context);
        self.assert_register(&context);
        self.assert_load_profile(&context);
        self.assert_disconnect(&context);
        if self.peer == Peer::Gurux {
            self.assert_association_object(emulator, &context);
        }
        if self.peer == Peer::Gurux && self.transport == Transport::Hdlc {
            self.assert_hdlc_negotiation(&context);
        }
    }

    fn assert_lls_was_checked(&self, emulator: &Emulator, context: &str) {
        let esme = emulator.device("peers.esme");
        let lls: Vec<&Value> = esme["client"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|client| client["authentication"] == "lls")
            .collect();
        assert_eq!(lls.len(), 1, "{esme:#}");
        assert_eq!(lls[0]["password"], LLS_PASSWORD, "{esme:#}");
        // Refused as the standard says, and decoded so by the peer: an AARE with result
        // rejected-permanent (1) and acse-service-user diagnostic authentication-failure (13).
        let refusal = &self.result["wrong_password_refused"];
        assert_eq!(
            (
                refusal["answer"].as_str(),
                refusal["result"].as_u64(),
                refusal["diagnostic"].as_u64()
            ),
            (Some("AARE"), Some(1), Some(13)),
            "a wrong LLS password was not refused with authentication-failure: {refusal}; {context}"
        );
    }

    fn assert_identity(&self, emulator: &Emulator, context: &str) {
        let esme = emulator.device("peers.esme");
        assert_eq!(
            self.result["logical_device_name"],
            expected_logical_device_name(esme),
            "{context}"
        );
        if self.transport == Transport::Hdlc {
            assert_eq!(esme["serial"]["baud"], BAUD, "{esme:#}");
        }
    }

    fn assert_clock(&self, context: &str) {
        let clock = unix_millis(self.result["clock"].as_str().unwrap_or(""))
            .unwrap_or_else(|| panic!("clock is not a UTC time: {context}"));
        let start = START_UNIX * 1000;
        let latest = start + i64::try_from(self.elapsed_since_start.as_millis()).unwrap() + 1000;
        assert!(
            (start..=latest).contains(&clock),
            "clock {clock} ms is outside the simulated time since the start [{start}, {latest}]: {context}"
        );
    }

    fn assert_register(&self, context: &str) {
        assert_eq!(self.int("register_scaler"), 0, "{context}");
        assert_eq!(self.int("register_unit"), UNIT_WATT_HOUR, "{context}");
        let value = u64::try_from(self.int("register_value")).unwrap();
        let start = START_UNIX * 1000;
        let latest = start + i64::try_from(self.elapsed_since_start.as_millis()).unwrap();
        let (low, high) = (register_at(start), register_at(latest) + 1);
        assert!(
            (low..=high).contains(&value),
            "import register {value} Wh is outside [{low}, {high}]: {context}"
        );
    }

    fn assert_load_profile(&self, context: &str) {
        let capture: Vec<(i64, String, i64, i64)> = self.result["capture_objects"]
            .as_array()
            .unwrap_or_else(|| panic!("no capture objects: {context}"))
            .iter()
            .map(|column| {
                (
                    column["class_id"].as_i64().unwrap(),
                    column["obis"].as_str().unwrap().to_owned(),
                    column["attribute"].as_i64().unwrap(),
                    column["data_index"].as_i64().unwrap(),
                )
            })
            .collect();
        let expected_capture = [
            (8, "0.0.1.0.0.255", 2, 0),
            (1, "0.0.96.10.1.255", 2, 0),
            (3, "1.0.1.8.0.255", 2, 0),
        ]
        .map(|(class, obis, attribute, index)| (class, obis.to_owned(), attribute, index));
        assert_eq!(capture, expected_capture, "{context}");

        // 07:00..09:00 BST is 06:00Z..08:00Z: five half-hour rows, both ends included.
        let first_ms = START_UNIX * 1000 - 3 * 2 * HALF_HOUR_MS;
        let expected_rows: Vec<(i64, i64, u64)> = (0..5)
            .map(|row| {
                let at = first_ms + row * HALF_HOUR_MS;
                (at, 0, register_at(at))
            })
            .collect();
        let rows: Vec<(i64, i64, u64)> = self.result["load_profile"]
            .as_array()
            .unwrap_or_else(|| panic!("no load profile: {context}"))
            .iter()
            .map(|row| {
                let row = row.as_array().unwrap();
                let at = unix_millis(row[0].as_str().unwrap()).unwrap();
                (at, row[1].as_i64().unwrap(), row[2].as_u64().unwrap())
            })
            .collect();
        for pair in rows.windows(2) {
            assert_eq!(
                pair[1].0 - pair[0].0,
                HALF_HOUR_MS,
                "load profile rows are not 30 min apart: {context}"
            );
        }
        assert_eq!(rows, expected_rows, "load profile by range: {context}");

        let entries = HISTORY_DAYS * 48;
        assert_eq!(
            self.int("load_profile_entries_in_use"),
            entries,
            "{context}"
        );
        assert_eq!(self.int("load_profile_rows"), entries, "{context}");
        // The whole buffer (~1 KiB) exceeds the client's max PDU: the meter must use blocks.
        assert!(
            self.int("get_blocks") >= 1,
            "the whole load profile came without GET block transfer despite a {CLIENT_MAX_PDU}-byte client PDU: {context}"
        );
    }

    fn assert_disconnect(&self, context: &str) {
        // ESME control mode 1: remote_disconnect opens the contactor (disconnected, 0);
        // remote_reconnect closes it directly (connected, 1).
        let expected = serde_json::json!([[true, 1], [false, 0], [true, 1]]);
        assert_eq!(
            self.result["disconnect_states"], expected,
            "output_state/control_state before, after remote_disconnect, after remote_reconnect: {context}"
        );
    }

    /// Gurux reads the current Association LN as a head-end does after connecting.
    fn assert_association_object(&self, emulator: &Emulator, context: &str) {
        let esme = emulator.device("peers.esme");
        let (client_sap, server_sap) = match self.transport {
            Transport::Tcp => (1, esme["tcp"]["wport"].as_i64().unwrap()),
            Transport::Hdlc => (1, esme["serial"]["logical_address"].as_i64().unwrap()),
        };
        assert!(self.int("negotiated_conformance") > 0, "{context}");
        assert!(self.int("server_max_pdu") >= 64, "{context}");
        let expected = serde_json::json!({
            "client_sap": client_sap,
            "server_sap": server_sap,
            // logical_name_referencing_no_ciphering; mechanism 1: low level security
            "context_id": 1,
            "mechanism_id": 1,
            // associated
            "status": 2,
            "security_setup": "0.0.43.0.0.255",
            // xDLMS_context_info must repeat what the AARQ/AARE negotiated.
            "conformance": self.result["negotiated_conformance"],
            "max_receive_pdu": self.result["server_max_pdu"],
            "max_send_pdu": CLIENT_MAX_PDU,
            "dlms_version": 6,
        });
        assert_eq!(self.result["association"], expected, "{context}");
    }

    fn assert_hdlc_negotiation(&self, context: &str) {
        for key in ["hdlc_max_info_tx", "hdlc_max_info_rx"] {
            assert_eq!(
                self.int(key),
                HDLC_MAX_INFO,
                "{key}: the UA must accept the client's smaller proposal: {context}"
            );
        }
        for key in ["hdlc_window_tx", "hdlc_window_rx"] {
            assert_eq!(self.int(key), 1, "{key}: {context}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::unix_millis;

    #[test]
    fn reads_the_scripts_utc_times() {
        assert_eq!(
            unix_millis("2026-06-15T09:00:00.000000Z"),
            Some(super::START_UNIX * 1000)
        );
        assert_eq!(unix_millis("1970-01-01T00:00:01.250000Z"), Some(1250));
        assert_eq!(unix_millis("2026-06-15T09:00:00"), None);
    }
}
