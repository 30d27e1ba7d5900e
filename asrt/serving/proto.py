"""The gRPC messages and service classes of ``asrt.proto``, under the names the serving code uses.

``asrt.proto`` is the one definition of the gRPC interface. ``asrt_pb2.py`` (messages) and
``asrt_pb2_grpc.py`` (stub, servicer) beside it are generated from it and checked in, so serving needs only
grpcio and protobuf at run time; tests/test_packaging.py fails when they no longer match the proto.
After changing the proto, regenerate them from the repository root with grpcio-tools (the ``test`` extra):

    python -m grpc_tools.protoc -I. --python_out=. --grpc_python_out=. asrt/serving/asrt.proto
"""
from __future__ import annotations

from asrt.serving import asrt_pb2 as messages
from asrt.serving import asrt_pb2_grpc as services

__all__ = ["messages", "services"]
