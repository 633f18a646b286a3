"""Reads an emulated ESME with Gurux's DLMS client (PyPI `gurux-dlms`), over the TCP wrapper or HDLC
on the emulator's PTY: logical device name, clock, import register with scaler/unit, load profile
capture objects and buffer (selective access by range), and a remote disconnect then reconnect
with LLS.

gurux-dlms only builds and parses frames and APDUs (GXDLMSClient); the bytes are moved here, over
a socket or the raw PTY. Gurux's server classes are not used.
"""

import datetime
import math
import socket
import time

from gurux_dlms import GXByteBuffer, GXDateTime, GXDLMSClient, GXDLMSException, GXReplyData
from gurux_dlms.enums import Authentication, InterfaceType, RequestTypes
from gurux_dlms.objects import (
    GXDLMSAssociationLogicalName,
    GXDLMSClock,
    GXDLMSData,
    GXDLMSDisconnectControl,
    GXDLMSProfileGeneric,
    GXDLMSRegister,
)

import common


class TcpLink:
    def __init__(self, address, timeout=10.0):
        host, port = address.rsplit(":", 1)
        self.socket = socket.create_connection((host, int(port)), timeout=timeout)

    def send(self, data):
        self.socket.sendall(bytes(data))

    def receive(self, deadline):
        chunk = self.socket.recv(4096)
        if not chunk:
            raise ConnectionError("the emulator closed the TCP connection")
        return chunk

    def close(self):
        self.socket.close()


class PtyLink:
    def __init__(self, path, timeout=10.0):
        self.pty = common.RawPty(path, timeout)
        self.pty.open()

    def send(self, data):
        self.pty.write(data)

    def receive(self, deadline):
        return self.pty.read_some(deadline)

    def close(self):
        self.pty.close()


class Reader:
    """Moves Gurux-built frames over a link until Gurux says a reply is complete."""

    def __init__(self, client, link, timeout=10.0):
        self.client = client
        self.link = link
        self.timeout = timeout
        self.blocks = 0

    def exchange(self, frame, reply):
        """Sends one frame (None: only receive, for streamed replies) and reads its reply."""
        notify = GXReplyData()
        reply.error = 0
        received = GXByteBuffer()
        if frame is not None:
            self.link.send(frame)
        deadline = time.monotonic() + self.timeout
        while not self.client.getData(received, reply, notify):
            if notify.data.size != 0:
                raise RuntimeError(f"unexpected notification: {notify.data}")
            received.set(self.link.receive(deadline))
        if reply.error != 0:
            raise RuntimeError(f"the meter answered with error {reply.error}")

    def transaction(self, frames, reply=None):
        """Sends a request (a list of frames) and follows block transfer to the end."""
        reply = reply or GXReplyData()
        if isinstance(frames, (bytes, bytearray)):
            frames = [frames]
        for frame in frames:
            reply.clear()
            self.exchange(frame, reply)
            while reply.isMoreData():
                # A whole APDU block is in; more HDLC frames of one block are not counted.
                if reply.moreData == RequestTypes.DATABLOCK:
                    self.blocks += 1
                follow = None if reply.isStreaming() else self.client.receiverReady(reply)
                self.exchange(follow, reply)
        return reply

    def read(self, item, index):
        reply = self.transaction(self.client.read(item, index))
        return self.client.updateValue(item, index, reply.value)


def utc_iso(value):
    """ISO UTC of a Gurux date-time (GXDateTime wraps an aware datetime)."""
    moment = value.value if isinstance(value, GXDateTime) else value
    if not isinstance(moment, datetime.datetime) or moment.tzinfo is None:
        raise ValueError(f"date-time without a deviation: {value!r}")
    return common.iso(moment)


def connect(args, password):
    """A Gurux client and a link to the meter; for HDLC, the link is set up (SNRM/UA)."""
    if args.transport == "tcp":
        client = GXDLMSClient(
            True,
            args.client_sap,
            args.wport,
            Authentication.LOW,
            password,
            InterfaceType.WRAPPER,
        )
        link = TcpLink(args.address)
    else:
        client = GXDLMSClient(
            True,
            args.client_sap,
            GXDLMSClient.getServerAddress(args.logical, args.physical, 4),
            Authentication.LOW,
            password,
            InterfaceType.HDLC,
        )
        client.setServerAddressSize(4)
        link = PtyLink(args.serial)
    client.setMaxReceivePDUSize(args.max_pdu)
    if args.hdlc_max_info:
        client.hdlcSettings.maxInfoRX = args.hdlc_max_info
        client.hdlcSettings.maxInfoTX = args.hdlc_max_info
    if args.hdlc_window:
        client.hdlcSettings.windowSizeRX = args.hdlc_window
        client.hdlcSettings.windowSizeTX = args.hdlc_window
    reader = Reader(client, link)
    if args.transport == "hdlc":
        reply = reader.transaction(client.snrmRequest())
        client.parseUAResponse(reply.data)
    return client, link, reader


