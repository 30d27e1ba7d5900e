"""The gRPC interface of ``asrt.proto``: its messages, and a client stub and server registration made from
the proto's own service descriptor.

``asrt.proto`` is the one definition of the interface. ``asrt_pb2.py`` (the messages) beside it is generated
from it and checked in, so serving needs only grpcio and protobuf at run time; tests/test_packaging.py fails
when it no longer matches the proto. After changing the proto, regenerate it from the repository root with
grpcio-tools (the ``test`` extra):

    python -m grpc_tools.protoc -I. --python_out=. asrt/serving/asrt.proto

The RPCs (names, paths, request and response types, streaming) are read from the descriptor rather than
from grpcio-tools' generated ``*_pb2_grpc.py``, which spells the same four calls out three times over.
"""
from __future__ import annotations

from asrt.serving import asrt_pb2 as messages

SERVICE = messages.DESCRIPTOR.services_by_name["AsrtGrpcService"]

__all__ = ["messages", "SERVICE", "Stub", "add_servicer"]


def _cardinality(method) -> str:
    """grpc's name for the method's shape: ``unary_unary``, ``unary_stream``, ``stream_unary`` or ``stream_stream``."""
    return f"{'stream' if method.client_streaming else 'unary'}_{'stream' if method.server_streaming else 'unary'}"


def _types(method):
    """The request and response message classes of ``method``."""
    return getattr(messages, method.input_type.name), getattr(messages, method.output_type.name)


class Stub:
    """A client of every RPC of the service on a grpc channel: ``Stub(channel).All(request, timeout=...)``."""

    def __init__(self, channel) -> None:
        for method in SERVICE.methods:
            request, response = _types(method)
            call = getattr(channel, _cardinality(method))
            setattr(self, method.name, call(f"/{SERVICE.full_name}/{method.name}",
                                            request_serializer=request.SerializeToString,
                                            response_deserializer=response.FromString))


def add_servicer(servicer, server) -> None:
    """Serve every RPC of the service with the method of ``servicer`` of the same name."""
    import grpc

    handlers = {}
    for method in SERVICE.methods:
        request, response = _types(method)
        make = getattr(grpc, f"{_cardinality(method)}_rpc_method_handler")
        handlers[method.name] = make(getattr(servicer, method.name), request_deserializer=request.FromString,
                                     response_serializer=response.SerializeToString)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE.full_name, handlers),))
