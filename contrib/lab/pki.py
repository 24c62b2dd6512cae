"""Certificates made with the openssl command line: a CA, server certificates with chosen
subject alternative names, client certificates."""
import os
import subprocess


def _run(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


CA_EXT = ("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
          "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n")


class Pki:
    """A CA: self-signed, or an intermediate signed by parent (then the certificates it issues
    carry it as their chain, as a server presents it)."""

    def __init__(self, directory, ca_name="k3lb-lab-ca", parent=None):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.ca_crt = os.path.join(directory, "%s.crt" % ca_name)
        self.ca_key = os.path.join(directory, "%s.key" % ca_name)
        self.chain = []  # the CA certificates above the ones this CA issues, nearest first
        if parent is None:
            _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-keyout", self.ca_key, "-out", self.ca_crt, "-days", "7", "-subj",
                 "/CN=%s" % ca_name, "-addext", "subjectKeyIdentifier=hash",
                 "-addext", "authorityKeyIdentifier=keyid:always")
            return
        csr, ext = self.ca_crt + ".csr", self.ca_crt + ".ext"
        with open(ext, "w") as f:
            f.write(CA_EXT)
        _run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", self.ca_key, "-out", csr, "-subj", "/CN=%s" % ca_name)
        _run("x509", "-req", "-in", csr, "-CA", parent.ca_crt, "-CAkey", parent.ca_key,
             "-CAcreateserial", "-out", self.ca_crt, "-days", "7", "-extfile", ext)
        self.chain = [self.ca_crt] + parent.chain

    def der(self):
        """The CA certificate in DER."""
        return subprocess.run(["openssl", "x509", "-in", self.ca_crt, "-outform", "DER"],
                              check=True, capture_output=True).stdout

    def issue(self, name, sans=(), client=False, server=True, cn=None, org=None):
        """Returns (crt, key) paths. sans: "IP:127.0.0.1", "DNS:localhost", ...; cn and org
        (O=, the groups Kubernetes reads from a client certificate) default to name and none."""
        crt = os.path.join(self.dir, name + ".crt")
        key = os.path.join(self.dir, name + ".key")
        csr = os.path.join(self.dir, name + ".csr")
        ext = os.path.join(self.dir, name + ".ext")
        usages = (["serverAuth"] if server else []) + (["clientAuth"] if client else [])
        with open(ext, "w") as f:
            if sans:
                f.write("subjectAltName=%s\n" % ",".join(sans))
            f.write("extendedKeyUsage=%s\n" % ",".join(usages))
            f.write("keyUsage=digitalSignature,keyEncipherment\n")
        subj = ("/O=%s" % org if org else "") + "/CN=%s" % (cn or name)
        _run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", csr, "-subj", subj)
        _run("x509", "-req", "-in", csr, "-CA", self.ca_crt, "-CAkey", self.ca_key,
             "-CAcreateserial", "-out", crt, "-days", "7", "-extfile", ext)
        if self.chain and server:
            with open(crt, "a") as out:
                for c in self.chain:
                    with open(c) as f:
                        out.write(f.read())
        return crt, key

    def kubelet(self, node="agent-1"):
        """A kubelet's client certificate, as K3s issues it: CN=system:node:<node>,
        O=system:nodes."""
        return self.issue("kubelet-" + node, client=True, server=False,
                          cn="system:node:" + node, org="system:nodes")
