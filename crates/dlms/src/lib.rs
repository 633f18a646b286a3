//! Sans-IO DLMS/COSEM (IEC 62056): HDLC, TCP wrapper, A-XDR, xDLMS APDUs, association, COSEM objects.
//!
//! Owns the whole DLMS/COSEM protocol for both sides (the client used by the DLMS adapter plugin
//! and the server used by the emulator). **Must never depend on tokio or do any I/O, read a
//! clock or draw random numbers**: callers pass bytes, `now_ms` (a monotonic millisecond count
//! of their choosing) and any randomness (HLS challenges).
//!
//! # Application layer (this file's owner: `axdr`, `obis`, `cosem`, `apdu`, `security`, `association`)
//!
//! Implemented:
//! - [`axdr`]: every `Data` type of IEC 62056-6-2 (null-data … don't-care, arrays, structures,
//!   compact arrays) with the A-XDR length encoding; typed [`axdr::DateTime`] / `Date` / `Time`
//!   keeping wildcards byte-exact, deviation = minutes local → UTC (BST is −60, 0x8000 = not
//!   specified), clock status bits, Unix-time conversion.
//! - [`obis`]: parse/print `1.0.1.8.0.255` and `1-0:1.8.0*255`.
//! - [`cosem`]: attribute/method descriptors, selective access (range and entry descriptors,
//!   applied to buffers by [`cosem::profile::select_rows`]), typed views of Data (1), Register (3),
//!   Extended Register (4), Profile Generic (7), Clock (8), Association LN (15), Image Transfer (18),
//!   Security Setup (64, `key_transfer` with RFC 3394 key wrap) and Disconnect Control (70,
//!   control modes 0–6 and their state transitions).
//! - [`apdu`]: AARQ/AARE/RLRQ/RLRE (BER, LN referencing with and without the ciphering context,
//!   mechanisms none/LLS/HLS-GMAC, result and diagnostic codes), InitiateRequest/Response with the
//!   conformance block, ConfirmedServiceError, GET (normal, next, with-datablock, with-list),
//!   SET (normal, first-datablock, datablock, with-list), ACTION (normal, with and without
//!   parameters), EventNotification, DataNotification, ExceptionResponse, Data-Access-Result,
//!   glo- ciphered APDUs and general-glo-ciphering (used for DataNotification).
//! - [`security`]: security suite 0 — AES-128-GCM with 12-byte tags (authenticated, encrypted or
//!   both; AAD = SC ‖ AK; IV = system title ‖ invocation counter), HLS-GMAC `f(StoC)`/`f(CtoS)`,
//!   invocation-counter replay guard, AES key wrap.
//! - [`association`]: [`association::ClientAssociation`] and [`association::ServerAssociation`]
//!   state machines over whole APDUs (quinn-proto style: `handle_apdu` / `poll_transmit` /
//!   `poll_event` / `poll_timeout` / `handle_timeout`), LLS and 4-pass HLS-GMAC, ciphered
//!   associations, automatic GET block continuation, SET with datablocks, server-side splitting of
//!   long GET responses under the client's max PDU size, replay rejection. The server serves a
//!   caller-supplied [`association::CosemObjectModel`].
//!
//! Not implemented: SN referencing services (ReadRequest/WriteRequest), ACTION with parameter
//! blocks (with-pblock/next-pblock), SET-with-list-and-first-datablock, ded- and
//! general-ded-ciphering, dedicated keys, HLS mechanisms other than GMAC
//! (MD5/SHA-1/SHA-256/ECDSA), security suites 1 and 2, general block transfer, and multiple
//! outstanding requests per association (the client queues them and sends one at a time).
//!
//! # Transport layer (`crc`, `hdlc`, `wrapper`)
//! HDLC (IEC 62056-46) and the TCP wrapper (IEC 62056-47) turn wire bytes into whole APDUs; they
//! are documented in their own modules.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// Transport layer: bytes on the wire <-> whole APDUs.
pub mod crc;
pub mod hdlc;
pub mod wrapper;

// Transport composed with the association state machines.
pub mod connection;

// Application layer: APDUs, data, objects, security, association state machines.
pub mod apdu;
pub mod association;
pub mod axdr;
pub mod cosem;
pub mod obis;
pub mod security;

pub use axdr::{Data, DecodeError};
pub use obis::Obis;
