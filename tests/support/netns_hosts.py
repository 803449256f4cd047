"""Test hosts on one machine: network namespaces joined to this host by veth pairs, plus a service address.

:func:`create_hosts` makes, for one test session (``slot`` picks a free ``10.231.<slot>.0/24``)::

    this host:  on lo, label lo:oc<pid>  10.231.<slot>.1/32  <- the services bind here (Redis, auth server,
                                                               api-server); this host's processes use it too
                veth             oc<pid>h<n> 10.231.<slot>.<4n+1>/30
    host n:     namespace        ocit-<pid>-w<n>, veth oc<pid>n<n> 10.231.<slot>.<4n+2>/30, default route via
                                 10.231.<slot>.<4n+1>; its own loopback

Nothing is routed between the namespaces (this host does not forward): a namespace reaches exactly the
service address and its own veth peer. :meth:`Host.cut_port` drops the host's outgoing packets to one service
port (``tc`` u32 filter on its veth: a silent partition, not a refusal); :meth:`Host.heal` removes it.

:meth:`Hosts.remove` deletes everything; :func:`sweep_stale` (called by :func:`create_hosts`) deletes what a
dead test session left (names carry the creating process id). :func:`unavailable_reason` says why hosts
cannot be made here (not root, no ``ip``/``tc``, namespaces refused), for a skip.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

PREFIX = "ocit"
SUPERNET = ipaddress.ip_network("10.231.0.0/16")
_NS_NAME = re.compile(rf"^{PREFIX}-(\d+)-w\d+$")
_LINK_NAME = re.compile(r"^oc(\d+)[hn]\d+$")
_LABEL = re.compile(r"inet (\S+) .*\blo:oc(\d+)$")


class HostsUnavailable(RuntimeError):
    """Network namespaces cannot be made on this machine (the reason is the message)."""


def _run(*args: str, check: bool = True, netns: str | None = None) -> subprocess.CompletedProcess[str]:
    cmd = (["ip", "netns", "exec", netns] if netns else []) + list(args)
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    if check and result.returncode != 0:
        raise HostsUnavailable(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr.strip()[:300]}")
    return result


def unavailable_reason() -> str | None:
    """``None`` if namespaces with veth pairs can be made here, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add)"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"the {tool!r} command (iproute2) is not installed"
    probe = f"{PREFIX}-{os.getpid()}-w99"
    result = _run("ip", "netns", "add", probe, check=False)
    if result.returncode != 0:
        return f"ip netns add is refused here: {result.stderr.strip()[:200]}"
    _run("ip", "netns", "delete", probe, check=False)
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale() -> list[str]:
    """Delete namespaces and links of test sessions whose process is gone; return what was deleted."""
    removed = []
    listing = _run("ip", "netns", "list", check=False).stdout
    for line in listing.splitlines():
        name = line.split()[0] if line.split() else ""
        match = _NS_NAME.match(name)
        if match and not _alive(int(match.group(1))):
            _run("ip", "netns", "delete", name, check=False)
            removed.append(name)
    links = _run("ip", "-o", "link", "show", check=False).stdout
    for line in links.splitlines():
        parts = line.split(":")
        if len(parts) < 2:
            continue
        name = parts[1].strip().split("@")[0]
        match = _LINK_NAME.match(name)
        if match and not _alive(int(match.group(1))):
            _run("ip", "link", "delete", name, check=False)
            removed.append(name)
    for line in _run("ip", "-o", "-4", "addr", "show", "dev", "lo", check=False).stdout.splitlines():
        found = _LABEL.search(line.strip())
        if found and not _alive(int(found.group(2))):
            _run("ip", "addr", "del", found.group(1), "dev", "lo", check=False)
            removed.append(found.group(1))
    return removed


def _used_slots() -> set[int]:
    out = _run("ip", "-o", "-4", "addr", "show", check=False).stdout
    used = set()
    for address in re.findall(r"inet (\d+\.\d+\.\d+\.\d+)/", out):
        ip = ipaddress.ip_address(address)
        if ip in SUPERNET:
            used.add(int(str(ip).split(".")[2]))
    return used


