#!/usr/bin/env python3
"""A minimal socklab lab plugin in Python: one TCP message echoed upper-cased.

It implements what labs/PLUGINS.md says a plugin in any language must: the cookie, a
certificate of its own (go-plugin's AutoMTLS), a Unix socket serving LabService and
go-plugin's broker over TLS, the handshake line, and the lab itself through the
controller's LabHostService. The message classes come from the descriptors in
DESCRIPTORS (a FileDescriptorSet, base64), which TestPythonPlugin fills in from the Go
build's own; a plugin of yours would generate them from the .proto files instead.
Needs grpcio and cryptography (Debian: python3-grpcio, python3-cryptography).
"""

import base64
import datetime
import os
import sys
import threading
from concurrent import futures

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

DESCRIPTORS = "@DESCRIPTORS@"
COOKIE = ("SOCKLAB_LAB_PLUGIN", "4f1c0a8e-socklab-lab-plugin")
VERSION = 1

pool = descriptor_pool.DescriptorPool()
for f in descriptor_pb2.FileDescriptorSet.FromString(base64.b64decode(DESCRIPTORS)).file:
    pool.Add(f)


def message(name):
    desc = pool.FindMessageTypeByName(name)
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


P = "socklab.plugin.v1."
V = "socklab.v1."
DescribeRequest, DescribeResponse = message(P + "DescribeRequest"), message(P + "DescribeResponse")
RunRequest, RunResponse = message(P + "RunRequest"), message(P + "RunResponse")
PerformRequest, PerformResponse = message(P + "PerformRequest"), message(P + "PerformResponse")
SayRequest, SayResponse = message(P + "SayRequest"), message(P + "SayResponse")
CheckRequest, CheckResponse = message(P + "CheckRequest"), message(P + "CheckResponse")
Operation = message(V + "Operation")
ConnInfo, Empty = message("plugin.ConnInfo"), message("plugin.Empty")

SPEC = {
    "name": "python-echo",
    "summary": "One TCP message echoed upper-cased, by a lab plugin in Python",
    "hosts": ["server", "client"],
    "params": [{"name": "port", "default_value": {"int_value": 8080}}],
    "checks": [{"id": "client-gets-upper", "description": "the client receives the message upper-cased"}],
}


def certificate():
    """A self-signed certificate for localhost, as go-plugin's AutoMTLS makes one."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "socklab")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(seconds=30)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem, cert.public_bytes(serialization.Encoding.DER)


class Broker:
    """go-plugin's broker: the controller sends the address of each service it serves."""

    def __init__(self):
        self.cond = threading.Condition()
        self.infos = {}

    def start_stream(self, requests, context):
        def read():
            for info in requests:
                with self.cond:
                    self.infos[info.service_id] = info
                    self.cond.notify_all()
        threading.Thread(target=read, daemon=True).start()
        done = threading.Event()
        context.add_callback(done.set)
        done.wait()
        return
        yield  # a generator: the stream sends nothing back

    def wait(self, service_id, timeout=10):
        with self.cond:
            self.cond.wait_for(lambda: service_id in self.infos, timeout)
            return self.infos.get(service_id)


class Host:
    """The controller's LabHostService for one run."""

    def __init__(self, channel):
        def unary(method, req, resp):
            return channel.unary_unary("/socklab.plugin.v1.LabHostService/" + method,
                                       request_serializer=req.SerializeToString, response_deserializer=resp.FromString)
        self.perform = unary("Perform", PerformRequest, PerformResponse)
        self.say_rpc = unary("Say", SayRequest, SayResponse)
        self.check_rpc = unary("Check", CheckRequest, CheckResponse)

    def do(self, host, handle, **op):
        resp = self.perform(PerformRequest(host=host, handle=handle, operation=Operation(**op), pos="echo_lab.py"))
        if resp.HasField("error"):
            raise RuntimeError(resp.error.message)
        if resp.response.event.HasField("error"):
            raise OSError(resp.response.event.error.errno, resp.response.event.error.message)
        return resp.response

    def say(self, text):
        self.say_rpc(SayRequest(text=text, pos="echo_lab.py"))

    def check(self, id, passed, got, want):
        self.check_rpc(CheckRequest(id=id, passed=passed, got=repr(got), want=repr(want), pos="echo_lab.py"))


