"""Server URLs, as the C++ SDK's ParseUrl reads them: ``http://host:port``,
``grpc://host:port``, ``unix:///abs/path.sock``; a bare ``host:port`` is http. Without a port:
8080 for http, 8081 for grpc (mlosd's defaults). TLS schemes are not supported here yet."""

from __future__ import annotations

import dataclasses

from .errors import InvalidArgumentError


@dataclasses.dataclass(frozen=True)
class Endpoint:
    scheme: str          # "http", "grpc" or "unix"
    host: str = ""
    port: int = 0
    path: str = ""       # unix socket path

    def __str__(self) -> str:
        if self.scheme == "unix":
            return "unix://" + self.path
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def parse_url(url: str) -> Endpoint:
    if not url:
        raise InvalidArgumentError("empty server URL")
    if url.startswith("unix://"):
        path = url[len("unix://"):]
        if not path.startswith("/"):
            raise InvalidArgumentError(
                "unix URL needs an absolute socket path: unix:///path/to/mlosd.sock")
        if len(path.encode()) >= 108:
            raise InvalidArgumentError(f"unix socket path too long: {path}")
        return Endpoint("unix", path=path)
    scheme, rest = "http", url
    for prefix, name in (("http://", "http"), ("grpc://", "grpc")):
        if url.startswith(prefix):
            scheme, rest = name, url[len(prefix):]
            break
    else:
        if url.startswith(("https://", "grpcs://")):
            raise InvalidArgumentError(
                f"'{url}': TLS is not supported by the Python SDK yet (use http://, grpc:// or "
                "unix://)")
        if "://" in url:
            raise InvalidArgumentError(
                f"unsupported URL scheme in '{url}' (use http://, grpc:// or unix://)")
    if rest.endswith("/"):
        rest = rest[:-1]
    if "/" in rest:
        raise InvalidArgumentError(f"URL '{url}' must not have a path")
    port_text = ""
    if rest.startswith("["):
        close = rest.find("]")
        if close < 0:
            raise InvalidArgumentError(f"unclosed '[' in URL '{url}'")
        host, tail = rest[1:close], rest[close + 1:]
        if tail:
            if not tail.startswith(":"):
                raise InvalidArgumentError(f"bad URL '{url}'")
            port_text = tail[1:]
    elif ":" in rest:
        host, port_text = rest.rsplit(":", 1)
        if ":" in host:
            raise InvalidArgumentError(f"IPv6 hosts need brackets: '{url}'")
    else:
        host = rest
    if not host:
        raise InvalidArgumentError(f"URL '{url}' has no host")
    if not port_text:
        port = 8081 if scheme == "grpc" else 8080
    else:
        if not port_text.isdigit() or len(port_text) > 5:
            raise InvalidArgumentError(f"bad port in URL '{url}'")
        port = int(port_text)
        if not 0 < port < 65536:
            raise InvalidArgumentError(f"port out of range in URL '{url}'")
    return Endpoint(scheme, host=host, port=port)
