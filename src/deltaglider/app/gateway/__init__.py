"""`deltaglider serve`: an S3-compatible HTTP gateway in front of DeltaService
(docs/GATEWAY.md)."""

from deltaglider.app.gateway.app import Gateway
from deltaglider.app.gateway.auth import Authenticator, load_users
from deltaglider.app.gateway.server import ServerConfig, run

__all__ = ["Authenticator", "Gateway", "ServerConfig", "load_users", "run"]