def lab(host, hosts, port):
    """The lab: the Starlark tcp-simple's first half, in Python."""
    server, client = hosts["server"], hosts["client"]
    srv = host.do("server", 0, socket={"family": 1, "type": 1}).event.result.handle
    host.do("server", srv, bind={"address": {"host": server, "port": port}})
    host.do("server", srv, listen={"backlog": 5})
    cli = host.do("client", 0, socket={"family": 1, "type": 1}).event.result.handle
    host.do("client", cli, connect={"address": {"host": server, "port": port}})
    conn = host.do("server", srv, accept={}).event.result.handle
    host.say("the client says hello, from Python")
    host.do("client", cli, send={"data": b"hello"})
    got = host.do("server", conn, recv={"bufsize": 1024}).data
    host.do("server", conn, send={"data": got.upper()})
    reply = host.do("client", cli, recv={"bufsize": 1024}).data
    host.check("client-gets-upper", reply == b"HELLO", reply, b"HELLO")
    for h, s in (("client", cli), ("server", conn), ("server", srv)):
        host.do(h, s, close={})


def main():
    if os.environ.get(COOKIE[0]) != COOKIE[1]:
        print("this is a socklab lab plugin: run it with socklab run", sys.argv[0], file=sys.stderr)
        return 2
    if str(VERSION) not in os.environ.get("PLUGIN_PROTOCOL_VERSIONS", "").split(","):
        print("this plugin speaks lab plugin protocol version %d only" % VERSION, file=sys.stderr)
        return 2
    cert_pem, key_pem, cert_der = certificate()
    controller_pem = os.environ["PLUGIN_CLIENT_CERT"].encode()
    broker = Broker()

    def describe(request, context):
        return DescribeResponse(lab=SPEC)

    def run(request, context):
        info = broker.wait(request.host_service_id)
        creds = grpc.ssl_channel_credentials(root_certificates=controller_pem, private_key=key_pem, certificate_chain=cert_pem)
        channel = grpc.secure_channel("unix:" + info.address, creds, options=[("grpc.ssl_target_name_override", "localhost")])
        yield RunResponse(started={})
        try:
            lab(Host(channel), {h.role: h.ip for h in request.hosts}, request.params["port"].int_value)
            yield RunResponse(finished={})
        except Exception as e:  # the lab stopped: say why
            yield RunResponse(finished={"failure": {"kind": 1, "message": str(e), "pos": "echo_lab.py"}})
        finally:
            channel.close()

    stopped = threading.Event()

    def shutdown(request, context):
        stopped.set()
        return Empty()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers([
        grpc.method_handlers_generic_handler("socklab.plugin.v1.LabService", {
            "Describe": grpc.unary_unary_rpc_method_handler(describe, DescribeRequest.FromString, DescribeResponse.SerializeToString),
            "Run": grpc.unary_stream_rpc_method_handler(run, RunRequest.FromString, RunResponse.SerializeToString),
        }),
        grpc.method_handlers_generic_handler("plugin.GRPCBroker", {
            "StartStream": grpc.stream_stream_rpc_method_handler(broker.start_stream, ConnInfo.FromString, ConnInfo.SerializeToString),
        }),
        grpc.method_handlers_generic_handler("plugin.GRPCController", {
            "Shutdown": grpc.unary_unary_rpc_method_handler(shutdown, Empty.FromString, Empty.SerializeToString),
        }),
    ])
    path = os.path.join(os.environ.get("PLUGIN_UNIX_SOCKET_DIR", "/tmp"), "python-lab-%d.sock" % os.getpid())
    creds = grpc.ssl_server_credentials([(key_pem, cert_pem)], root_certificates=controller_pem, require_client_auth=True)
    server.add_secure_port("unix:" + path, creds)
    server.start()
    group = os.environ.get("PLUGIN_UNIX_SOCKET_GROUP")
    if group:
        os.chown(path, -1, int(group))
        os.chmod(path, 0o660)
    cert_b64 = base64.b64encode(cert_der).decode().rstrip("=")
    print("1|%d|unix|%s|grpc|%s" % (VERSION, path, cert_b64), flush=True)
    stopped.wait()
    server.stop(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