@dataclass
class Host:
    """One test host: a network namespace with its own address, reaching the service address over its veth."""

    index: int
    netns: str
    address: str
    gateway: str
    host_link: str
    ns_link: str
    cuts: list[int] = field(default_factory=list)

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside this host's namespace."""
        return ["ip", "netns", "exec", self.netns, *argv]

    def cut_port(self, port: int) -> None:
        """Silently drop every packet this host sends to TCP ``port`` (established connections hang).

        An htb root on the namespace's veth sends the port's packets to a class whose leaf is a ``pfifo``
        of length 0 (this kernel has the u32 classifier but no tc drop action).
        """
        tc = ("tc", "class", "add", "dev", self.ns_link, "parent", "1:")
        if not self.cuts:
            _run("tc", "qdisc", "add", "dev", self.ns_link, "root", "handle", "1:", "htb", "default", "10",
                 netns=self.netns)  # fmt: skip
            _run(*tc, "classid", "1:10", "htb", "rate", "10gbit", "quantum", "60000", netns=self.netns)
            _run(*tc, "classid", "1:20", "htb", "rate", "10gbit", "quantum", "60000", netns=self.netns)
            _run("tc", "qdisc", "add", "dev", self.ns_link, "parent", "1:20", "handle", "20:", "pfifo", "limit",
                 "0", netns=self.netns)  # fmt: skip
        _run(
            "tc", "filter", "add", "dev", self.ns_link, "parent", "1:", "protocol", "ip", "prio", "1",
            "u32", "match", "ip", "protocol", "6", "0xff", "match", "ip", "dport", str(port), "0xffff",
            "flowid", "1:20",
            netns=self.netns,
        )  # fmt: skip
        self.cuts.append(port)

    def heal(self) -> None:
        """Remove every cut (:meth:`cut_port`)."""
        if self.cuts:
            _run("tc", "qdisc", "del", "dev", self.ns_link, "root", check=False, netns=self.netns)
            self.cuts.clear()


@dataclass
class Hosts:
    """The namespaces of one test session and the service address they reach; see the module docstring."""

    service_address: str
    hosts: list[Host]

    def remove(self) -> None:
        """Delete the namespaces (their veth ends go with them), the host-side veths and the service address."""
        for host in self.hosts:
            _run("ip", "netns", "delete", host.netns, check=False)
            _run("ip", "link", "delete", host.host_link, check=False)
        _run("ip", "addr", "del", f"{self.service_address}/32", "dev", "lo", check=False)

    def __enter__(self) -> Hosts:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()


def create_hosts(count: int) -> Hosts:
    """Make ``count`` test hosts (see the module docstring); raise :class:`HostsUnavailable` if impossible."""
    reason = unavailable_reason()
    if reason:
        raise HostsUnavailable(reason)
    sweep_stale()
    pid = os.getpid()
    free = [s for s in range(1, 255) if s not in _used_slots()]
    if not free:
        raise HostsUnavailable(f"no free /24 left in {SUPERNET}")
    slot = free[0]
    net = f"10.231.{slot}"
    hosts = Hosts(service_address=f"{net}.1", hosts=[])
    try:
        _run("ip", "addr", "add", f"{hosts.service_address}/32", "dev", "lo", "label", f"lo:oc{pid}")
        for n in range(1, count + 1):
            host = Host(
                index=n,
                netns=f"{PREFIX}-{pid}-w{n}",
                address=f"{net}.{4 * n + 2}",
                gateway=f"{net}.{4 * n + 1}",
                host_link=f"oc{pid}h{n}",
                ns_link=f"oc{pid}n{n}",
            )
            hosts.hosts.append(host)
            _run("ip", "netns", "add", host.netns)
            _run("ip", "link", "add", host.host_link, "type", "veth", "peer", "name", host.ns_link)
            _run("ip", "link", "set", host.ns_link, "netns", host.netns)
            _run("ip", "addr", "add", f"{host.gateway}/30", "dev", host.host_link)
            _run("ip", "link", "set", host.host_link, "up")
            _run("ip", "link", "set", "lo", "up", netns=host.netns)
            _run("ip", "addr", "add", f"{host.address}/30", "dev", host.ns_link, netns=host.netns)
            _run("ip", "link", "set", host.ns_link, "up", netns=host.netns)
            _run("ip", "route", "add", "default", "via", host.gateway, netns=host.netns)
    except BaseException:
        hosts.remove()
        raise
    return hosts


@contextlib.contextmanager
def test_hosts(count: int):  # type: ignore[no-untyped-def]
    """``with test_hosts(2) as hosts: ...`` — :func:`create_hosts`, removed on exit (success or failure)."""
    hosts = create_hosts(count)
    try:
        yield hosts
    finally:
        hosts.remove()
