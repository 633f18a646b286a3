//! A server association fed arbitrary APDUs (split on a length prefix) never panics, whether or
//! not an association has been established first.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meterlab_dlms::apdu::DataAccessResult;
use meterlab_dlms::association::{
    CosemObjectModel, RequestContext, ServerAssociation, ServerConfig,
};
use meterlab_dlms::axdr::Data;
use meterlab_dlms::cosem::{AttributeDescriptor, MethodDescriptor, SelectiveAccess};

struct Model;

impl CosemObjectModel for Model {
    fn get(
        &mut self,
        _: &RequestContext,
        a: &AttributeDescriptor,
        _: Option<&SelectiveAccess>,
    ) -> Result<Data, DataAccessResult> {
        // Large enough to exercise block transfer with small client PDU sizes.
        Ok(Data::OctetString(vec![a.attribute_id as u8; 600]))
    }
    fn set(
        &mut self,
        _: &RequestContext,
        _: &AttributeDescriptor,
        _: Option<&SelectiveAccess>,
        _: Data,
    ) -> Result<(), DataAccessResult> {
        Ok(())
    }
    fn action(
        &mut self,
        _: &RequestContext,
        _: &MethodDescriptor,
        p: Option<&Data>,
    ) -> Result<Option<Data>, DataAccessResult> {
        Ok(p.cloned())
    }
}

/// An AARQ with no authentication and a 64-byte client max PDU size.
const AARQ: [u8; 31] = [
    0x60, 0x1D, 0xA1, 0x09, 0x06, 0x07, 0x60, 0x85, 0x74, 0x05, 0x08, 0x01, 0x01, 0xBE, 0x10, 0x04,
    0x0E, 0x01, 0x00, 0x00, 0x00, 0x06, 0x5F, 0x1F, 0x04, 0x00, 0x00, 0x7E, 0x1F, 0x00, 0x40,
];

fuzz_target!(|data: &[u8]| {
    let Ok(mut server) = ServerAssociation::new(ServerConfig::default()) else {
        return;
    };
    let mut model = Model;
    if data.first().is_some_and(|b| b & 1 == 1) {
        let _ = server.handle_apdu(0, &AARQ, &mut model);
    }
    let mut rest = data.get(1..).unwrap_or_default();
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        let _ = server.handle_apdu(0, &tail[..n], &mut model);
        while server.poll_transmit().is_some() {}
        while server.poll_event().is_some() {}
        rest = &tail[n..];
    }
});
