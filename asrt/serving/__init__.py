"""The recognition service: ASRT-compatible HTTP and gRPC servers (``asrt serve``) and their clients
(``asrt client``)."""
