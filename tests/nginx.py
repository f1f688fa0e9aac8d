"""nginx as a process for the tests, from the kit's own template (deploy/nginx/daifu.conf.template): the same
file compose gives the nginx image, filled in for this machine, with every path of its own under one directory."""

from __future__ import annotations

import datetime
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "deploy" / "nginx" / "daifu.conf.template"
PLACEHOLDER = re.compile(r"\$\{(DAIFU_[A-Z_]+)\}")
# Each request's upstream in the access log: which worker served it.
ACCESS_FORMAT = '$request_method $uri $status upstream=$upstream_addr xff="$http_x_forwarded_for"'


def nginx_binary() -> str | None:
    return shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def render(values: dict[str, str]) -> str:
    """envsubst as the nginx image runs it: the named variables only, nginx's own $variables untouched."""
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], TEMPLATE.read_text())


def self_signed_certificate(directory: Path) -> None:
    """fullchain.pem and privkey.pem for localhost, as the template expects them."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (directory / "fullchain.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (directory / "privkey.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def main_config(prefix: Path, site: Path) -> str:
    """What the nginx image's own nginx.conf does around conf.d, with the pid, logs and temporary files under
    prefix so that nginx runs as the current user."""
    # As root, nginx's workers would switch to `nobody`, who cannot enter the test's private directory.
    user = "user root;\n" if os.geteuid() == 0 else ""
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temporary = "\n".join(f"    {kind}_temp_path {prefix / (kind + '_temp')};" for kind in kinds)
    return f"""{user}worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} info;
events {{
    worker_connections 256;
}}
http {{
    log_format upstreams '{ACCESS_FORMAT}';
    access_log {prefix / "access.log"} upstreams;
{temporary}
    include {site};
}}
"""


class Nginx:
    """nginx in the foreground (`daemon off`) from the filled-in template; stop() ends it."""

    def __init__(self, prefix: Path, values: dict[str, str]) -> None:
        binary = nginx_binary()
        assert binary is not None, "nginx is not installed (scripts/ensure-nginx)"
        prefix.mkdir(parents=True, exist_ok=True)
        self.prefix = prefix
        site = prefix / "daifu.conf"
        site.write_text(render(values))
        (prefix / "nginx.conf").write_text(main_config(prefix, site))
        self.argv = [binary, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(prefix / "nginx.conf")]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with (self.prefix / "stderr.log").open("ab") as stderr:  # the child keeps its own copy of the file
            self.process = subprocess.Popen([*self.argv, "-g", "daemon off;"], stderr=stderr)

    def access_log(self) -> list[str]:
        path = self.prefix / "access.log"
        return path.read_text().splitlines() if path.exists() else []

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: requests in flight finish
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
