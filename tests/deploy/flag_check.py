"""Checks command lines against the AdamAsync binaries' own flag parsers.

Both daemons are absl-flags programs. Their `--helpfull` output lists every
flag they define (so nothing is hard-coded here: flags the binaries gain
later are accepted as soon as they are built), and absl parses and
type-checks every flag on the command line, flag files included, *before*
it handles --helpfull: `binary FLAGS... --helpfull` prints the help if every
flag is known and its value parses, and prints "ERROR: ..." otherwise.
"""

import os
import re
import subprocess
import tempfile

BINARY_NAMES = ("adamasync-server", "adamasync-worker")

_FLAG_LINE = re.compile(r"^\s+--([A-Za-z0-9_]+) \(", re.MULTILINE)


class Binary:
    """One daemon: its path and the flags its --helpfull lists."""

    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)
        r = subprocess.run([path, "--helpfull"], capture_output=True, text=True, timeout=60)
        self.flags = set(_FLAG_LINE.findall(r.stdout))
        if "listen" not in self.flags and "servers" not in self.flags:
            raise RuntimeError(f"{path} --helpfull listed no AdamAsync flags:\n"
                               f"{r.stdout[:2000]}{r.stderr[:2000]}")
        self._cache = {}

    def knows(self, name):
        """absl also accepts --noNAME for a boolean NAME."""
        return name in self.flags or (name.startswith("no") and name[2:] in self.flags)

    def parse(self, args):
        """Runs the binary's flag parser on args; returns None or its error."""
        key = tuple(args)
        if key not in self._cache:
            r = subprocess.run([self.path] + list(args) + ["--helpfull"],
                               capture_output=True, text=True, timeout=60)
            ok = "ERROR" not in r.stderr and "Flags from" in r.stdout
            self._cache[key] = None if ok else (r.stderr.strip() or f"exit {r.returncode}")
        return self._cache[key]


def flag_name(arg):
    """'--a_b=1' -> 'a_b'; None for an argument that is not a flag."""
    if not arg.startswith("-") or arg in ("-", "--"):
        return None
    return arg.lstrip("-").split("=", 1)[0]


def flag_value(arg):
    return arg.split("=", 1)[1] if "=" in arg else None


def flagfile_lines(text):
    """The flags of an absl flag file: '#' comment lines and blank lines skipped."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def check_call(binary, args, files, where):
    """Checks one command line; returns (effective flags dict, errors).

    args: the arguments after the program name. files: {path: text} for
    flag files that the deployment provides (ConfigMap mounts); a --flagfile
    naming another path is an error, since the check cannot see it.
    The returned dict maps each flag to its last value, flag files expanded
    in place as absl does.
    """
    errors, effective, parse_args = [], {}, []
    with tempfile.TemporaryDirectory(prefix="adamasync-flagfile-") as tmp:
        for arg in args:
            name = flag_name(arg)
            if name is None:
                errors.append(f"{where}: {binary.name} takes no positional argument, got {arg!r}")
                continue
            if not binary.knows(name):
                errors.append(f"{where}: {binary.name} has no flag --{name} "
                              f"(it has: {', '.join(sorted(binary.flags))})")
                continue
            if name != "flagfile":
                effective[name] = flag_value(arg)
                parse_args.append(arg)
                continue
            local = []
            for path in (flag_value(arg) or "").split(","):
                if path not in files:
                    errors.append(f"{where}: --flagfile={path} is not provided by the deployment "
                                  f"(mounted flag files: {sorted(files) or 'none'})")
                    continue
                for line in flagfile_lines(files[path]):
                    n = flag_name(line)
                    if n is None or not binary.knows(n):
                        errors.append(f"{where}: flag file {path}: {binary.name} does not accept "
                                      f"{line!r}")
                    else:
                        effective[n] = flag_value(line)
                copy = os.path.join(tmp, f"{len(os.listdir(tmp))}.flags")
                with open(copy, "w") as f:
                    f.write(files[path])
                local.append(copy)
            if local:
                parse_args.append("--flagfile=" + ",".join(local))
        if not errors:
            err = binary.parse(parse_args)
            if err:
                errors.append(f"{where}: {binary.name} rejects {' '.join(args)}:\n    {err}")
    return effective, errors