def close(args, client, link, reader):
    try:
        if args.transport == "hdlc":
            reader.transaction(client.disconnectRequest())
    finally:
        link.close()


def wrong_password_refusal(args):
    """Associates with a wrong LLS secret; returns the answer as Gurux decoded it: the AARE's
    result and diagnostic numbers (the test expects rejected-permanent, authentication-failure),
    or that the association was accepted."""
    client, link, reader = connect(args, "not-" + args.password)
    try:
        reply = reader.transaction(client.aarqRequest())
        client.parseAareResponse(reply.data)
    except GXDLMSException as refusal:
        return {
            "answer": "AARE",
            "result": int(refusal.result),
            "diagnostic": int(refusal.diagnostic),
        }
    finally:
        close(args, client, link, reader)
    return {"answer": "accepted"}


def main(args, result):
    client, link, reader = connect(args, args.password)
    try:
        if args.transport == "hdlc":
            result["hdlc_max_info_tx"] = client.hdlcSettings.maxInfoTX
            result["hdlc_max_info_rx"] = client.hdlcSettings.maxInfoRX
            result["hdlc_window_tx"] = client.hdlcSettings.windowSizeTX
            result["hdlc_window_rx"] = client.hdlcSettings.windowSizeRX
        reply = reader.transaction(client.aarqRequest())
        client.parseAareResponse(reply.data)
        result["associated"] = True
        result["negotiated_conformance"] = int(client.negotiatedConformance)
        result["server_max_pdu"] = client.maxReceivePDUSize

        association = GXDLMSAssociationLogicalName()
        for index in (3, 4, 5, 6, 8, 9):
            reader.read(association, index)
        context = association.xDLMSContextInfo
        result["association"] = {
            "client_sap": int(association.clientSAP),
            "server_sap": int(association.serverSAP),
            "context_id": int(association.applicationContextName.contextId),
            "mechanism_id": int(association.authenticationMechanismName.mechanismId),
            "status": int(association.associationStatus),
            "security_setup": association.securitySetupReference,
            "conformance": int(context.conformance),
            "max_receive_pdu": int(context.maxReceivePduSize),
            "max_send_pdu": int(context.maxSendPduSize),
            "dlms_version": int(context.dlmsVersionNumber),
        }

        ldn = reader.read(GXDLMSData(common.LDN), 2)
        result["logical_device_name"] = bytes(ldn).decode("ascii")

        clock = GXDLMSClock(common.CLOCK)
        result["clock"] = utc_iso(reader.read(clock, 2))

        register = GXDLMSRegister(args.register)
        # Value first: once Gurux knows the scaler it multiplies values read afterwards by it.
        result["register_value"] = int(reader.read(register, 2))
        reader.read(register, 3)
        result["register_scaler"] = round(math.log10(register.scaler))
        result["register_unit"] = int(register.unit)

        profile = GXDLMSProfileGeneric(common.LOAD_PROFILE)
        reader.read(profile, 3)
        result["capture_objects"] = [
            {
                "class_id": int(target.objectType),
                "obis": target.logicalName,
                "attribute": column.attributeIndex,
                "data_index": column.dataIndex,
            }
            for target, column in profile.captureObjects
        ]
        reply = reader.transaction(
            client.readRowsByRange(
                profile, common.utc(args.range_from), common.utc(args.range_to)
            )
        )
        rows = client.updateValue(profile, 2, reply.value)
        result["load_profile"] = [
            [utc_iso(row[0])] + [int(value) for value in row[1:]] for row in rows
        ]
        profile.buffer = []  # Gurux appends what it reads to the buffer it already holds
        reader.blocks = 0
        result["load_profile_rows"] = len(reader.read(profile, 2))
        result["get_blocks"] = reader.blocks
        result["load_profile_entries_in_use"] = int(reader.read(profile, 7))

        switch = GXDLMSDisconnectControl(common.DISCONNECT)
        states = []

        def record():
            reader.read(switch, 2)
            reader.read(switch, 3)
            states.append([bool(switch.outputState), int(switch.controlState)])

        record()
        reader.transaction(switch.remoteDisconnect(client))
        record()
        reader.transaction(switch.remoteReconnect(client))
        record()
        result["disconnect_states"] = states

        reader.transaction(client.releaseRequest())
        result["released"] = True
    finally:
        close(args, client, link, reader)
    result["wrong_password_refused"] = wrong_password_refusal(args)


if __name__ == "__main__":
    common.run(main)
