"""ExceptionResponse numbering as two independent DLMS libraries see it (issue 15).

Encodes every ExceptionResponse Gurux's translator can build from its XML form, and decodes the
hex APDUs given as arguments with Gurux's client path (GXDLMS.handleExceptionResponse, the one a
GXDLMSClient uses on a reply) and with dlms-cosem's ExceptionResponse.from_bytes. Prints one JSON
document; crates/dlms/tests/peer_exception_response.rs asserts it.
"""

import json
import sys

from dlms_cosem.protocol.xdlms import ExceptionResponse
from gurux_dlms import GXByteBuffer, GXDLMSTranslator, GXReplyData
from gurux_dlms.GXDLMS import GXDLMS
from gurux_dlms.GXDLMSExceptionResponse import GXDLMSExceptionResponse
from gurux_dlms.enums import TranslatorOutputType

STATES = ["ServiceNotAllowed", "ServiceUnknown"]
# The service errors Gurux's XML translator can encode (it refuses the other three by name).
SERVICES = ["OperationNotPossible", "ServiceNotSupported", "OtherReason"]


def gurux_encoded():
    translator = GXDLMSTranslator(TranslatorOutputType.SIMPLE_XML)
    out = {}
    for state in STATES:
        for service in SERVICES:
            xml = (
                f'<ExceptionResponse><StateError Value="{state}" />'
                f'<ServiceError Value="{service}" /></ExceptionResponse>'
            )
            out[f"{state}/{service}"] = GXByteBuffer.hex(translator.xmlToPdu(xml), False).lower()
    return out


def gurux_decode(apdu):
    reply = GXReplyData()
    reply.data = GXByteBuffer(apdu[1:])
    try:
        GXDLMS.handleExceptionResponse(reply)
    except GXDLMSExceptionResponse as raised:
        return {
            "state": int(raised.exceptionStateError),
            "service": int(raised.exceptionServiceError),
            "value": raised.serviceErrorValue,
        }
    except Exception as error:  # the answer the test reports
        return {"error": f"{type(error).__name__}: {error}"}
    return {"error": "no exception raised"}


def dlms_cosem_decode(apdu):
    try:
        response = ExceptionResponse.from_bytes(apdu)
    except Exception as error:  # the answer the test reports
        return {"error": f"{type(error).__name__}: {error}"}
    return {
        "state": int(response.state_error),
        "service": int(response.service_error),
        "value": response.invocation_counter_data,
    }


def main():
    decoded = {}
    for text in sys.argv[1:]:
        apdu = bytes.fromhex(text)
        decoded[text] = {"gurux": gurux_decode(apdu), "dlms_cosem": dlms_cosem_decode(apdu)}
    print(json.dumps({"gurux_encoded": gurux_encoded(), "decoded": decoded}, sort_keys=True))


if __name__ == "__main__":
    main()
