//! A minimal async DLMS/COSEM client over the TCP wrapper (IEC 62056-47), built from
//! `meterlab-dlms`'s sans-IO association and wrapper codec: the demo's way of talking to meters.

use std::time::Duration;

use anyhow::{Context, bail};
use meterlab_dlms::apdu::DataAccessResult;
use meterlab_dlms::association::{
    ClientAssociation, ClientAuthentication, ClientConfig, ClientEvent,
};
use meterlab_dlms::axdr::Data;
use meterlab_dlms::cosem::{AttributeDescriptor, MethodDescriptor};
use meterlab_dlms::obis::Obis;
use meterlab_dlms::wrapper::{self, Reassembler};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// One association with one logical device, reached by its wPort.
#[derive(Debug)]
pub struct DlmsTcpClient {
    stream: TcpStream,
    association: ClientAssociation,
    reassembler: Reassembler,
    client_wport: u16,
    device_wport: u16,
    origin: Instant,
    response_timeout: Duration,
    /// Every byte sent and received, in order, for the evidence hash.
    pub traffic: Vec<u8>,
}

impl DlmsTcpClient {
    /// Connects and associates with LLS.
    pub async fn associate_lls(
        address: &str,
        device_wport: u16,
        client_sap: u8,
        password: &str,
        response_timeout: Duration,
    ) -> anyhow::Result<Self> {
        let stream = tokio::time::timeout(response_timeout, TcpStream::connect(address))
            .await
            .with_context(|| format!("connecting to {address} timed out"))?
            .with_context(|| format!("cannot connect to {address}"))?;
        let timeout_ms = u64::try_from(response_timeout.as_millis()).unwrap_or(u64::MAX);
        let association = ClientAssociation::new(ClientConfig {
            authentication: ClientAuthentication::Lls {
                password: password.as_bytes().to_vec(),
            },
            response_timeout_ms: timeout_ms,
            ..ClientConfig::default()
        })?;
        let mut client = Self {
            stream,
            association,
            reassembler: Reassembler::new(u16::MAX),
            client_wport: u16::from(client_sap),
            device_wport,
            origin: Instant::now(),
            response_timeout,
            traffic: Vec::new(),
        };
        let now = client.now_ms();
        client.association.connect(now)?;
        match client.exchange().await? {
            ClientEvent::Associated { .. } => Ok(client),
            ClientEvent::Rejected {
                result, diagnostic, ..
            } => bail!("association rejected: {result:?}, diagnostic {diagnostic:?}"),
            other => bail!("unexpected answer to the AARQ: {other:?}"),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Reads one attribute.
    pub async fn get(
        &mut self,
        class_id: u16,
        instance: Obis,
        attribute_id: i8,
    ) -> anyhow::Result<Result<Data, DataAccessResult>> {
        let now = self.now_ms();
        let descriptor = AttributeDescriptor {
            class_id,
            instance,
            attribute_id,
        };
        self.association.get(now, descriptor, None)?;
        match self.exchange().await? {
            ClientEvent::GetCompleted { result, .. } => Ok(result),
            other => {
                bail!("unexpected answer to GET {instance} attribute {attribute_id}: {other:?}")
            }
        }
    }

    /// Invokes one method.
    pub async fn action(
        &mut self,
        class_id: u16,
        instance: Obis,
        method_id: i8,
        parameters: Option<Data>,
    ) -> anyhow::Result<DataAccessResult> {
        let now = self.now_ms();
        let method = MethodDescriptor {
            class_id,
            instance,
            method_id,
        };
        self.association.action(now, method, parameters)?;
        match self.exchange().await? {
            ClientEvent::ActionCompleted { result, .. } => Ok(result),
            other => bail!("unexpected answer to ACTION {instance} method {method_id}: {other:?}"),
        }
    }

    /// Releases the association (RLRQ/RLRE).
    pub async fn release(mut self) -> anyhow::Result<()> {
        let now = self.now_ms();
        self.association.release(now)?;
        match self.exchange().await? {
            ClientEvent::Released => Ok(()),
            other => bail!("unexpected answer to RLRQ: {other:?}"),
        }
    }

    /// Sends what the association queued, then reads until it reports an event. Pushed
    /// notifications are skipped: they are not answers to our request.
    async fn exchange(&mut self) -> anyhow::Result<ClientEvent> {
        while let Some(apdu) = self.association.poll_transmit() {
            let bytes = wrapper::encode(self.client_wport, self.device_wport, &apdu)?;
            self.traffic.extend_from_slice(&bytes);
            self.stream
                .write_all(&bytes)
                .await
                .context("cannot send to the device")?;
        }
        let deadline = Instant::now() + self.response_timeout;
        let mut buffer = [0u8; 4096];
        loop {
            while let Some(event) = self.association.poll_event() {
                match event {
                    ClientEvent::EventNotification(_) | ClientEvent::DataNotification(_) => {}
                    ClientEvent::OperationFailed { reason, .. } => bail!("{reason}"),
                    other => return Ok(other),
                }
            }
            if let Some(pdu) = self.reassembler.next_pdu() {
                let pdu = pdu.context("malformed TCP wrapper PDU from the device")?;
                if pdu.source != self.device_wport || pdu.destination != self.client_wport {
                    bail!(
                        "reply addressed from wPort {} to {}, expected {} to {}",
                        pdu.source,
                        pdu.destination,
                        self.device_wport,
                        self.client_wport
                    );
                }
                let now = self.now_ms();
                self.association.handle_apdu(now, &pdu.apdu)?;
                continue;
            }
            let read = tokio::time::timeout_at(deadline, self.stream.read(&mut buffer))
                .await
                .context("the device did not answer in time")?
                .context("cannot read from the device")?;
            if read == 0 {
                bail!("the device closed the connection");
            }
            self.traffic.extend_from_slice(&buffer[..read]);
            self.reassembler.push(&buffer[..read]);
        }
    }
}
