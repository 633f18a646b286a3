"""Reads an emulated ESME with the dlms-cosem client (PyPI `dlms-cosem`), over the TCP wrapper or
HDLC on the emulator's PTY, with its own transports (BlockingTcpIO, SerialIO + HdlcTransport):
logical device name, clock, import register with scaler/unit, load profile capture objects and
buffer (selective access by range), and a remote disconnect then reconnect with LLS.
"""

import datetime

from dlms_cosem import cosem, dlms_data, enumerations
from dlms_cosem import time as dlms_time
from dlms_cosem.client import DlmsClient
from dlms_cosem.protocol import acse, xdlms
from dlms_cosem.cosem.capture_object import CaptureObject
from dlms_cosem.cosem.selective_access import RangeDescriptor
from dlms_cosem.io import BlockingTcpIO, HdlcTransport, SerialIO, TcpTransport
from dlms_cosem.security import LowLevelSecurityAuthentication
from dlms_cosem.utils import parse_as_dlms_data

import common

common.quiet_structlog()

Interface = enumerations.CosemInterface


def attribute(interface, obis, index):
    return cosem.CosemAttribute(
        interface=interface, instance=cosem.Obis.from_string(obis), attribute=index
    )


def transport(args):
    if args.transport == "tcp":
        host, port = args.address.rsplit(":", 1)
        return TcpTransport(
            client_logical_address=args.client_sap,
            server_logical_address=args.wport,
            io=BlockingTcpIO(host=host, port=int(port), timeout=10),
        )
    return HdlcTransport(
        client_logical_address=args.client_sap,
        server_logical_address=args.logical,
        server_physical_address=args.physical,
        extended_addressing=True,
        io=SerialIO(port_name=args.serial, baud_rate=args.baud, timeout=10),
    )


def one(raw):
    """The DLMS value of a GET response body."""
    return parse_as_dlms_data(raw)


def date_time(octets):
    """An aware datetime. dlms-cosem returns a naive one for deviation 0 (its `if offset:`), so
    the deviation field is checked here: 0 is UTC, 0x8000 (not specified) is refused."""
    moment, _status = dlms_time.datetime_from_bytes(octets)
    if moment.tzinfo is None:
        deviation = int.from_bytes(octets[9:11], "big", signed=True)
        if deviation != 0:
            raise ValueError(f"date-time without a usable deviation: {octets.hex()}")
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment


def make_client(args, password):
    return DlmsClient(
        transport=transport(args),
        authentication=LowLevelSecurityAuthentication(secret=password.encode()),
        max_pdu_size=args.max_pdu,
        block_transfer=True,
        timeout=10,
    )


def count_get_blocks(client):
    """Counts GET-Request-Next (one per block the meter sends after the first)."""
    counter = {"blocks": 0}
    send = client.send

    def counting_send(*events):
        counter["blocks"] += sum(isinstance(event, xdlms.GetRequestNext) for event in events)
        return send(*events)

    client.send = counting_send
    return counter


def wrong_password_refusal(args):
    """Associates with a wrong LLS secret; returns the answer as dlms-cosem decoded it: the AARE's
    result and diagnostic numbers (the test expects rejected-permanent, authentication-failure),
    or what came instead of an AARE."""
    client = make_client(args, "not-" + args.password)
    client.connect()
    try:
        client.send(client.dlms_connection.get_aarq())
        answer = client.next_event()
    finally:
        client.disconnect()
    if not isinstance(answer, acse.ApplicationAssociationResponse):
        return {"answer": type(answer).__name__}
    diagnostic = answer.result_source_diagnostics
    return {
        "answer": "AARE",
        "result": int(answer.result),
        "diagnostic": None if diagnostic is None else int(diagnostic),
    }


def main(args, result):
    client = make_client(args, args.password)
    blocks = count_get_blocks(client)
    with client.session():
        result["associated"] = True
        ldn = one(client.get(attribute(Interface.DATA, common.LDN, 2)))
        result["logical_device_name"] = bytes(ldn).decode("ascii")

        clock = one(client.get(attribute(Interface.CLOCK, common.CLOCK, 2)))
        result["clock"] = common.iso(date_time(bytes(clock)))
        result["clock_raw"] = bytes(clock).hex()

        register = attribute(Interface.REGISTER, args.register, 2)
        result["register_value"] = one(client.get(register))
        scaler, unit = one(client.get(attribute(Interface.REGISTER, args.register, 3)))
        result["register_scaler"] = scaler
        result["register_unit"] = int(unit)

        capture_objects = one(
            client.get(attribute(Interface.PROFILE_GENERIC, common.LOAD_PROFILE, 3))
        )
        result["capture_objects"] = [
            {
                "class_id": class_id,
                "obis": ".".join(str(part) for part in bytes(obis)),
                "attribute": index,
                "data_index": data_index,
            }
            for class_id, obis, index, data_index in capture_objects
        ]
        clock_column = CaptureObject(
            cosem_attribute=attribute(Interface.CLOCK, common.CLOCK, 2), data_index=0
        )
        selection = RangeDescriptor(
            restricting_object=clock_column,
            from_value=common.utc(args.range_from),
            to_value=common.utc(args.range_to),
        )
        buffer = one(
            client.get(
                attribute(Interface.PROFILE_GENERIC, common.LOAD_PROFILE, 2),
                access_descriptor=selection,
            )
        )
        rows = []
        for row in buffer:
            rows.append([common.iso(date_time(bytes(row[0])))] + [int(value) for value in row[1:]])
        result["load_profile"] = rows
        blocks["blocks"] = 0
        whole = one(client.get(attribute(Interface.PROFILE_GENERIC, common.LOAD_PROFILE, 2)))
        result["load_profile_rows"] = len(whole)
        result["get_blocks"] = blocks["blocks"]
        result["load_profile_entries_in_use"] = one(
            client.get(attribute(Interface.PROFILE_GENERIC, common.LOAD_PROFILE, 7))
        )

        disconnect_output = attribute(Interface.DISCONNECT_CONTROL, common.DISCONNECT, 2)
        disconnect_state = attribute(Interface.DISCONNECT_CONTROL, common.DISCONNECT, 3)
        states = [[one(client.get(disconnect_output)), one(client.get(disconnect_state))]]
        for method in (1, 2):  # remote_disconnect, remote_reconnect
            client.action(
                cosem.CosemMethod(
                    Interface.DISCONNECT_CONTROL,
                    cosem.Obis.from_string(common.DISCONNECT),
                    method,
                ),
                dlms_data.IntegerData(0).to_bytes(),
            )
            states.append([one(client.get(disconnect_output)), one(client.get(disconnect_state))])
        result["disconnect_states"] = [[bool(output), int(state)] for output, state in states]
    result["released"] = True
    result["wrong_password_refused"] = wrong_password_refusal(args)


if __name__ == "__main__":
    common.run(main)
