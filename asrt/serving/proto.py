"""The gRPC messages and service classes, compiled from ``asrt.proto`` when first imported.

``asrt.proto`` is the one definition of the gRPC interface: grpcio-tools compiles it in memory, so no
generated ``_pb2`` files are kept that could drift from it.
"""
from __future__ import annotations

import sys
from pathlib import Path

import grpc

# grpcio-tools looks for the .proto (and names its modules) relative to the entries of sys.path, and an
# editable install does not put the directory that holds the asrt package there.
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
if _PACKAGE_ROOT not in sys.path:
    sys.path.append(_PACKAGE_ROOT)

messages, services = grpc.protos_and_services("asrt/serving/asrt.proto")
