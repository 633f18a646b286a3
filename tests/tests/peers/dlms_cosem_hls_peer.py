"""Associates with an emulated ESME as dlms-cosem's HLS-GMAC client (PyPI `dlms-cosem`) over the
TCP wrapper: a ciphered AARQ (glo-initiateRequest), then every xDLMS APDU protected with
general-glo-ciphering, which needs the general-protection conformance bit the meter must offer.
Reads the logical device name and releases. Prints one JSON document (see common.py).
"""

import argparse
import json
import sys
import traceback

from dlms_cosem import cosem, enumerations
from dlms_cosem.client import DlmsClient
from dlms_cosem.io import BlockingTcpIO, TcpTransport
from dlms_cosem.security import HighLevelSecurityGmacAuthentication
from dlms_cosem.utils import parse_as_dlms_data

import common

common.quiet_structlog()


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True, help="host:port of the TCP wrapper")
    parser.add_argument("--wport", type=int, required=True, help="server wPort")
    parser.add_argument("--client-sap", type=int, required=True)
    parser.add_argument("--system-title", required=True, help="client system title, hex")
    parser.add_argument("--encryption-key", required=True, help="EK, hex")
    parser.add_argument("--authentication-key", required=True, help="AK, hex")
    return parser.parse_args()


def main(args, result):
    host, port = args.address.rsplit(":", 1)
    client = DlmsClient(
        transport=TcpTransport(
            client_logical_address=args.client_sap,
            server_logical_address=args.wport,
            io=BlockingTcpIO(host=host, port=int(port), timeout=10),
        ),
        authentication=HighLevelSecurityGmacAuthentication(challenge_length=32),
        encryption_key=bytes.fromhex(args.encryption_key),
        authentication_key=bytes.fromhex(args.authentication_key),
        client_system_title=bytes.fromhex(args.system_title),
        timeout=10,
    )
    with client.session():
        result["associated"] = True
        conformance = client.dlms_connection.conformance
        result["general_protection"] = bool(conformance.general_protection)
        ldn = parse_as_dlms_data(
            client.get(
                cosem.CosemAttribute(
                    interface=enumerations.CosemInterface.DATA,
                    instance=cosem.Obis.from_string(common.LDN),
                    attribute=2,
                )
            )
        )
        result["logical_device_name"] = bytes(ldn).decode("ascii")
    result["released"] = True


if __name__ == "__main__":
    arguments = parse_args()
    outcome = {}
    try:
        main(arguments, outcome)
    except Exception as error:  # report, don't hide: the Rust test prints it on failure
        outcome["error"] = f"{type(error).__name__}: {error}"
        outcome["traceback"] = traceback.format_exc()
    print(json.dumps(outcome, indent=1, sort_keys=True))
    sys.stdout.flush()
