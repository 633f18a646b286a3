//! Writing a description back as TOML that [`crate::parse`] reads to an equal description.

use std::fmt::Write as _;

use crate::model::{CosemObject, DmcDescription, FORMAT_VERSION, VariationKind};

fn quoted(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

impl DmcDescription {
    /// The description as format-1 TOML (no comments).
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail; the results are ignored on purpose.
        let _ = writeln!(out, "format = {FORMAT_VERSION}");
        let _ = writeln!(out, "id = {}", quoted(&self.id));
        let _ = writeln!(out, "title = {}", quoted(&self.title));
        let _ = writeln!(out, "smso = {}", quoted(&self.smso));
        let dlms = &self.dlms;
        let _ = writeln!(out, "\n[dlms]");
        let _ = writeln!(out, "security_suite = {}", dlms.security_suite);
        let _ = writeln!(out, "public_client_sap = {}", dlms.public_client_sap);
        let _ = writeln!(
            out,
            "management_client_sap = {}",
            dlms.management_client_sap
        );
        let _ = writeln!(out, "hls_client_sap = {}", dlms.hls_client_sap);
        let _ = writeln!(out, "hdlc_address_size = {}", dlms.hdlc_address_size);
        let _ = writeln!(out, "max_pdu_size = {}", dlms.max_pdu_size);
        for device in &self.devices {
            let name = device.device_type.as_str();
            let _ = writeln!(out, "\n[{name}]");
            let _ = writeln!(out, "model = {}", quoted(&device.model));
            let _ = writeln!(out, "firmware = {}", quoted(&device.firmware));
            if let Some(dormant) = &device.dormant_firmware {
                let _ = writeln!(out, "dormant_firmware = {}", quoted(dormant));
            }
            let _ = writeln!(out, "logical_address = {}", device.logical_address);
            for object in &device.objects {
                render_object(&mut out, name, object);
            }
        }
        for support in &self.srvs {
            let devices: Vec<String> = support
                .devices
                .iter()
                .map(|device| quoted(device.as_str()))
                .collect();
            let _ = writeln!(out, "\n[[srv]]");
            let _ = writeln!(out, "srv = {}", quoted(support.srv.number()));
            let _ = writeln!(out, "devices = [{}]", devices.join(", "));
        }
        for variation in &self.variations {
            let _ = writeln!(out, "\n[[variation]]");
            if let Some(srv) = variation.srv {
                let _ = writeln!(out, "srv = {}", quoted(srv.number()));
            }
            let _ = writeln!(out, "device = {}", quoted(variation.device.as_str()));
            let _ = writeln!(out, "object = {}", quoted(variation.object.name()));
            let _ = writeln!(out, "kind = {}", quoted(variation.kind.name()));
            match variation.kind {
                VariationKind::Relocated(obis) => {
                    let _ = writeln!(out, "obis = \"{obis}\"");
                }
                VariationKind::UnsupportedMethod(method) => {
                    let _ = writeln!(out, "method = {method}");
                }
                VariationKind::Unsupported => {}
            }
            if let Some(note) = &variation.note {
                let _ = writeln!(out, "note = {}", quoted(note));
            }
        }
        if let Some(optical) = &self.optical {
            let srvs: Vec<String> = optical
                .srvs
                .iter()
                .map(|srv| quoted(srv.number()))
                .collect();
            let _ = writeln!(out, "\n[optical]");
            let _ = writeln!(out, "device = {}", quoted(optical.device.as_str()));
            let _ = writeln!(out, "manufacturer = {}", quoted(&optical.manufacturer));
            let _ = writeln!(out, "max_baud = {}", optical.max_baud);
            let _ = writeln!(out, "programming = {}", optical.programming);
            let _ = writeln!(out, "srvs = [{}]", srvs.join(", "));
        }
        out
    }
}

fn render_object(out: &mut String, device: &str, object: &CosemObject) {
    let _ = writeln!(out, "\n[[{device}.object]]");
    let _ = writeln!(out, "role = \"{}\"", object.role.name());
    let _ = writeln!(out, "class = {}", object.class_id);
    let _ = writeln!(out, "version = {}", object.version);
    let _ = writeln!(out, "obis = \"{}\"", object.obis);
    if object.public {
        let _ = writeln!(out, "public = true");
    }
    if let Some(scaler) = object.scaler {
        let _ = writeln!(out, "scaler = {scaler}");
    }
    if let Some(unit) = object.unit {
        let _ = writeln!(out, "unit = {unit}");
    }
    if !object.unsupported_methods.is_empty() {
        let methods: Vec<String> = object
            .unsupported_methods
            .iter()
            .map(i8::to_string)
            .collect();
        let _ = writeln!(out, "unsupported_methods = [{}]", methods.join(", "));
    }
}
