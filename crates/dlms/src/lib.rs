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
//! # Transport layer (`crc`, `hdlc`, `wrapper`) and [`connection`]
//! - [`hdlc`] (IEC 62056-46): frame format type 3 without byte stuffing, 1/2/4-byte server and
//!   1-byte client addresses, HCS/FCS (CRC-16/X-25); I, RR, RNR, SNRM, UA, DISC, DM, FRMR and UI;
//!   SNRM/UA negotiation of information field lengths and windows (each side takes the
//!   minimum; defaults 128/128/1/1); segmentation and reassembly with the LLC header on the
//!   first segment; windows 1–7 with modulo-8 N(S)/N(R) and P/F; go-back-N retransmission on
//!   the client's response time-out, bounded by `max_retries`; the inactivity time-out; a
//!   resynchronising deframer.
//! - [`wrapper`] (IEC 62056-47): version, source/destination wPort, length; reassembly of
//!   APDUs across reads of any size.
//! - [`connection`]: a transport composed with a client or server association (same sans-IO
//!   verbs). Over HDLC the client association's response time-out is kept above the link's
//!   retransmission budget (`HdlcConfig::give_up_after_ms`), and a link that goes down fails
//!   the pending operations at once.
//!
//! # Not implemented (by choice: not needed by a SMETS1 MT/SIT lab)
//! - Application layer: SN referencing (ReadRequest/WriteRequest/UnconfirmedWriteRequest and
//!   the SN application contexts); the ACCESS service; ACTION with parameter blocks
//!   (with-pblock/next-pblock); SET-with-list-and-first-datablock; general block transfer
//!   (GBT); ded- and general-ded-ciphering and dedicated keys in the InitiateRequest;
//!   general-ciphering and general-signing; HLS mechanisms other than GMAC (MD5, SHA-1,
//!   SHA-256, ECDSA); security suites 1 and 2; more than one outstanding request per
//!   association (the client queues them and sends one at a time).
//! - HDLC: modulo-128 numbering (so windows above 7); REJ and SREJ (a server answers them with
//!   FRMR, a client ignores them and recovers by time-out); XID and TEST; the client sending
//!   UI frames (received UI frames are delivered as APDUs).
//!
//! # Interoperability
//! Tested in memory against `dlms-cosem-rs` 0.1, an implementation we did not write, in both
//! directions over the wrapper (`tests/interop_wrapper.rs`) and over HDLC: link level
//! (`tests/interop_hdlc.rs`) and application level (`tests/interop_hdlc_our_client.rs`,
//! `tests/interop_hdlc_their_client.rs`: LLS association and rejection, HLS-GMAC with glo-
//! ciphering, GET of a register's value and scaler_unit, a load profile long enough for GET
//! block transfer and HDLC segmentation, windows 1 and 7, release and DISC). Each test's doc
//! comment lists which of their functions it exercises. Their link layer has no retransmission
//! and does not limit bursts to the window, so lossy-link recovery is tested only between our
//! own stations (`tests/pair_*.rs`).
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
