"""plugfault qmp SOCKET COMMAND [key=value ...]: one QMP command.

The arguments are parsed by the base's qmp-shell (qemu.qmp.qmp_shell:
``key=value`` pairs, ``a.b=1`` for nested objects, numbers, true/false and
JSON values), so they read like a qmp-shell line; the shell has already
split them, so a value may hold spaces when quoted.  ``hmp "info
pci"`` runs an HMP command.  Prints the reply as JSON; exit 0 on success, 1
when QEMU answers an error, 2 when the command line or the socket is wrong.
"""

import json
import sys
from typing import Any, Dict, List

from qemu.qmp import QMPError
from qemu.qmp.qmp_shell import QMPShell, QMPShellError


class OneShot(QMPShell):
    """A qmp-shell that runs one command line and returns."""

    def build(self, words: List[str]) -> Dict[str, Any]:
        """The QMP message for COMMAND key=value... (already split by the
        shell, so values may hold spaces)."""
        msg: Dict[str, Any] = {"execute": words[0], "arguments": {}}
        self._cli_expr(words[1:], msg["arguments"])
        return msg

    def close(self) -> None:
        # no readline history to save for a one-shot command
        super(QMPShell, self).close()  # pylint: disable=bad-super-call


def main(sock: str, words: List[str], pretty: bool = False) -> int:
    """Run one command on `sock`."""
    if words[0] == "hmp":
        words = ["human-monitor-command",
                 f"command-line={' '.join(words[1:])}"]
    shell = OneShot(sock)
    try:
        msg = shell.build(words)
    except QMPShellError as exc:
        print(f"plugfault qmp: {exc}", file=sys.stderr)
        return 2
    try:
        shell.connect()
    except (OSError, QMPError) as exc:
        print(f"plugfault qmp: {sock}: {exc}", file=sys.stderr)
        return 2
    try:
        reply = shell.cmd_obj(msg)
    finally:
        shell.close()
    if "return" in reply and isinstance(reply["return"], str):
        print(reply["return"], end="")
    else:
        print(json.dumps(reply, indent=2 if pretty else None))
    return 1 if "error" in reply else 0
